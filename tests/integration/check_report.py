#!/usr/bin/python3
"""The report as a reader sees it, on a run directory made here by hand
(metrics.json with a p value that underflowed to 0, example maps with their
ids, images.csv): every figure has a title in words and a caption, the p
values read "<1e-300" in the table and in the figure as the printed table
has them, no text is under 9 pt at the size report.html shows it, and no two
labels of a figure overlap. Usage: check_report.py RECAL SRC_DIR WORK_DIR"""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np

recal, src, work = sys.argv[1:4]
failures = []


def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")
    if not ok:
        failures.append(name)


def result(method, est, diff, lip, faith):
    ratios = [0.1, 0.3, 0.5, 0.7, 0.9]
    ins = [min(1, 0.3 + diff + 0.1 * k) for k in range(5)]
    dele = [max(0, 0.8 - 0.15 * k - diff) for k in range(5)]
    return {"method": method, "estimator": est,
            "diffid": {"ratios": ratios, "insertion_acc": ins, "deletion_acc": dele,
                       "mean": {"diff_acc": float(np.mean(ins) - np.mean(dele)), "diff_logit": 1.0}},
            "sensitivity_n": {"ratios": ratios, "correlation": [0.1 * diff + 0.01 * k for k in range(5)]},
            "lipschitz": {"mean": lip}, "faithfulness": {"pearson": faith, "spearman": faith},
            "ci": {"diffid_diff_acc": {"lo": diff - 0.02, "hi": diff + 0.02},
                   "lipschitz": {"lo": lip * 0.9, "hi": lip * 1.1},
                   "faithfulness_pearson": {"lo": faith - 0.01, "hi": faith + 0.01}}}


def pair(metric, method, est, vs_m, vs_e, d, p):
    return {"metric": metric, "method": method, "estimator": est, "vs_method": vs_m, "vs_estimator": vs_e,
            "images": 1000, "mean_diff": d, "lo": d - 0.01, "hi": d + 0.01, "p_value": p, "p_holm": p}


def make_run(d):
    """a finished run's files: three estimators whose scores are close (their
    labels used to collide), a p of 0, four example images with ids"""
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "figures"))
    res = [result("ig_uniform", "vanilla", 0.30, 2.00, 0.40), result("ig_uniform", "valid_ref", 0.31, 2.01, 0.41),
           result("ig_uniform", "valid_ip", 0.32, 2.02, 0.42), result("saliency", "vanilla", 0.20, 5.0, 0.2),
           result("random", "-", 0.0, 9.0, 0.0)]
    pairs = [pair(mt, "ig_uniform", e, "ig_uniform", "vanilla", 0.05, 0.0) for mt in ("diffid_diff_acc", "lipschitz")
             for e in ("valid_ref", "valid_ip")]
    pairs += [pair("diffid_diff_acc", "ig_uniform", "vanilla", "random", "-", 0.3, 0.0312)]
    m = {"run_id": "synthetic", "images": 1000, "ranks": 1, "accuracy": 0.9, "device": "cpu", "model": "m.pt",
         "wall_seconds": 1.0, "config_sha256": "0" * 64, "dataset": {"name": "fashion-mnist", "split": "test"},
         "statistics": {"level": 0.95}, "paired": pairs, "results": res,
         "outputs": {"heatmap": "signed", "examples": [9, 2]}}
    with open(os.path.join(d, "metrics.json"), "w") as f:
        json.dump(m, f)
    rng = np.random.default_rng(0)
    ex = rng.standard_normal((4, 1 + len(res), 1, 28, 28)).astype(np.float32)
    np.save(os.path.join(d, "figures", "examples-00000000.npy"), ex[:2])
    np.save(os.path.join(d, "figures", "examples-00000008.npy"), ex[2:])
    with open(os.path.join(d, "figures", "examples-00000000.txt"), "w") as f:
        f.write("2\n5\n")
    with open(os.path.join(d, "figures", "examples-00000008.txt"), "w") as f:
        f.write("9\n11\n")
    with open(os.path.join(d, "images.csv"), "w") as f:
        f.write("image_id,source,record,label,prediction,correct,target,target_logit,target_prob\n")
        for i, lab, pred in ((2, 1, 1), (5, 1, 1), (9, 7, 5), (11, 3, 3)):
            f.write(f"{i},x,{i},{lab},{pred},{int(lab == pred)},{lab},1,0.5\n")
    return m


def texts_of(fig):
    """the non-empty texts a drawing of the figure draws, with their boxes
    (px): recorded while drawing, as ticks outside the view are not drawn"""
    import matplotlib.text
    drawn, draw = [], matplotlib.text.Text.draw

    def record(t, renderer):
        draw(t, renderer)
        if t.get_visible() and t.get_text().strip():
            drawn.append((t, t.get_window_extent(renderer)))
    matplotlib.text.Text.draw = record
    try:
        fig.canvas.draw()
    finally:
        matplotlib.text.Text.draw = draw
    return drawn


