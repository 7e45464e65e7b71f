#!/bin/sh
# bench/aoti_vs_torchscript.sh RECAL PYTHON [WORK] — the same model as a
# TorchScript file and as an AOTInductor package (tools/export_model.py), timed
# side by side with `recal attribute` (IG-Uniform valid_ip, R=10, 2 threads,
# best of 2): PreActResNet-18 on 64 images at 3×32×32 (K=3 and 5; packages at
# B=42, recal's CPU chunk, and B=16) and ResNet-50 on 4 images at 3×224×224
# (K=5, B=4). RECAL must be built against PYTHON's torch (libtorch >= 2.6).
# DEVICE=cuda exports and runs on the GPU (tools/gpu/check.sh's aoti stage).
set -eu
recal=${1:?usage: aoti_vs_torchscript.sh RECAL PYTHON [WORK]} py=${2:?python with torch >= 2.6}
w=${3:-/tmp/recal-aoti-bench}
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$w" && cd "$w"
dev=${DEVICE:-cpu}
ex() { "$py" "$src/tools/export_model.py" "$@" --device "$dev" 2>&1 | grep "export_model.py" || true; }
[ -f pre.pt ] || ex tools:preact_resnet18 --input-shape 3,32,32 --out pre.pt
[ -f pre42.pt2 ] || ex tools:preact_resnet18 --input-shape 3,32,32 --out pre42.pt2 --batch 42
[ -f pre16.pt2 ] || ex tools:preact_resnet18 --input-shape 3,32,32 --out pre16.pt2 --batch 16
[ -f r50.pt ] || ex tools:resnet50 --input-shape 3,224,224 --out r50.pt
[ -f r50.pt2 ] || ex tools:resnet50 --input-shape 3,224,224 --out r50.pt2 --batch 4
"$py" -c "
import numpy as np; r = np.random.default_rng(0)
np.save('x64.npy', r.normal(size=(64, 3, 32, 32)).astype(np.float32))
np.save('x4.npy', r.normal(size=(4, 3, 224, 224)).astype(np.float32))"
best() { # best of 2 wall-clock seconds of a command
    b=""
    for _ in 1 2; do
        s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N)
        b=$(echo "$e $s $b" | awk '{d = $1 - $2; if ($3 == "" || d < $3) print d; else print $3}')
    done
    echo "$b"
}
ig() { "$recal" attribute --model "$1" --input "$2" --method ig_uniform --estimator valid_ip --refs 10 --steps "$3" \
    --threads 2 --device "$dev" --out o.npy; }
echo "model,K,images,format,seconds"
for K in 3 5; do
    for f in pre.pt pre42.pt2 pre16.pt2; do echo "preact_resnet18,$K,64,$f,$(best ig "$f" x64.npy $K)"; done
done
for f in r50.pt r50.pt2; do echo "resnet50,5,4,$f,$(best ig "$f" x4.npy 5)"; done
