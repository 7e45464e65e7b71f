#!/bin/sh
# `recal submit` against a real single-node Slurm started here on localhost
# (slurm/testing/local-slurm.sh: munged, slurmctld, slurmd; needs root and
# Debian's slurm-wlm + munge; fails, never skips, when they are missing):
#  (a) --dry-run renders the expected #SBATCH directives (CPU and GPU form);
#      bad configs, sweeps and rank/GPU mismatches are refused with exit 1;
#      the job refuses a config edited after submit (--submitted-sha256);
#  (b) a submitted 2-task job finishes and its metrics.json equals a direct
#      1-rank `mpirun -n 1 recal run` of the same config;
#  (c) SIGUSR1 to the batch shell (what --signal=B:USR1@120 sends before the
#      time limit) stops the job at a shard boundary and requeues it; the
#      second start (SLURM_RESTART_COUNT=1) resumes from the journal and ends
#      with the metrics of the direct run;
#  (e) a sweep of 2 points runs as a job array of 2-task jobs plus a
#      dependent merge job; sweep.csv/json list both points done, and point
#      1's metrics equal a direct 1-rank run with that point's --set;
#  (d) a rank killed with SIGKILL ends the job (srun --kill-on-bad-exit)
#      within seconds, FAILED with the job script's exit 3 ("resumable"),
#      and `sbatch RUN_DIR/submit.sbatch` continues from the journal to the
#      direct run's metrics;
#  (f) a Diff-ROAR config is one job: submitted, preempted once its first
#      shard is journaled (SIGUSR1, requeue), resumed in whichever of its
#      three stages it stopped, and ends with the direct run's metrics.json
#      and roar.json.
# Usage: slurm_submit.sh RECAL SRC_DIR WORK_DIR MODEL
# threads=1 on every run: libtorch's CPU kernels round differently with another
# intra-op thread count (input gradients 1.8e-7 apart with 1 and 2 threads, in
# PyTorch itself on this project's EPYC VMs), and by default a run's threads
# are the cores over its ranks; DiffID's pixel ranking turns that into ~1e-5.
set -eu
recal=$1 src=$2 work=$3 model=$4
w="$work/slurm"
rm -rf "$w/runs" "$w/out" && mkdir -p "$w/runs" "$w/out"
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
local_slurm="$src/slurm/testing/local-slurm.sh"
# shellcheck source=slurm_lib.sh
. "$src/tests/integration/slurm_lib.sh"

# The cluster lives in $w/cluster; stopped (jobs cancelled) however we exit.
trap 'sh "$local_slurm" stop "$w/cluster" >/dev/null 2>&1 || true' EXIT
sh "$local_slurm" start "$w/cluster" || fail "could not start the local Slurm (messages above)"
export SLURM_CONF="$w/cluster/etc/slurm.conf"

small="--set model.path=$model --set batch_size=16 --set chunk_samples=64 --set threads=1 --set shards_per_rank=0"
# (a) dry runs: the script, nothing queued.
# shellcheck disable=SC2086 # $small is a list of words
"$recal" submit "$cfg" $small --set dataset.limit=128 --set shard_images=32 --dry-run --ntasks-per-node 2 \
    --time 00:10:00 --partition debug --run-dir "$w/runs/b" >"$w/out/dry.sh" 2>"$w/out/dry.err" ||
    { cat "$w/out/dry.err"; fail "(a) dry run"; }
cmp -s "$w/out/dry.sh" "$w/runs/b/submit.sbatch" || fail "(a) printed script differs from RUN_DIR/submit.sbatch"
for want in "#SBATCH --nodes=1" "#SBATCH --ntasks-per-node=2" "#SBATCH --time=00:10:00" \
    "#SBATCH --partition=debug" "#SBATCH --requeue" "#SBATCH --signal=B:USR1@120" \
    "#SBATCH --output=$w/runs/b/logs/slurm-%j.out" "#SBATCH --job-name=fashion-ig" \
    "--run-dir \"\$run_dir\"" "run_dir=$w/runs/b" "scontrol requeue" "trap on_usr1 USR1" "srun --mpi=list"; do
    grep -qF -- "$want" "$w/out/dry.sh" ||
        { cat "$w/out/dry.sh"; fail "(a) no '$want' in the script"; }
