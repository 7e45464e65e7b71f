#!/bin/sh
# A worker rank killed with SIGKILL in the middle of a run (issue #6):
# mpirun notices, names the rank, kills the others and exits non-zero within
# seconds (not a hang); the journal keeps every shard that was finished, and
# --resume completes the run with the metrics of an uninterrupted one.
# mpirun's own status is what the caller sees (137 = 128 + SIGKILL here), not
# recal's exit 3: rank 0 is killed by mpirun too (README, Known limits).
# Usage: killed_rank.sh RECAL SRC_DIR WORK_DIR MODEL
set -eu
recal=$1 src=$2 work=$3 model=$4
w="$work/killed_rank"
rm -rf "$w" && mkdir -p "$w"
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
fail() { echo "FAIL: $*"; exit 1; }
args="--limit 512 --set model.path=$model --set shard_images=32 --set batch_size=16 --set chunk_samples=64"

# The uninterrupted reference, one rank: 16 shards.
# shellcheck disable=SC2086 # $args is a list of words
mpirun -n 1 "$recal" run "$cfg" $args --run-dir "$w/ref" >"$w/ref.out" 2>&1 || { cat "$w/ref.out"; fail "reference run"; }
rec=$(( ($(stat -c %s "$w/ref/journal") - 108) / 16 ))

# shellcheck disable=SC2086
mpirun -n 3 "$recal" run "$cfg" $args --run-dir "$w/k" >"$w/k.out" 2>&1 &
mp=$!
i=0
while [ "$(stat -c %s "$w/k/journal" 2>/dev/null || echo 0)" -lt $((108 + rec)) ]; do
    kill -0 $mp 2>/dev/null || { cat "$w/k.out"; fail "the run ended before journaling a shard"; }
    i=$((i + 1)); [ $i -lt 1200 ] || { kill -9 $mp; fail "no journal record after 120 s"; }
    sleep 0.1
done
# Rank 2 among mpirun's children, by the rank Open MPI gives it.
victim=""
for p in $(pgrep -P $mp); do
    r=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | sed -n 's/^OMPI_COMM_WORLD_RANK=//p')
    [ "$r" = 2 ] && victim=$p
done
[ -n "$victim" ] || { kill -9 $mp; fail "no rank 2 among mpirun's children ($(pgrep -P $mp | tr '\n' ' '))"; }
t0=$(date +%s)
kill -KILL "$victim"
# Watchdog: a hang is the failure this test is about.
i=0
while kill -0 $mp 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 300 ] || { pkill -KILL -P $mp; kill -KILL $mp; cat "$w/k.out"; fail "mpirun still running 30 s after rank 2 was killed"; }
    sleep 0.1
done
rc=0; wait $mp || rc=$?
dt=$(($(date +%s) - t0))
cat "$w/k.out"
[ $rc -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
grep -q "process rank 2 .* exited on signal 9" "$w/k.out" || fail "mpirun's message does not name rank 2"
[ ! -e "$w/k/metrics.json" ] || fail "a run with a killed rank wrote metrics.json"
for p in $(pgrep -f "$recal run .*--run-dir $w/k" || true); do fail "rank process $p outlived mpirun"; done
echo "ok killed rank 2: mpirun exited $rc after ${dt} s"

# The journal: whole records of finished shards (a torn last record, if
# mpirun's SIGKILL hit rank 0 mid-append, is dropped and recomputed).
size=$(stat -c %s "$w/k/journal")
n=$(( (size - 108) / rec ))
[ "$n" -ge 1 ] && [ "$n" -le 15 ] || fail "journal holds $n records, want 1..15"
torn=$(( (size - 108) % rec ))
mpirun -n 2 "$recal" run "$cfg" $args --run-dir "$w/k" --resume >"$w/r.out" 2>&1 || { cat "$w/r.out"; fail "resume"; }
cat "$w/r.out"
grep -q "resuming: $n of 16 shards already done" "$w/r.out" || fail "resume banner does not say $n of 16"
[ $torn -eq 0 ] || grep -q "dropped a torn last journal record" "$w/r.out" || fail "torn tail not reported"
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/k/metrics.json" 512
echo "ok journal kept $n of 16 shards$([ $torn -eq 0 ] || echo ' and a torn tail'); --resume matches the uninterrupted run"
