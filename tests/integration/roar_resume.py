#!/usr/bin/python3
"""Diff-ROAR is one job and survives interruption in each of its stages
(issue #22; #6's "finished work is never lost and never counted twice"):
one `mpirun -n 2 recal run` of a config with metrics.roar runs stage 0 (the
evaluation of the test prefix: DiffID and its rank maps), stage 1 (the train
prefix's rank maps, RUN_DIR/train) and stage 2 (the fine-tunes), journaled
as three sections of RUN_DIR/journal. A run SIGKILLed while each stage is
under way, resumed with --resume, continues at that stage's first missing
shard and gives exactly the uninterrupted run's metrics.json results and
roar.json; so does one stopped by SIGUSR1 among the fine-tunes (exit 3 and
the resume line). `recal roar` is the same command for roar configs and
says what replaced its old options.

usage: roar_resume.py RECAL SRC_DIR WORK_DIR MODEL"""
import glob
import json
import os
import signal
import struct
import subprocess
import sys
import time

N = 400          # images of each split
SHARD = 40       # 10 shards in stages 0 and 1
FRACTIONS = [0.1, 0.3, 0.5, 0.7]
TASKS = 2 * len(FRACTIONS) * 2  # 2 maps × fractions × top/bottom
HEADER, MAGIC_HEADER = 108, 0x484a4352
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def sections(path):
    """[(planned shards, journaled records)] per stage begun in the journal."""
    try:
        b = open(path, "rb").read()
    except FileNotFoundError:
        return []
    out, off = [], 0
    while off + HEADER <= len(b) and struct.unpack_from("<I", b, off)[0] == MAGIC_HEADER:
        n_shards, rlen = struct.unpack_from("<q", b, off + 80)[0], struct.unpack_from("<Q", b, off + 96)[0]
        off += HEADER
        rb, n = 44 + 8 * rlen, 0
        while off + rb <= len(b) and struct.unpack_from("<I", b, off)[0] != MAGIC_HEADER:
            n, off = n + 1, off + rb
        out.append((n_shards, n))
    return out


def results(run):
    """What must not depend on interruptions: metrics.json's results and roar.json."""
    m = json.load(open(os.path.join(run, "metrics.json")))
    return m["results"], m["images"], json.load(open(os.path.join(run, "roar.json")))


