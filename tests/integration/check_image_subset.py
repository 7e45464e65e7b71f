#!/usr/bin/python3
"""A metric's `images: N` scores the ids floor(k*T/N), k = 0..N-1, spread over the
split (docs/metrics.md), on any rank count. usage: check_image_subset.py SHARD
T RUN_A RUN_B METRIC=N... : in RUN_A/per_image and RUN_B/per_image, each
METRIC's values are defined (non-NaN in some slot) on exactly those ids, the
ids are the rule computed here, every shard of SHARD images holds its share,
metrics.json counts N images for it (its intervals and paired tests too), and
the two runs' values are the same numbers."""
import json
import os
import sys

import numpy as np

shard, total, run_a, run_b = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
bad = 0
for spec in sys.argv[5:]:
    metric, n = spec.split("=")
    n = int(n)
    want = sorted({k * total // n for k in range(n)})  # the rule, in Python's integers
    assert len(want) == n, (metric, n, total)
    vals = []
    for rd in (run_a, run_b):
        ids = np.load(os.path.join(rd, "per_image", "image_ids.npy"))
        assert list(ids) == list(range(total)), f"{rd}: per_image rows are not the ids 0..{total - 1}"
        v = np.load(os.path.join(rd, "per_image", f"{metric}.npy"))
        assert v.shape[0] == total, (rd, metric, v.shape)
        got = [int(i) for i in ids[~np.isnan(v).all(axis=1)]]
        if got != want:
            print(f"FAIL {rd} {metric}: images {got[:12]}... want {want[:12]}...")
            bad += 1
        vals.append(v)
    per_shard = [sum(1 for i in want if s <= i < s + shard) for s in range(0, total, shard)]
    # spread: each shard within one of its proportional share, none left empty when N >= shards
    if any(abs(c - n * min(shard, total - s * shard) / total) >= 1 for s, c in enumerate(per_shard)) or \
            (n >= len(per_shard) and min(per_shard) == 0):
        print(f"FAIL {metric}: images per shard {per_shard}, not spread")
        bad += 1
    # the intervals, the paired tests and the metric's own count see those N images
    for rd in (run_a, run_b):
        m = json.load(open(os.path.join(rd, "metrics.json")))
        counts = [r[metric]["images"] for r in m["results"]] + \
                 [r["ci"][metric]["images"] for r in m["results"] if metric in r.get("ci", {})] + \
                 [q["images"] for q in m.get("paired", []) if q["metric"] == metric]
        if any(c != n for c in counts) or len(counts) <= len(m["results"]):
            print(f"FAIL {rd} {metric}: image counts {counts} in metrics.json, want {n} (intervals included)")
            bad += 1
    if not np.array_equal(vals[0], vals[1], equal_nan=True):
        d = np.nanmax(np.abs(vals[0] - vals[1]))
        print(f"FAIL {metric}: per-image values differ between the runs (max |diff| {d})")
        bad += 1
    print(f"ok {metric}: {n} of {total} images, ids {want[:4]}..., per shard of {shard}: {per_shard}")
sys.exit(1 if bad else 0)