def legibility(figs):
    """each figure as report.html shows it: at most PAGE_PX wide, so a point
    is DPI/72 px times the shrink; every text >= 10 px; no two overlap"""
    import report_figures as rf
    for name, fig in figs.items():
        shrink = min(1.0, rf.PAGE_PX / (fig.get_figwidth() * rf.DPI))
        texts = texts_of(fig)
        small = [(t.get_text(), t.get_fontsize()) for t, _ in texts
                 if t.get_fontsize() * rf.DPI / 72 * shrink < 10]
        check(f"{name}: every text >= 10 px at the width report.html shows it", not small, str(small[:3]))
        clash = []
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                a, b = texts[i][1], texts[j][1]
                if a.overlaps(b) and min(a.width, b.width) > 0:
                    clash.append((texts[i][0].get_text(), texts[j][0].get_text()))
        check(f"{name}: no two labels overlap", not clash, str(clash[:3]))


def main():
    d = os.path.join(work, "report-synthetic")
    m = make_run(d)
    env = dict(os.environ, RECAL_TOOLS_DIR=os.path.join(src, "tools"))
    rc = subprocess.run([recal, "report", d], env=env, capture_output=True, text=True)
    check("recal report exits 0", rc.returncode == 0, rc.stderr)
    page = open(os.path.join(d, "report.html")).read()
    imgs = re.findall(r'<img src="figures/([a-z_]+)\.png"', page)
    figures = [(t, re.sub(r"<[^>]+>", "", c)) for t, c in
               re.findall(r"<h2[^>]*>([^<]+)</h2><figure><img[^>]*><figcaption>(.{40,}?)</figcaption>", page)]
    check("a figure per measured section", set(imgs) >= {"diffid_curves", "diffid_bars", "paired", "sensitivity_n",
                                                         "tradeoff", "heatmaps"}, str(imgs))
    check("every figure has a title in words and a caption under it", len(figures) == len(imgs) and all(
        "_" not in t for t, _ in figures), str(figures))
    check("every caption says which way is better", all("better" in c for _, c in figures),
          str([t for t, c in figures if "better" not in c]))
    paired = page[page.index("Wilcoxon p</th>"):].split("</table>")[0]
    ps = [re.findall(r"<td>([^<]*)</td>", row)[6] for row in paired.split("<tr>")[1:]]
    check("the table prints a p of 0 as <1e-300, others with 3 digits", ps == ["&lt;1e-300"] * 4 + ["0.0312"],
          str(ps))
    rows = open(os.path.join(d, "figures", "heatmaps.csv")).read().split("\n")[1:]
    check("heatmap rows: outputs.examples in its order, labels from images.csv, signed",
          rows[:2] == ["0,9,7,5,signed", "1,2,1,1,signed"] and rows[2] == "", str(rows))
    check("the caption names the signed maps", "<b>Signed</b>" in page)
    with open(os.path.join(d, "figures", "examples-00000008.txt"), "a") as f:
        f.write("12\n")  # three ids for two maps
    rc = subprocess.run([recal, "report", d], env=env, capture_output=True, text=True)
    want = (f"recal report: {os.path.abspath(d)}/figures/examples-00000008.txt: 3 image ids for the 2 maps of "
            f"examples-00000008.npy: remove both to make the report without heatmaps\n")
    check("ids that do not match the maps: exit 1, one line", rc.returncode == 1 and rc.stderr == want, rc.stderr)
    with open(os.path.join(d, "figures", "examples-00000008.txt"), "w") as f:
        f.write("9\n11\n")

    # the figures themselves: the same functions, drawn as SVG with text kept
    # as text, so that what a reader sees can be searched and measured
    sys.path.insert(0, os.path.join(src, "tools"))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import report_figures as rf
    plt.rcParams["svg.fonttype"] = "none"
    kept = {}
    rf.save = lambda fig, path: kept.__setitem__(os.path.basename(path), fig) or fig.savefig(
        path[:-4] + ".svg", dpi=rf.DPI) or path
    rf.fig_paired(m, os.path.join(d, "paired.png"))
    rf.fig_tradeoff(m["results"], os.path.join(d, "tradeoff.png"))
    rf.fig_diffid_curves(m["results"], os.path.join(d, "diffid_curves.png"), 1000)
    rf.fig_diffid_bars(m["results"], os.path.join(d, "diffid_bars.png"))
    rf.fig_sensn(m["results"], os.path.join(d, "sensitivity_n.png"))
    ex = np.load(os.path.join(d, "figures", "examples-00000000.npy"))
    rf.fig_heatmaps(m, ex, [2, 5], {2: (1, 1), 5: (1, 1)}, os.path.join(d, "heatmaps.png"),
                    os.path.join(d, "h.csv"))
    svg = open(os.path.join(d, "paired.svg")).read()
    check("the paired figure prints a p of 0 as p<1e-300", "p&lt;1e-300" in svg and "p=0<" not in svg
          and ">p=0.0312<" in svg)
    legibility(kept)
    # the estimators' curves: each its own colour and line style
    fig = kept["diffid_curves.png"]
    lines = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith("ig_uniform/")]
    styles = {(str(ln.get_color()), str(ln.get_linestyle()), ln.get_marker()) for ln in lines}
    check("DiffID curves: vanilla, valid_ref, valid_ip differ in colour, line style and marker",
          len(lines) == 3 and len({s[0] for s in styles}) == 3 and len({s[1] for s in styles}) == 3
          and len({s[2] for s in styles}) == 3, str(styles))
    check("DiffID curves: a legend names them", fig.axes[1].get_legend() is not None)
    if failures:
        print(f"{len(failures)} check(s) failed: {failures}")
        sys.exit(1)
    print("all report checks passed")


if __name__ == "__main__":
    main()
