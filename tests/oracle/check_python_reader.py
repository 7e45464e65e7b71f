#!/usr/bin/python3
"""python/ (recal_results, issue #36): installed with pip from the
repository (no network, no dependencies fetched), then load() of a real
2-rank run and load_sweep() of a real 2-point sweep, compared with the files
read here with the standard library only: the summary = summary_long.csv,
every summary value and interval with summary.csv's cells and metrics.json's
`ci`, every per-image value with per_image/<metric>.npy, the images.csv
columns joined on image_id, the curves with metrics.csv, and each sweep
point's rows with that point's own summary; a run directory and a sweep
written before summary_long.csv / sweep_long.csv (the files removed) read
into the same columns and numbers.
usage: check_python_reader.py RECAL SRC WORK_DIR MODEL"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def close(a, b):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-9 * max(1.0, abs(b))


def main():
    recal, src, work, model = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    site, pkg = os.path.join(work, "site"), os.path.join(work, "python")
    shutil.copytree(os.path.join(src, "python"), pkg)  # setuptools builds in the tree it is given: not the checkout
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--root-user-action=ignore", "--no-deps",
                        "--no-build-isolation", "--no-index", "--target", site, pkg], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"pip install ./python failed:\n{p.stdout}\n{p.stderr}")
    sys.path.insert(0, site)
    import recal_results as rr
    check(os.path.dirname(rr.__file__).startswith(site), f"recal_results imported from the pip install ({rr.__file__})")

    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    common = ["--set", f"model.path={model}", "--set", "batch_size=16", "--set", "threads=1",
              "--set", "outputs.figures=false", "--set", "outputs.per_image=true",
              "--set", "metrics.sensitivity_n={ratios: [0.2, 0.5], samples: 2}",
              "--set", "metrics.lipschitz={samples: 2, images: 8}"]
    rd = os.path.join(work, "run")
    p = subprocess.run(["mpirun", "--oversubscribe", "-n", "2", recal, "run", cfg, "--limit", "48", *common,
                        "--run-dir", rd], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"recal run failed:\n{p.stdout}\n{p.stderr}")
    run = rr.load(rd)
    m = json.load(open(os.path.join(rd, "metrics.json")))
    rows = list(csv.DictReader(open(os.path.join(rd, "summary.csv"))))
    s = run.summary
    cols = ["method", "label", "estimator", "metric", "value", "lo", "hi", "n", "refs", "steps", "objective"]
    check(list(s.columns) == cols, f"summary columns {list(s.columns)}")
    long_rows = list(csv.DictReader(open(os.path.join(rd, "summary_long.csv"))))
    check(len(s) == len(long_rows) and all(
        r["metric"] == x.metric and r["label"] == x.label and close(float(r["value"]), float(x.value))
        and (r["refs"] == "" if pd.isna(x.refs) else int(r["refs"]) == x.refs) for r, x in zip(long_rows, s.itertuples())),
        f"summary = summary_long.csv, row by row ({len(s)} rows)")
    want_n = sum(1 for r in rows for k, v in r.items()
                 if v != "" and k not in ("method", "estimator", "refs", "steps", "objective")
                 and not k.endswith("_lo") and not k.endswith("_hi"))
    check(len(s) == want_n, f"summary: one row per non-empty headline cell of summary.csv ({len(s)} of {want_n})")
    bad = 0
    for r in rows:
        ci = next(x for x in m["results"] if x["method"] == r["method"] and x["estimator"] == r["estimator"])["ci"]
        for name, col in (("diffid_diff_acc", "diffid_diff_acc"), ("lipschitz", "lipschitz_mean"),
                          ("lipschitz_max", "lipschitz_max"), ("sensitivity_n_correlation", "sensitivity_n_correlation")):
            got = s[(s.label == r["method"]) & (s.estimator == r["estimator"]) & (s.metric == name)]
            if len(got) != 1 or not close(float(got.value.iloc[0]), float(r[col])):
                bad += 1
                continue
            if name in ci:
                c = ci[name]
                bad += not (close(float(got.lo.iloc[0]), c["lo"]) and close(float(got.hi.iloc[0]), c["hi"])
                            and int(got.n.iloc[0]) == c["images"])
            else:
                bad += not (math.isnan(float(got.lo.iloc[0])) and math.isnan(float(got.hi.iloc[0])))
    check(bad == 0, f"summary values, intervals and image counts = summary.csv and metrics.json ci ({bad} differ)")
    check(set(s.metric) >= {"lipschitz", "lipschitz_max"} and "lipschitz_mean" not in set(s.metric),
          "one naming rule: lipschitz (as per_image/lipschitz.csv) and lipschitz_max")

    ids = np.load(os.path.join(rd, "per_image", "image_ids.npy"))
    slots = list(csv.DictReader(open(os.path.join(rd, "per_image", "slots.csv"))))
    pi = run.per_image
    bad = 0
    for metric in ("diffid_diff_acc", "sensitivity_n_correlation", "lipschitz"):
        arr = np.load(os.path.join(rd, "per_image", metric + ".npy"))
        for j, sl in enumerate(slots):
            t = pi[(pi.metric == metric) & (pi.method == sl["method"]) & (pi.estimator == sl["estimator"])]
            t = t.set_index("image_id").value.reindex(ids).to_numpy(dtype=float)
            bad += not np.allclose(t, arr[:, j], rtol=1e-9, atol=0, equal_nan=True)
    check(bad == 0, f"per_image values = per_image/<metric>.npy for 3 metrics x {len(slots)} slots ({bad} differ)")
    img = {int(r["image_id"]): r for r in csv.DictReader(open(os.path.join(rd, "images.csv")))}
    joined = pi.drop_duplicates("image_id")
    check(len(img) == 48 and all(int(img[int(r.image_id)]["label"]) == r.label and
                                 int(img[int(r.image_id)]["prediction"]) == r.prediction for r in joined.itertuples()),
          "per_image joined with images.csv on image_id (label, prediction)")
    j = s.merge(pi[["method", "estimator", "metric", "value"]], left_on=["label", "estimator", "metric"],
                right_on=["method", "estimator", "metric"], suffixes=("", "_img"))
    m_join = j.groupby(["label", "estimator", "metric"]).agg(value=("value", "first"), mean=("value_img", "mean"))
    check(len(m_join) > 0 and all(close(float(x.value), float(x.mean)) for x in m_join.itertuples()),
          f"summary's label joins per_image's method; each value = its images' mean ({len(m_join)} rows)")

    # a run directory written before summary_long.csv: the same columns and numbers from summary.csv
    old = os.path.join(work, "old-run")
    shutil.copytree(rd, old)
    os.remove(os.path.join(old, "summary_long.csv"))
    o = rr.load(old).summary
    keys = ["label", "estimator", "metric"]
    both = o.merge(s, on=keys, suffixes=("_old", ""))
    check(list(o.columns) == cols and len(o) == len(s) == len(both) and
          all(close(float(x.value_old), float(x.value)) and int(x.n_old) == int(x.n) and
              close(float(x.lo_old), float(x.lo)) and x.method_old == x.method for x in both.itertuples()),
          "an old run directory (summary.csv only) reads into the same columns, values, intervals and n")
    curves = list(csv.DictReader(open(os.path.join(rd, "metrics.csv"))))
    check(len(run.curves) == len(curves) and close(float(run.curves.diff_acc.iloc[-1]), float(curves[-1]["diff_acc"])),
          "curves = metrics.csv")
    check(run.paired is not None and len(run.paired) == sum(1 for _ in open(os.path.join(rd, "paired.csv"))) - 1,
          "paired = paired.csv")

    sweep_cfg = os.path.join(work, "sweep.yaml")
    with open(sweep_cfg, "w") as f:
        f.write(open(cfg).read() + "sweep:\n  methods.0.steps: [2, 4]\n")
    sd = os.path.join(work, "sweep")
    sets = ["--set", "dataset.limit=16", "--set", f"model.path={model}", "--set", "threads=1", "--set", "outputs.figures=false"]
    for i in (0, 1):
        p = subprocess.run([recal, "run", sweep_cfg, *sets, "--sweep-point", str(i), "--run-dir",
                            os.path.join(sd, "points", str(i))], capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"sweep point {i} failed:\n{p.stderr}")
    p = subprocess.run([recal, "sweep-merge", sweep_cfg, *sets, "--run-dir", sd], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"sweep-merge failed:\n{p.stdout}\n{p.stderr}")
    sw = rr.load_sweep(sd)
    check(list(sw.columns[:2]) == ["point", "methods.0.steps"] and set(sw["methods.0.steps"]) == {2, 4},
          "load_sweep: the point and its swept value as columns")
    bad = 0
    for i in (0, 1):
        own = rr.load(os.path.join(sd, "points", str(i))).summary
        part = sw[sw.point == i].drop(columns=["point", "methods.0.steps"]).reset_index(drop=True)
        bad += not part.equals(own)
    check(bad == 0, "load_sweep: each point's rows are that point's own summary")
    check(list(sw.columns[2:]) == cols and len(sw) == sum(1 for _ in open(os.path.join(sd, "sweep_long.csv"))) - 1,
          "load_sweep reads sweep_long.csv")
    os.remove(os.path.join(sd, "sweep_long.csv"))
    check(rr.load_sweep(sd).equals(sw), "a sweep merged before sweep_long.csv: the same frame from its points")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all python reader checks passed")


if __name__ == "__main__":
    main()
