#!/usr/bin/python3
"""Diff-ROAR oracle (docs/metrics.md (ROAR)): one `mpirun -n 2 recal run` of a
config with metrics.roar writes attributions and ROAR rank maps of the test
prefix (RUN_DIR) and of the train prefix (RUN_DIR/train), then fine-tunes on
masked data. PyTorch recomputes everything from the saved
attributions alone: ranks with numpy, the top-k / bottom-k masks (fill 0 =
the dataset mean in model space), the SGD fine-tune (torch.optim.SGD, same
data order re-derived from the seed hash, MultiStepLR milestones) and the
masked test accuracy. With epochs 0 the accuracies must be identical; after
fine-tuning (float32 on both sides) within one test image.

Then the control docs/metrics.md expects: a random attribution's Diff-ROAR is
near 0 (top-k and bottom-k of random ranks are equally random subsets), over
RANDOM_SEEDS seeds of 1-epoch fine-tunes on 2 ranks with a larger test set;
a bias of either mask (fill, ties, the rank order) would show here.

usage: check_roar.py RECAL SRC_DIR WORK_DIR MODEL"""
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

N, SEED = 160, 3  # images of each split
RANDOM_SEEDS, RANDOM_TEST, RANDOM_TOL = (11, 12, 13, 14), 1000, 0.05
FRACTIONS = [0.2, 0.7]
EPOCHS, LR, MILESTONES, MOMENTUM, WD, BS = 2, 0.05, [1], 0.9, 5e-4, 64
SEED_ROAR_SHUFFLE = 13
MASK64 = (1 << 64) - 1
failures = []


def ranks(a):
    """a: C×H×W attribution → H·W uint16 ranks of Σ_c|a| (stable)."""
    s = np.abs(a).sum(0).reshape(-1)
    r = np.empty(s.size, dtype=np.int64)
    r[np.argsort(s, kind="stable")] = np.arange(s.size)
    return r


def masked(x, rank, k, top):
    hw = rank.size
    keep = rank >= hw - k if top else rank < k
    out = x.clone().reshape(x.shape[0], -1)
    out[:, ~torch.from_numpy(keep)] = 0.0
    return out.view_as(x)


def load(run, sub):
    files = sorted(glob.glob(os.path.join(run, sub, "shard-*.npy")))
    return np.concatenate([np.load(f) for f in files])


def images(split, n):
    root = "/usr/share/datasets/fashion-mnist"
    pre = "train" if split == "train" else "t10k"
    pix = torch.from_numpy(idx(f"{root}/{pre}-images-idx3-ubyte.gz")[:n].copy()).float().unsqueeze(1)
    return (pix / 255.0 - 0.2860) / 0.3530, torch.from_numpy(idx(f"{root}/{pre}-labels-idx1-ubyte.gz")[:n].astype(np.int64))


