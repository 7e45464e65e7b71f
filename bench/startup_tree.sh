#!/bin/bash
# bench/startup_tree.sh DIR LABEL=RECAL [LABEL=RECAL ...] — the start-up of
# `recal run` against the size of the data set's tree and the rank count
# (issue #37 item 1), every binary given side by side in one run.
#
# Makes under DIR (deleted at the end unless KEEP=1): 32 small real JPEGs
# (crops of matplotlib's sample photo, else PIL gradients) and, as hard links
# to them (at most 60,000 links a file): small/val/ (10 classes x 10 files),
# inet/val/ (1,000 class folders x 50 = 50,000 files) and inet/train/ (1,000 x
# 1,280 = 1.28 M) beside it; two tiny TorchScript models (Flatten + Linear of
# 3x16x16 to 10 and 1,000 classes). The job: `random` + DiffID on the first
# 64 images (dataset.limit), resize 16, batch 8, 1 thread a rank, so the
# compute is small and the start-up is what is timed.
#
# Runs, for each binary: the 100-file tree and val/ alone on 1 rank, then
# val/ with train/ beside it on RANKS (default "1 8 32", mpirun
# --oversubscribe); each timed once bare and once under strace (stat,
# lstat, newfstatat, statx and getdents64 of every rank, -f). Prints one JSON
# line a run: the wall time, rank 0's and the slowest other rank's start-up
# line (logs/rank-<r>.log, "start-up: ..."), and per rank the stat-family
# calls in all, those naming a path under the data set, and its directory
# reads. TRAIN=0 stops before train/ (a quick check of the script);
# MAKE_ONLY=1 makes the tree and stops (a later run reuses it). Needs strace and /usr/bin/python3 with torch and PIL.
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DIR LABEL=RECAL [LABEL=RECAL ...]" >&2; exit 1; }
DIR=$(realpath -m "$1")
shift
RANKS=${RANKS:-1 8 32}
PY=${RECAL_PYTHON:-/usr/bin/python3}
command -v strace >/dev/null || { echo "$0: strace is missing: apt-get install strace" >&2; exit 1; }
mkdir -p "$DIR"
inodes=$(df --output=iavail "$DIR" | tail -1)
[ "$inodes" -gt 10000 ] || { echo "$0: $DIR has $inodes free inodes; the tree needs ~2,100 (hard links)" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

make_part() { # make_part small|val|train: the tree's part, once
    [ -e "$DIR/.made-$1" ] && return 0
    "$PY" - "$DIR" "$1" <<'PYEOF'
import os, sys
import numpy as np
d, part = sys.argv[1], sys.argv[2]
SRC, MAX_LINKS = 32, 60000
src = [os.path.join(d, "src", f"s{k:02d}.JPEG") for k in range(SRC)]
if not os.path.exists(src[-1]):
    import torch
    from PIL import Image
    os.makedirs(os.path.join(d, "src"), exist_ok=True)
    photo = "/usr/share/matplotlib/mpl-data/sample_data/grace_hopper.jpg"
    big = Image.open(photo).convert("RGB") if os.path.exists(photo) else None
    rng = np.random.default_rng(0)
    for k, p in enumerate(src):
        if big is not None:
            x0, y0 = int(rng.integers(0, big.width - 64)), int(rng.integers(0, big.height - 64))
            im = big.crop((x0, y0, x0 + 64, y0 + 64)).resize((24, 24))
        else:
            g = np.linspace(0, 255, 24, dtype=np.uint8)
            im = Image.fromarray(np.stack([np.add.outer(g, g * k % 256) % 256] * 3, -1).astype(np.uint8))
        im.save(p, "JPEG", quality=90)
    torch.manual_seed(0)
    for classes in (10, 1000):
        m = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, classes)).eval()
        torch.jit.trace(m, torch.randn(1, 3, 16, 16)).save(os.path.join(d, f"model-{classes}.pt"))
# link k of the whole tree goes to source k % SRC: 1,330,100 links over 32 files
first = {"small": 0, "val": 100, "train": 100 + 50000}[part]
classes, per, root = {"small": (10, 10, "small/val"), "val": (1000, 50, "inet/val"),
                      "train": (1000, 1280, "inet/train")}[part]
assert (100 + 50000 + 1280000) // SRC + 1 <= MAX_LINKS
i = first
for c in range(classes):
    cdir = os.path.join(d, root, f"n{c:08d}")
    os.makedirs(cdir, exist_ok=True)
    for f in range(per):
        os.link(src[i % SRC], os.path.join(cdir, f"n{c:08d}_{f:05d}.JPEG"))
        i += 1
PYEOF
    touch "$DIR/.made-$1"
}

