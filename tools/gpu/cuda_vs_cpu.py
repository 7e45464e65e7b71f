#!/usr/bin/env python3
"""The CUDA path against the CPU path: every method and estimator of
`recal attribute` on the same images, references, labels and seed, once with
--device cpu and once with --device cuda (fp32 on both; TF32 is off unless
asked for). Draws come from the counter-based stream of util/seed.h, made
on each device: uniform ones are the same bits on both (the random control
must match exactly), normal ones agree to float32 rounding.
CHECK_SIZE (default 32), CHECK_MODEL (default preact_resnet18) and
CHECK_CASES (methods, comma-separated; default all) pick another case set:
tools/gpu/check.sh checks the generator at 224x224 with ResNet-50 (the
draws of a 224² image take another path than those of a 32² one).

Both sides round differently (other convolution algorithms), and on a
random-weight ReLU network many methods amplify rounding: noisy samples sit
on ReLU kinks, valid_ip's sign masks and AGI's sign steps flip. So each case
also measures the method's own sensitivity on the CPU — the change of its
output for a 1e-6 relative change of the input — and passes when the CUDA
difference is under max(1e-4, 20 × that sensitivity). The float64 oracle
tests (RECAL_TEST_DEVICE=cuda tests/oracle/check_*.py) are the exact check.
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
RUNS = [(DEVICES[0], "x"), (DEVICES[1], "x"), (DEVICES[0], "xp")]
tmp = tempfile.mkdtemp()
rng = np.random.default_rng(1)
SIZE = int(os.environ.get("CHECK_SIZE", "32"))
MODEL = os.environ.get("CHECK_MODEL", "preact_resnet18")
ONLY = [c for c in os.environ.get("CHECK_CASES", "").split(",") if c]
x = rng.standard_normal((6, 3, SIZE, SIZE)).astype(np.float32)
refs = rng.standard_normal((4, 3, SIZE, SIZE)).astype(np.float32)
np.save(f"{tmp}/x.npy", x)
np.save(f"{tmp}/xp.npy", (x * (1 + 1e-6 * rng.standard_normal(x.shape))).astype(np.float32))
np.save(f"{tmp}/refs.npy", refs)
np.save(f"{tmp}/y.npy", np.arange(6, dtype=np.int64) % 10)
cases = [("input_grad", "vanilla", []), ("smoothgrad", "vanilla", []), ("ig", "vanilla", ["--steps", "16"]),
         ("gradcam", "vanilla", []), ("lime", "vanilla", []), ("agi", "valid_ip", []),
         ("eg", "valid_ip", ["--references", f"{tmp}/refs.npy", "--refs", "4", "--steps", "1"]),
         ("ig_uniform", "vanilla", []), ("ig_uniform", "valid_ref", []), ("ig_uniform", "valid_ip", []),
         ("ig_sg", "valid_ip", []), ("ig_sq", "valid_ip", []), ("random", "vanilla", [])]
cases = [c for c in cases if not ONLY or c[0] in ONLY]
res, worst = [], 0.0
for method, est, extra in cases:
    outs, secs = {}, {}
    for k, (dev, inp) in enumerate(RUNS):
        path = f"{tmp}/{method}-{est}-{dev}-{len(outs)}.npy"
        cmd = [recal, "attribute", "--model", f"{models}/{MODEL}.pt", "--input", f"{tmp}/{inp}.npy",
               "--labels", f"{tmp}/y.npy", "--method", method, "--estimator", est, "--device", dev,
               "--out", path] + extra
        t = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        secs[f"{dev}{k}"] = round(time.time() - t, 2)
        if p.returncode:
            print(f"{method}/{est} {dev}: exit {p.returncode}: {p.stderr.strip()[:500]}")
            break
        outs[k] = np.load(path).astype(np.float64)
    if len(outs) < 3:
        res.append({"method": method, "estimator": est, "error": "failed"})
        worst = float("inf")
        continue
    a, b, c = outs[0], outs[1], outs[2]
    norm = max(np.linalg.norm(a), 1e-30)
    rel, sens = float(np.linalg.norm(a - b) / norm), float(np.linalg.norm(a - c) / norm)
    bound = 0.0 if method == "random" else max(1e-4, 20 * sens)  # uniform draws: bit for bit
    worst = max(worst, rel / bound if bound > 0 else (0.0 if rel == 0 else float("inf")))
    res.append({"method": method, "estimator": est, "rel_l2": rel, "sensitivity_1e-6": sens, "pass": rel <= bound,
                "seconds": secs})
    print(f"{method:12s} {est:9s} rel L2 {rel:.2e}  sensitivity {sens:.2e}  {'ok' if rel <= bound else 'FAIL'}  ({secs})")
json.dump({"cases": res, "worst_ratio_to_bound": worst, "pass": worst <= 1}, open(out, "w"), indent=1)
print("cuda vs cpu:", "PASS" if worst <= 1 else "FAIL", f"worst difference / bound {worst:.2f}")
sys.exit(0 if worst <= 1 else 1)
