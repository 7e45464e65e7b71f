#!/usr/bin/python3
"""Diff-ROAR survives an interruption (issue #6's "finished work is never
lost and never counted twice", for `recal roar`): a run SIGKILLed after some
fine-tunes, resumed with --resume, gives exactly the uninterrupted run's
roar.json, reusing the recorded fine-tunes and running only the rest; so
does a run stopped by SIGUSR1 through mpirun, which exits 3 ("resumable"),
and one whose disk filled up (RECAL_FAULT: each rank's third record fails
with ENOSPC), which exits 1 saying to resume once there is space; a second
`recal roar` into a directory in use is refused;
a re-run without --resume, a record of another config and a damaged record
each stop with exit 1 and a message that says what to do.

usage: roar_resume.py RECAL SRC_DIR WORK_DIR MODEL"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from check_roar import attribute_splits  # noqa: E402

N_TRAIN, N_TEST = 1000, 200
FRACTIONS = [0.1, 0.3, 0.5, 0.7]
TASKS = 2 * len(FRACTIONS) * 2  # 2 maps × fractions × top/bottom
failures = []


def check(ok, what):
    print(f"{'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


def said(stderr):
    """recal's own message (mpirun adds a banner after a failed rank)."""
    return [l for l in stderr.splitlines() if l.startswith("recal roar:")][-1:]


