#!/bin/sh
# A 256-image run under `mpirun -n 1` and `mpirun -n 3` must give the same
# metrics, every one of them: DiffID, sensitivity-n, faithfulness,
# infidelity, and Lipschitz / max-sensitivity with their max reduction
# (shards are the same work units whoever computes them). The chunk
# is pinned: a measured chunk can differ with the threads per rank, and the
# chunk changes float summation order.
# Usage: mpi_equal.sh RECAL SRC_DIR WORK_DIR MODEL
set -eu
recal=$1 src=$2 work=$3 model=$4
rm -rf "$work/n1" "$work/n3"
for n in 1 3; do
    mpirun --oversubscribe -n $n "$recal" run "$src/tests/data/fashion-diffid.yaml" --limit 256 \
        --set model.path="$model" --set shard_images=32 --set batch_size=16 --set chunk_samples=64 \
        --set 'metrics={diffid: {}, sensitivity_n: {ratios: [0.3, 0.6], samples: 4}, faithfulness: {groups: 16},
               infidelity: {samples: 4}, lipschitz: {samples: 2, images: 40}, max_sensitivity: {samples: 2, images: 40}}' \
        --set outputs.figures=false --run-dir "$work/n$n"
done
/usr/bin/python3 "$src/tests/integration/compare_metrics.py" "$work/n1/metrics.json" "$work/n3/metrics.json" 256
