#!/usr/bin/python3
"""Captum as a second, independent oracle (issue #4) for the methods Captum
has with the same definition: IG (zero baseline, and averaged over explicit
references = ig_uniform vanilla with --references), InputGrad (Saliency,
abs=False), Input×Gradient and GradCAM (LayerGradCam + bilinear
LayerAttribution.interpolate). Captum runs in float64 on the same weights as
the TorchScript model recal loads; relative L2 error ≤ 1e-4.

IG's α grid: recal uses linspace(0, 1, K) with weights 1/K (METHODS.md);
Captum's named rules use other grids (riemann_trapezoid: the same points,
trapezoid weights), so the grid is handed to Captum's IntegratedGradients
through its step_sizes_and_alphas argument — the path, the gradients and
the (x − baseline) product stay Captum's.

Not compared here, because Captum draws its samples from its own RNG:
SmoothGrad (NoiseTunnel), LIME, KernelSHAP, GradientShap/EG; the float64
oracles of check_methods.py / check_surrogate.py cover them on recal's
seeded samples.

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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from export_fashion_cnn import FashionCNN  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pip_oracle  # noqa: E402

DEVICE = os.environ.get("RECAL_TEST_DEVICE", "cpu")
CAPTUM = "captum==0.7.0"
TOL = 1e-4
failures = []


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(label, got, want):
    err = rel_l2(got, want)
    ok = err <= TOL and got.shape == want.shape
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

    if failures:
        print(f"{len(failures)} comparison(s) failed: {', '.join(failures)}")
        sys.exit(1)
    print("all Captum comparisons passed")


if __name__ == "__main__":
    main()
