"""Read a recal run directory into pandas (docs/outputs.md).

    import recal_results
    run = recal_results.load("runs/fashion-ig-...")
    run.summary      # long: method, estimator, metric, value, lo, hi, images
    run.images       # images.csv: image_id, source, record, label, prediction, ...
    run.per_image    # long: image_id, method, estimator, metric, value (+ images.csv's columns)
    run.paired       # paired.csv
    run.curves       # metrics.csv: DiffID curves, one row per ratio
    run.metrics      # metrics.json as a dict
    sweep = recal_results.load_sweep("runs/sg-sigma")   # every point's summary, with its values

Only pandas is needed; the files are recal's own (the reader adds nothing
they do not hold). One naming rule: a metric is named as its per-image
values are (per_image/<metric>.csv), so `summary` and `per_image` join on
(method, estimator, metric); the two maxima of the robustness metrics are
`lipschitz_max` and `max_sensitivity_max`, without intervals.
"""
import json
import os

import pandas as pd

__all__ = ["Run", "load", "load_sweep"]
__version__ = "0.1.0"

KEYS = ["method", "estimator"]
SETTINGS = ["refs", "steps", "objective"]
# summary.csv's headline column -> the metric's name (its per-image values' name)
HEADLINE = {"lipschitz_mean": "lipschitz", "max_sensitivity_mean": "max_sensitivity",
            "infidelity_mean": "infidelity", "pointing_game_accuracy": "pointing_game_hit"}


def _csv(path, **kw):
    return pd.read_csv(path, **kw) if os.path.exists(path) else None


def _tidy_summary(summary, metrics):
    """summary.csv (one wide row per method/estimator) in long form, with
    each metric's bootstrap interval and image count where it has one."""
    ci = {(r["method"], r["estimator"]): r.get("ci", {}) for r in metrics.get("results", [])}
    rows = []
    for _, r in summary.iterrows():
        for col in summary.columns:
            if col in KEYS or col in SETTINGS or col.endswith("_lo") or col.endswith("_hi") or pd.isna(r[col]):
                continue
            name = HEADLINE.get(col, col)
            c = ci.get((r["method"], r["estimator"]), {}).get(name, {})
            rows.append({"method": r["method"], "estimator": r["estimator"], "metric": name, "value": r[col],
                         "lo": r.get(name + "_lo", float("nan")), "hi": r.get(name + "_hi", float("nan")),
                         "images": c.get("images", metrics.get("images"))})
    cols = ["method", "estimator", "metric", "value", "lo", "hi", "images"]
    return pd.DataFrame(rows, columns=cols)


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
        self.summary = _tidy_summary(pd.read_csv(os.path.join(run_dir, "summary.csv")), self.metrics)
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
    the point's index and swept values as columns."""
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
