#!/usr/bin/python3
"""recal report: figures and report.html for a run directory.

Reads RUN_DIR/metrics.json (and RUN_DIR/figures/examples-*.npy when the run
kept example maps, outputs.figures) and writes, into RUN_DIR/figures/:
  diffid_curves.png     insertion/deletion accuracy vs ratio, one panel per
                        method, its estimators overlaid (vanilla vs
                        re-calibrated)
  diffid_bars.png       Diff (insertion - deletion) per method and estimator,
                        with its bootstrap interval (statistics:)
  paired.png            each estimator minus vanilla and each method minus
                        random, per metric: mean difference, interval, p
  sensitivity_n.png     sensitivity-n correlation vs ratio (when measured)
  tradeoff.png          robustness vs faithfulness, one point per method and
                        estimator (the ICML 2023 paper's trade-off)
  heatmaps.png          example images with every method's |attribution|
  diff_roar.png         Diff-ROAR vs k, when the run had metrics.roar (roar.json)
  road.png              ROAD: MoRF (dashed) and LeRF (solid) accuracy vs ratio
and RUN_DIR/report.html showing them with the tables.

usage: report.py RUN_DIR    (normally called by `recal report` / `recal run`)
Needs Debian's python3-matplotlib and python3-numpy."""
import errno
import glob
import html
import json
import os
import sys

import numpy as np

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.stderr.write("recal report: matplotlib is not installed (apt-get install python3-matplotlib)\n")
    sys.exit(1)

EST_STYLE = {"vanilla": ("tab:blue", "vanilla"), "valid_ref": ("tab:orange", "valid_ref"),
             "valid_ip": ("tab:green", "valid_ip"), "idgi": ("tab:purple", "idgi")}


def label(r):
    return r["method"] if r["method"] == "random" else f"{r['method']}/{r['estimator']}"


def by_method(results):
    out = {}
    for r in results:
        out.setdefault(r["method"], []).append(r)
    return out


def fig_diffid_curves(results, path, images):
    groups = by_method([r for r in results if "diffid" in r])
    if not groups:
        return None
    n = len(groups)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharey=True)
    for ax, (method, rs) in zip(axes.flat, groups.items()):
        for r in rs:
            d = r["diffid"]
            color, name = EST_STYLE.get(r["estimator"], ("black", r["estimator"]))
            ax.plot(d["ratios"], d["insertion_acc"], "-o", color=color, ms=3, label=f"{name} insertion")
            ax.plot(d["ratios"], d["deletion_acc"], "--s", color=color, ms=3, label=f"{name} deletion")
            for key in ("insertion_acc", "deletion_acc"):
                binomial_band(ax, d["ratios"], d[key], images, color)
        ax.set_title(method)
        ax.set_xlabel("fraction of pixels perturbed")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle("DiffID: insertion (solid) and deletion (dashed) accuracy; bands: binomial 95% interval")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def binomial_band(ax, ratios, acc, images, color):
    """An accuracy at one ratio is a proportion over the images: its binomial
    (Wald) 95% band (the bootstrap intervals are on the bars)."""
    p = np.array(acc, dtype=float)
    half = 1.96 * np.sqrt(np.clip(p * (1 - p), 0, None) / max(images, 1))
    ax.fill_between(ratios, p - half, p + half, color=color, alpha=0.12, lw=0)


def err_of(v, lo, hi):
    """matplotlib's asymmetric error [[below], [above]] of v in [lo, hi], or
    None; a percentile interval need not hold the mean: clipped at 0"""
    if v is None or lo is None or hi is None:
        return None
    return [[max(0, v - lo)], [max(0, hi - v)]]


def ci_err(rs, field, vals):
    """the errors of each result's interval of field, or None when one lacks it"""
    errs = [err_of(v, *((r.get("ci", {}).get(field) or {}).get(k) for k in ("lo", "hi"))) for r, v in zip(rs, vals)]
    return None if any(e is None for e in errs) else np.hstack(errs)


