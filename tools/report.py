#!/usr/bin/python3
"""recal report: figures and report.html for a run directory.

Reads RUN_DIR/metrics.json (and RUN_DIR/figures/examples-*.npy when the run
kept example maps, outputs.figures) and writes, into RUN_DIR/figures/:
  diffid_curves.png     insertion and deletion accuracy vs ratio, one row
                        per method, its estimators overlaid (vanilla vs
                        re-calibrated) and the random control
  diffid_bars.png       Diff (insertion - deletion) per method and estimator,
                        with its bootstrap interval (statistics:)
  paired.png            each estimator minus vanilla and each method minus
                        random, per metric: mean difference, interval, p
  sensitivity_n.png     sensitivity-n correlation vs ratio (when measured)
  tradeoff.png          robustness vs faithfulness, one point per method and
                        estimator (the ICML 2023 paper's trade-off)
  heatmaps.png          example images (figures/examples-*.npy and their ids in
                        examples-*.txt; rows labelled from images.csv) with
                        every method's map: |A| or signed (outputs.heatmap);
                        heatmaps.csv lists the rows shown
  diff_roar.png         Diff-ROAR vs k, when the run had metrics.roar (roar.json)
  road.png              ROAD: MoRF (dashed) and LeRF (solid) accuracy vs ratio
and RUN_DIR/report.html showing them with the tables, each under a title in
words and a caption (what it shows, how to read it, which way is better).
The figures themselves are drawn by tools/report_figures.py.

usage: report.py RUN_DIR    (normally called by `recal report` / `recal run`)
Needs Debian's python3-matplotlib and python3-numpy."""
import errno
import glob
import html
import json
import os
import re
import stat
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # report_figures.py beside this file
try:
    import matplotlib
    matplotlib.use("Agg")
except ImportError:
    sys.stderr.write("recal report: matplotlib is not installed (apt-get install python3-matplotlib)\n")
    sys.exit(1)

from report_figures import (PAGE_PX, fig_diffid_bars, fig_diffid_curves, fig_heatmaps, fig_paired,  # noqa: E402
                            fig_road, fig_roar, fig_sensn, fig_tradeoff, p_text, read_images_csv)


def fmt(v):
    return "–" if v is None else f"{v:.4g}"


def fmt_ci(r, field, v):
    """the value with its interval under it when the run has one (HTML): on
    one line the table was wider than the page and wrapped mid-interval"""
    c = r.get("ci", {}).get(field)
    if v is None or not c or c.get("lo") is None:
        return html.escape(fmt(v))
    return f"{v:.4g}<br><small>[{c['lo']:.3g}, {c['hi']:.3g}]</small>"


def paired_html(m):
    pairs = m.get("paired", [])
    if not pairs:
        return ""
    level = m.get("statistics", {}).get("level", 0.95)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in [
        p["metric"], f"{p['method']}/{p['estimator']}",
        "random" if p["vs_method"] == "random" else f"{p['vs_method']}/{p['vs_estimator']}", p["images"],
        fmt(p["mean_diff"]), f"[{fmt(p['lo'])}, {fmt(p['hi'])}]", p_text(p["p_value"]),
        p_text(p.get("p_holm"))]) + "</tr>" for p in pairs)
    head = "".join(f"<th>{h}</th>" for h in ["metric", "a", "b", "images", "mean(a − b)",
                                             f"{100 * level:.0f}% CI", "Wilcoxon p", "Holm p (per metric)"])
    return (f"<h2>Paired comparisons</h2><p>a − b over the same images; for each metric the direction that is "
            f"better is the one in the table above (the figure below draws them). p &lt;1e-300: below double "
            f"precision.</p><details{' open' if len(pairs) <= 12 else ''}><summary>the {len(pairs)} comparisons as a table</summary>"
            f"<table><tr>{head}</tr>{rows}</table></details>")


