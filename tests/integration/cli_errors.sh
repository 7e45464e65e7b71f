#!/bin/sh
# Bad input gets exit 1 and a message that names the place; nothing is
# overwritten. Usage: cli_errors.sh RECAL SRC_DIR WORK_DIR MODEL
set -u
recal=$1 src=$2 work=$3 model=$4
fails=0
rm -rf "$work/cli" && mkdir -p "$work/cli"
cd "$work/cli"

expect() { # expect CODE PATTERN -- command...
    code=$1 pat=$2
    shift 3
    "$@" >out.txt 2>err.txt
    rc=$?
    if [ "$rc" != "$code" ] || ! cat out.txt err.txt | grep -q -- "$pat"; then
        echo "FAIL: $* -> exit $rc (want $code), stderr:"; cat err.txt
        fails=$((fails + 1))
    else
        echo "ok   exit $rc: $(cat err.txt out.txt | head -1)"
    fi
}

cfg="$src/tests/data/fashion-diffid.yaml"
printf 'name: x\nmodel:\n  path: m.pt\ndataset:\n  name: fashion-mnist\n  path: /usr/share/datasets/fashion-mnist\nbatchsize: 4\nmethods: [{name: random}]\n' > typo.yaml
expect 1 "typo.yaml:7:1: unknown key 'batchsize'.*did you mean 'batch_size'" -- "$recal" run typo.yaml
printf 'model: {path: m.pt}\ndataset: {name: fashion-mnist, path: /usr/share/datasets/fashion-mnist}\nmethods:\n  - {name: ig_unifrom}\n' > method.yaml
expect 1 "method.yaml:4:12: unknown method 'ig_unifrom' (did you mean 'ig_uniform'?)" -- "$recal" run method.yaml
printf 'model: {path: m.pt\n' > syntax.yaml
expect 1 "syntax.yaml:" -- "$recal" run syntax.yaml
expect 1 "dataset.limit" -- "$recal" run "$cfg" --set dataset.limit=abc
# numbers in full or not at all, on every command
expect 1 "--images wants a whole number >= 1, got '2x'" -- "$recal" bench --images 2x
# getopt_long everywhere: unknown options, missing values, stray operands, numbers in full
expect 1 "recal run: unexpected argument '--bogus'" -- "$recal" run "$cfg" --bogus
expect 1 "recal run: --run-dir needs a value" -- "$recal" run "$cfg" --run-dir
expect 1 "recal run: unexpected argument 'second.yaml'" -- "$recal" run "$cfg" second.yaml
expect 1 "recal run: --limit wants a whole number >= 0, got '2x'" -- "$recal" run "$cfg" --limit 2x
expect 1 "recal run: --ranks wants a whole number >= 1, got '0'" -- "$recal" run "$cfg" --ranks 0
expect 1 "recal dataset-dump: --first wants a whole number >= 0, got '-1'" -- "$recal" dataset-dump "$cfg" --out d.npy --first -1
expect 1 "recal train: --set needs a value" -- "$recal" train "$cfg" --set
expect 1 "recal sweep-merge: unexpected argument '--out'" -- "$recal" sweep-merge "$cfg" --out x
expect 1 "--memory-budget wants a whole number >= 1, got '-5'" -- "$recal" bench --memory-budget -5
expect 1 "--threads wants a number (a whole number >= 1), got 'x'" -- "$recal" attribute --threads x
expect 1 "missing.pt: model.path: no such file" -- "$recal" run "$cfg" --set model.path=missing.pt --limit 4 --run-dir r-missing-model
# YAML merge keys: said so, with what works instead (was "unknown key '<<'")
printf 'model: {path: m.pt}\ndataset: {name: fashion-mnist, path: /usr/share/datasets/fashion-mnist}\nmethods:\n  - &ig {name: ig_uniform, refs: 2}\n  - <<: *ig\n    steps: 3\n' > merge.yaml
expect 1 "merge.yaml:5:5: YAML merge keys ('<<: \*anchor') are not supported in 'methods.1': write the keys out" -- "$recal" run merge.yaml
# counts a user gives: refs at load (as attribute's), and the references a
# batch holds against the machine's memory before any shard (313 GB were
# asked for inside a shard)
expect 1 "'refs' must be an integer between 1 and 1000000, got '100000000'" -- "$recal" run "$cfg" --set methods.0.refs=100000000
# (batch_size 100000: 314 TB, more than any machine this test runs on)
expect 1 "methods.0 (ig_uniform): batch_size 100000 x refs 1000000 x 784 values an image x 4 bytes = 313600.00 GB of references .* more than this machine's .* GB of memory: lower refs or batch_size" -- \
    "$recal" run "$cfg" --set model.path="$model" --set methods.0.refs=1000000 --set batch_size=100000 --limit 4 --run-dir r-refs-mem