def fig_diffid_bars(results, path, level):
    rs = [r for r in results if "diffid" in r]
    if not rs:
        return None
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rs) + 2), 3.6))
    vals = [r["diffid"]["mean"]["diff_acc"] for r in rs]
    colors = [EST_STYLE.get(r["estimator"], ("gray",))[0] if r["method"] != "random" else "gray" for r in rs]
    err = ci_err(rs, "diffid_diff_acc", vals)
    ax.bar(range(len(rs)), vals, color=colors, yerr=err, capsize=3)
    if err is not None:
        ax.text(0.99, 0.98, f"bars: {100 * level:.0f}% bootstrap CI", transform=ax.transAxes, ha="right",
                va="top", fontsize=7)
    ax.set_xticks(range(len(rs)))
    ax.set_xticklabels([label(r) for r in rs], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("Diff (accuracy), mean over ratios")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_title("DiffID: insertion − deletion (higher is better)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_sensn(results, path):
    rs = [r for r in results if "sensitivity_n" in r]
    if not rs:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for r in rs:
        s = r["sensitivity_n"]
        y = [np.nan if v is None else v for v in s["correlation"]]
        ax.plot(s["ratios"], y, "-o", ms=3, label=label(r))
    ax.set_xlabel("fraction n of pixels removed")
    ax.set_ylabel("Pearson correlation (mean over images)")
    ax.set_title("Sensitivity-n")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tradeoff_axes(results):
    """(x name, x key path, y name, y key path): the best pair the run measured."""
    xs = [("local Lipschitz estimate (lower = more robust)", ("lipschitz", "mean"), "lipschitz"),
          ("max-sensitivity (lower = more robust)", ("max_sensitivity", "mean"), "max_sensitivity")]
    ys = [("faithfulness (Pearson)", ("faithfulness", "pearson"), "faithfulness_pearson"),
          ("DiffID Diff accuracy", ("diffid", "mean", "diff_acc"), "diffid_diff_acc")]

    def get(r, keys):
        v = r
        for k in keys:
            if not isinstance(v, dict) or k not in v:
                return None
            v = v[k]
        return v
    def err(r, v, field):
        c = r.get("ci", {}).get(field) or {}
        return err_of(v, c.get("lo"), c.get("hi"))
    for xn, xk, xf in xs:
        for yn, yk, yf in ys:
            pts = [(get(r, xk), get(r, yk), label(r), err(r, get(r, xk), xf), err(r, get(r, yk), yf))
                   for r in results]
            pts = [p for p in pts if p[0] is not None and p[1] is not None]
            if pts:
                return xn, yn, pts
    return None


def fig_tradeoff(results, path):
    t = tradeoff_axes(results)
    if not t:
        return None
    xn, yn, pts = t
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for x, y, name, xe, ye in pts:
        ax.errorbar([x], [y], xerr=xe, yerr=ye, fmt="o", ms=5, capsize=2, lw=0.8)
        ax.annotate(name, (x, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    ax.set_title("Robustness vs faithfulness")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_paired(m, path):
    """a forest plot: every paired comparison of metrics.json, grouped by metric"""
    pairs = [p for p in m.get("paired", []) if p.get("mean_diff") is not None]
    if not pairs:
        return None
    metrics = list(dict.fromkeys(p["metric"] for p in pairs))
    cols = min(3, len(metrics))
    rows = (len(metrics) + cols - 1) // cols
    per = len(pairs) / len(metrics)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols + 2.2, rows * (0.3 * per + 1.3)), squeeze=False)
    for k, (ax, metric) in enumerate(zip(axes.flat, metrics)):
        ps = [p for p in pairs if p["metric"] == metric]
        ys = np.arange(len(ps))[::-1]
        for y, p in zip(ys, ps):
            e = err_of(p["mean_diff"], p["lo"], p["hi"]) or [[0], [0]]
            hi = p["hi"] if p["hi"] is not None else p["mean_diff"]
            color = "gray" if p["vs_method"] == "random" else EST_STYLE.get(p["estimator"], ("black",))[0]
            ax.errorbar([p["mean_diff"]], [y], xerr=e, fmt="o", ms=4, color=color, capsize=2)
            pv = p.get("p_value")
            ax.annotate("" if pv is None else f"p={pv:.2g}", (hi, y), fontsize=6, xytext=(3, -2),
                        textcoords="offset points")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(ys)
        vs = lambda p: "random" if p["vs_method"] == "random" else p["vs_estimator"]  # noqa: E731
        ax.set_yticklabels([f"{p['method']}/{p['estimator']} − {vs(p)}" for p in ps] if k % cols == 0 else [],
                           fontsize=7)
        ax.set_title(metric, fontsize=8)
        ax.grid(alpha=0.3, axis="x")
    for ax in axes.flat[len(metrics):]:
        ax.axis("off")
    level = m.get("statistics", {}).get("level", 0.95)
    fig.suptitle(f"Paired differences over the same images ({100 * level:.0f}% bootstrap CI, Wilcoxon p)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_heatmaps(run_dir, results, path):
    files = sorted(glob.glob(os.path.join(run_dir, "figures", "examples-*.npy")))
    if not files:
        return None
    ex = load_examples(files)[:6]  # n × (1 + slots) × C × H × W
    n, k = ex.shape[0], ex.shape[1]
    names = ["image"] + [label(r) for r in results][: k - 1]
    fig, axes = plt.subplots(n, k, figsize=(1.6 * k, 1.6 * n), squeeze=False)
    for i in range(n):
        img = np.clip(ex[i, 0], 0, 1)
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
        for j in range(k):
            ax = axes[i][j]
            ax.axis("off")
            if j == 0:
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
            else:
                sal = np.abs(ex[i, j]).sum(0)
                sal = sal / (sal.max() + 1e-12)
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, alpha=0.35)
                ax.imshow(sal, cmap="inferno", alpha=0.75, vmin=0, vmax=1)
            if i == 0:
                ax.set_title(names[j], fontsize=7)
    fig.suptitle("|attribution| summed over channels, per image max-normalized", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_road(results, path):
    rs = [r for r in results if "road" in r]
    if not rs:
        return None
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    for k, r in enumerate(rs):
        d, color = r["road"], f"C{k % 10}"
        ax.plot(d["ratios"], d["lerf_acc"], "-o", ms=3, color=color, label=f"{label(r)} (Diff {d['mean']['diff']:.3f})")
        ax.plot(d["ratios"], d["morf_acc"], "--s", ms=3, color=color)
        for key in ("lerf_acc", "morf_acc"):
            binomial_band(ax, d["ratios"], d[key], d["images"], color)
    ax.set_xlabel("fraction of pixels imputed")
    ax.set_ylabel("accuracy")
    ax.set_title("ROAD: LeRF (solid), MoRF (dashed); bands: binomial 95%", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fig_roar(run_dir, path):
    """Diff-ROAR vs k from roar.json (written by a run with metrics.roar)."""
    rp = os.path.join(run_dir, "roar.json")
    if not os.path.exists(rp):
        return None
    res = load_json(rp, ROAR_SHAPE)["results"]
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for r in res:
        ax.plot(r["roar"]["fractions"], r["roar"]["diff_roar"], "-o", ms=3, label=label(r))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("fraction k of pixels kept")
    ax.set_ylabel("top-k acc − bottom-k acc")
    ax.set_title("Diff-ROAR (higher is better)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def fmt(v):
    return "–" if v is None else f"{v:.4g}"


def fmt_ci(r, field, v):
    """the value with its interval when the run has one"""
    c = r.get("ci", {}).get(field)
    if v is None or not c or c.get("lo") is None:
        return fmt(v)
    return f"{v:.4g} [{c['lo']:.3g}, {c['hi']:.3g}]"


def paired_html(m):
    pairs = m.get("paired", [])
    if not pairs:
        return ""
    level = m.get("statistics", {}).get("level", 0.95)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in [
        p["metric"], f"{p['method']}/{p['estimator']}",
        "random" if p["vs_method"] == "random" else f"{p['vs_method']}/{p['vs_estimator']}", p["images"],
        fmt(p["mean_diff"]), f"[{fmt(p['lo'])}, {fmt(p['hi'])}]", fmt(p["p_value"]),
        fmt(p.get("p_holm"))]) + "</tr>" for p in pairs)
    head = "".join(f"<th>{h}</th>" for h in ["metric", "a", "b", "images", "mean(a − b)",
                                             f"{100 * level:.0f}% CI", "Wilcoxon p", "Holm p (per metric)"])
    return f"<h2>Paired comparisons</h2><table><tr>{head}</tr>{rows}</table>"


def tables_html(m):
    rows = []
    for r in m["results"]:
        d = r.get("diffid", {}).get("mean", {})
        sn = r.get("sensitivity_n", {}).get("correlation")
        sn = [v for v in (sn or []) if v is not None]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in [
            r["method"], r["estimator"], fmt_ci(r, "diffid_diff_acc", d.get("diff_acc")),
            fmt_ci(r, "diffid_diff_logit", d.get("diff_logit")),
            fmt(sum(sn) / len(sn) if sn else None), fmt_ci(r, "lipschitz", r.get("lipschitz", {}).get("mean")),
            fmt_ci(r, "max_sensitivity", r.get("max_sensitivity", {}).get("mean")),
            fmt_ci(r, "infidelity", r.get("infidelity", {}).get("mean")),
            fmt_ci(r, "faithfulness_pearson", r.get("faithfulness", {}).get("pearson")),
            fmt_ci(r, "faithfulness_spearman", r.get("faithfulness", {}).get("spearman"))]) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ["method", "estimator", "Diff acc", "Diff logit", "sens-n corr",
                                             "Lipschitz", "max-sens", "infidelity", "faith Pearson",
                                             "faith Spearman"])
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


# ---- reading the run's files and failing with one line ----------------------
# A run cut while writing (a full disk, a kill), an edited file or a run
# directory that cannot be written ended in a Python traceback that did not
# name the file (issue #35): every failure is one `recal report: ` line that
# names the file and says what to do, exit 1.

RESUME = "the same `recal run CONFIG ... --run-dir {d} --resume` rewrites it from the run's journal"


class ReportError(Exception):
    """a failure the user can fix; str() is the line after 'recal report: '"""


# What the report reads of metrics.json, so that a file of another shape is
# refused up front, by key, rather than deep in a figure: key -> kind; a key
# ending in "?" may be absent, a kind ending in "?" may be null, [kind] is a
# list of it, {"*": kind} an object of any keys.
RESULT_SHAPE = {
    "method": "string", "estimator": "string",
    "diffid?": {"ratios": ["number"], "insertion_acc": ["number"], "deletion_acc": ["number"],
                "mean": {"diff_acc": "number", "diff_logit?": "number?"}},
    "sensitivity_n?": {"ratios": ["number"], "correlation": ["number?"]},
    "road?": {"ratios": ["number"], "morf_acc": ["number"], "lerf_acc": ["number"], "images": "number",
              "mean": {"diff": "number"}},
    "lipschitz?": {"mean?": "number?"}, "max_sensitivity?": {"mean?": "number?"},
    "infidelity?": {"mean?": "number?"}, "faithfulness?": {"pearson?": "number?", "spearman?": "number?"},
    "ci?": {"*": {"lo": "number?", "hi": "number?"}},
}
PAIR_SHAPE = {"metric": "string", "method": "string", "estimator": "string", "vs_method": "string",
              "vs_estimator": "string", "images": "number", "mean_diff": "number?", "lo": "number?",
              "hi": "number?", "p_value": "number?", "p_holm?": "number?"}
METRICS_SHAPE = {
    "run_id": "string", "images": "number", "ranks": "number", "accuracy": "number", "device": "string",
    "model": "string", "wall_seconds": "number", "config_sha256": "string",
    "dataset": {"name": "string", "split": "string"}, "results": [RESULT_SHAPE],
    "statistics?": {"level?": "number"}, "paired?": [PAIR_SHAPE],
}
ROAR_SHAPE = {"results": [{"method": "string", "estimator": "string",
                           "roar": {"fractions": ["number"], "diff_roar": ["number"]}}]}
# curves drawn against their ratios: one value per ratio
SAME_LENGTH = {"diffid": ("ratios", "insertion_acc", "deletion_acc"), "sensitivity_n": ("ratios", "correlation"),
               "road": ("ratios", "morf_acc", "lerf_acc")}


def json_kind(v):
    """v's JSON type, as a message names it"""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    names = {str: "a string", dict: "an object", list: "a list", int: "a number", float: "a number"}
    return names.get(type(v), type(v).__name__)


def shape_error(where, want, v):
    """None when v is of kind want (a shape as in METRICS_SHAPE), else the reason"""
    if isinstance(want, str):
        nullable, want = want.endswith("?"), want.rstrip("?")
        if v is None and nullable:
            return None
        ok = json_kind(v) == ("a number" if want == "number" else "a string")
        return None if ok else f"key {where} should be a {want}, got {json_kind(v)}"
    if isinstance(want, list):
        if not isinstance(v, list):
            return f"key {where} should be a list, got {json_kind(v)}"
        return next((e for e in (shape_error(f"{where}[{i}]", want[0], x) for i, x in enumerate(v)) if e), None)
    if not isinstance(v, dict):
        return f"key {where} should be an object, got {json_kind(v)}"
    return object_error(where, want, v)


def object_error(where, want, v):
    pre = f"{where}." if where else ""
    for key, kind in want.items():
        name = key.rstrip("?")
        keys = list(v) if name == "*" else [name]
        if name != "*" and name not in v:
            if key.endswith("?"):
                continue
            return f"key {pre}{name} is missing"
        e = next((e for e in (shape_error(pre + k, kind, v[k]) for k in keys) if e), None)
        if e:
            return e
    return length_error(pre, want, v)


def length_error(pre, want, v):
    """a curve with more or fewer values than ratios (matplotlib's error named no key)"""
    for sec, (ref, *keys) in SAME_LENGTH.items():
        d = v.get(sec) if sec + "?" in want else None
        bad = [k for k in keys if d and len(d[k]) != len(d[ref])]
        if bad:
            return f"key {pre}{sec}.{bad[0]} has {len(d[bad[0]])} values for {len(d[ref])} {sec}.{ref}"
    return None


def line_col(raw, pos):
    """1-based line and column of byte pos, as JSONDecodeError gives them"""
    return raw.count(b"\n", 0, pos) + 1, pos - (raw.rfind(b"\n", 0, pos) + 1) + 1


def parse_json(path, raw):
    """the JSON value of a file's bytes; a ReportError naming line:col"""
    d = os.path.dirname(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line, col = line_col(raw, e.start)
        raise ReportError(f"{path}:{line}:{col}: not JSON: byte 0x{raw[e.start]:02x} is not UTF-8 text "
                          f"(a damaged file? {RESUME.format(d=d)})") from e
    if not text.strip():
        raise ReportError(f"{path}: the file is empty (the run was cut while writing it? {RESUME.format(d=d)})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        cut = e.pos >= len(text.rstrip())
        what = "the JSON ends early: half-written" if cut else f"not JSON: {e.msg}"
        raise ReportError(f"{path}:{e.lineno}:{e.colno}: {what} (the run was cut while writing it? "
                          f"{RESUME.format(d=d)})") from e


def load_json(path, shape):
    """a run's JSON file, checked against shape"""
    path = os.path.abspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ReportError(f"{path}: cannot read: {e.strerror} (fix its permissions, or check the path)") from e
    v = parse_json(path, raw)
    if not isinstance(v, dict):
        err = f"holds {json_kind(v)}, not an object"
    else:
        err = object_error("", shape, v)
    if err:
        raise ReportError(f"{path}: {err}: not the {os.path.basename(path)} of a recal run (edited, or from another "
                          f"version of recal? {RESUME.format(d=os.path.dirname(path))})")
    return v


def missing_metrics(run_dir, mpath):
    """why RUN_DIR has no metrics.json, and what to do"""
    run_dir = os.path.abspath(run_dir)
    if not os.path.exists(run_dir):
        why = f"{run_dir} does not exist (check the path)"
    elif not os.path.isdir(run_dir):
        why = f"{run_dir} is a file, not a run directory (pass the directory of a run)"
    elif os.path.exists(os.path.join(run_dir, "journal")):
        why = (f"the run in {run_dir} has not finished (finish it with the same "
               f"`recal run CONFIG ... --run-dir {run_dir} --resume`)")
    else:
        why = f"{run_dir} is not the directory of a finished recal run (check the path)"
    return ReportError(f"{mpath}: no such file: {why}")


def load_examples(files):
    """the example maps the run kept: n × (1 + slots) × C × H × W per file"""
    parts = []
    for f in files:
        try:
            a = np.load(f)
        except (OSError, ValueError, EOFError) as e:
            raise ReportError(f"{os.path.abspath(f)}: cannot read the example maps: {one_line(e)} "
                              f"(remove the file to make the report without heatmaps)") from e
        want = "images × (1 + slots) × C × H × W" if not parts else f"? × {' × '.join(map(str, parts[0].shape[1:]))}"
        if a.ndim != 5 or a.shape[1] < 1 or (parts and a.shape[1:] != parts[0].shape[1:]):
            raise ReportError(f"{os.path.abspath(f)}: example maps of shape {' × '.join(map(str, a.shape))}, not "
                              f"{want} (remove the file to make the report without heatmaps)")
        parts.append(a)
    return np.concatenate(parts)


def one_line(e):
    """an exception as one line of at most 300 characters"""
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg[:300]}{'…' if len(msg) > 300 else ''}"


# what to do when writing the report failed with an errno; otherwise WRITABLE
IN_THE_WAY = {errno.EEXIST: "something that is not a directory is in the way: move it",
              errno.ENOTDIR: "a file is in the way of a directory: move it",
              errno.EISDIR: "a directory is in the way of a file: move it",
              errno.ENOSPC: "free disk space", errno.EDQUOT: "free disk space (quota)"}
WRITABLE = "make them writable (fix the permissions), or copy the run directory somewhere writable and report the copy"


def write_error(e, run_dir, mpath):
    """an OSError while writing the report, as the user's to fix"""
    path = os.path.abspath(e.filename) if e.filename else os.path.abspath(run_dir)
    d = os.path.abspath(run_dir)
    return ReportError(f"cannot write {path}: {e.strerror} (the report of {mpath} is written into {d} and "
                       f"{os.path.join(d, 'figures')}: {IN_THE_WAY.get(e.errno, WRITABLE)})")


def make_figures(run_dir, m, fdir):
    res = m["results"]
    figs = [fig_diffid_curves(res, os.path.join(fdir, "diffid_curves.png"), m["images"]),
            fig_diffid_bars(res, os.path.join(fdir, "diffid_bars.png"), m.get("statistics", {}).get("level", 0.95)),
            fig_paired(m, os.path.join(fdir, "paired.png")),
            fig_sensn(res, os.path.join(fdir, "sensitivity_n.png")),
            fig_tradeoff(res, os.path.join(fdir, "tradeoff.png")),
            fig_heatmaps(run_dir, res, os.path.join(fdir, "heatmaps.png")),
            fig_road(res, os.path.join(fdir, "road.png")),
            fig_roar(run_dir, os.path.join(fdir, "diff_roar.png"))]
    return [f for f in figs if f]


def page_html(m, figs):
    imgs = "".join(f'<h2>{os.path.basename(f)[:-4].replace("_", " ")}</h2><img src="figures/{os.path.basename(f)}">'
                   for f in figs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>recal report {html.escape(m['run_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}img{{max-width:100%}}</style></head><body>
<h1>recal run {html.escape(m['run_id'])}</h1>
<p>{m['images']} images of {html.escape(m['dataset']['name'])}/{html.escape(m['dataset']['split'])},
model {html.escape(m['model'])}, clean accuracy {m['accuracy']:.4f}, {m['ranks']} rank(s) on {html.escape(m['device'])},
{m['wall_seconds']:.1f} s. Config sha256 {m['config_sha256'][:16]}….</p>
{tables_html(m)}{paired_html(m)}{imgs}</body></html>"""


def write_page(run_dir, page):
    """report.html, whole or not at all (a failed write leaves no .tmp behind)"""
    tmp = os.path.join(run_dir, "report.html.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(page)
        os.replace(tmp, os.path.join(run_dir, "report.html"))
    except BaseException:
        if os.path.isfile(tmp):
            os.unlink(tmp)
        raise


def report(run_dir, mpath):
    if not os.path.exists(mpath):
        raise missing_metrics(run_dir, mpath)
    m = load_json(mpath, METRICS_SHAPE)
    fdir = os.path.join(run_dir, "figures")
    try:
        os.makedirs(fdir, exist_ok=True)
        figs = make_figures(run_dir, m, fdir)
        write_page(run_dir, page_html(m, figs))
    except OSError as e:
        raise write_error(e, run_dir, mpath) from e
    print(f"wrote {os.path.join(run_dir, 'report.html')} and {len(figs)} figure(s) in {fdir}")


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) == 2 else 1)
    run_dir = sys.argv[1]
    mpath = os.path.abspath(os.path.join(run_dir, "metrics.json"))
    try:
        report(run_dir, mpath)
    except Exception as e:  # noqa: BLE001 -- one line instead of a traceback, whatever failed
        if os.environ.get("RECAL_DEBUG") == "1":
            raise
        if isinstance(e, ReportError):
            sys.stderr.write(f"recal report: {e}\n")
        else:
            sys.stderr.write(f"recal report: {mpath}: {one_line(e)} while making the report (a bug in "
                             f"tools/report.py: please report this with the file; RECAL_DEBUG=1 shows where)\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
