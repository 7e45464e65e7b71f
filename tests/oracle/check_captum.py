#!/usr/bin/python3
"""Captum as a second, independent oracle (issue #4) for the methods Captum
has with the same definition: IG (zero baseline, and averaged over explicit
references = ig_uniform vanilla with --references), InputGrad (Saliency,
abs=False), Input×Gradient and GradCAM (LayerGradCam + bilinear
LayerAttribution.interpolate). Captum runs in float64 on the same weights as
the TorchScript model recal loads; relative L2 error ≤ 1e-4.

IG's α grid: recal uses linspace(0, 1, K) with weights 1/K (docs/methods.md);
Captum's named rules use other grids (riemann_trapezoid: the same points,
trapezoid weights), so the grid is handed to Captum's IntegratedGradients
through its step_sizes_and_alphas argument — the path, the gradients and
the (x − baseline) product stay Captum's.

SmoothGrad, LIME and KernelSHAP draw samples: Captum's NoiseTunnel,
Lime and KernelShap do the averaging, the masking and the weighting, on
recal's seeded samples, and LIME's fit is scikit-learn's Ridge through
Captum's SkLearnRidge:
  * SmoothGrad: NoiseTunnel(Saliency) draws its noise with one
    `torch.normal(0, stdev)` call that has no argument to pass noise in; the
    test replaces that one call inside Captum's noise_tunnel module with one
    that returns recal's noise (re-derived from the seed hash,
    methods_oracle.py).
  * LIME: Captum's Lime with recal's superpixels (--segments-out) as the
    feature mask, recal's on/off samples as `perturb_func`, lime_image's
    kernel as `similarity_func`, SkLearnRidge(alpha=1).
  * KernelSHAP: Captum's KernelShap (its own 10⁶ / 1 weights) with recal's
    coalitions as its perturbation generator and a float64 least-squares
    interpretable model (Float64LinearRegression says why).
Not compared: GradientShap/EG (the float64 oracles of check_methods.py and
check_eg_run.py cover it).

Captum comes from `pip install --no-deps --target WORKDIR/site
captum==0.7.0` on top of Debian's python3-torch (python3-pip). When it
cannot be installed (no network), the test is SKIPPED with the reason
(exit 77, which ctest reports as skipped), never passed.

usage: check_captum.py RECAL WORKDIR
"""
import os
import subprocess
import sys

import numpy as np
import torch

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
from export_fashion_cnn import FashionCNN  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pip_oracle  # noqa: E402
import methods_oracle as mo  # noqa: E402
from check_surrogate import masks  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from check_diffid import idx  # noqa: E402

DEVICE = os.environ.get("RECAL_TEST_DEVICE", "cpu")
CAPTUM = "captum==0.7.0"
TOL = 1e-4
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST
failures = []


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(label, got, want, tol=TOL):
    err = rel_l2(got, want)
    ok = err <= tol and got.shape == want.shape and np.linalg.norm(want) > 0  # all-zero maps prove nothing
    print(f"{'ok  ' if ok else 'FAIL'} {label}: relative L2 error vs Captum {err:.2e}")
    if not ok:
        failures.append(label)


def recal_attr(recal, work, name, args):
    out = os.path.join(work, name + ".npy")
    cmd = [recal, "attribute", "--out", out, "--device", DEVICE] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        print("FAILED:", " ".join(cmd), "\n", r.stderr)
        sys.exit(1)
    return np.load(out)


class NormalFromRecal:
    """Stands in for the `torch` module inside Captum's noise_tunnel: its one
    torch.normal(0, stdev) call returns stdev × recal's N(0, 1) draws."""

    def __init__(self, draws):
        self.draws = draws

    def __getattr__(self, name):
        return getattr(torch, name)

    def normal(self, mean, std):
        assert mean == 0 and std.shape == self.draws.shape, (mean, std.shape, self.draws.shape)
        return std * self.draws


