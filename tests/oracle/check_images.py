#!/usr/bin/python3
"""RUN_DIR/images.csv against PyTorch (issue #36): a 2-rank run of the demo
CNN on 100 Fashion-MNIST test images in shards of 32; pandas reads the
table; every row's label (from the IDX file read here with numpy), the
prediction, the label's logit and softmax probability (PyTorch float64 on
the same normalized pixels) and the record index agree, and the accuracy
it implies is metrics.json's. Then an npy data set in a directory whose
name holds a comma and a quote: the source column comes back whole. And
`target: predicted` / `target: 3`: the target column, its logit and
probability, and input_grad's saved maps are PyTorch's gradient of that
class, while metrics.json's accuracy stays the label's.
usage: check_images.py RECAL WORK_DIR MODEL"""
import gzip
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import torch

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(recal, args, rd):
    cmd = ["mpirun", "--oversubscribe", "-n", "2", recal, "run", *args, "--run-dir", rd]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"recal run failed:\n{p.stdout}\n{p.stderr}")


def main():
    recal, work, model = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    common = ["--set", f"model.path={model}", "--set", "shard_images=32", "--set", "batch_size=16",
              "--set", "threads=1", "--set", "outputs.figures=false"]
    rd = os.path.join(work, "fashion")
    run(recal, [cfg, "--limit", "100", *common], rd)
    t = pd.read_csv(os.path.join(rd, "images.csv"))
    d = "/usr/share/datasets/fashion-mnist/"
    x = np.frombuffer(gzip.open(d + "t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open(d + "t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8).astype(np.int64)
    check(list(t.columns) == ["image_id", "source", "record", "label", "prediction", "correct", "target",
                              "target_logit", "target_prob"], f"columns {list(t.columns)}")
    check(list(t.image_id) == list(range(100)), "one row per image, ids 0..99 ascending")
    check((t.source == d + "t10k-images-idx3-ubyte.gz").all() and (t.record == t.image_id).all(),
          "source: the IDX file, record = the image's index in it")
    check((t.label == y[:100]).all() and (t.target == t.label).all(), "labels as the IDX file has them")
    m = torch.jit.load(model).double().eval()
    xs = torch.from_numpy((x[:100] / 255.0 - 0.2860) / 0.3530)
    with torch.no_grad():
        lg = m(xs)
    pred = lg.argmax(1).numpy()
    check((t.prediction == pred).all(), f"predictions as PyTorch's ({int((t.prediction != pred).sum())} differ)")
    want_logit = lg[torch.arange(100), torch.from_numpy(y[:100])].numpy()
    want_prob = torch.softmax(lg, 1)[torch.arange(100), torch.from_numpy(y[:100])].numpy()
    e1 = float(np.abs(t.target_logit - want_logit).max() / np.abs(want_logit).max())
    e2 = float(np.abs(t.target_prob - want_prob).max())
    check(e1 < 1e-5, f"target_logit vs PyTorch float64: max relative {e1:.1e}")
    check(e2 < 1e-5, f"target_prob vs softmax in float64: max |diff| {e2:.1e}")
    acc = json.load(open(os.path.join(rd, "metrics.json")))["accuracy"]
    check(abs(t.correct.mean() - acc) < 1e-12, f"mean(correct) {t.correct.mean()} = metrics.json accuracy {acc}")

    for target in ("predicted", "3"):
        rd = os.path.join(work, "target-" + target)
        run(recal, [cfg, "--limit", "40", *common, "--set", f"target={target}", "--set",
                    "methods=[{name: input_grad}]", "--set", "outputs.attributions=true"], rd)
        t = pd.read_csv(os.path.join(rd, "images.csv"))
        want_t = pred[:40] if target == "predicted" else np.full(40, 3)
        check((t.target == want_t).all() and (t.label == y[:40]).all(),
              f"target: {target}: the target column, labels kept")
        xt = xs[:40].clone().requires_grad_(True)
        out = m(xt)
        tt = torch.from_numpy(want_t)
        (g,) = torch.autograd.grad(out.gather(1, tt[:, None]).sum(), xt)
        maps = np.concatenate([np.load(os.path.join(rd, "attributions", f))
                               for f in sorted(os.listdir(os.path.join(rd, "attributions")))])[:, 0]
        e3 = float(np.linalg.norm(maps - g.numpy()) / np.linalg.norm(g.numpy()))
        check(e3 < 1e-5, f"target: {target}: input_grad maps are the target's gradient (relative L2 {e3:.1e})")
        p = torch.softmax(out.detach(), 1)[torch.arange(40), tt].numpy()
        check(float(np.abs(t.target_prob - p).max()) < 1e-5, f"target: {target}: target_prob at the target")
        acc = json.load(open(os.path.join(rd, "metrics.json")))["accuracy"]
        check(abs(acc - float((pred[:40] == y[:40]).mean())) < 1e-12, f"target: {target}: accuracy still the label's")

    odd = os.path.join(work, 'npy, "odd"')
    os.makedirs(odd)
    np.save(os.path.join(odd, "images.npy"), x[:20, 0])
    np.save(os.path.join(odd, "labels.npy"), y[:20])
    rd = os.path.join(work, "odd")
    run(recal, [cfg, "--set", "dataset.name=npy", "--set", f"dataset.path={odd}", "--set", "dataset.classes=10",
                *common], rd)
    t = pd.read_csv(os.path.join(rd, "images.csv"))
    check(len(t) == 20 and (t.source == os.path.join(odd, "images.npy")).all() and (t.record == t.image_id).all(),
          f"a source path with a comma and quotes reads back whole: {t.source[0]!r}")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all images.csv checks passed")


if __name__ == "__main__":
    main()
