#!/usr/bin/python3
"""Quantus (and Captum's metrics module) as a second, independent oracle for
recal's robustness and faithfulness metrics (issue #7): the perturbation,
the forward passes, the attribution differences and sums, the norms and the
correlations are the libraries' code; only the random draws are recal's, so
that both sides score the same perturbed inputs.

  recal metric (docs/metrics.md)       library implementation
  lipschitz (§4)                  quantus.LocalLipschitzEstimate
  max_sensitivity (§4)            quantus.MaxSensitivity
  sensitivity_n, post-hoc sum,    quantus.FaithfulnessCorrelation
    zero baseline (§2)              (subset_size = ⌊n·H·W⌋, nr_runs = S)
  faithfulness Pearson and        quantus.FaithfulnessCorrelation with
    Spearman (§4)                   correlation_pearson / _spearman, one run
                                    per pixel group
  faithfulness_correlation        quantus.FaithfulnessCorrelation (Bhatt et
                                    al.: random subsets, "black" baseline)
  faithfulness_estimate           quantus.FaithfulnessEstimate (Alvarez-Melis
                                    & Jaakkola: attribution-ordered steps)
  road (MoRF, LeRF)               quantus.ROAD (Rong et al.: noisy linear
                                    imputation; LeRF as MoRF of −a), on
                                    recal's saved maps, its noise recal's
  infidelity (§4)                 captum.metrics.infidelity(normalize=True)
                                    (Quantus's Infidelity is a different,
                                    patch-based estimator without the
                                    optimal-scale β)

How recal's draws reach the libraries:
  * Lipschitz / max-sensitivity: the metrics' documented `perturb_func`
    argument, which Quantus calls once per image per sample; ours returns
    recal's seeded sample (and checks that it was handed the right image).
  * infidelity: Captum's `perturb_func` gets the inputs repeated per sample
    (repeat_interleave) and returns recal's Gaussian perturbations.
  * sensitivity-n / faithfulness: Quantus draws its subsets with
    `np.random.choice` from NumPy's global generator and has no argument for
    them, so the test replaces that one call inside Quantus's
    faithfulness_correlation module with one that hands out recal's subsets
    (its random masks, or the pixel groups in order).
Definitions that differ only in a convention are bridged openly: recal's
Lipschitz denominator is ‖x − x′‖ in pixel space (docs/metrics.md (robustness and faithfulness)), Quantus
measures it on the model's (normalized) input, so its norm_denominator gets
the dataset std factor.

Explanations for Quantus come from float64 PyTorch (input gradient, and IG
with the zero baseline on recal's α grid), evaluated on the same TorchScript
weights in float64; the recal side is a 2-rank `mpirun recal run`.

Quantus 0.5.3 is pip-installed with --no-deps on top of Debian's python3
(pandas, scikit-learn, scikit-image, scipy, tqdm, opencv from
tools/install-deps.sh); Captum 0.7.0 likewise. Without network: SKIP (77).

usage: check_quantus.py RECAL SRC_DIR WORK_DIR MODEL
"""
import math
import os
import sys
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import check_metrics as cm  # noqa: E402
import methods_oracle as mo  # noqa: E402
import pip_oracle  # noqa: E402
from check_diffid import idx  # noqa: E402

QUANTUS, CAPTUM = "quantus==0.5.3", "captum==0.7.0"
N = cm.N
RATIOS, S = [0.1, 0.5], 5
GROUPS = 49  # 7 x 7 groups of 4 x 4 pixels: Quantus's subsets have one size
INF_M, INF_SIGMA = 6, 0.01
LIP_M, LIP_SIGMA = 3, 0.03
MS_M, MS_R = 2, 0.05
METRICS = (f"{{sensitivity_n: {{ratios: {RATIOS}, samples: {S}}}, faithfulness: {{groups: {GROUPS}}}, "
           f"infidelity: {{samples: {INF_M}, sigma_model: {INF_SIGMA}}}, lipschitz: {{samples: {LIP_M}}}, "
           f"max_sensitivity: {{samples: {MS_M}, radius_model: {MS_R}}}}}")
