#!/bin/sh
# `recal bench`'s model cases run end to end and print well-formed lines:
# IG-Uniform, DiffID and the end-to-end cases on the Fashion CNN in fp32 and
# bf16 (the end-to-end ones once with the PyTorch reference loop), and DiffID at
# ResNet-50's 224×224 (1,000 classes) when torchvision could export it. A
# smoke test of the benchmark code, which CI does not otherwise run; no
# timing is checked (figures belong in the README's tables).
# usage: bench_cases.sh RECAL SRC WORK
set -eu
recal=$1
src=$2
w=$3/bench-cases
rm -rf "$w"
mkdir -p "$w"
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$src" # the models are exported with tools/

for p in fp32 bf16; do
    "$recal" bench --no-python --only fashion-cnn --images 16 --precision $p --models "$w/models" \
        > "$w/cnn-$p.json" 2> "$w/err.txt" || { cat "$w/err.txt"; fail "fashion-cnn $p: exit status $?"; }
    cat "$w/cnn-$p.json"
    grep -q "^{\"case\": \"ig_uniform/valid_ip R=10 K=5\", \"model\": \"fashion-cnn 1x28x28\", \"device\": \"cpu\", \"precision\": \"$p\", .*\"images\": 16, \"images_per_s\": [0-9]" \
        "$w/cnn-$p.json" || fail "no IG line for $p"
    grep -q "^{\"case\": \"diffid\", \"model\": \"fashion-cnn 1x28x28\", .*\"precision\": \"$p\", .*\"images\": 64, \"images_per_s\": [0-9]" \
        "$w/cnn-$p.json" || fail "no DiffID line for $p"
    for e in 1 3; do
        grep -q "^{\"case\": \"e2e ig_uniform/.* R=10 K=5 + diffid\", \"model\": \"fashion-cnn 1x28x28\", .*\"precision\": \"$p\", .*\"estimators\": $e, \"images\": 4, \"images_per_s\": [0-9]" \
            "$w/cnn-$p.json" || fail "no end-to-end line with $e estimator(s) for $p"
    done
done
# the reference's end-to-end loop (tools/bench_reference.py --case e2e) runs
"$recal" bench --only fashion-cnn --case e2e --images 8 --models "$w/models" > "$w/e2e.json" 2> "$w/err.txt" ||
    { cat "$w/err.txt"; fail "e2e with the reference loop: exit status $?"; }
cat "$w/e2e.json"
[ "$(grep -c '"case": "e2e .*"reference_loop_images_per_s": [0-9].*"speedup_vs_reference_loop": [0-9]' "$w/e2e.json")" = 2 ] ||
    fail "the end-to-end lines lack the reference loop's figures"
grep -q '"case": "ig_uniform\|"case": "diffid"' "$w/e2e.json" && fail "--case e2e ran other cases"
if [ -f "$w/models/resnet50.pt" ]; then
    "$recal" bench --no-python --only resnet50 --case diffid --images 1 --models "$w/models" > "$w/r50.json" 2> "$w/err.txt" ||
        { cat "$w/err.txt"; fail "resnet50: exit status $?"; }
    cat "$w/r50.json"
    grep -q '^{"case": "diffid", "model": "resnet50 3x224x224", .*"images": 4, "images_per_s": [0-9]' "$w/r50.json" ||
        fail "no ResNet-50 DiffID line"
else
    echo "ResNet-50 not exported (python3-torchvision missing): its cases not run"
fi
echo "bench cases: ok"
