"""recal report's figures (matplotlib), one function per PNG; tools/report.py
reads the run and writes the page.

Legibility rule: report.html shows a figure at most PAGE_PX wide, and a figure
is drawn FIG_W inches wide at DPI, so it is shown at its own size (1 pt =
DPI/72 px) and no text is under MIN_PT (about 12 px). Labels that could collide
(points of the trade-off plot, p values) go into legends or reserved space,
not next to the data."""
import csv
import os

import numpy as np

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import transforms  # noqa: E402

DPI = 100
PAGE_PX = 1000           # report.html's figure width (CSS max-width of the figures)
FIG_W = PAGE_PX / DPI    # inches: a figure is shown at 1:1
MIN_PT = 9               # 9 pt at 100 dpi = 12.5 px
plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": MIN_PT + 1,
                     "ytick.labelsize": MIN_PT + 1, "legend.fontsize": MIN_PT + 1, "figure.titlesize": 12})

# each estimator a colour, a line style and a marker, so that overlapping
# curves and bands stay apart in print and for colour-blind readers
EST_STYLE = {"vanilla": ("#0072B2", "-", "o"), "valid_ref": ("#D55E00", "--", "s"),
             "valid_ip": ("#009E73", "-.", "^"), "idgi": ("#CC79A7", ":", "D")}
OTHER_STYLES = [("#E69F00", (0, (5, 1)), "v"), ("#56B4E9", (0, (1, 1)), "P"), ("#000000", (0, (3, 1, 1, 1)), "X")]
RANDOM_STYLE = ("#7f7f7f", ":", "x")

# what each paired metric is, and which side of 0 is better for a − b
METRIC_WORDS = {
    "diffid_diff_acc": ("DiffID Diff (accuracy)", "higher"), "diffid_diff_logit": ("DiffID Diff (logit)", "higher"),
    "sensitivity_n_correlation": ("sensitivity-n correlation", "higher"),
    "lipschitz": ("local Lipschitz estimate", "lower"), "max_sensitivity": ("max-sensitivity", "lower"),
    "infidelity": ("infidelity", "lower"), "faithfulness_pearson": ("faithfulness (Pearson)", "higher"),
    "faithfulness_spearman": ("faithfulness (Spearman)", "higher"),
    "faithfulness_inv_distance": ("faithfulness (inverse distance)", "higher"),
    "faithfulness_correlation": ("faithfulness correlation", "higher"),
    "faithfulness_estimate": ("faithfulness estimate", "higher"), "road_diff": ("ROAD Diff", "higher"),
    "pointing_game_hit": ("pointing game hit", "higher"), "pointing_game_energy": ("pointing game energy", "higher")}

