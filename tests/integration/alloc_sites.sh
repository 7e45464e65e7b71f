#!/bin/sh
# Every allocation site of recal's own C code, SQLite style (issue
# "Hardening II"): the recal executable wraps malloc/calloc/realloc at link
# time (src/fault_wrap.c), and RECAL_FAULT=allocsite:K fails the first
# allocation of the Kth call site a run reaches. A 1-rank run with every
# method family and metric (4 images, 2 shards, attributions and rank maps
# on) counts its sites; then for each K:
#  - exit 0 with the reference metrics (an allocation the code may do
#    without), or exit 1 with one "recal run: ... out of (host) memory"
#    message — never a crash, never an internal error;
#  - the same command without the fault (with --resume when a journal
#    exists) completes with the reference metrics: nothing lost, nothing
#    counted twice.
# Usage: alloc_sites.sh RECAL SRC_DIR WORK_DIR MODEL
set -eu
recal=$1 src=$2 work=$3 model=$4
w="$work/alloc_sites"
rm -rf "$w" && mkdir -p "$w"
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
fail() { echo "FAIL: $*"; exit 1; }
run() { # run RUN_DIR [extra args...]
    run_dir=$1
    shift
    "$recal" run "$cfg" --limit 4 --set model.path="$model" --set shard_images=2 --set batch_size=2 \
        --set shard_seconds=0 --set threads=1 --set outputs.attributions=true --set outputs.masks=true \
        --set outputs.figures=false \
        --set 'methods=[{name: ig_uniform, refs: 2, steps: 2, estimators: [vanilla, valid_ip]}, {name: smoothgrad, samples: 2}, {name: lime, samples: 4}, {name: agi, refs: 2, steps: 2}, {name: gradcam}, {name: guided_ig, steps: 2, estimators: [vanilla, valid_ip, idgi]}, {name: blur_ig, steps: 2, max_sigma: 2, estimators: [vanilla, idgi]}]' \
        --set 'metrics={diffid: {ratios: [0.5]}, sensitivity_n: {ratios: [0.5], samples: 2}, lipschitz: {samples: 2}, max_sensitivity: {samples: 2}, infidelity: {samples: 2}, faithfulness: {groups: 4}, faithfulness_correlation: {subset_size: 10, runs: 2}, faithfulness_estimate: {features_in_step: 200}, road: {ratios: [0.5]}}' --set outputs.per_image=true \
        --run-dir "$run_dir" "$@"
}
RECAL_FAULT_LOG=1 run "$w/ref" >"$w/ref.out" 2>"$w/ref.err" || { cat "$w/ref.err"; fail "reference run"; }
sites=$(sed -n 's/^recal fault: \([0-9]*\) allocation sites reached$/\1/p' "$w/ref.err")
[ -n "$sites" ] && [ "$sites" -gt 50 ] || fail "the reference reached '$sites' allocation sites (is the wrap linked?)"
n0=0 n1=0
k=1
while [ $k -le "$sites" ]; do
    d="$w/k$k"
    rc=0; RECAL_FAULT="allocsite:$k" run "$d" >"$d.out" 2>"$d.err" || rc=$?
    grep -q "allocation site $k .*injected failure" "$d.err" || fail "allocsite:$k: no failure injected"
    if [ $rc -eq 0 ]; then
        /usr/bin/python3 "$compare" "$w/ref/metrics.json" "$d/metrics.json" 4 any-ranks >/dev/null ||
            fail "allocsite:$k: exit 0 with other metrics"
        n0=$((n0 + 1))
    else
        [ $rc -eq 1 ] || { cat "$d.err"; fail "allocsite:$k: exit $rc, want 0 or 1"; }
        grep -q "^recal run: .*out of .*memory" "$d.err" || { cat "$d.err"; fail "allocsite:$k: no out-of-memory message"; }
        [ "$(grep -c '' "$d.err")" -le 12 ] || { cat "$d.err"; fail "allocsite:$k: more than 12 lines on stderr"; }
        again=""; [ -e "$d/journal" ] && again=--resume
        rc=0; run "$d" $again >"$d.again.out" 2>&1 || rc=$?
        [ $rc -eq 0 ] || { cat "$d.err" "$d.again.out"; fail "allocsite:$k: the same command ${again:+(--resume) }exit $rc"; }
        /usr/bin/python3 "$compare" "$w/ref/metrics.json" "$d/metrics.json" 4 any-ranks >/dev/null ||
            fail "allocsite:$k: the run completed again with other metrics"
        n1=$((n1 + 1))
    fi
    rm -rf "$d"
    k=$((k + 1))
done
echo "ok $sites allocation sites: $n1 failed cleanly (out of memory, exit 1) and completed on rerun/--resume, $n0 done without"
