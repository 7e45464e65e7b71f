#!/bin/bash
# tools/gpu/check.sh OUT_DIR [STAGES] — build recal on a GPU machine against its
# pip PyTorch (a CUDA libtorch) and run the GPU checks, writing everything
# to OUT_DIR (log.txt, stages.jsonl, e2e-*.json, fidelity.json, check.json,
# metrics_vs_cpu.json, bench.jsonl).
#
# A task's device time is 15 minutes in all, start-up included, so the
# default stages (build e2e check) share one budget, CHECK_BUDGET seconds
# (default 480: a rerun still fits): each stage's limit is lowered to what is
# left, and a stage that cannot finish in it is skipped and said so
# (stages.jsonl), instead of the call being killed with nothing written.
# STAGES "all" adds bench, train (NCCL) and aoti, for a call of its own.
#
# The machine is expected to have python3 with torch (+ torchvision), cmake,
# a C compiler and the CUDA toolkit, and no internet: the Debian packages
# recal needs (libyaml, Open MPI, libjpeg-turbo, libpng, VLFeat, LAPACKE,
# pkgconf) come as .deb files in .gpu/debs (tools/gpu/fetch-debs.sh) and are
# unpacked into a private prefix, not into /. Captum, when wanted, comes as a
# wheel in .gpu/whl.
# For a dry run of the script's logic on a machine without a GPU:
#   CHECK_SYSTEM_DEPS=1 CHECK_DEVICE=cpu RECAL_BIN=build/recal E2E_IMAGES=8 \
#     tools/gpu/check.sh /tmp/out "e2e check"
set -u
OUT=${1:?usage: tools/gpu/check.sh OUT_DIR [STAGES]}
STAGES=${2:-build e2e check}
[ "$STAGES" = all ] && STAGES="build e2e check bench train aoti"
BUDGET=${CHECK_BUDGET:-480}
DEV=${CHECK_DEVICE:-cuda}
cd "$(dirname "$0")/../.."
# Refused at once, before any device time goes to a build that cannot link.
if [ -z "${CHECK_SYSTEM_DEPS:-}" ] && ! ls .gpu/debs/*.deb >/dev/null 2>&1; then
    echo "tools/gpu/check.sh: .gpu/debs holds no .deb files (the GPU machine has no internet): run" \
        "'sh tools/gpu/fetch-debs.sh' here first, then give the device call carry: [\".gpu\"] (it is git-ignored)" >&2
    exit 2
fi
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
say() { echo "== $(date +%T) $*"; }
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
T0=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# cap S: a step's limit S, lowered to what is left of the budget (at least 1)
cap() { local l; l=$(left); [ "$1" -lt "$l" ] && echo "$1" || { [ "$l" -gt 1 ] && echo "$l" || echo 1; }; }
# stage NAME NEED: NAME was asked for and about NEED seconds are left
stage() {
    has "$1" || return 1
    local l; l=$(left)
    if [ "$l" -lt "$2" ]; then
        say "skip $1: $l s left of the $BUDGET s budget, it needs about $2 s (run it in a call of its own)"
        echo "{\"stage\": \"$1\", \"skipped\": \"budget\", \"left_s\": $l}" >>"$OUT/stages.jsonl"
        return 1
    fi
    say "$1 ($l s left)"
    STAGE_T0=$(date +%s)
}
done_stage() { echo "{\"stage\": \"$1\", \"seconds\": $(($(date +%s) - STAGE_T0))}" >>"$OUT/stages.jsonl"; }

# --- the Debian packages, unpacked into a prefix ---------------------------
ROOT=/tmp/recal-deb
[ -n "${CHECK_SYSTEM_DEPS:-}" ] && ROOT=/
if [ -z "${CHECK_SYSTEM_DEPS:-}" ] && [ ! -d "$ROOT/usr" ]; then
    mkdir -p "$ROOT"
    for f in .gpu/debs/*.deb; do
        if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$f" "$ROOT"
        else python3 tools/gpu/unpack_deb.py "$f" "$ROOT"; fi
    done
    # .pc files and Open MPI's wrapper data name /usr: point them at the prefix
    find "$ROOT" -name '*.pc' -exec sed -i "s|^prefix=/usr|prefix=$ROOT/usr|" {} +
fi
L=${ROOT%/}/usr/lib/x86_64-linux-gnu
PY=${CHECK_PYTHON:-$(command -v python3)}
TORCH_PREFIX=${TORCH_PREFIX:-$($PY -c "import torch; print(torch.utils.cmake_prefix_path)")}
TORCH_LIB=$($PY -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
NV_LIBS=$($PY - <<'EOF'
import glob, os, importlib.util
s = importlib.util.find_spec("nvidia")
roots = list(s.submodule_search_locations) if s else []
print(":".join(sorted(d for r in roots for d in glob.glob(os.path.join(r, "*", "lib")))))
EOF
)
NCCL_INC=$($PY - <<'EOF'
import glob, importlib.util
s = importlib.util.find_spec("nvidia")
roots = list(s.submodule_search_locations) if s else []
hits = [h for r in roots for h in glob.glob(r + "/nccl/include/nccl.h")]
print(hits[0].rsplit("/", 1)[0] if hits else "")
EOF
)
[ -n "$NCCL_INC" ] || NCCL_INC=$PWD/.gpu/include
export LD_LIBRARY_PATH=$L:$L/openmpi/lib:$L/lapack:$L/blas:$TORCH_LIB:$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
[ -n "${CHECK_SYSTEM_DEPS:-}" ] || export OPAL_PREFIX=$ROOT/usr PATH=$ROOT/usr/bin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
export RECAL_PYTHON=$PY
# Debian's PMIx looks for its plugins under its build prefix, not OPAL_PREFIX
[ -n "${CHECK_SYSTEM_DEPS:-}" ] || export PMIX_INSTALL_PREFIX=$L/pmix2 PMIX_MCA_mca_base_component_path=$L/pmix2/lib/pmix
export PMIX_MCA_pcompress_base_silence_warning=1
[ -d .gpu/whl ] && export PYTHONPATH=$PWD/.gpu/whl/site${PYTHONPATH:+:$PYTHONPATH}
MPIRUN="${ROOT%/}/usr/bin/orterun --oversubscribe"
say "torch $($PY -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no cuda")'), nccl include $NCCL_INC, device $DEV, budget $BUDGET s"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true

# --- build -------------------------------------------------------------------
R=${RECAL_BIN:-$PWD/build-gpu/recal}
if [ -z "${RECAL_BIN:-}" ] && stage build 60; then
    # The shared C++ runtime libtorch uses: a compiler that links its own
    # libstdc++.a would give the executable a second copy of the C++ runtime
    # (and export it to libtorch: free() of another heap's pointer).
    STDCXX=$(ldd "$TORCH_LIB/libc10.so" | awk '/libstdc\+\+/ {print $3}')
    cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$TORCH_PREFIX/Torch" \
        -DCMAKE_PREFIX_PATH="$ROOT/usr" -DPKG_CONFIG_EXECUTABLE="$ROOT/usr/bin/pkgconf" \
        -DMPI_SKIP_COMPILER_WRAPPER=ON -DMPI_C_HEADER_DIR="$L/openmpi/include" -DMPI_C_LIB_NAMES=mpi \
        -DMPI_mpi_LIBRARY="$L/openmpi/lib/libmpi.so" -DNCCL_INCLUDE_DIR="$NCCL_INC" \
        -DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined -DCMAKE_CXX_STANDARD_LIBRARIES="$STDCXX" \
        >"$OUT/cmake.txt" 2>&1 ||
        { tail -40 "$OUT/cmake.txt"; say "cmake failed"; exit 1; }
    grep "recal:" "$OUT/cmake.txt"
    timeout "$(cap 300)" cmake --build build-gpu -j"$(nproc)" --target recal >"$OUT/build.txt" 2>&1
    grep -E "error|warning|Built target recal" "$OUT/build.txt" | head -20
    [ -x build-gpu/recal ] || { grep -B2 -A3 -E "undefined|multiple def|error" "$OUT/build.txt" | head -60; say "build failed"; exit 1; }
    # a C++ runtime linked statically into the executable and exported
    # would be shared with libtorch's (and break it): show what is there
    echo "std::locale symbols exported by recal: $(nm -D --defined-only build-gpu/recal | grep -c St6locale)"
    cp build-gpu/CMakeFiles/recal.dir/link.txt "$OUT/link.txt"
    done_stage build
fi
[ -x "$R" ] || { say "no recal at $R: run the build stage (or set RECAL_BIN)"; exit 1; }
MODELS=$PWD/build-gpu/bench-models
mkdir -p "$MODELS"
[ -f "$MODELS/preact_resnet18.pt" ] || $PY tools/export_models.py "$MODELS" >/dev/null
[ -f "$MODELS/fashion-cnn.pt" ] || $PY tools/export_fashion_cnn.py "$MODELS/fashion-cnn.pt" >/dev/null

# --- end to end: recal run on 224×224 images with ResNet-50 ------------------------
# Labels are the model's own argmax, so the clean accuracy is 1 and DiffID's
# curves move (random labels on a random-weights model give accuracy 0, where
# any two DiffID implementations agree trivially). fp32, TF32 and bf16 runs
# keep their maps: the fidelity price of the fast precisions is the relative
# L2 of their maps and the change of DiffID, next to their speed.
E2E_IMAGES=${E2E_IMAGES:-256}
e2e_run() { # e2e_run NAME TIMEOUT [--set ...]
    local name=$1 t=$2
    shift 2
    rm -rf "/tmp/e2e-$name"
    timeout "$(cap "$t")" $MPIRUN -n 1 "$R" run tools/gpu/e2e-resnet50.yaml --run-dir "/tmp/e2e-$name" \
        --set device="$DEV" --set model.path="$MODELS/resnet50.pt" --set dataset.path=/tmp/e2e-data "$@" \
        >"$OUT/e2e-$name.txt" 2>&1 || say "e2e $name failed ($?): $(tail -2 "$OUT/e2e-$name.txt")"
    cp "/tmp/e2e-$name/metrics.json" "$OUT/e2e-$name.json" 2>/dev/null
}
if stage e2e 90; then
    # E2E_IMAGES, E2E_TIMEOUT (s a run): smaller and longer for a dry run on a CPU
    $PY tools/gpu/make_npy.py /tmp/e2e-data "$E2E_IMAGES" 3 224 1000
    "$R" dataset-dump tools/gpu/e2e-resnet50.yaml --set dataset.path=/tmp/e2e-data --out /tmp/e2e-x.npy \
        --labels /tmp/e2e-y.npy >/dev/null &&
        $PY tools/gpu/own_labels.py "$MODELS/resnet50.pt" /tmp/e2e-x.npy /tmp/e2e-data/labels.npy "$DEV" ||
        say "own labels failed: DiffID below runs on random labels"
    for prec in fp32 tf32 bf16; do
        [ "$DEV" = cpu ] && [ "$prec" = tf32 ] && continue
        e2e_run "$prec" "${E2E_TIMEOUT:-120}" --set precision=$prec --set outputs.attributions=true
    done
    # DiffID's copies on the host instead of the device: the same curves
    RECAL_DIFFID_COPIES=host e2e_run host-copies "${E2E_TIMEOUT:-90}"
    timeout "$(cap 60)" $PY tools/gpu/fidelity.py /tmp/e2e "$OUT/fidelity.json" || say "fidelity comparison failed"
    done_stage e2e
fi

# --- the CUDA path against the float64 oracles, and against the CPU path -------
if stage check 60; then
    if [ "${CHECK_ORACLES:-1}" = 1 ]; then
        for t in check_methods check_gradcam check_surrogate; do
            extra=""; [ $t = check_methods ] || extra="$PWD"
            RECAL_TEST_DEVICE=$DEV timeout "$(cap 90)" $PY tests/oracle/$t.py "$R" $extra /tmp/oracle-$t \
                $([ $t = check_methods ] || echo "$MODELS/fashion-cnn.pt") >"$OUT/$t.txt" 2>&1
            echo "$t on $DEV: exit $? ($(grep -c '^ok' "$OUT/$t.txt") ok, $(grep -c '^FAIL' "$OUT/$t.txt") FAIL)"
        done
    fi
    say "check: every method on $DEV vs cpu, beside each method's own sensitivity (32x32)"
    CHECK_DEVICES=cpu,$DEV timeout "$(cap 150)" $PY tools/gpu/cuda_vs_cpu.py "$R" "$MODELS" "$OUT/check.json" ||
        say "check failed ($?)"
    say "check: the generator bit for bit at 224x224 (the random control; IG-Uniform's references)"
    CHECK_DEVICES=cpu,$DEV CHECK_SIZE=224 CHECK_MODEL=resnet50 CHECK_CASES=random,ig_uniform \
        timeout "$(cap 90)" $PY tools/gpu/cuda_vs_cpu.py "$R" "$MODELS" "$OUT/check-224.json" || say "check 224 failed ($?)"
    say "check: the device metrics (sensitivity-n, faithfulness, infidelity, Lipschitz, max-sensitivity) vs cpu"
    timeout "$(cap 120)" $PY tools/gpu/metrics_vs_cpu.py "$R" "$MODELS" "$DEV" "$OUT/metrics_vs_cpu.json" "$MPIRUN" ||
        say "metrics vs cpu failed ($?)"
    done_stage check
fi

# --- benchmarks (STAGES all: a call of its own) -------------------------------------
if stage bench 200; then
    timeout "$(cap 330)" "$R" bench --device "$DEV" --memory-budget 40000 --models "$MODELS" \
        --images "${BENCH_IMAGES:-256}" --threads 16 | tee "$OUT/bench.jsonl" || say "bench failed ($?)"
    for prec in tf32 bf16; do
        timeout "$(cap 120)" "$R" bench --device "$DEV" --memory-budget 40000 --models "$MODELS" \
            --images "${BENCH_IMAGES:-256}" --threads 16 --precision $prec --only resnet50 --case ig --no-python |
            tee -a "$OUT/bench.jsonl" || say "bench $prec failed"
    done
    done_stage bench
fi

# --- data-parallel training: gradient all-reduce over NCCL ---------------------------
if stage train 60; then
    $PY tools/gpu/make_npy.py /tmp/train-data 1024 3 32 10 train && $PY tools/gpu/make_npy.py /tmp/train-data 256 3 32 10
    for dev in "$DEV" cpu; do
        timeout "$(cap 120)" $MPIRUN -n 1 "$R" train tools/gpu/train-check.yaml --set device=$dev \
            --set model.path="$MODELS/preact_resnet18.pt" --set dataset.path=/tmp/train-data \
            --set train.out=/tmp/train-$dev.pt 2>&1 | tail -8 || say "train $dev failed"
    done
    done_stage train
fi

# --- AOTInductor packages against TorchScript on the GPU (docs/limits.md) ----------
if stage aoti 120; then
    DEVICE=$DEV timeout "$(cap 300)" sh bench/aoti_vs_torchscript.sh "$R" "$PY" /tmp/recal-aoti-bench |
        tee "$OUT/aoti.csv" || say "aoti failed ($?)"
    done_stage aoti
fi

say "done in $(($(date +%s) - T0)) s of the $BUDGET s budget"
