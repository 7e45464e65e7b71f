#!/bin/sh
# recal on several nodes for real (issue #24): a 3-node Slurm cluster in
# network namespaces (slurm/testing/netns-cluster.sh: each node its own host
# name, address and slurmd; ranks on different nodes talk TCP over a bridge;
# the file system shared):
#  (a) `recal submit --nodes 2 --ntasks-per-node 2` runs 4 ranks on two
#      nodes, each rank's log names its host, and the metrics equal a direct
#      1-rank run;
#  (b) node loss: once a shard is journaled, every process of the node that
#      is not the batch host, its slurmd included, is SIGKILLed; Slurm ends
#      the step and requeues the job (or it ends FAILED with the script's
#      exit-3 line and is resubmitted), and the next start, on the two nodes
#      left, continues from the journal to the direct run's metrics;
#  (c) preemption of a 2-node job (scancel --signal=USR1 --batch): requeue,
#      resume, the same metrics;
#  (d) a Diff-ROAR config is one 2-node job, its roar.csv equal to a direct run's;
#  (e) a sweep of 2 points whose array tasks land on different nodes, merged
#      by the dependent job;
#  (f) one GPU per rank from the node-local rank with the CUDA_VISIBLE_DEVICES
#      list of each node, and a node listing fewer GPUs than its ranks is a
#      clear error (exit 1).
# Usage: multinode.sh RECAL SRC_DIR WORK_DIR MODEL
set -eu
recal=$1 src=$2 work=$3 model=$4
w="$work/multinode"
rm -rf "$w/runs" "$w/out" && mkdir -p "$w/runs" "$w/out"
cfg="$src/tests/data/fashion-diffid.yaml"
compare="$src/tests/integration/compare_metrics.py"
cluster="$src/slurm/testing/netns-cluster.sh"
# shellcheck source=slurm_lib.sh
. "$src/tests/integration/slurm_lib.sh"

trap 'sh "$cluster" stop "$w/cluster" >/dev/null 2>&1 || true' EXIT
t0=$(date +%s)
sh "$cluster" start "$w/cluster" 3 || fail "could not start the 3-node cluster (messages above)"
echo "ok cluster of 3 nodes up in $(($(date +%s) - t0)) s"
export SLURM_CONF="$w/cluster/etc/slurm.conf"

small="--set model.path=$model --set batch_size=16 --set chunk_samples=64 --set threads=1 --set shard_seconds=0"
# the reference: one rank, no Slurm
# shellcheck disable=SC2086 # $small is a list of words
mpirun -n 1 "$recal" run "$cfg" $small --set dataset.limit=512 --set shard_images=32 \
    --run-dir "$w/runs/ref" >"$w/out/ref.out" 2>&1 || { cat "$w/out/ref.out"; fail "direct run"; }

