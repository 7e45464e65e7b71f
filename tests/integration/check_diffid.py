#!/usr/bin/python3
"""DiffID oracle: recompute docs/metrics.md (DiffID) in PyTorch for the random
attribution control (whose draws the oracle re-derives from the seed hash)
over the first 64 Fashion-MNIST test images, read with numpy straight from
the IDX files, and compare with recal's metrics.json; again with
`precision: bf16` against the same oracle under PyTorch's bf16 autocast; and
with the perturbed copies built by the device path (ts_rank_copies, what a
GPU run uses), which must give the host path's numbers exactly.

usage: check_diffid.py RECAL SRC_DIR WORK_DIR MODEL"""
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
import methods_oracle as seeds  # noqa: E402

SEED_RANDOM_ATTR = 2
N = 64
RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def idx(path):
    with gzip.open(path) as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    recal, src, work, model_path = sys.argv[1:5]
    def recal_run(name, extra, copies="host"):
        run = os.path.join(work, name)
        subprocess.run(["rm", "-rf", run], check=True)
        env = dict(os.environ, RECAL_DIFFID_COPIES=copies)
        subprocess.run([recal, "run", os.path.join(src, "tests", "data", "fashion-diffid.yaml"), "--limit", str(N),
                        "--set", f"model.path={model_path}", "--set", "methods=[{name: random}]",
                        "--set", "seed=5", "--set", "shard_images=24", "--set", "outputs.attributions=true",
                        "--set", "outputs.masks=true", "--set", "outputs.per_image=true", "--run-dir", run] + extra,
                       check=True, env=env)
        return run, json.load(open(os.path.join(run, "metrics.json")))

    run, metrics = recal_run("diffid-run", [])
    got = metrics["results"][0]["diffid"]
    _, metrics_dev = recal_run("diffid-run-device-copies", [], copies="device")
    got_dev = metrics_dev["results"][0]["diffid"]
    # precision: bf16 — the same copies, every forward under bf16 autocast; on
    # the CPU, whose bf16 kernels (oneDNN) the oracle's autocast uses too
    _, metrics16 = recal_run("diffid-run-bf16", ["--set", "precision=bf16", "--set", "device=cpu"])
    assert metrics16["precision"] == "bf16", metrics16["precision"]
    got16 = metrics16["results"][0]["diffid"]

    root = "/usr/share/datasets/fashion-mnist"
    imgs = idx(f"{root}/t10k-images-idx3-ubyte.gz")[:N].astype(np.float32) / 255.0
    labels = idx(f"{root}/t10k-labels-idx1-ubyte.gz")[:N].astype(np.int64)
    x = torch.from_numpy((imgs - np.float32(0.2860)) / np.float32(0.3530)).view(N, 1, 28, 28)
    model = torch.jit.load(model_path).eval()
    d = 784
    # outputs.attributions: numpy-readable shards named by image-id range,
    # holding exactly the maps that were scored.
    import glob
    files = sorted(glob.glob(os.path.join(run, "attributions", "shard-*.npy")))
    names = [os.path.basename(f) for f in files]
    assert names == ["shard-00000000-00000023.npy", "shard-00000024-00000047.npy", "shard-00000048-00000063.npy"], names
    maps = np.concatenate([np.load(f, mmap_mode="r") for f in files])
    assert maps.shape == (N, 1, 1, 28, 28) and maps.dtype == np.float32, (maps.shape, maps.dtype)
    # outputs.masks: uint16 rank maps, images × slots × H × W, same shard names
    mfiles = sorted(glob.glob(os.path.join(run, "masks", "shard-*.npy")))
    assert [os.path.basename(f) for f in mfiles] == names, mfiles
    masks = np.concatenate([np.load(f, mmap_mode="r") for f in mfiles])
    assert masks.shape == (N, 1, 28, 28) and masks.dtype == np.uint16, (masks.shape, masks.dtype)
    sums = {k: np.zeros(len(RATIOS)) for k in ("del_acc", "ins_acc", "del_logit", "ins_logit")}
    sums16 = {k: np.zeros(len(RATIOS)) for k in sums}
    per_image = np.zeros((N, 2))  # the oracle's mean over ratios of insertion - deletion, per image

    def forward16(inp):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(inp).float()

    with torch.no_grad():
        orig = model(x)
        orig16 = forward16(x)
        for i in range(N):
            a = seeds.random_attr(5, i, d)  # the counter-based stream, bit for bit
            assert np.array_equal(maps[i].reshape(-1), a.numpy()), f"saved attribution of image {i} differs"
            # ROAR rank map: rank of Σ_c|a| among the 784 pixels, stable
            rank = np.empty(d, dtype=np.uint16)
            rank[np.argsort(np.abs(a.numpy()), kind="stable")] = np.arange(d, dtype=np.uint16)
            assert np.array_equal(masks[i, 0].reshape(-1), rank), f"ROAR rank map of image {i} differs"
            sal = a.abs()  # Σ over the single channel
            sal = (sal - sal.min()) / (sal.max() - sal.min() + 1e-10)
            order = torch.sort(sal, descending=True, stable=True).indices
            xi = x[i].reshape(-1).double()
            copies = []
            for mode in ("del", "ins"):
                for r in RATIOS:
                    n = int(np.floor(r * d + 1e-9))
                    removed = order[:n] if mode == "del" else order[d - n:]
                    keep = torch.ones(d, dtype=torch.bool)
                    keep[removed] = False
                    c = xi.clone()
                    c[removed] = xi[keep].mean()
                    copies.append(c.float().view(1, 28, 28))
            t = int(labels[i])
            out32 = model(torch.stack(copies))
            R = len(RATIOS)
            hit = [float(int(out32[row].argmax()) == t) for row in range(2 * R)]
            ratio = [float(out32[row, t]) / float(orig[i, t]) for row in range(2 * R)]
            per_image[i] = [sum(hit[R:]) / R - sum(hit[:R]) / R, sum(ratio[R:]) / R - sum(ratio[:R]) / R]
            for sm, out, o in ((sums, out32, orig), (sums16, forward16(torch.stack(copies)), orig16)):
                for k, r in enumerate(RATIOS):
                    for mode, row in (("del", k), ("ins", len(RATIOS) + k)):
                        sm[f"{mode}_acc"][k] += int(out[row].argmax()) == t
                        sm[f"{mode}_logit"][k] += float(out[row, t]) / float(o[i, t])
    bad = 0
    for label, g, sm in (("", got, sums), ("device copies ", got_dev, sums), ("bf16 ", got16, sums16)):
        want = {"deletion_acc": sm["del_acc"] / N, "insertion_acc": sm["ins_acc"] / N,
                "deletion_logit": sm["del_logit"] / N, "insertion_logit": sm["ins_logit"] / N}
        for key, w in want.items():
            err = float(np.max(np.abs(np.array(g[key]) - w)))
            tol = 1e-9 if key.endswith("acc") else 1e-4
            ok = err <= tol
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {label}{key}: max abs difference {err:.2e} (tolerance {tol})")
    # outputs.per_image: each image's DiffID, host- and device-built copies
    for label, rd in (("", run), ("device copies ", os.path.join(work, "diffid-run-device-copies"))):
        for k, key in enumerate(("diffid_diff_acc", "diffid_diff_logit")):
            got_pi = np.load(os.path.join(rd, "per_image", f"{key}.npy"))
            err = float(np.max(np.abs(got_pi[:, 0] - per_image[:, k]))) if got_pi.shape == (N, 1) else float("inf")
            tol = 1e-9 if key.endswith("acc") else 1e-4
            bad += err > tol
            print(f"{'ok  ' if err <= tol else 'FAIL'} {label}per-image {key}: max abs difference {err:.2e}")
    # the copies are the same floats wherever they are built
    same = got_dev == got
    print(f"{'ok  ' if same else 'FAIL'} device-built copies give the host-built copies' curves exactly")
    bad += not same
    # and bf16 must really differ from fp32 (a run that ignored the key would not)
    gap = max(float(np.max(np.abs(np.array(got16[k]) - np.array(got[k])))) for k in ("deletion_logit", "insertion_logit"))
    print(f"{'ok  ' if gap > 1e-6 else 'FAIL'} bf16 vs fp32 logit curves differ by up to {gap:.2e}")
    bad += gap <= 1e-6
    if bad:
        sys.exit(f"{bad} DiffID curves differ from the PyTorch oracle")
    print("DiffID matches the PyTorch oracle; saved attributions match the seeded draws; ROAR rank maps match numpy")


if __name__ == "__main__":
    main()