def main():
    recal, src, work, model = sys.argv[1:5]
    os.makedirs(work, exist_ok=True)
    cfg = os.path.join(src, "tests", "data", "fashion-diffid.yaml")
    roar = f"{{roar: {{fractions: {FRACTIONS}, epochs: 3, lr: 0.05, milestones: [2], batch_size: 64}}}}"
    # threads: 1 — the same float order in every fine-tune, whichever run it is in
    sets = ["--set", f"model.path={model}", "--set", "methods=[{name: input_grad}, {name: random}]",
            "--set", f"metrics={roar}", "--set", "seed=4", "--set", "outputs.figures=false", "--set", "threads=1"]
    runs = attribute_splits(recal, cfg, sets, work, "run", N_TEST, N_TRAIN)

    def roar_cmd(out, extra=()):
        return ["mpirun", "-n", "2", recal, "roar", cfg] + sets + list(extra) + \
            ["--train-run", runs["train"], "--test-run", runs["test"], "--out", out]

    def tasks(out):
        return sorted(glob.glob(os.path.join(out, "roar-tasks", "task-*.txt")))

    def start_until_recorded(out, n, **popen):
        """Start `recal roar` into OUT; return once it has recorded n fine-tunes (or ended)."""
        p = subprocess.Popen(roar_cmd(out), **popen)
        deadline = time.time() + 120
        while len(tasks(out)) < n and p.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        return p

    # the uninterrupted run
    clean = os.path.join(work, "clean")
    subprocess.run(["rm", "-rf", clean], check=True)
    t0 = time.time()
    p = start_until_recorded(clean, 1, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # a second `recal roar` into the same directory meanwhile: refused
    r = subprocess.run(roar_cmd(clean, ["--resume"]), capture_output=True, text=True)
    check(r.returncode == 1 and "in use by another `recal roar`" in r.stderr,
          f"a second roar into a busy directory: exit {r.returncode}: {said(r.stderr)}")
    _, err = p.communicate(timeout=300)
    check(p.returncode == 0, f"clean run: exit {p.returncode} {err[-300:] if p.returncode else ''}")
    want = json.load(open(os.path.join(clean, "roar.json")))
    check(len(tasks(clean)) == TASKS, f"clean run recorded {len(tasks(clean))} of {TASKS} fine-tunes "
          f"({time.time() - t0:.1f} s)")

    # again into the same directory without --resume: refused, nothing touched
    r = subprocess.run(roar_cmd(clean), capture_output=True, text=True)
    check(r.returncode == 1 and "--resume" in r.stderr, f"re-run without --resume: exit {r.returncode}, "
          f"says to pass --resume: {said(r.stderr)}")

    # SIGKILL the whole job once a few fine-tunes are recorded
    out = os.path.join(work, "killed")
    subprocess.run(["rm", "-rf", out], check=True)
    p = start_until_recorded(out, 3, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # every rank at once, then mpirun (Open MPI puts each rank in a process
    # group of its own, so mpirun's group alone would leave them running)
    ranks = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True).stdout.split()
    for pid in ranks:
        os.kill(int(pid), signal.SIGKILL)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    while any(os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z" for pid in ranks):
        time.sleep(0.01)
    kept = len(tasks(out))
    check(0 < kept < TASKS and not os.path.exists(os.path.join(out, "roar.json")),
          f"killed after {kept} of {TASKS} fine-tunes, no roar.json")
    before = {f: open(f).read() for f in tasks(out)}

    # a record of another config is refused, and so is a damaged one
    other = os.path.join(work, "other")
    subprocess.run(["rm", "-rf", other], check=True)
    subprocess.run(["cp", "-r", out, other], check=True)
    r = subprocess.run(roar_cmd(other, ["--resume", "--set", "seed=5"]), capture_output=True, text=True)
    check(r.returncode == 1 and "another config" in r.stderr, f"--resume with another config: exit {r.returncode}: "
          f"{said(r.stderr)}")
    bad = tasks(other)[0]
    with open(bad, "w") as f:
        f.write("recal-roar-task 1 garbage\n")
    r = subprocess.run(roar_cmd(other, ["--resume"]), capture_output=True, text=True)
    check(r.returncode == 1 and os.path.basename(bad) in r.stderr, f"--resume with a damaged record: exit "
          f"{r.returncode}, names {os.path.basename(bad)}")

    # resume: only the rest runs, and the result is the uninterrupted one
    r = subprocess.run(roar_cmd(out, ["--resume"]), capture_output=True, text=True)
    check(r.returncode == 0, f"--resume: exit {r.returncode} {r.stderr[-500:] if r.returncode else ''}")
    check(f"resuming: {kept} of them already finished" in r.stderr and
          r.stderr.count(" kept: test acc ") == TASKS - kept,
          f"--resume reused {kept} fine-tunes and ran {r.stderr.count(' kept: test acc ')}")
    check(all(open(f).read() == before[f] for f in before), "the recorded fine-tunes were not rewritten")
    check(len(tasks(out)) == TASKS, f"{len(tasks(out))} of {TASKS} fine-tunes recorded, each once")
    got = json.load(open(os.path.join(out, "roar.json")))
    check(got == want, "roar.json of the killed and resumed run equals the uninterrupted run's")

    # SIGUSR1 to mpirun, which forwards it: the ranks stop between steps, exit 3
    out = os.path.join(work, "usr1")
    subprocess.run(["rm", "-rf", out], check=True)
    p = start_until_recorded(out, 3, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    p.send_signal(signal.SIGUSR1)
    t0 = time.time()
    _, err = p.communicate(timeout=120)
    kept = len(tasks(out))
    check(p.returncode == 3 and "--resume" in err and not os.path.exists(os.path.join(out, "roar.json")),
          f"SIGUSR1: exit {p.returncode} after {time.time() - t0:.1f} s with {kept} of {TASKS} recorded: {said(err)}")
    r = subprocess.run(roar_cmd(out, ["--resume"]), capture_output=True, text=True)
    got = json.load(open(os.path.join(out, "roar.json"))) if r.returncode == 0 else None
    check(r.returncode == 0 and r.stderr.count(" kept: test acc ") == TASKS - kept and got == want,
          f"resumed after SIGUSR1: exit {r.returncode}, ran {r.stderr.count(' kept: test acc ')}, roar.json equal")

    # the disk fills up: each rank's 3rd record fails (ENOSPC), 2 + 2 are kept
    out = os.path.join(work, "full")
    subprocess.run(["rm", "-rf", out], check=True)
    r = subprocess.run(roar_cmd(out), capture_output=True, text=True, env=dict(os.environ, RECAL_FAULT="write:3+"))
    kept = len(tasks(out))
    check(r.returncode == 1 and "No space left on device" in r.stderr and "--resume" in r.stderr and kept == 4,
          f"disk full: exit {r.returncode}, {kept} recorded: {said(r.stderr)}")
    r = subprocess.run(roar_cmd(out, ["--resume"]), capture_output=True, text=True)
    got = json.load(open(os.path.join(out, "roar.json"))) if r.returncode == 0 else None
    check(r.returncode == 0 and r.stderr.count(" kept: test acc ") == TASKS - kept and got == want,
          f"resumed after the full disk: exit {r.returncode}, ran {r.stderr.count(' kept: test acc ')}, "
          "roar.json equal")
    if failures:
        sys.exit(f"{len(failures)} check(s) failed: {failures}")
    print("recal roar resumes an interrupted Diff-ROAR exactly")


if __name__ == "__main__":
    main()
