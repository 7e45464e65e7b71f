#!/bin/sh
# README command 1: install what is missing, build, train the default CNN if
# models/fashion-cnn.pt does not exist, then evaluate IG-Uniform (vanilla,
# valid_ref, valid_ip) and the random control with DiffID on the 10,000
# Fashion-MNIST test images under a 2-rank mpirun. Extra arguments go to
# `recal run` (e.g. --limit 1000).
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
mkdir -p models
if [ ! -f models/fashion-cnn.pt ]; then
    /usr/bin/python3 tools/export_fashion_cnn.py models/fashion-cnn-init.pt
    build/recal train configs/fashion-mnist-train.yaml
fi
# Open MPI refuses root unless told (containers, CI).
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpirun --oversubscribe -n 2 build/recal run configs/fashion-mnist.yaml "$@"
