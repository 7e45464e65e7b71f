#!/usr/bin/env python3
"""The CUDA path against the CPU path, which the oracle tests check against
PyTorch and Captum: every method and estimator of `recal attribute` on the
same images, references, labels and seed, once with --device cpu and once
with --device cuda; the relative L2 difference must stay under 1e-4 (fp32
on both sides; TF32 is off unless asked for). Seeded draws come from a CPU
generator on both devices, so the samples are the same numbers.
usage: cuda_vs_cpu.py RECAL MODELS_DIR OUT.json"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

recal, models, out = sys.argv[1], sys.argv[2], sys.argv[3]
DEVICES = os.environ.get("CHECK_DEVICES", "cpu,cuda").split(",")  # cpu,cpu tests this script
tmp = tempfile.mkdtemp()
rng = np.random.default_rng(1)
x = rng.standard_normal((6, 3, 32, 32)).astype(np.float32)
refs = rng.standard_normal((4, 3, 32, 32)).astype(np.float32)
np.save(f"{tmp}/x.npy", x)
np.save(f"{tmp}/refs.npy", refs)
np.save(f"{tmp}/y.npy", np.arange(6, dtype=np.int64) % 10)
cases = [("input_grad", "vanilla", []), ("smoothgrad", "vanilla", []), ("ig", "vanilla", ["--steps", "16"]),
         ("gradcam", "vanilla", []), ("lime", "vanilla", []), ("agi", "valid_ip", []),
         ("eg", "valid_ip", ["--references", f"{tmp}/refs.npy", "--refs", "4", "--steps", "1"]),
         ("ig_uniform", "vanilla", []), ("ig_uniform", "valid_ref", []), ("ig_uniform", "valid_ip", []),
         ("ig_sg", "valid_ip", []), ("ig_sq", "valid_ip", [])]
res, worst = [], 0.0
for method, est, extra in cases:
    outs, secs = {}, {}
    for k, dev in enumerate(DEVICES):
        path = f"{tmp}/{method}-{est}-{dev}-{len(outs)}.npy"
        cmd = [recal, "attribute", "--model", f"{models}/preact_resnet18.pt", "--input", f"{tmp}/x.npy",
               "--labels", f"{tmp}/y.npy", "--method", method, "--estimator", est, "--device", dev,
               "--out", path] + extra
        t = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        secs[f"{dev}{k}"] = round(time.time() - t, 2)
        if p.returncode:
            print(f"{method}/{est} {dev}: exit {p.returncode}: {p.stderr.strip()[:500]}")
            break
        outs[k] = np.load(path).astype(np.float64)
    if len(outs) < 2:
        res.append({"method": method, "estimator": est, "error": "failed"})
        worst = float("inf")
        continue
    a, b = outs[0], outs[1]
    rel = float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))
    worst = max(worst, rel)
    res.append({"method": method, "estimator": est, "rel_l2": rel, "seconds": secs})
    print(f"{method:12s} {est:9s} rel L2 {rel:.2e}  ({secs})")
json.dump({"cases": res, "worst_rel_l2": worst, "pass": worst <= 1e-4}, open(out, "w"), indent=1)
print("cuda vs cpu:", "PASS" if worst <= 1e-4 else "FAIL", f"worst rel L2 {worst:.2e}")
sys.exit(0 if worst <= 1e-4 else 1)
