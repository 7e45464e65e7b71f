#!/usr/bin/python3
"""Maps made elsewhere (issue #36): `{name: precomputed, path: maps.npy}`.
Input gradients of the demo CNN computed here in float64 PyTorch (not by
recal) are saved as float32 N x 1 x 28 x 28 and as float16 N x 28 x 28, and
scored by a 2-rank recal run; its DiffID curves are recomputed by an
independent PyTorch loop (docs/metrics.md, DiffID: Σ_c|A| min-max
normalized, stable descending order, the removed pixels set to the mean of
the kept ones) from the same file; the same maps made by recal's own
input_grad give the same numbers for every metric of the job; two
precomputed entries with labels appear under their labels (and in the
paired tests against random); the metrics that re-attribute are refused,
and so is a file of the wrong shape.
usage: check_precomputed.py RECAL SRC WORK_DIR MODEL"""
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch

N = 48
RATIOS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def idx(path):
    data = gzip.open(path).read()
    nd = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(shape)


def diffid_oracle(model, x, labels, maps):
    """Insertion/deletion accuracies and logit ratios, averaged over images."""
    d = 784
    out = {k: np.zeros(len(RATIOS)) for k in ("deletion_acc", "insertion_acc", "deletion_logit", "insertion_logit")}
    with torch.no_grad():
        orig = model(x)
        for i in range(len(x)):
            sal = torch.from_numpy(np.abs(maps[i].astype(np.float32)).reshape(-1))
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
            o = model(torch.stack(copies))
            t = int(labels[i])
            for k in range(len(RATIOS)):
                for mode, row in (("deletion", k), ("insertion", len(RATIOS) + k)):
                    out[f"{mode}_acc"][k] += int(o[row].argmax()) == t
                    out[f"{mode}_logit"][k] += float(o[row, t]) / float(orig[i, t])
    return {k: v / len(x) for k, v in out.items()}


def recal_run(recal, cfg, rd, sets, expect=0):
    shutil.rmtree(rd, ignore_errors=True)
    p = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", recal, "run", cfg, "--limit", str(N), *sets,
                        "--run-dir", rd], capture_output=True, text=True)
    if p.returncode != expect:
        sys.exit(f"recal run exited {p.returncode}, want {expect}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p


def main():
    recal, src, work, model = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    d = "/usr/share/datasets/fashion-mnist/"
    imgs = idx(d + "t10k-images-idx3-ubyte.gz")[:N].astype(np.float32) / 255.0
    labels = idx(d + "t10k-labels-idx1-ubyte.gz")[:N].astype(np.int64)
    x = torch.from_numpy((imgs - np.float32(0.2860)) / np.float32(0.3530)).view(N, 1, 28, 28)
    net = torch.jit.load(model).eval()
    x64 = x.double().requires_grad_(True)
    out = net.double()(x64)
    (g,) = torch.autograd.grad(out.gather(1, torch.from_numpy(labels)[:, None]).sum(), x64)
    maps = g.detach().numpy()
    p32, p16 = os.path.join(work, "grads.npy"), os.path.join(work, "grads16.npy")
    np.save(p32, maps.astype(np.float32))
    np.save(p16, maps[:, 0].astype(np.float16))
    net = torch.jit.load(model).eval()  # float32 again, as recal runs it

    common = ["--set", f"model.path={model}", "--set", "batch_size=16", "--set", "threads=1",
              "--set", "outputs.figures=false", "--set", "metrics.sensitivity_n={ratios: [0.2, 0.5], samples: 2}",
              "--set", "metrics.faithfulness_estimate={}", "--set", "metrics.road={ratios: [0.2, 0.5]}"]
    rd = os.path.join(work, "pre")
    recal_run(recal, cfg, rd, [*common, "--set", f"methods=[{{name: precomputed, path: {p32}, label: torch_grad}}, "
                                                 f"{{name: precomputed, path: {p16}, label: torch_grad16}}, "
                                                 "{name: random}]"])
    m = json.load(open(os.path.join(rd, "metrics.json")))
    check([r["method"] for r in m["results"]] == ["torch_grad", "torch_grad16", "random"],
          f"rows under their labels: {[r['method'] for r in m['results']]}")
    want = diffid_oracle(net, x, labels, np.load(p32))
    for k, w in want.items():
        err = float(np.max(np.abs(np.array(m["results"][0]["diffid"][k]) - w)))
        tol = 1e-9 if k.endswith("acc") else 1e-4
        check(err <= tol, f"DiffID {k} of the float32 file vs the PyTorch loop: max |diff| {err:.1e} (tol {tol})")
    want16 = diffid_oracle(net, x, labels, np.load(p16)[:, None])
    err = float(np.max(np.abs(np.array(m["results"][1]["diffid"]["insertion_acc"]) - want16["insertion_acc"])))
    check(err <= 1e-9, f"DiffID of the float16 N x H x W file vs the PyTorch loop: max |diff| {err:.1e}")
    paired = list(csv.DictReader(open(os.path.join(rd, "paired.csv"))))
    check(any(r["method"] == "torch_grad" and r["vs_method"] == "random" for r in paired),
          "paired tests name the label (torch_grad vs random)")

    # the same maps made by recal's own input_grad: every metric equal
    rd2 = os.path.join(work, "engine")
    recal_run(recal, cfg, rd2, [*common, "--set", "methods=[{name: input_grad}, {name: random}]"])
    a = {r["method"]: r for r in csv.DictReader(open(os.path.join(rd, "summary.csv")))}
    b = {r["method"]: r for r in csv.DictReader(open(os.path.join(rd2, "summary.csv")))}
    cols = [c for c in a["torch_grad"] if c not in ("method", "estimator", "refs", "steps", "objective")
            and a["torch_grad"][c] != ""]
    diff = [c for c in cols
            if abs(float(a["torch_grad"][c]) - float(b["input_grad"][c])) > 1e-5 * max(1, abs(float(b["input_grad"][c])))]
    check(len(cols) > 10 and not diff,
          f"precomputed float64 gradients = recal's input_grad on {len(cols)} summary columns (differ: {diff})")

    p = recal_run(recal, cfg, os.path.join(work, "lips"), [*common, "--set", "metrics.lipschitz={samples: 2}", "--set",
                                                         f"methods=[{{name: precomputed, path: {p32}}}]"], expect=1)
    check("metrics.lipschitz re-attributes other inputs (perturbed copies), which a precomputed method" in p.stderr,
          "lipschitz with precomputed maps refused: " + p.stderr.strip()[:120])
    bad = os.path.join(work, "bad.npy")
    np.save(bad, np.zeros((N, 27, 28), np.float32))
    p = recal_run(recal, cfg, os.path.join(work, "bad"), [*common, "--set", f"methods=[{{name: precomputed, path: {bad}}}]"],
                  expect=1)
    check("bad.npy: maps of shape 48 x 27 x 28 do not fit 48 images of 1 x 28 x 28" in p.stderr,
          "a file of another shape refused: " + p.stderr.strip()[:140])
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all precomputed-map checks passed")


if __name__ == "__main__":
    main()