# a model that cuts its input off, or changes it in place: what it did, not
# "(a model for another dataset?)"
cat > nograd.py <<'PY'
import torch
class Detach(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l = torch.nn.Linear(784, 10)
    def forward(self, x):
        return self.l(x.detach().flatten(1))
class InPlace(Detach):
    def forward(self, x):
        x.mul_(2.0)
        return self.l(x.flatten(1))
torch.jit.script(Detach()).save('detach.pt')
torch.jit.script(InPlace()).save('inplace.pt')
PY
/usr/bin/python3 nograd.py
expect 1 "detach.pt: the model's output does not depend on its input x (a constant output, or x.detach()" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/detach.pt" --limit 4 --run-dir r-detach
expect 1 "inplace.pt: the model's forward modifies its input x in place" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/inplace.pt" --limit 4 --run-dir r-inplace
# an output that is an input: refused before anything is written
/usr/bin/python3 -c "import numpy as np; np.save('x4.npy', np.random.rand(2, 1, 28, 28).astype(np.float32))"
cp x4.npy x4.keep
expect 1 "recal attribute: --out ./x4.npy is the --input file: it would be overwritten" -- \
    "$recal" attribute --model "$model" --input x4.npy --method input_grad --out ./x4.npy
cmp -s x4.npy x4.keep || { echo "FAIL: attribute --out = --input changed the input"; fails=$((fails + 1)); }
expect 1 "recal dataset-dump: --out, --labels and CONFIG must be three files" -- "$recal" dataset-dump "$cfg" --out dd.npy --labels dd.npy
# recal attribute's refusals name the flag and the value (a catch-all named none)
expect 1 "recal attribute: --estimator 'vanila': want vanilla, valid_ref, valid_ip or idgi" -- \
    "$recal" attribute --model "$model" --input x4.npy --method ig_uniform --estimator vanilla,vanila --out e.npy
expect 1 "recal attribute: --objective 'logits': want logit, prob or contrast" -- \
    "$recal" attribute --model "$model" --input x4.npy --method ig_uniform --objective logits --out e.npy
expect 1 "recal attribute: --target label needs --labels" -- \
    "$recal" attribute --model "$model" --input x4.npy --method input_grad --target label --out e.npy
# the method's settings: the check a job's methods: entry has (job_method_check), naming the flag
expect 1 "recal attribute: --noise applies to ig_sg, ig_sq and smoothgrad only" -- \
    "$recal" attribute --model "$model" --input x4.npy --method ig --noise 0.1 --out e.npy
expect 1 "recal attribute: --max-dist wants a number in \[0, 1\] (a share of the path), got 1.5" -- \
    "$recal" attribute --model "$model" --input x4.npy --method guided_ig --max-dist 1.5 --out e.npy
expect 1 "recal attribute: --alpha-rule riemann_left: alpha_rule riemann_left needs steps >= 2" -- \
    "$recal" attribute --model "$model" --input x4.npy --method ig --alpha-rule riemann_left --steps 1 --out e.npy
expect 0 "recal attribute: warning: ig_uniform draws in pixel space and no --mean/--std were given" -- \
    "$recal" attribute --model "$model" --input x4.npy --method ig_uniform --refs 2 --steps 2 --out e.npy
expect 1 "recal attribute: --config .*fashion-diffid.yaml has no method eg (its methods: ig_uniform, random)" -- \
    "$recal" attribute --model "$model" --input x4.npy --config "$cfg" --method eg --out e.npy
expect 1 "fashion-diffid.yaml explains the labels (target: label): give --labels L.npy" -- \
    "$recal" attribute --model "$model" --input x4.npy --config "$cfg" --method ig_uniform --out e.npy
# bool labels: told to save integers (was told astype(np.float32))
mkdir -p boollab
/usr/bin/python3 -c "import numpy as np; np.save('boollab/images.npy', np.zeros((4, 28, 28), np.uint8)); np.save('boollab/labels.npy', np.zeros(4, bool))"
expect 1 "boollab/labels.npy: unsupported dtype '|b1' .*save labels or class indices with a.astype(np.int64)" -- \
    "$recal" run "$cfg" --set model.path="$model" --set dataset.name=npy --set dataset.path="$work/cli/boollab" --run-dir r-boollab

# a truncated dataset file: exit 1 naming the file
mkdir -p badds
cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz badds/
head -c 100000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > badds/t10k-images-idx3-ubyte.gz
expect 1 "badds/t10k-images-idx3-ubyte.gz" -- "$recal" run "$cfg" --set dataset.path="$work/cli/badds" --set model.path="$model" --run-dir r-bad-ds

# a model whose output has the wrong shape
cat > wrongshape.py <<'PY'
import torch
class M(torch.nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :3].sum(1)
torch.jit.script(M()).save('wrongshape.pt')
PY
/usr/bin/python3 wrongshape.py
expect 1 "expected \[N, classes\]" -- "$recal" run "$cfg" --set model.path="$work/cli/wrongshape.pt" --limit 4 --run-dir r-wrong-shape
# integer logits: named as such, with the model (libtorch said "element 0 of
# tensors does not require grad" and the images were blamed)
cat > int64.py <<'PY'
import torch
class M(torch.nn.Module):
    def forward(self, x):
        return (x.flatten(1)[:, :10] * 100).long()
torch.jit.script(M()).save('int64.pt')
PY
/usr/bin/python3 int64.py
expect 1 "int64.pt: model forward returns Long values, not floating point" -- "$recal" run "$cfg" \
    --set model.path="$work/cli/int64.pt" --limit 4 --run-dir r-int64
# the same command after a failed start (nothing finished) runs in the
# directory it left, once the cause is fixed (it was refused as "not empty")
rm -f late.pt
expect 1 "late.pt: model.path: no such file" -- "$recal" run "$cfg" --set model.path=late.pt --limit 4 --run-dir r-late
cp "$model" late.pt
expect 0 "has no journal yet .* starting the run in it" -- "$recal" run "$cfg" --set model.path=late.pt --limit 4 \
    --run-dir r-late
# a start cut short while writing overrides.txt (a full disk: config.yaml is
# there, overrides.txt not): the same command, or --resume, runs in it
for flag in "" --resume; do
    rm -rf r-ov && mkdir r-ov && cp r-late/config.yaml r-ov/
    expect 0 "has no journal yet .* starting the run in it" -- "$recal" run "$cfg" --set model.path=late.pt --limit 4 \
        $flag --run-dir r-ov
    [ -s r-ov/overrides.txt ] && [ -f r-ov/metrics.json ] || { echo "FAIL: r-ov ($flag) not finished"; fails=$((fails + 1)); }
done

# models for another dataset (issue #9): a 3-channel CNN, a 32x32 MLP and a
# 5-class head given 1x28x28 Fashion-MNIST with 10 labels; one short line
# naming the model and the shapes, no TorchScript traceback
cat > mismatch.py <<'PY'
import torch
class RGB(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.fc = torch.nn.Linear(4, 10)
    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))
