#!/usr/bin/python3
"""Guided IG and Blur IG against PAIR's `saliency` package (PyPI 0.2.1,
pip-installed with --no-deps on Debian's numpy/scipy/scikit-image; skipped,
exit 77, without network), which computes both: `recal attribute` on four
Fashion-MNIST test images through a CNN against GuidedIG().GetMask and
BlurIG().GetMask driven by the same model in PyTorch (defaults and other
settings; Guided IG also from recal's blur, uniform and file baselines,
made here). The estimators PAIR does not have (valid_ip, idgi) are checked on
the path PAIR walked: every gradient call is recorded, and the step terms
g ⊙ Δ and the changes of F are recombined in float64 by this script
(docs/methods.md); IDGI's completeness (Σ A = F(x) − F(start)) is checked too.
usage: check_guided_blur.py RECAL WORK_DIR"""
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from export_fashion_cnn import FashionCNN  # noqa: E402
sys.path.insert(0, HERE)
import methods_oracle  # noqa: E402
import pip_oracle  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from check_diffid import idx  # noqa: E402

SALIENCY = "saliency==0.2.1"
MEAN, STD = 0.2860, 0.3530
failures = []


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(label, got, want, tol):
    err = rel_l2(got, want)
    ok = err <= tol and got.shape == want.shape and np.linalg.norm(want) > 0
    print(f"{'ok  ' if ok else 'FAIL'} {label}: relative L2 error {err:.2e} (tolerance {tol:g})")
    if not ok:
        failures.append(label)


def recal_attr(recal, work, name, args):
    out = os.path.join(work, name + ".npy")
    cmd = [recal, "attribute", "--out", out, "--device", "cpu"] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{r.stderr}")
    return np.load(out)


class Model:
    """PAIR's call_model_function over a float32 PyTorch model: batches of
    H×W×C float64 arrays in model space; every call recorded (point, gradient,
    F) so that the estimators PAIR lacks can be formed from its own path."""

    def __init__(self, net, label):
        self.net, self.label, self.calls = net, label, []

    def f_and_grad(self, z_hwc):
        z = torch.from_numpy(np.ascontiguousarray(np.transpose(z_hwc, (0, 3, 1, 2)))).float().requires_grad_()
        out = self.net(z)[:, self.label]
        g, = torch.autograd.grad(out.sum(), z)
        return out.detach().double().numpy(), np.transpose(g.double().numpy(), (0, 2, 3, 1))

    def __call__(self, x_batch, call_model_args=None, expected_keys=None):
        f, g = self.f_and_grad(np.asarray(x_batch))
        for k in range(len(f)):
            self.calls.append((np.array(x_batch[k], dtype=np.float64), g[k], f[k]))
        from saliency.core.base import INPUT_OUTPUT_GRADIENTS
        return {INPUT_OUTPUT_GRADIENTS: g}


def estimators(steps, f_end):
    """vanilla, valid_ip, idgi from (g, Δ, F at the step's start, F at its end)
    per step; and where valid_ip is ill-posed: an element with a step term
    that is not 0 but within 1e-9 of the largest term of 0 (its sign, hence
    valid_ip's count, is rounding's choice)"""
    van = sum(g * dlt for g, dlt, _, _ in steps)
    terms = [g * dlt for g, dlt, _, _ in steps]
    eps = 1e-9 * max(float(np.abs(t).max()) for t in terms)
    unsure = sum(((np.abs(t) <= eps) & (t != 0)).astype(np.int64) for t in terms) > 0
    kept = sum(np.where(t >= 0, t, 0) for t in terms)
    cnt = sum((t >= 0).astype(np.float64) for t in terms)
    ip = kept / np.maximum(cnt, 1)
    idgi = np.zeros_like(van)
    for g, _, fa, fb in steps:
        sq = (g * g).sum()
        if sq > 0:
            idgi += g * g / sq * (fb - fa)
    return van, ip, idgi, unsure


