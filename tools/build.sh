#!/bin/sh
# tools/build.sh — build recal against a chosen libtorch (docs/install.md).
#
#   tools/build.sh                          Debian's libtorch-dev (what README's commands build)
#   tools/build.sh --torch PYTHON           the libtorch inside the PyTorch that PYTHON imports
#                                           (pip or conda; CPU or CUDA wheel)
#   tools/build.sh --libtorch DIR           an unpacked libtorch zip (DIR/share/cmake/Torch)
#
# Options: --build-dir DIR (default build, build-torch-<version>, build-libtorch),
# --debug, --werror, --target T (default recal), --jobs N, and after `--` any
# further cmake arguments. MPI comes from the `mpicc` found on PATH (what
# `module load openmpi` sets up), else from CMake's search. The result runs
# without LD_LIBRARY_PATH: libtorch's directory and the CUDA, cuDNN and NCCL
# libraries a pip PyTorch ships are in recal's run-time path, ahead of
# LD_LIBRARY_PATH (cmake/torch_libs.cmake). The last step prints
# `recal --version`: the versions built against and what was loaded.
set -eu
HERE=$PWD
cd "$(dirname "$0")/.."
# Paths given relative to where the command was typed (a bare python name is
# looked up on PATH instead).
abs() {
    case $1 in /*) echo "$1" ;; */*) echo "$HERE/$1" ;; *) echo "$1" ;; esac
}
absdir() {
    case $1 in /*) echo "${1%/}" ;; *) echo "$HERE/${1%/}" ;; esac
}

usage() {
    sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
}
die() {
    echo "tools/build.sh: $*" >&2
    exit 1
}

PY="" LIBTORCH="" BUILD="" TYPE=Release WERROR=OFF TARGET=recal JOBS=$(nproc)
while [ $# -gt 0 ]; do
    case "$1" in
    --torch) [ $# -ge 2 ] || die "--torch wants a python (e.g. --torch python3)"; PY=$(abs "$2"); shift 2 ;;
    --libtorch) [ $# -ge 2 ] || die "--libtorch wants a directory (an unpacked libtorch zip)"; LIBTORCH=$(absdir "$2"); shift 2 ;;
    --build-dir) [ $# -ge 2 ] || die "--build-dir wants a directory"; BUILD=$(absdir "$2"); shift 2 ;;
    --debug) TYPE=Debug; shift ;;
    --werror) WERROR=ON; shift ;;
    --target) [ $# -ge 2 ] || die "--target wants a target (recal, all, unit_tests)"; TARGET=$2; shift 2 ;;
    --jobs) [ $# -ge 2 ] || die "--jobs wants a number"; JOBS=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    --) shift; break ;;
    *) die "unknown argument '$1' (see tools/build.sh --help)" ;;
    esac
done
[ -z "$PY" ] || [ -z "$LIBTORCH" ] || die "--torch and --libtorch name two libtorches: give one"

set -- -DCMAKE_BUILD_TYPE="$TYPE" -DRECAL_WERROR="$WERROR" "$@"
if [ -n "$PY" ]; then
    command -v "$PY" >/dev/null 2>&1 || die "'$PY' is not a python on PATH (give its path, e.g. --torch ~/venv/bin/python)"
    # One question to the python: where its torch keeps the CMake files and
    # libraries, which version and CUDA it is.
    info=$("$PY" -c '
import os, torch
print(torch.utils.cmake_prefix_path)
print(torch.__version__.split("+")[0])
print(torch.version.cuda or "")
print(os.path.dirname(torch.__file__))
') || die "'$PY' cannot import torch (install PyTorch into it, or name the python that has it)"
    prefix=$(echo "$info" | sed -n 1p)
    version=$(echo "$info" | sed -n 2p)
    cuda=$(echo "$info" | sed -n 3p)
    tdir=$(echo "$info" | sed -n 4p)
    [ -f "$prefix/Torch/TorchConfig.cmake" ] ||
        die "$tdir has no share/cmake/Torch: this PyTorch ships without its CMake files (Debian's python3-torch keeps its C++ side in libtorch-dev, which tools/build.sh with no argument builds against); use a pip or conda PyTorch, or --libtorch"
    echo "tools/build.sh: PyTorch $version from $tdir (CUDA ${cuda:-none})"
    PYABS=$(command -v "$PY")
    # CMAKE_PREFIX_PATH, not only Torch_DIR: TorchConfig finds its Caffe2
    # files with find_dependency(... PATHS), which searches the system first.
    set -- "$@" -DCMAKE_PREFIX_PATH="$prefix" -DTorch_DIR="$prefix/Torch" -DCaffe2_DIR="$prefix/Caffe2" \
        -DRECAL_TORCH_PYTHON="$PYABS"
    BUILD=${BUILD:-build-torch-$version}
elif [ -n "$LIBTORCH" ]; then
    [ -f "$LIBTORCH/share/cmake/Torch/TorchConfig.cmake" ] ||
        die "$LIBTORCH/share/cmake/Torch/TorchConfig.cmake not found (give the directory the libtorch zip unpacked into)"
    LIBTORCH=$(cd "$LIBTORCH" && pwd)
    set -- "$@" -DCMAKE_PREFIX_PATH="$LIBTORCH" -DTorch_DIR="$LIBTORCH/share/cmake/Torch" \
        -DCaffe2_DIR="$LIBTORCH/share/cmake/Caffe2"
    BUILD=${BUILD:-build-libtorch}
else
    BUILD=${BUILD:-build}
fi

# The cluster's MPI: the wrapper compiler on PATH names its headers and libraries.
if mpicc=$(command -v mpicc 2>/dev/null); then
    echo "tools/build.sh: MPI from $mpicc"
    set -- "$@" -DMPI_C_COMPILER="$mpicc"
fi

mkdir -p "$BUILD"
log=$BUILD/configure.log
cmake -S . -B "$BUILD" "$@" >"$log" 2>&1 || { tail -30 "$log"; die "cmake failed (whole log: $log)"; }
grep "recal:" "$log" | sed 's/^-- /tools\/build.sh: /'
cmake --build "$BUILD" -j"$JOBS" --target "$TARGET"
if [ -x "$BUILD/recal" ]; then
    # Run as a user's shell would, without the build's environment: a library
    # that only LD_LIBRARY_PATH could find shows here, not on the cluster.
    env -u LD_LIBRARY_PATH "$BUILD/recal" --version ||
        die "$BUILD/recal does not start (above: the loader's message; docs/install.md, 'When it does not start')"
fi