config() { # config NAME TREE CLASSES: the job's YAML
    cat >"$DIR/$1.yaml" <<EOC
name: startup-$1
model: {path: $DIR/model-$3.pt}
dataset: {name: imagenet, path: $DIR/$2, split: val, resize: 16, limit: 64}
batch_size: 8
threads: 1
methods:
  - {name: random}
metrics:
  diffid: {}
outputs: {figures: false}
EOC
}

# one LABEL RECAL CASE RANKS [strace]: one run, one JSON line
one() {
    local label=$1 recal=$2 case=$3 ranks=$4 traced=${5:-}
    local run="$DIR/runs/$label-$case-$ranks${traced:+-strace}"
    rm -rf "$run" "$run.trace"
    mkdir -p "$DIR/runs"
    local cmd=("$recal" run "$DIR/$case.yaml" --run-dir "$run")
    local t0 t1
    t0=$(date +%s.%N)
    if [ -n "$traced" ]; then
        mkdir -p "$run.trace"
        # each rank traces itself (the rank number is only known inside mpirun)
        mpirun -n "$ranks" sh -c 'exec strace -f -qq -e trace=stat,lstat,newfstatat,statx,getdents64 \
            -o "$0/rank-$OMPI_COMM_WORLD_RANK" "$@"' "$run.trace" "${cmd[@]}" >"$run.out" 2>&1 ||
            { cat "$run.out" >&2; exit 1; }
    else
        mpirun -n "$ranks" "${cmd[@]}" >"$run.out" 2>&1 || { cat "$run.out" >&2; exit 1; }
    fi
    t1=$(date +%s.%N)
    "$PY" - "$label" "$case" "$ranks" "$run" "$(echo "$t1 - $t0" | bc -l)" "$DIR" "$traced" <<'PYEOF'
import glob, json, os, re, sys
label, case, ranks, run, wall, d, traced = sys.argv[1:8]
ranks = int(ranks)
STEPS = ["exec to main (libtorch's libraries)", "MPI_Init", "listing", "data set open", "model load",
         "model check and chunk", "fingerprint", "shard plan"]
# binaries before shards_per_rank name the last step "shard-size probe"
ALIAS = {"shard plan": "(?:shard plan|shard-size probe)"}
def startup(r):
    text = open(os.path.join(run, "logs", f"rank-{r}.log")).read()
    m = re.search(r"start-up: ([0-9.]+) s from exec[^:]*: (.*)", text)
    if not m:
        return None
    out = {"total": float(m.group(1))}
    for s in STEPS:
        v = re.search(ALIAS.get(s, re.escape(s)) + r" ([0-9.]+)", m.group(2))
        out[s] = float(v.group(1)) if v else None
    return out
row = {"binary": label, "tree": case, "ranks": ranks, "strace": bool(traced), "wall_s": round(float(wall), 2)}
su = [startup(r) for r in range(ranks)]
row["rank0"] = su[0]
others = [s for s in su[1:] if s]
row["slowest_other"] = max(others, key=lambda s: s["total"]) if others else None
if traced:
    data = os.path.join(d, "small" if case == "small" else "inet")
    calls = re.compile(r"^\d+\s+(stat|lstat|newfstatat|statx|getdents64)\((.*)")
    per = []
    for r in range(ranks):
        st = st_data = dents = 0
        for line in open(os.path.join(run + ".trace", f"rank-{r}")):
            m = calls.match(line)
            if not m:
                continue
            if m.group(1) == "getdents64":
                dents += 1
                continue
            st += 1
            st_data += data + "/" in m.group(2) or data + '"' in m.group(2)
        per.append({"stat": st, "stat_data": st_data, "getdents64": dents})
    row["per_rank"] = per
print(json.dumps(row), flush=True)
PYEOF
}

make_part small
make_part val
if [ "${MAKE_ONLY:-0}" = 1 ]; then # the tree alone (KEEP=1 implied): time it later
    [ "${TRAIN:-1}" = 1 ] && make_part train
    exit 0
fi
config small small 10
config val inet 1000
for b in "$@"; do one "${b%%=*}" "${b#*=}" small 1; one "${b%%=*}" "${b#*=}" small 1 strace; done
for b in "$@"; do one "${b%%=*}" "${b#*=}" val 1; one "${b%%=*}" "${b#*=}" val 1 strace; done
if [ "${TRAIN:-1}" = 1 ]; then
make_part train
cp "$DIR/val.yaml" "$DIR/train-beside.yaml"
sed -i 's/^name: startup-val/name: startup-train-beside/' "$DIR/train-beside.yaml"
for r in $RANKS; do
    for b in "$@"; do
        one "${b%%=*}" "${b#*=}" train-beside "$r"
        one "${b%%=*}" "${b#*=}" train-beside "$r" strace
    done
done
fi
if [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$DIR"
    echo "removed $DIR" >&2
fi
