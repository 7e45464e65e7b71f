#!/usr/bin/python3
"""Rank 0's progress lines (docs/outputs.md, "Progress") of a real 2-rank
Diff-ROAR run, three stages: each stage has its own lines, in order, with its
own total (the evaluation's and the train split's images, the fine-tunes);
the first says "ETA estimating", every line after a shard of the stage has
finished gives an ETA in seconds, the counts and the elapsed time never go
down and end at the stage's total; rank 0's log holds the same lines. Then a
run stopped among the evaluation's shards and resumed: its lines start at the
journaled count, end at the total, and count no shard twice.

usage: progress.py RECAL SRC_DIR WORK_DIR MODEL"""
import json
import os
import re
import signal
import subprocess
import sys
import time

N = 120      # images of each split (--limit)
SHARD = 20   # 6 shards in each engine stage
TASKS = 4    # 2 maps (input_grad, random) x 1 fraction x top/bottom
LINE = re.compile(r"^progress: stage (\d+)/(\d+) (\S+): (\d+)/(\d+) (\S+) \((\d+\.\d)%\), (\d+\.\d+) (\S+)/s, "
                  r"elapsed (\d+)s, ETA (\d+s|estimating)$")
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def parse(text):
    """The progress lines of a stderr or log (a log line has a time prefix)."""
    out = []
    for raw in text.splitlines():
        i = raw.find("progress: stage ")
        if i < 0:
            continue
        m = LINE.match(raw[i:])
        check(m is not None, f"parseable: {raw[i:]!r}")
        if m:
            g = m.groups()
            out.append(dict(stage=int(g[0]), stages=int(g[1]), name=g[2], done=int(g[3]), total=int(g[4]),
                            unit=g[5], pct=float(g[6]), unit2=g[8], elapsed=int(g[9]), eta=g[10]))
    return out


def check_stage(lines, name, total, unit, start=0):
    check(len(lines) >= 2, f"{name}: {len(lines)} lines (at least the start and the end)")
    if not lines:
        return
    check(all(x["total"] == total and x["unit"] == unit == x["unit2"] for x in lines),
          f"{name}: every line counts {total} {unit}")
    check(lines[0]["done"] == start and lines[0]["eta"] == "estimating",
          f"{name}: starts at {start} with 'ETA estimating' ({lines[0]['done']}, {lines[0]['eta']})")
    done = [x["done"] for x in lines]
    check(done == sorted(done) and done[-1] == total, f"{name}: counts rise to {total}: {done}")
    el = [x["elapsed"] for x in lines]
    check(el == sorted(el), f"{name}: elapsed never goes down: {el}")
    fresh = [x for x in lines if x["done"] > start]
    check(len(fresh) > 0 and all(re.fullmatch(r"\d+s", x["eta"]) for x in fresh),
          f"{name}: an ETA in seconds on every line after its first shard: {[x['eta'] for x in fresh]}")
    check(all(abs(x["pct"] - round(100.0 * x["done"] / total, 1)) < 0.051 for x in lines), f"{name}: percentages")


def main():
    recal, src, work, model = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    sets = ["--set", f"model.path={model}", "--set", "methods=[{name: input_grad}, {name: random}]",
            "--set", "seed=4", "--set", "outputs.figures=false", "--set", "threads=1",
            "--set", f"shard_images={SHARD}", "--set", "shard_seconds=0", "--limit", str(N)]
    roar = ["--set", "metrics.roar={fractions: [0.5], epochs: 1, batch_size: 64}"]

    rd = os.path.join(work, "roar")
    subprocess.run(["rm", "-rf", rd], check=True)
    p = subprocess.run(["mpirun", "-n", "2", recal, "run", cfg] + sets + roar + ["--run-dir", rd],
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"recal run failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    lines = parse(p.stderr)
    stages = [x["stage"] for x in lines]
    check(stages == sorted(stages) and set(stages) == {1, 2, 3}, f"stages 1, 2, 3 in order: {stages}")
    check(all(x["stages"] == 3 for x in lines), "every line says 3 stages")
    for no, name, total, unit in ((1, "evaluation", N, "images"), (2, "train-maps", N, "images"),
                                  (3, "fine-tunes", TASKS, "fine-tunes")):
        st = [x for x in lines if x["stage"] == no]
        check(all(x["name"] == name for x in st), f"stage {no} is named {name}")
        check_stage(st, name, total, unit)
    logged = parse(open(os.path.join(rd, "logs", "rank-0.log")).read())
    check([(x["stage"], x["done"]) for x in logged] == [(x["stage"], x["done"]) for x in lines],
          "logs/rank-0.log holds the same progress lines")

    # Stopped among the evaluation's shards (SIGUSR1 to mpirun, forwarded to
    # the ranks: the ones in flight are journaled), then resumed: the lines
    # start at the journaled count and end at the total, no shard twice.
    rd = os.path.join(work, "resumed")
    subprocess.run(["rm", "-rf", rd], check=True)
    slow = sets + ["--set", "methods=[{name: ig_uniform, refs: 4, steps: 8}]", "--set", "shard_images=10"]
    q = subprocess.Popen(["mpirun", "-n", "2", recal, "run", cfg] + slow + ["--run-dir", rd],
                         stderr=subprocess.PIPE, text=True)
    journal, deadline = os.path.join(rd, "journal"), time.time() + 120
    while q.poll() is None and time.time() < deadline and \
            (not os.path.exists(journal) or os.path.getsize(journal) <= 200):  # a record past the header
        time.sleep(0.05)
    q.send_signal(signal.SIGUSR1)
    err = q.communicate()[1]
    first = parse(err)
    check(q.returncode in (0, 3), f"the stopped run exits 3 (or had finished): {q.returncode}")
    stopped_at = first[-1]["done"] if first else 0
    p = subprocess.run(["mpirun", "-n", "2", recal, "run", cfg] + slow + ["--run-dir", rd, "--resume"],
                       capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"recal run --resume failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    again = parse(p.stderr)
    if q.returncode == 3:
        check(0 < stopped_at < N, f"the stop came among the shards ({stopped_at} of {N})")
        check_stage(again, "resumed evaluation", N, "images", start=stopped_at)
        m = json.load(open(os.path.join(rd, "metrics.json")))
        check(m["images"] == N, f"metrics.json: {m['images']} images after the resume, want {N}")
    else:
        check(True, "the first run finished before the stop (nothing to resume)")
    if failures:
        sys.exit(f"{len(failures)} failure(s): {failures}")


main()