def check_all(method, tag, got, want, sure, tol):
    for e in got:
        m = sure if e == "valid_ip" else np.ones_like(sure)
        src = "PAIR saliency" if e == "vanilla" else "PAIR path, float64"
        if e == "valid_ip":
            src += f", the {100 * m.mean():.1f}% of elements where it is well-posed"
            if m.mean() < 0.5:
                failures.append(f"{method} valid_ip: too few elements to compare")
        check(f"{method} {e} ({tag}) vs {src}", got[e][m], want[e][m], tol)


def main():
    recal, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    pip_oracle.load(work, "saliency", SALIENCY)
    from saliency.core import blur_ig, guided_ig
    from scipy import ndimage

    torch.manual_seed(1234)
    net = FashionCNN().eval()
    mpath = os.path.join(work, "cnn.pt")
    torch.jit.script(net).save(mpath)
    root = "/usr/share/datasets/fashion-mnist"
    n = 4
    pix = idx(f"{root}/t10k-images-idx3-ubyte.gz")[:n].astype(np.float32) / 255.0
    x = ((pix - np.float32(MEAN)) / np.float32(STD)).reshape(n, 1, 28, 28).astype(np.float32)
    labels = idx(f"{root}/t10k-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "labels.npy"), labels)
    base = ["--model", mpath, "--input", os.path.join(work, "x.npy"), "--labels", os.path.join(work, "labels.npy"),
            "--mean", str(MEAN), "--std", str(STD)]
    hwc = [np.transpose(x[i], (1, 2, 0)).astype(np.float64) for i in range(n)]

    # ---- Guided IG: PAIR's defaults (200 steps), then a looser path from
    # each baseline (docs/methods.md, "Baselines"), made here: recal's black,
    # normalize(0), in float32 as the input is (a background pixel then
    # equals it exactly, and stays off the path); the blur by scipy's
    # gaussian_filter as PAIR's Blur IG calls it; the uniform noise from
    # recal's counter-based stream re-derived (methods_oracle, purpose 19,
    # seed 0, image id i); a file of per-image baselines. Each rounded to
    # float32, the precision recal holds a baseline in.
    per = np.random.default_rng(11).normal(size=(n, 1, 28, 28)).astype(np.float32)
    np.save(os.path.join(work, "gig-base.npy"), per)
    hwc32 = lambda a: np.transpose(np.asarray(a, np.float32), (1, 2, 0)).astype(np.float64)  # noqa: E731
    loose, loose_kw = ["--steps", "40", "--max-dist", "0.1", "--fraction", "0.5"], \
        {"x_steps": 40, "max_dist": 0.1, "fraction": 0.5}
    cases = (("defaults", [], {}, lambda i: np.zeros_like(hwc[i])),
             ("steps 40, max_dist 0.1, fraction 0.5, black baseline", loose + ["--baseline", "black"], loose_kw,
              lambda i: np.full_like(hwc[i], np.float32(-MEAN) / np.float32(STD))),
             ("the same, blur baseline sigma 3", loose + ["--baseline", "blur", "--blur-sigma", "3"], loose_kw,
              lambda i: hwc32(ndimage.gaussian_filter(x[i].astype(np.float64), sigma=[0, 3, 3], mode="constant"))),
             ("the same, uniform baseline", loose + ["--baseline", "uniform"], loose_kw,
              lambda i: hwc32((methods_oracle.ctr_uniform(methods_oracle.seed_for(0, i, 19), 784).numpy()
                               .reshape(1, 28, 28) - np.float32(MEAN)) / np.float32(STD))),
             ("the same, per-image baseline file", loose + ["--baseline", os.path.join(work, "gig-base.npy")],
              loose_kw, lambda i: hwc32(per[i])))
    for tag, args, kw, baseline in cases:
        got = {e: recal_attr(recal, work, f"gig-{e}", base + ["--method", "guided_ig", "--estimator", e] + args)
               for e in ("vanilla", "valid_ip", "idgi")}
        want = {e: np.zeros_like(x, dtype=np.float64) for e in got}
        sure = np.zeros(x.shape, dtype=bool)
        for i in range(n):
            b = baseline(i)
            mdl = Model(net, int(labels[i]))
            a = guided_ig.GuidedIG().GetMask(hwc[i], mdl, x_baseline=b, **kw)
            pts = [c[0] for c in mdl.calls] + [hwc[i]]
            f_end = float(mdl.f_and_grad(hwc[i][None])[0][0])
            fs = [c[2] for c in mdl.calls] + [f_end]
            steps = [(mdl.calls[k][1], pts[k + 1] - pts[k], fs[k], fs[k + 1]) for k in range(len(mdl.calls))]
            van, ip, idgi, unsure = estimators(steps, f_end)
            sure[i] = np.transpose(~unsure, (2, 0, 1))
            assert rel_l2(van, a) < 1e-9, "the recorded path does not rebuild PAIR's map"
            for e, v in (("vanilla", a), ("valid_ip", ip), ("idgi", idgi)):
                want[e][i] = np.transpose(v, (2, 0, 1))
            # IDGI is complete: its map sums to F(x) − F(baseline)
            gap = abs(idgi.sum() - (f_end - fs[0])) / max(abs(f_end - fs[0]), 1e-12)
            if gap > 1e-6:
                print(f"FAIL guided_ig idgi completeness, image {i}: relative gap {gap:.2e}")
                failures.append("gig completeness")
        check_all("guided_ig", tag, got, want, sure, 1e-5)

    # ---- Blur IG: PAIR's defaults, then sqrt-spaced sigmas ----------------
    for tag, args, kw in (("defaults", [], {}),
                          ("steps 30, max_sigma 10, sqrt", ["--steps", "30", "--max-sigma", "10", "--sqrt"],
                           {"steps": 30, "max_sigma": 10, "sqrt": True})):
        got = {e: recal_attr(recal, work, f"blur-{e}", base + ["--method", "blur_ig", "--estimator", e] + args)
               for e in ("vanilla", "valid_ip", "idgi")}
        want = {e: np.zeros_like(x, dtype=np.float64) for e in got}
        sure = np.zeros(x.shape, dtype=bool)
        S, smax, h = kw.get("steps", 100), kw.get("max_sigma", 50), 0.01
        sig = [np.sqrt(i * smax / S) if kw.get("sqrt") else i * smax / S for i in range(S + 1)]
        for i in range(n):
            mdl = Model(net, int(labels[i]))
            a = blur_ig.BlurIG().GetMask(hwc[i], mdl, batch_size=1, **kw)
            blur = lambda s: hwc[i] if s == 0 else ndimage.gaussian_filter(hwc[i], sigma=[s, s, 0], mode="constant")  # noqa
            f_last = float(mdl.f_and_grad(blur(sig[S])[None])[0][0])
            fs = [c[2] for c in mdl.calls] + [f_last]
            steps = [(mdl.calls[k][1], -(sig[k + 1] - sig[k]) * (blur(sig[k] + h) - blur(sig[k])) / h, fs[k + 1], fs[k])
                     for k in range(S)]
            van, ip, idgi, unsure = estimators(steps, f_last)
            sure[i] = np.transpose(~unsure, (2, 0, 1))
            assert rel_l2(van, a) < 1e-9, "the recorded path does not rebuild PAIR's map"
            for e, v in (("vanilla", a), ("valid_ip", ip), ("idgi", idgi)):
                want[e][i] = np.transpose(v, (2, 0, 1))
        check_all("blur_ig", tag, got, want, sure, 1e-5)
    if failures:
        sys.exit(f"{len(failures)} Guided IG / Blur IG checks failed")
    print("Guided IG and Blur IG match PAIR's saliency package (and its paths' valid_ip and IDGI)")


if __name__ == "__main__":
    main()
