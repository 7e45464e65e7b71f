#!/bin/sh
# Nothing lost under I/O and allocation failures (issue #9), SQLite style:
# RECAL_FAULT=OP:N (util/fault.h) fails the Nth write (ENOSPC, half the bytes
# written first), fsync or rename (EIO), or allocation of the engine's shard
# buffers or the journal's record (ENOMEM) of a 1-rank run that writes
# attributions. For each op and each N up to the number of such calls a clean
# run makes (at most MAX_N of them, default 15, spread evenly when there are
# more):
#  - the run exits 0 with the reference metrics (a failure the code may
#    ignore, e.g. a directory fsync) or exits 1 with "recal run: <file>: ...
#    <strerror>" and no internal error (2);
#  - every shard in the journal has its attributions file, loadable by numpy
#    with the shard's shape: no truncated artefact is ever taken as done;
#  - --resume without the fault completes with the reference metrics, or, when
#    the failure came before the journal existed, refuses clearly ("has no
#    journal ... start again with a new --run-dir").
# Then the same with "write:N+" (a disk that stays full) for one N.
# Usage: fault_injection.sh RECAL SRC_DIR WORK_DIR MODEL [MAX_N]
set -eu
recal=$1 src=$2 work=$3 model=$4 max_n=${5:-15}
w="$work/fault"
rm -rf "$w" && mkdir -p "$w"
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
fail() { echo "FAIL: $*"; exit 1; }
run() { # run RUN_DIR [extra args...]: 128 images in 4 shards (no shard-size probe), attributions on, no figures
    run_dir=$1
    shift
    mpirun -n 1 "$recal" run "$cfg" --limit 128 --set model.path="$model" --set shard_images=32 \
        --set batch_size=16 --set chunk_samples=32 --set shard_seconds=0 --set outputs.attributions=true \
        --set outputs.figures=false --run-dir "$run_dir" "$@"
}
# Every journaled shard's attributions/shard-*.npy loads with the shard's shape.
check_artefacts() {
    /usr/bin/python3 - "$1" "$rec" "$slots" <<'PY'
import os, struct, sys
import numpy as np
d, rec, slots = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
path = os.path.join(d, "journal")
if not os.path.exists(path):
    sys.exit(0)
b = open(path, "rb").read()
n = 0
for off in range(108, len(b) - rec + 1, rec):
    shard, first, count = struct.unpack_from("<qqq", b, off + 8)
    f = os.path.join(d, "attributions", "shard-%08d-%08d.npy" % (first, first + count - 1))
    a = np.load(f)  # raises on a missing or truncated file
    assert a.shape == (count, slots, 1, 28, 28), (f, a.shape)
    assert np.isfinite(a).all(), f
    n += 1
print(f"  {n} journaled shards, each with a whole attributions file")
PY
}

# The reference, counting the calls each op makes.
RECAL_FAULT_LOG=1 run "$w/ref" >"$w/ref.out" 2>&1 || { cat "$w/ref.out"; fail "reference run"; }
full=$(stat -c %s "$w/ref/journal")
rec=$(( (full - 108) / 4 ))
slots=$(/usr/bin/python3 -c "import numpy as np, glob; print(np.load(sorted(glob.glob('$w/ref/attributions/*.npy'))[0]).shape[1])")

one() { # one OP SPEC: run with RECAL_FAULT=SPEC into $w/OP-SPEC, check, resume
    op=$1 spec=$2 d="$w/$1-$2"
    rc=0; RECAL_FAULT="$spec" run "$d" >"$d.out" 2>&1 || rc=$?
    case $op in write) why="No space left on device" ;; alloc) why="out of.*memory" ;; *) why="Input/output error" ;; esac
    if [ $rc -eq 0 ]; then
        /usr/bin/python3 "$compare" "$w/ref/metrics.json" "$d/metrics.json" 128 any-ranks >/dev/null ||
            fail "$spec: exit 0 with different metrics"
        echo "ok $spec: ignored failure (exit 0), metrics equal"
        return 0
    fi
    [ $rc -eq 1 ] || { cat "$d.out"; fail "$spec: exit $rc, want 1"; }
    grep -q "^recal run: .*$why" "$d.out" || { cat "$d.out"; fail "$spec: no 'recal run: FILE: ... $why' message"; }
    [ "$(grep -c '' "$d.out")" -le 22 ] || { cat "$d.out"; fail "$spec: more than 20 lines of output"; }
    [ ! -e "$d/metrics.json" ] || [ -e "$d/journal" ] || fail "$spec: metrics.json without a journal"
    check_artefacts "$d" || fail "$spec: a journaled shard has a bad attributions file"
    msg=$(grep "^recal run: " "$d.out" | head -1)
    rc=0; run "$d" --resume >"$d.resume.out" 2>&1 || rc=$?
    if [ $rc -eq 0 ]; then
        /usr/bin/python3 "$compare" "$w/ref/metrics.json" "$d/metrics.json" 128 any-ranks >/dev/null ||
            fail "$spec: resumed metrics differ"
        check_artefacts "$d" >/dev/null || fail "$spec: after the resume, a bad attributions file"
        echo "ok $spec: exit 1 ($msg); --resume completes, metrics equal"
    elif [ $rc -eq 1 ] && grep -qE "(has no journal|no journal \(the directory is empty\)), so nothing to resume" "$d.resume.out"; then
        echo "ok $spec: exit 1 before the journal existed ($msg); --resume refused clearly"
    else
        cat "$d.resume.out"; fail "$spec: --resume exited $rc"
    fi
}

for op in write fsync rename alloc; do
    calls=$(grep -c "^recal fault: $op #" "$w/ref.out" || true)
    [ "$calls" -gt 0 ] || fail "the reference run made no $op calls through util/fault.c"
    step=$(( (calls + max_n - 1) / max_n ))
    echo "$op: $calls calls in a clean run; failing call 1 and then every $step (at most $max_n runs)"
    n=1
    while [ $n -le "$calls" ]; do
        one $op "$op:$n"
        n=$((n + step))
    done
done
# A disk that stays full from the 5th write on.
one write "write:5+"
echo "all fault injection checks passed"