CLASS_NAMES = {
    "fashion-mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                      "Ankle boot"],
    "mnist": [str(k) for k in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
HEATMAP_ROWS = 16  # outputs.examples holds at most 16 ids (JOB_MAX_EXAMPLES)


def label(r):
    return r["method"] if r["method"] == "random" else f"{r['method']}/{r['estimator']}"


def style_of(r, k=0):
    """(colour, line style, marker) of a result"""
    if r["method"] == "random":
        return RANDOM_STYLE
    return EST_STYLE.get(r["estimator"], OTHER_STYLES[k % len(OTHER_STYLES)])


def series_styles(rs):
    """a style per result, distinct even when several methods share an estimator:
    the first method keeps its estimator's style, later ones cycle the others"""
    seen, out = set(), []
    k = 0
    for r in rs:
        s = style_of(r)
        if r["method"] != "random" and s in seen:
            s = OTHER_STYLES[k % len(OTHER_STYLES)]
            k += 1
        seen.add(s)
        out.append(s)
    return out


def p_text(p):
    """a p value as the tables print it: SciPy's 0 is below double's range"""
    if p is None:
        return "–"
    return "<1e-300" if p == 0 else f"{p:.3g}"


def p_label(p):
    """'p=0.031', 'p<1e-300'"""
    t = p_text(p)
    return "p" + ("" if t.startswith("<") else "=") + t


def save(fig, path):
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def binomial_band(ax, ratios, acc, images, color):
    """An accuracy at one ratio is a proportion over the images: its binomial
    (Wald) 95% band (the bootstrap intervals are on the bars)."""
    p = np.array(acc, dtype=float)
    half = 1.96 * np.sqrt(np.clip(p * (1 - p), 0, None) / max(images, 1))
    ax.fill_between(ratios, p - half, p + half, color=color, alpha=0.18, lw=0)


def by_method(results):
    out = {}
    for r in results:
        out.setdefault(r["method"], []).append(r)
    return out


def fig_diffid_curves(results, path, images):
    """one row per method: insertion (left) and deletion (right), its
    estimators overlaid, the random control in grey in every row"""
    rs = [r for r in results if "diffid" in r]
    groups = by_method([r for r in rs if r["method"] != "random"]) or by_method(rs)
    rand = [r for r in rs if r["method"] == "random"]
    if not groups:
        return None
    n = len(groups)
    fig, axes = plt.subplots(n, 2, figsize=(FIG_W, 3.4 * n + 0.9), squeeze=False, sharex=True, sharey=True)
    for row, (method, mrs) in zip(axes, groups.items()):
        extra = [r for r in rand if r not in mrs]
        for ax, key, what in ((row[0], "insertion_acc", "insertion\n(least salient removed first: higher is better)"),
                              (row[1], "deletion_acc", "deletion\n(most salient removed first: lower is better)")):
            for r, (color, ls, mk) in zip(mrs + extra, series_styles(mrs + extra)):
                d = r["diffid"]
                ax.plot(d["ratios"], d[key], linestyle=ls, marker=mk, color=color, ms=5, lw=1.8, label=label(r))
                binomial_band(ax, d["ratios"], d[key], images, color)
            ax.set_title(f"{method}: {what}", fontsize=MIN_PT + 2)
            ax.grid(alpha=0.3)
        row[0].set_ylabel("accuracy")
        row[1].legend(loc="best", framealpha=0.9)
    for ax in axes[-1]:
        ax.set_xlabel("fraction ρ of the image's elements removed")
    fig.tight_layout()
    return save(fig, path)


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


def fig_diffid_bars(results, path):
    rs = [r for r in results if "diffid" in r]
    if not rs:
        return None
    fig, ax = plt.subplots(figsize=(FIG_W, 4.2))
    vals = [r["diffid"]["mean"]["diff_acc"] for r in rs]
    styles = series_styles(rs)
    err = ci_err(rs, "diffid_diff_acc", vals)
    bars = ax.bar(range(len(rs)), vals, color=[s[0] for s in styles], yerr=err, capsize=4, width=0.7)
    for k, (b, v) in enumerate(zip(bars, vals)):  # the value past the end of its interval
        end = v if err is None else (v + err[1][k] if v >= 0 else v - err[0][k])
        ax.annotate(f"{v:.3f}", (b.get_x() + b.get_width() / 2, end), xytext=(0, 4 if v >= 0 else -4),
                    textcoords="offset points", ha="center", va="bottom" if v >= 0 else "top", fontsize=MIN_PT + 1)
    ax.margins(y=0.15)
    ax.set_xticks(range(len(rs)))
    ax.set_xticklabels([r["method"] if r["method"] == "random" else f"{r['method']}\n{r['estimator']}" for r in rs])
    ax.set_ylabel("Diff = insertion − deletion acc.")
    ax.axhline(0, color="black", lw=0.8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return save(fig, path)


def fig_sensn(results, path):
    rs = [r for r in results if "sensitivity_n" in r]
    if not rs:
        return None
    fig, ax = plt.subplots(figsize=(FIG_W, 4.2))
    for r, (color, ls, mk) in zip(rs, series_styles(rs)):
        s = r["sensitivity_n"]
        y = [np.nan if v is None else v for v in s["correlation"]]
        ax.plot(s["ratios"], y, linestyle=ls, marker=mk, color=color, ms=5, lw=1.8, label=label(r))
    ax.set_xlabel("fraction n of pixels removed")
    ax.set_ylabel("Pearson correlation\n(mean over images)")
    ax.axhline(0, color="black", lw=0.8)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save(fig, path)


def tradeoff_axes(results):
    """(x name, y name, points): the best pair the run measured."""
    xs = [("local Lipschitz estimate (lower = more robust)", ("lipschitz", "mean"), "lipschitz"),
          ("max-sensitivity (lower = more robust)", ("max_sensitivity", "mean"), "max_sensitivity")]
    ys = [("faithfulness, Pearson (higher = more faithful)", ("faithfulness", "pearson"), "faithfulness_pearson"),
          ("DiffID Diff accuracy (higher = more faithful)", ("diffid", "mean", "diff_acc"), "diffid_diff_acc")]

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
            pts = [(get(r, xk), get(r, yk), r, err(r, get(r, xk), xf), err(r, get(r, yk), yf)) for r in results]
            pts = [p for p in pts if p[0] is not None and p[1] is not None]
            if pts:
                return xn, yn, pts
    return None


def fig_tradeoff(results, path):
    """points named in a legend (colour + marker), not by labels beside them:
    methods close in both metrics put their labels on top of each other"""
    t = tradeoff_axes(results)
    if not t:
        return None
    xn, yn, pts = t
    fig, ax = plt.subplots(figsize=(FIG_W, 4.8))
    for (x, y, r, xe, ye), (color, _, mk) in zip(pts, series_styles([p[2] for p in pts])):
        ax.errorbar([x], [y], xerr=xe, yerr=ye, fmt=mk, ms=9, color=color, capsize=3, lw=1.2, label=label(r),
                    markeredgecolor="black", markeredgewidth=0.6)
    ax.set_xlabel(xn)
    ax.set_ylabel(yn)
    ax.grid(alpha=0.3)
    ax.text(0.01, 0.99, "better: up and to the left", transform=ax.transAxes, ha="left", va="top",
            fontsize=MIN_PT + 1, style="italic", color="#444444")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title="method/estimator")
    fig.tight_layout()
    return save(fig, path)


def pair_name(p):
    vs = "random" if p["vs_method"] == "random" else p["vs_estimator"]
    return f"{p['method']}/{p['estimator']} − {vs}"


def paired_panel(ax, ps):
    """one metric's comparisons; the p values in a strip reserved at the
    panel's right, so that they cannot reach a bar or another panel"""
    ys = np.arange(len(ps))[::-1]
    lo = min([0] + [p["lo"] if p["lo"] is not None else p["mean_diff"] for p in ps])
    hi = max([0] + [p["hi"] if p["hi"] is not None else p["mean_diff"] for p in ps])
    span = (hi - lo) or 1.0
    for y, p in zip(ys, ps):
        e = err_of(p["mean_diff"], p["lo"], p["hi"]) or [[0], [0]]
        color = RANDOM_STYLE[0] if p["vs_method"] == "random" else EST_STYLE.get(p["estimator"], ("black",))[0]
        ax.errorbar([p["mean_diff"]], [y], xerr=e, fmt="o", ms=6, color=color, capsize=3, lw=1.5)
    ax.set_xlim(lo - 0.05 * span, hi + 0.45 * span)  # the right ~28%: the p strip
    strip = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    ax.axvspan(hi + 0.12 * span, hi + 0.45 * span, color="#f2f2f2", lw=0)
    for y, p in zip(ys, ps):
        ax.text(0.985, y, p_label(p.get("p_value")), transform=strip, ha="right", va="center", fontsize=MIN_PT + 1)
    ax.set_xticks([t for t in ax.get_xticks() if lo - 0.05 * span <= t <= hi + 0.1 * span])  # none in the strip
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([pair_name(p) for p in ps])
    ax.set_ylim(-0.7, len(ps) - 0.3)
    ax.grid(alpha=0.3, axis="x")


def fig_paired(m, path):
    """a forest plot, one panel row per metric: every paired comparison of
    metrics.json"""
    pairs = [p for p in m.get("paired", []) if p.get("mean_diff") is not None]
    if not pairs:
        return None
    metrics = list(dict.fromkeys(p["metric"] for p in pairs))
    heights = [0.42 * sum(p["metric"] == k for p in pairs) + 0.9 for k in metrics]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(FIG_W, sum(heights) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, metric in zip(axes[:, 0], metrics):
        paired_panel(ax, [p for p in pairs if p["metric"] == metric])
        words, better = METRIC_WORDS.get(metric, (metric, None))
        side = {"higher": "right of 0: a is better", "lower": "left of 0: a is better"}.get(better, "")
        ax.set_title(f"{words}: a − b" + (f"  ({side})" if side else ""), loc="left")
    fig.tight_layout()
    return save(fig, path)


def read_images_csv(run_dir):
    """image_id -> (label, prediction) from RUN_DIR/images.csv, {} without it"""
    out = {}
    try:
        with open(os.path.join(run_dir, "images.csv"), newline="") as f:
            for row in csv.DictReader(f):
                try:
                    out[int(row["image_id"])] = (int(row["label"]), int(row["prediction"]))
                except (KeyError, ValueError):
                    continue
    except OSError:
        pass
    return out


def pick_rows(ids, info, wanted):
    """the grid's rows, as indices into ids: outputs.examples in its order when
    given, else one image per class (by label) first, then the others by id"""
    if wanted:
        at = {i: k for k, i in enumerate(ids)}
        return [at[i] for i in wanted if i in at][:HEATMAP_ROWS]
    order = sorted(range(len(ids)), key=lambda k: ids[k])
    firsts, rest, seen = [], [], set()
    for k in order:
        lab = info.get(ids[k], (None,))[0]
        (rest if lab in seen else firsts).append(k)
        seen.add(lab)
    firsts.sort(key=lambda k: (info.get(ids[k], (1 << 30,))[0], ids[k]))
    return (firsts + rest)[:HEATMAP_ROWS]


def class_word(m, c):
    names = CLASS_NAMES.get(m["dataset"]["name"], [])
    return f"{c} {names[c]}" if 0 <= c < len(names) else str(c)


def row_label(m, i, info):
    lab, pred = info.get(i, (None, None))
    if lab is None:
        return f"image {i}"
    mark = "" if lab == pred else "  ✗"
    return f"image {i}\nlabel {class_word(m, lab)}\npred. {class_word(m, pred)}{mark}"


def heat_cell(ax, img, a, signed):
    """one map over its image, scaled by the map's own max |A|"""
    sal = a.sum(0) if signed else np.abs(a).sum(0)
    sal = sal / (np.abs(sal).max() + 1e-12)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, alpha=0.35)
    return ax.imshow(sal, cmap="RdBu_r" if signed else "inferno", alpha=0.8, vmin=-1 if signed else 0, vmax=1)


def fig_heatmaps(m, ex, ids, info, path, rows_csv):
    """rows: example images (id, label, prediction); columns: the image, then
    each method/estimator's map; one colour bar for all (each map scaled to
    its own maximum)"""
    signed = m.get("outputs", {}).get("heatmap") == "signed"
    rows = pick_rows(ids, info, m.get("outputs", {}).get("examples"))
    if not rows:
        return None
    k = ex.shape[1]
    names = ["image"] + [label(r).replace("/", "\n") for r in m["results"]][: k - 1]
    # square cells filling the width between the row labels and the colour
    # bar: the height follows, so no blank band is left above the grid
    left, right, wsp, hsp, top_in, bottom_in = 0.2, 0.88, 0.05, 0.08, 0.6, 0.1
    cell = min(1.5, (right - left) * FIG_W / (k + wsp * (k - 1)))
    height = len(rows) * cell + (len(rows) - 1) * hsp * cell + top_in + bottom_in
    fig, axes = plt.subplots(len(rows), k, figsize=(FIG_W, height), squeeze=False)
    im = None
    for ax_row, r in zip(axes, rows):
        img = np.clip(ex[r, 0], 0, 1)
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
        for j, ax in enumerate(ax_row):
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
            else:
                im = heat_cell(ax, img, ex[r, j], signed)
        ax_row[0].set_ylabel(row_label(m, ids[r], info), rotation=0, ha="right", va="center", fontsize=MIN_PT + 1)
    for j, ax in enumerate(axes[0]):
        ax.set_title(names[j], fontsize=MIN_PT + 1)
    fig.subplots_adjust(left=left, right=right, top=1 - top_in / height, bottom=bottom_in / height, wspace=wsp,
                        hspace=hsp)
    if im is not None:
        cax = fig.add_axes([0.9, 0.15, 0.018, 0.7])
        cb = fig.colorbar(im, cax=cax)
        cb.set_label("A / max |A| of the map" if signed else "|A| / max |A| of the map")
    with open(rows_csv, "w") as f:  # what the grid shows, for scripts and tests
        f.write("row,image_id,label,prediction,heatmap\n")
        for n, r in enumerate(rows):
            lab, pred = info.get(ids[r], ("", ""))
            f.write(f"{n},{ids[r]},{lab},{pred},{'signed' if signed else 'abs'}\n")
    return save(fig, path)


def fig_road(results, path):
    rs = [r for r in results if "road" in r]
    if not rs:
        return None
    fig, ax = plt.subplots(figsize=(FIG_W, 4.4))
    for r, (color, _, mk) in zip(rs, series_styles(rs)):
        d = r["road"]
        ax.plot(d["ratios"], d["lerf_acc"], "-", marker=mk, ms=5, color=color,
                label=f"{label(r)} (Diff {d['mean']['diff']:.3f})")
        ax.plot(d["ratios"], d["morf_acc"], "--", marker=mk, ms=5, color=color, mfc="white")
        for key in ("lerf_acc", "morf_acc"):
            binomial_band(ax, d["ratios"], d[key], d["images"], color)
    ax.set_xlabel("fraction of pixels imputed")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title="LeRF solid, MoRF dashed")
    fig.tight_layout()
    return save(fig, path)


def fig_roar(res, path):
    """Diff-ROAR vs k from roar.json's results"""
    fig, ax = plt.subplots(figsize=(FIG_W, 4.2))
    for r, (color, ls, mk) in zip(res, series_styles(res)):
        ax.plot(r["roar"]["fractions"], r["roar"]["diff_roar"], linestyle=ls, marker=mk, color=color, ms=5,
                label=label(r))
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("fraction k of pixels kept")
    ax.set_ylabel("top-k acc. − bottom-k acc.")
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return save(fig, path)
