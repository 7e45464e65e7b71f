#!/bin/bash
# tools/gpu/check.sh OUT_DIR [STAGES] — build recal on a GPU machine against its
# pip PyTorch (a CUDA libtorch) and run the GPU checks, writing everything
# to OUT_DIR (log.txt, bench.jsonl, check.json, e2e.json, e2e-bf16.json).
#
# The machine is expected to have python3 with torch (+ torchvision), cmake,
# a C compiler and the CUDA toolkit, and no internet: the Debian packages
# recal needs (libyaml, Open MPI, libjpeg-turbo, libpng, VLFeat, LAPACKE,
# pkgconf) come as .deb files in .gpu/debs (tools/gpu/fetch-debs.sh) and are
# unpacked into a private prefix, not into /. Captum, when wanted, comes as a
# wheel in .gpu/whl.
#
# STAGES (default all, in this order): build bench e2e train check aoti — each stage runs under
# its own time limit and a failing stage does not stop the next.
set -u
OUT=${1:?usage: tools/gpu/check.sh OUT_DIR [STAGES]}
STAGES=${2:-build bench e2e train check aoti}
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
say() { echo "== $(date +%T) $*"; }
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
T0=$(date +%s)

# --- the Debian packages, unpacked into a prefix ---------------------------
ROOT=/tmp/recal-deb
if [ ! -d "$ROOT/usr" ]; then
    mkdir -p "$ROOT"
    for f in .gpu/debs/*.deb; do
        if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$f" "$ROOT"
        else python3 tools/gpu/unpack_deb.py "$f" "$ROOT"; fi
    done
    # .pc files and Open MPI's wrapper data name /usr: point them at the prefix
    find "$ROOT" -name '*.pc' -exec sed -i "s|^prefix=/usr|prefix=$ROOT/usr|" {} +
fi
L=$ROOT/usr/lib/x86_64-linux-gnu
PY=$(command -v python3)
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
export OPAL_PREFIX=$ROOT/usr PATH=$ROOT/usr/bin:$PATH
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader OMPI_MCA_pml=ob1
export RECAL_PYTHON=$PY
# Debian's PMIx looks for its plugins under its build prefix, not OPAL_PREFIX
export PMIX_INSTALL_PREFIX=$L/pmix2 PMIX_MCA_mca_base_component_path=$L/pmix2/lib/pmix
export PMIX_MCA_pcompress_base_silence_warning=1
[ -d .gpu/whl ] && export PYTHONPATH=$PWD/.gpu/whl/site${PYTHONPATH:+:$PYTHONPATH}
MPIRUN="$ROOT/usr/bin/orterun --oversubscribe"
say "torch $($PY -c 'import torch; print(torch.__version__, torch.cuda.get_device_name(0))'), nccl include $NCCL_INC"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader || true

# --- build -------------------------------------------------------------------
if has build; then
    say "build"
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
    cmake --build build-gpu -j"$(nproc)" --target recal >"$OUT/build.txt" 2>&1
    grep -E "error|warning|Built target recal" "$OUT/build.txt" | head -20
    [ -x build-gpu/recal ] || { grep -B2 -A3 -E "undefined|multiple def|error" "$OUT/build.txt" | head -60; say "build failed"; exit 1; }
    # a C++ runtime linked statically into the executable and exported
    # would be shared with libtorch's (and break it): show what is there
    c++ --version | head -1
    f=$(c++ -print-file-name=libstdc++.so); ls -la "$f"; file -L "$f" | grep -q text && cat "$f"
    echo "std::locale symbols exported by recal: $(nm -D --defined-only build-gpu/recal | grep -c St6locale)"
    cp build-gpu/CMakeFiles/recal.dir/link.txt "$OUT/link.txt"
    say "built in $(( $(date +%s) - T0 )) s"
fi
R=$PWD/build-gpu/recal
MODELS=$PWD/build-gpu/bench-models
mkdir -p "$MODELS"
[ -f "$MODELS/preact_resnet18.pt" ] || $PY tools/export_models.py "$MODELS" >/dev/null
[ -f "$MODELS/fashion-cnn.pt" ] || $PY tools/export_fashion_cnn.py "$MODELS/fashion-cnn.pt" >/dev/null

# --- benchmarks ------------------------------------------------------------------
if has bench; then
    say "bench"
    timeout 330 "$R" bench --device cuda --memory-budget 40000 --models "$MODELS" --images "${BENCH_IMAGES:-256}" \
        --threads 16 | tee "$OUT/bench.jsonl" || say "bench failed ($?)"
    timeout 120 "$R" bench --device cuda --memory-budget 40000 --models "$MODELS" --images "${BENCH_IMAGES:-256}" \
        --threads 16 --precision tf32 --only resnet50 --case ig --no-python | tee -a "$OUT/bench.jsonl" || say "bench tf32 failed"
    timeout 120 "$R" bench --device cuda --memory-budget 40000 --models "$MODELS" --images "${BENCH_IMAGES:-256}" \
        --threads 16 --precision bf16 --only resnet50 --case ig --no-python | tee -a "$OUT/bench.jsonl" || say "bench bf16 failed"
    # DiffID's copies built on the host instead of the device, for the comparison ("copies" in the line)
    RECAL_DIFFID_COPIES=host timeout 120 "$R" bench --device cuda --memory-budget 40000 --models "$MODELS" \
        --images "${BENCH_IMAGES:-256}" --threads 16 --case diffid --no-python | grep diffid | tee -a "$OUT/bench.jsonl" ||
        say "bench host copies failed"
fi

# --- end to end: recal run on 224×224 images with ResNet-50 ------------------------
if has e2e; then
    say "e2e"
    $PY tools/gpu/make_npy.py /tmp/e2e-data "${E2E_IMAGES:-512}" 3 224 1000
    rm -rf /tmp/e2e-run
    timeout 120 $MPIRUN -n 1 "$R" run tools/gpu/e2e-resnet50.yaml --run-dir /tmp/e2e-run \
        --set model.path="$MODELS/resnet50.pt" --set dataset.path=/tmp/e2e-data || say "e2e failed ($?)"
    cp /tmp/e2e-run/metrics.json "$OUT/e2e.json" 2>/dev/null
    $PY -c "import json; m = json.load(open('$OUT/e2e.json')); print('e2e', m.get('images'), 'images in', m.get('wall_seconds'), 's; transfer per image', m.get('transfer'))" || true
    # the same in bf16: the ImageNet projection with precision: bf16
    rm -rf /tmp/e2e-run-bf16
    timeout 120 $MPIRUN -n 1 "$R" run tools/gpu/e2e-resnet50.yaml --run-dir /tmp/e2e-run-bf16 --set precision=bf16 \
        --set model.path="$MODELS/resnet50.pt" --set dataset.path=/tmp/e2e-data || say "e2e bf16 failed ($?)"
    cp /tmp/e2e-run-bf16/metrics.json "$OUT/e2e-bf16.json" 2>/dev/null
    $PY -c "import json; m = json.load(open('$OUT/e2e-bf16.json')); print('e2e bf16', m.get('images'), 'images in', m.get('wall_seconds'), 's')" || true
    # DiffID on the device (the default on CUDA: ranking, copies, scores) and on the host: the same curves
    for copies in device host; do
        rm -rf /tmp/e2e-copies-$copies
        RECAL_DIFFID_COPIES=$copies timeout 60 $MPIRUN -n 1 "$R" run tools/gpu/e2e-resnet50.yaml --limit 128 \
            --run-dir /tmp/e2e-copies-$copies --set model.path="$MODELS/resnet50.pt" --set dataset.path=/tmp/e2e-data \
            >/dev/null 2>&1 || say "e2e copies=$copies failed ($?)"
    done
    $PY - <<'EOF' || say "copies comparison failed"
import json
d = [[r.get("diffid") for r in json.load(open(f"/tmp/e2e-copies-{c}/metrics.json"))["results"]] for c in ("device", "host")]
def close(u, v):
    if isinstance(u, dict):
        return u.keys() == v.keys() and all(close(u[k], v[k]) for k in u)
    if isinstance(u, list):
        return len(u) == len(v) and all(close(a, b) for a, b in zip(u, v))
    if isinstance(u, float):
        return abs(u - v) <= 1e-6 * max(1.0, abs(u))
    return u == v
print("DiffID on the device vs on the host, on cuda:", "identical" if d[0] == d[1] else
      "equal to 1e-6" if close(d[0], d[1]) else f"DIFFER {d}")
EOF
fi

# --- data-parallel training: gradient all-reduce over NCCL ---------------------------
if has train; then
    say "train (NCCL)"
    $PY tools/gpu/make_npy.py /tmp/train-data 1024 3 32 10 train && $PY tools/gpu/make_npy.py /tmp/train-data 256 3 32 10
    for dev in cuda cpu; do
        timeout 120 $MPIRUN -n 1 "$R" train tools/gpu/train-check.yaml --set device=$dev \
            --set model.path="$MODELS/preact_resnet18.pt" --set dataset.path=/tmp/train-data \
            --set train.out=/tmp/train-$dev.pt 2>&1 | tail -8 || say "train $dev failed"
    done
fi
# --- the CUDA path against the float64 oracles, and against the CPU path -------
if has check; then
    say "check: the oracle tests on cuda"
    for t in check_methods check_gradcam check_surrogate; do
        extra=""; [ $t = check_methods ] || extra="$PWD"
        RECAL_TEST_DEVICE=cuda timeout 120 $PY tests/oracle/$t.py "$R" $extra /tmp/oracle-$t \
            $([ $t = check_methods ] || echo "$MODELS/fashion-cnn.pt") >"$OUT/$t.txt" 2>&1
        echo "$t on cuda: exit $? ($(grep -c '^ok' "$OUT/$t.txt") ok, $(grep -c '^FAIL' "$OUT/$t.txt") FAIL)"
    done
    say "check: every method on cuda vs cpu, beside each method's own sensitivity"
    timeout 150 $PY tools/gpu/cuda_vs_cpu.py "$R" "$MODELS" "$OUT/check.json" || say "check failed ($?)"
fi

# --- AOTInductor packages against TorchScript on the GPU (docs/limits.md) ----------
if has aoti; then
    say "aoti"
    DEVICE=cuda timeout 300 sh bench/aoti_vs_torchscript.sh "$R" "$PY" /tmp/recal-aoti-bench | tee "$OUT/aoti.csv" ||
        say "aoti failed ($?)"
fi

say "done in $(( $(date +%s) - T0 )) s"