class MLP(torch.nn.Module):
    def __init__(self, inputs: int, classes: int):
        super().__init__()
        self.fc = torch.nn.Linear(inputs, classes)
    def forward(self, x):
        return self.fc(x.flatten(1))
torch.jit.script(RGB()).save('rgb.pt')
torch.jit.script(MLP(32 * 32, 10)).save('size32.pt')
torch.jit.script(MLP(28 * 28, 5)).save('five.pt')
torch.jit.script(MLP(28 * 28, 12)).save('twelve.pt')
PY
/usr/bin/python3 mismatch.py
short() { # the last command's output is at most $1 lines, without a traceback
    if [ "$(cat out.txt err.txt | wc -l)" -gt "$1" ] || cat out.txt err.txt | grep -q 'Traceback\|~~~\|Exception raised'; then
        echo "FAIL: over $1 lines or a traceback:"; cat err.txt; fails=$((fails + 1))
    fi
}
expect 1 "rgb.pt: the model does not accept fashion-mnist images of shape 1x1x28x28.*to have 3 channels, but got 1" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/rgb.pt" --limit 4 --run-dir r-rgb
short 3
expect 1 "rgb.pt: the model does not accept fashion-mnist images of shape 1x1x28x28.*to have 3 channels" -- \
    mpirun --oversubscribe -n 3 "$recal" run "$cfg" --set model.path="$work/cli/rgb.pt" --limit 4 --run-dir r-rgb3
expect 1 "size32.pt: the model does not accept fashion-mnist images of shape 1x1x28x28.*x784 and 1024x10" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/size32.pt" --limit 4 --run-dir r-size32
short 3
expect 1 "five.pt: the model outputs 5 classes but fashion-mnist has 10 labels" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/five.pt" --limit 4 --run-dir r-five
short 3
# more outputs than the data set's fixed class count: label k would name the
# model's class k by luck (it ran to the end with exit 0)
expect 1 "twelve.pt: the model outputs 12 classes but fashion-mnist at .* has 10: the data's label k would be read as the model's class k" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/twelve.pt" --limit 4 --run-dir r-twelve
short 3

# a model whose input gradients are not finite: log(0) = -inf, d/dx = inf
cat > nangrad.py <<'PY'
import torch
class M(torch.nn.Module):
    def forward(self, x):
        # finite logits (x itself), NaN gradients (d sqrt(u)/du at u = 0 times 0)
        z = x.flatten(1)[:, :10]
        return z + torch.sqrt(z * 0.0)
torch.jit.script(M()).save('nangrad.pt')
PY
/usr/bin/python3 nangrad.py
expect 1 "NaN or Inf input gradients" -- "$recal" run "$cfg" --set model.path="$work/cli/nangrad.pt" --limit 4 --run-dir r-nan

# NaN logits: exit 1 naming the model and the images, never a metrics.json
# with bare nan (it was exit 0 and invalid JSON)
cat > nanmodel.py <<'PY'
import torch
class NanHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(784, 10)
    def forward(self, x):
        return self.fc(x.flatten(1)) * torch.log(x.flatten(1)[:, :1] - 1e6)
torch.jit.script(NanHead().eval()).save("nan.pt")
PY
/usr/bin/python3 nanmodel.py
expect 1 "nan.pt: the model gives NaN or Inf logits for 4 image(s) of this batch (image ids 0, 1, 2, ...)" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/nan.pt" --limit 4 --set batch_size=4 --run-dir r-nan-logits
[ -e r-nan-logits/metrics.json ] && { echo "FAIL: a NaN model wrote metrics.json"; fails=$((fails + 1)); }

# NaN in one slot's maps (a precomputed file): the one read of every slot's
# finiteness still names the method and the image (issue #37: one sync a
# batch for all slots)
/usr/bin/python3 -c "
import numpy as np
a = np.ones((8, 1, 28, 28), np.float32); a[2, 0, 3, 3] = np.nan; np.save('nanmaps.npy', a)"
printf 'model: {path: %s}\ndataset: {name: fashion-mnist, path: /usr/share/datasets/fashion-mnist, limit: 8}\nbatch_size: 4\nmethods:\n  - {name: random}\n  - {name: precomputed, path: nanmaps.npy}\nmetrics:\n  diffid: {ratios: [0.5]}\n' "$model" > nanmaps.yaml
expect 1 "the model gives NaN or Inf attributions of precomputed for 1 image(s) of this batch (image id 2)" -- \
    "$recal" run nanmaps.yaml --run-dir r-nan-maps