class Float64LinearRegression:
    """Captum's Model interface around a float64 weighted least-squares fit
    with the intercept taken out by weighted centering (scikit-learn's
    LinearRegression convention). Captum's SkLearnLinearRegression fits in
    float32, which on KernelSHAP's 10^6-vs-1 weights costs ~3e-3; and with
    more superpixels than samples the centered system has one singular value
    that is 0 up to rounding, which scikit-learn's lstsq (cut at machine
    epsilon) keeps, so its minimum-norm β carries ~1e-2 of rounding noise.
    Here the cut is 1e-10 (as recal's). Captum still draws nothing of its
    own but builds the perturbed inputs, runs the model, weights the samples
    (10^6 for all-on/all-off, else 1) and paints the coefficients."""

    def fit(self, train_data, **kwargs):
        x, y, w = (torch.cat(t).double().numpy() for t in zip(*train_data))
        y, w = y.reshape(-1), w.reshape(-1)
        r = np.sqrt(w)
        xc, yc = x - (w @ x) / w.sum(), y - (w @ y) / w.sum()
        self.coef = np.linalg.lstsq(r[:, None] * xc, r * yc, rcond=1e-10)[0]
        return {}

    def representation(self):
        return torch.from_numpy(self.coef).view(1, -1)


def fashion(n):
    root = "/usr/share/datasets/fashion-mnist"
    im = idx(f"{root}/t10k-images-idx3-ubyte.gz")[:n].astype(np.float32) / 255.0
    labels = idx(f"{root}/t10k-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    return ((im - np.float32(MEAN)) / np.float32(STD)).reshape(n, 1, 28, 28).astype(np.float32), labels


def sampled_checks(recal, work, mpath, net64):
    """SmoothGrad, LIME and KernelSHAP on Fashion-MNIST test images."""
    import captum.attr._core.noise_tunnel as nt_module
    from captum._utils.models.linear_model import SkLearnRidge
    from captum.attr import KernelShap, Lime, NoiseTunnel, Saliency
    n, seed, samples, sigma = 3, 5, 8, 0.03
    x, labels = fashion(n)
    np.save(os.path.join(work, "fx.npy"), x)
    np.save(os.path.join(work, "flabels.npy"), labels)
    base = ["--model", mpath, "--input", os.path.join(work, "fx.npy"), "--labels", os.path.join(work, "flabels.npy"),
            "--mean", str(MEAN), "--std", str(STD), "--seed", str(seed)]

    got = recal_attr(recal, work, "smoothgrad", base + ["--method", "smoothgrad", "--samples", str(samples),
                                                        "--sigma", str(sigma)])
    want = []
    for i in range(n):
        e = mo.ctr_normal(mo.seed_for(seed, i, mo.SEED_NOISE), samples * x[i].size).double().view(
            samples, *x[i].shape)
        saved, nt_module.torch = nt_module.torch, NormalFromRecal(e)
        try:
            a = NoiseTunnel(Saliency(net64)).attribute(torch.from_numpy(x[i:i + 1]).double(), nt_type="smoothgrad",
                                                       nt_samples=samples, stdevs=sigma / STD, target=int(labels[i]),
                                                       abs=False)
        finally:
            nt_module.torch = saved
        want.append(a.detach().numpy()[0])
    check(f"smoothgrad sigma {sigma}, N={samples} (NoiseTunnel(Saliency), recal's noise)", got, np.stack(want))

    # 100 samples: the ICML 2023 setting; 6: fewer samples than superpixels
    # (8..10 here), KernelSHAP's minimum-norm case.
    for method, S in (("lime", 100), ("kernel_shap", 100), ("kernel_shap", 6)):
        segp = os.path.join(work, f"{method}-{S}-seg.npy")
        got = recal_attr(recal, work, f"{method}-{S}",
                         base + ["--method", method, "--samples", str(S), "--segments-out", segp])
        seg = np.load(segp)
        want = []
        for i in range(n):
            M = int(seg[i].max()) + 1
            z, _ = masks(method, seed, i, S, M)

            def recal_samples(original_inp, **kwargs):
                for zs in z:
                    yield torch.from_numpy(zs).long().unsqueeze(0)

            mask = torch.from_numpy(seg[i]).long().view(1, 1, 28, 28)
            xi = torch.from_numpy(x[i:i + 1]).double()
            if method == "lime":
                def lime_kernel(original_inp, perturbed_inp, interp, **kwargs):
                    on = float(interp.sum())  # lime_image: cosine distance to all-on, width 0.25
                    d = 1 - (on / M) ** 0.5 if on > 0 else 1.0
                    return float(np.sqrt(np.exp(-d * d / 0.25 ** 2)))

                lime = Lime(net64, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=lime_kernel,
                            perturb_func=recal_samples)
                # recal's LIME fills as lime_image (hide_color None): each
                # superpixel's mean colour, a per-image baseline for Captum
                fill = xi.clone()
                for sp in range(M):
                    on = mask == sp
                    fill[on] = xi[on].mean()
                a = lime.attribute(xi, target=int(labels[i]), feature_mask=mask, baselines=fill, n_samples=S,
                                   perturbations_per_eval=S)
            else:
                ks = KernelShap(net64)
                ks.interpretable_model = Float64LinearRegression()
                ks.perturb_func = recal_samples
                a = ks.attribute(xi, target=int(labels[i]), feature_mask=mask, baselines=0.0, n_samples=S,
                                 perturbations_per_eval=S)
            want.append(a.detach().numpy()[0])
        want = np.stack(want)
        if method == "lime":
            check(f"lime, {S} samples on recal's superpixels (Lime(SkLearnRidge(1), lime_image kernel and "
                  "superpixel-mean fill), recal's samples)", got, want)
            continue
        for i in range(n):
            M = int(seg[i].max()) + 1
            check(f"kernel_shap image {i}, {M} superpixels, {S} samples (KernelShap, recal's samples, "
                  "float64 fit)", got[i], want[i])


def resnet50_gradcam(recal, work):
    """tools/export_models.py's ResNet-50 GradCAM split (torchvision
    definition, random weights) against Captum's LayerGradCam on layer4."""
    try:
        import torchvision
    except ImportError:
        print("FAIL resnet50 gradcam: python3-torchvision is not installed (tools/install-deps.sh installs it)")
        failures.append("resnet50 gradcam")
        return
    from captum.attr import LayerAttribution, LayerGradCam
    from export_models import SplitResNet
    out = os.path.join(work, "models")
    r = subprocess.run([sys.executable, os.path.join(TOOLS, "export_models.py"), out, "--only", "resnet50"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("FAILED: export_models.py --only resnet50\n", r.stderr)
        sys.exit(1)
    path = os.path.join(out, "resnet50.pt")
    net = SplitResNet(torchvision.models.resnet50()).eval()
    net.load_state_dict(torch.jit.load(path).state_dict())
    net = net.double()
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 96, 96)).astype(np.float32)  # layer4 maps of 3 x 3
    with torch.no_grad():  # the top class: its map is not all zero after GradCAM's ReLU
        labels = net(torch.from_numpy(x).double()).argmax(1).numpy().astype(np.int64)
    np.save(os.path.join(work, "rx.npy"), x)
    np.save(os.path.join(work, "rlabels.npy"), labels)
    got = recal_attr(recal, work, "resnet50-gradcam", ["--model", path, "--input", os.path.join(work, "rx.npy"),
                                                       "--labels", os.path.join(work, "rlabels.npy"),
                                                       "--method", "gradcam"])
    x64 = torch.from_numpy(x).double()
    cam = LayerGradCam(net, net.net.layer4).attribute(x64, target=torch.from_numpy(labels), relu_attributions=True)
    want = LayerAttribution.interpolate(cam, (96, 96), interpolate_mode="bilinear").detach().numpy()
    check("gradcam, ResNet-50 split of tools/export_models.py (LayerGradCam on layer4)", got,
          np.broadcast_to(want, got.shape) if got.shape[1] != want.shape[1] else want)


def main():
    recal, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    pip_oracle.load(work, "captum", CAPTUM)
    import captum
    from captum.attr import InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam, Saliency
    print(f"captum {captum.__version__}, torch {torch.__version__}")

    torch.manual_seed(4321)
    net = FashionCNN().eval()
    mpath = os.path.join(work, "cnn.pt")
    torch.jit.script(net).save(mpath)
    net64 = FashionCNN().eval()
    net64.load_state_dict(net.state_dict())
    net64 = net64.double()

    rng = np.random.default_rng(11)
    n, R, K = 4, 3, 8
    x = rng.normal(size=(n, 1, 28, 28)).astype(np.float32)
    labels = np.array([1, 4, 7, 9], dtype=np.int64)
    refs = rng.normal(size=(R, 1, 28, 28)).astype(np.float32)
    for name, arr in (("x", x), ("labels", labels), ("refs", refs)):
        np.save(os.path.join(work, name + ".npy"), arr)
    base = ["--model", mpath, "--input", os.path.join(work, "x.npy"), "--labels", os.path.join(work, "labels.npy")]
    x64, t = torch.from_numpy(x).double(), torch.from_numpy(labels)
    grid = ([1.0 / K] * K, [float(a) for a in np.linspace(0.0, 1.0, K)])  # recal's α_k, weights 1/K

    ig = IntegratedGradients(net64)
    want = ig._attribute((x64,), (torch.zeros_like(x64),), target=t, n_steps=K,
                         step_sizes_and_alphas=grid)[0].detach().numpy()
    check(f"ig zero baseline K={K}", recal_attr(recal, work, "ig", base + ["--method", "ig", "--steps", str(K)]), want)

    per_ref = [ig._attribute((x64,), (torch.from_numpy(refs[j:j + 1]).double().expand_as(x64),), target=t,
                             n_steps=K, step_sizes_and_alphas=grid)[0].detach().numpy() for j in range(R)]
    got = recal_attr(recal, work, "ig_uniform", base + ["--method", "ig_uniform", "--estimator", "vanilla",
                                                        "--refs", str(R), "--steps", str(K), "--references",
                                                        os.path.join(work, "refs.npy")])
    check(f"ig_uniform vanilla, {R} explicit references, K={K} (mean of Captum IG per reference)", got,
          np.mean(per_ref, axis=0))

    # alpha_rule: Captum's own method= rules, nothing handed in (issue #36)
    for rule in ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"):
        want = ig.attribute(x64, baselines=torch.zeros_like(x64), target=t, n_steps=K, method=rule).detach().numpy()
        got = recal_attr(recal, work, f"ig-{rule}", base + ["--method", "ig", "--steps", str(K), "--alpha-rule", rule])
        check(f"ig zero baseline K={K} alpha_rule {rule} (IntegratedGradients method={rule})", got, want)
    want = ig.attribute(x64, baselines=torch.zeros_like(x64), target=t).detach().numpy()
    got = recal_attr(recal, work, "ig-captum-default", base + ["--method", "ig", "--steps", "50", "--alpha-rule",
                                                               "gausslegendre"])
    check("ig --steps 50 --alpha-rule gausslegendre (IntegratedGradients defaults)", got, want)
    per_ref = [ig.attribute(x64, baselines=torch.from_numpy(refs[j:j + 1]).double().expand_as(x64), target=t,
                            n_steps=K, method="riemann_trapezoid").detach().numpy() for j in range(R)]
    got = recal_attr(recal, work, "ig_uniform-trapezoid",
                     base + ["--method", "ig_uniform", "--estimator", "vanilla", "--refs", str(R), "--steps", str(K),
                             "--alpha-rule", "riemann_trapezoid", "--references", os.path.join(work, "refs.npy")])
    check(f"ig_uniform vanilla, {R} explicit references, K={K}, riemann_trapezoid (the α = 1 point shared)", got,
          np.mean(per_ref, axis=0))

    want = Saliency(net64).attribute(x64, target=t, abs=False).detach().numpy()
    check("input_grad (Saliency, abs=False)", recal_attr(recal, work, "input_grad", base + ["--method", "input_grad"]),
          want)
    want = InputXGradient(net64).attribute(x64, target=t).detach().numpy()
    check("input_x_grad (InputXGradient)", recal_attr(recal, work, "input_x_grad", base + ["--method", "input_x_grad"]),
          want)

    cam = LayerGradCam(net64, net64.conv).attribute(x64, target=t, relu_attributions=True)
    want = LayerAttribution.interpolate(cam, (28, 28), interpolate_mode="bilinear").detach().numpy()
    check("gradcam (LayerGradCam on features, bilinear interpolate)",
          recal_attr(recal, work, "gradcam", base + ["--method", "gradcam"]), want)

    sampled_checks(recal, work, mpath, net64)
    resnet50_gradcam(recal, work)

    if failures:
        print(f"{len(failures)} comparison(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all Captum comparisons passed")


if __name__ == "__main__":
    main()
