#!/bin/sh
# Every evaluation config in configs/ loads and validates (keys, methods,
# metrics, sweep points): `recal submit --dry-run` checks it all without a
# model, data or Slurm. A typo in a shipped config fails here, not on a
# user's cluster. The train-only config is exercised by integration/train_model.
set -eu
recal=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
n=0
for c in "$src"/configs/*.yaml; do
    case "$c" in *-train.yaml) continue ;; esac
    name=$(basename "$c" .yaml)
    if ! "$recal" submit "$c" --dry-run --run-dir "$work/$name" >"$work/$name.out" 2>&1; then
        echo "FAIL $c:"; cat "$work/$name.out"; exit 1
    fi
    echo "ok   $c"
    n=$((n + 1))
done
[ "$n" -ge 9 ] || { echo "FAIL: only $n configs found in $src/configs"; exit 1; }
echo "all $n configs validate"
# docs/cli.md is the binary's own --help texts: it must not drift from them
if ! sh "$src/tools/make_cli_doc.sh" "$recal" | diff -u "$src/docs/cli.md" - >"$work/cli.diff"; then
    echo "FAIL: docs/cli.md differs from the --help texts (regenerate: tools/make_cli_doc.sh build/recal > docs/cli.md):"
    head -40 "$work/cli.diff"; exit 1
fi
echo "ok   docs/cli.md matches every command's --help"