# a garbage model file (random bytes) and a truncated zip
head -c 4096 /dev/urandom > garbage.pt
printf 'PK\003\004 cut short' > cut.pt
expect 1 "garbage.pt: cannot load TorchScript model" -- "$recal" run "$cfg" --set model.path="$work/cli/garbage.pt" --limit 4 --run-dir r-garbage
expect 1 "cut.pt: cannot load TorchScript model" -- "$recal" run "$cfg" --set model.path="$work/cli/cut.pt" --limit 4 --run-dir r-cut

# NaN / Inf in the inputs: an npy dataset and `recal attribute`'s array
/usr/bin/python3 - <<'PY'
import os
import numpy as np
x = np.zeros((3, 1, 28, 28), np.float32)
x[2, 0, 5, 6] = np.nan
os.makedirs("nands", exist_ok=True)
np.save("nands/images.npy", x)
np.save("nands/labels.npy", np.array([0, 1, 2]))
x[2, 0, 5, 6] = np.inf
np.save("infx.npy", x)
PY
expect 1 "nands/images.npy: image 2 has NaN at element 146 of its 784" -- "$recal" run "$cfg" \
    --set model.path="$model" --set dataset.name=npy --set dataset.path="$work/cli/nands" --run-dir r-nands
expect 1 "infx.npy: element 1714 is NaN or Inf" -- "$recal" attribute --model "$model" --input infx.npy \
    --method input_grad --out a.npy

# `recal attribute`'s numbers in full or not at all (they ran with the
# defaults and exit 0 before)
for bad in "--refs abc" "--refs 0" "--refs 2x" "--steps -1" "--samples -3" "--seed -1" "--noise nan" \
           "--sigma 0" "--memory-budget 1e9"; do
    # shellcheck disable=SC2086
    expect 1 "${bad%% *} wants a number" -- "$recal" attribute --model "$model" --input infx.npy \
        --method smoothgrad --out a.npy $bad
done
expect 1 "--steps 99999999999 is over 1,000,000" -- "$recal" attribute --model "$model" --input infx.npy \
    --method ig_uniform --steps 99999999999 --out a.npy
/usr/bin/python3 -c "import numpy as np; np.save('refs3.npy', np.zeros((3, 1, 28, 28), np.float32)); \
np.save('clean.npy', np.zeros((2, 1, 28, 28), np.float32))"
expect 1 "--refs 5 but refs3.npy holds 3 references per image" -- "$recal" attribute --model "$model" \
    --input clean.npy --method ig_uniform --references refs3.npy --refs 5 --out a.npy
echo notes > afile
expect 1 "afile is a file, not a run directory" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --resume --run-dir afile
expect 1 "--samples auto .* needs --sigma" -- "$recal" attribute --model "$model" --input infx.npy \
    --method smoothgrad --samples auto --out a.npy
expect 1 "samples: auto.* needs an absolute 'sigma_pixel'" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --set 'methods=[{name: smoothgrad, samples: auto}]' --run-dir r-auto

# images of a size the model does not take: a clean error naming the model
# (a frozen copy fed them crashed inside libtorch, exit 139), for `run`
# and `attribute`
/usr/bin/python3 - <<'PY'
import os
import numpy as np
os.makedirs("x32", exist_ok=True)
np.save("x32/images.npy", np.zeros((4, 1, 32, 32), np.float32))
np.save("x32/labels.npy", np.array([0, 1, 2, 3]))
os.makedirs("lab15", exist_ok=True)
np.save("lab15/images.npy", np.zeros((4, 1, 28, 28), np.float32))
np.save("lab15/labels.npy", np.array([0, 1, 15, 3]))
np.save("x3c.npy", np.zeros((2, 3, 28, 28), np.float32))
os.makedirs("x5c", exist_ok=True)
np.save("x5c/images.npy", np.zeros((2, 5, 28, 28), np.float32))
np.save("x5c/labels.npy", np.array([0, 1]))
PY
# more channels than the per-channel normalization holds (it read past its 3 values)
expect 1 "float32 images have 5 channels .axis 1.; recal takes 1 to 3" -- "$recal" run "$cfg" \
    --set model.path="$model" --set dataset.name=npy --set dataset.path="$work/cli/x5c" --run-dir r-x5c
expect 1 "images have 5 channels .axis 1.; recal takes 1 to 3" -- "$recal" attribute --model "$model" --input x5c/images.npy --method input_grad --out a.npy
# a label past the model's classes (no dataset.classes): the labels file is
# named, with the index, not the model
expect 1 "lab15/labels.npy: label 15 at index 2 is outside the 10 classes" -- "$recal" run "$cfg" \
    --set model.path="$model" --set dataset.name=npy --set dataset.path="$work/cli/lab15" --run-dir r-lab15
expect 1 "does not accept npy images of shape 1x1x32x32" -- "$recal" run "$cfg" --set model.path="$model" \
    --set dataset.name=npy --set dataset.path="$work/cli/x32" --run-dir r-x32
