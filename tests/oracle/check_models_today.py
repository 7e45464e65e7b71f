#!/usr/bin/env python3
"""Oracle test (the second libtorch line, docs/testing.md): the models of
today — ViT-B/16, Swin-T and ConvNeXt-T from torchvision — traced with the
current PyTorch and attributed by a recal built against that PyTorch's
libtorch. Input gradients and IG-Uniform (vanilla, valid_ref, valid_ip; shared
references) must be within 1e-5 relative L2 of PyTorch's float64 autograd on
the same inputs (methods_oracle.py's loops, run by this python's torch).

Also checked: a transformer traced under torch.no_grad() (nn.MultiheadAttention
then records an inference-only kernel) is refused with the reason and the
fix; and, given a second recal built against Debian's libtorch 1.13, the
PyTorch-2 ViT is refused before any work, naming the operator and the build
that loads it.

usage: check_models_today.py RECAL WORKDIR [RECAL_BUILT_AGAINST_1.13]
Run with the python whose torch recal was built against (tools/build.sh --torch).
"""
import copy
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import methods_oracle as oracle  # noqa: E402

TOL = 1e-5
failures = []


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(label, got, want, skip=None):
    if skip is not None and skip.any():
        label += f", {int(skip.sum())} of {skip.size} elements with a term within rounding of 0 left out"
        got, want = got[~skip], want[~skip]
    err = rel_l2(got, want)
    ok = err <= TOL
    print(f"{'ok  ' if ok else 'FAIL'} {label}: relative L2 error {err:.2e}", flush=True)
    if not ok:
        failures.append(label)


def attribute(recal, args):
    r = subprocess.run([recal, "attribute"] + args, capture_output=True, text=True)
    return r.returncode, r.stderr


