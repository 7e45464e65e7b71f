#!/bin/sh
# Journal and --resume (issue #6, "nothing lost, never counted twice"):
#  (a) a 2-rank run stopped by SIGTERM on its ranks after its first shards are
#      journaled exits 3 with 1..7 of 8 shards done; a 3-rank --resume
#      finishes it with the metrics of an uninterrupted 1-rank run;
#      SIGUSR1 to mpirun (forwarded as-is) stops a run the same way;
#  (b) --resume of a finished run computes nothing and rewrites metrics.json;
#  (c) a torn last journal record is dropped and its shard computed again;
#  (d) a second run on a directory in use is refused at once ("in use");
#  (e) a resume with another config is refused; --resume needs --run-dir;
#  (f) shards_per_rank: the shard size follows the image and rank counts
#      (no probe), a resume on another rank count keeps the first
#      invocation's size, and the metrics equal the reference's;
#  (g) a first start that ended before its journal existed (here: its model
#      file was not TorchScript yet) is started again in place by the same
#      command with --resume; another --set list there is refused;
#  (h) stop_grace_seconds: shards still running when the grace after the
#      stop signal has passed are given up between batches (no journal
#      record, no artefact), the run exits 3 at once, and --resume computes
#      them to the metrics of an uninterrupted run; (h2) within a batch,
#      between chunks of samples;
#  (i) a model file replaced between interrupt and --resume is refused;
#  (j) a journaled shard whose attributions file was deleted is computed
#      again by --resume, once;
#  (k) a data set replaced by other images of the same names and sizes is
#      refused by --resume, naming the file; the original back, it resumes.
# Usage: resume.sh RECAL SRC_DIR WORK_DIR MODEL
# threads=1 on every run: libtorch's CPU kernels round differently with another
# intra-op thread count (input gradients 1.8e-7 apart with 1 and 2 threads, in
# PyTorch itself on this project's EPYC VMs), and by default a run's threads
# are the cores over its ranks; DiffID's pixel ranking turns that into ~1e-5.
# shards_per_rank=0: the cases count shards of shard_images (8 of 64 images).
set -eu
recal=$1 src=$2 work=$3 model=$4
w="$work/resume"
rm -rf "$w" && mkdir -p "$w"
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
fail() { echo "FAIL: $*"; exit 1; }
run() { # run NRANKS RUN_DIR [extra args...]; sh has no locals: names kept apart from the callers'
    run_ranks=$1 run_dir=$2
    shift 2
    mpirun --oversubscribe -n "$run_ranks" "$recal" run "$cfg" --limit 512 --set model.path="$model" \
        --set shard_images=64 --set shards_per_rank=0 --set batch_size=16 --set chunk_samples=64 --set threads=1 \
        --run-dir "$run_dir" "$@"
}
start() { # start NRANKS RUN_DIR OUT [extra args...]: in the background, $! is mpirun
    start_ranks=$1 start_dir=$2 start_out=$3
    shift 3
    mpirun --oversubscribe -n "$start_ranks" "$recal" run "$cfg" --limit 512 --set model.path="$model" \
        --set shard_images=64 --set shards_per_rank=0 --set batch_size=16 --set chunk_samples=64 --set threads=1 \
        --run-dir "$start_dir" "$@" >"$start_out" 2>&1 &
}
records() { # journal records: (size - 108-byte header) / record size
    echo $(( ($(stat -c %s "$1/journal") - 108) / $2 ))
}
wait_journal() { # wait_journal DIR MIN_BYTES PID: until the journal holds that much
    i=0
    while [ "$(stat -c %s "$1/journal" 2>/dev/null || echo 0)" -lt "$2" ]; do
        kill -0 "$3" 2>/dev/null || fail "the run ended before journaling a shard"
        i=$((i + 1)); [ $i -lt 1200 ] || fail "no journal record after 120 s"
        sleep 0.1
    done
}
# stop_after_engine PID LOG OUT NAP CASE: once LOG says its engine is open,
# wait NAP s, send SIGUSR1 to PID (mpirun) and wait; sets rc and dt (seconds
# from the signal to the end).
stop_after_engine() {
    sae_pid=$1 i=0
    until grep -q "engine:" "$2" 2>/dev/null; do
        kill -0 "$sae_pid" 2>/dev/null || { cat "$3"; fail "$5 the run ended before its engine opened"; }
        i=$((i + 1)); [ $i -lt 600 ] || fail "$5 no engine after 60 s"
        sleep 0.1
    done
    sleep "$4"
    t0=$(date +%s)
    kill -USR1 "$sae_pid"
    rc=0; wait "$sae_pid" || rc=$?
    dt=$(($(date +%s) - t0))
}
shard_lines() { cat "$1"/logs/rank-*.log | grep -c 'shard [0-9]*: images'; }

