#!/usr/bin/python3
"""Metrics oracle (docs/metrics.md (sensitivity-n; robustness and faithfulness)): sensitivity-n, faithfulness,
infidelity, local Lipschitz and max-sensitivity recomputed in float64
PyTorch with plain loops over images and samples, recal's seeded draws
re-derived from the seed hash, and compared with the metrics.json of a
2-rank `recal run` (so the cross-rank sums and the max reduction are in the
path too).

Two models:
  * a linear model, where the sanity anchors of docs/metrics.md are exact:
    InputGrad has Lipschitz, max-sensitivity and infidelity 0, and IG with
    the zero baseline has sensitivity-n (post-hoc sum, zero baseline) and
    faithfulness correlation 1;
  * the trained Fashion-MNIST CNN (nonlinear), against the full oracle, for
    InputGrad, IG-Uniform valid_ip (seeded references, also on the
    perturbed copies' pseudo ids) and the random control;
and a constant-weight linear model on which the Lipschitz estimate of
Input×Gradient is known in closed form in pixel and in model units.

usage: check_metrics.py RECAL SRC_DIR WORK_DIR MODEL"""
import glob
import json
import math
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import methods_oracle as mo  # noqa: E402
from check_diffid import idx  # noqa: E402

MASK64 = (1 << 64) - 1
SEED_RANDOM_ATTR, SEED_SENSN_MASK, SEED_SENSN_BASE = 2, 8, 9
SEED_FCORR_MASK = 16
SEED_INFIDELITY, SEED_LIPSCHITZ, SEED_MAXSENS = 10, 11, 12
MEAN, STD = [0.2860], [0.3530]
SEED = 7
N = 6  # images
failures = []


def rand(n, image_id, purpose, gaussian=False):
    """recal's draws: the counter-based stream of (SEED, image id, purpose)."""
    key = mo.seed_for(SEED, image_id & MASK64, purpose)
    return mo.ctr_normal(key, n) if gaussian else mo.ctr_uniform(key, n)


def copy_id(image_id, j):
    return -1 - (image_id * 1048576 + j)