def trace(model, example, path):
    """What docs/install.md tells users: eval mode, gradients ON while tracing
    (under no_grad nn.MultiheadAttention records an inference-only kernel),
    check_trace=False (the checker re-runs under no_grad and then sees that
    other kernel). PyTorch >= 2.9 warns that TorchScript is deprecated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = torch.jit.trace(model, example, check_trace=False)
    ts.save(path)


_grads = {}


def cached_grad_at(model, z, label):
    """methods_oracle.grad_at, once per point: the three estimators walk the
    same R·K points, and the ambiguity mask below reads them again."""
    key = (id(model), label, z.numpy().tobytes())
    if key not in _grads:
        _grads[key] = _grad_at(model, z, label)
    return _grads[key]


_grad_at = oracle.grad_at
oracle.grad_at = cached_grad_at


def ambiguous(model, x, label, refs, steps, estimator, band=1e-5):
    """Where valid_ref / valid_ip keep a term by its sign (m >= 0), a term
    within rounding of 0 may be kept in float32 and dropped in float64, and
    the average over the kept terms then jumps by a whole term of another
    reference: not a rounding error of recal's but an ambiguity of the
    estimator. Elements with any term within band·rms(m) of 0 (10 times the
    float32 error seen on the gradients) are left out of the comparison, and
    counted; more than 0.1 % fails."""
    alpha = oracle.linspace_alpha(refs.shape[0], steps)
    R, K = alpha.shape
    ms = []
    for j in range(R):
        gs = [oracle.grad_at(model, refs[j] + alpha[j, k] * (x - refs[j]), label) for k in range(K)]
        if estimator == "valid_ref":
            ms.append((x - refs[j]) * sum(gs) / K)
        elif estimator == "valid_ip":
            ms += [(1 - alpha[j, k]) * (x - refs[j]) * gs[k] / K for k in range(K) if alpha[j, k] < 1]
    if not ms:
        return torch.zeros_like(x, dtype=torch.bool)
    m = torch.stack(ms)
    return (m.abs() <= band * m.pow(2).mean().sqrt()).any(0)


def build(name, seed):
    torch.manual_seed(seed)
    m = getattr(torchvision.models, name)(weights=None).eval()
    # torchvision zero-initialises ViT's head: every logit would be 0 and
    # every gradient too. Give zero layers the scale of the others.
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Linear) and not mod.weight.any():
                mod.weight.normal_(0, 0.02)
    return m


def objective64(logits, label, obj):
    """F of docs/methods.md's objectives, in float64: the logit z_t; prob:
    log p_t (log-softmax); contrast: z_t minus the other classes' logits
    weighted by their softmax among themselves."""
    z = logits[0]
    if obj == "logit":
        return z[label]
    if obj == "prob":
        return torch.log_softmax(z, 0)[label]
    others = torch.cat([z[:label], z[label + 1:]])
    return z[label] - (torch.softmax(others, 0) * others).sum()


def aoti(recal, work, old_recal, rng):
    """An AOTInductor package (tools/export_model.py --format aoti): forward and
    input gradient compiled for a fixed batch, run from recal's C++."""
    here = os.path.dirname(os.path.abspath(__file__))
    export = os.path.join(here, "..", "..", "tools", "export_model.py")
    pt2, pt = os.path.join(work, "preact.pt2"), os.path.join(work, "preact.pt")
    t0 = time.time()
    for out, extra in ((pt2, ["--batch", "8"]), (pt, [])):
        r = subprocess.run([sys.executable, export, "tools:preact_resnet18", "--input-shape", "3,32,32", "--out", out]
                           + extra, capture_output=True, text=True)
        if r.returncode:
            print(f"FAIL tools/export_model.py {out}: {r.stderr[-2000:]}", flush=True)
            failures.append("export " + out)
            return
    print(f"     PreActResNet-18 exported as TorchScript and compiled by AOTInductor in {time.time() - t0:.0f} s",
          flush=True)
    sys.path.insert(0, os.path.join(here, "..", "..", "tools"))
    from export_models import PreActResNet18
    torch.manual_seed(0)  # tools/export_model.py's default seed: the same weights
    m64 = PreActResNet18(classes=10).eval().double()
    n, R, K = 5, 2, 3  # 5 images and 2·3 points each against a compiled batch of 8: padded pieces
    x = rng.normal(size=(n, 3, 32, 32)).astype(np.float32)
    refs = rng.normal(size=(R, 3, 32, 32)).astype(np.float32)
    labels = np.array([0, 3, 9, 1, 5], dtype=np.int64)
    for name, arr in (("xa", x), ("refsa", refs), ("labelsa", labels)):
        np.save(os.path.join(work, name + ".npy"), arr)
    x64, refs64 = torch.from_numpy(x).double(), torch.from_numpy(refs).double()
    base = ["--model", pt2, "--input", os.path.join(work, "xa.npy"), "--labels", os.path.join(work, "labelsa.npy")]
    out = os.path.join(work, "aoti.npy")
    for obj in ("logit", "prob", "contrast"):
        rc, err = attribute(recal, base + ["--method", "input_grad", "--objective", obj, "--out", out])
        if rc:
            print(f"FAIL .pt2 input_grad/{obj}: exit {rc}: {err}", flush=True)
            failures.append(f"aoti input_grad {obj}")
            continue
        want = []
        for i in range(n):
            z = x64[i:i + 1].clone().requires_grad_(True)
            (g,) = torch.autograd.grad(objective64(m64(z), int(labels[i]), obj), z)
            want.append(g[0].numpy())
        check(f"AOTInductor PreActResNet-18 input_grad, objective {obj}", np.load(out), np.stack(want))
    # IG-Uniform. A randomly initialised PreActResNet-18 (eval BatchNorm with
    # running statistics 0 and 1, so nothing normalises its activations) is
    # ill-conditioned on some paths: the mean gradient of a path cancels, and
    # float32 rounding of any engine is amplified (5e-7 on one draw of inputs,
    # 7e-5 on another, TorchScript and AOTI alike). So the package must be
    # within 1e-5 of float64, or no further from it than twice the TorchScript
    # path on the same inputs (the inputs' own conditioning).
    _grads.clear()
    for est in ("vanilla", "valid_ref", "valid_ip"):
        got = {}
        for fmt, path in (("aoti", pt2), ("torchscript", pt)):
            args = base + ["--method", "ig_uniform", "--estimator", est, "--steps", str(K), "--references",
                           os.path.join(work, "refsa.npy"), "--out", out]
            args[1] = path
            rc, err = attribute(recal, args)
            if rc:
                print(f"FAIL {fmt} ig_uniform/{est}: exit {rc}: {err}", flush=True)
                failures.append(f"{fmt} ig_uniform {est}")
                break
            got[fmt] = np.load(out)
        if len(got) < 2:
            continue
        want = np.stack([oracle.ig_uniform(m64, x64[i], int(labels[i]), refs64, K, est).numpy() for i in range(n)])
        keep = np.ones(want.shape, bool)
        if est != "vanilla":
            keep = ~np.stack([ambiguous(m64, x64[i], int(labels[i]), refs64, K, est).numpy() for i in range(n)])
        e_aoti, e_ts = (rel_l2(got[f][keep], want[keep]) for f in ("aoti", "torchscript"))
        ok = e_aoti <= max(TOL, 2 * e_ts)
        print(f"{'ok  ' if ok else 'FAIL'} AOTInductor PreActResNet-18 ig_uniform/{est}: relative L2 error "
              f"{e_aoti:.2e} (TorchScript on the same inputs {e_ts:.2e}; {int((~keep).sum())} ambiguous elements "
              "left out)", flush=True)
        if not ok:
            failures.append(f"AOTInductor ig_uniform/{est}")
    # what a package cannot do, and inputs it was not compiled for
    refusals = [
        (base + ["--method", "gradcam", "--out", out], "needs a TorchScript model"),
        (["--model", pt2, "--input", os.path.join(work, "x.npy"), "--method", "input_grad", "--out", out],
         "compiled for inputs of shape Nx3x32x32, given Nx3x224x224"),
    ]
    if old_recal:
        refusals.append((base + ["--method", "input_grad", "--out", out], "(libtorch >= 2.6 can)"))
    for k, (args, text) in enumerate(refusals):
        rc, err = attribute(old_recal if k == 2 else recal, args)
        ok = rc == 1 and text in err
        print(f"{'ok  ' if ok else 'FAIL'} .pt2 refused: {text} (exit {rc})" + ("" if ok else f": {err}"), flush=True)
        if not ok:
            failures.append("aoti refusal: " + text)


