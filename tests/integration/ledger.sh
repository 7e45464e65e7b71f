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
a = json.load(open(f"{work}/ledger-all/metrics.json"))["transfer"]
print(f"every metric on every image: h2d {a['h2d_bytes_per_image']:.0f} B/image, d2h {a['d2h_bytes_per_image']:.0f}")
# 4 maps of 3,136 B stay on the device: what comes back per image is the
# metrics' shares (sensitivity-n 50, faithfulness 100, infidelity 50 per
# slot, float64) and target logits, never the maps (12.5 KB); what goes up
# besides the image is keys, labels and the faithfulness groups, no copies
assert a["d2h_bytes_per_image"] < 10000, a
assert a["h2d_bytes_per_image"] <= 1.5 * img, a
EOF
echo "ok ledger"
