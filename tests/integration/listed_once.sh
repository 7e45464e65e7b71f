#!/bin/sh
# integration/listed_once (issue #37 item 1): a run lists its data set once,
# on rank 0, whatever its rank count. An ImageFolder of 3 classes x 5 JPEGs
# (a hidden file beside them) and a Flatten + Linear model; `recal run` on 3
# ranks, each rank under its own strace (stat, lstat, newfstatat, statx,
# openat). Checks: ranks 1 and 2 neither stat a path under the data set nor
# open one of its directories (rank 0 does both: the check sees a listing),
# and their logs say "listed 0 files, received 15"; images.csv's ids, files
# and labels are Python's sorted(os.listdir) order of the folders (the
# oracle); the DiffID of the 3-rank run equals a 1-rank run's.
# Skipped (77) where strace is missing or cannot trace (tools/install-deps.sh
# installs it). Usage: listed_once.sh RECAL WORK_DIR
set -eu
recal=$1 work=$2
w="$work/listed_once"
rm -rf "$w" && mkdir -p "$w"
cd "$w"
fail() { echo "FAIL: $*"; exit 1; }
if ! command -v strace >/dev/null || ! strace -qq -o /dev/null true 2>/dev/null; then
    echo "SKIP: strace is missing or cannot trace here (apt-get install strace)"
    exit 77
fi

/usr/bin/python3 - <<'PY'
import os
import numpy as np
import torch
from PIL import Image
rng = np.random.default_rng(3)
for c in ("n03", "n01", "n02"):
    os.makedirs(f"data/val/{c}")
    for i in (4, 0, 3, 1, 2):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(f"data/val/{c}/img{i}.JPEG")
Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save("data/val/n01/.hidden.JPEG")
torch.manual_seed(0)
m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 3)).eval()
torch.jit.trace(m, torch.randn(1, 3, 16, 16)).save("model.pt")
PY

cat >job.yaml <<EOC
name: listed-once
model: {path: $w/model.pt}
dataset: {name: imagenet, path: $w/data, split: val, resize: 16}
batch_size: 2
threads: 1
methods:
  - {name: random}
metrics:
  diffid: {}
outputs: {figures: false}
EOC

mpirun -n 3 sh -c 'exec strace -f -qq -e trace=stat,lstat,newfstatat,statx,openat -o "$0/trace.$OMPI_COMM_WORLD_RANK" "$@"' \
    "$w" "$recal" run job.yaml --run-dir "$w/run3" >run3.out 2>&1 || { cat run3.out; fail "recal run on 3 ranks"; }
"$recal" run job.yaml --run-dir "$w/run1" >run1.out 2>&1 || { cat run1.out; fail "recal run on 1 rank"; }

/usr/bin/python3 - "$w" <<'PY' || fail "see above"
import csv, json, os, re, sys
w = sys.argv[1]
data = os.path.join(w, "data")
bad = []
call = re.compile(r'^\d+\s+(stat|lstat|newfstatat|statx|openat)\((.*)')
def touches(rank):
    stats, dirs = [], []
    for line in open(os.path.join(w, f"trace.{rank}")):
        m = call.match(line)
        if not m or data + "/" not in m.group(2):
            continue
        if m.group(1) != "openat":
            stats.append(line.strip())
        elif "O_DIRECTORY" in m.group(2):
            dirs.append(line.strip())
    return stats, dirs
s0, d0 = touches(0)
if not d0:
    bad.append("rank 0 opened no directory of the data set: the trace does not see the listing")
for r in (1, 2):
    s, d = touches(r)
    if s:
        bad.append(f"rank {r} stat'ed {len(s)} paths of the data set, the first: {s[0]}")
    if d:
        bad.append(f"rank {r} listed {len(d)} directories of the data set, the first: {d[0]}")
    log = open(os.path.join(w, "run3", "logs", f"rank-{r}.log")).read()
    if "listed 0 files, received 15 " not in log:
        bad.append(f"rank {r}'s log has no 'listed 0 files, received 15'")
log0 = open(os.path.join(w, "run3", "logs", "rank-0.log")).read()
if "listed 15 files, sent to 2 other rank(s)" not in log0:
    bad.append("rank 0's log has no 'listed 15 files, sent to 2 other rank(s)'")
# the oracle: ImageFolder's order, from Python's own listing
root = os.path.join(data, "val")
classes = sorted(d for d in os.listdir(root) if not d.startswith("."))
want = [(os.path.join(root, c, f), k) for k, c in enumerate(classes)
        for f in sorted(f for f in os.listdir(os.path.join(root, c)) if not f.startswith("."))]
rows = list(csv.DictReader(open(os.path.join(w, "run3", "images.csv"))))
got = [(r["source"], int(r["label"])) for r in rows]
if [int(r["image_id"]) for r in rows] != list(range(15)) or got != want:
    bad.append(f"images.csv of the 3-rank run: {got} want {want}")
def diffid(run):
    m = json.load(open(os.path.join(w, run, "metrics.json")))
    return json.dumps([m["accuracy"], m["results"]], sort_keys=True)
if diffid("run3") != diffid("run1"):
    bad.append("the 3-rank run's results differ from the 1-rank run's")
for b in bad:
    print("FAIL:", b)
if not bad:
    print(f"ok: rank 0 listed ({len(d0)} directories opened); ranks 1 and 2 received 15 files and stat'ed none;"
          " images.csv in ImageFolder's order; 3 ranks = 1 rank")
sys.exit(1 if bad else 0)
PY