expect 1 "does not accept x3c.npy.*channels" -- "$recal" attribute --model "$model" --input x3c.npy \
    --method input_grad --out a.npy

# recal roar is recal run for roar configs; its old two-run options say what replaced them
expect 1 "--train-run is gone: .recal run CONFIG. of a config with metrics.roar" -- "$recal" roar "$cfg" \
    --set model.path="$model" --train-run a --test-run b
expect 1 "no metrics.roar section" -- "$recal" roar "$cfg" --set model.path="$model" --run-dir r-noroar
expect 1 "'data_parallel' must be a boolean" -- "$recal" run "$cfg" --set model.path="$model" \
    --set "metrics.roar={data_parallel: maybe}" --run-dir r-dp

# an empty config, and an MPI world that does not match the Slurm allocation
: > empty.yaml
expect 1 "empty.yaml:1:1: config is empty" -- "$recal" run empty.yaml
expect 1 "SLURM_NTASKS=2" -- env SLURM_NTASKS=2 "$recal" run "$cfg" --set model.path="$model" --limit 4 --run-dir r-slurm

# an existing non-empty run dir is refused and left untouched
mkdir -p taken && echo keep > taken/metrics.json
expect 1 "not empty" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 --run-dir taken
if [ "$(cat taken/metrics.json)" != keep ] || [ "$(ls taken)" != metrics.json ]; then
    echo "FAIL: the existing run dir was modified"; fails=$((fails + 1))
fi

# a user's directory holding a file named .lock is not a recal run: refused,
# with or without --resume, the file untouched and no lock of recal's left
# (the run went ahead and overwrote it)
mkdir -p users && echo "my notes" > users/.lock
expect 1 "users: run directory exists and is not empty" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --run-dir users
expect 1 "users has no journal, so nothing to resume" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --resume --run-dir users
if [ "$(cat users/.lock)" != "my notes" ] || [ "$(ls -A users)" != .lock ]; then
    echo "FAIL: the user's directory was modified: $(ls -A users)"; fails=$((fails + 1))
fi
# a --run-dir longer than recal's paths allow: refused, not cut short
long=$(/usr/bin/python3 -c 'print("d" * 1200)')
expect 1 "--run-dir is 1200 characters long; at most 1000" -- "$recal" run "$cfg" --set model.path="$model" \
    --limit 4 --run-dir "$long"

# --resume where there is nothing to resume: a missing or empty directory;
# the refused empty one still takes a new run
expect 1 "r-nowhere: no such run directory, nothing to resume (drop --resume" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --resume --run-dir r-nowhere
[ -e r-nowhere ] && { echo "FAIL: --resume created r-nowhere"; fails=$((fails + 1)); }
mkdir -p r-empty
expect 1 "r-empty: no journal (the directory is empty), so nothing to resume: drop --resume" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --resume --run-dir r-empty
short 2
expect 0 "wrote r-empty/metrics.json" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --set outputs.figures=false --run-dir r-empty
mkdir -p r-half && echo x > r-half/config.yaml
expect 1 "r-half has no journal, so nothing to resume.*new --run-dir" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --resume --run-dir r-half

expect 0 "usage" -- "$recal" --help
expect 0 "usage" -- "$recal" run --help
expect 0 "usage" -- "$recal" train --help
expect 0 "usage" -- "$recal" attribute --help
expect 1 "unknown command" -- "$recal" frobnicate
expect 0 "usage: recal report" -- "$recal" report --help
# recal report on a run directory that is unfinished, damaged, foreign or
# not writable (issue #35): one line naming the file (line:col in JSON) and
# what to do, exit 1 and no traceback; with this tree's tools/report.py.
# shellcheck disable=SC2317 # called by expect
report() { env RECAL_TOOLS_DIR="$src/tools" "$recal" report "$@"; }
expect 1 "nowhere/metrics.json: no such file: $work/cli/nowhere does not exist (check the path)" -- report nowhere
short 1
echo x > rep-afile
expect 1 "rep-afile/metrics.json: no such file: $work/cli/rep-afile is a file, not a run directory" -- report rep-afile
short 1
expect 0 "wrote r-rep/metrics.json" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --set outputs.figures=false --run-dir r-rep
expect 0 "wrote r-rep/report.html and 3 figure(s) in r-rep/figures" -- report r-rep
mkdir -p rep-unfinished && cp r-rep/journal rep-unfinished/
expect 1 "^recal report: $work/cli/rep-unfinished/metrics.json: no such file: the run in $work/cli/rep-unfinished \
has not finished.*--run-dir $work/cli/rep-unfinished --resume" -- report rep-unfinished
short 1
mkdir -p rep-other
expect 1 "rep-other/metrics.json: no such file: $work/cli/rep-other is not the directory of a finished recal run" -- \
    report rep-other
short 1
rep_damage() { # rep_damage DIR: r-rep's journal, and stdin as metrics.json
    rm -rf "$1" && mkdir "$1" && cp r-rep/journal "$1/" && cat > "$1/metrics.json"
}
head -c 300 r-rep/metrics.json | rep_damage rep-cut
expect 1 "^recal report: $work/cli/rep-cut/metrics.json:[0-9]*:[0-9]*: the JSON ends early: half-written (the run was cut \
while writing it? the same \`recal run CONFIG ... --run-dir $work/cli/rep-cut --resume\` rewrites it" -- report rep-cut
short 1
# cut anywhere: inside a key, a string, a number (where 300 bytes end
# depends on the paths the file holds; CI's checkout is not this one)
for k in 211 233 257 281 305 329 353 377 401 425 449 473; do
    head -c $k r-rep/metrics.json | rep_damage rep-cut-$k
    expect 1 "^recal report: $work/cli/rep-cut-$k/metrics.json:[0-9]*:[0-9]*: the JSON ends early: half-written" -- \
        report rep-cut-$k