def main():
    recal, src, work, model = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    roar = f"{{fractions: {FRACTIONS}, epochs: 3, lr: 0.05, milestones: [2], batch_size: 64}}"
    # threads: 1 — the same float order in every fine-tune, whichever rank or run computes it
    sets = ["--set", f"model.path={model}", "--set", "methods=[{name: input_grad}, {name: random}]",
            "--set", f"metrics.roar={roar}", "--set", "seed=4", "--set", "outputs.figures=false",
            "--set", "threads=1", "--set", f"shard_images={SHARD}", "--set", "shard_seconds=0",
            "--limit", str(N)]

    def run_cmd(out, extra=()):
        return ["mpirun", "-n", "2", recal, "run", cfg] + sets + ["--run-dir", out] + list(extra)

    def start_until(out, stage, n, **popen):
        """Start a run into OUT; return once stage `stage` has n records (or it ended)."""
        p = subprocess.Popen(run_cmd(out), **popen)
        deadline = time.time() + 300
        while p.poll() is None and time.time() < deadline:
            s = sections(os.path.join(out, "journal"))
            if len(s) > stage and s[stage][1] >= n:
                break
            time.sleep(0.005)
        return p

    # the uninterrupted run
    clean = os.path.join(work, "clean")
    subprocess.run(["rm", "-rf", clean], check=True)
    t0 = time.time()
    r = subprocess.run(run_cmd(clean), capture_output=True, text=True)
    check(r.returncode == 0, f"one recal run does all of Diff-ROAR: exit {r.returncode} "
          f"{r.stderr[-800:] if r.returncode else ''} ({time.time() - t0:.1f} s)")
    if r.returncode:
        sys.exit("the uninterrupted run failed")
    want = results(clean)
    plan = sections(os.path.join(clean, "journal"))
    check(plan == [(N // SHARD, N // SHARD), (N // SHARD, N // SHARD), (TASKS, TASKS)],
          f"one journal, three stages, each shard once: {plan}")
    check(all(len(x["roar"]["diff_roar"]) == len(FRACTIONS) and "diffid" in x for x in want[0]),
          "metrics.json results carry diffid and roar")
    check(os.path.exists(os.path.join(clean, "train", "masks")) and os.path.exists(os.path.join(clean, "roar.csv")),
          "train rank maps in RUN_DIR/train, roar.csv beside metrics.json")

    # SIGKILL every process while each stage is under way
    for stage, at in ((0, 2), (1, 2), (2, 3)):
        out = os.path.join(work, f"killed-{stage}")
        subprocess.run(["rm", "-rf", out], check=True)
        p = start_until(out, stage, at, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        start_new_session=True)
        # every rank at once, then mpirun (Open MPI puts each rank in a
        # process group of its own, so mpirun's group alone would leave them)
        ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
        for pid in ranks:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        while any(os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"
                  for pid in ranks):
            time.sleep(0.01)
        got = sections(os.path.join(out, "journal"))
        planned = [N // SHARD, N // SHARD, TASKS][stage]
        check(len(got) == stage + 1 and 0 < got[stage][1] < planned and
              not os.path.exists(os.path.join(out, "metrics.json")),
              f"killed in stage {stage} with {got} journaled, no metrics.json")
        if stage == 2:
            # an evaluation rank map lost meanwhile: stage 0 computes that shard
            # again although stage 1 and 2 follow it in the journal
            os.remove(sorted(glob.glob(os.path.join(out, "masks", "shard-*.npy")))[0])
        r = subprocess.run(run_cmd(out, ["--resume"]), capture_output=True, text=True)
        if stage == 2:
            check("lost their output files" in r.stderr, "stage 2: the lost evaluation rank map is computed again")
        check(r.returncode == 0, f"--resume after the kill in stage {stage}: exit {r.returncode} "
              f"{r.stderr[-800:] if r.returncode else ''}")
        if r.returncode:
            continue
        after = sections(os.path.join(out, "journal"))
        check(after == plan, f"stage {stage}: the resumed journal holds each shard once: {after}")
        if stage == 2:
            ran = r.stderr.count(": test acc ")
            check(ran == TASKS - got[2][1], f"the resume ran {ran} fine-tunes, the {TASKS - got[2][1]} missing")
        check(results(out) == want, f"stage {stage}: metrics.json results and roar.json equal the uninterrupted run's")

    # SIGUSR1 to mpirun (forwarded) among the fine-tunes: exit 3, the resume line, then the same results
    out = os.path.join(work, "usr1")
    subprocess.run(["rm", "-rf", out], check=True)
    p = start_until(out, 2, 3, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    p.send_signal(signal.SIGUSR1)
    _, err = p.communicate(timeout=300)
    line = [l for l in err.splitlines() if l.startswith("interrupted")]
    check(p.returncode == 3 and line and "stage 3 of 3 (fine-tunes)" in line[0] and "--resume" in line[0],
          f"SIGUSR1 among the fine-tunes: exit {p.returncode}: {line}")
    r = subprocess.run(run_cmd(out, ["--resume"]), capture_output=True, text=True)
    check(r.returncode == 0 and results(out) == want, f"resumed after SIGUSR1: exit {r.returncode}, results equal")

    # recal roar: the same command for a roar config; its old options explained
    r = subprocess.run([recal, "roar", cfg, "--train-run", "a", "--test-run", "b"], capture_output=True, text=True)
    check(r.returncode == 1 and "is gone" in r.stderr and "recal run CONFIG" in r.stderr,
          f"recal roar --train-run: exit {r.returncode}: {r.stderr.strip()[:160]}")
    r = subprocess.run([recal, "roar", cfg, "--set", f"model.path={model}", "--run-dir", os.path.join(work, "x")],
                       capture_output=True, text=True)
    check(r.returncode == 1 and "no metrics.roar section" in r.stderr,
          f"recal roar of a config without metrics.roar: exit {r.returncode}")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed: {failures}")
    print("one recal run does Diff-ROAR, and resumes it exactly from a kill in any stage")


if __name__ == "__main__":
    main()
