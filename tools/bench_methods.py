#!/usr/bin/python3
"""Attribution throughput per method: `recal run` of each method of a config
(default configs/fashion-mnist-all-methods.yaml, every method and estimator)
alone, with no metric, on the same images; prints a Markdown table (images/s
and the model passes per image that the method's settings imply) and one
JSON line per method.

usage: tools/bench_methods.py --model M.pt [--config C.yaml] [--images N]
                              [--recal build/recal] [--ranks R] [--device D]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def passes(m):
    """Forward+backward passes per image (forwards only for lime/kernel_shap)."""
    name = m["name"]
    refs, steps = m.get("refs", 10), m.get("steps", 5)
    if name == "ig":
        return m.get("steps", 5), "fwd+bwd"
    if name in ("ig_uniform", "ig_sg", "ig_sq"):
        return refs * steps, "fwd+bwd"
    if name == "eg":
        return refs * m.get("steps", 1), "fwd+bwd"
    if name == "agi":  # two gradients per step: the walk and the explained objective
        return 2 * m.get("refs", 5) * m.get("steps", 10), "fwd+bwd"
    if name == "smoothgrad":
        return m.get("samples", 30), "fwd+bwd"
    if name in ("lime", "kernel_shap"):
        return m.get("samples", 100), "fwd"
    if name == "random":
        return 0, "-"
    return 1, "fwd+bwd"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="TorchScript model the config's dataset fits")
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "fashion-mnist-all-methods.yaml"))
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--recal", default=os.path.join(ROOT, "build", "recal"))
    ap.add_argument("--ranks", type=int, default=1, help="mpirun -n R (default 1: no mpirun)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    methods = yaml.safe_load(open(args.config))["methods"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, m in enumerate(methods):
            run = os.path.join(tmp, f"m{i}")
            cmd = ([] if args.ranks == 1 else ["mpirun", "-n", str(args.ranks)]) + [
                args.recal, "run", args.config, "--limit", str(args.images), "--set", f"model.path={args.model}",
                "--set", f"device={args.device}", "--set", "methods=" + json.dumps([m]), "--set", "metrics={}",
                "--set", "outputs={figures: false}", "--run-dir", run]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"bench_methods: {m['name']} failed:\n{r.stderr[-2000:]}", file=sys.stderr)
                sys.exit(1)
            res = json.load(open(os.path.join(run, "metrics.json")))
            n, kind = passes(m)
            ests = "/".join(m.get("estimators", ["vanilla"]))
            row = {"method": m["name"], "estimators": ests, "passes_per_image": n, "pass": kind,
                   "images": res.get("images", args.images), "wall_seconds": res["wall_seconds"],
                   "images_per_second": res["images_per_second"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    print(f"\n{os.path.basename(args.config)}, {args.images} images, {args.ranks} rank(s), device {args.device}; "
          f"{cpu}, {os.cpu_count()} cores\n")
    print("| method | estimators | passes / image | images/s | passes/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        pps = r["passes_per_image"] * r["images_per_second"]
        print(f"| {r['method']} | {r['estimators']} | {r['passes_per_image']} {r['pass']} | "
              f"{r['images_per_second']:.1f} | {pps:.0f} |")


if __name__ == "__main__":
    main()