# The uninterrupted reference, one rank.
run 1 "$w/ref" >"$w/ref.out" 2>&1 || { cat "$w/ref.out"; fail "reference run"; }
full=$(stat -c %s "$w/ref/journal")
rec=$(( (full - 108) / 8 ))
[ $((108 + 8 * rec)) -eq "$full" ] || fail "journal of 8 shards is $full bytes, not 108 + 8 records"

# (a) SIGTERM reaches each rank (as srun or a batch system delivers it).
# mpirun itself answers SIGTERM by killing the ranks after 1 s, so signal
# the ranks, mpirun's children.
start 2 "$w/a" "$w/a.out"
pid=$!
wait_journal "$w/a" $((108 + rec)) $pid
pkill -TERM -P $pid || true
rc=0; wait $pid || rc=$?
cat "$w/a.out"
[ $rc -eq 3 ] || fail "(a) interrupted run exited $rc, want 3"
grep -q "interrupted: [1-7] of 8 shards done; resume with: recal run .* --run-dir $w/a --resume" "$w/a.out" ||
    fail "(a) no 'interrupted ... resume with' line"
n=$(records "$w/a" $rec)
[ "$n" -ge 1 ] && [ "$n" -le 7 ] || fail "(a) journal holds $n records, want 1..7"
[ ! -e "$w/a/metrics.json" ] || fail "(a) an interrupted run wrote metrics.json"
echo "ok (a) SIGTERM: exit 3 with $n of 8 shards journaled"
run 3 "$w/a" --resume >"$w/a2.out" 2>&1 || { cat "$w/a2.out"; fail "(a) resume"; }
grep -q "resuming: $n of 8 shards already done" "$w/a2.out" || { cat "$w/a2.out"; fail "(a) resume banner"; }
[ "$(records "$w/a" $rec)" -eq 8 ] || fail "(a) journal after the resume holds $(records "$w/a" $rec) records, want 8"
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/a/metrics.json" 512

# SIGUSR1 to mpirun: forwarded to every rank, same clean stop, exit 3.
start 2 "$w/u" "$w/u.out"
pid=$!
wait_journal "$w/u" $((108 + rec)) $pid
kill -USR1 $pid
rc=0; wait $pid || rc=$?
[ $rc -eq 3 ] || { cat "$w/u.out"; fail "(a) SIGUSR1 to mpirun: exit $rc, want 3"; }
echo "ok (a) SIGUSR1 to mpirun: exit 3 with $(records "$w/u" $rec) of 8 shards journaled"

# (b) resuming a finished run recomputes nothing.
before=$(shard_lines "$w/a")
run 2 "$w/a" --resume >"$w/b.out" 2>&1 || { cat "$w/b.out"; fail "(b) resume of a finished run"; }
grep -q "resuming: 8 of 8 shards already done" "$w/b.out" || { cat "$w/b.out"; fail "(b) banner"; }
[ "$(shard_lines "$w/a")" -eq "$before" ] || fail "(b) shards were computed again"
[ "$(stat -c %s "$w/a/journal")" -eq "$full" ] || fail "(b) the journal changed"
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/a/metrics.json" 512
echo "ok (b) finished run: nothing recomputed"

# (c) a torn tail (a crash in the middle of an append) costs one shard.
cp -r "$w/a" "$w/c"
truncate -s -5 "$w/c/journal"
rm "$w/c/metrics.json"
run 3 "$w/c" --resume >"$w/c.out" 2>&1 || { cat "$w/c.out"; fail "(c) resume after a torn tail"; }
grep -q "dropped a torn last journal record" "$w/c.out" || { cat "$w/c.out"; fail "(c) no torn-record note"; }
grep -q "resuming: 7 of 8 shards already done" "$w/c.out" || { cat "$w/c.out"; fail "(c) banner"; }
[ "$(stat -c %s "$w/c/journal")" -eq "$full" ] || fail "(c) journal is $(stat -c %s "$w/c/journal") bytes"
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/c/metrics.json" 512
echo "ok (c) torn tail dropped and recomputed"

