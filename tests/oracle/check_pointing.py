#!/usr/bin/python3
"""The pointing game and its energy-based form (docs/metrics.md) on a small
ImageNet-layout data set made here: PNG images of assorted sizes in a flat
val/ directory and a LOC_val_solution.csv of hand-made boxes (one covering
the whole image, boxes of another class, an image with no box, several
boxes). recal runs a small CNN over it with and without a center crop and
saves its maps; this script maps the boxes through torchvision's Resize /
CenterCrop geometry itself (PIL sizes) and recomputes every image's hit
and energy from the saved maps, then the means of metrics.json. A data set
without boxes is refused with a message.
usage: check_pointing.py RECAL WORK_DIR"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

failures = []
# image: (width, height, [(wnid, xmin, ymin, xmax, ymax), ...]); the first wnid is its label
IMAGES = {
    "a0": (40, 30, [("n01", 0, 0, 39, 29)]),                          # the whole image
    "a1": (30, 50, [("n02", 5, 10, 20, 30)]),                          # a box of its class
    "a2": (64, 64, [("n01", 2, 2, 12, 12), ("n01", 40, 40, 60, 62)]),  # two boxes
    "a3": (37, 41, [("n02", 0, 0, 10, 10), ("n01", 20, 20, 36, 40)]),  # one of another class
    "a4": (50, 33, []),                                                # no box: no value
    "a5": (45, 60, [("n01", 10, 5, 30, 55)]),
    # resized by 0.5 (resize 32): the box spans [1.5, 6.5), so pixel 6's centre lies exactly on
    # its right and bottom edges and is outside ([xmin, xmax + 1) is half-open)
    "a6": (64, 64, [("n01", 3, 3, 12, 12)]),
}


def close(label, got, want, tol=1e-6):
    ok = (got is None and want is None) or (got is not None and want is not None and abs(got - want) <= tol)
    print(f"{'ok  ' if ok else 'FAIL'} {label}: recal {got} oracle {want}")
    if not ok:
        failures.append(label)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 6, 3, padding=1)
        self.fc = torch.nn.Linear(6, 2)

    def forward(self, x):
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1).flatten(1))


def geometry(w0, h0, resize, crop):
    """(sx, sy, left, top) of torchvision Resize(resize) [+ CenterCrop(crop)]"""
    if not crop:
        return resize / w0, resize / h0, 0, 0
    if h0 <= w0:
        oh, ow = resize, int(resize * w0 / h0)
    else:
        ow, oh = resize, int(resize * h0 / w0)
    return ow / w0, oh / h0, int(round((ow - crop) / 2)), int(round((oh - crop) / 2))


def main():
    recal, work = sys.argv[1], sys.argv[2]
    subprocess.run(["rm", "-rf", work], check=True)
    os.makedirs(os.path.join(work, "val"))
    rng = np.random.default_rng(3)
    with open(os.path.join(work, "LOC_val_solution.csv"), "w") as f:
        f.write("ImageId,PredictionString\n")
        for name, (w, h, boxes) in IMAGES.items():
            Image.fromarray(rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)).save(
                os.path.join(work, "val", name + ".png"))
            label = boxes[0][0] if boxes else "n02"
            pred = " ".join(f"{b[0]} {b[1]} {b[2]} {b[3]} {b[4]}" for b in boxes) if boxes else label
            f.write(f"{name},{pred} \n")
    torch.manual_seed(5)
    model = os.path.join(work, "net.pt")
    torch.jit.script(Net().eval()).save(model)
    classes = ["n01", "n02"]
    for resize, crop in ((32, 0), (36, 32)):
        side = crop or resize
        cfg = os.path.join(work, f"pg-{crop}.yaml")
        with open(cfg, "w") as f:
            f.write(f"name: pg\nmodel: {{path: {model}}}\n"
                    f"dataset: {{name: imagenet, path: {work}, split: val, resize: {resize}"
                    f"{f', crop: {crop}' if crop else ''}}}\n"
                    "device: cpu\nbatch_size: 4\nshard_images: 4\n"
                    "methods: [{name: input_grad}, {name: random}]\n"
                    "metrics: {pointing_game: {tolerance: 2}}\n"
                    "outputs: {attributions: true, per_image: true, figures: false}\n")
        rd = os.path.join(work, f"run-{crop}")
        r = subprocess.run([recal, "run", cfg, "--run-dir", rd], capture_output=True, text=True)
        if r.returncode:
            sys.exit(f"recal run failed:\n{r.stdout}\n{r.stderr}")
        m = json.load(open(os.path.join(rd, "metrics.json")))
        maps = np.concatenate([np.load(f) for f in sorted(glob.glob(os.path.join(rd, "attributions", "*.npy")))])
        hit_got = np.load(os.path.join(rd, "per_image", "pointing_game_hit.npy"))
        energy_got = np.load(os.path.join(rd, "per_image", "pointing_game_energy.npy"))
        names = sorted(IMAGES)  # recal's image ids: the sorted file names
        hits, energies = [[] for _ in m["results"]], [[] for _ in m["results"]]
        for i, name in enumerate(names):
            w0, h0, boxes = IMAGES[name]
            label = classes.index(boxes[0][0] if boxes else "n02")
            sx, sy, left, top = geometry(w0, h0, resize, crop)
            # xmax, ymax: the last pixel covered, so the box spans [xmin, xmax + 1)
            own = [(b[1] * sx - left, b[2] * sy - top, (b[3] + 1) * sx - left, (b[4] + 1) * sy - top)
                   for b in boxes if classes.index(b[0]) == label]
            for s in range(len(m["results"])):
                sal = np.abs(maps[i, s].astype(np.float64)).sum(0)
                if not own:
                    close(f"crop {crop}: {name} slot {s} has no box of its class: no value",
                          None if np.isnan(hit_got[i, s]) else hit_got[i, s], None)
                    continue
                at = int(np.argmax(sal))  # the first maximum in pixel order
                cx, cy = at % side + 0.5, at // side + 0.5
                dist = min(np.hypot(max(x0 - cx, 0, cx - x1), max(y0 - cy, 0, cy - y1)) for x0, y0, x1, y1 in own)
                ys, xs = np.mgrid[0:side, 0:side] + 0.5
                inside = np.zeros((side, side), dtype=bool)
                for x0, y0, x1, y1 in own:
                    inside |= (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
                hit, energy = float(dist <= 2), float(sal[inside].sum() / sal.sum())
                hits[s].append(hit)
                energies[s].append(energy)
                close(f"crop {crop}: {name} slot {s} hit", float(hit_got[i, s]), hit, 0)
                close(f"crop {crop}: {name} slot {s} energy", float(energy_got[i, s]), energy, 1e-5)
                if name == "a0":
                    close(f"crop {crop}: a box over the whole image holds all the energy", energy, 1.0, 1e-9)
        for s, res in enumerate(m["results"]):
            pg = res["pointing_game"]
            close(f"crop {crop}: {res['method']} accuracy", pg["accuracy"], float(np.mean(hits[s])), 1e-9)
            close(f"crop {crop}: {res['method']} energy", pg["energy"], float(np.mean(energies[s])), 1e-6)
            close(f"crop {crop}: {res['method']} images with a box of their class", pg["images"], len(hits[s]), 0)
    # a data set without boxes: refused, naming what would do
    cfg = os.path.join(work, "no-boxes.yaml")
    with open(cfg, "w") as f:
        f.write(f"name: pg\nmodel: {{path: {model}}}\n"
                "dataset: {name: fashion-mnist, path: /usr/share/datasets/fashion-mnist, split: test, limit: 4}\n"
                "methods: [{name: random}]\nmetrics: {pointing_game: {}}\n")
    r = subprocess.run([recal, "run", cfg, "--run-dir", os.path.join(work, "refused")], capture_output=True, text=True)
    if r.returncode != 1 or "needs bounding boxes" not in r.stderr or "LOC_test_solution.csv" not in r.stderr:
        print(f"FAIL a dataset without boxes: exit {r.returncode}, stderr {r.stderr[-400:]}")
        failures.append("refusal")
    if failures:
        sys.exit(f"{len(failures)} pointing game checks failed")
    print("pointing game and energy match the boxes mapped by hand through torchvision's geometry")


if __name__ == "__main__":
    main()
