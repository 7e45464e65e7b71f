#!/bin/sh
# The report a reader sees (tests/integration/check_report.py: captions,
# p values that underflowed, legibility, no overlapping labels), then real
# runs of the trained model: outputs.examples keeps the maps of exactly those
# image ids and the report shows them in that order, outputs.heatmap: signed
# reaches the page, the default keeps the first image of each class (numpy on
# the IDX labels as the oracle), and an id beyond the run is one line, exit 1.
# Usage: report.sh RECAL SRC_DIR WORK_DIR MODEL
set -u
recal=$1 src=$2 work=$3 model=$4
py=/usr/bin/python3
fails=0
rm -rf "$work/report" && mkdir -p "$work/report"
cd "$work/report" || exit 1
export RECAL_TOOLS_DIR="$src/tools"

$py "$src/tests/integration/check_report.py" "$recal" "$src" "$work/report" || fails=$((fails + 1))

cfg="$src/tests/data/fashion-diffid.yaml"
run() { # run DIR LIMIT --set ...
    d=$1 limit=$2
    shift 2
    "$recal" run "$cfg" --limit "$limit" --set model.path="$model" --set shard_images=16 --set batch_size=16 \
        --set 'methods=[{name: input_grad}, {name: random}]' --set 'metrics={diffid: {ratios: [0.3, 0.6]}}' \
        --set statistics.resamples=0 "$@" --run-dir "$d" >"$d.out" 2>&1
}
run signed 48 --set outputs.heatmap=signed --set 'outputs.examples=[40, 3, 17]' ||
    { echo "FAIL: the run with outputs.examples"; cat signed.out; fails=$((fails + 1)); }
run default 200 || { echo "FAIL: the run with the default examples"; cat default.out; fails=$((fails + 1)); }
$py - "$work/report" <<'EOF' || fails=$((fails + 1))
import glob, gzip, json, os, sys
import numpy as np
work, bad = sys.argv[1], []
def check(name, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)}")
    if not ok:
        bad.append(name)
def idx(name):  # the IDX file as the oracle reads it, not through recal
    with gzip.open(f"/usr/share/datasets/fashion-mnist/{name}") as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(nd)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * nd).reshape(dims)
pix, labels = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
for run, want in (("signed", [40, 3, 17]), ("default", None)):
    d = os.path.join(work, run)
    kept, maps = [], []
    for f in sorted(glob.glob(os.path.join(d, "figures", "examples-*.npy"))):
        ids = [int(x) for x in open(f[:-4] + ".txt").read().split()]
        kept += ids
        maps.append(np.load(f))
    ex = np.concatenate(maps)
    if want is None:  # the first image of each class among the 200, by label
        want = [int(np.flatnonzero(labels[:200] == c)[0]) for c in range(10)]
    check(f"{run}: the examples files hold exactly the ids {sorted(want)}", sorted(kept) == sorted(want), kept)
    check(f"{run}: one map row per id", ex.shape[0] == len(kept), ex.shape)
    err = max(float(np.abs(ex[k, 0, 0] - pix[i] / 255.0).max()) for k, i in enumerate(kept))
    check(f"{run}: each row is its id's image (IDX pixels / 255)", err < 1e-6, err)
    rows = [line.split(",") for line in open(os.path.join(d, "figures", "heatmaps.csv")).read().split()[1:]]
    shown = [int(r[1]) for r in rows]
    order = want if run == "signed" else sorted(want, key=lambda i: labels[i])
    check(f"{run}: the report shows them in order {order}", shown == order, shown)
    check(f"{run}: rows labelled with the IDX label", [int(r[2]) for r in rows] == [int(labels[i]) for i in shown])
    m = json.load(open(os.path.join(d, "metrics.json")))
    mode = "signed" if run == "signed" else "abs"
    outputs = {"heatmap": mode, **({"examples": want} if run == "signed" else {})}
    check(f"{run}: metrics.json outputs = {outputs}", m.get("outputs") == outputs, m.get("outputs"))
    check(f"{run}: heatmaps.csv says {mode}", all(r[4] == mode for r in rows))
    page = open(os.path.join(d, "report.html")).read()
    check(f"{run}: the caption names the maps' kind", ("<b>Signed</b>" in page) == (run == "signed"))
sys.exit(1 if bad else 0)
EOF

# An example outside its shard's first batch, with nothing else bringing the
# maps to the host (a device-resident method, DiffID on the device, no saved
# maps): its row holds its own map. The oracle is the same image's map saved
# by outputs.attributions (checked against PyTorch in oracle/methods); the
# engine once kept the map of the image at the same place in the batch before.
for v in fig saved; do
    extra=""
    [ "$v" = saved ] && extra="--set outputs.attributions=true"
    # shellcheck disable=SC2086
    run "late-$v" 48 --set shard_images=48 --set shards_per_rank=0 --set 'outputs.examples=[40]' \
        --set 'methods=[{name: ig_uniform, refs: 2, steps: 3, estimators: [valid_ip]}]' $extra ||
        { echo "FAIL: the run late-$v"; cat "late-$v.out"; fails=$((fails + 1)); }
done
$py - "$work/report" <<'EOF' || fails=$((fails + 1))
import os, sys
import numpy as np
d = sys.argv[1]
ex = np.load(os.path.join(d, "late-fig", "figures", "examples-00000000.npy"))
saved = np.load(os.path.join(d, "late-saved", "attributions", "shard-00000000-00000047.npy"))
ok = ex.shape == (1, 2, 1, 28, 28) and np.array_equal(ex[0, 1], saved[40, 0])
print(f"{'ok  ' if ok else 'FAIL'} late: example 40 (3rd batch of its shard) holds image 40's map")
sys.exit(0 if ok else 1)
EOF

expect() { # expect PATTERN -- command...: exit 1 and PATTERN in its one line
    pat=$1
    shift 2
    "$@" >out.txt 2>err.txt
    rc=$?
    if [ "$rc" != 1 ] || ! grep -q -- "$pat" err.txt || [ "$(wc -l <err.txt)" -gt 2 ]; then
        echo "FAIL: $* -> exit $rc, stderr:"; cat err.txt
        fails=$((fails + 1))
    else
        echo "ok   exit 1: $(head -1 err.txt)"
    fi
}
expect "outputs.examples: image 48 is not among the run's 48 images of fashion-mnist/test.*pick ids below 48" -- \
    "$recal" run "$cfg" --limit 48 --set model.path="$model" --set 'outputs.examples=[3, 48]' --run-dir bad-id
expect "'heatmap' must be one of abs, signed, got 'sign' (did you mean 'signed'?)" -- \
    "$recal" run "$cfg" --set model.path="$model" --set outputs.heatmap=sign --run-dir bad-mode
printf 'model: {path: m.pt}\ndataset: {name: fashion-mnist, path: /d}\nmethods: [{name: random}]\noutputs:\n  examples: [1, 1]\n' >dup.yaml
expect "dup.yaml:5:17: 'examples' lists image 1 twice (list each id once)" -- "$recal" run dup.yaml
[ "$fails" = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all report tests passed"
