"""Read a recal run directory into pandas (docs/outputs.md).

    import recal_results
    run = recal_results.load("runs/fashion-ig-...")
    run.summary      # long: method, label, estimator, metric, value, lo, hi, n, refs, steps, objective
    run.images       # images.csv: image_id, source, record, label, prediction, ...
    run.per_image    # long: image_id, method (the entry's label), estimator, metric, value (+ images.csv's)
    run.paired       # paired.csv
    run.curves       # metrics.csv: DiffID curves, one row per ratio
    run.metrics      # metrics.json as a dict
    sweep = recal_results.load_sweep("runs/sg-sigma")   # every point's summary, with its values

Only pandas is needed; the files are recal's own (the reader adds nothing
they do not hold). `summary` is RUN_DIR/summary_long.csv as recal writes it
(one row per methods entry, estimator and metric; `method` the method's
name, `label` the entry's label, `n` the images behind the value); a run
directory written before that file existed is read from summary.csv into the
same columns. A metric is named as its per-image values are
(per_image/<metric>.csv), so `summary` and `per_image` join on summary's
(label, estimator, metric) = per_image's (method, estimator, metric): the
per-image files name a row by its label, as paired.csv and metrics.json do,
and per_image's `label` is images.csv's class label. The two maxima of the
robustness metrics are `lipschitz_max` and `max_sensitivity_max`, without
intervals.
"""
import json
import os

import pandas as pd

__all__ = ["Run", "load", "load_sweep"]
__version__ = "0.2.0"

COLUMNS = ["method", "label", "estimator", "metric", "value", "lo", "hi", "n", "refs", "steps", "objective"]
# blank where a setting does not apply to the method: nullable integers
DTYPES = {"refs": "Int64", "steps": "Int64", "n": "Int64", "objective": "string"}
# the method names of recal's methods: list (jobs/job_names.c); an old run
# directory names its rows by label only, and a label is a method's name
# unless the config gave one
METHODS = {"random", "input_grad", "input_x_grad", "smoothgrad", "ig", "ig_uniform", "ig_sg", "ig_sq", "eg", "agi",
           "gradcam", "precomputed", "lime", "kernel_shap", "guided_ig", "blur_ig"}
KEYS = ["method", "estimator"]
SETTINGS = ["refs", "steps", "objective"]
# old summary.csv's headline column -> the metric's name (its per-image values' name)
HEADLINE = {"lipschitz_mean": "lipschitz", "max_sensitivity_mean": "max_sensitivity",
            "infidelity_mean": "infidelity", "pointing_game_accuracy": "pointing_game_hit"}


def _csv(path, **kw):
    return pd.read_csv(path, **kw) if os.path.exists(path) else None


def _long(path):
    """summary_long.csv or sweep_long.csv, with the settings as nullable
    integers (blank where they do not apply)."""
    return pd.read_csv(path, dtype=DTYPES)


def _tidy_summary(summary, metrics):
    """An old run directory's summary.csv (one wide row per method/estimator)
    in summary_long.csv's columns: each metric's bootstrap interval and image
    count where metrics.json has one (else its `images`), the settings as
    summary.csv held them."""
    ci = {(r["method"], r["estimator"]): r.get("ci", {}) for r in metrics.get("results", [])}
    rows = []
    for _, r in summary.iterrows():
        for col in summary.columns:
            if col in KEYS or col in SETTINGS or col.endswith("_lo") or col.endswith("_hi") or pd.isna(r[col]):
                continue
            name = HEADLINE.get(col, col)
            own = ci.get((r["method"], r["estimator"]), {})
            c = own.get(name) or own.get(name[:-4] if name.endswith("_max") else name, {})  # a maximum: its images
            rows.append({"method": r["method"] if r["method"] in METHODS else None, "label": r["method"],
                         "estimator": r["estimator"], "metric": name, "value": r[col],
                         "lo": r.get(name + "_lo", float("nan")), "hi": r.get(name + "_hi", float("nan")),
                         "n": c.get("images", metrics.get("images")),
                         **{k: r.get(k) for k in SETTINGS}})
    return pd.DataFrame(rows, columns=COLUMNS).astype(DTYPES)


def _summary(run_dir, metrics):
    path = os.path.join(run_dir, "summary_long.csv")
    if os.path.exists(path):
        return _long(path)
    return _tidy_summary(pd.read_csv(os.path.join(run_dir, "summary.csv")), metrics)


def _per_image(run_dir, images):
    d = os.path.join(run_dir, "per_image")
    if not os.path.isdir(d):
        return None
    frames = []
    for f in sorted(os.listdir(d)):
        if f.endswith(".csv") and f != "slots.csv":
            t = pd.read_csv(os.path.join(d, f))
            t.insert(3, "metric", f[:-4])
            frames.append(t)
    if not frames:
        return None
    t = pd.concat(frames, ignore_index=True)
    return t.merge(images, on="image_id", how="left") if images is not None else t


class Run:
    """One run directory's outputs as DataFrames (None where the run did
    not write the file: per_image without outputs.per_image, paired without
    statistics)."""

    def __init__(self, run_dir):
        self.dir = run_dir
        path = os.path.join(run_dir, "metrics.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no metrics.json (not a finished recal run; resume it with "
                                    "recal run ... --resume)")
        with open(path) as f:
            self.metrics = json.load(f)
        self.summary = _summary(run_dir, self.metrics)
        self.images = _csv(os.path.join(run_dir, "images.csv"))
        self.per_image = _per_image(run_dir, self.images)
        self.paired = _csv(os.path.join(run_dir, "paired.csv"))
        self.curves = _csv(os.path.join(run_dir, "metrics.csv"))

    def __repr__(self):
        return f"recal_results.Run({self.dir!r}: {self.metrics.get('images')} images, {len(self.summary)} values)"


def load(run_dir):
    """A run directory (metrics.json, summary.csv, images.csv, ...) -> Run."""
    return Run(run_dir)


def load_sweep(sweep_dir):
    """A sweep's directory (recal submit of a config with `sweep:`, merged by
    recal sweep-merge) -> one long frame: every finished point's summary with
    the point's index and swept values as columns (sweep_long.csv; from the
    points' own directories where sweep-merge did not write that file)."""
    path = os.path.join(sweep_dir, "sweep_long.csv")
    if os.path.exists(path):
        return _long(path)
    with open(os.path.join(sweep_dir, "sweep.json")) as f:
        sweep = json.load(f)
    frames = []
    for row in sweep.get("rows", []):
        point_dir = os.path.join(sweep_dir, row.get("run_dir", f"points/{row['point']}"))
        if row.get("status") != "done" or not os.path.exists(os.path.join(point_dir, "metrics.json")):
            continue
        t = load(point_dir).summary
        t.insert(0, "point", row["point"])
        for k, (key, v) in enumerate(row.get("values", {}).items()):
            t.insert(1 + k, key, v)
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