# (d) one run at a time per directory.
start 1 "$w/d" "$w/d.out"
pid=$!
wait_journal "$w/d" 108 $pid
for extra in "" --resume; do
    rc=0; run 1 "$w/d" $extra >"$w/d2.out" 2>&1 || rc=$?
    [ $rc -eq 1 ] && grep -q "$w/d is in use by another recal run (pid [0-9]* on host " "$w/d2.out" ||
        { cat "$w/d2.out"; fail "(d) second run ${extra:-without --resume} exited $rc, want 1 and 'in use'"; }
done
kill -USR1 $pid
wait $pid || true
echo "ok (d) a directory in use is refused"

# (e) another config, or --resume without --run-dir, is refused.
rc=0; run 1 "$w/a" --set seed=7 --resume >"$w/e.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "was made by config sha256 [0-9a-f]*; this config is [0-9a-f]*: use a new --run-dir" \
    "$w/e.out" || { cat "$w/e.out"; fail "(e) config mismatch exited $rc"; }
rc=0; "$recal" run "$cfg" --resume >"$w/e2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q -- "--resume needs --run-dir" "$w/e2.out" || { cat "$w/e2.out"; fail "(e) --resume alone"; }
echo "ok (e) wrong config and missing --run-dir refused"

# (f) shards_per_rank 8 on 2 ranks: 512 / (2 x 8 x 16) = 2 batches a shard,
# 16 shards of 32 images; a resume on 3 ranks (which alone would choose 16)
# keeps 32, and says nothing of the size again.
fsets="--set shards_per_rank=8 --set outputs.attributions=true"
# shellcheck disable=SC2086 # $fsets is a list of words
start 2 "$w/f" "$w/f.out" $fsets
pid=$!
wait_journal "$w/f" 108 $pid
kill -USR1 $pid
rc=0; wait $pid || rc=$?
[ $rc -eq 3 ] || [ $rc -eq 0 ] || { cat "$w/f.out"; fail "(f) first invocation exited $rc"; }
[ "$(cat "$w/f/shard_images")" = 32 ] || fail "(f) RUN_DIR/shard_images is '$(cat "$w/f/shard_images")', want 32"
grep -q "shard size 32 images: 512 images, at least 8 shards each for 2 computing rank(s)" "$w/f/logs/rank-0.log" ||
    fail "(f) no shard size line in the log"
# shellcheck disable=SC2086
run 3 "$w/f" --resume $fsets >"$w/f2.out" 2>&1 || { cat "$w/f2.out"; fail "(f) resume"; }
grep -q "resuming: [0-9]* of 16 shards already done" "$w/f2.out" || { cat "$w/f2.out"; fail "(f) resume banner"; }
[ "$(grep -c "shard size" "$w/f/logs/rank-0.log")" -eq 1 ] || fail "(f) the resume chose the shard size again"
[ "$(ls "$w/f/attributions" | wc -l)" -eq 16 ] && [ -e "$w/f/attributions/shard-00000000-00000031.npy" ] ||
    { ls "$w/f/attributions"; fail "(f) want 16 two-batch attribution files"; }
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/f/metrics.json" 512
echo "ok (f) shards_per_rank: 16 shards of two batches, kept by a 3-rank resume, same metrics"
# (g) the model path is a link to a file that is not TorchScript: the run
# dies after making its directory, before planning shards (no journal).
printf 'not a model\n' >"$w/not-a-model.pt"
ln -sf "$w/not-a-model.pt" "$w/model-link.pt"
rc=0; run 2 "$w/g" --set model.path="$w/model-link.pt" >"$w/g.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$w/g.out"; fail "(g) a model that is not TorchScript exited $rc, want 1"; }
[ -e "$w/g/config.yaml" ] && [ ! -e "$w/g/journal" ] || { ls "$w/g"; fail "(g) want a run dir with config.yaml, no journal"; }
ln -sf "$model" "$w/model-link.pt"
rc=0; run 2 "$w/g" --resume --set model.path="$w/model-link.pt" --set seed=7 >"$w/g2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "has no journal and was started by another config or --set list" "$w/g2.out" ||
    { cat "$w/g2.out"; fail "(g) --resume with another --set list exited $rc"; }
