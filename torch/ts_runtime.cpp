// torch/ts_runtime.cpp — the shim's runtime and tensor basics: the error
// buffer and the ledger (the globals of ts_internal.hpp, defined here once),
// devices and CUDA info, threads, precision (TF32, bf16 autocast), seeds,
// tensor life, host copies and creation (ts_ctr_rand). torch_shim.h's
// sections "runtime", "tensor life and host copies" and "creation".
#include "ts_internal.hpp"

#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>

using namespace ts_internal;

namespace ts_internal {

thread_local char g_err[2048];

void set_err(const char *msg) {
    // Keep the first lines only: libtorch messages end in long C++ backtraces
    // that help nobody running a job (docs/errors.md: no C++ stack trace).
    std::string s(msg ? msg : "unknown error");
    size_t cut = s.find("\nException raised from");
    if (cut != std::string::npos) s.resize(cut);
    // An error inside a TorchScript model comes as "The following operation
    // failed in the TorchScript interpreter." + two tracebacks of the model's
    // code (dozens of lines, over this buffer for a deep model) + the error
    // itself: keep the error, the first unindented line after the last
    // traceback header, to the end.
    size_t tb = s.rfind("Traceback of TorchScript");
    if (s.find("failed in the TorchScript interpreter") != std::string::npos && tb != std::string::npos) {
        size_t at = s.find('\n', tb);
        while (at != std::string::npos && at + 1 < s.size() && (s[at + 1] == ' ' || s[at + 1] == '\n'))
            at = s.find('\n', at + 1);
        if (at != std::string::npos && at + 1 < s.size()) s = "in the model's forward: " + s.substr(at + 1);
    }
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    // An operator without a gradient: attributions need one through the
    // whole model. The common case is a transformer traced under
    // torch.no_grad() or inference_mode, where nn.MultiheadAttention records
    // its inference-only fused kernel.
    if (s.find("derivative for aten::_native_multi_head_attention is not implemented") != std::string::npos ||
        s.find("derivative for aten::_transformer_encoder_layer_fwd is not implemented") != std::string::npos)
        s += " (the model was traced under torch.no_grad() or torch.inference_mode(), where "
             "nn.MultiheadAttention and nn.TransformerEncoderLayer record inference-only kernels: trace it with "
             "gradients on; docs/install.md, 'Export a model')";
    else if (s.find("derivative for ") != std::string::npos && s.find(" is not implemented") != std::string::npos)
        s += " (an operator in the model has no gradient; attributions need one from the logits to the input)";
    snprintf(g_err, sizeof g_err, "%s", s.c_str());
}

int fail(int code, const char *msg) {
    set_err(msg);
    return code;
}

// The ledger's counters (ts_internal.hpp says what they count).
std::atomic<uint64_t> g_h2d{0}, g_d2h{0}, g_fwd{0}, g_bwd{0}, g_syncs{0}, g_d2h_syncs{0};

// `precision: bf16`. A process-wide switch read by every forward: autocast
// itself is thread-local state, and forwards run on several threads (rank 0's
// compute thread, the metric passes), so each forward opens its own scope.
std::atomic<int> g_bf16{0};

// libtorch 2.4 replaced the per-device autocast getters and setters with ones
// taking the device type; the GPU machine's libtorch is newer than Debian's.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
static bool ac_enabled(c10::DeviceType d) {
    return at::autocast::is_autocast_enabled(d);
}
static at::ScalarType ac_dtype(c10::DeviceType d) {
    return at::autocast::get_autocast_dtype(d);
}
static void ac_set(c10::DeviceType d, bool on, at::ScalarType t) {
    at::autocast::set_autocast_enabled(d, on);
    at::autocast::set_autocast_dtype(d, t);
}
#else
static bool ac_enabled(c10::DeviceType d) {
    return d == c10::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
static at::ScalarType ac_dtype(c10::DeviceType d) {
    return d == c10::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
static void ac_set(c10::DeviceType d, bool on, at::ScalarType t) {
    if (d == c10::kCUDA) {
        at::autocast::set_enabled(on);
        at::autocast::set_autocast_gpu_dtype(t);
    } else {
        at::autocast::set_cpu_enabled(on);
        at::autocast::set_autocast_cpu_dtype(t);
    }
}
#endif

ForwardPrecision::ForwardPrecision(c10::Device dev) : dt_(dev.type()), on_(g_bf16.load() != 0) {
    if (!on_) return;
    prev_on_ = ac_enabled(dt_);
    prev_t_ = ac_dtype(dt_);
    ac_set(dt_, true, at::kBFloat16);
    at::autocast::increment_nesting();
}

ForwardPrecision::~ForwardPrecision() {
    if (!on_) return;
    // Casts of weights that require grad (training) are cached per scope.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    ac_set(dt_, prev_on_, prev_t_);
}

} // namespace ts_internal

template <typename T> static int to_host(const ts_tensor *t, T *dst, size_t n, c10::ScalarType st) {
    if (!t || !dst) return fail(TS_EINVAL, "ts_to_host: NULL argument");
    TS_GUARD({
        if ((size_t)t->t.numel() != n) return fail(TS_EINVAL, "ts_to_host: element count mismatch");
        // Straight into dst: one copy, and a DMA when dst is page-locked
        // (ts_host_buffer) and t lives on the GPU.
        torch::NoGradGuard no_grad;
        torch::from_blob(dst, {(int64_t)n}, st).copy_(t->t.reshape({-1}));
        ledger_d2h(n * sizeof(T));
    });
    return TS_OK;
}

// A new tensor on `device` holding a copy of host data (which stays the caller's).
template <typename T>
static int from_host(const T *data, const int64_t *shape, int ndim, int device, ts_tensor **out, c10::ScalarType st,
                     const char *name) {
    if (!data || !shape || !out || ndim < 0 || ndim > TS_MAX_DIMS) {
        std::string msg = std::string(name) + ": bad argument";
        return fail(TS_EINVAL, msg.c_str());
    }
    TS_GUARD({
        at::Tensor h = torch::from_blob(const_cast<T *>(data), dims(shape, ndim), st);
        *out = wrap(h.to(to_dev(device), /*non_blocking=*/false, /*copy=*/true));
        ledger_h2d(h);
    });
    return TS_OK;
}

extern "C" {

const char *ts_last_error(void) {
    return g_err;
}

void ts_ledger_read(struct ts_ledger *out) {
    out->h2d_bytes = g_h2d;
    out->d2h_bytes = g_d2h;
    out->fwd_samples = g_fwd;
    out->bwd_samples = g_bwd;
    out->syncs = g_syncs;
    out->d2h_syncs = g_d2h_syncs;
}

const char *ts_version(void) {
#ifdef RECAL_TORCH_VERSION
    return RECAL_TORCH_VERSION;
#else
    return TORCH_VERSION;
#endif
}

void ts_cuda_info(struct ts_cuda_info *out) {
    memset(out, 0, sizeof *out);
    // A CPU-only libtorch's hooks throw ("without ATen_cuda library"); a CUDA
    // one answers the runtime's version even on a node without a driver.
    try {
        out->cudart = at::detail::getCUDAHooks().versionCUDART();
    } catch (...) {}
    try {
        out->cudnn = at::detail::getCUDAHooks().versionCuDNN();
    } catch (...) {}
    out->devices = ts_cuda_device_count();
}

int ts_cuda_device_count(void) {
    try {
        return torch::cuda::is_available() ? (int)torch::cuda::device_count() : 0;
    } catch (...) {
        return 0;
    }
}

int ts_cuda_mem_free(size_t *free_bytes, size_t *total_bytes) {
    if (!free_bytes || !total_bytes) return fail(TS_EINVAL, "ts_cuda_mem_free: NULL argument");
    if (ts_cuda_device_count() == 0) return fail(TS_EINVAL, "no CUDA device: no device memory to measure");
    // cudaMemGetInfo of the CUDA runtime a CUDA libtorch loaded, looked up
    // at run time (as openblas_set_num_threads): the shim compiles and runs
    // against a CPU-only libtorch too, and needs no CUDA headers to build.
    using info_fn = int (*)(size_t *, size_t *);
    auto f = reinterpret_cast<info_fn>(dlsym(RTLD_DEFAULT, "cudaMemGetInfo"));
    if (!f)
        return fail(TS_EINVAL, "cudaMemGetInfo not found in this process (a libtorch without a shared CUDA runtime)");
    TS_GUARD({
        torch::cuda::synchronize(); // the context exists and queued work has taken its memory
        g_syncs += 1;
        if (int err = f(free_bytes, total_bytes)) {
            char msg[96];
            snprintf(msg, sizeof msg, "cudaMemGetInfo failed (CUDA error %d)", err);
            return fail(TS_ERR, msg);
        }
    });
    return TS_OK;
}

int ts_device_parse(const char *name, int *device_out) {
    if (!name || !device_out) return fail(TS_EINVAL, "ts_device_parse: NULL argument");
    if (!strcmp(name, "cpu")) {
        *device_out = TS_DEV_CPU;
    } else if (!strcmp(name, "cuda")) {
        if (ts_cuda_device_count() == 0)
            return fail(TS_EINVAL, "device 'cuda' requested but this libtorch sees no CUDA device "
                                   "(use device: cpu or auto, or build against a CUDA libtorch)");
        *device_out = TS_DEV_CUDA;
    } else if (!strcmp(name, "auto")) {
        *device_out = ts_cuda_device_count() > 0 ? TS_DEV_CUDA : TS_DEV_CPU;
    } else {
        return fail(TS_EINVAL, "unknown device (expected auto, cpu or cuda)");
    }
    // libtorch lets cuDNN convolutions round through TF32 by default; recal's
    // numbers are exact fp32 (the CPU oracles' tolerance) unless a job asks
    // for `precision: tf32`.
    if (*device_out == TS_DEV_CUDA) return ts_set_tf32(0);
    return TS_OK;
}

int ts_set_tf32(int on) {
    TS_GUARD({
        at::globalContext().setAllowTF32CuDNN(on != 0);
        at::globalContext().setAllowTF32CuBLAS(on != 0);
    });
    return TS_OK;
}

int ts_set_bf16(int on) {
    g_bf16.store(on != 0);
    return TS_OK;
}

int ts_device_sync(int device) {
    if (device != TS_DEV_CUDA) return TS_OK;
    g_syncs += 1; // counted on every device, as the copies are (the ledger)
    TS_GUARD({ torch::cuda::synchronize(); });
    return TS_OK;
}

const char *ts_device_name(int device) {
    return device == TS_DEV_CUDA ? "cuda" : "cpu";
}

int ts_set_num_threads(int n) {
    TS_GUARD({
        if (n > 0) {
            at::set_num_threads(n);
            // The BLAS behind libtorch (OpenBLAS on Debian) keeps its own
            // thread pool, sized to all cores: with several ranks per node
            // that oversubscribes them. Found at run time so that any BLAS
            // links.
            using set_fn = void (*)(int);
            if (auto f = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
        }
    });
    return TS_OK;
}

int ts_manual_seed(uint64_t seed) {
    TS_GUARD({ torch::manual_seed(seed); });
    return TS_OK;
}

void ts_tensor_free(ts_tensor *t) {
    delete t;
}

int ts_from_f32(const float *data, const int64_t *shape, int ndim, int device, ts_tensor **out) {
    return from_host(data, shape, ndim, device, out, torch::kFloat32, "ts_from_f32");
}
int ts_from_i64(const int64_t *data, const int64_t *shape, int ndim, int device, ts_tensor **out) {
    return from_host(data, shape, ndim, device, out, torch::kInt64, "ts_from_i64");
}
int ts_from_i32(const int32_t *data, const int64_t *shape, int ndim, int device, ts_tensor **out) {
    return from_host(data, shape, ndim, device, out, torch::kInt32, "ts_from_i32");
}

int ts_host_buffer(size_t bytes, int pinned, ts_tensor **owner, void **ptr) {
    if (!owner || !ptr || bytes == 0 || bytes > (size_t)INT64_MAX)
        return fail(TS_EINVAL, "ts_host_buffer: bad argument");
    TS_GUARD({
        auto opt = torch::TensorOptions().dtype(torch::kUInt8);
        // Only a CUDA build can page-lock; elsewhere an ordinary tensor.
        if (pinned && torch::cuda::is_available()) opt = opt.pinned_memory(true);
        at::Tensor t = torch::empty({(int64_t)bytes}, opt);
        *ptr = t.data_ptr();
        *owner = wrap(std::move(t));
    });
    return TS_OK;
}

int ts_to_f32(const ts_tensor *t, float *dst, size_t n) {
    return to_host(t, dst, n, torch::kFloat32);
}
int ts_to_i64(const ts_tensor *t, int64_t *dst, size_t n) {
    return to_host(t, dst, n, torch::kInt64);
}
int ts_to_f64(const ts_tensor *t, double *dst, size_t n) {
    return to_host(t, dst, n, torch::kFloat64);
}

int ts_device_of(const ts_tensor *t) {
    return t && t->t.is_cuda() ? TS_DEV_CUDA : TS_DEV_CPU;
}

int ts_shape(const ts_tensor *t, int64_t *shape, int *ndim) {
    if (!t || !shape || !ndim) return fail(TS_EINVAL, "ts_shape: NULL argument");
    int d = (int)t->t.dim();
    if (d > TS_MAX_DIMS) return fail(TS_EINVAL, "ts_shape: too many dimensions");
    for (int i = 0; i < d; i++) shape[i] = t->t.size(i);
    *ndim = d;
    return TS_OK;
}

int64_t ts_numel(const ts_tensor *t) {
    return t ? t->t.numel() : 0;
}

int ts_zeros(const int64_t *shape, int ndim, int device, ts_tensor **out) {
    TS_GUARD({ *out = wrap(torch::zeros(dims(shape, ndim), torch::TensorOptions().device(to_dev(device)))); });
    return TS_OK;
}

// The counter-based stream of util/seed.h (seed_ctr_bits) in int64 tensor
// ops: multiplication and addition wrap modulo 2^64 on every device, and a
// right shift of a signed value is made logical by masking, so each element
// is the same 64 bits wherever it is computed.
static at::Tensor lsr(const at::Tensor &z, int s) {
    return z.__rshift__(s).bitwise_and_((int64_t)(~0ULL >> s));
}

static at::Tensor ctr_bits(const at::Tensor &keys, const at::Tensor &n) {
    const int64_t gamma = (int64_t)0x9e3779b97f4a7c15ULL, c1 = (int64_t)0xbf58476d1ce4e5b9ULL,
                  c2 = (int64_t)0x94d049bb133111ebULL;
    at::Tensor z = keys + (n + 1) * gamma; /* seed_mix(k + n·γ) = mix(k + (n + 1)·γ) */
    z.bitwise_xor_(lsr(z, 30)).mul_(c1);   /* in place: two block-sized tensors alive at a time */
    z.bitwise_xor_(lsr(z, 27)).mul_(c2);
    return z.bitwise_xor_(lsr(z, 31));
}

int ts_ctr_rand(const uint64_t *keys, int64_t count, int64_t n_each, int gaussian, int device, ts_tensor **out) {
    if (!keys || !out || count < 1 || n_each < 1) return fail(TS_EINVAL, "ts_ctr_rand: bad argument");
    TS_GUARD({
        torch::NoGradGuard no_grad;
        at::Tensor kh = torch::from_blob(const_cast<uint64_t *>(keys), {count, 1}, torch::kInt64);
        ledger_h2d(kh);
        const c10::Device dev = to_dev(device);
        at::Tensor k = kh.to(dev, false, true);
        at::Tensor res = at::empty({count, n_each}, at::TensorOptions().dtype(torch::kFloat32).device(dev));
        // Blocks of about 2^20 draws (8 MB an int64 intermediate): whole
        // rows of small images, pieces of a row of large ones. A batch at
        // once would take GBs; the memory budget's chunks are far smaller.
        const int64_t block = (int64_t)1 << 20;
        const int64_t cols = std::min(n_each, block), rows = std::max<int64_t>(1, block / cols);
        const auto i64 = at::TensorOptions().dtype(torch::kInt64).device(dev);
        for (int64_t r0 = 0; r0 < count; r0 += rows) {
            const int64_t nr = std::min(rows, count - r0);
            at::Tensor kb = k.narrow(0, r0, nr);
            for (int64_t c0 = 0; c0 < n_each; c0 += cols) {
                const int64_t nc = std::min(cols, n_each - c0);
                at::Tensor dst = res.narrow(0, r0, nr).narrow(1, c0, nc);
                if (!gaussian) {
                    at::Tensor n = at::arange(c0, c0 + nc, i64).unsqueeze(0);
                    dst.copy_(lsr(ctr_bits(kb, n), 40).to(torch::kFloat32).mul_(0x1p-24));
                    continue;
                }
                // Box–Muller on the pair (2n, 2n + 1), one normal per pair,
                // in float64: u1 in (0, 1] keeps the log finite.
                at::Tensor n = at::arange(c0, c0 + nc, i64).unsqueeze(0) * 2;
                at::Tensor u1 = (lsr(ctr_bits(kb, n), 40) + 1).to(torch::kFloat64).mul_(0x1p-24);
                at::Tensor u2 = lsr(ctr_bits(kb, n + 1), 40).to(torch::kFloat64).mul_(0x1p-24 * 2.0 * M_PI);
                dst.copy_(u1.log_().mul_(-2.0).sqrt_().mul_(u2.cos_()));
            }
        }
        *out = wrap(res);
    });
    return TS_OK;
}

int ts_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx) {
    if (!fn) return fail(TS_EINVAL, "ts_parallel_for: NULL function");
    TS_GUARD({ at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) { fn(ctx, lo, hi); }); });
    return TS_OK;
}

} // extern "C"
