#!/bin/sh
# Every unit test under valgrind memcheck (issue #9): a Debug build without
# sanitizers (valgrind and ASan do not mix) in build-valgrind/, then each
# cmocka executable with --leak-check=full; any error or definite leak fails.
# Not part of CI (tools/test.sh runs the unit tests under ASan + UBSan instead);
# see docs/hardening.md for its run time.
# Usage: tools/valgrind-unit.sh [TEST_NAME_REGEX]
set -eu
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind-unit: install valgrind (apt-get install valgrind)"; exit 1; }
cmake -S . -B build-valgrind -DCMAKE_BUILD_TYPE=Debug -DRECAL_WERROR=ON >/dev/null
cmake --build build-valgrind -j"$(nproc)" --target unit_tests >/dev/null
export RECAL_TEST_DATA="$PWD/tests/data" RECAL_TEST_TMP="$PWD/build-valgrind/tests"
failed=""
for t in build-valgrind/tests/test_*; do
    name=$(basename "$t")
    echo "$name" | grep -Eq "${1:-.}" || continue
    start=$(date +%s)
    if valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
        --log-file="build-valgrind/$name.valgrind.log" "$t" >"build-valgrind/$name.out" 2>&1; then
        echo "valgrind-unit: $name ok ($(( $(date +%s) - start )) s)"
    else
        echo "valgrind-unit: $name FAILED ($(( $(date +%s) - start )) s)"
        cat "build-valgrind/$name.valgrind.log"
        tail -20 "build-valgrind/$name.out"
        failed="$failed $name"
    fi
done
[ -z "$failed" ] || { echo "valgrind-unit: failed:$failed"; exit 1; }
echo "valgrind-unit: all clean"
