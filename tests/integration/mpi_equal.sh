#!/bin/sh
# A 256-image run under `mpirun -n 1` and `mpirun -n 3` must give the same
# metrics, every one of them: DiffID, sensitivity-n, faithfulness,
# infidelity, and Lipschitz / max-sensitivity with their max reduction
# (shards are the same work units whoever computes them). The chunk
# is pinned: a measured chunk can differ with the threads per rank, and the
# chunk changes float summation order; so is the shard size (shard_seconds:
# 0; on a loaded machine the probe halved it and the 8-shard count below
# failed). A third run on 3 ranks with coordinator_computes: false (rank 0
# only hands out shards) must agree too, with rank 0 computing none of them. The metrics bounded by `images: N`
# score the same spread-out ids on every rank count (check_image_subset.py:
# the ids against the rule computed in Python, each shard its share, the
# per-image values equal).
# Usage: mpi_equal.sh RECAL SRC_DIR WORK_DIR MODEL
# threads=1 on every run: libtorch's CPU kernels round differently with another
# intra-op thread count (input gradients 1.8e-7 apart with 1 and 2 threads, in
# PyTorch itself on this project's EPYC VMs), and by default a run's threads
# are the cores over its ranks; DiffID's pixel ranking turns that into ~1e-5.
set -eu
recal=$1 src=$2 work=$3 model=$4
rm -rf "$work/n1" "$work/n3" "$work/n3-dispatch"
for n in 1 3 3-dispatch; do
    extra=""
    [ $n = 3-dispatch ] && extra="--set coordinator_computes=false"
    # shellcheck disable=SC2086 # $extra is a list of words
    mpirun --oversubscribe -n "${n%-dispatch}" "$recal" run $extra "$src/tests/data/fashion-diffid.yaml" --limit 256 \
        --set model.path="$model" --set shard_images=32 --set shard_seconds=0 --set batch_size=16 \
        --set chunk_samples=64 --set threads=1 \
        --set 'metrics={diffid: {}, sensitivity_n: {ratios: [0.3, 0.6], samples: 4}, faithfulness: {groups: 16},
               infidelity: {samples: 4, images: 100}, lipschitz: {samples: 2, images: 40},
               max_sensitivity: {samples: 2, images: 40}}' \
        --set outputs.figures=false --set outputs.per_image=true --run-dir "$work/n$n"
done
/usr/bin/python3 "$src/tests/integration/compare_metrics.py" "$work/n1/metrics.json" "$work/n3/metrics.json" 256
/usr/bin/python3 "$src/tests/integration/compare_metrics.py" "$work/n1/metrics.json" "$work/n3-dispatch/metrics.json" 256
for other in n3 n3-dispatch; do
    /usr/bin/python3 "$src/tests/integration/check_image_subset.py" 32 256 "$work/n1" "$work/$other" \
        infidelity=100 lipschitz=40 max_sensitivity=40
done
grep -q "shard [0-9]*: images" "$work/n3-dispatch/logs/rank-0.log" && { echo "FAIL: rank 0 computed a shard with coordinator_computes: false"; exit 1; }
[ "$(cat "$work"/n3-dispatch/logs/rank-[12].log | grep -c "shard [0-9]*: images")" -eq 8 ] ||
    { echo "FAIL: ranks 1 and 2 did not compute the 8 shards"; exit 1; }
echo "ok coordinator_computes: false: ranks 1 and 2 computed all 8 shards, same metrics"
