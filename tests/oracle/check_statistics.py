#!/usr/bin/python3
"""The statistics of docs/statistics.md against numpy and SciPy (Debian's
python3-scipy): a run of the trained CNN with per-image rows kept
(outputs.per_image) and the intervals on; from per_image/*.npy alone this
script recomputes every result's bootstrap interval (the resample stream
re-derived from the seed with Python integers, numpy's percentile), every
paired comparison's mean difference, interval and Wilcoxon signed-rank test
(scipy.stats.wilcoxon with its defaults: both its exact and its normal
branch are reached), and checks that the per-image means are the headline
means of metrics.json, that paired.csv and summary.csv carry the same
numbers (read with pandas), that a 3-rank run with other batches and shards
gives the same intervals and tests, and that `resamples: 0` turns them off.
usage: check_statistics.py RECAL SRC_DIR WORK_DIR MODEL"""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
SEED_BOOTSTRAP = 17
SEED = 11
N = 90
B = 400
LEVEL = 0.9
failures = []


def mix(z):
    z = (z + GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def counts(seed, b, n):
    """how often each of n positions is drawn in resample b"""
    key = mix(mix(mix(seed) ^ b) ^ SEED_BOOTSTRAP)
    idx = [((mix((key + j * GAMMA) & MASK64) >> 32) * n) >> 32 for j in range(n)]
    return np.bincount(idx, minlength=n)


def interval(cols, seed):
    """cols: images × k (NaN undefined); the percentile interval of each column's mean"""
    n, k = cols.shape
    defined = ~np.isnan(cols)
    vals = np.where(defined, cols, 0.0)
    means = [[] for _ in range(k)]
    for b in range(B):
        w = counts(seed, b, n).astype(np.float64)
        for c in range(k):
            ww = w * defined[:, c]
            if ww.sum() > 0:
                means[c].append(float((ww * vals[:, c]).sum() / ww.sum()))
    a = (1 - LEVEL) / 2
    return [(np.percentile(m, 100 * a), np.percentile(m, 100 * (1 - a))) if m else (None, None) for m in means]


def close(label, got, want, rtol=1e-9, atol=1e-12):
    if want is None or got is None or (isinstance(want, float) and np.isnan(want)):
        ok = (want is None or np.isnan(want)) and (got is None or (isinstance(got, float) and np.isnan(got)))
    else:
        ok = abs(got - want) <= atol + rtol * abs(want)
    if not ok:
        print(f"FAIL {label}: recal {got} oracle {want}")
        failures.append(label)
    return ok


def run(recal, src, work, model, name, extra, ranks=2):
    rd = os.path.join(work, name)
    subprocess.run(["rm", "-rf", rd], check=True)
    cmd = ["mpirun", "-n", str(ranks), recal, "run", os.path.join(src, "tests", "data", "fashion-diffid.yaml"),
           "--limit", str(N), "--set", f"model.path={model}", "--set", f"seed={SEED}",
           "--set", "methods=[{name: input_grad}, {name: ig_uniform, estimators: [vanilla, valid_ip], refs: 2, "
           "steps: 2}, {name: random}]",
           "--set", "metrics={diffid: {ratios: [0.2, 0.5, 0.8]}, infidelity: {samples: 4, images: 40}, "
           "faithfulness: {groups: 16, images: 60}}",
           "--set", f"statistics={{resamples: {B}, level: {LEVEL}}}", "--set", "outputs.figures=false",
           "--run-dir", rd] + extra
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"FAILED: {' '.join(cmd)}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return rd, json.load(open(os.path.join(rd, "metrics.json"))), r.stdout


def main():
    recal, src, work, model = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    rd, m, out = run(recal, src, work, model, "stats-run",
                     ["--set", "outputs.per_image=true", "--set", "shard_images=32"])
    assert "Paired comparisons on diffid_diff_acc" in out, out
    ids = np.load(os.path.join(rd, "per_image", "image_ids.npy"))
    assert ids.dtype == np.int64 and list(ids) == list(range(N)), ids
    slots = pd.read_csv(os.path.join(rd, "per_image", "slots.csv"))
    names = list(zip(slots["method"], slots["estimator"]))
    assert names == [(r["method"], r["estimator"]) for r in m["results"]], (names, m["results"])
    assert m["statistics"]["resamples"] == B and m["statistics"]["level"] == LEVEL, m["statistics"]
    fields = list(m["results"][0]["ci"])
    assert fields == ["diffid_diff_acc", "diffid_diff_logit", "infidelity", "faithfulness_pearson",
                      "faithfulness_spearman", "faithfulness_inv_distance"], fields
    headline = {"diffid_diff_acc": lambda r: r["diffid"]["mean"]["diff_acc"],
                "diffid_diff_logit": lambda r: r["diffid"]["mean"]["diff_logit"],
                "infidelity": lambda r: r["infidelity"]["mean"],
                "faithfulness_pearson": lambda r: r["faithfulness"]["pearson"],
                "faithfulness_spearman": lambda r: r["faithfulness"]["spearman"],
                "faithfulness_inv_distance": lambda r: r["faithfulness"]["inv_distance"]}
    values = {}
    summary = pd.read_csv(os.path.join(rd, "summary.csv"))
    for f in fields:
        v = np.load(os.path.join(rd, "per_image", f"{f}.npy"))
        assert v.shape == (N, len(names)) and v.dtype == np.float64, (f, v.shape, v.dtype)
        long = pd.read_csv(os.path.join(rd, "per_image", f"{f}.csv"))
        assert len(long) == N * len(names), (f, len(long))
        assert np.allclose(long["value"].to_numpy(), v.reshape(-1), equal_nan=True, rtol=1e-9), f
        values[f] = v
        rows = ~np.all(np.isnan(v), axis=1)  # the images some slot defines
        bound = {"infidelity": 40, "faithfulness_pearson": 60, "faithfulness_spearman": 60,
                 "faithfulness_inv_distance": 60}.get(f, N)
        close(f"{f}: images with a value", int(rows.sum()), bound, 0, 0)
        cis = interval(v[rows], SEED)
        for s, r in enumerate(m["results"]):
            c = r["ci"][f]
            col = v[rows, s]
            close(f"{f} {names[s]}: images", c["images"], int((~np.isnan(col)).sum()), 0, 0)
            close(f"{f} {names[s]}: mean of the per-image values", c["mean"], float(np.nanmean(col)))
            close(f"{f} {names[s]}: mean = the headline of metrics.json", c["mean"], headline[f](r), 1e-9)
            close(f"{f} {names[s]}: lo", c["lo"], cis[s][0])
            close(f"{f} {names[s]}: hi", c["hi"], cis[s][1])
            close(f"{f} {names[s]}: summary.csv lo", float(summary[f"{f}_lo"][s]), cis[s][0], 1e-8)
            close(f"{f} {names[s]}: summary.csv hi", float(summary[f"{f}_hi"][s]), cis[s][1], 1e-8)
    # the paired comparisons: each estimator against vanilla, each method against random
    want_pairs = []
    for s, (meth, est) in enumerate(names):
        if meth == "random":
            continue
        vs = [names.index((meth, "vanilla"))] if est != "vanilla" else []
        vs += [names.index(("random", "vanilla"))]
        want_pairs += [(f, s, b) for b in vs for f in fields]
    got_pairs = m["paired"]
    assert len(got_pairs) == len(want_pairs), (len(got_pairs), len(want_pairs))
    csv = pd.read_csv(os.path.join(rd, "paired.csv"))
    branches = set()
    scipy_p = []
    for k, ((f, a, b), p) in enumerate(zip(want_pairs, got_pairs)):
        label = f"paired {f} {names[a]} - {names[b]}"
        assert (p["metric"], p["method"], p["estimator"], p["vs_method"], p["vs_estimator"]) == (
            f, *names[a], *names[b]), (label, p)
        d = values[f][:, a] - values[f][:, b]
        d = d[~np.isnan(d)]
        close(f"{label}: images", p["images"], len(d), 0, 0)
        close(f"{label}: mean difference", p["mean_diff"], float(d.mean()))
        lo, hi = interval(d.reshape(-1, 1), SEED)[0]
        close(f"{label}: lo", p["lo"], lo)
        close(f"{label}: hi", p["hi"], hi)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = stats.wilcoxon(d)
        branches.add("exact" if len(d) <= 50 and not np.any(d == 0) else "normal")
        close(f"{label}: Wilcoxon statistic", p["wilcoxon_stat"], float(w.statistic))
        close(f"{label}: Wilcoxon p", p["p_value"], float(w.pvalue), 1e-9, 1e-300)
        scipy_p.append(float(w.pvalue))
        row = csv.iloc[k]
        for key in ("mean_diff", "lo", "hi", "wilcoxon_stat", "p_value", "p_holm"):
            close(f"{label}: paired.csv {key}", float(row[key]), p[key], 1e-8)
    close("both of SciPy's branches (exact, normal) reached", len(branches), 2, 0, 0)
    # Holm's step-down adjustment, one family a metric, from SciPy's p-values:
    # the i-th smallest of m times (m - i), running maximum, capped at 1
    for f in fields:
        ks = [k for k, (ff, _, _) in enumerate(want_pairs) if ff == f]
        ps = np.array([scipy_p[k] for k in ks])
        ok = ~np.isnan(ps)
        order = np.argsort(np.where(ok, ps, np.inf), kind="stable")[:ok.sum()]
        holm = np.full(len(ps), np.nan)
        holm[order] = np.maximum.accumulate(np.minimum(1.0, (ok.sum() - np.arange(len(order))) * ps[order]))
        for k, h in zip(ks, holm):
            close(f"paired {f} {names[want_pairs[k][1]]} - {names[want_pairs[k][2]]}: Holm p",
                  got_pairs[k]["p_holm"], float(h), 1e-9, 1e-300)
        close(f"{f}: Holm p >= p", int(all(got_pairs[k]["p_holm"] >= got_pairs[k]["p_value"] for k in ks
                                         if got_pairs[k]["p_value"] is not None)), 1, 0, 0)
    # the same images on 3 ranks in other batches and shards: the same numbers,
    # to compare_metrics.py's tolerance (other batches change float32 sums)
    _, m3, _ = run(recal, src, work, model, "stats-run-3", ["--set", "batch_size=7", "--set", "shard_images=11"],
                   ranks=3)
    for r, r3 in zip(m["results"], m3["results"]):
        for f in fields:
            for key in ("mean", "lo", "hi"):
                close(f"3 ranks: {f} {r['method']}/{r['estimator']} {key}", r3["ci"][f][key], r["ci"][f][key], 0, 1e-6)
    for p, p3 in zip(m["paired"], m3["paired"]):
        for key in ("mean_diff", "lo", "hi", "p_value", "p_holm"):
            close(f"3 ranks: paired {p['metric']} {key}", p3[key], p[key], 0 if key[0] != "p" else 1e-3, 1e-6)
    # resamples: 0 — no intervals, no tests, no paired.csv; nothing per image unless asked
    rd0, m0, _ = run(recal, src, work, model, "stats-off", ["--set", "statistics.resamples=0"])
    close("resamples: 0 leaves no ci", sum("ci" in r for r in m0["results"]), 0, 0, 0)
    close("resamples: 0 leaves no paired table", int("paired" in m0), 0, 0, 0)
    close("resamples: 0 writes no paired.csv", int(os.path.exists(os.path.join(rd0, "paired.csv"))), 0, 0, 0)
    close("no per_image/ unless asked", int(os.path.exists(os.path.join(rd0, "per_image"))), 0, 0, 0)
    close("resamples: 0, same headline", m0["results"][0]["diffid"]["mean"]["diff_acc"],
          m["results"][0]["diffid"]["mean"]["diff_acc"], 1e-12)
    if failures:
        sys.exit(f"{len(failures)} statistics differ from numpy/SciPy")
    print(f"statistics match numpy and SciPy: {len(fields)} metrics x {len(names)} slots, "
          f"{len(got_pairs)} paired comparisons ({', '.join(sorted(branches))} Wilcoxon), 1 vs 3 ranks")


if __name__ == "__main__":
    main()