done
echo 'garbage' | rep_damage rep-garbage
expect 1 "rep-garbage/metrics.json:1:1: not JSON: Expecting value" -- report rep-garbage
short 1
printf '{"run_id":\n \377}' | rep_damage rep-binary
expect 1 "rep-binary/metrics.json:2:2: not JSON: byte 0xff is not UTF-8 text" -- report rep-binary
short 1
rep_damage rep-empty < /dev/null
expect 1 "rep-empty/metrics.json: the file is empty" -- report rep-empty
short 1
# a FIFO as metrics.json: refused at once (python's open() waited for a writer)
rm -rf rep-fifo && mkdir rep-fifo && cp r-rep/journal rep-fifo/ && mkfifo rep-fifo/metrics.json
expect 1 "rep-fifo/metrics.json: not a regular file (a FIFO, device or directory)" -- timeout -s KILL 120 \
    env RECAL_TOOLS_DIR="$src/tools" "$recal" report rep-fifo
short 1
echo '[]' | rep_damage rep-list
expect 1 "rep-list/metrics.json: holds a list, not an object: not the metrics.json of a recal run" -- report rep-list
short 1
echo '{}' | rep_damage rep-obj
expect 1 "rep-obj/metrics.json: key run_id is missing: not the metrics.json of a recal run" -- report rep-obj
short 1
sed 's/"images": 4,/"images": "4",/' r-rep/metrics.json | rep_damage rep-type
expect 1 "rep-type/metrics.json: key images should be a number, got a string" -- report rep-type
short 1
/usr/bin/python3 -c "import json, sys; m = json.load(sys.stdin); del m['results'][1]['diffid']['ratios']
json.dump(m, sys.stdout)" < r-rep/metrics.json | rep_damage rep-nested
expect 1 "rep-nested/metrics.json: key results\[1\].diffid.ratios is missing" -- report rep-nested
short 1
# unwritable: chmod does not stop root, so things in the way (and, where
# root may mount, a read-only bind mount)
rep_damage rep-infile < r-rep/metrics.json && echo keep > rep-infile/figures
expect 1 "^recal report: cannot write $work/cli/rep-infile/figures: File exists (the report of \
$work/cli/rep-infile/metrics.json .*in the way: move it)" -- report rep-infile
short 1
[ "$(cat rep-infile/figures)" = keep ] || { echo "FAIL: report wrote over figures"; fails=$((fails + 1)); }
rep_damage rep-indir < r-rep/metrics.json && mkdir -p rep-indir/figures/diffid_bars.png
expect 1 "cannot write $work/cli/rep-indir/figures/diffid_bars.png: Is a directory" -- report rep-indir
short 1
if [ "$(id -u)" = 0 ] && rep_damage rep-ro < r-rep/metrics.json && mount --bind rep-ro rep-ro 2>/dev/null; then
    if mount -o remount,ro,bind rep-ro 2>/dev/null; then
        expect 1 "cannot write $work/cli/rep-ro/figures: Read-only file system (.*make them writable" -- report rep-ro
        short 1
    fi
    umount rep-ro
fi
# anything else: one line with the exception, the file and "report this"
sed 's/"run_id": "r-rep"/"run_id": "\\ud800"/' r-rep/metrics.json | rep_damage rep-bug
expect 1 "rep-bug/metrics.json: UnicodeEncodeError: .*please report this with the file" -- report rep-bug
short 1
[ ! -e rep-bug/report.html.tmp ] || { echo "FAIL: report left report.html.tmp"; fails=$((fails + 1)); }
expect 1 "Traceback" -- env RECAL_DEBUG=1 RECAL_TOOLS_DIR="$src/tools" "$recal" report rep-bug
expect 1 "metrics.lipschitz.*expected one of: samples, sigma_pixel, sigma_model, sigma, images" -- "$recal" run "$cfg" \
    --set model.path="$model" --set metrics.lipschitz.radius=1
# every amount names its space; two spellings of one amount are refused
expect 1 "give one of 'radius_pixel' and 'radius_model'" -- "$recal" run "$cfg" \
    --set model.path="$model" --set metrics.max_sensitivity.radius_pixel=0.1 \
    --set metrics.max_sensitivity.radius_model=0.1
expect 1 "'fill' must be one of superpixel_mean, dataset_mean, black" -- "$recal" run "$cfg" \
    --set model.path="$model" --set 'methods=[{name: lime, fill: grey}]'
expect 1 "fill is superpixel_mean, dataset_mean or black, got 'grey'" -- "$recal" attribute --model "$model" \
    --input infx.npy --method lime --fill grey --out a.npy