run 2 "$w/g" --resume --set model.path="$w/model-link.pt" >"$w/g3.out" 2>&1 || { cat "$w/g3.out"; fail "(g) restart"; }
grep -q "has no journal yet (its first start ended before planning its shards): starting the run in it" \
    "$w/g3.out" || { cat "$w/g3.out"; fail "(g) no restart note"; }
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/g/metrics.json" 512
echo "ok (g) a start that died before its journal: --resume starts it again in place; another --set refused"
# (h) two shards of 64 batches, one per rank, both running when SIGUSR1
# comes with a grace of 0 s: both are given up at their next batch.
big="--limit 1024 --set shard_images=512 --set batch_size=8 --set shard_seconds=0 --set outputs.attributions=true"
# shellcheck disable=SC2086 # $big is a list of words
run 2 "$w/href" $big >"$w/href.out" 2>&1 || { cat "$w/href.out"; fail "(h) reference"; }
# shellcheck disable=SC2086
start 2 "$w/h" "$w/h.out" $big --set stop_grace_seconds=0
stop_after_engine $! "$w/h/logs/rank-1.log" "$w/h.out" 1.5 "(h)"
cat "$w/h.out"
[ $rc -eq 3 ] || fail "(h) exit $rc, want 3"
grep -q "recal: 2 shard(s) in flight ran past the stop's grace (stop_grace_seconds 0) and were abandoned" "$w/h.out" ||
    fail "(h) both shards should have been running and abandoned (did they finish within 1.5 s?)"
hrec=$(( ($(stat -c %s "$w/href/journal") - 108) / 2 ))
[ "$(records "$w/h" $hrec)" -eq 0 ] || fail "(h) an abandoned shard was journaled"
[ ! -d "$w/h/attributions" ] || [ -z "$(ls "$w/h/attributions")" ] || fail "(h) an abandoned shard left an artefact"
# shellcheck disable=SC2086
run 2 "$w/h" $big --set stop_grace_seconds=0 --resume >"$w/h2.out" 2>&1 || { cat "$w/h2.out"; fail "(h) resume"; }
/usr/bin/python3 "$compare" "$w/href/metrics.json" "$w/h/metrics.json" 1024 any-ranks
echo "ok (h) stop_grace_seconds 0: both running shards abandoned, exit 3 after $dt s; --resume matches"
# (h2) one batch of 20,000 references per image (minutes of work): the grace
# is looked at between chunks of the batch too (the run went on for its
# whole batch, 609 s in the hostile probe, however short the grace).
start 1 "$w/h2" "$w/h2.out" --limit 2 --set batch_size=2 --set shard_images=2 --set shard_seconds=0 \
    --set 'methods=[{name: ig_uniform, refs: 20000, steps: 5}]' --set stop_grace_seconds=0
stop_after_engine $! "$w/h2/logs/rank-0.log" "$w/h2.out" 2 "(h2)"
[ $rc -eq 3 ] || { cat "$w/h2.out"; fail "(h2) exit $rc, want 3"; }
[ $dt -le 15 ] || { cat "$w/h2.out"; fail "(h2) the stop took $dt s: the batch ran on past the grace"; }
grep -q "abandoned" "$w/h2.out" || { cat "$w/h2.out"; fail "(h2) the shard was not abandoned"; }
echo "ok (h2) a stop during one long batch: given up between its chunks, exit 3 after $dt s"
# (i) the model file replaced between the interrupt and --resume (same
# path): refused with both sha256 values, nothing computed; the original
# file back, the resume finishes. It was exit 0 with the two models'
# shards mixed into one table.
cp "$model" "$w/i-model.pt"
mpirun --oversubscribe -n 1 "$recal" run "$cfg" --limit 512 --set model.path="$w/i-model.pt" --set shard_images=64 \
    --set batch_size=16 --set chunk_samples=64 --set threads=1 --run-dir "$w/i" >"$w/i.out" 2>&1 &
pid=$!
wait_journal "$w/i" $((108 + rec)) $pid
pkill -TERM -P $pid || true
rc=0; wait $pid || rc=$?
[ $rc -eq 3 ] || { cat "$w/i.out"; fail "(i) interrupted run exited $rc, want 3"; }
before=$(records "$w/i" $rec)
/usr/bin/python3 "$src/tools/export_fashion_cnn.py" "$w/i-model.pt" --seed 9 >/dev/null
rc=0
mpirun --oversubscribe -n 1 "$recal" run "$cfg" --limit 512 --set model.path="$w/i-model.pt" --set shard_images=64 \
    --set batch_size=16 --set chunk_samples=64 --set threads=1 --run-dir "$w/i" --resume >"$w/i2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$w/i2.out"; fail "(i) resume with another model exited $rc, want 1"; }
grep -q "i: --resume refused: the model file .*i-model.pt changed since this run started (sha256 [0-9a-f]\{64\} then, [0-9a-f]\{64\} now)" "$w/i2.out" ||
    { cat "$w/i2.out"; fail "(i) no refusal naming both sha256"; }
