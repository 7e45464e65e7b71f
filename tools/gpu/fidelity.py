#!/usr/bin/env python3
"""The price of the fast precisions, from tools/gpu/check.sh's e2e runs
(PREFIX-fp32, -tf32, -bf16, -host-copies): for each, its time and the
50,000-image projection, the relative L2 of its maps against fp32's (over
all maps, and the median over images), and how far its DiffID curves and
Diff move from fp32's; DiffID with the copies built on the host must equal
the device's.
usage: fidelity.py PREFIX OUT.json"""
import glob
import json
import os
import sys

import numpy as np

prefix, out = sys.argv[1], sys.argv[2]


def load(name):
    d = f"{prefix}-{name}"
    if not os.path.exists(f"{d}/metrics.json"):
        return None
    m = json.load(open(f"{d}/metrics.json"))
    files = sorted(glob.glob(f"{d}/attributions/shard-*.npy"))
    maps = np.concatenate([np.load(f).astype(np.float64) for f in files]) if files else None
    return m, maps


def diffid(m):
    r = m["results"][0]["diffid"]
    return {k: np.asarray(v, dtype=np.float64) for k, v in r.items() if isinstance(v, list) and k != "ratios"}


res = {}
base = load("fp32")
for name in ("fp32", "tf32", "bf16", "host-copies"):
    got = load(name)
    if got is None:
        continue
    m, maps = got
    row = {"images": m.get("images"), "wall_seconds": m.get("wall_seconds"),
           "projected_minutes_50k": round(m["wall_seconds"] * 50000 / max(1, m["images"]) / 60, 2)}
    if base is not None and name != "fp32":
        bm, bmaps = base
        a, b = diffid(m), diffid(bm)
        row["diffid_max_abs_change"] = {k: float(np.max(np.abs(a[k] - b[k][:len(a[k])]))) for k in a if k in b}
        if maps is not None and bmaps is not None and name != "host-copies":
            n = min(len(maps), len(bmaps))
            d = maps[:n] - bmaps[:n]
            per = np.linalg.norm(d.reshape(n, -1), axis=1) / np.maximum(np.linalg.norm(bmaps[:n].reshape(n, -1), axis=1),
                                                                       1e-30)
            row["maps_rel_l2"] = float(np.linalg.norm(d) / max(np.linalg.norm(bmaps[:n]), 1e-30))
            row["maps_rel_l2_median_image"] = float(np.median(per))
    res[name] = row
    print(name, json.dumps(row))
hc = res.get("host-copies", {}).get("diffid_max_abs_change")
if hc is not None:
    res["host_copies_equal_device"] = all(v <= 1e-6 for v in hc.values())
    print("DiffID with copies on the host vs on the device:",
          "equal to 1e-6" if res["host_copies_equal_device"] else f"DIFFER {hc}")
json.dump(res, open(out, "w"), indent=1)
