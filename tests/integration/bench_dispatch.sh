#!/bin/sh
# `recal bench --dispatch` (issue #6) drives recal run's coordinator with
# no-op workers: a smoke test that it completes every shard with and without
# the journal and removes its temporary run directory. No dispatch rate is
# checked (the figure belongs in `recal bench`, not in a test); the tail's
# share of a simulated 64-rank run is (sleeps, not compute: it holds on 2
# cores).
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

# The tail at 64 ranks, simulated (issue #37): shards that sleep for a known
# time an image, handed out by recal run's coordinator. recal run's default
# plan and look-ahead must leave a tail (first rank idle to last done) of at
# most 5 % of the run, and less than the old probe-sized plan's.
mpirun --oversubscribe -n 64 "$recal" bench --dispatch --tail > "$w/tail.json" 2> "$w/tail-err.txt" ||
    { cat "$w/tail-err.txt"; fail "--tail exited non-zero"; }
cat "$w/tail.json"
/usr/bin/python3 - "$w/tail.json" <<'EOF'
import json, sys
rows = {r["plan"]: r for r in map(json.loads, open(sys.argv[1]))}
before, after = rows["before"], rows["after"]
for r in (before, after):
    assert r["ranks"] == 64 and r["images"] == 50000, r
    # every image computed once: the ranks' busy time is the model's total over 64
    assert r["ideal_s"] >= 50000 * 10e-3 * 0.9 / 64, r
assert before["shard_images"] == 144 and not before["look_ahead"], before
# 50000 / (64 x 32 x 16) = 1.5 -> shards of one batch, 3125 of them
assert after["shard_images"] == 16 and after["look_ahead"] and after["shards"] == 3125, after
assert after["tail_share"] <= 0.05, f"tail {after['tail_share']:.1%} of the run > 5 %"
assert after["tail_share"] < before["tail_share"], (before["tail_share"], after["tail_share"])
print(f"tail at 64 ranks: {before['tail_share']:.1%} before, {rows['plan']['tail_share']:.1%} with the new plan "
      f"alone, {after['tail_share']:.1%} with its look-ahead")
EOF

# One rank has no workers: a clear refusal, not a hang.
if mpirun -n 1 "$recal" bench --dispatch --shards 10 > /dev/null 2> "$w/err1.txt"; then fail "1 rank accepted"; fi
grep -q "needs workers" "$w/err1.txt" || fail "1 rank: $(cat "$w/err1.txt")"
echo "bench --dispatch: ok"
