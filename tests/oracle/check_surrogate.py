#!/usr/bin/python3
"""Oracle test for LIME and KernelSHAP: `recal attribute --method lime |
kernel_shap` against float64 PyTorch/numpy re-implementations that take
recal's superpixels (--segments-out; the segmentation is VLFeat's, not
ours to check) and re-derive the seeded masks from the seed hash and the
counter-based stream (methods_oracle.py). Model outputs in float64; LIME's ridge by
its normal equations, KernelSHAP's least squares by numpy.linalg.lstsq on
the weighted-mean-centered system (the intercept outside the minimum norm).

Then `recal run` (engine path, DiffID, 7 samples per forward) saves the
same maps as `recal attribute` (one forward of 100).

usage: check_surrogate.py RECAL SRC_DIR WORKDIR MODEL
"""
import glob
import json
import gzip
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import methods_oracle as oracle  # noqa: E402

# RECAL_TEST_DEVICE=cuda runs recal's CUDA path against the same float64 CPU
# oracle (tools/gpu/check.sh on a GPU machine); ctest runs the CPU path.
DEVICE = os.environ.get("RECAL_TEST_DEVICE", "cpu")

TOL = 1e-3
MEAN, STD = 0.2860, 0.3530
SEED_LIME_MASKS, SEED_SHAP_MASKS = 14, 15
failures = []


def masks(method, seed, image_id, S, M):
    """The on/off samples and regression weights of worker/methods/surrogate.c."""
    shap = method == "kernel_shap"
    key = oracle.seed_for(seed, image_id, SEED_SHAP_MASKS if shap else SEED_LIME_MASKS)
    u = oracle.ctr_uniform(key, S * (M + 1)).numpy().reshape(S, M + 1)
    z = np.zeros((S, M))
    for s in range(S):
        if s == 0:
            z[s] = 1
        elif shap and (s == 1 or M < 2):
            z[s] = 1 if (M < 2 and u[s, 0] < 0.5) else 0
        elif not shap:
            z[s] = u[s, 1:] < 0.5
        else:
            ks = np.arange(1, M)
            p = (1.0 / (ks * (M - ks)))
            cdf = np.cumsum(p / p.sum())
            hit = np.nonzero(float(u[s, 0]) < cdf)[0]
            k = int(ks[hit[0]]) if len(hit) else M - 1
            order = np.argsort(u[s, 1:], kind="stable")  # ties by index
            z[s, order[:k]] = 1
    on = z.sum(1)
    if shap:
        w = np.where((on == 0) | (on == M), 1e6, 1.0)
    else:
        d = np.where(on > 0, 1 - np.sqrt(on / M), 1.0)
        w = np.sqrt(np.exp(-d ** 2 / 0.25 ** 2))
    return z, w


def fill_of(fill, x, seg):
    """What a switched-off superpixel shows, in model space: lime_image's
    hide_color=None (each superpixel's mean colour, per channel), 0 (the
    dataset mean) or black (pixel 0 normalized)."""
    if fill == "superpixel_mean":
        out = np.zeros(x.shape, np.float64)
        for s in np.unique(seg):
            for ch in range(x.shape[0]):
                out[ch][seg == s] = x[ch][seg == s].astype(np.float64).mean()
        return out
    if fill == "black":
        return np.full(x.shape, -MEAN / STD, np.float64)
    return np.zeros(x.shape, np.float64)


def surrogate64(method, model, x, label, seg, seed, image_id, fill, S=100):
    M = int(seg.max()) + 1
    z, w = masks(method, seed, image_id, S, M)
    xi = torch.from_numpy(x).double()
    fi = torch.from_numpy(fill_of(fill, x, seg))
    pert = torch.stack([torch.where(torch.from_numpy(zs[seg]).bool().unsqueeze(0), xi, fi) for zs in z])
    with torch.no_grad():
        y = model(pert)[:, label].numpy()
    Z = np.hstack([np.ones((S, 1)), z])
    if method == "lime":
        D = np.eye(M + 1)
        D[0, 0] = 0  # intercept not penalized
        beta = np.linalg.solve(Z.T @ (w[:, None] * Z) + 1.0 * D, Z.T @ (w * y))
    else:  # intercept out by weighted centering (scikit-learn's, so Captum's, minimum norm)
        r = np.sqrt(w)
        zc, yc = z - (w @ z) / w.sum(), y - (w @ y) / w.sum()
        beta = np.concatenate([[0.0], np.linalg.lstsq(r[:, None] * zc, r * yc, rcond=None)[0]])
    return np.broadcast_to(beta[1:][seg], x.shape)


