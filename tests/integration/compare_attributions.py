#!/usr/bin/env python3
"""Compare the attribution arrays and DiffID metrics of runs of the same
images (tests/integration/batch_invariance.sh).

Usage: compare_attributions.py IMAGES TOL RUN_DIR_A RUN_DIR_B [RUN_DIR...]

Every run's attributions/shard-*.npy, concatenated in image-id order, must
hold IMAGES images; per (method, estimator) row of metrics.json the relative
L2 difference to the first run must be <= TOL, and so must every DiffID
curve's (max |a - b| over the ratios, absolute: they are means in [0, 1]
for the accuracies and logit ratios of the same order). Exit 1 naming the
run, method and estimator otherwise. RECAL_TEST_PERTURB=I,R adds 1e-4
relative noise to row R of image I of the last run, to show the check
fails (the test runs it once that way and wants exit 1)."""
import glob
import json
import os
import sys

import numpy as np


def load(run):
    files = sorted(glob.glob(os.path.join(run, "attributions", "shard-*.npy")))
    if not files:
        sys.exit("%s: no attributions/shard-*.npy" % run)
    a = np.concatenate([np.load(f) for f in files]).astype(np.float64)
    with open(os.path.join(run, "metrics.json")) as f:
        m = json.load(f)
    return a, m


def main():
    n, tol, runs = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
    base_a, base_m = load(runs[0])
    rows = ["%s/%s" % (r["method"], r["estimator"]) for r in base_m["results"]]
    if base_a.shape[0] != n or base_a.shape[1] != len(rows):
        sys.exit("%s: attributions have shape %s, want %d images x %d rows" % (runs[0], base_a.shape, n, len(rows)))
    perturb = os.environ.get("RECAL_TEST_PERTURB")
    fails = 0
    for run in runs[1:]:
        a, m = load(run)
        if run == runs[-1] and perturb:
            i, r = (int(v) for v in perturb.split(","))
            a[i, r] *= 1 + 1e-4 * np.random.default_rng(0).standard_normal(a[i, r].shape)
        if a.shape != base_a.shape:
            print("FAIL %s: attributions have shape %s, the first run %s" % (run, a.shape, base_a.shape))
            fails += 1
            continue
        if m["images"] != n or [("%s/%s" % (r["method"], r["estimator"])) for r in m["results"]] != rows:
            print("FAIL %s: metrics.json has %s images and rows %s" % (run, m["images"], m["results"]))
            fails += 1
            continue
        if m["accuracy"] != base_m["accuracy"]:
            print("FAIL %s: accuracy %s, the first run %s" % (run, m["accuracy"], base_m["accuracy"]))
            fails += 1
        worst = []
        for k, row in enumerate(rows):
            x, y = base_a[:, k], a[:, k]
            den = np.linalg.norm(x)
            rel = np.linalg.norm(x - y) / den if den > 0 else np.linalg.norm(y)
            # per image too: one image's map wrong hides in the whole array's norm
            num = np.linalg.norm((x - y).reshape(n, -1), axis=1)
            dim = np.linalg.norm(x.reshape(n, -1), axis=1)
            per = np.max(num / np.where(dim > 0, dim, 1))
            d1, d2 = base_m["results"][k]["diffid"], m["results"][k]["diffid"]
            dd = max(np.max(np.abs(np.subtract(d1[key], d2[key])))
                     for key in d1 if key != "ratios" and isinstance(d1[key], list))
            worst.append((row, rel, per, dd))
            if not (rel <= tol and per <= tol and dd <= tol):
                print("FAIL %s vs %s: %s: relative L2 %.3g (worst image %.3g), DiffID max |diff| %.3g, bound %g"
                      % (run, runs[0], row, rel, per, dd, tol))
                fails += 1
        print("%s vs %s: max relative L2 %.2g (worst image %.2g), DiffID max |diff| %.2g over %d rows"
              % (os.path.basename(run), os.path.basename(runs[0]), max(w[1] for w in worst),
                 max(w[2] for w in worst), max(w[3] for w in worst), len(rows)))
    sys.exit(1 if fails else 0)


main()