def main():
    recal, work = sys.argv[1], sys.argv[2]
    old_recal = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] else None
    os.makedirs(work, exist_ok=True)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}", flush=True)
    n, R, K = 2, 2, 3
    rng = np.random.default_rng(34)
    x = rng.normal(size=(n, 3, 224, 224)).astype(np.float32)
    refs = rng.normal(size=(R, 3, 224, 224)).astype(np.float32)
    labels = np.array([3, 711], dtype=np.int64)
    for name, arr in (("x", x), ("refs", refs), ("labels", labels)):
        np.save(os.path.join(work, name + ".npy"), arr)
    x64, refs64 = torch.from_numpy(x).double(), torch.from_numpy(refs).double()
    vit_path = None
    for seed, name in enumerate(("vit_b_16", "swin_t", "convnext_tiny")):
        t0 = time.time()
        m = build(name, seed)
        path = os.path.join(work, name + ".pt")
        trace(m, torch.from_numpy(x[:1]), path)
        if name == "vit_b_16":
            vit_path = path
        m64 = copy.deepcopy(m).double()
        _grads.clear()
        base = ["--model", path, "--input", os.path.join(work, "x.npy"), "--labels", os.path.join(work, "labels.npy")]
        cases = [("input_grad", [], lambda i: oracle.input_grad(m64, x64[i], int(labels[i])))]
        for est in ("vanilla", "valid_ref", "valid_ip"):
            cases.append((f"ig_uniform/{est}", ["--estimator", est, "--steps", str(K), "--references",
                                                os.path.join(work, "refs.npy")],
                          lambda i, est=est: oracle.ig_uniform(m64, x64[i], int(labels[i]), refs64, K, est)))
        for label, extra, want_fn in cases:
            method = label.split("/")[0]
            out = os.path.join(work, f"{name}-{label.replace('/', '-')}.npy")
            rc, err = attribute(recal, base + ["--method", method, "--out", out] + extra)
            if rc != 0:
                print(f"FAIL {name} {label}: recal attribute exited {rc}: {err}", flush=True)
                failures.append(f"{name} {label}")
                continue
            want = np.stack([want_fn(i).numpy() for i in range(n)])
            skip = None
            if label.endswith("valid_ref") or label.endswith("valid_ip"):
                skip = np.stack([ambiguous(m64, x64[i], int(labels[i]), refs64, K, label.split("/")[1]).numpy()
                                 for i in range(n)])
                if skip.mean() > 1e-3:
                    print(f"FAIL {name} {label}: {skip.mean():.1e} of the elements are ambiguous", flush=True)
                    failures.append(f"{name} {label} ambiguity")
            check(f"{name} {label} ({n} images 224x224)", np.load(out), want, skip)
        print(f"     {name}: {time.time() - t0:.0f} s", flush=True)

    # Traced under no_grad: the reason and the fix, not just libtorch's text.
    enc = nn.TransformerEncoderLayer(d_model=16, nhead=2, batch_first=True).eval()

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.enc, self.head = nn.Linear(3, 16), enc, nn.Linear(16, 4)

        def forward(self, z):
            t = self.embed(z.flatten(2).transpose(1, 2))  # N x 64 tokens (8x8 pixels) x 16 features
            return self.head(self.enc(t).mean(1))

    tiny = Tiny().eval()
    tiny64 = copy.deepcopy(tiny).double()
    xt = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)
    np.save(os.path.join(work, "xt.npy"), xt)
    np.save(os.path.join(work, "yt.npy"), np.array([1, 2], dtype=np.int64))
    for grad_on in (True, False):
        p = os.path.join(work, f"tiny-grad{int(grad_on)}.pt")
        out = os.path.join(work, f"tiny-grad{int(grad_on)}.npy")
        with torch.set_grad_enabled(grad_on):
            trace(tiny, torch.from_numpy(xt), p)
        rc, err = attribute(recal, ["--model", p, "--input", os.path.join(work, "xt.npy"), "--labels",
                                    os.path.join(work, "yt.npy"), "--method", "input_grad", "--out", out])
        what = f"transformer traced with gradients {'on' if grad_on else 'off'}"
        if grad_on:
            if rc != 0:
                print(f"FAIL {what}: exit {rc}: {err}", flush=True)
                failures.append(what)
                continue
            want = np.stack([oracle.input_grad(tiny64, torch.from_numpy(xt[i]).double(), 1 + i).numpy()
                             for i in range(2)])
            check(f"{what}: input_grad", np.load(out), want)
        else:
            ok = rc == 1 and "torch.no_grad()" in err and "trace it with gradients on" in err
            print(f"{'ok  ' if ok else 'FAIL'} {what}: refused (exit {rc})" + ("" if ok else f": {err}"), flush=True)
            if not ok:
                failures.append(what)

    aoti(recal, work, old_recal, rng)

    if old_recal and vit_path:
        rc, err = attribute(old_recal, ["--model", vit_path, "--input", os.path.join(work, "x.npy"), "--method",
                                        "input_grad", "--out", os.path.join(work, "old.npy")])
        ok = (rc == 1 and "aten::scaled_dot_product_attention" in err and "tools/build.sh --torch" in err
              and not os.path.exists(os.path.join(work, "old.npy")))
        print(f"{'ok  ' if ok else 'FAIL'} ViT-B/16 saved by torch {torch.__version__.split('+')[0]} refused by a "
              f"recal built against libtorch 1.13: exit {rc}: {err.strip()[:300]}", flush=True)
        if not ok:
            failures.append("refusal by the 1.13 build")
    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