def main():
    recal, src, work, model_path = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    root = "/usr/share/datasets/fashion-mnist"
    n = 4
    with gzip.open(f"{root}/t10k-images-idx3-ubyte.gz") as f:
        im = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n].astype(np.float32) / 255.0
    x = ((im - np.float32(MEAN)) / np.float32(STD)).reshape(n, 1, 28, 28).astype(np.float32)
    with gzip.open(f"{root}/t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int64)
    np.save(os.path.join(work, "x.npy"), x)
    np.save(os.path.join(work, "labels.npy"), labels)
    model = torch.jit.load(model_path).double().eval()
    seed = 11
    got_all = {}
    # each method with its default fill (None: lime superpixel_mean as
    # lime_image, kernel_shap dataset_mean as Captum) and the others
    for method, fill in (("lime", None), ("kernel_shap", None), ("lime", "dataset_mean"), ("lime", "black"),
                         ("kernel_shap", "superpixel_mean")):
        tag = method + ("" if fill is None else "-" + fill)
        out, segp = os.path.join(work, f"{tag}.npy"), os.path.join(work, f"{tag}-seg.npy")
        cmd = [recal, "attribute", "--model", model_path, "--input", os.path.join(work, "x.npy"), "--labels",
               os.path.join(work, "labels.npy"), "--method", method, "--out", out, "--segments-out", segp,
               "--mean", str(MEAN), "--std", str(STD), "--seed", str(seed), "--device", DEVICE]
        if fill is not None:
            cmd += ["--fill", fill]
        want_fill = fill or ("superpixel_mean" if method == "lime" else "dataset_mean")
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print("FAILED:", " ".join(cmd), "\n", r.stderr)
            sys.exit(1)
        got, seg = np.load(out), np.load(segp)
        if fill is None:
            got_all[method] = got
        assert seg.shape == (n, 28, 28) and seg.dtype == np.int32, (seg.shape, seg.dtype)
        for i in range(n):
            M = int(seg[i].max()) + 1
            ok_seg = set(np.unique(seg[i])) == set(range(M)) and M > 1
            want = surrogate64(method, model, x[i], int(labels[i]), seg[i], seed, i, want_fill)
            err = float(np.linalg.norm(got[i] - want) / max(np.linalg.norm(want), 1e-30))
            ok = ok_seg and err <= TOL
            print(f"{'ok  ' if ok else 'FAIL'} {method} fill {want_fill} image {i} ({M} superpixels): relative L2 "
                  f"error {err:.2e}")
            if not ok:
                failures.append(f"{tag}/{i}")
    run = os.path.join(work, "run-surrogate")
    subprocess.run(["rm", "-rf", run], check=True)
    subprocess.run([recal, "run", os.path.join(src, "configs", "fashion-mnist.yaml"), "--limit", str(n),
                    "--set", f"model.path={model_path}", "--set", "methods=[{name: lime}, {name: kernel_shap}]",
                    "--set", f"seed={seed}", "--set", "chunk_samples=7", "--set", "outputs.attributions=true",
                    "--run-dir", run], check=True, stdout=subprocess.DEVNULL)
    res = json.load(open(os.path.join(run, "metrics.json")))["results"]
    maps = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(run, "attributions", "shard-*.npy")))])
    ok = [r["method"] for r in res] == ["lime", "kernel_shap"] and all("diffid" in r for r in res)
    print(f"{'ok  ' if ok else 'FAIL'} recal run lime + kernel_shap + diffid, maps {maps.shape}")
    if not ok:
        failures.append("recal run")
    for k, method in enumerate(("lime", "kernel_shap")):
        a, b = maps[:, k].reshape(n, 1, 28, 28), got_all[method]
        err = float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
        ok = err <= 1e-5
        print(f"{'ok  ' if ok else 'FAIL'} {method}: recal run (chunks of 7) vs recal attribute: rel. L2 {err:.2e}")
        if not ok:
            failures.append(f"run-vs-attribute/{method}")
    if failures:
        print("FAILED:", ", ".join(failures))
        sys.exit(1)
    print("all LIME / KernelSHAP checks passed")


if __name__ == "__main__":
    main()