# Hardening III (issue #35): nothing but regular files is written or replaced,
# no link recal did not make is written through, no special file is read as a
# model, and thread counts have a ceiling.
mkfifo fifo.pt fifo.npy
/usr/bin/python3 -c "import numpy as np; np.save('ok.npy', np.zeros((1, 1, 28, 28), np.float32))"
expect 1 "fifo.pt: cannot load TorchScript model: is a FIFO, not a model file" -- \
    timeout -s KILL 120 "$recal" run "$cfg" --set model.path="$work/cli/fifo.pt" --limit 4 --run-dir r-fifo
expect 1 "recal attribute: $work/cli/fifo.pt: is a FIFO, not a model file" -- \
    timeout -s KILL 120 "$recal" attribute --model "$work/cli/fifo.pt" --input ok.npy --method input_grad --out a.npy
# every file recal reads is opened without blocking and must be regular: a
# FIFO's open() waited for a writer forever, SIGTERM unheard (configs, npy and
# IDX data sets, attribute's inputs; SIGKILL after 20 s fails the case)
mkdir -p fifods fifoidx
mkfifo fifo.yaml fifods/images.npy fifoidx/t10k-images-idx3-ubyte
/usr/bin/python3 -c "import numpy as np; np.save('fifods/labels.npy', np.zeros(4, np.int64))"
cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz fifoidx/
expect 1 "fifo.yaml: cannot read: is a FIFO, not a regular file" -- timeout -s KILL 120 "$recal" run fifo.yaml
expect 1 "fifods/images.npy: is a FIFO, not a regular file" -- timeout -s KILL 120 "$recal" run "$cfg" \
    --set model.path="$model" --set dataset.name=npy --set dataset.path="$work/cli/fifods" --run-dir r-fifods
expect 1 "fifoidx/t10k-images-idx3-ubyte: is a FIFO, not a regular file" -- timeout -s KILL 120 "$recal" run "$cfg" \
    --set model.path="$model" --set dataset.path="$work/cli/fifoidx" --run-dir r-fifoidx
expect 1 "recal attribute: fifo.npy: is a FIFO, not a regular file" -- timeout -s KILL 120 "$recal" attribute \
    --model "$model" --input fifo.npy --method input_grad --out a.npy
expect 1 "recal attribute: fifo.npy: is a FIFO, not a regular file" -- timeout -s KILL 120 "$recal" attribute \
    --model "$model" --input ok.npy --labels fifo.npy --method input_grad --out a.npy
mkdir -p modeldir
expect 1 "modeldir: cannot load TorchScript model: is a directory, not a model file" -- \
    "$recal" run "$cfg" --set model.path="$work/cli/modeldir" --limit 4 --run-dir r-modeldir
expect 1 "fifo.npy exists and is a FIFO: recal writes only regular files and replaces nothing else" -- \
    timeout -s KILL 120 "$recal" dataset-dump "$cfg" --out fifo.npy --count 2
[ -p fifo.npy ] || { echo "FAIL: dataset-dump replaced the FIFO"; fails=$((fails + 1)); }
# recal train's out: refused before the training (it trained, then refused)
expect 1 "recal train: fifo.npy exists and is a FIFO: recal writes only regular files" -- timeout -s KILL 120 \
    "$recal" train "$src/configs/fashion-mnist-train.yaml" --set model.path="$model" --set train.out=fifo.npy \
    --set dataset.limit=100 --set train.epochs=1
grep -q '^epoch' out.txt && { echo "FAIL: recal train trained before refusing train.out"; fails=$((fails + 1)); }
expect 1 "recal attribute: fifo.npy exists and is a FIFO" -- timeout -s KILL 120 "$recal" attribute --model "$model" \
    --input ok.npy --method lime --segments-out fifo.npy --out a.npy
if [ "$(id -u)" = 0 ] && mknod null-dev c 1 3 2>/dev/null; then
    # as root a rename over a device node replaced it (/dev/null became a file)
    expect 1 "null-dev exists and is a character device: recal writes only regular files" -- \
        "$recal" attribute --model "$model" --input ok.npy --method input_grad --out null-dev
    [ -c null-dev ] || { echo "FAIL: attribute --out replaced a device node"; fails=$((fails + 1)); }