def oracle_task(model_path, xtr, ytr, rtr, xte, yte, rte, k, top, epochs):
    m = torch.jit.load(model_path)
    xm_tr = torch.stack([masked(xtr[i], rtr[i], k, top) for i in range(len(ytr))])
    xm_te = torch.stack([masked(xte[i], rte[i], k, top) for i in range(len(yte))])
    if epochs:
        m.train()
        for p in m.parameters():  # recal saves models with frozen parameters
            p.requires_grad_(True)
        opt = torch.optim.SGD(m.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
        for ep in range(epochs):
            for g in opt.param_groups:
                g["lr"] = LR / 10 ** sum(ep >= ms for ms in MILESTONES)
            order = mo.seed_shuffle(len(ytr), mo.seed_for(SEED, ep, SEED_ROAR_SHUFFLE))
            for b0 in range(0, len(order), BS):
                b = order[b0:b0 + BS]
                loss = torch.nn.functional.cross_entropy(m(xm_tr[b]), ytr[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
    m.eval()
    with torch.no_grad():
        return float((m(xm_te).argmax(1) == yte).double().mean())


def roar_run(recal, cfg, sets, out, n, extra=()):
    """One Diff-ROAR `recal run` on 2 ranks over the first n images of each
    split into OUT; its results by (method, estimator)."""
    subprocess.run(["rm", "-rf", out], check=True)  # a fresh run, not a resumed one
    r = subprocess.run(["mpirun", "-n", "2", recal, "run", cfg, "--limit", str(n)] + sets + list(extra) +
                       ["--run-dir", out], capture_output=True, text=True)
    print(r.stdout[-1500:])
    if r.returncode != 0:
        print(r.stderr[-3000:])
        sys.exit(f"recal run of {out} failed")
    roar = {(x["method"], x["estimator"]): x["roar"] for x in json.load(open(os.path.join(out, "roar.json")))["results"]}
    metrics = {(x["method"], x["estimator"]): x["roar"] for x in
               json.load(open(os.path.join(out, "metrics.json")))["results"]}
    if metrics != roar:
        failures.append(f"{out}: metrics.json's results[].roar differ from roar.json")
    return roar


def main():
    recal, src, work, model_path = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    roar = (f"{{roar: {{fractions: {FRACTIONS}, epochs: {EPOCHS}, lr: {LR}, milestones: {MILESTONES}, "
            f"momentum: {MOMENTUM}, weight_decay: {WD}, batch_size: {BS}}}}}")
    sets = ["--set", f"model.path={model_path}", "--set", "methods=[{name: input_grad}, {name: random}]",
            "--set", f"metrics={roar}", "--set", f"seed={SEED}", "--set", "outputs.attributions=true",
            "--set", "outputs.figures=false", "--set", "shard_images=50"]
    results = {}
    # epochs 0 and EPOCHS: fine-tunes spread over the 2 ranks; "dp": each
    # fine-tune data-parallel over both ranks (metrics.roar.data_parallel)
    for epochs in (0, EPOCHS, "dp"):
        extra = ["--set", f"metrics.roar.epochs={EPOCHS if epochs == 'dp' else epochs}"]
        if epochs == "dp":
            extra += ["--set", "metrics.roar.data_parallel=true"]
        results[epochs] = roar_run(recal, cfg, sets, os.path.join(work, f"roar-{epochs}"), N, extra)
    run = os.path.join(work, f"roar-{EPOCHS}")
    runs = {"train": os.path.join(run, "train"), "test": run}

    xtr, ytr = images("train", N)
    xte, yte = images("test", N)
    atr, ate = load(runs["train"], "attributions"), load(runs["test"], "attributions")
    mtr, mte = load(runs["train"], "masks"), load(runs["test"], "masks")
    for s, key in enumerate([("input_grad", "vanilla"), ("random", "vanilla")]):
        rtr = [ranks(atr[i, s]) for i in range(N)]
        rte = [ranks(ate[i, s]) for i in range(N)]
        ok = all(np.array_equal(mtr[i, s].reshape(-1), rtr[i]) for i in range(N)) and \
            all(np.array_equal(mte[i, s].reshape(-1), rte[i]) for i in range(N))
        print(f"{'ok  ' if ok else 'FAIL'} {key[0]}: rank maps of both runs equal numpy's ranks of the saved maps")
        if not ok:
            failures.append(f"{key[0]} ranks")
        # data-parallel sums the gradients in another order: within 2 test images
        for epochs, tol in ((0, 0.0), (EPOCHS, 1.0 / N + 1e-9), ("dp", 2.0 / N + 1e-9)):
            got = results[epochs][key]
            for f, frac in enumerate(FRACTIONS):
                k = int(math.floor(frac * 784 + 1e-9))
                for name, top in (("top_acc", True), ("bottom_acc", False)):
                    want = oracle_task(model_path, xtr, ytr, rtr, xte, yte, rte, k, top,
                                       EPOCHS if epochs == "dp" else epochs)
                    ok = abs(got[name][f] - want) <= tol
                    print(f"{'ok  ' if ok else 'FAIL'} {key[0]} epochs={epochs} k={frac} {name}: recal {got[name][f]:.4f} "
                          f"oracle {want:.4f}")
                    if not ok:
                        failures.append(f"{key[0]} {epochs} {frac} {name}")
                d = got["diff_roar"][f] - (got["top_acc"][f] - got["bottom_acc"][f])
                if abs(d) > 1e-12:
                    failures.append(f"{key[0]} diff_roar")
    random_control(recal, cfg, model_path, work)
    if failures:
        sys.exit(f"{len(failures)} check(s) failed: {failures}")
    print("Diff-ROAR matches the PyTorch oracle; random attribution's Diff-ROAR is near 0")


def random_control(recal, cfg, model_path, work):
    roar = (f"{{roar: {{fractions: {FRACTIONS}, epochs: 1, lr: {LR}, milestones: [], "
            f"momentum: {MOMENTUM}, weight_decay: {WD}, batch_size: {BS}}}}}")
    diffs = []
    for seed in RANDOM_SEEDS:
        sets = ["--set", f"model.path={model_path}", "--set", "methods=[{name: random}]", "--set", f"metrics={roar}",
                "--set", f"seed={seed}", "--set", "outputs.figures=false", "--set", "shard_images=500"]
        res = roar_run(recal, cfg, sets, os.path.join(work, f"random-{seed}"), RANDOM_TEST)
        r = res.get(("random", "vanilla"))
        ok = len(res) == 1 and r is not None and r["fractions"] == FRACTIONS and \
            all(len(r[k]) == len(FRACTIONS) for k in ("top_acc", "bottom_acc", "diff_roar"))
        print(f"{'ok  ' if ok else 'FAIL'} random seed {seed}: roar.json shape, diff_roar {r and r['diff_roar']}")
        if not ok:
            failures.append(f"random seed {seed} roar.json")
            continue
        diffs.append(r["diff_roar"])
    mean = np.mean(diffs, axis=0)
    for f, frac in enumerate(FRACTIONS):
        ok = abs(mean[f]) <= RANDOM_TOL
        print(f"{'ok  ' if ok else 'FAIL'} random attribution k={frac}: Diff-ROAR over {len(diffs)} seeds "
              f"{[round(d[f], 4) for d in diffs]}, mean {mean[f]:+.4f} (|mean| <= {RANDOM_TOL})")
        if not ok:
            failures.append(f"random Diff-ROAR k={frac}")


if __name__ == "__main__":
    main()
