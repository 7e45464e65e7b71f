#!/bin/sh
# Issue #21's transfer ledger: the default job (configs/fashion-mnist.yaml,
# with its metrics' image bounds in the same proportion to the images: 10 %
# and 1 %, no saved outputs) with the maps kept on the device
# (RECAL_DIFFID_COPIES=device: what a GPU runs; the ledger counts the same
# copies on the CPU) must move at most 1.1x an image's bytes up and 4 KB
# down per image; with every metric on every image, only the shares and
# target logits come back (d2h per image well under one map). The host
# path (the CPU's DiffID) must give the same metrics.
# Usage: ledger.sh RECAL SRC_DIR WORK_DIR MODEL
set -eu
recal=$1 src=$2 work=$3 model=$4
rm -rf "$work/ledger-dev" "$work/ledger-host" "$work/ledger-all"
bounds="--set metrics.sensitivity_n.images=64 --set metrics.faithfulness.images=64 --set metrics.infidelity.images=64
        --set metrics.lipschitz.images=6 --set metrics.max_sensitivity.images=6"
for mode in dev host; do
    copies=device
    [ $mode = host ] && copies=host
    # shellcheck disable=SC2086 # $bounds is a list of words
    RECAL_DIFFID_COPIES=$copies "$recal" run "$src/configs/fashion-mnist.yaml" --limit 640 --set model.path="$model" \
        $bounds --set outputs.figures=false --set threads=1 --run-dir "$work/ledger-$mode" >/dev/null
done
RECAL_DIFFID_COPIES=device "$recal" run "$src/configs/fashion-mnist.yaml" --limit 64 --set model.path="$model" \
    --set metrics.sensitivity_n.images=0 --set metrics.faithfulness.images=0 --set metrics.infidelity.images=0 \
    --set metrics.lipschitz.images=0 --set metrics.max_sensitivity.images=0 --set outputs.figures=false \
    --set threads=1 --run-dir "$work/ledger-all" >/dev/null
/usr/bin/python3 "$src/tests/integration/compare_metrics.py" "$work/ledger-dev/metrics.json" \
    "$work/ledger-host/metrics.json" 640 any-ranks
/usr/bin/python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
t = json.load(open(f"{work}/ledger-dev/metrics.json"))["transfer"]
img = t["image_bytes"]
print(f"default job, maps on the device: h2d {t['h2d_bytes_per_image']:.0f} B/image "
      f"({t['h2d_bytes_per_image'] / img:.3f}x of {img} B), d2h {t['d2h_bytes_per_image']:.0f} B/image")
assert t["h2d_bytes_per_image"] <= 1.1 * img, t
assert t["d2h_bytes_per_image"] <= 4096, t
# Syncs (issue #37 item 3): 3.59 an image before, 1.91 after. The IG loop
# alone read 3 values a chunk pass, 20 passes a batch of 64 (groups of
# floor(2*167/10) = 33 images, 10 passes each at the CPU chunk of 167):
# 0.94 an image, plus its 6 uploads a group (0.19); the robustness metrics
# re-attribute through the same loop. What stays: per batch its upload, the
# clean forward's reads, one read of every slot's finiteness, IG's 2 key
# uploads and 1 read of its checks, DiffID's read per chunk of copies, and
# the bounded metrics' reads per image (issue #37 item 4's part).
print(f"syncs {t['syncs_per_image']:.3f} an image ({t['d2h_syncs_per_image']:.3f} reads)")
assert t["syncs_per_image"] <= 2.0, t
a = json.load(open(f"{work}/ledger-all/metrics.json"))["transfer"]
print(f"every metric on every image: h2d {a['h2d_bytes_per_image']:.0f} B/image, d2h {a['d2h_bytes_per_image']:.0f}")
# 4 maps of 3,136 B stay on the device: what comes back per image is the
# metrics' shares (sensitivity-n 50, faithfulness 100, infidelity 50 per
# slot, float64) and target logits, never the maps (12.5 KB); what goes up
# besides the image is keys, labels and the faithfulness groups, no copies
assert a["d2h_bytes_per_image"] < 10000, a
assert a["h2d_bytes_per_image"] <= 1.5 * img, a
EOF
# Issue #37 item 3, the IG chunk loop without syncs. A 1000-class model on
# 3x28x28 inputs gets chunks of 55 samples on the CPU (512 KB of inputs):
# the chunk the ImageNet config (batch 32, 8 GB budget, 224x224) gets on
# CUDA. IG-Uniform 10x5 with three estimators walks 32 images in groups of
# floor(2*55/10) = 11 (3 groups). The syncs that must remain, derived:
# per group 1 upload of the images' random keys (3); per batch 1 read of
# the device-side label/finiteness checks (1); once per command the mean,
# std and the three step tables (5); attribute's own download of the 3
# maps (3): 12, 4 of them reads. Before, every chunk pass read 3 values
# (29 passes) and every group uploaded its tables again: 111, 90 reads.
# The loop's own share, (3 + 1) / 32 = 0.125 an image, is what a run pays
# per batch once the tables are cached: the issue's target is <= 0.2.
/usr/bin/python3 - "$recal" "$work" <<'EOF'
import json, os, subprocess, sys
import numpy as np
import torch
recal, work = sys.argv[1], sys.argv[2]
d = os.path.join(work, "ledger-syncs")
os.makedirs(d, exist_ok=True)
torch.manual_seed(0)
class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.f = torch.nn.Linear(8 * 14 * 14, 1000)
    def forward(self, x):
        return self.f(torch.nn.functional.max_pool2d(torch.relu(self.c(x)), 2).flatten(1))
torch.jit.trace(M().eval(), torch.zeros(2, 3, 28, 28)).save(f"{d}/m1000.pt")  # stdin: no source to script
rng = np.random.default_rng(0)
np.save(f"{d}/x.npy", rng.standard_normal((32, 3, 28, 28)).astype(np.float32))
np.save(f"{d}/y.npy", rng.integers(0, 1000, 32).astype(np.int64))
r = subprocess.run([recal, "attribute", "--model", f"{d}/m1000.pt", "--input", f"{d}/x.npy", "--labels", f"{d}/y.npy",
                    "--method", "ig_uniform", "--estimator", "vanilla,valid_ref,valid_ip", "--refs", "10", "--steps",
                    "5", "--memory-budget", "8192", "--threads", "1", "--out", f"{d}/a.npy", "--stats"],
                   capture_output=True, text=True)
assert r.returncode == 0, r.stderr
st = json.loads(r.stderr.strip().splitlines()[-1])
loop = (st["syncs"] - 5 - 3) / 32
print(f"IG-Uniform 10x5, 32 images, chunk 55: {st['syncs']} syncs ({st['d2h_syncs']} reads); "
      f"the loop's own {loop:.3f} an image")
assert st["backward_samples"] == 32 + 32 * 10 * 4, st  # the image's gradient + 4 walked points a path
assert st["d2h_syncs"] <= 4 and st["syncs"] <= 12, st
assert loop <= 0.2, st
EOF
echo "ok ledger"
