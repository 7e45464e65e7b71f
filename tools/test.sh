#!/bin/sh
# README command 2: install what is missing, build with warnings as errors,
# run every test (unit, oracle, MPI integration), then a subset against the
# current PyPI PyTorch's libtorch (tools/pypi-torch.sh), then the unit tests again
# under AddressSanitizer + UBSan and under valgrind, then each libFuzzer
# target for 60 s.
set -eu
cd "$(dirname "$0")/.."
sh tools/install-deps.sh
# Formatting first: every C/C++ file as the checked-in .clang-format says
# (Debian's clang-format 14); the fix is `clang-format -i FILE`.
files=$(git ls-files '*.c' '*.h' '*.cpp' '*.hpp' 2>/dev/null || find . -path ./build\* -prune -o \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) -print)
clang-format --dry-run -Werror $files || { echo "tools/test.sh: format with clang-format -i (above: the files and lines)"; exit 1; }
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DRECAL_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)"
(cd build && ctest --output-on-failure)
# The second libtorch line (docs/testing.md): the libtorch inside the current
# PyPI PyTorch, installed once per machine into a venv outside the checkout
# (tools/pypi-torch.sh), linked with the CUDA, cuDNN and NCCL libraries of its
# wheel and run on the CPU: the tests labelled pypi, the models of today, and
# the refusal of a PyTorch-2 ViT by the Debian build above.
py=$(sh tools/pypi-torch.sh)
sh tools/build.sh --torch "$py" --build-dir build-pypi --werror -- -DRECAL_REFUSAL_RECAL="$PWD/build/recal"
(cd build-pypi && ctest --output-on-failure -L pypi)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRECAL_WERROR=ON -DRECAL_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" --target unit_tests
(cd build-asan && ctest --output-on-failure -R '^unit/')
# The unit tests under valgrind memcheck too (about 40 s).
sh tools/valgrind-unit.sh
# libFuzzer targets (clang, build-fuzz/): 60 s each from the seed corpus,
# then ctest replays every seed and regression input, and runs the unit
# tests once more under clang's ASan + UBSan (it checks more than gcc's:
# it caught qsort(NULL, 0) on an empty directory).
sh tools/fuzz.sh 60
cmake --build build-fuzz -j"$(nproc)" --target unit_tests
(cd build-fuzz && ctest --output-on-failure -R '^(fuzz|unit)/')
