#!/usr/bin/python3
"""summary_long.csv and sweep_long.csv (docs/outputs.md), recomputed here
from the per-image values with pandas, not read back from recal's own
numbers: for a real 2-rank run, every row's value is the mean of
per_image/<metric>.csv's values of its (label, estimator) over the images
that define one, n is their count, `<metric>_max` is their maximum; the
settings are blank exactly where a method has none (random, input_grad);
a labelled entry has its method's name and its label. A second run of the
same job keeping no per-image values (statistics off, no per_image) gives
the same values and counts from the record's sums, with blank intervals.
Then a 2-point local sweep (recal run --sweep-point, recal sweep-merge):
sweep_long.csv's rows are each point's rows after its index and swept
value, recomputed from that point's per_image/ in the same way; a point
whose summary_long.csv is missing (an older recal) is left out with a
line on stderr.
usage: check_long_summary.py RECAL SRC WORK_DIR MODEL"""
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd

COLUMNS = ["method", "label", "estimator", "metric", "value", "lo", "hi", "n", "refs", "steps", "objective"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def close(a, b):
    # both sides went through %.10g text: each per-image value is rounded
    # at 10 digits before this mean of them is formed
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 + 1e-8 * abs(b)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p


def oracle_rows(rd):
    """The long rows as the per-image files give them: {(label, estimator,
    metric): (value, n)}."""
    want = {}
    d = os.path.join(rd, "per_image")
    for f in sorted(os.listdir(d)):
        if not f.endswith(".csv") or f == "slots.csv":
            continue
        metric = f[:-4]
        t = pd.read_csv(os.path.join(d, f))  # image_id, method (the entry's label), estimator, value
        for (label, est), g in t.groupby(["method", "estimator"], sort=False):
            v = g.value.dropna()
            want[(label, est, metric)] = (float(v.mean()) if len(v) else math.nan, len(v))
            if metric in ("lipschitz", "max_sensitivity"):
                want[(label, est, metric + "_max")] = (float(v.max()) if len(v) else math.nan, len(v))
    return want


def compare(long, want, what):
    """long's rows against the oracle's: the same keys, values and counts."""
    got = {(r.label, r.estimator, r.metric): (float(r.value), int(r.n)) for r in long.itertuples()}
    check(set(got) == set(want), f"{what}: one row per (entry, estimator, metric) of per_image/ "
          f"({len(got)} rows, {len(want)} expected; differ: {sorted(set(got) ^ set(want))[:4]})")
    bad = [k for k in want if k in got and not (close(got[k][0], want[k][0]) and got[k][1] == want[k][1])]
    check(not bad, f"{what}: value = mean of the per-image values, n = their count, on {len(want)} rows "
          f"(differ: {[(k, got[k], want[k]) for k in bad[:3]]})")


def main():
    recal, src, work, model = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    methods = ("methods=[{name: ig_uniform, estimators: [vanilla, valid_ip], refs: 3, steps: 4}, "
               "{name: input_grad, label: grad_a}, {name: random}]")
    common = ["--set", f"model.path={model}", "--set", "batch_size=16", "--set", "shard_images=16",
              "--set", "threads=1", "--set", "outputs.figures=false", "--set", methods,
              "--set", "metrics.sensitivity_n={ratios: [0.2, 0.5], samples: 4}",
              "--set", "metrics.lipschitz={samples: 2, images: 8}",
              "--set", "metrics.faithfulness={groups: 16, images: 24}"]

    # (a) a 2-rank run keeping every per-image value
    rd = os.path.join(work, "run")
    run(["mpirun", "--oversubscribe", "-n", "2", recal, "run", cfg, "--limit", "40", *common,
         "--set", "outputs.per_image=true", "--run-dir", rd])
    long = pd.read_csv(os.path.join(rd, "summary_long.csv"), dtype={"refs": "Int64", "steps": "Int64"})
    check(list(long.columns) == COLUMNS, f"columns {list(long.columns)}")
    want = oracle_rows(rd)
    compare(long, want, "2 ranks")
    check({"diffid_diff_acc", "sensitivity_n_correlation", "lipschitz", "lipschitz_max", "faithfulness_pearson",
           "faithfulness_inv_distance"} <= set(long.metric) and "lipschitz_mean" not in set(long.metric),
          "metrics named as their per-image files (lipschitz, lipschitz_max)")
    lips = long[long.metric == "lipschitz"]
    check((lips.n == 8).all() and (long[long.metric == "diffid_diff_acc"].n == 40).all(),
          "n follows each metric's images: bound (lipschitz 8, DiffID 40)")
    per = long[long.metric != "lipschitz_max"]
    check(per.lo.notna().all() and per.hi.notna().all() and
          ((per.lo <= per.value + 1e-12) & (per.value <= per.hi + 1e-12)).all(),
          "every per-image metric has an interval around its value")
    check(long[long.metric == "lipschitz_max"].lo.isna().all(), "the maxima have no interval (blank lo, hi)")
    ig = long[long.method == "ig_uniform"]
    check((ig.label == "ig_uniform").all() and (ig.refs == 3).all() and (ig.steps == 4).all() and
          (ig.objective == "logit").all(), "ig_uniform: refs 3, steps 4, objective logit")
    g = long[long.label == "grad_a"]
    check(len(g) > 0 and (g.method == "input_grad").all() and g.refs.isna().all() and g.steps.isna().all() and
          (g.objective == "logit").all(), "input_grad labelled grad_a: method input_grad, no refs or steps")
    r = long[long.method == "random"]
    check(len(r) > 0 and r.refs.isna().all() and r.steps.isna().all() and r.objective.isna().all(),
          "random: refs, steps and objective blank")
    wide = pd.read_csv(os.path.join(rd, "summary.csv"))
    a = long[(long.label == "ig_uniform") & (long.estimator == "valid_ip")].set_index("metric").value
    w = wide[(wide.method == "ig_uniform") & (wide.estimator == "valid_ip")].iloc[0]
    check(close(a["lipschitz"], w.lipschitz_mean) and close(a["lipschitz_max"], w.lipschitz_max) and
          close(a["diffid_diff_acc"], w.diffid_diff_acc), "the same numbers as summary.csv's wide row")

    # (b) the same job keeping no per-image values: the record's sums
    rd2 = os.path.join(work, "sums")
    run(["mpirun", "--oversubscribe", "-n", "2", recal, "run", cfg, "--limit", "40", *common,
         "--set", "statistics.resamples=0", "--run-dir", rd2])
    check(not os.path.exists(os.path.join(rd2, "per_image")), "no per_image/ in the second run")
    long2 = pd.read_csv(os.path.join(rd2, "summary_long.csv"))
    compare(long2, want, "no per-image values (sums)")
    check(long2.lo.isna().all() and long2.hi.isna().all(), "no statistics: blank intervals")

    # (c) a 2-point local sweep, merged
    sweep_cfg = os.path.join(work, "sweep.yaml")
    with open(sweep_cfg, "w") as f:
        f.write(open(cfg).read() + "sweep:\n  methods.0.steps: [2, 4]\n")
    sd = os.path.join(work, "sweep")
    sets = [*common, "--set", "dataset.limit=16", "--set", "outputs.per_image=true"]
    for i in (0, 1):
        run([recal, "run", sweep_cfg, *sets, "--sweep-point", str(i), "--run-dir", os.path.join(sd, "points", str(i))])
    run([recal, "sweep-merge", sweep_cfg, *sets, "--run-dir", sd])
    sw = pd.read_csv(os.path.join(sd, "sweep_long.csv"), dtype={"refs": "Int64", "steps": "Int64"})
    check(list(sw.columns) == ["point", "methods.0.steps", *COLUMNS], f"sweep_long.csv columns {list(sw.columns)}")
    check(sorted(set(sw.point)) == [0, 1], "both points in sweep_long.csv")
    for i, steps in ((0, 2), (1, 4)):
        part = sw[sw.point == i]
        check((part["methods.0.steps"] == steps).all() and (part[part.method == "ig_uniform"].steps == steps).all(),
              f"point {i}: swept value {steps} and the ig_uniform rows' steps")
        compare(part, oracle_rows(os.path.join(sd, "points", str(i))), f"sweep point {i}")
        own = pd.read_csv(os.path.join(sd, "points", str(i), "summary_long.csv"), dtype={"refs": "Int64", "steps": "Int64"})
        check(part.drop(columns=["point", "methods.0.steps"]).reset_index(drop=True).equals(own),
              f"point {i}: its rows are its own summary_long.csv")
    os.remove(os.path.join(sd, "points", "1", "summary_long.csv"))
    p = run([recal, "sweep-merge", sweep_cfg, *sets, "--run-dir", sd])
    sw = pd.read_csv(os.path.join(sd, "sweep_long.csv"))
    check(set(sw.point) == {0} and "point 1 has no summary_long.csv" in p.stderr,
          "a point without summary_long.csv (older recal) left out, said on stderr: " + p.stderr.strip()[:100])
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all long-summary checks passed")


if __name__ == "__main__":
    main()
