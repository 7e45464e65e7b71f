#!/bin/sh
# Fixture: export the default CNN from PyTorch and train it with `recal
# train` (the full 3-epoch default); the trained model must reach >= 0.88
# Fashion-MNIST test accuracy. Usage: train_model.sh RECAL SRC_DIR OUT_DIR
set -eu
recal=$1 src=$2 out=$3
mkdir -p "$out"
/usr/bin/python3 "$src/tools/export_fashion_cnn.py" "$out/fashion-cnn-init.pt"
"$recal" train "$src/configs/fashion-mnist-train.yaml" \
    --set model.path="$out/fashion-cnn-init.pt" --set train.out="$out/fashion-cnn.pt" | tee "$out/train.log"
acc=$(sed -n 's/^saved .*(test accuracy \([0-9.]*\))$/\1/p' "$out/train.log")
echo "final test accuracy: $acc"
/usr/bin/python3 -c "import sys; a=float('$acc'); sys.exit(0 if a >= 0.88 else 'test accuracy %.4f < 0.88' % a)"

# Deterministic with a seed: two short trainings print the same losses and
# accuracies to the last digit.
for i in 1 2; do
    "$recal" train "$src/configs/fashion-mnist-train.yaml" --set model.path="$out/fashion-cnn-init.pt" \
        --set train.out="$out/det-$i.pt" --set dataset.limit=3000 --set train.epochs=2 --set threads=1 \
        2>/dev/null | grep '^epoch' | sed 's/  (.*s)$//' > "$out/det-$i.log"
done
if ! cmp -s "$out/det-1.log" "$out/det-2.log"; then
    echo "training is not deterministic for a fixed seed:"; diff "$out/det-1.log" "$out/det-2.log"; exit 1
fi
echo "deterministic: $(tail -1 "$out/det-1.log")"
