#!/bin/sh
# docs/your-model.md's walk-through, end to end (issue #36): an ImageFolder of
# JPEGs and PNGs cut from a real photograph, a torchvision ResNet-18 (random
# weights, 3 classes) traced with gradients on, the page's config (Resize +
# CenterCrop, the ImageNet normalization, Captum's default IG beside
# IG-Uniform), a 2-rank run, the results read with the pip-installed
# python/ reader, `recal attribute` on the same images (dataset-dump) with
# --mean/--std, or --config, giving the run's maps, and a local sweep merged
# and read.
# Usage: your_model.sh RECAL SRC_DIR WORK_DIR
set -eu
recal=$1 src=$2 work=$3
w="$work/your_model"
rm -rf "$w" && mkdir -p "$w"
fail() { echo "FAIL: $*"; exit 1; }
cd "$w"

/usr/bin/python3 - <<'PY'
import os
import numpy as np
import torch
import torchvision
from PIL import Image
photo = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
src = Image.open(photo).convert("RGB") if os.path.exists(photo) else Image.new("RGB", (512, 600), (90, 120, 150))
rng = np.random.default_rng(7)
for c, cls in enumerate(["cat", "dog", "owl"]):
    os.makedirs(f"data/val/{cls}")
    for i in range(4):
        w, h = int(rng.integers(70, 110)), int(rng.integers(70, 110))
        x0, y0 = int(rng.integers(0, src.width - 200)), int(rng.integers(0, src.height - 200))
        im = src.crop((x0, y0, x0 + 200, y0 + 200)).resize((w, h))
        im.save(f"data/val/{cls}/img{i}.jpg" if i % 2 == 0 else f"data/val/{cls}/img{i}.png")
torch.manual_seed(0)
m = torchvision.models.resnet18(num_classes=3).eval()
torch.jit.trace(m, torch.randn(1, 3, 64, 64), check_trace=False).save("resnet18.pt")
PY

cat >my-eval.yaml <<EOC
name: my-eval
model: {path: $w/resnet18.pt}
dataset:
  name: imagenet
  path: $w/data
  split: val
  resize: 72
  crop: 64
  mean: [0.485, 0.456, 0.406]
  std: [0.229, 0.224, 0.225]
target: label
batch_size: 4
threads: 1
methods:
  - {name: ig_uniform, estimators: [vanilla, valid_ref, valid_ip], refs: 3, steps: 3}
  - {name: ig, steps: 8, alpha_rule: gausslegendre}
  - {name: random}
metrics:
  diffid: {}
outputs: {per_image: true, attributions: true, figures: false}
EOC
"$recal" run my-eval.yaml --ranks 2 --run-dir runs/mine >run.out 2>&1 || { cat run.out; fail "recal run --ranks 2"; }
echo "ok the page's config ran on 2 ranks"

cp -r "$src/python" pkg # setuptools builds in the tree it is given: not the checkout
/usr/bin/python3 -m pip install --quiet --root-user-action=ignore --no-deps --no-build-isolation --no-index --target site ./pkg ||
    fail "pip install ./python"
PYTHONPATH=site /usr/bin/python3 - <<'PY' || fail "reading the run in pandas"
import os
import recal_results
run = recal_results.load("runs/mine")
s = run.summary
assert set(s.method) == {"ig_uniform", "ig", "random"}, set(s.method)
assert len(s[(s.metric == "diffid_diff_acc")]) == 5 and s.lo.notna().all(), s
im = run.images
files = sorted(os.path.join(os.path.abspath("data/val"), c, f) for c in ("cat", "dog", "owl")
               for f in sorted(os.listdir(f"data/val/{c}")))
assert list(im.source) == files, (list(im.source), files)
assert list(im.label) == [0] * 4 + [1] * 4 + [2] * 4, list(im.label)
pi = run.per_image.query("metric == 'diffid_diff_acc'")
assert len(pi) == 12 * 5 and pi.source.notna().all()
print("ok pandas: summary with intervals, images.csv = the ImageFolder's files and classes, per_image joined")
PY

# recal attribute on the same images, as the run handed them to the model:
# with --mean/--std the run's IG-Uniform valid_ip maps again
"$recal" dataset-dump my-eval.yaml --out x.npy --labels y.npy >/dev/null || fail "dataset-dump"
"$recal" attribute --model resnet18.pt --input x.npy --labels y.npy --method ig_uniform --estimator valid_ip \
    --refs 3 --steps 3 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --threads 1 --out a.npy || fail "attribute"
/usr/bin/python3 - <<'PY' || fail "attribute's maps differ from the run's"
import glob
import numpy as np
run = np.concatenate([np.load(f) for f in sorted(glob.glob("runs/mine/attributions/*.npy"))])[:, 2]
a = np.load("a.npy")
err = float(np.linalg.norm(a - run) / np.linalg.norm(run))
assert err < 1e-5, err
print(f"ok recal attribute with --mean/--std = the run's valid_ip maps (relative L2 {err:.1e})")
PY

# --config: the job's normalization, method settings (all three estimators,
# from one gradient pass: N x 3 x C x H x W) and target
"$recal" attribute --model resnet18.pt --input x.npy --labels y.npy --config my-eval.yaml --method ig_uniform \
    --threads 1 --out a3.npy || fail "attribute --config"
/usr/bin/python3 - <<'PY' || fail "attribute --config's maps differ from the run's"
import glob
import numpy as np
run = np.concatenate([np.load(f) for f in sorted(glob.glob("runs/mine/attributions/*.npy"))])[:, :3]
a = np.load("a3.npy")
assert a.shape == run.shape, (a.shape, run.shape)
err = float(np.linalg.norm(a - run) / np.linalg.norm(run))
assert err < 1e-5, err
print(f"ok recal attribute --config: the run's three estimators in one array (relative L2 {err:.1e})")
PY

cat my-eval.yaml >sweep.yaml
printf 'sweep:\n  methods.0.steps: [2, 3]\n' >>sweep.yaml
for i in 0 1; do
    "$recal" run sweep.yaml --sweep-point $i --run-dir runs/sw/points/$i >sw$i.out 2>&1 || { cat sw$i.out; fail "sweep point $i"; }
done
"$recal" sweep-merge sweep.yaml --run-dir runs/sw >merge.out 2>&1 || { cat merge.out; fail "sweep-merge"; }
PYTHONPATH=site /usr/bin/python3 -c "
import recal_results as r
t = r.load_sweep('runs/sw')
assert sorted(set(t['methods.0.steps'])) == [2, 3] and len(t) > 0, t
print('ok a local sweep: --sweep-point, sweep-merge, load_sweep')" || fail "load_sweep"
echo "the walk-through of docs/your-model.md passed"
