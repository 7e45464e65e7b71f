#!/bin/sh
# A real full disk (issue #9): the run dir is a 1 MiB tmpfs, too small for
# the attributions of 4 shards (~400 KB each). The run must exit 1 with
# "No space left on device" naming the file, leave no truncated shard file
# among the journaled ones, and, once the file system is grown (mount -o
# remount,size=), --resume must complete with the metrics of a run on a
# roomy disk. Needs root and a kernel (or gVisor) that mounts tmpfs; exits
# 77 (ctest: skipped) where it cannot mount.
# Usage: full_disk.sh RECAL SRC_DIR WORK_DIR MODEL
set -eu
recal=$1 src=$2 work=$3 model=$4
w="$work/full_disk"
mnt="$w/mnt"
if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt"; fi
rm -rf "$w" && mkdir -p "$mnt"
if ! mount -t tmpfs -o size=1m tmpfs "$mnt" 2>"$w/mount.err"; then
    echo "SKIP: cannot mount a tmpfs here ($(cat "$w/mount.err")); fault_injection.sh covers ENOSPC by injection"
    exit 77
fi
trap 'umount "$mnt" 2>/dev/null || true' EXIT
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
fail() { echo "FAIL: $*"; exit 1; }
run() {
    run_dir=$1
    shift
    mpirun -n 1 "$recal" run "$cfg" --limit 128 --set model.path="$model" --set shard_images=32 \
        --set batch_size=16 --set chunk_samples=32 --set outputs.attributions=true \
        --set outputs.figures=false --run-dir "$run_dir" "$@"
}
run "$w/ref" >"$w/ref.out" 2>&1 || { cat "$w/ref.out"; fail "reference run"; }

rc=0; run "$mnt/run" >"$w/full.out" 2>&1 || rc=$?
cat "$w/full.out"
[ $rc -eq 1 ] || fail "run on a full disk exited $rc, want 1"
grep -q "^recal run: .*$mnt/run/.*No space left on device" "$w/full.out" ||
    fail "no 'recal run: FILE: ... No space left on device' message"
[ ! -e "$mnt/run/metrics.json" ] || fail "a run that hit a full disk wrote metrics.json"
/usr/bin/python3 - "$mnt/run" <<'PY'
import glob, os, re, sys
import numpy as np
# Every shard file in place (renamed, so claimed whole) loads with its shape.
files = sorted(glob.glob(os.path.join(sys.argv[1], "attributions", "shard-*.npy")))
for f in files:
    first, last = map(int, re.search(r"shard-(\d+)-(\d+)\.npy$", f).groups())
    a = np.load(f)
    assert a.shape[0] == last - first + 1 and a.shape[2:] == (1, 28, 28), (f, a.shape)
print(f"{len(files)} whole shard files on the full disk")
PY
mount -o remount,size=16m "$mnt" || fail "cannot grow the tmpfs"
rc=0; run "$mnt/run" --resume >"$w/resume.out" 2>&1 || rc=$?
[ $rc -eq 0 ] || { cat "$w/resume.out"; fail "--resume after freeing space exited $rc"; }
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$mnt/run/metrics.json" 128 any-ranks
echo "full disk: exit 1 with a clear message; --resume on the grown disk completes with equal metrics"