done
for absent in "--gpus-per-task" "--account" "@"; do
    ! grep "^#SBATCH" "$w/out/dry.sh" | grep -v "USR1@120" | grep -qF -- "$absent" ||
        { cat "$w/out/dry.sh"; fail "(a) '$absent' in the #SBATCH lines of a CPU job without --account"; }
done
grep -qF "sets=(--set 'model.path=$model'" "$w/out/dry.sh" || fail "(a) the --set list is not in the script"
[ -z "$(squeue -h -o %i)" ] || fail "(a) a dry run queued a job"
"$recal" submit "$cfg" $small --dry-run --gpus-per-node 4 --nodes 2 --account proj1 \
    --run-dir "$w/runs/gpu" >"$w/out/gpu.sh" 2>&1 || { cat "$w/out/gpu.sh"; fail "(a) GPU dry run"; }
for want in "#SBATCH --nodes=2" "#SBATCH --ntasks-per-node=4" "#SBATCH --gpus-per-task=1" "#SBATCH --account=proj1"; do
    grep -qxF -- "$want" "$w/out/gpu.sh" || { cat "$w/out/gpu.sh"; fail "(a) GPU form: no '$want'"; }
done
! grep -q -- "--time" "$w/out/gpu.sh" || fail "(a) --time written though not given"
rc=0; "$recal" submit "$cfg" $small --dry-run --gpus-per-node 2 --ntasks-per-node 3 >"$w/out/e1" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "one rank per GPU" "$w/out/e1" || { cat "$w/out/e1"; fail "(a) 3 tasks on 2 GPUs: exit $rc"; }
# A bad config gets the same message (and exit 1) from submit as from run.
rc=0; "$recal" submit "$cfg" $small --set methods.0.name=IG-Unifrom --dry-run >"$w/out/e2" 2>&1 || rc=$?
rc2=0; "$recal" run "$cfg" $small --set methods.0.name=IG-Unifrom >"$w/out/e2run" 2>&1 || rc2=$?
[ $rc -eq 1 ] && [ $rc2 -eq 1 ] || fail "(a) bad method: submit exit $rc, run exit $rc2, want 1 and 1"
msg=$(sed -n 's/^recal run: //p' "$w/out/e2run")
[ -n "$msg" ] && grep -qF "recal submit: $msg" "$w/out/e2" || { cat "$w/out/e2" "$w/out/e2run"; fail "(a) messages differ"; }
# A sweep: a job array over the grid plus a merge script; every point is
# validated first; `recal run` wants --sweep-point for such a config.
printf 'sweep:\n  methods.0.steps: [3, 5]\n' | cat "$cfg" - >"$w/out/sweep.yaml"
"$recal" submit "$w/out/sweep.yaml" $small --dry-run --run-dir "$w/runs/sdry" >"$w/out/sweep.sh" 2>&1 ||
    { cat "$w/out/sweep.sh"; fail "(a) sweep dry run"; }
for want in "#SBATCH --array=0-1" "#SBATCH --output=$w/runs/sdry/logs/slurm-%A_%a.out" "sweep_points=2" \
    "point=(--sweep-point \"\$i\")" "recal sweep-merge\|sweep-merge $w/out/sweep.yaml"; do
    grep -q -- "$want" "$w/out/sweep.sh" || { cat "$w/out/sweep.sh"; fail "(a) sweep: no '$want'"; }
done
[ -s "$w/runs/sdry/merge.sbatch" ] || fail "(a) sweep: no merge.sbatch"
printf 'sweep:\n  methods.0.steps: [3, -1]\n' | cat "$cfg" - >"$w/out/badsweep.yaml"
rc=0; "$recal" submit "$w/out/badsweep.yaml" $small --dry-run >"$w/out/e3" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "sweep point 1: methods.0.steps=-1: .*steps" "$w/out/e3" ||
    { cat "$w/out/e3"; fail "(a) bad sweep value: exit $rc"; }
rc=0; "$recal" run "$w/out/sweep.yaml" $small >"$w/out/e5" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "has a sweep: of 2 points: run one with --sweep-point I" "$w/out/e5" ||
    { cat "$w/out/e5"; fail "(a) recal run of a sweep without --sweep-point: exit $rc"; }