METHODS = "[{name: input_grad}, {name: ig, steps: 4}]"
FC_SIZE, FC_RUNS, FE_STEP = 100, 8, 56
FQ_METRICS = (f"{{faithfulness_correlation: {{subset_size: {FC_SIZE}, runs: {FC_RUNS}}}, "
              f"faithfulness_estimate: {{features_in_step: {FE_STEP}}}, road: {{ratios: [0.1, 0.5, 0.9], "
              f"noise: 0.01}}}}")
ROAD_PCT, ROAD_NOISE, SEED_ROAD_NOISE = [10, 50, 90], 0.01, 18


class RoadNoise:
    """Stands in for numpy inside Quantus's perturb_func module: its one
    np.random.randn call per (image, percentage) returns recal's N(0, 1)
    draws for that copy (order o: 0 MoRF, 1 LeRF)."""

    def __init__(self, order):
        self.order, self.calls = order, 0

    def randn(self, *shape):
        i, r = self.calls // len(ROAD_PCT), self.calls % len(ROAD_PCT)
        self.calls += 1
        key = mo.splitmix((mo.seed_for(cm.SEED, i, SEED_ROAD_NOISE) + self.order * 32 + r) & mo.MASK64)
        n = int(np.prod(shape))
        return mo.ctr_normal(key, n).double().numpy().reshape(shape)


def with_road_noise(module, order, fn):
    proxy = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    proxy.random = RoadNoise(order)
    saved, module.np = module.np, proxy
    try:
        return fn()
    finally:
        module.np = saved


class Float64(torch.nn.Module):
    """The TorchScript model in float64 (Quantus feeds float32 tensors)."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x.double())


def explainer(method, net):
    def explain(model, inputs, targets, **kwargs):
        out = []
        for z, t in zip(np.asarray(inputs), np.asarray(targets).reshape(-1)):
            z = torch.from_numpy(np.ascontiguousarray(z)).double()
            if method == "input_grad":
                a = mo.input_grad(net, z, int(t))
            else:  # IG, zero baseline, recal's grid α_k = k/(K-1), weights 1/K
                a = mo.path_attr(net, z, int(t), torch.zeros(1, *z.shape, dtype=torch.float64),
                                 mo.linspace_alpha(1, 4), "vanilla")
            out.append(a.detach().numpy())
        return np.stack(out)
    return explain


class Replay:
    """A Quantus perturb_func: perturb_batch calls it image by image, once
    per sample, in order; it returns recal's perturbed input."""

    def __init__(self, x32, sample):
        self.x32, self.sample, self.calls = x32, sample, 0

    def __call__(self, arr, indices=None, indexed_axes=None, **kwargs):
        i, j = self.calls % N, self.calls // N
        self.calls += 1
        if not np.array_equal(arr, self.x32[i].numpy()):
            raise RuntimeError(f"Quantus handed image order other than expected at call {self.calls}")
        return self.sample(i, j).numpy()


class SubsetDraw:
    """Stands in for np.random.choice inside Quantus's FaithfulnessCorrelation:
    returns the given subsets in the order Quantus asks for them."""

    def __init__(self, subsets):
        self.subsets = iter(subsets)

    def __call__(self, n, size, replace=False):
        s = next(self.subsets)
        assert len(s) == size and not replace, (len(s), size)
        return s


def with_subsets(fc_module, subsets, fn):
    proxy = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    proxy.random = types.SimpleNamespace(choice=SubsetDraw(subsets))
    saved, fc_module.np = fc_module.np, proxy
    try:
        return fn()
    finally:
        fc_module.np = saved


def with_stable_argsort(module, fn):
    """Quantus's FaithfulnessEstimate orders features with np.argsort(-a)
    (quicksort: ties in any order); recal breaks ties by element index,
    which is NumPy's stable sort. Both then cut the same steps."""
    proxy = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    proxy.argsort = lambda a, *args, **kw: np.argsort(a, kind="stable")
    saved, module.np = module.np, proxy
    try:
        return fn()
    finally:
        module.np = saved


def mean_finite(v):
    v = [float(a) for a in v if a is not None and math.isfinite(float(a))]
    return sum(v) / len(v) if v else None