# (a) two nodes, two ranks each
t0=$(date +%s)
# shellcheck disable=SC2086
id=$("$recal" submit "$cfg" $small --set dataset.limit=512 --set shard_images=32 --nodes 2 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/a" 2>"$w/out/a.err") || { cat "$w/out/a.err"; fail "(a) submit"; }
log="$w/runs/a/logs/slurm-$id.out"
wait_state "$id" "$log" 300 COMPLETED
cat "$log"
grep -q '"ranks": *4' "$w/runs/a/metrics.json" || fail "(a) metrics.json does not say 4 ranks"
hosts=$(grep -ho " on rnode[0-9]* " "$w"/runs/a/logs/rank-*.log | sort | uniq -c | awk '{print $3 ":" $1}' | tr '\n' ' ')
[ "$(echo "$hosts" | wc -w)" -eq 2 ] || fail "(a) the ranks ran on '$hosts', want two nodes with 2 ranks each"
echo "$hosts" | grep -q ':2 .*:2 ' || fail "(a) ranks per node: $hosts"
/usr/bin/python3 "$compare" "$w/runs/ref/metrics.json" "$w/runs/a/metrics.json" 512 ||
    fail "(a) the 2-node job's metrics differ from the direct run"
echo "ok (a) 4 ranks on two nodes ($hosts) in $(($(date +%s) - t0)) s, metrics equal the 1-rank run"

# (b) node loss
t0=$(date +%s)
# shellcheck disable=SC2086
id=$("$recal" submit "$cfg" $small --set dataset.limit=512 --set shard_images=32 --nodes 2 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/b" 2>"$w/out/b.err") || { cat "$w/out/b.err"; fail "(b) submit"; }
log="$w/runs/b/logs/slurm-$id.out"
wait_journaled "$w/runs/b" "$id" "$log"
batch=$(scontrol show job "$id" | sed -n 's/.*BatchHost=\(rnode[0-9]*\).*/\1/p')
victim=$(scontrol show hostnames "$(squeue -h -j "$id" -o %N)" | grep -vx "$batch" | head -1)
[ -n "$victim" ] || fail "(b) no second node in job $id (batch host '$batch')"
sh "$cluster" kill-node "$w/cluster" "${victim#rnode}"
tk=$(date +%s)
# Slurm cancels the step on the node failure and, the job being --requeue,
# starts it again on the nodes left (SLURM_RESTART_COUNT=1), where it resumes
# from the journal; should it end FAILED instead, the script's exit-3 line
# says to resubmit, and that is done here.
wait_state "$id" "$log" 300 COMPLETED FAILED
dt=$(($(date +%s) - tk))
cat "$log"
grep -q "Node failure on $victim\|a rank died or the launch failed" "$log" || fail "(b) the log does not name the lost node"
if [ "$(state "$id")" = FAILED ]; then
    [ ! -e "$w/runs/b/metrics.json" ] || fail "(b) a job that lost a node wrote metrics.json"
    grep -q "exit 3, resume with: sbatch" "$log" || fail "(b) the job did not end resumable (no exit-3 resume line)"
    scontrol update nodename="$victim" state=down reason="killed by the test" 2>/dev/null || true
    id=$(sbatch --parsable "$w/runs/b/submit.sbatch") || fail "(b) resubmitting submit.sbatch"
    log="$w/runs/b/logs/slurm-$id.out"
    wait_state "$id" "$log" 300 COMPLETED
    cat "$log"
    how="resubmitted"
else
    grep -q "SLURM_JOB_ID=$id SLURM_RESTART_COUNT=1" "$log" || fail "(b) completed without a second start"
    how="requeued by Slurm"
fi
grep -q "resuming: [1-9][0-9]* of 16 shards already done" "$log" || fail "(b) the second start did not resume"
if scontrol show job "$id" | grep -q " NodeList=.*$victim"; then fail "(b) the second start ran on the dead node"; fi
/usr/bin/python3 "$compare" "$w/runs/ref/metrics.json" "$w/runs/b/metrics.json" 512 ||
    fail "(b) the resumed job's metrics differ from the direct run"
nodes_b=$(scontrol show job "$id" | sed -n 's/.* NodeList=\([^ ]*\).*/\1/p')
echo "ok (b) $victim killed: $how, resumed on $nodes_b, done ${dt} s after the kill, same metrics ($(($(date +%s) - t0)) s)"

# (c) preemption of a 2-node job
t0=$(date +%s)
# shellcheck disable=SC2086
id=$("$recal" submit "$cfg" $small --set dataset.limit=512 --set shard_images=32 --nodes 2 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/c" 2>"$w/out/c.err") || { cat "$w/out/c.err"; fail "(c) submit"; }
log="$w/runs/c/logs/slurm-$id.out"
preempt c "$id" "$log" "$w/runs/c"
/usr/bin/python3 "$compare" "$w/runs/ref/metrics.json" "$w/runs/c/metrics.json" 512 ||
    fail "(c) the requeued 2-node job's metrics differ from the direct run"
echo "ok (c) 2-node job preempted, requeued and resumed: same metrics ($(($(date +%s) - t0)) s)"

# (d) Diff-ROAR as one 2-node job
t0=$(date +%s)
roar="metrics.roar={fractions: [0.1, 0.5], epochs: 2, lr: 0.05, milestones: [1], batch_size: 64}"
# shellcheck disable=SC2086
mpirun -n 1 "$recal" run "$cfg" $small --set dataset.limit=256 --set shard_images=32 --set "$roar" \
    --run-dir "$w/runs/ref_roar" >"$w/out/ref_roar.out" 2>&1 || { cat "$w/out/ref_roar.out"; fail "(d) direct run"; }
# shellcheck disable=SC2086
id=$("$recal" submit "$cfg" $small --set dataset.limit=256 --set shard_images=32 --set "$roar" --nodes 2 \
    --ntasks-per-node 2 --time 00:10:00 --run-dir "$w/runs/d" 2>"$w/out/d.err") || { cat "$w/out/d.err"; fail "(d) submit"; }
log="$w/runs/d/logs/slurm-$id.out"
wait_state "$id" "$log" 300 COMPLETED
cmp -s "$w/runs/ref_roar/roar.csv" "$w/runs/d/roar.csv" || { diff "$w/runs/ref_roar/roar.csv" "$w/runs/d/roar.csv"; fail "(d) roar.csv differs"; }
echo "ok (d) Diff-ROAR as one 2-node job: roar.csv equals the direct run's ($(($(date +%s) - t0)) s)"
# (e) a sweep across nodes: each point a 1-node job of 2 tasks, so the two
# points of the array fill the two nodes left
t0=$(date +%s)
cp "$cfg" "$w/out/sweep.yaml"
printf 'sweep:\n  methods.0.steps: [3, 5]\n' >>"$w/out/sweep.yaml"
# shellcheck disable=SC2086
"$recal" submit "$w/out/sweep.yaml" $small --set dataset.limit=128 --set shard_images=32 --ntasks-per-node 2 \
    --time 00:10:00 --run-dir "$w/runs/e" >"$w/out/e.ids" 2>"$w/out/e.err" || { cat "$w/out/e.err"; fail "(e) submit"; }
aid=$(sed -n 1p "$w/out/e.ids") mid=$(sed -n 2p "$w/out/e.ids")
wait_state "$mid" "$w/runs/e/logs/slurm-$mid-merge.out" 300 COMPLETED
h0=$(sed -n 's/^recal job: .* on \(rnode[0-9]*\) at .*/\1/p' "$w/runs/e/logs/slurm-${aid}_0.out" | head -1)
h1=$(sed -n 's/^recal job: .* on \(rnode[0-9]*\) at .*/\1/p' "$w/runs/e/logs/slurm-${aid}_1.out" | head -1)
[ -n "$h0" ] && [ -n "$h1" ] && [ "$h0" != "$h1" ] || fail "(e) the array tasks ran on '$h0' and '$h1', want two nodes"
[ "$(grep -c ',done,128,' "$w/runs/e/sweep.csv")" -eq 2 ] || { cat "$w/runs/e/sweep.csv"; fail "(e) sweep.csv: 2 points done"; }
echo "ok (e) sweep: point 0 on $h0, point 1 on $h1, merged by the dependent job ($(($(date +%s) - t0)) s)"

# (f) GPU choice per node, with the lists a GPU node's Slurm would set
# (recal narrows CUDA_VISIBLE_DEVICES before libtorch looks; the CPU build
# here then runs on the CPU, so only the choice is checked)
pick="case \$(hostname) in $h0) export CUDA_VISIBLE_DEVICES=0,1 ;; *) export CUDA_VISIBLE_DEVICES=GPU-a,GPU-b ;; esac; exec \"\$@\""
# shellcheck disable=SC2086
srun -N 2 --ntasks-per-node 2 --mpi=pmix sh -c "$pick" sh "$recal" run "$cfg" $small --set device=auto \
    --set dataset.limit=16 --set outputs.figures=false --run-dir "$w/runs/f" >"$w/out/f.out" 2>&1 ||
    { cat "$w/out/f.out"; fail "(f) srun of 2 nodes x 2 ranks"; }
for want in "CUDA_VISIBLE_DEVICES=0 (one GPU per rank, from local rank 0)" \
    "CUDA_VISIBLE_DEVICES=1 (one GPU per rank, from local rank 1)" \
    "CUDA_VISIBLE_DEVICES=GPU-a (one GPU per rank, from local rank 0)" \
    "CUDA_VISIBLE_DEVICES=GPU-b (one GPU per rank, from local rank 1)"; do
    cat "$w"/runs/f/logs/rank-*.log | grep -q "$want" || { cat "$w"/runs/f/logs/rank-*.log; fail "(f) no '$want' in the rank logs"; }
done
rc=0
# shellcheck disable=SC2086
srun -N 1 -n 3 -O --mpi=pmix env CUDA_VISIBLE_DEVICES=0,1 "$recal" run "$cfg" $small --set device=auto \
    --set dataset.limit=16 --run-dir "$w/runs/f3" >"$w/out/f3.out" 2>&1 || rc=$?
[ $rc -ne 0 ] && grep -q "has 3 ranks but CUDA_VISIBLE_DEVICES=0,1 lists fewer GPUs" "$w/out/f3.out" ||
    { cat "$w/out/f3.out"; fail "(f) 3 ranks on a node listing 2 GPUs: exit $rc, want the one-rank-per-GPU message"; }
echo "ok (f) one GPU per rank from each node's list; 3 ranks on 2 listed GPUs refused"
echo "all multi-node checks passed"