[ "$(records "$w/i" $rec)" -eq "$before" ] || fail "(i) the refused resume journaled shards"
cp "$model" "$w/i-model.pt"
mpirun --oversubscribe -n 1 "$recal" run "$cfg" --limit 512 --set model.path="$w/i-model.pt" --set shard_images=64 \
    --set batch_size=16 --set chunk_samples=64 --set threads=1 --run-dir "$w/i" --resume >"$w/i3.out" 2>&1 ||
    { cat "$w/i3.out"; fail "(i) resume with the original model"; }
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/i/metrics.json" 512 any-ranks
echo "ok (i) a replaced model file: --resume refused naming both sha256; the original back, it finishes and matches"
# (j) a journaled shard whose attributions file was deleted: --resume
# computes it again (it finished with the file missing and no word), the
# others not, and the metrics count it once.
run 1 "$w/j" --set outputs.attributions=true >"$w/j.out" 2>&1 || { cat "$w/j.out"; fail "(j) run"; }
gone=$(ls "$w/j/attributions/"shard-*.npy | sed -n 3p)
rm "$gone"
before=$(shard_lines "$w/j")
run 1 "$w/j" --set outputs.attributions=true --resume >"$w/j2.out" 2>&1 || { cat "$w/j2.out"; fail "(j) resume"; }
grep -q "1 journaled shard(s) lost their output files (first: .*$(basename "$gone")): computing them again" "$w/j2.out" ||
    { cat "$w/j2.out"; fail "(j) no word of the lost file"; }
grep -q "resuming: 7 of 8 shards already done" "$w/j2.out" || { cat "$w/j2.out"; fail "(j) banner"; }
[ -f "$gone" ] || fail "(j) $gone not written again"
[ "$(ls "$w/j/attributions/" | wc -l)" -eq 8 ] || fail "(j) not 8 attribution files"
[ "$(shard_lines "$w/j")" -eq $((before + 1)) ] || fail "(j) not exactly one shard computed again"
/usr/bin/python3 "$compare" "$w/ref/metrics.json" "$w/j/metrics.json" 512 any-ranks
echo "ok (j) a journaled shard without its attributions file is computed again, once"
# (k) the data set replaced by other images of the same file names and
# sizes (npy: the same shapes): --resume refused, naming the changed file;
# it was exit 0 with the results of both sets mixed (the fingerprint read
# names and sizes only). The original back at its path, the resume finishes.
/usr/bin/python3 - "$w/kA" "$w/kB" <<'PY'
import gzip, sys, numpy as np
d = "/usr/share/datasets/fashion-mnist/"
x = np.frombuffer(gzip.open(d + "t10k-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 28, 28)
y = np.frombuffer(gzip.open(d + "t10k-labels-idx1-ubyte.gz").read()[8:], np.uint8).astype(np.int64)
import os
for out, lo in zip(sys.argv[1:], (0, 64)):
    os.makedirs(out)
    np.save(out + "/images.npy", np.ascontiguousarray(x[lo:lo + 64]))
    np.save(out + "/labels.npy", y[lo:lo + 64])
PY
cp -r "$w/kA" "$w/kA-orig"
kset="--set dataset.name=npy --set dataset.path=$w/kA --set dataset.classes=10"
# shellcheck disable=SC2086
run 1 "$w/k" $kset --limit 64 >"$w/k.out" 2>&1 || { cat "$w/k.out"; fail "(k) run"; }
[ "$(wc -l <"$w/k/data_files")" -eq 2 ] || { cat "$w/k/data_files"; fail "(k) data_files should list labels.npy and images.npy"; }
cp "$w/kB/images.npy" "$w/kA/images.npy"
[ "$(stat -c %s "$w/kA/images.npy")" -eq "$(stat -c %s "$w/kA-orig/images.npy")" ] || fail "(k) the sets differ in size"
rc=0
# shellcheck disable=SC2086
run 1 "$w/k" $kset --limit 64 --resume >"$w/k2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] || { cat "$w/k2.out"; fail "(k) resume on other images exited $rc, want 1"; }
grep -q "k: --resume refused: the data set .*kA changed since this run started: 1 of 2 files differ in content, size or name; the first is images.npy" "$w/k2.out" ||
    { cat "$w/k2.out"; fail "(k) no refusal naming images.npy"; }
cp "$w/kA-orig/images.npy" "$w/kA/images.npy"
# shellcheck disable=SC2086
run 1 "$w/k" $kset --limit 64 --resume >"$w/k3.out" 2>&1 || { cat "$w/k3.out"; fail "(k) resume with the original data"; }
echo "ok (k) other images of the same names and sizes: --resume refused naming images.npy; the original back, it resumes"
echo "all resume checks passed"