fi
echo outside > outside.txt
ln -s outside.txt link.npy
expect 1 "link.npy exists and is a symbolic link" -- "$recal" dataset-dump "$cfg" --out link.npy --count 2
# a planted .recal-lock link: --resume refuses it, the file it names untouched
expect 0 "wrote r-lock/metrics.json" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --set outputs.figures=false --run-dir r-lock
rm -f r-lock/.recal-lock && ln -s "$work/cli/outside.txt" r-lock/.recal-lock
expect 1 "r-lock/.recal-lock is a symbolic link, not a lock file recal made: remove it" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --set outputs.figures=false --run-dir r-lock --resume
[ "$(cat outside.txt)" = outside ] || { echo "FAIL: the lock link's target was written"; fails=$((fails + 1)); }
rm -f r-lock/.recal-lock r-lock/logs/rank-0.log && ln -s "$work/cli/outside.txt" r-lock/logs/rank-0.log
expect 1 "r-lock/logs/rank-0.log: cannot open log: .*a symbolic link, not a log recal made" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --set outputs.figures=false --run-dir r-lock --resume
[ "$(cat outside.txt)" = outside ] || { echo "FAIL: the log link's target was appended to"; fails=$((fails + 1)); }
# a hard link is one more name of the same file (an outside file's, or a cp -al
# copy's): the lock was overwritten with "pid N on host H", exit 0
rres() { # rres DIR: resume r-lock's job in DIR
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --set outputs.figures=false --run-dir "$1" --resume
}
rm -f r-lock/.recal-lock r-lock/logs/rank-0.log && ln outside.txt r-lock/.recal-lock
expect 1 "r-lock/.recal-lock has 2 hard links (a copy made with cp -l or rsync --link-dest?).*break the link" -- rres r-lock
[ "$(cat outside.txt)" = outside ] || { echo "FAIL: the lock's hard link was written"; fails=$((fails + 1)); }
rm -f r-lock/.recal-lock && rm -rf r-copy && cp -al r-lock r-copy && cp r-lock/journal journal.keep
expect 1 "r-copy/journal has 2 hard links" -- rres r-copy
cmp -s r-lock/journal journal.keep || { echo "FAIL: the copy's resume wrote r-lock's journal"; fails=$((fails + 1)); }
rm -rf r-copy && cp -r r-lock r-copy && rm r-copy/journal && ln -s ../r-lock/journal r-copy/journal
expect 1 "r-copy/journal is a symbolic link, not a journal recal made" -- rres r-copy
# directories inside the run directory: a link planted at logs/ (or
# attributions/) had the log created, and shard files replaced, where it led
rm -rf r-copy elsewhere && mkdir elsewhere && cp -r r-lock r-copy && rm -r r-copy/logs && ln -s ../elsewhere r-copy/logs
expect 1 "r-copy/logs is a symbolic link, not a directory recal made" -- rres r-copy
[ -z "$(ls elsewhere)" ] || { echo "FAIL: the run wrote through logs/ -> elsewhere"; fails=$((fails + 1)); }
expect 0 "wrote r-attr/metrics.json" -- "$recal" run "$cfg" --set model.path="$model" --limit 4 \
    --set outputs.figures=false --set outputs.attributions=true --run-dir r-attr
mv r-attr/attributions/* elsewhere/ && rmdir r-attr/attributions && ln -s ../elsewhere r-attr/attributions
ino=$(stat -c %i elsewhere/*) && truncate -s -8 r-attr/journal # a torn last record: the shard is computed again
expect 1 "r-attr/attributions is a symbolic link, not a directory recal made" -- "$recal" run "$cfg" \
    --set model.path="$model" --limit 4 --set outputs.figures=false --set outputs.attributions=true --run-dir r-attr --resume
[ "$(stat -c %i elsewhere/*)" = "$ino" ] ||
    { echo "FAIL: the run wrote through attributions/ -> elsewhere"; fails=$((fails + 1)); }
# the job's name starts the run directory's: one path component
expect 1 "'name' starts the run directory's name, so it may not hold '/' or control characters (got '../../x')" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --set 'name=../../x'
# recal submit: --set values that do not fit the batch script are refused
# whole, before anything is written (a value was cut: another job ran)
zeros=$(head -c 9000 /dev/zero | tr '\0' '0')
expect 1 "recal submit: the --set values take more than the 8192 bytes the batch script holds" -- \
    "$recal" submit "$cfg" --dry-run --run-dir r-sub --set "dataset.limit=${zeros}16"
[ ! -e r-sub ] || { echo "FAIL: a refused submit left r-sub"; fails=$((fails + 1)); }
# the batch script is written like any artefact: a FIFO in its place is refused
mkdir -p r-subfifo && mkfifo r-subfifo/submit.sbatch
expect 1 "r-subfifo/submit.sbatch exists and is a FIFO: recal writes only regular files" -- \
    timeout -s KILL 120 "$recal" submit "$cfg" --dry-run --run-dir r-subfifo
# sweep-merge writes its tables like any artefact: a FIFO at sweep.csv is refused
cp "$cfg" swf.yaml && printf 'sweep:\n  seed: [1, 2]\n' >>swf.yaml
mkdir -p r-swfifo && mkfifo r-swfifo/sweep.csv
expect 1 "r-swfifo/sweep.csv exists and is a FIFO: recal writes only regular files" -- \
    timeout -s KILL 120 "$recal" sweep-merge swf.yaml --run-dir r-swfifo
# a run directory longer than recal run takes: refused at submit (the job
# was queued and failed at its start)
expect 1 "recal submit: the run directory .* is 1200 characters long; recal run takes at most 1000" -- \
    "$recal" submit "$cfg" --dry-run --run-dir "/$(/usr/bin/python3 -c 'print("d" * 1199)')"
expect 1 "'threads' must be" -- "$recal" run "$cfg" --set model.path="$model" --set threads=100000
# the usable cores are the control group's share (a cpuset or CPU quota) of
# the online ones, which getconf counts: 4 x online + 1 is over the limit
# on any machine, and the message names the count recal used
cores=$(getconf _NPROCESSORS_ONLN)
expect 1 "threads: $((4 * cores + 1)) intra-op threads on a machine with [0-9]* usable cores (at most [0-9]*" -- \
    "$recal" run "$cfg" --set model.path="$model" --limit 4 --set threads=$((4 * cores + 1)) --run-dir r-threads
expect 1 "recal attribute: --threads: 100000 intra-op threads on a machine with" -- \
    "$recal" attribute --model "$model" --input ok.npy --method input_grad --threads 100000 --out a.npy

[ $fails -eq 0 ] && echo "all CLI error checks passed"
exit $fails
