#!/bin/sh
# Build the libFuzzer targets (clang, build-fuzz/) and fuzz each one for
# SECONDS (default 60), one at a time, from its committed seed corpus plus
# what earlier runs found (build-fuzz/corpus-run/, not committed). A crash
# leaves its input in build-fuzz/artifacts/<target>/; fix the bug, then copy
# the input to tests/fuzz/regress/<target>/ so ctest replays it for good.
# Usage: tools/fuzz.sh [SECONDS [TARGET...]]
set -eu
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_job_yaml fuzz_idx fuzz_cifar fuzz_npy fuzz_jpeg_header"}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DRECAL_FUZZ=ON -DRECAL_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_targets >/dev/null
failed=""
for t in $targets; do
    run=build-fuzz/corpus-run/$t art=build-fuzz/artifacts/$t
    mkdir -p "$run" "$art"
    rc=0
    # One process (-workers=1 is the default without -jobs): CI machines are small.
    build-fuzz/tests/fuzz/$t -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$art/" \
        "$run" tests/fuzz/corpus/$t >build-fuzz/$t.log 2>&1 || rc=$?
    # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E ...".
    echo "fuzz: $t: $(grep -E '^#[0-9]+' build-fuzz/$t.log | tail -1)"
    if [ $rc -ne 0 ]; then
        tail -40 build-fuzz/$t.log
        failed="$failed $t"
    fi
done
[ -z "$failed" ] || { echo "fuzz: crashes in:$failed (inputs under build-fuzz/artifacts/)"; exit 1; }