def pearson(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    dx, dy = x - x.mean(), y - y.mean()
    sxx, syy = (dx * dx).sum(), (dy * dy).sum()
    if len(x) < 2 or sxx <= 0 or syy <= 0:
        return None
    return float((dx * dy).sum() / math.sqrt(sxx * syy))


def avg_ranks(v):
    v = np.asarray(v, float)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    i = 0
    while i < len(v):
        j = i + 1
        while j < len(v) and v[order[j]] == v[order[i]]:
            j += 1
        ranks[order[i:j]] = 0.5 * (i + 1 + j)
        i = j
    return ranks


class Oracle:
    def __init__(self, model, x32, labels, cfg):
        self.m, self.x32, self.y, self.cfg = model, x32, labels, cfg
        self.c, self.h, self.w = x32.shape[1:]
        self.per = {}  # (per-image field, method): each image's value, None where undefined

    def f(self, z32, t):
        """logit t of float32 inputs (1 or more), evaluated in float64"""
        with torch.no_grad():
            return self.m(z32.double().reshape(-1, self.c, self.h, self.w))[:, t]

    def attr(self, method, z32, t, image_id):
        z = z32.double()
        if method == "input_grad":
            return mo.input_grad(self.m, z, t)
        if method == "ig":
            return mo.path_attr(self.m, z, t, torch.zeros(1, *z.shape, dtype=torch.float64),
                                mo.linspace_alpha(1, 4), "vanilla")
        if method == "ig_uniform":
            refs = mo.sampled_uniform(SEED, image_id & MASK64, 2, tuple(z.shape), MEAN, STD)
            return mo.ig_uniform(self.m, z, t, refs, 2, "valid_ip")
        if method == "random":
            return mo.random_attr(SEED, image_id & MASK64, z.numel()).double().view(z.shape)
        raise ValueError(method)

    def sensn(self, method, ratios, S):
        hw, d = self.h * self.w, self.c * self.h * self.w
        per_img, pooled = [[] for _ in ratios], [([], []) for _ in ratios]
        img_means = []
        for i in range(len(self.y)):
            img = []
            x, t = self.x32[i], int(self.y[i])
            a = self.attr(method, x, t, i)
            fx = float(self.f(x, t))
            u = rand(len(ratios) * S * hw, i, SEED_SENSN_MASK).numpy()
            for r, ratio in enumerate(ratios):
                k = int(math.floor(ratio * hw + 1e-9))
                xs, ys = [], []
                for j in range(S):
                    uj = u[(r * S + j) * hw:(r * S + j + 1) * hw]
                    removed = np.argsort(uj, kind="stable")[:k]
                    mask = torch.zeros(hw, dtype=torch.bool)
                    mask[removed] = True
                    mask = mask.view(self.h, self.w)
                    z = x.clone()
                    z[:, mask] = 0.0
                    xs.append(float(a[:, mask].sum()))
                    ys.append(fx - float(self.f(z, t)))
                p = pearson(xs, ys)
                if p is not None:
                    per_img[r].append(p)
                    img.append(p)
                pooled[r][0].extend(xs)
                pooled[r][1].extend(ys)
            img_means.append(sum(img) / len(img) if img else None)
        self.per[("sensitivity_n_correlation", method)] = img_means
        return ([sum(v) / len(v) if v else None for v in per_img], [pearson(*p) for p in pooled])

    def faith(self, method, groups):
        gh = max(1, min(self.h, int(round(math.sqrt(groups)))))
        gw = min(self.w, (groups + gh - 1) // gh)
        gid = np.array([[(r * gh // self.h) * gw + (q * gw // self.w) for q in range(self.w)]
                        for r in range(self.h)])
        G = gh * gw
        pe, sp, inv = [], [], []
        for i in range(len(self.y)):
            x, t = self.x32[i], int(self.y[i])
            a = self.attr(method, x, t, i)
            fx = float(self.f(x, t))
            p, s = [], []
            for g in range(G):
                m = torch.from_numpy(gid == g)
                z = x.clone()
                z[:, m] = 0.0
                p.append(fx - float(self.f(z, t)))
                s.append(float(a[:, m].sum()))
            pe.append(pearson(s, p))
            sp.append(pearson(avg_ranks(s), avg_ranks(p)))
            dist = math.sqrt(sum((si - pi) ** 2 for si, pi in zip(s, p)))
            inv.append(1 / dist if dist > 0 else None)
        for key, v in (("faithfulness_pearson", pe), ("faithfulness_spearman", sp), ("faithfulness_inv_distance", inv)):
            self.per[(key, method)] = v
        mean = lambda v: sum(x for x in v if x is not None) / len([x for x in v if x is not None]) \
            if any(x is not None for x in v) else None  # noqa: E731
        return mean(pe), mean(sp), mean(inv)

    def infidelity(self, method, M, sigma):
        d = self.c * self.h * self.w
        out = []
        for i in range(len(self.y)):
            x, t = self.x32[i], int(self.y[i])
            a = self.attr(method, x, t, i)
            noise = rand(M * d, i, SEED_INFIDELITY, gaussian=True) * torch.tensor(sigma, dtype=torch.float32)
            noise = noise.view(M, *x.shape)
            fx = float(self.f(x, t))
            df = [fx - float(self.f(x - noise[j], t)) for j in range(M)]
            s = [float((noise[j].double() * a).sum()) for j in range(M)]
            num, den = sum(si * di for si, di in zip(s, df)), sum(si * si for si in s)
            beta = num / den if den > 0 else 0.0
            out.append(sum((beta * si - di) ** 2 for si, di in zip(s, df)) / M)
        self.per[("infidelity", method)] = out
        return sum(out) / len(out)

    def stability(self, method, kind, M, scale):
        d = self.c * self.h * self.w
        std = torch.tensor(STD, dtype=torch.float32).view(-1, 1, 1)
        best = []
        self.per[(kind, method)] = []
        for i in range(len(self.y)):
            x, t = self.x32[i], int(self.y[i])
            a0 = self.attr(method, x, t, i)
            purpose = SEED_LIPSCHITZ if kind == "lipschitz" else SEED_MAXSENS
            z = rand(M * d, i, purpose, gaussian=(kind == "lipschitz")).view(M, *x.shape)
            sc = torch.tensor(scale, dtype=torch.float32)
            b = -1.0
            for j in range(M):
                if kind == "lipschitz":
                    xj = x + sc * z[j] / std
                    den = scale * float(torch.linalg.vector_norm(z[j].double()))
                else:
                    xj = x + sc * (2.0 * z[j] - 1.0)
                    den = float(torch.linalg.vector_norm(a0)) or 1.0  # Captum: an all-zero map divides by 1
                aj = self.attr(method, xj, t, copy_id(i, j))
                if den > 0:
                    b = max(b, float(torch.linalg.vector_norm(a0 - aj)) / den)
            if b >= 0:
                best.append(b)
            self.per[(kind, method)].append(b if b >= 0 else None)
        return sum(best) / len(best), max(best)


def close(label, got, want, rtol, atol=0.0):
    if want is None or got is None:
        ok = want is None and got is None
        err = float("nan")
    else:
        err = abs(got - want)
        ok = err <= atol + rtol * abs(want)
    print(f"{'ok  ' if ok else 'FAIL'} {label}: recal {got} oracle {want} (|diff| {err:.2e})")
    if not ok:
        failures.append(label)


def run_recal(recal, src, work, name, model, methods, metrics, extra=()):
    run = os.path.join(work, name)
    subprocess.run(["rm", "-rf", run], check=True)
    env = dict(os.environ)
    cmd = ["mpirun", "-n", "2", recal, "run", os.path.join(src, "tests", "data", "fashion-diffid.yaml"),
           "--limit", str(N), "--set", f"model.path={model}", "--set", f"methods={methods}",
           "--set", f"metrics={metrics}", "--set", f"seed={SEED}", "--set", "shard_images=2",
           "--set", "batch_size=2", "--run-dir", run] + list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print("FAILED:", " ".join(cmd), "\n", r.stdout[-3000:], r.stderr[-3000:])
        sys.exit(1)
    return {(x["method"], x["estimator"]): x for x in json.load(open(os.path.join(run, "metrics.json")))["results"]}


def main():
    recal, src, work, model_path = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    root = "/usr/share/datasets/fashion-mnist"
    pix = torch.from_numpy(idx(f"{root}/t10k-images-idx3-ubyte.gz")[:N].copy()).float().unsqueeze(1)
    x32 = (pix / 255.0 - MEAN[0]) / STD[0]
    labels = idx(f"{root}/t10k-labels-idx1-ubyte.gz")[:N].astype(np.int64)

    # ---- 1. linear model: the exact anchors -------------------------------
    torch.manual_seed(11)
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    lin_path = os.path.join(work, "linear.pt")
    torch.jit.script(lin).save(lin_path)
    metrics = ("{sensitivity_n: {ratios: [0.2, 0.6], samples: 6}, faithfulness: {groups: 49}, "
               "infidelity: {samples: 8}, lipschitz: {samples: 3}, max_sensitivity: {samples: 3}}")
    got = run_recal(recal, src, work, "linear-run", lin_path,
                    "[{name: input_grad}, {name: ig, steps: 4}]", metrics)
    ig, ing = got[("ig", "vanilla")], got[("input_grad", "vanilla")]
    for r, c in enumerate(ig["sensitivity_n"]["correlation"]):
        close(f"linear: IG sensitivity-n correlation = 1 at ratio {ig['sensitivity_n']['ratios'][r]}", c, 1.0, 0,
              1e-5)
    close("linear: IG faithfulness Pearson = 1", ig["faithfulness"]["pearson"], 1.0, 0, 1e-5)
    close("linear: InputGrad Lipschitz = 0", ing["lipschitz"]["max"], 0.0, 0, 1e-6)
    close("linear: InputGrad max-sensitivity = 0", ing["max_sensitivity"]["max"], 0.0, 0, 1e-6)
    close("linear: InputGrad infidelity = 0", ing["infidelity"]["mean"], 0.0, 0, 1e-10)

    # An all-zero map (a model whose output ignores its input): max-sensitivity
    # divides by 1 as Captum's sensitivity_max does, so it is 0 for every
    # image, not left out (it was: no image counted, no number).
    zero = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    with torch.no_grad():
        zero[1].weight.zero_()
    zero_path = os.path.join(work, "zero.pt")
    torch.jit.script(zero).save(zero_path)
    got = run_recal(recal, src, work, "zero-run", zero_path, "[{name: input_grad}]",
                    "{max_sensitivity: {samples: 2}}")
    ms = got[("input_grad", "vanilla")]["max_sensitivity"]
    close("all-zero map: max-sensitivity mean = 0 (Captum divides by 1)", ms.get("mean"), 0.0, 0, 1e-12)
    close("all-zero map: max-sensitivity over every image", ms.get("images"), float(N), 0)

    # diffid is off in these runs; the curves figure needs it, the others not
    # ---- 2. the trained CNN against the float64 loops ---------------------
    model = torch.jit.load(model_path).double().eval()
    orc = Oracle(model, x32, labels, None)
    metrics = ("{sensitivity_n: {ratios: [0.1, 0.5], samples: 5}, faithfulness: {groups: 25}, "
               "infidelity: {samples: 6, sigma_model: 0.01}, lipschitz: {samples: 3, sigma_pixel: 0.03}, "
               "max_sensitivity: {samples: 2, radius_model: 0.05}}")
    got = run_recal(recal, src, work, "cnn-run", model_path,
                    "[{name: input_grad}, {name: ig_uniform, estimators: [valid_ip], refs: 2, steps: 2}, "
                    "{name: random}]", metrics, ["--set", "outputs.per_image=true"])
    for method, est in [("input_grad", "vanilla"), ("ig_uniform", "valid_ip"), ("random", "vanilla")]:
        g = got[(method, est)]
        per, pooled = orc.sensn(method, [0.1, 0.5], 5)
        for r in range(2):
            close(f"{method}: sensitivity-n correlation[{r}]", g["sensitivity_n"]["correlation"][r], per[r], 1e-4, 1e-5)
            close(f"{method}: sensitivity-n pooled[{r}]", g["sensitivity_n"]["pooled_correlation"][r], pooled[r],
                  1e-4, 1e-5)
        pe, sp, inv = orc.faith(method, 25)
        close(f"{method}: faithfulness pearson", g["faithfulness"]["pearson"], pe, 1e-4, 1e-5)
        close(f"{method}: faithfulness spearman", g["faithfulness"]["spearman"], sp, 1e-3, 1e-3)
        close(f"{method}: faithfulness 1/distance", g["faithfulness"]["inv_distance"], inv, 1e-4)
        close(f"{method}: infidelity", g["infidelity"]["mean"], orc.infidelity(method, 6, 0.01), 1e-3)
        mean, mx = orc.stability(method, "lipschitz", 3, 0.03)
        close(f"{method}: Lipschitz mean", g["lipschitz"]["mean"], mean, 1e-4)
        close(f"{method}: Lipschitz max", g["lipschitz"]["max"], mx, 1e-4)
        mean, mx = orc.stability(method, "max_sensitivity", 2, 0.05)
        close(f"{method}: max-sensitivity mean", g["max_sensitivity"]["mean"], mean, 1e-4)
        close(f"{method}: max-sensitivity max", g["max_sensitivity"]["max"], mx, 1e-4)

    # outputs.per_image: every image's value of every metric, as the oracle's
    pi_dir = os.path.join(work, "cnn-run", "per_image")
    slots = [tuple(line.split(",")[1:3]) for line in open(os.path.join(pi_dir, "slots.csv")).read().split()[1:]]
    for (field, method), want in sorted(orc.per.items()):
        got_pi = np.load(os.path.join(pi_dir, f"{field}.npy"))[:, slots.index((method, "vanilla" if method != "ig_uniform"
                                                                                 else "valid_ip"))]
        worst, undefined_agree = 0.0, True
        for g_v, w_v in zip(got_pi, want):
            if w_v is None or np.isnan(g_v):
                undefined_agree &= w_v is None and bool(np.isnan(g_v))
                continue
            worst = max(worst, abs(g_v - w_v) / (1e-3 if "spearman" in field else 1e-5 + 1e-4 * abs(w_v)))
        close(f"{method}: per-image {field} (worst error / tolerance)", worst if undefined_agree else None,
              0.0, 0, 1.0)

    # ---- 3. units: each amount in the space its key names ----------------
    # A linear model with one weight c_k per class for every pixel,
    # f_k(x) = c_k·Σx (x the normalized input, std s). Input×Gradient is
    # A = c_t·x, so x' = x + δ moves A by c_t·δ_model = c_t·δ_pixel/s: the
    # Lipschitz ratio is c_t/s exactly for every sample when σ is in pixel
    # units, c_t when σ is in model units. Max-sensitivity and infidelity
    # with the amount in pixels (r·s, σ·s) equal those with r, σ in model
    # units, draw for draw.
    c = torch.arange(1, 11, dtype=torch.float32) * 0.01
    cw = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10, bias=False)).eval()
    with torch.no_grad():
        cw[1].weight.copy_(c.view(10, 1).expand(10, 784))
    cw_path = os.path.join(work, "constant-linear.pt")
    torch.jit.script(cw).save(cw_path)
    s = STD[0]
    ct = c[torch.from_numpy(labels)].double()
    units = {}
    for space, lip, ms, inf in (("pixel", "sigma_pixel: 0.03", f"radius_pixel: {0.05 * s!r}",
                                 f"sigma_pixel: {0.01 * s!r}"),
                                ("model", "sigma_model: 0.1", "radius_model: 0.05", "sigma_model: 0.01")):
        units[space] = run_recal(recal, src, work, f"units-{space}", cw_path, "[{name: input_x_grad}]",
                                 f"{{lipschitz: {{samples: 3, {lip}}}, max_sensitivity: {{samples: 3, {ms}}}, "
                                 f"infidelity: {{samples: 6, {inf}}}}}")[("input_x_grad", "vanilla")]
    up, um = units["pixel"], units["model"]
    close("units: Lipschitz sigma_pixel = mean c_t / std", up["lipschitz"]["mean"], float(ct.mean()) / s, 1e-5)
    close("units: Lipschitz sigma_pixel max = max c_t / std", up["lipschitz"]["max"], float(ct.max()) / s, 1e-5)
    close("units: Lipschitz sigma_model = mean c_t", um["lipschitz"]["mean"], float(ct.mean()), 1e-5)
    close("units: max-sensitivity radius_pixel r*std = radius_model r", up["max_sensitivity"]["mean"],
          um["max_sensitivity"]["mean"], 1e-5)
    close("units: infidelity sigma_pixel s*std = sigma_model s", up["infidelity"]["mean"], um["infidelity"]["mean"],
          1e-4, 1e-12)
    close("units: metrics.json names the space (sigma_pixel)", up["lipschitz"].get("sigma_pixel"), 0.03, 0)
    close("units: metrics.json names the space (radius_model)", um["max_sensitivity"].get("radius_model"), 0.05, 0)

    # ---- 4. the report of that run (outputs.figures defaults to true) ------
    run = os.path.join(work, "cnn-run")
    ex = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(run, "figures", "examples-*.npy")))])
    close("report: example images kept", float(ex.shape[0]), float(N), 0)
    close("report: example 0 is the image in pixel space", float(np.abs(ex[0, 0] - pix[0].numpy() / 255).max()), 0.0,
          0, 1e-6)
    a0 = orc.attr("input_grad", x32[0], int(labels[0]), 0).numpy()
    close("report: example 0's input_grad map", float(np.linalg.norm(ex[0, 1] - a0) / np.linalg.norm(a0)), 0.0, 0, 1e-4)
    page = open(os.path.join(run, "report.html")).read()
    for name in ["sensitivity_n", "tradeoff", "heatmaps"]:
        png = os.path.join(run, "figures", name + ".png")
        ok = os.path.exists(png) and f"figures/{name}.png" in page
        if ok:
            import matplotlib.image
            h, w = matplotlib.image.imread(png).shape[:2]
            ok = h > 200 and w > 300
        print(f"{'ok  ' if ok else 'FAIL'} report: {name}.png written and shown in report.html")
        if not ok:
            failures.append(name)

    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        sys.exit(1)
    print("all metric checks passed")


if __name__ == "__main__":
    main()