# A directory holding another run (no journal) is refused before sbatch.
mkdir -p "$w/runs/other" && echo x >"$w/runs/other/notes.txt"
rc=0; "$recal" submit "$cfg" $small --dry-run --run-dir "$w/runs/other" >"$w/out/e4" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "holds files of another run" "$w/out/e4" || { cat "$w/out/e4"; fail "(a) used dir: exit $rc"; }
# The config edited while the job waited in the queue: the job refuses to
# run what was not validated (it ran the edited file, exit 0). The script is
# run by bash here, outside Slurm, with mpirun as its launcher.
cp "$cfg" "$w/out/edited.yaml"
# shellcheck disable=SC2086
"$recal" submit "$w/out/edited.yaml" $small --set dataset.limit=16 --dry-run --run-dir "$w/runs/edited" \
    >"$w/out/edited.sh" 2>&1 || { cat "$w/out/edited.sh"; fail "(a) edited: dry run"; }
sha=$(sed -n 's/.*(config sha256 \([0-9a-f]\{64\}\)).*/\1/p' "$w/out/edited.sh" | head -1)
grep -qF -- "--submitted-sha256 $sha" "$w/out/edited.sh" || { cat "$w/out/edited.sh"; fail "(a) no --submitted-sha256 $sha"; }
sed -i 's/limit: 0 /limit: 9999 /' "$w/out/edited.yaml"
rc=0; RECAL_LAUNCHER="mpirun --oversubscribe -n 1" bash "$w/runs/edited/submit.sbatch" >"$w/out/edited.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "edited.yaml changed since \`recal submit\` validated it (config sha256 $sha at submit, [0-9a-f]\{64\} now" "$w/out/edited.out" ||
    { cat "$w/out/edited.out"; fail "(a) a config edited after submit: exit $rc"; }
rc=0; "$recal" run "$cfg" --submitted-sha256 xyz >"$w/out/e6" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "want the 64 hex digits" "$w/out/e6" || { cat "$w/out/e6"; fail "(a) bad --submitted-sha256"; }
echo "ok (a) dry run: directives, GPU form, refusals, and a config edited after submit refused by the job"

# (b) a real job, two tasks, against a direct one-rank run.
# shellcheck disable=SC2086
mpirun -n 1 "$recal" run "$cfg" $small --set dataset.limit=128 --set shard_images=32 \
    --run-dir "$w/runs/ref128" >"$w/out/ref128.out" 2>&1 || { cat "$w/out/ref128.out"; fail "(b) direct run"; }
t0=$(date +%s)
# The dry run's directory takes the real submission: it holds only submit.sbatch.
id=$("$recal" submit "$cfg" $small --set dataset.limit=128 --set shard_images=32 --ntasks-per-node 2 \
    --time 00:10:00 --partition debug --run-dir "$w/runs/b" 2>"$w/out/b.err") || { cat "$w/out/b.err"; fail "(b) submit"; }
case "$id" in '' | *[!0-9]*) cat "$w/out/b.err"; fail "(b) submit printed '$id', not a job id" ;; esac
log="$w/runs/b/logs/slurm-$id.out"
wait_done "$id" "$log" 300
cat "$log"
grep -q "SLURM_JOB_ID=$id SLURM_RESTART_COUNT=0 SLURM_NTASKS=2" "$log" || fail "(b) no job banner in $log"
grep -q "recal exited 0" "$log" || fail "(b) recal did not exit 0"
grep -q '"ranks": *2' "$w/runs/b/metrics.json" || fail "(b) metrics.json does not say 2 ranks"
/usr/bin/python3 "$compare" "$w/runs/ref128/metrics.json" "$w/runs/b/metrics.json" 128 ||
    fail "(b) submitted job's metrics differ from the direct run"
echo "ok (b) submitted 2-task job ($(($(date +%s) - t0)) s) matches the direct run"

# (c) preemption: SIGUSR1 to the batch shell after the first shard is
# journaled; the trap stops recal (exit 3) and requeues; the second start
# resumes and finishes.
# shellcheck disable=SC2086
mpirun -n 1 "$recal" run "$cfg" $small --set dataset.limit=512 --set shard_images=32 \
    --run-dir "$w/runs/ref512" >"$w/out/ref512.out" 2>&1 || { cat "$w/out/ref512.out"; fail "(c) direct run"; }
rec=$(( ($(stat -c %s "$w/runs/ref512/journal") - 108) / 16 ))
t0=$(date +%s)
id=$("$recal" submit "$cfg" $small --set dataset.limit=512 --set shard_images=32 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/c" 2>"$w/out/c.err") || { cat "$w/out/c.err"; fail "(c) submit"; }
log="$w/runs/c/logs/slurm-$id.out"
preempt c "$id" "$log" "$w/runs/c" $((108 + rec - 1))
grep -q "SLURM_JOB_ID=$id SLURM_RESTART_COUNT=0" "$log" || fail "(c) no first start in the log"
grep -q "requeueing job $id" "$log" || fail "(c) the job was not requeued"
grep -q "resuming: [0-9]* of 16 shards already done" "$log" || fail "(c) the second start did not resume"
! grep -q "resuming: 0 of 16" "$log" || fail "(c) the first start journaled nothing"
/usr/bin/python3 "$compare" "$w/runs/ref512/metrics.json" "$w/runs/c/metrics.json" 512 ||
    fail "(c) requeued job's metrics differ from the direct run"
echo "ok (c) SIGUSR1 -> exit 3 -> requeue -> resume, same metrics ($(($(date +%s) - t0)) s)"

# (d) a killed rank: the step ends, the job fails, resubmitting continues.
id=$("$recal" submit "$cfg" $small --set dataset.limit=512 --set shard_images=32 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/d" 2>"$w/out/d.err") || { cat "$w/out/d.err"; fail "(d) submit"; }
log="$w/runs/d/logs/slurm-$id.out"
wait_journaled "$w/runs/d" "$id" "$log" $((108 + rec - 1))
victim=""
for p in $(pgrep -f "recal run .*--run-dir $w/runs/d"); do
    tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx SLURM_PROCID=1 && victim=$p
done
[ -n "$victim" ] || { cat "$log"; fail "(d) no rank 1 process of job $id"; }
kill -KILL "$victim"
t0=$(date +%s)
i=0
while :; do
    s=$(state "$id")
    case "$s" in FAILED) break ;; PENDING | RUNNING | CONFIGURING | COMPLETING) ;; *) cat "$log"; fail "(d) job ended $s, want FAILED" ;; esac
    i=$((i + 1)); [ $i -lt 300 ] || { cat "$log"; fail "(d) job still $s 30 s after rank 1 was killed"; }
    sleep 0.1
done
dt=$(($(date +%s) - t0))
[ ! -e "$w/runs/d/metrics.json" ] || fail "(d) a job with a killed rank wrote metrics.json"
grep -q "recal job: a rank died or the launch failed (launcher exit [0-9]*, .*exit 3, resume with: sbatch" "$log" ||
    { cat "$log"; fail "(d) the job script did not report the dead rank as resumable (exit 3)"; }
id2=$(sbatch --parsable "$w/runs/d/submit.sbatch") || fail "(d) resubmitting submit.sbatch"
wait_done "$id2" "$w/runs/d/logs/slurm-$id2.out" 300
cat "$log" "$w/runs/d/logs/slurm-$id2.out"
grep -q "resuming: [1-9][0-9]* of 16 shards already done" "$w/runs/d/logs/slurm-$id2.out" ||
    fail "(d) the resubmitted job did not resume from the journal"
/usr/bin/python3 "$compare" "$w/runs/ref512/metrics.json" "$w/runs/d/metrics.json" 512 ||
    fail "(d) resubmitted job's metrics differ from the direct run"
echo "ok (d) killed rank: job FAILED ${dt} s later; sbatch submit.sbatch resumed it to the same metrics"

# (e) a sweep: array job + afterany merge job.
# shellcheck disable=SC2086
mpirun -n 1 "$recal" run "$cfg" $small --set dataset.limit=64 --set shard_images=32 --set methods.0.steps=5 \
    --run-dir "$w/runs/ref_s1" >"$w/out/ref_s1.out" 2>&1 || { cat "$w/out/ref_s1.out"; fail "(e) direct run"; }
t0=$(date +%s)
"$recal" submit "$w/out/sweep.yaml" $small --set dataset.limit=64 --set shard_images=32 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/e" >"$w/out/e.ids" 2>"$w/out/e.err" || { cat "$w/out/e.err"; fail "(e) submit"; }
aid=$(sed -n 1p "$w/out/e.ids") mid=$(sed -n 2p "$w/out/e.ids")
[ -n "$aid" ] && [ -n "$mid" ] || { cat "$w/out/e.ids" "$w/out/e.err"; fail "(e) want two job ids"; }
scontrol show job "$mid" | grep -q "Dependency=afterany:${aid}_\*\|Dependency=afterany:$aid" ||
    { scontrol show job "$mid"; fail "(e) the merge job does not depend on the array (afterany)"; }
wait_done "$mid" "$w/runs/e/logs/slurm-$mid-merge.out" 400
cat "$w/runs/e/logs/slurm-$mid-merge.out" "$w/runs/e/sweep.csv"
for p in 0 1; do
    grep -q "recal exited 0" "$w/runs/e/logs/slurm-${aid}_$p.out" || { cat "$w/runs/e/logs/slurm-${aid}_$p.out"; fail "(e) point $p"; }
done
[ "$(grep -c ',done,64,' "$w/runs/e/sweep.csv")" -eq 2 ] || fail "(e) sweep.csv does not list 2 points done with 64 images"
head -1 "$w/runs/e/sweep.csv" | grep -q "^point,methods.0.steps,status,images,accuracy,ig_uniform/vanilla diff_acc," ||
    fail "(e) sweep.csv header"
grep -q "^1,5,done," "$w/runs/e/sweep.csv" || fail "(e) point 1 is not steps=5"
/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['done'] == 2 and [r['values']['methods.0.steps'] for r in d['rows']] == [3, 5], d" "$w/runs/e/sweep.json" ||
    fail "(e) sweep.json"
/usr/bin/python3 "$compare" "$w/runs/ref_s1/metrics.json" "$w/runs/e/points/1/metrics.json" 64 ||
    fail "(e) point 1 differs from the direct run with methods.0.steps=5"
echo "ok (e) sweep: array of 2 points + merge job ($(($(date +%s) - t0)) s), point 1 matches the direct run"
# (f) Diff-ROAR in one job: evaluation, train rank maps and fine-tunes,
# preempted and requeued on the way.
roar="metrics.roar={fractions: [0.1, 0.5], epochs: 2, lr: 0.05, milestones: [1], batch_size: 64}"
# shellcheck disable=SC2086
mpirun -n 1 "$recal" run "$cfg" $small --set dataset.limit=256 --set shard_images=32 --set "$roar" \
    --run-dir "$w/runs/ref_roar" >"$w/out/ref_roar.out" 2>&1 || { cat "$w/out/ref_roar.out"; fail "(f) direct run"; }
t0=$(date +%s)
# shellcheck disable=SC2086
id=$("$recal" submit "$cfg" $small --set dataset.limit=256 --set shard_images=32 --set "$roar" --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/f" 2>"$w/out/f.err") || { cat "$w/out/f.err"; fail "(f) submit"; }
log="$w/runs/f/logs/slurm-$id.out"
preempt f "$id" "$log" "$w/runs/f"
grep -q "Diff-ROAR stage 3 of 3: 16 fine-tunes" "$log" || fail "(f) no fine-tune stage in the log"
/usr/bin/python3 "$compare" "$w/runs/ref_roar/metrics.json" "$w/runs/f/metrics.json" 256 ||
    fail "(f) the requeued Diff-ROAR job's metrics differ from the direct run"
cmp -s "$w/runs/ref_roar/roar.csv" "$w/runs/f/roar.csv" || { diff "$w/runs/ref_roar/roar.csv" "$w/runs/f/roar.csv"; fail "(f) roar.csv differs from the direct run"; }
echo "ok (f) Diff-ROAR as one Slurm job, preempted, requeued, resumed: same metrics and roar.csv ($(($(date +%s) - t0)) s)"
echo "all slurm checks passed"
