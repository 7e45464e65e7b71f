#!/usr/bin/python3
"""Oracle test for GradCAM: `recal attribute --method gradcam` (float32,
chunked) against a float64 PyTorch GradCAM computed from the same
TorchScript model's features(x) / classifier(a) methods; a model without
that split is refused at load (exit 1, naming the export recipe); and
`recal run` with gradcam + DiffID saves the same maps on the trained model.

usage: check_gradcam.py RECAL SRC_DIR WORKDIR MODEL
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
from export_fashion_cnn import FashionCNN  # noqa: E402

# RECAL_TEST_DEVICE=cuda runs recal's CUDA path against the same float64 CPU
# oracle (tools/gpu/check.sh on a GPU machine); ctest runs the CPU path.
DEVICE = os.environ.get("RECAL_TEST_DEVICE", "cpu")

TOL = 1e-4
failures = []


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(label, got, want):
    err = rel_l2(got, want)
    ok = err <= TOL and got.shape == want.shape
    print(f"{'ok  ' if ok else 'FAIL'} {label}: relative L2 error {err:.2e}")
    if not ok:
        failures.append(label)


def gradcam64(model_path, x, labels, objective="logit"):
    """Selvaraju et al.: ReLU(Σ_k α_k A_k), α_k = spatial mean of ∂F/∂A_k,
    bilinear upsampling (align_corners False), repeated over channels."""
    m = torch.jit.load(model_path).double().eval()
    out = []
    for i in range(x.shape[0]):  # one image at a time: no batching shared with recal
        xi = torch.from_numpy(x[i:i + 1]).double()
        a = m.features(xi).detach().requires_grad_(True)
        z = m.classifier(a)[0]
        t = int(labels[i])
        f = z[t] if objective == "logit" else torch.log_softmax(z, 0)[t]
        (g,) = torch.autograd.grad(f, a)
        alpha = g.mean(dim=(2, 3), keepdim=True)
        cam = torch.relu((alpha * a).sum(1, keepdim=True))
        up = F.interpolate(cam, size=x.shape[2:], mode="bilinear", align_corners=False)
        out.append(up.repeat(1, x.shape[1], 1, 1)[0].detach().numpy())
    return np.stack(out)


def recal_attr(recal, work, name, args, expect_rc=0):
    out = os.path.join(work, name + ".npy")
    r = subprocess.run([recal, "attribute", "--out", out, "--device", DEVICE] + args, capture_output=True, text=True)
    if r.returncode != expect_rc:
        print("FAILED (rc %d):" % r.returncode, " ".join(r.args), "\n", r.stderr)
        sys.exit(1)
    return (np.load(out) if expect_rc == 0 else r.stderr)


def main():
    recal, src, work, trained = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(99)
    rnd = os.path.join(work, "cnn-random.pt")
    torch.jit.script(FashionCNN().eval()).save(rnd)
    rng = np.random.default_rng(3)
    n = 5
    x = rng.normal(size=(n, 1, 28, 28)).astype(np.float32)
    labels = np.array([1, 4, 0, 9, 7], dtype=np.int64)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "labels.npy"), labels)
    io = ["--input", os.path.join(work, "x.npy"), "--labels", os.path.join(work, "labels.npy"), "--method", "gradcam"]
    for mname, mpath in (("random-weights", rnd), ("trained", trained)):
        for obj in ("logit", "prob"):
            got = recal_attr(recal, work, f"gc-{mname}-{obj}", ["--model", mpath, "--objective", obj] + io)
            want = gradcam64(mpath, x, labels, obj)
            if not np.any(want):
                failures.append(f"{mname}/{obj}: oracle map is all zero (test has no power)")
            check(f"gradcam {mname} objective={obj}", got, want)

    # A model without the features/classifier split: refused at load.
    plain = os.path.join(work, "plain.pt")
    torch.jit.script(nn.Sequential(nn.Flatten(), nn.Linear(784, 10))).save(plain)
    msg = recal_attr(recal, work, "gc-plain", ["--model", plain] + io, expect_rc=1)
    ok = "features(x)" in msg and "export" in msg and plain in msg and "Traceback" not in msg
    print(f"{'ok  ' if ok else 'FAIL'} model without features/classifier refused: {msg.strip()}")
    if not ok:
        failures.append("plain model message")

    subprocess.run(["rm", "-rf", os.path.join(work, "run-plain")], check=True)
    r = subprocess.run([recal, "run", os.path.join(src, "configs", "fashion-mnist.yaml"), "--limit", "4",
                        "--set", f"model.path={plain}", "--set", "methods=[{name: gradcam}]",
                        "--run-dir", os.path.join(work, "run-plain")], capture_output=True, text=True)
    ok = r.returncode == 1 and "features(x)" in r.stderr and plain in r.stderr
    print(f"{'ok  ' if ok else 'FAIL'} recal run refuses gradcam on {os.path.basename(plain)} at load "
          f"(rc {r.returncode}): {r.stderr.strip()[-120:]}")
    if not ok:
        failures.append("recal run plain model")

    # Engine path: recal run with gradcam + DiffID on the trained model; the
    # saved maps equal the oracle's.
    N = 24
    run = os.path.join(work, "run-gradcam")
    subprocess.run(["rm", "-rf", run], check=True)
    subprocess.run([recal, "run", os.path.join(src, "configs", "fashion-mnist.yaml"), "--limit", str(N),
                    "--set", f"model.path={trained}", "--set", "methods=[{name: gradcam}]", "--set", "seed=5",
                    "--set", "outputs.attributions=true", "--run-dir", run], check=True,
                   stdout=subprocess.DEVNULL)
    res = json.load(open(os.path.join(run, "metrics.json")))["results"]
    ok = len(res) == 1 and "diffid" in res[0]
    print(f"{'ok  ' if ok else 'FAIL'} recal run gradcam + diffid: {json.dumps(res[0])[:160]}")
    if not ok:
        failures.append("recal run gradcam")
    maps = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(run, "attributions", "shard-*.npy")))])
    import gzip
    root = "/usr/share/datasets/fashion-mnist"
    with gzip.open(f"{root}/t10k-images-idx3-ubyte.gz") as f:
        imgs = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:N].astype(np.float32) / 255.0
    with gzip.open(f"{root}/t10k-labels-idx1-ubyte.gz") as f:
        lab = np.frombuffer(f.read(), np.uint8, offset=8)[:N].astype(np.int64)
    xd = ((imgs - np.float32(0.2860)) / np.float32(0.3530)).reshape(N, 1, 28, 28)
    check("recal run saved gradcam maps (trained model, true labels)", maps.reshape(N, 1, 28, 28),
          gradcam64(trained, xd, lab))

    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("all GradCAM checks passed")


if __name__ == "__main__":
    main()
