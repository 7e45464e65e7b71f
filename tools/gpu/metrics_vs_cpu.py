#!/usr/bin/env python3
"""The metrics computed on the device against the same job on the CPU:
sensitivity-n, faithfulness, infidelity, Lipschitz, max-sensitivity and
DiffID of InputGrad and IG-Uniform (vanilla, valid_ip) on 16 synthetic
32x32 images through PreActResNet-18, one `recal run` per device with the
same seed. Their draws are the same counter-based stream on both devices;
what differs is float32 rounding (other kernels), which robustness metrics
of a ReLU network amplify, so each number's relative difference is printed
and the worst per metric kept; the check passes at <= 1e-3 relative (+1e-6
absolute).
usage: metrics_vs_cpu.py RECAL MODELS_DIR DEVICE OUT.json "MPIRUN ARGS" """
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

recal, models, dev, out, mpirun = sys.argv[1:6]
tmp = tempfile.mkdtemp()
rng = np.random.default_rng(3)
os.makedirs(f"{tmp}/data")
np.save(f"{tmp}/data/images.npy", rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8))
np.save(f"{tmp}/data/labels.npy", rng.integers(0, 10, 16, dtype=np.int64))
cfg = f"""name: metrics-vs-cpu
seed: 5
model: {{path: {models}/preact_resnet18.pt}}
dataset: {{name: npy, path: {tmp}/data, split: test}}
batch_size: 8
methods:
  - {{name: input_grad}}
  - {{name: ig_uniform, estimators: [vanilla, valid_ip], refs: 4, steps: 4}}
metrics:
  diffid: {{ratios: [0.2, 0.5, 0.8]}}
  sensitivity_n: {{ratios: [0.2, 0.5], samples: 4}}
  faithfulness: {{}}
  infidelity: {{samples: 4}}
  lipschitz: {{samples: 2}}
  max_sensitivity: {{samples: 2}}
outputs: {{figures: false}}
"""
open(f"{tmp}/job.yaml", "w").write(cfg)
runs = {}
for d in ("cpu", dev):
    rd = f"{tmp}/run-{d}-{len(runs)}"
    p = subprocess.run(mpirun.split() + ["-n", "1", recal, "run", f"{tmp}/job.yaml", "--set", f"device={d}",
                                         "--run-dir", rd], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"recal run on {d}: exit {p.returncode}: {p.stderr.strip()[-800:]}")
    runs[len(runs)] = json.load(open(f"{rd}/metrics.json"))["results"]


def leaves(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            yield from leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from leaves(v, f"{path}[{i}]")
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield path, float(x)


worst = {}
for ra, rb in zip(runs[0], runs[1]):
    tag = f"{ra['method']}/{ra['estimator']}"
    b = dict(leaves(rb))
    for k, va in leaves(ra):
        if k not in b or not np.isfinite(va):
            continue
        metric = k.split(".")[0].split("[")[0]
        rel = abs(va - b[k]) / (abs(va) + 1e-3)  # rel <= 1e-3 <=> |diff| <= 1e-3 |a| + 1e-6
        if rel >= worst.setdefault(metric, (0.0, ""))[0]:
            worst[metric] = (rel, f"{tag} {k}: cpu {va:.6g} {dev} {b[k]:.6g}")
ok = all(r <= 1e-3 for r, _ in worst.values())
for m, (r, where) in sorted(worst.items()):
    print(f"{m:18s} worst relative difference {r:.2e} {'ok' if r <= 1e-3 else 'FAIL'}  ({where})")
json.dump({"device": dev, "worst": {m: {"rel": r, "where": w} for m, (r, w) in worst.items()}, "pass": ok},
          open(out, "w"), indent=1)
print(f"metrics on {dev} vs cpu:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
