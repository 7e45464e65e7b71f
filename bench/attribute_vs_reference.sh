#!/bin/bash
# bench/attribute_vs_reference.sh [RECAL] — whole processes, side by side in one
# run, as a new user would time them: `recal attribute` of 64 CIFAR-sized images
# (PreActResNet-18, random weights, IG-Uniform valid_ip, R=10, K=3, 2 threads)
# with the α = 1 point shared (the default) and computed per path
# (RECAL_SHARE_ENDPOINTS=0), against the reference implementation's loop
# (tools/bench_reference.py --case ig: one forward + .backward() per slice,
# python start and model load included). Prints one line per contender and the
# ratios. Env: IMAGES (64), REFS (10), STEPS (3), THREADS (2), EST (valid_ip), REPEAT (3).
set -eu
cd "$(dirname "$0")/.."
RECAL=${1:-build/recal}
PY=${RECAL_PYTHON:-/usr/bin/python3}
IMAGES=${IMAGES:-64} REFS=${REFS:-10} STEPS=${STEPS:-3} THREADS=${THREADS:-2} EST=${EST:-valid_ip}
REPEAT=${REPEAT:-3}
W=${TMPDIR:-/tmp}/recal-attr-bench
mkdir -p "$W"
[ -f "$W/preact_resnet18.pt" ] || "$PY" tools/export_models.py "$W" >/dev/null
"$PY" - "$W" "$IMAGES" <<'PYEOF'
import sys, numpy as np
w, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
np.save(f"{w}/x.npy", rng.normal(size=(n, 3, 32, 32)).astype(np.float32))
np.save(f"{w}/y.npy", (np.arange(n) % 10).astype(np.int64))
PYEOF
now() { date +%s.%N; }
wall() { # seconds "$@" takes
    local t0 t1
    t0=$(now); "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; exit 1; }; t1=$(now)
    echo "$t1 - $t0" | bc -l
}
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc -l)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
ATTR=("$RECAL" attribute --model "$W/preact_resnet18.pt" --input "$W/x.npy" --labels "$W/y.npy" --method ig_uniform
      --estimator "$EST" --refs "$REFS" --steps "$STEPS" --threads "$THREADS" --device cpu --out "$W/a.npy")
REF=("$PY" tools/bench_reference.py --model "$W/preact_resnet18.pt" --shape 3,32,32 --images "$IMAGES"
     --case ig --refs "$REFS" --steps "$STEPS" --threads "$THREADS")
# Interleaved, best of REPEAT each: this VM's speed drifts by ±20 % from one
# minute to the next, and a drift should hit every contender alike.
t_share="" t_all="" t_ref=""
for _ in $(seq "$REPEAT"); do
    t_share=$(min "$t_share" "$(wall env RECAL_SHARE_ENDPOINTS=1 "${ATTR[@]}")")
    t_all=$(min "$t_all" "$(wall env RECAL_SHARE_ENDPOINTS=0 "${ATTR[@]}")")
    t_ref=$(min "$t_ref" "$(wall env -u PYTHONPATH "${REF[@]}")")
done
printf '{"case": "recal attribute ig_uniform/%s R=%s K=%s, %s images, PreActResNet-18, %s threads", ' "$EST" "$REFS" "$STEPS" "$IMAGES" "$THREADS"
printf '"recal_s": %.2f, "recal_all_points_s": %.2f, "reference_s": %.2f, ' "$t_share" "$t_all" "$t_ref"
printf '"speedup_vs_reference": %.2f, "speedup_all_points_vs_reference": %.2f, "sharing_gain": %.2f}\n' \
    "$(echo "$t_ref / $t_share" | bc -l)" "$(echo "$t_ref / $t_all" | bc -l)" "$(echo "$t_all / $t_share" | bc -l)"
