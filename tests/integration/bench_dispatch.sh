#!/bin/sh
# `recal bench --dispatch` (issue #6) drives recal run's coordinator with
# no-op workers: a smoke test that it completes every shard with and without
# the journal and removes its temporary run directory. No timing is checked
# (the figure belongs in `recal bench`, not in a test).
# usage: bench_dispatch.sh RECAL WORK
set -eu
recal=$1
w=$2/bench-dispatch
rm -rf "$w"
mkdir -p "$w/tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }

rc=0
TMPDIR="$w/tmp" mpirun --oversubscribe -n 3 "$recal" bench --dispatch --shards 300 > "$w/out.json" 2> "$w/err.txt" ||
    rc=$?
[ $rc -eq 0 ] || { cat "$w/err.txt"; fail "exit status $rc"; }
cat "$w/out.json"
grep -q '^{"case": "dispatch", "journal": false, "ranks": 3, "workers": 2, .*"shards": 300, ' "$w/out.json" ||
    fail "no journal-less line for 300 shards"
grep -q '^{"case": "dispatch", "journal": true, "ranks": 3, .*"shards": 300, ' "$w/out.json" ||
    fail "no journal line for 300 shards"
[ -z "$(ls -A "$w/tmp")" ] || fail "temporary run directory left behind: $(ls "$w/tmp")"

# One rank has no workers: a clear refusal, not a hang.
if mpirun -n 1 "$recal" bench --dispatch --shards 10 > /dev/null 2> "$w/err1.txt"; then fail "1 rank accepted"; fi
grep -q "needs workers" "$w/err1.txt" || fail "1 rank: $(cat "$w/err1.txt")"
echo "bench --dispatch: ok"