def tables_html(m):
    rows = []
    for r in m["results"]:
        d = r.get("diffid", {}).get("mean", {})
        sn = r.get("sensitivity_n", {}).get("correlation")
        sn = [v for v in (sn or []) if v is not None]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in [
            html.escape(r["method"]), html.escape(r["estimator"]), fmt_ci(r, "diffid_diff_acc", d.get("diff_acc")),
            fmt_ci(r, "diffid_diff_logit", d.get("diff_logit")),
            html.escape(fmt(sum(sn) / len(sn) if sn else None)), fmt_ci(r, "lipschitz", r.get("lipschitz", {}).get("mean")),
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
    "outputs?": {"heatmap?": "string", "examples?": ["number"]},
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
        # the file ends inside a value: nothing left where the parser
        # stopped, a string never closed (its error names where the string
        # began), or the start of a number or literal (`0.`, `tr`)
        rest = text[e.pos:].rstrip()
        cut = (not rest or e.msg.startswith("Unterminated string")
               or re.fullmatch(r"[0-9.eE+-]+|t(r(ue?)?)?|f(a(l(se?)?)?)?|n(u(ll?)?)?", rest) is not None)
        what = "the JSON ends early: half-written" if cut else f"not JSON: {e.msg}"
        raise ReportError(f"{path}:{e.lineno}:{e.colno}: {what} (the run was cut while writing it? "
                          f"{RESUME.format(d=d)})") from e


def load_json(path, shape):
    """a run's JSON file, checked against shape"""
    path = os.path.abspath(path)
    try:
        # O_NONBLOCK, then regular only: a FIFO's open() waited for a writer forever
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ReportError(f"{path}: not a regular file (a FIFO, device or directory): not the "
                              f"{os.path.basename(path)} of a recal run")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb") as f:
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


def examples_of(run_dir):
    """the example maps the run kept and their image ids: figures/examples-
    <first>.npy and .txt (a run of an older recal has no .txt: its rows were
    the images first, first+1, ...)"""
    files = sorted(glob.glob(os.path.join(run_dir, "figures", "examples-*.npy")))
    if not files:
        return None, []
    ex, ids = load_examples(files), []
    for f in files:
        n = np.load(f, mmap_mode="r").shape[0]
        txt = f[:-4] + ".txt"
        try:
            with open(txt) as t:
                got = [int(x) for x in t.read().split()]
        except OSError:
            got = list(range(int(os.path.basename(f)[9:-4]), int(os.path.basename(f)[9:-4]) + n))
        except ValueError as e:
            raise ReportError(f"{os.path.abspath(txt)}: not a list of image ids ({one_line(e)}): remove it and "
                              f"{os.path.basename(f)} to make the report without heatmaps") from e
        if len(got) != n:
            raise ReportError(f"{os.path.abspath(txt)}: {len(got)} image ids for the {n} maps of "
                              f"{os.path.basename(f)}: remove both to make the report without heatmaps")
        ids += got
    return ex, ids


def make_figures(run_dir, m, fdir):
    """(figure path, section key) of each figure the run has data for"""
    res = m["results"]
    ex, ids = examples_of(run_dir)
    rp = os.path.join(run_dir, "roar.json")
    roar = load_json(rp, ROAR_SHAPE)["results"] if os.path.exists(rp) else None
    p = lambda name: os.path.join(fdir, name + ".png")  # noqa: E731
    figs = [(fig_diffid_curves(res, p("diffid_curves"), m["images"]), "diffid_curves"),
            (fig_diffid_bars(res, p("diffid_bars")), "diffid_bars"),
            (fig_paired(m, p("paired")), "paired"),
            (fig_sensn(res, p("sensitivity_n")), "sensitivity_n"),
            (fig_tradeoff(res, p("tradeoff")), "tradeoff"),
            (fig_heatmaps(m, ex, ids, read_images_csv(run_dir), p("heatmaps"), os.path.join(fdir, "heatmaps.csv"))
             if ex is not None else None, "heatmaps"),
            (fig_road(res, p("road")), "road"),
            (fig_roar(roar, p("diff_roar")) if roar else None, "diff_roar")]
    return [(f, k) for f, k in figs if f]


# Each figure's section title and caption: what it shows, how to read it,
# which way is better (the user read file names and guessed).
def captions(m):
    level = 100 * m.get("statistics", {}).get("level", 0.95)
    signed = m.get("outputs", {}).get("heatmap") == "signed"
    chosen = ("the images listed in outputs.examples, in that order" if m.get("outputs", {}).get("examples") else
              "the first image of each class, by label (outputs.examples picks others)")
    return {
        "diffid_curves": ("DiffID: accuracy as pixels are inserted or deleted",
                          "One row per method. Left: <b>insertion</b> — the model's accuracy once the fraction ρ of "
                          "the image's least salient elements is removed (filled with the kept mean), so the most "
                          "important ones stay: <b>higher is better</b>. Right: <b>deletion</b> — the accuracy once "
                          "the ρ most salient elements are removed: <b>lower is better</b>. "
                          "Each estimator has its own colour, line style and marker; the grey dotted line is the "
                          "random control. Bands: binomial 95% interval of each accuracy."),
        "diffid_bars": ("DiffID: Diff per method and estimator",
                        f"Diff = insertion − deletion accuracy, averaged over the ratios. <b>Higher is better</b>; "
                        f"the random control sits near 0. Error bars: {level:.0f}% bootstrap interval over the "
                        f"images."),
        "paired": ("Paired differences over the same images",
                   f"One panel per metric; each row is a − b (an estimator minus vanilla, or a method minus random) "
                   f"averaged over the same images, with its {level:.0f}% bootstrap interval. A bar clear of the "
                   f"vertical line at 0 is a difference the images support; the panel title says which side is "
                   f"better (higher Diff and faithfulness are better, lower Lipschitz, max-sensitivity and "
                   f"infidelity are better). p: Wilcoxon signed-rank, as in the table (&lt;1e-300: below double "
                   f"precision)."),
        "sensitivity_n": ("Sensitivity-n: do the attributions add up to the output change?",
                          "Pearson correlation between the sum of the attributions of n removed pixels and the drop "
                          "of the model's output, for growing n. <b>Higher is better</b> (1: the attributions "
                          "predict every removal)."),
        "tradeoff": ("Robustness vs faithfulness",
                     "Each point is a method/estimator (legend), with its bootstrap intervals. Left is more robust "
                     "(<b>lower</b> Lipschitz / max-sensitivity is better), up is more faithful (<b>higher</b> is "
                     "better): the best methods are in the top left."),
        "heatmaps": ("Example attribution maps",
                     f"Rows: {chosen}, labelled with the image id, its label and the model's prediction (✗: "
                     f"misclassified). Columns: the image, then each method/estimator's map over it. " +
                     ("<b>Signed</b> maps (outputs.heatmap: signed): red pixels raise the target's score, blue "
                      "ones lower it, white is 0; each map is divided by its own max |A|." if signed else
                      "<b>|A|</b>, summed over channels (outputs.heatmap: abs; signed shows the sign): bright is "
                      "important; each map is divided by its own maximum.") +
                     " There is no score here: compare where the maps put their weight, not their scale; a better "
                     "map sits on the parts of the object its class depends on (the scores above measure that)."),
        "road": ("ROAD: accuracy as pixels are imputed",
                 "Solid: LeRF (least relevant first: higher is better), dashed: MoRF (most relevant first: lower is "
                 "better). Diff = LeRF − MoRF in the legend: <b>higher is better</b>. Bands: binomial 95%."),
        "diff_roar": ("Diff-ROAR: retrained on the kept pixels",
                      "Accuracy of a model fine-tuned on the top-k pixels minus that on the bottom-k pixels, for each "
                      "fraction k kept. <b>Higher is better</b>."),
    }


def figures_html(m, figs):
    caps = captions(m)
    out = []
    for f, key in figs:
        title, cap = caps[key]
        name = os.path.basename(f)
        out.append(f'<h2 id="{key}">{html.escape(title)}</h2><figure><img src="figures/{name}" alt="{html.escape(title)}">'
                   f"<figcaption>{cap} <span class=file>({name})</span></figcaption></figure>")
    return "".join(out)


def page_html(m, figs):
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>recal report {html.escape(m['run_id'])}</title>
<style>body{{font-family:sans-serif;margin:2em auto;max-width:{PAGE_PX}px;padding:0 1em;line-height:1.4}}
table{{border-collapse:collapse;font-size:14px;margin-bottom:1em}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}figure{{margin:0 0 2.5em 0}}
img{{max-width:100%;height:auto;display:block}}figcaption{{font-size:15px;color:#333;margin-top:.4em}}
.file{{color:#888;font-size:13px}}small{{color:#555}}summary{{cursor:pointer;margin-bottom:.5em}}</style></head><body>
<h1>recal run {html.escape(m['run_id'])}</h1>
<p>{m['images']} images of {html.escape(m['dataset']['name'])}/{html.escape(m['dataset']['split'])},
model {html.escape(m['model'])}, clean accuracy {m['accuracy']:.4f}, {m['ranks']} rank(s) on {html.escape(m['device'])},
{m['wall_seconds']:.1f} s. Config sha256 {m['config_sha256'][:16]}….</p>
<h2>Scores per method and estimator</h2>
<p>Diff (DiffID, ROAD), sensitivity-n and faithfulness: <b>higher is better</b>; Lipschitz, max-sensitivity and
infidelity: <b>lower is better</b>. Brackets: bootstrap interval.</p>
{tables_html(m)}{paired_html(m)}{figures_html(m, figs)}</body></html>"""


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