def check_maps_made_elsewhere(recal, src, work, model_path, x32, xb, yb, call, common):
    """Issue #36: maps made outside recal (here IG in float64 PyTorch, saved
    as float32 N x H x W) scored by recal's `{name: precomputed, path:}` and
    by Quantus / Captum given the same file as a_batch / attributions: every
    metric recal allows on precomputed maps, against the libraries."""
    import captum.metrics
    import quantus
    net = torch.jit.load(model_path).double().eval()
    n, c, h, w = x32.shape
    hw, d = h * w, c * h * w
    maps = explainer("ig", net)(None, xb, yb).astype(np.float32)[:, 0]
    path = os.path.join(work, "made-elsewhere.npy")
    np.save(path, maps)
    a_batch = maps[:, None]
    metrics = FQ_METRICS[:-1] + (f", sensitivity_n: {{ratios: {RATIOS}, samples: {S}}}, "
                                 f"faithfulness: {{groups: {GROUPS}}}, "
                                 f"infidelity: {{samples: {INF_M}, sigma_model: {INF_SIGMA}}}}}")
    g = cm.run_recal(recal, src, work, "quantus-pre", model_path,
                     f"[{{name: precomputed, path: {path}, label: elsewhere}}]", metrics)[("elsewhere", "vanilla")]
    call_a = dict(call, a_batch=a_batch)
    fc_module = sys.modules[quantus.FaithfulnessCorrelation.__module__]
    fe_module = sys.modules[quantus.FaithfulnessEstimate.__module__]
    road_module = sys.modules[quantus.functions.perturb_func.noisy_linear_imputation.__module__]

    for r, ratio in enumerate(RATIOS):
        k = int(math.floor(ratio * hw + 1e-9))
        fc = quantus.FaithfulnessCorrelation(nr_runs=S, subset_size=k, perturb_baseline=0.0,
                                             similarity_func=quantus.correlation_pearson, **common)
        u = [cm.rand(len(RATIOS) * S * hw, i, cm.SEED_SENSN_MASK).numpy() for i in range(n)]
        draws = (np.argsort(u[i][(r * S + j) * hw:(r * S + j + 1) * hw], kind="stable")[:k]
                 for i in range(n) for j in range(S))
        v = with_subsets(fc_module, draws, lambda: fc(**call_a))
        cm.close(f"precomputed: sensitivity-n at n={ratio} (quantus.FaithfulnessCorrelation on the file)",
                 g["sensitivity_n"]["correlation"][r], mean_finite(v), 1e-4, 1e-5)
    gid = np.array([[(y * 7 // h) * 7 + (q * 7 // w) for q in range(w)] for y in range(h)]).reshape(-1)
    groups = [np.flatnonzero(gid == k) for k in range(GROUPS)]
    fc = quantus.FaithfulnessCorrelation(nr_runs=GROUPS, subset_size=len(groups[0]), perturb_baseline=0.0,
                                         similarity_func=quantus.correlation_pearson, **common)
    v = with_subsets(fc_module, [s for _ in range(n) for s in groups], lambda: fc(**call_a))
    cm.close("precomputed: faithfulness Pearson over groups (quantus.FaithfulnessCorrelation on the file)",
             g["faithfulness"]["pearson"], mean_finite(v), 1e-4, 1e-5)
    fcorr = (np.argsort(cm.rand(FC_RUNS * d, i, cm.SEED_FCORR_MASK).numpy()[r * d:(r + 1) * d], kind="stable")[:FC_SIZE]
             for i in range(n) for r in range(FC_RUNS))
    fc = quantus.FaithfulnessCorrelation(nr_runs=FC_RUNS, subset_size=FC_SIZE, perturb_baseline="black",
                                         similarity_func=quantus.correlation_pearson, **common)
    v = with_subsets(fc_module, fcorr, lambda: fc(**call_a))
    cm.close("precomputed: faithfulness_correlation (quantus.FaithfulnessCorrelation on the file)",
             g["faithfulness_correlation"]["pearson"], mean_finite(v), 1e-4, 1e-5)
    fe = quantus.FaithfulnessEstimate(features_in_step=FE_STEP, perturb_baseline="black",
                                      similarity_func=quantus.correlation_pearson, **common)
    v = with_stable_argsort(fe_module, lambda: fe(**call_a))
    cm.close("precomputed: faithfulness_estimate (quantus.FaithfulnessEstimate on the file)",
             g["faithfulness_estimate"]["pearson"], mean_finite(v), 1e-4, 1e-5)
    net32 = torch.jit.load(model_path).eval()
    for order, key, sign in ((0, "morf_acc", 1.0), (1, "lerf_acc", -1.0)):
        rd = quantus.ROAD(percentages=ROAD_PCT, noise=ROAD_NOISE, abs=False, normalise=True,
                          disable_warnings=True, display_progressbar=False)
        v = with_road_noise(road_module, order, lambda: rd(model=net32, x_batch=xb, y_batch=yb,
                                                            a_batch=(sign * a_batch).astype(np.float32), device="cpu",
                                                            softmax=False, channel_first=True))
        for r, p in enumerate(ROAD_PCT):
            cm.close(f"precomputed: ROAD {key} at {p}% (quantus.ROAD on the file)", g["road"][key][r], float(v[p]),
                     0, 1e-9)

    def perturb(inputs):
        rows = [(cm.rand(INF_M * d, row // INF_M, cm.SEED_INFIDELITY, gaussian=True) *
                 torch.tensor(INF_SIGMA, dtype=torch.float32)).view(INF_M, c, h, w)[row % INF_M]
                for row in range(inputs.shape[0])]
        noise = torch.stack(rows)
        return noise.double(), (x32.repeat_interleave(INF_M, dim=0) - noise).double()

    v = captum.metrics.infidelity(Float64(net).eval(), perturb, x32.double(), torch.from_numpy(a_batch).double(),
                                  target=torch.from_numpy(yb), n_perturb_samples=INF_M,
                                  max_examples_per_batch=n * INF_M, normalize=True)
    cm.close("precomputed: infidelity (captum.metrics.infidelity on the file)", g["infidelity"]["mean"],
             float(v.mean()), 1e-3, 1e-12)


def main():
    recal, src, work, model_path = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    pip_oracle.load(work, "quantus", QUANTUS)
    pip_oracle.load(work, "captum", CAPTUM)
    import warnings
    warnings.filterwarnings("ignore")
    import captum.metrics
    import quantus
    fc_module = sys.modules[quantus.FaithfulnessCorrelation.__module__]
    print(f"quantus {quantus.__version__}, captum {captum.__version__}, torch {torch.__version__}")

    root = "/usr/share/datasets/fashion-mnist"
    pix = torch.from_numpy(idx(f"{root}/t10k-images-idx3-ubyte.gz")[:N].copy()).float().unsqueeze(1)
    x32 = (pix / 255.0 - cm.MEAN[0]) / cm.STD[0]
    labels = idx(f"{root}/t10k-labels-idx1-ubyte.gz")[:N].astype(np.int64)
    _, c, h, w = x32.shape
    hw, d = h * w, c * h * w
    net = torch.jit.load(model_path).double().eval()
    model = Float64(net).eval()
    xb, yb = x32.numpy(), labels
    common = dict(disable_warnings=True, display_progressbar=False, abs=False, normalise=False,
                  return_aggregate=False)
    call = dict(model=model, x_batch=xb, y_batch=yb, a_batch=None, device="cpu", softmax=False, channel_first=True)

    got = cm.run_recal(recal, src, work, "quantus-run", model_path, METHODS, METRICS)
    std = torch.tensor(cm.STD, dtype=torch.float32).view(-1, 1, 1)

    def lipschitz_sample(i, j):
        z = cm.rand(LIP_M * d, i, cm.SEED_LIPSCHITZ, gaussian=True).view(LIP_M, c, h, w)
        return x32[i] + torch.tensor(LIP_SIGMA, dtype=torch.float32) * z[j] / std

    def maxsens_sample(i, j):
        u = cm.rand(MS_M * d, i, cm.SEED_MAXSENS).view(MS_M, c, h, w)
        return x32[i] + torch.tensor(MS_R, dtype=torch.float32) * (2.0 * u[j] - 1.0)

    def sensn_subsets(r, k):
        for i in range(N):
            u = cm.rand(len(RATIOS) * S * hw, i, cm.SEED_SENSN_MASK).numpy()
            for j in range(S):
                yield np.argsort(u[(r * S + j) * hw:(r * S + j + 1) * hw], kind="stable")[:k]

    gid = np.array([[(y * 7 // h) * 7 + (q * 7 // w) for q in range(w)] for y in range(h)]).reshape(-1)
    groups = [np.flatnonzero(gid == g) for g in range(GROUPS)]

    for method in ("input_grad", "ig"):
        g = got[(method, "vanilla")]
        explain = explainer(method, net)
        std_scale = float(cm.STD[0])

        lle = quantus.LocalLipschitzEstimate(
            nr_samples=LIP_M, perturb_func=Replay(x32, lipschitz_sample),
            norm_numerator=quantus.distance_euclidean,
            norm_denominator=lambda a, b, **kw: std_scale * quantus.distance_euclidean(a, b), **common)
        v = lle(explain_func=explain, **call)
        cm.close(f"{method}: Lipschitz mean (quantus.LocalLipschitzEstimate)", g["lipschitz"]["mean"],
                 mean_finite(v), 1e-4)
        cm.close(f"{method}: Lipschitz max", g["lipschitz"]["max"], float(np.max(v)), 1e-4)

        ms = quantus.MaxSensitivity(
            nr_samples=MS_M, perturb_func=Replay(x32, maxsens_sample),
            norm_numerator=quantus.norm_func.fro_norm, norm_denominator=quantus.norm_func.fro_norm, **common)
        v = ms(explain_func=explain, **call)
        cm.close(f"{method}: max-sensitivity mean (quantus.MaxSensitivity)", g["max_sensitivity"]["mean"],
                 mean_finite(v), 1e-4)
        cm.close(f"{method}: max-sensitivity max", g["max_sensitivity"]["max"], float(np.max(v)), 1e-4)

        for r, ratio in enumerate(RATIOS):
            k = int(math.floor(ratio * hw + 1e-9))
            fc = quantus.FaithfulnessCorrelation(nr_runs=S, subset_size=k, perturb_baseline=0.0,
                                                 similarity_func=quantus.correlation_pearson, **common)
            v = with_subsets(fc_module, sensn_subsets(r, k), lambda: fc(explain_func=explain, **call))
            cm.close(f"{method}: sensitivity-n correlation at n={ratio} (quantus.FaithfulnessCorrelation)",
                     g["sensitivity_n"]["correlation"][r], mean_finite(v), 1e-4, 1e-5)

        for key, sim, rtol in (("pearson", quantus.correlation_pearson, 1e-4),
                               ("spearman", quantus.correlation_spearman, 1e-3)):
            fc = quantus.FaithfulnessCorrelation(nr_runs=GROUPS, subset_size=len(groups[0]), perturb_baseline=0.0,
                                                 similarity_func=sim, **common)
            v = with_subsets(fc_module, [s for _ in range(N) for s in groups], lambda: fc(explain_func=explain, **call))
            cm.close(f"{method}: faithfulness {key} over {GROUPS} groups (quantus.FaithfulnessCorrelation)",
                     g["faithfulness"][key], mean_finite(v), rtol, 1e-5)

        def perturb(inputs):
            rows = []
            for row in range(inputs.shape[0]):
                i, j = row // INF_M, row % INF_M
                z = cm.rand(INF_M * d, i, cm.SEED_INFIDELITY, gaussian=True) * torch.tensor(INF_SIGMA,
                                                                                           dtype=torch.float32)
                rows.append(z.view(INF_M, c, h, w)[j])
            noise = torch.stack(rows)
            return noise.double(), (x32.repeat_interleave(INF_M, dim=0) - noise).double()

        attr = torch.from_numpy(explain(None, xb, yb))
        v = captum.metrics.infidelity(model, perturb, x32.double(), attr, target=torch.from_numpy(yb),
                                      n_perturb_samples=INF_M, max_examples_per_batch=N * INF_M, normalize=True)
        cm.close(f"{method}: infidelity (captum.metrics.infidelity, normalize=True)", g["infidelity"]["mean"],
                 float(v.mean()), 1e-3, 1e-12)

    # faithfulness_correlation and faithfulness_estimate, Quantus's defaults
    # (baseline "black" = the image's minimum, Pearson, no abs) on the maps
    # recal computed (saved with outputs.attributions), so that both score
    # the same explanation; the correlation's subsets are recal's draws.
    fq = cm.run_recal(recal, src, work, "quantus-fq", model_path, METHODS, FQ_METRICS,
                      ["--set", "outputs.attributions=true"])
    import glob
    maps = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(work, "quantus-fq", "attributions",
                                                                              "shard-*.npy")))])
    fe_module = sys.modules[quantus.FaithfulnessEstimate.__module__]

    def fcorr_subsets():
        for i in range(N):
            u = cm.rand(FC_RUNS * d, i, cm.SEED_FCORR_MASK).numpy()
            for r in range(FC_RUNS):
                yield np.argsort(u[r * d:(r + 1) * d], kind="stable")[:FC_SIZE]

    for slot, method in enumerate(("input_grad", "ig")):
        g = fq[(method, "vanilla")]
        a_batch = maps[:, slot].astype(np.float32)
        call_a = dict(call, a_batch=a_batch)
        fc = quantus.FaithfulnessCorrelation(nr_runs=FC_RUNS, subset_size=FC_SIZE, perturb_baseline="black",
                                             similarity_func=quantus.correlation_pearson, **common)
        v = with_subsets(fc_module, fcorr_subsets(), lambda: fc(**call_a))
        cm.close(f"{method}: faithfulness_correlation (quantus.FaithfulnessCorrelation, black, "
                 f"{FC_RUNS} x {FC_SIZE})", g["faithfulness_correlation"]["pearson"], mean_finite(v), 1e-4, 1e-5)
        fe = quantus.FaithfulnessEstimate(features_in_step=FE_STEP, perturb_baseline="black",
                                          similarity_func=quantus.correlation_pearson, **common)
        v = with_stable_argsort(fe_module, lambda: fe(**call_a))
        cm.close(f"{method}: faithfulness_estimate (quantus.FaithfulnessEstimate, black, steps of {FE_STEP})",
                 g["faithfulness_estimate"]["pearson"], mean_finite(v), 1e-4, 1e-5)

    # ROAD: MoRF on recal's maps, LeRF as MoRF of their negation, Quantus's
    # imputation and its float32 forward; the noise is recal's draws
    road_module = sys.modules[quantus.functions.perturb_func.noisy_linear_imputation.__module__]
    net32 = torch.jit.load(model_path).eval()
    for slot, method in enumerate(("input_grad", "ig")):
        g = fq[(method, "vanilla")]["road"]
        for order, key, sign in ((0, "morf_acc", 1.0), (1, "lerf_acc", -1.0)):
            rd = quantus.ROAD(percentages=ROAD_PCT, noise=ROAD_NOISE, abs=False, normalise=True,
                              disable_warnings=True, display_progressbar=False)
            a_batch = (sign * maps[:, slot]).astype(np.float32)
            v = with_road_noise(road_module, order, lambda: rd(model=net32, x_batch=xb, y_batch=yb, a_batch=a_batch,
                                                                device="cpu", softmax=False, channel_first=True))
            for r, p in enumerate(ROAD_PCT):
                cm.close(f"{method}: ROAD {key} at {p}% (quantus.ROAD, noise {ROAD_NOISE})", g[key][r], float(v[p]),
                         0, 1e-9)

    check_maps_made_elsewhere(recal, src, work, model_path, x32, xb, yb, call, common)

    if cm.failures:
        print(f"{len(cm.failures)} check(s) failed: {cm.failures}")
        sys.exit(1)
    print("all Quantus / Captum metric checks passed")


if __name__ == "__main__":
    main()
