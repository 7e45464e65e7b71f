// worker/torch/torch_shim.cpp — the only C++ in recal: libtorch behind a C ABI.
// Every entry point is wrapped in TS_GUARD so that no exception escapes into C;
// the message lands in a thread-local buffer that ts_last_error() returns.
#include "torch_shim.h"
#include "aoti_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <sys/stat.h>
#include <memory>
#include <mutex>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

struct ts_tensor {
    at::Tensor t;
};
struct ts_module {
    torch::jit::Module m;
    c10::Device dev;
    // Inference goes through a frozen copy (torch::jit::freeze): weights
    // become constants, BatchNorm folds into the convolution before it and
    // the attribute lookups and `if self.training` branches are gone, which
    // is 5–10 % of an input-gradient pass on CPU (issue #8). Built on the
    // first eval forward and dropped whenever the weights may change (train
    // mode, an optimizer step), since folded weights are copies.
    // freeze is an inference transform, so the copy is trusted only after
    // a probe (frozen_agrees) and only for the per-sample input shape it was
    // probed with: its passes may drop what gradients depend on (a
    // `.detach()` branch came out with wrong input gradients), and a frozen
    // copy fed another shape crashed inside libtorch instead of raising.
    bool freeze = true, training = false, freeze_failed = false;
    std::unique_ptr<torch::jit::Module> frozen;
    std::vector<int64_t> frozen_shape; // per-sample shape the probe used
    std::string freeze_note;           // why the model runs as loaded
    std::mutex frozen_mu;
    // An AOTInductor package (.pt2) instead of TorchScript: m is empty, and
    // only forwards and input gradients are possible (aoti_model.h).
    std::shared_ptr<aoti_model> aoti;
    ts_module(torch::jit::Module mod, c10::Device d) : m(std::move(mod)), dev(d) {}
};

struct ts_sgd {
    std::unique_ptr<torch::optim::SGD> opt;
    ts_module *m; // whose frozen copy a step makes stale
};

static thread_local char g_err[2048];

static void set_err(const char *msg) {
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

// A model that ran but returned something recal cannot explain (not
// N×classes, not floating point): TS_ESHAPE, so callers blame the model's
// output, not the images.
struct ts_output_error : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

#define TS_GUARD(...)                                                                                                  \
    do {                                                                                                               \
        g_err[0] = '\0';                                                                                               \
        try {                                                                                                          \
            __VA_ARGS__                                                                                                \
        } catch (const c10::Error &e) {                                                                                \
            set_err(e.what_without_backtrace());                                                                       \
            return TS_ERR;                                                                                             \
        } catch (const ts_output_error &e) {                                                                           \
            set_err(e.what());                                                                                         \
            return TS_ESHAPE;                                                                                          \
        } catch (const std::exception &e) {                                                                            \
            set_err(e.what());                                                                                         \
            return TS_ERR;                                                                                             \
        } catch (...) {                                                                                                \
            set_err("unknown C++ exception in libtorch");                                                              \
            return TS_ERR;                                                                                             \
        }                                                                                                              \
    } while (0)

static int fail(int code, const char *msg) {
    set_err(msg);
    return code;
}

// What a .pt2 package cannot do: it holds a compiled forward+backward for
// input gradients, not the module (no weights to train, no features split).
static int aoti_refuses(const ts_module *m, const char *what) {
    if (!m || !m->aoti) return 0;
    return fail(TS_EINVAL, (std::string(what) +
                            " needs a TorchScript model: an AOTInductor package (.pt2) holds only the forward and "
                            "input gradient compiled into it (attribution and the metrics; not GradCAM, training "
                            "or Diff-ROAR)")
                               .c_str());
}

static c10::Device to_dev(int device) {
    return device == TS_DEV_CUDA ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

static ts_tensor *wrap(at::Tensor t) {
    return new ts_tensor{std::move(t)};
}

static std::vector<int64_t> dims(const int64_t *shape, int ndim) {
    return std::vector<int64_t>(shape, shape + ndim);
}

// The ledger (ts_ledger_read): every copy between host memory and a tensor's
// device, and every sample through the model. Counted on the CPU as well,
// where the same calls copy host memory, so what a job would move on a GPU
// is known and tested on any machine. Every copy is also a sync: the shim
// copies with non_blocking false, and on CUDA PyTorch then waits for the
// stream (cudaMemcpyAsync + cudaStreamSynchronize) both ways.
static std::atomic<uint64_t> g_h2d{0}, g_d2h{0}, g_fwd{0}, g_bwd{0}, g_syncs{0}, g_d2h_syncs{0};
static void ledger_h2d(const at::Tensor &t) {
    g_h2d += (uint64_t)t.numel() * t.element_size();
    g_syncs += 1;
}
static void ledger_d2h(size_t bytes) {
    g_d2h += bytes;
    g_syncs += 1;
    g_d2h_syncs += 1;
}
// One value back to the host (a finiteness check, a loss): a d2h copy and,
// on a GPU, a wait for the device.
template <typename T> static T item_d2h(const at::Tensor &t) {
    ledger_d2h(sizeof(T));
    return t.item<T>();
}

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

// `precision: bf16`. A process-wide switch read by every forward: autocast
// itself is thread-local state, and forwards run on several threads (rank 0's
// compute thread, the metric passes), so each forward opens its own scope.
static std::atomic<int> g_bf16{0};

int ts_set_bf16(int on) {
    g_bf16.store(on != 0);
    return TS_OK;
}

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

// bf16 autocast for the lifetime of one model call when the job asked for it;
// the thread's previous state comes back on exit, exceptions included.
class ForwardPrecision {
  public:
    explicit ForwardPrecision(c10::Device dev) : dt_(dev.type()), on_(g_bf16.load() != 0) {
        if (!on_) return;
        prev_on_ = ac_enabled(dt_);
        prev_t_ = ac_dtype(dt_);
        ac_set(dt_, true, at::kBFloat16);
        at::autocast::increment_nesting();
    }
    ~ForwardPrecision() {
        if (!on_) return;
        // Casts of weights that require grad (training) are cached per scope.
        if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
        ac_set(dt_, prev_on_, prev_t_);
    }
    ForwardPrecision(const ForwardPrecision &) = delete;
    ForwardPrecision &operator=(const ForwardPrecision &) = delete;

  private:
    c10::DeviceType dt_;
    bool on_;
    bool prev_on_ = false;
    at::ScalarType prev_t_ = at::kBFloat16;
};

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

#define TS_BINOP(name, expr)                                                                                           \
    int name(const ts_tensor *a, const ts_tensor *b, ts_tensor **out) {                                                \
        if (!a || !b || !out) return fail(TS_EINVAL, #name ": NULL argument");                                         \
        TS_GUARD({ *out = wrap(expr); });                                                                              \
        return TS_OK;                                                                                                  \
    }
TS_BINOP(ts_add, a->t + b->t)
TS_BINOP(ts_sub, a->t - b->t)
TS_BINOP(ts_mul, a->t * b->t)
TS_BINOP(ts_div, a->t / b->t)

int ts_mul_scalar(const ts_tensor *a, double s, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t * s); });
    return TS_OK;
}

int ts_add_scalar(const ts_tensor *a, double s, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t + s); });
    return TS_OK;
}

int ts_clamp_min(const ts_tensor *a, double lo, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.clamp_min(lo)); });
    return TS_OK;
}

int ts_clamp(const ts_tensor *a, double lo, double hi, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.clamp(lo, hi)); });
    return TS_OK;
}

int ts_where(const ts_tensor *mask, const ts_tensor *a, const ts_tensor *b, ts_tensor **out) {
    if (!mask || !a || !b || !out) return fail(TS_EINVAL, "ts_where: NULL argument");
    TS_GUARD({ *out = wrap(at::where(mask->t.to(torch::kBool), a->t, b->t)); });
    return TS_OK;
}

int ts_abs(const ts_tensor *a, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.abs()); });
    return TS_OK;
}

int ts_cast_f64(const ts_tensor *a, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.to(torch::kFloat64)); });
    return TS_OK;
}

int ts_matmul(const ts_tensor *a, const ts_tensor *b, ts_tensor **out) {
    if (!a || !b || !out) return fail(TS_EINVAL, "ts_matmul: NULL argument");
    TS_GUARD({ *out = wrap(at::matmul(a->t, b->t)); });
    return TS_OK;
}

int ts_row_l2(const ts_tensor *a, ts_tensor **out) {
    if (!a || !out) return fail(TS_EINVAL, "ts_row_l2: NULL argument");
    TS_GUARD({
        if (a->t.dim() != 2) return fail(TS_ESHAPE, "ts_row_l2: a 2-D tensor");
        *out = wrap(a->t.square().sum(1).sqrt());
    });
    return TS_OK;
}

int ts_pick_smallest(const ts_tensor *u, const int64_t *k, int64_t nk, ts_tensor **mask) {
    if (!u || !k || !mask || nk < 1) return fail(TS_EINVAL, "ts_pick_smallest: bad argument");
    TS_GUARD({
        if (u->t.dim() != 2) return fail(TS_ESHAPE, "ts_pick_smallest: u must be n×m");
        const int64_t n = u->t.size(0), m = u->t.size(1);
        // rank of each element in its row, ascending, ties by index (a
        // stable sort, as sensn_pick's comparator), against the row's k
        at::Tensor order = std::get<1>(at::sort(u->t, /*stable=*/true, /*dim=*/1, /*descending=*/false));
        at::Tensor rank = at::empty_like(order).scatter_(1, order, at::arange(m, order.options()).expand({n, m}));
        if (n % nk) return fail(TS_ESHAPE, "ts_pick_smallest: rows not a multiple of the k values");
        at::Tensor kh = torch::from_blob(const_cast<int64_t *>(k), {nk}, torch::kInt64);
        ledger_h2d(kh);
        at::Tensor kr = kh.to(u->t.device()).repeat_interleave(n / nk).unsqueeze(1);
        *mask = wrap(rank.lt(kr).to(u->t.scalar_type()));
    });
    return TS_OK;
}

int ts_onehot_rows(const ts_tensor *idx, int64_t g, ts_tensor **out) {
    if (!idx || !out || g < 1) return fail(TS_EINVAL, "ts_onehot_rows: bad argument");
    TS_GUARD({
        at::Tensor rows = at::arange(g, idx->t.options()).unsqueeze(1);
        *out = wrap(rows.eq(idx->t.reshape({1, -1})).to(torch::kFloat32));
    });
    return TS_OK;
}

int ts_arange(int64_t n, int device, ts_tensor **out) {
    if (!out || n < 0) return fail(TS_EINVAL, "ts_arange: bad argument");
    TS_GUARD({ *out = wrap(at::arange(n, at::TensorOptions().dtype(torch::kInt64).device(to_dev(device)))); });
    return TS_OK;
}

int ts_idiv_scalar(const ts_tensor *a, int64_t s, ts_tensor **out) {
    if (!a || !out || s < 1) return fail(TS_EINVAL, "ts_idiv_scalar: bad argument");
    TS_GUARD({
        if (a->t.scalar_type() != torch::kInt64) return fail(TS_EINVAL, "ts_idiv_scalar: an int64 tensor");
        *out = wrap(at::div(a->t, s, "floor"));
    });
    return TS_OK;
}

int ts_irem_scalar(const ts_tensor *a, int64_t s, ts_tensor **out) {
    if (!a || !out || s < 1) return fail(TS_EINVAL, "ts_irem_scalar: bad argument");
    TS_GUARD({
        if (a->t.scalar_type() != torch::kInt64) return fail(TS_EINVAL, "ts_irem_scalar: an int64 tensor");
        *out = wrap(at::remainder(a->t, s));
    });
    return TS_OK;
}

int ts_ge_scalar(const ts_tensor *a, double s, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.ge(s).to(a->t.scalar_type())); });
    return TS_OK;
}

int ts_sum_dim(const ts_tensor *a, int dim, int keepdim, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.sum(dim, keepdim != 0)); });
    return TS_OK;
}

int ts_mean_dim(const ts_tensor *a, int dim, int keepdim, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.mean(dim, keepdim != 0)); });
    return TS_OK;
}

// One number per channel from the host, on a's device and shaped to broadcast
// over an N×C×… tensor (the ledger counts it). Throws on a channel mismatch:
// callers check a's shape first.
static at::Tensor channel_vec(const at::Tensor &a, const float *v, int c) {
    std::vector<int64_t> bshape((size_t)a.dim(), 1);
    bshape[1] = c;
    at::Tensor h = torch::from_blob(const_cast<float *>(v), {c}, torch::kFloat32);
    ledger_h2d(h);
    return h.to(a.options()).view(bshape);
}

int ts_affine_channels(const ts_tensor *a, const float *scale, const float *shift, int c, ts_tensor **out) {
    if (!a || !scale || !shift || !out || c < 1) return fail(TS_EINVAL, "ts_affine_channels: bad argument");
    TS_GUARD({
        if (a->t.dim() < 2 || a->t.size(1) != c) return fail(TS_ESHAPE, "ts_affine_channels: channel dim mismatch");
        *out = wrap(a->t * channel_vec(a->t, scale, c) + channel_vec(a->t, shift, c));
    });
    return TS_OK;
}

int ts_normalize_channels(const ts_tensor *a, const float *mean, const float *std, int c, ts_tensor **out) {
    if (!a || !mean || !std || !out || c < 1) return fail(TS_EINVAL, "ts_normalize_channels: bad argument");
    TS_GUARD({
        if (a->t.dim() < 2 || a->t.size(1) != c) return fail(TS_ESHAPE, "ts_normalize_channels: channel dim mismatch");
        *out = wrap((a->t - channel_vec(a->t, mean, c)) / channel_vec(a->t, std, c));
    });
    return TS_OK;
}

// A C-element vector already on a's device (worker/dev_consts.c keeps
// them), shaped to broadcast over an N×C×… tensor: no copy, no sync.
// Throws on a channel or device mismatch: callers check a's shape first.
static at::Tensor channel_view(const at::Tensor &a, const at::Tensor &v) {
    if (v.device() != a.device() || v.numel() != a.size(1))
        throw std::invalid_argument("channel vector: one value per channel, on the tensor's device");
    std::vector<int64_t> bshape((size_t)a.dim(), 1);
    bshape[1] = v.numel();
    return v.to(a.options()).view(bshape);
}

int ts_affine_channels_t(const ts_tensor *a, const ts_tensor *scale, const ts_tensor *shift, ts_tensor **out) {
    if (!a || !scale || !shift || !out) return fail(TS_EINVAL, "ts_affine_channels_t: NULL argument");
    TS_GUARD({
        if (a->t.dim() < 2) return fail(TS_ESHAPE, "ts_affine_channels_t: channel dim mismatch");
        *out = wrap(a->t * channel_view(a->t, scale->t) + channel_view(a->t, shift->t));
    });
    return TS_OK;
}

int ts_normalize_channels_t(const ts_tensor *a, const ts_tensor *mean, const ts_tensor *std, ts_tensor **out) {
    if (!a || !mean || !std || !out) return fail(TS_EINVAL, "ts_normalize_channels_t: NULL argument");
    TS_GUARD({
        if (a->t.dim() < 2) return fail(TS_ESHAPE, "ts_normalize_channels_t: channel dim mismatch");
        *out = wrap((a->t - channel_view(a->t, mean->t)) / channel_view(a->t, std->t));
    });
    return TS_OK;
}

int ts_index_add_(ts_tensor *self, int dim, const ts_tensor *index, const ts_tensor *src) {
    if (!self || !index || !src) return fail(TS_EINVAL, "ts_index_add_: NULL argument");
    TS_GUARD({ self->t.index_add_(dim, index->t, src->t); });
    return TS_OK;
}

int ts_index_select(const ts_tensor *a, int dim, const ts_tensor *index, ts_tensor **out) {
    if (!a || !index || !out) return fail(TS_EINVAL, "ts_index_select: NULL argument");
    TS_GUARD({ *out = wrap(a->t.index_select(dim, index->t)); });
    return TS_OK;
}

int ts_all_finite_each(const ts_tensor *const *ts, int n, int *first_bad) {
    if (!ts || n < 1 || !first_bad) return fail(TS_EINVAL, "ts_all_finite_each: bad argument");
    TS_GUARD({
        std::vector<at::Tensor> all;
        for (int k = 0; k < n; k++) {
            if (!ts[k]) return fail(TS_EINVAL, "ts_all_finite_each: NULL tensor");
            all.push_back(torch::isfinite(ts[k]->t).all().to(ts[0]->t.device()));
        }
        at::Tensor h = at::stack(all).to(at::kCPU); // n flags, one copy
        ledger_d2h((size_t)n);
        const bool *v = h.data_ptr<bool>();
        *first_bad = -1;
        for (int k = 0; k < n && *first_bad < 0; k++)
            if (!v[k]) *first_bad = k;
    });
    return TS_OK;
}

int ts_all_finite(const ts_tensor *a, int *finite) {
    TS_GUARD({ *finite = item_d2h<bool>(torch::isfinite(a->t).all()) ? 1 : 0; });
    return TS_OK;
}

int ts_reshape(const ts_tensor *a, const int64_t *shape, int ndim, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.reshape(dims(shape, ndim))); });
    return TS_OK;
}

int ts_narrow(const ts_tensor *a, int dim, int64_t start, int64_t length, ts_tensor **out) {
    TS_GUARD({ *out = wrap(a->t.narrow(dim, start, length)); });
    return TS_OK;
}

int ts_cat(const ts_tensor *const *parts, int n, int dim, ts_tensor **out) {
    if (!parts || n < 1 || !out) return fail(TS_EINVAL, "ts_cat: bad argument");
    TS_GUARD({
        std::vector<at::Tensor> v;
        v.reserve((size_t)n);
        for (int i = 0; i < n; i++) v.push_back(parts[i]->t);
        *out = wrap(torch::cat(v, dim));
    });
    return TS_OK;
}

static void set_requires_grad(torch::jit::Module &m, bool on) {
    for (auto p : m.parameters()) p.requires_grad_(on);
}

// A model saved by a newer PyTorch than this libtorch: an operator it does
// not know (every nn.MultiheadAttention saved by PyTorch >= 2.0 calls
// aten::scaled_dot_product_attention, which 1.13 lacks) or a newer file
// format. libtorch's text names the operator but not the way out.
static std::string first_line(const std::string &s) {
    size_t b = s.find_first_not_of(" \n");
    if (b == std::string::npos) return "";
    size_t e = s.find('\n', b);
    return s.substr(b, e == std::string::npos ? std::string::npos : e - b);
}

static std::string newer_pytorch_advice(const std::string &what) {
    std::string head;
    size_t p = what.find("Unknown builtin op: ");
    if (p != std::string::npos) {
        size_t b = p + strlen("Unknown builtin op: ");
        size_t e = what.find_first_of(" \n", b);
        std::string op = what.substr(b, e == std::string::npos ? std::string::npos : e - b);
        while (!op.empty() && op.back() == '.') op.pop_back();
        head = "the model calls " + op + ", an operator libtorch " + ts_version() + " (this recal's) does not have";
    } else if (what.find("maximum supported version") != std::string::npos ||
               what.find("Unknown type name") != std::string::npos) {
        head = "the model file is newer than libtorch " + std::string(ts_version()) + " (this recal's) reads";
    } else {
        return "";
    }
    return head +
           ": it was saved by a newer PyTorch. Build recal against the PyTorch that saved it "
           "(tools/build.sh --torch python3; docs/install.md) and run that recal, or save the model with "
           "PyTorch " +
           ts_version() + ". libtorch said: " + first_line(what);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

int ts_module_load(const char *path, int device, ts_module **out) {
    if (!path || !out) return fail(TS_EINVAL, "ts_module_load: NULL argument");
    // A FIFO blocked open() forever (SIGTERM ignored), a directory gave "failed
    // finding central directory": only a regular file is a model.
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        const char *kind = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISCHR(st.st_mode)  ? "a character device"
                           : S_ISBLK(st.st_mode)  ? "a block device"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "a special file";
        return fail(TS_EINVAL, (std::string("is ") + kind +
                                ", not a model file (a TorchScript .pt or an AOTInductor .pt2 is a regular file)")
                                   .c_str());
    }
    if (ends_with(path, ".pt2")) {
        TS_GUARD({
            c10::Device dev = to_dev(device);
            std::shared_ptr<aoti_model> a = aoti_open(path, dev);
            ts_module *tm = new ts_module(torch::jit::Module(), dev);
            tm->aoti = std::move(a);
            tm->freeze = false;
            *out = tm;
        });
        return TS_OK;
    }
    TS_GUARD({
        // Profiling/fusion passes re-specialise per input shape: they make the
        // first calls slow and results depend on chunk size. Off for
        // reproducibility; plain interpretation is what the reference measures.
        torch::jit::setGraphExecutorOptimize(false);
        c10::Device dev = to_dev(device);
        torch::jit::Module m;
        try {
            m = torch::jit::load(path, dev);
        } catch (const std::exception &e) {
            std::string advice = newer_pytorch_advice(e.what());
            if (advice.empty()) throw;
            return fail(TS_ERR, advice.c_str());
        }
        m.eval();
        set_requires_grad(m, false);
        ts_module *tm = new ts_module(std::move(m), dev);
        const char *fz = getenv("RECAL_FREEZE");
        tm->freeze = !(fz && !strcmp(fz, "0"));
        *out = tm;
    });
    return TS_OK;
}

void ts_module_free(ts_module *m) {
    delete m;
}

int ts_module_save(ts_module *m, const char *path) {
    if (int rc = aoti_refuses(m, "saving a model")) return rc;
    if (!m || !path) return fail(TS_EINVAL, "ts_module_save: NULL argument");
    TS_GUARD({ m->m.save(path); });
    return TS_OK;
}

int ts_module_set_train(ts_module *m, int train) {
    if (train)
        if (int rc = aoti_refuses(m, "training")) return rc;
    if (m && m->aoti) return TS_OK;
    TS_GUARD({
        {
            std::lock_guard<std::mutex> lk(m->frozen_mu);
            m->frozen.reset();
            m->training = train != 0;
        }
        m->m.train(train != 0);
        set_requires_grad(m->m, train != 0);
    });
    return TS_OK;
}

static at::Tensor two_rows(const at::Tensor &t);

// The logits of a forward's result, in fp32: a tensor of a floating type.
// An integer output (argmax, .long()) has no gradient, and libtorch's own
// message for that ("element 0 of tensors does not require grad") names
// neither the model nor the cause.
static at::Tensor logits_of(const c10::IValue &r, const char *what = "model forward") {
    if (!r.isTensor())
        throw std::runtime_error(std::string(what) + " did not return a tensor (expected N×classes logits)");
    const at::Tensor &t = r.toTensor();
    if (!at::isFloatingType(t.scalar_type()))
        throw ts_output_error(std::string(what) + " returns " + c10::toString(t.scalar_type()) +
                              " values, not floating point: attributions need the logits (return them "
                              "before any argmax or integer cast)");
    return t.to(at::kFloat);
}

// Does the frozen copy compute what the module computes, gradients
// included? Probe: up to 2 samples of the first real input, fp32, no
// autocast; the outputs and the input gradient of a fixed random weighting
// of every output must agree to 1e-3 relative L2 (folding BatchNorm moves
// them by ~1e-7; a dropped stop-gradient by ~1). Errors of the module itself
// (a wrong input shape) propagate: they are the user's to fix.
static bool frozen_agrees(torch::jit::Module &orig, torch::jit::Module &fz, const at::Tensor &x, std::string &why) {
    torch::AutoGradMode grad_on(true);
    at::Tensor p = two_rows(x.detach().narrow(0, 0, std::min<int64_t>(2, x.size(0))).to(at::kFloat)).clone();
    auto run = [&](torch::jit::Module &mod, at::Tensor &out) {
        at::Tensor xi = p.clone().requires_grad_(true);
        out = logits_of(mod.forward({xi}));
        auto gen = at::detail::createCPUGenerator(0x5eed);
        at::Tensor w = at::randn(out.sizes(), gen, at::TensorOptions().dtype(at::kFloat)).to(out.device());
        auto g = torch::autograd::grad({(out * w).sum()}, {xi}, {}, c10::nullopt, false, true);
        return g[0].defined() ? g[0].detach() : torch::zeros_like(p);
    };
    auto rel = [](const at::Tensor &a, const at::Tensor &b) {
        double nb = item_d2h<double>(b.norm());
        return item_d2h<double>((a - b).norm()) / std::max(nb, 1e-30);
    };
    at::Tensor out_m, out_f;
    at::Tensor g_m = run(orig, out_m); // throws on the user's errors
    // A model that gives NaN or Inf here cannot be judged; it runs as
    // loaded, and the engine's finiteness checks name it.
    if (!item_d2h<bool>(torch::isfinite(out_m).all()) || !item_d2h<bool>(torch::isfinite(g_m).all())) return false;
    at::Tensor g_f;
    try {
        g_f = run(fz, out_f);
    } catch (const std::exception &) {
        why = "the frozen copy fails on the input the model accepts";
        return false;
    }
    if (out_f.sizes() != out_m.sizes()) {
        why = "the frozen copy's output shape differs from the model's";
        return false;
    }
    double ro = rel(out_f, out_m), rg = rel(g_f, g_m);
    if (!(ro <= 1e-3) || !(rg <= 1e-3)) {
        char b[200];
        snprintf(b, sizeof b, "the frozen copy's %s differs from the model's (relative L2 %.2g)",
                 !(rg <= 1e-3) ? "input gradient" : "output", !(rg <= 1e-3) ? rg : ro);
        why = b;
        return false;
    }
    return true;
}

// The module that runs forwards on x: the frozen copy in eval mode, built
// and probed here the first time; the module itself in train mode, with
// freezing off, when freezing refused the model or the probe found it
// changed (it then stays unfrozen, as loaded), and for inputs of another
// per-sample shape than the probed one.
static torch::jit::Module &forward_module(ts_module *m, const at::Tensor &x) {
    std::lock_guard<std::mutex> lk(m->frozen_mu);
    if (m->training || !m->freeze || m->freeze_failed || x.dim() < 1 || x.size(0) < 1) return m->m;
    if (!m->frozen) {
        // freeze inlines the submodules' methods only while the graph
        // executor optimizes (off since load; see ts_module_load): without
        // that the frozen forward still calls methods it has dropped.
        torch::jit::setGraphExecutorOptimize(true);
        try {
            m->frozen = std::make_unique<torch::jit::Module>(torch::jit::freeze(m->m));
        } catch (const std::exception &e) {
            m->freeze_failed = true;
            m->freeze_note = std::string("torch::jit::freeze refused the model: ") + e.what();
        }
        torch::jit::setGraphExecutorOptimize(false);
        if (m->freeze_failed) return m->m;
        std::string why;
        bool ok;
        try {
            ok = frozen_agrees(m->m, *m->frozen, x, why);
        } catch (...) {
            m->frozen.reset();
            throw;
        }
        if (!ok) {
            m->frozen.reset();
            m->freeze_failed = true;
            m->freeze_note = why; // empty: not judged (non-finite), nothing to say
            return m->m;
        }
        m->frozen_shape.assign(x.sizes().begin() + 1, x.sizes().end());
    }
    if (!std::equal(x.sizes().begin() + 1, x.sizes().end(), m->frozen_shape.begin(), m->frozen_shape.end()))
        return m->m;
    return *m->frozen;
}

const char *ts_module_freeze_note(ts_module *m) {
    if (!m) return NULL;
    std::lock_guard<std::mutex> lk(m->frozen_mu);
    return m->freeze_note.empty() ? NULL : m->freeze_note.c_str();
}

// weights: the forward is differentiated w.r.t. the parameters (training,
// whatever the mode), so it must run the module itself, never the frozen copy.
static at::Tensor run_forward(ts_module *m, const at::Tensor &x, bool weights = false) {
    c10::IValue r;
    torch::jit::Module &fm = weights ? m->m : forward_module(m, x);
    g_fwd += (uint64_t)x.size(0);
    {
        ForwardPrecision fp(m->dev);
        r = fm.forward({x});
    }
    // Objectives, softmaxes and everything downstream stay fp32.
    at::Tensor out = logits_of(r);
    if (out.dim() != 2 || out.size(0) != x.size(0)) {
        std::string s = "model output has shape [";
        for (int64_t i = 0; i < out.dim(); i++) s += (i ? ", " : "") + std::to_string(out.size(i));
        s += "] for a batch of " + std::to_string(x.size(0)) + " inputs; expected [N, classes] logits";
        throw ts_output_error(s);
    }
    return out;
}

// An AOTInductor package's logits: its one function with w = 0 (the input
// gradient it also computes is thrown away).
static at::Tensor aoti_forward(ts_module *m, const at::Tensor &x) {
    // bf16 autocast wraps a module's forward; a package runs what it was
    // compiled in (fp32): refuse rather than ignore the job's precision.
    if (g_bf16.load())
        throw std::invalid_argument("precision: bf16 needs a TorchScript model (an AOTInductor package runs the "
                                    "fp32 it was compiled in)");
    g_fwd += (uint64_t)x.size(0);
    at::Tensor w = torch::zeros({x.size(0), aoti_classes(*m->aoti)}, x.options().dtype(at::kFloat));
    return aoti_run(*m->aoti, x, w).first;
}

int ts_module_forward(ts_module *m, const ts_tensor *x, ts_tensor **logits) {
    if (!m || !x || !logits) return fail(TS_EINVAL, "ts_module_forward: NULL argument");
    TS_GUARD({
        torch::NoGradGuard ng;
        *logits = wrap(m->aoti ? aoti_forward(m, x->t) : run_forward(m, x->t));
    });
    return TS_OK;
}

// F per sample for the objectives of docs/methods.md.
static at::Tensor objective(const at::Tensor &logits, const at::Tensor &labels, int obj) {
    at::Tensor idx = labels.view({-1, 1});
    switch (obj) {
    case TS_OBJ_LOGIT:
        return logits.gather(1, idx).squeeze(1);
    case TS_OBJ_PROB:
        return torch::log_softmax(logits, 1).gather(1, idx).squeeze(1);
    case TS_OBJ_CONTRAST: {
        at::Tensor ft = logits.gather(1, idx).squeeze(1);
        at::Tensor mask = torch::zeros_like(logits, torch::kBool).scatter_(1, idx, true);
        at::Tensor w = torch::softmax(logits.masked_fill(mask, -std::numeric_limits<float>::infinity()), 1);
        return ft - (w * logits.masked_fill(mask, 0)).sum(1);
    }
    }
    throw std::invalid_argument("unknown objective");
}

static int label_range_fail(int64_t classes) {
    char msg[256];
    snprintf(msg, sizeof msg, "a label is outside the model's %lld classes (check dataset and model match)",
             (long long)classes);
    return fail(TS_ESHAPE, msg);
}

// Deferred checks (ts_checks): each flag is ANDed on the device, so a chunk
// loop runs without the host waiting for the device after every pass; the
// host reads the flags once (ts_checks_read).
enum { CHK_LABELS, CHK_INPUT_GRAD, CHK_FEATURE_GRAD, CHK_N };
static const char *const k_grad_msg[CHK_N] = {NULL, "the model produced NaN or Inf input gradients",
                                              "the model produced NaN or Inf feature-map gradients"};
struct ts_checks {
    at::Tensor ok;       // bool [CHK_N] on the device of the first check; undefined = none pending
    int64_t classes = 0; // what the label check compared against (its message)
};

static void defer_flag(ts_checks *c, int which, const at::Tensor &good) {
    if (!c->ok.defined()) c->ok = torch::ones({CHK_N}, good.options().dtype(at::kBool));
    c->ok.narrow(0, which, 1).logical_and_(good.reshape({1}));
}

// TS_OK or a TS_ESHAPE failure when labels do not fit n inputs and these
// logits. With checks (not NULL) the range is ANDed into them instead of
// read (two syncs), and *lab becomes the labels clamped into range: an
// out-of-range index must not reach gather/scatter before the flags are
// read (on CUDA that is a device-side assert, which ends the process's
// CUDA context instead of giving this message). Clamping changes no label
// that is in range.
static int check_labels(const at::Tensor &logits, at::Tensor &lab, int64_t n, ts_checks *checks) {
    int64_t classes = logits.size(1);
    if (lab.numel() != n) return fail(TS_ESHAPE, "one label per input is required");
    if (lab.numel() == 0) return TS_OK;
    if (checks) {
        defer_flag(checks, CHK_LABELS, lab.ge(0).logical_and(lab.lt(classes)).all());
        checks->classes = classes;
        lab = lab.clamp(0, classes - 1);
        return TS_OK;
    }
    if (item_d2h<int64_t>(lab.min()) < 0 || item_d2h<int64_t>(lab.max()) >= classes) return label_range_fail(classes);
    return TS_OK;
}

// TS_OK or TS_ENOTFINITE when g holds NaN or Inf (which: CHK_INPUT_GRAD or
// CHK_FEATURE_GRAD); with checks, ANDed into them instead of read.
static int check_finite(const at::Tensor &g, int which, ts_checks *checks) {
    at::Tensor good = torch::isfinite(g).all();
    if (checks) {
        defer_flag(checks, which, good);
        return TS_OK;
    }
    return item_d2h<bool>(good) ? TS_OK : fail(TS_ENOTFINITE, k_grad_msg[which]);
}

int ts_checks_new(ts_checks **out) {
    if (!out) return fail(TS_EINVAL, "ts_checks_new: NULL argument");
    TS_GUARD({ *out = new ts_checks(); });
    return TS_OK;
}

void ts_checks_free(ts_checks *c) {
    delete c;
}

int ts_checks_read(ts_checks *c) {
    if (!c) return fail(TS_EINVAL, "ts_checks_read: NULL argument");
    TS_GUARD({
        if (!c->ok.defined()) return TS_OK; // nothing checked since the last read: nothing to wait for
        at::Tensor h = c->ok.to(at::kCPU);
        ledger_d2h((size_t)CHK_N);
        c->ok = at::Tensor();
        const bool *v = h.data_ptr<bool>();
        if (!v[CHK_LABELS]) return label_range_fail(c->classes); // first, as the immediate checks
        for (int k = CHK_INPUT_GRAD; k < CHK_N; k++)
            if (!v[k]) return fail(TS_ENOTFINITE, k_grad_msg[k]);
    });
    return TS_OK;
}

// A one-sample forward+backward takes other CPU kernels than a batch, and
// they break max-pooling ties (equal activations over a flat background)
// the other way: Debian's libtorch on an AVX-512 EPYC gave the demo CNN's
// input gradients 4.7 % apart, one image at a time vs in a batch, in
// PyTorch itself. Every gradient is therefore taken on at least two rows (a
// lone sample goes with a copy of itself), so an image's gradient does not
// depend on the batch or chunk it falls in.
static at::Tensor two_rows(const at::Tensor &t) {
    return t.size(0) == 1 ? at::cat({t, t}, 0) : t;
}

// ts_objective_grad of an AOTInductor package: ∂F/∂x = ∂Σ(logits·w)/∂x with
// w = ∂F/∂logits per sample. For the logit objective w is one-hot and known
// before the call; the others' w depend on the logits: a first call gives
// them, autograd on the logits alone gives w, a second call the gradient.
static int aoti_objective_grad(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective_kind,
                               ts_tensor **grad, ts_tensor **fvals, ts_checks *checks) {
    TS_GUARD({
        const int64_t n = x->t.dim() > 0 ? x->t.size(0) : 0;
        if (labels->t.numel() != n) return fail(TS_ESHAPE, "one label per input is required");
        const int64_t classes = aoti_classes(*m->aoti);
        at::Tensor lab = labels->t.view({-1});
        at::Tensor w, logits;
        if (objective_kind == TS_OBJ_LOGIT) {
            w = torch::zeros({n, classes}, x->t.options().dtype(at::kFloat));
            if (int rc = check_labels(w, lab, n, checks)) return rc; // before scatter_ indexes with them
            w.scatter_(1, lab.view({-1, 1}), 1.0);
        } else {
            logits = aoti_forward(m, x->t);
            if (int rc = check_labels(logits, lab, n, checks)) return rc;
            at::Tensor z = logits.detach().requires_grad_(true);
            torch::AutoGradMode on(true);
            w = torch::autograd::grad({objective(z, lab, objective_kind).sum()}, {z})[0].detach();
        }
        g_fwd += (uint64_t)n;
        g_bwd += (uint64_t)n;
        if (g_bf16.load()) aoti_forward(m, x->t); // refuses bf16 with its reason
        auto r = aoti_run(*m->aoti, x->t, w);
        if (int rc = check_finite(r.second, CHK_INPUT_GRAD, checks)) return rc;
        std::unique_ptr<ts_tensor> gh(wrap(r.second));
        if (fvals) {
            torch::NoGradGuard ng;
            *fvals = wrap(objective(r.first, lab, objective_kind));
        }
        *grad = gh.release();
    });
    return TS_OK;
}

int ts_objective_grad(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective_kind, ts_tensor **grad,
                      ts_tensor **fvals, ts_checks *checks) {
    if (!m || !x || !labels || !grad) return fail(TS_EINVAL, "ts_objective_grad: NULL argument");
    if (m->aoti) return aoti_objective_grad(m, x, labels, objective_kind, grad, fvals, checks);
    TS_GUARD({
        const int64_t n = x->t.dim() > 0 ? x->t.size(0) : 0;
        if (labels->t.numel() != n) return fail(TS_ESHAPE, "one label per input is required");
        at::Tensor xi = (n == 1 ? two_rows(x->t) : x->t).detach().requires_grad_(true);
        at::Tensor lab = n == 1 ? two_rows(labels->t.view({-1})) : labels->t;
        at::Tensor logits = run_forward(m, xi);
        if (int rc = check_labels(logits, lab, xi.size(0), checks)) return rc;
        at::Tensor f = objective(logits, lab, objective_kind);
        auto g = torch::autograd::grad({f.sum()}, {xi});
        g_bwd += (uint64_t)xi.size(0);
        at::Tensor gr = g[0].detach();
        if (n == 1) {
            gr = gr.narrow(0, 0, 1);
            f = f.narrow(0, 0, 1);
        }
        if (int rc = check_finite(gr, CHK_INPUT_GRAD, checks)) return rc;
        std::unique_ptr<ts_tensor> gh(wrap(gr));
        if (fvals) *fvals = wrap(f.detach());
        *grad = gh.release();
    });
    return TS_OK;
}

int ts_objective_of_logits(const ts_tensor *logits, const ts_tensor *labels, int objective_kind, ts_tensor **fvals,
                           ts_checks *checks) {
    if (!logits || !labels || !fvals) return fail(TS_EINVAL, "ts_objective_of_logits: NULL argument");
    TS_GUARD({
        torch::NoGradGuard ng;
        if (logits->t.dim() != 2) return fail(TS_ESHAPE, "ts_objective_of_logits: logits must be N×classes");
        at::Tensor lab = labels->t.view({-1});
        if (int rc = check_labels(logits->t, lab, logits->t.size(0), checks)) return rc;
        *fvals = wrap(objective(logits->t.to(torch::kFloat32), lab, objective_kind));
    });
    return TS_OK;
}

int ts_objective_values(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective_kind,
                        ts_tensor **fvals, ts_checks *checks) {
    if (!m || !x || !labels || !fvals) return fail(TS_EINVAL, "ts_objective_values: NULL argument");
    ts_tensor *lg = NULL;
    int rc = ts_module_forward(m, x, &lg);
    if (rc == TS_OK) rc = ts_objective_of_logits(lg, labels, objective_kind, fvals, checks);
    ts_tensor_free(lg);
    return rc;
}

int ts_module_has_method(ts_module *m, const char *name, int *has) {
    if (!m || !name || !has) return fail(TS_EINVAL, "ts_module_has_method: NULL argument");
    if (int rc = aoti_refuses(m, "a features/classifier split (GradCAM)")) return rc;
    TS_GUARD({ *has = m->m.find_method(name).has_value() ? 1 : 0; });
    return TS_OK;
}

int ts_feature_grad(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective_kind, ts_tensor **acts,
                    ts_tensor **grad) {
    if (int rc = aoti_refuses(m, "GradCAM")) return rc;
    if (!m || !x || !labels || !grad) return fail(TS_EINVAL, "ts_feature_grad: NULL argument");
    TS_GUARD({
        c10::IValue fa;
        {
            ForwardPrecision fp(m->dev);
            fa = m->m.run_method("features", x->t.detach());
        }
        if (!fa.isTensor() || fa.toTensor().dim() != 4)
            return fail(TS_ESHAPE,
                        "model method features(x) must return N×K×h×w conv maps (see docs/methods.md, GradCAM)");
        // A fresh leaf: the gradient stops at the maps, not at x.
        at::Tensor a = fa.toTensor().detach().to(at::kFloat).requires_grad_(true);
        c10::IValue lr;
        {
            ForwardPrecision fp(m->dev);
            lr = m->m.run_method("classifier", a);
        }
        if (!lr.isTensor() || lr.toTensor().dim() != 2 || lr.toTensor().size(0) != a.size(0))
            return fail(TS_ESHAPE,
                        "model method classifier(a) must return N×classes logits (see docs/methods.md, GradCAM)");
        at::Tensor logits = logits_of(lr, "model method classifier(a)");
        at::Tensor lab = labels->t;
        if (int rc = check_labels(logits, lab, a.size(0), NULL)) return rc;
        at::Tensor f = objective(logits, lab, objective_kind);
        at::Tensor g = torch::autograd::grad({f.sum()}, {a})[0].detach();
        g_bwd += (uint64_t)a.size(0);
        if (int rc = check_finite(g, CHK_FEATURE_GRAD, NULL)) return rc;
        *grad = wrap(g);
        if (acts) *acts = wrap(a.detach());
    });
    return TS_OK;
}

int ts_interpolate_bilinear(const ts_tensor *a, int64_t oh, int64_t ow, ts_tensor **out) {
    if (!a || !out || oh < 1 || ow < 1) return fail(TS_EINVAL, "ts_interpolate_bilinear: bad argument");
    TS_GUARD({
        namespace F = torch::nn::functional;
        *out = wrap(F::interpolate(a->t, F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{oh, ow})
                                             .mode(torch::kBilinear)
                                             .align_corners(false)));
    });
    return TS_OK;
}

// DiffID's removal counts: an int64 tensor of R values in [0, D] on x's
// device (made by the caller once per batch, so that only
// R numbers cross however many chunks use them).
static int check_counts(const at::Tensor &counts, const at::Tensor &x, int64_t d, const char *who) {
    if (counts.dim() != 1 || counts.scalar_type() != torch::kInt64 || counts.device() != x.device()) {
        std::string m = std::string(who) + ": counts must be R int64 on x's device";
        return fail(TS_ESHAPE, m.c_str());
    }
    // Their values are the caller's to keep in [0, D] (diffid_count does):
    // checking them here would cost a device round trip per chunk.
    (void)d;
    if (counts.numel() < 1) {
        std::string m = std::string(who) + ": no counts";
        return fail(TS_EINVAL, m.c_str());
    }
    return TS_OK;
}

int ts_rank_copies(const ts_tensor *x, const ts_tensor *rank, const ts_tensor *fill, const ts_tensor *counts,
                   ts_tensor **out) {
    if (!x || !rank || !fill || !counts || !out) return fail(TS_EINVAL, "ts_rank_copies: bad argument");
    const at::Tensor &xt = x->t, &rt = rank->t;
    if (xt.dim() != 2 || rt.sizes() != xt.sizes() || rt.scalar_type() != torch::kInt32 ||
        xt.scalar_type() != torch::kFloat32 || rt.device() != xt.device())
        return fail(TS_ESHAPE, "ts_rank_copies: x must be G×D float32 and rank G×D int32 on the same device");
    const int64_t g = xt.size(0), d = xt.size(1), n_ratios = counts->t.numel(), copies = 2 * n_ratios;
    if (fill->t.numel() != g * copies || fill->t.scalar_type() != torch::kFloat32 || fill->t.device() != xt.device())
        return fail(TS_ESHAPE, "ts_rank_copies: fill must be G×2R float32 on x's device");
    if (d > INT32_MAX) return fail(TS_EINVAL, "ts_rank_copies: more than 2^31 - 1 elements per image");
    TS_GUARD({
        int rc = check_counts(counts->t, xt, d, "ts_rank_copies");
        if (rc != TS_OK) return rc;
        // The masks are bytes, a quarter of the copies they select into.
        at::Tensor below = counts->t.to(torch::kInt32).view({1, n_ratios, 1});
        at::Tensor from = (d - counts->t).to(torch::kInt32).view({1, n_ratios, 1});
        at::Tensor r3 = rt.unsqueeze(1);
        at::Tensor mask = at::cat({r3.lt(below), r3.ge(from)}, 1);
        *out = wrap(at::where(mask, fill->t.reshape({g, copies, 1}), xt.unsqueeze(1)).reshape({g * copies, d}));
    });
    return TS_OK;
}

int ts_diffid_rank(const ts_tensor *x, const ts_tensor *a, int c, const ts_tensor *counts, ts_tensor **rank,
                   ts_tensor **fill) {
    if (!x || !a || !counts || !rank || !fill || c < 1) return fail(TS_EINVAL, "ts_diffid_rank: bad argument");
    const at::Tensor &xt = x->t, &at_ = a->t;
    if (xt.dim() != 2 || at_.sizes() != xt.sizes() || xt.scalar_type() != torch::kFloat32 ||
        at_.scalar_type() != torch::kFloat32 || at_.device() != xt.device() || xt.size(1) % c)
        return fail(TS_ESHAPE, "ts_diffid_rank: x and a must be G×D float32 on one device, D a multiple of C");
    const int64_t g = xt.size(0), d = xt.size(1), hw = d / c;
    if (d > INT32_MAX) return fail(TS_EINVAL, "ts_diffid_rank: more than 2^31 - 1 elements per image");
    TS_GUARD({
        torch::NoGradGuard no_grad;
        int rc = check_counts(counts->t, xt, d, "ts_diffid_rank");
        if (rc != TS_OK) return rc;
        // Saliency Σ_c |a| added channel by channel as the host loop does,
        // min–max normalised with the host's float ε: the same float keys.
        at::Tensor a3 = at_.reshape({g, c, hw}).abs();
        at::Tensor s = a3.select(1, 0).clone();
        for (int ch = 1; ch < c; ch++) s.add_(a3.select(1, ch));
        at::Tensor lo = s.amin(1, true), hi = s.amax(1, true);
        at::Tensor eps = at::scalar_tensor(1e-10f, s.options());
        at::Tensor key = (s - lo) / ((hi - lo) + eps);
        // Descending by key, ties by flat index (a stable sort keeps it):
        // the host's order, channel 0's elements of a run of equal keys first.
        at::Tensor order = std::get<1>(at::sort(key.repeat({1, c}), /*stable=*/true, /*dim=*/1, /*descending=*/true));
        at::Tensor pos = at::arange(d, order.options()).expand({g, d});
        at::Tensor rank_t = at::empty_like(order).scatter_(1, order, pos).to(torch::kInt32);
        // Fill values: the mean of what a copy keeps, in float64: the sum of
        // the image less the removed elements (prefix sums in ranking order).
        at::Tensor xd = xt.to(torch::kFloat64);
        at::Tensor total = xd.cumsum(1).select(1, d - 1).unsqueeze(1);
        at::Tensor pre = at::cat({at::zeros({g, 1}, xd.options()), xd.gather(1, order).cumsum(1)}, 1);
        // removed: deletion the top n (pre[n] − pre[0]), insertion the
        // bottom n (pre[d] − pre[d − n]); indices made from the counts here
        const at::Tensor &n = counts->t;
        at::Tensor dn = at::full_like(n, d);
        at::Tensor ix = at::cat({n, dn, at::zeros_like(n), dn - n});
        at::Tensor sel = pre.index_select(1, ix);
        const int64_t R = n.numel();
        at::Tensor removed = sel.narrow(1, 0, 2 * R) - sel.narrow(1, 2 * R, 2 * R);
        at::Tensor dv = (dn - n).to(torch::kFloat64).repeat({2}).unsqueeze(0);
        at::Tensor mean = at::where(dv > 0, (total - removed) / dv.clamp_min(1.0), at::zeros_like(removed));
        at::Tensor fill_t = mean.to(torch::kFloat32);
        // both handed out together: nothing can throw after the first
        *rank = wrap(rank_t);
        *fill = wrap(fill_t);
    });
    return TS_OK;
}

int ts_diffid_score(const ts_tensor *logits, const ts_tensor *labels, const ts_tensor *orig, int n_ratios, double *sums,
                    double *per_image) {
    if (!logits || !labels || !orig || !sums || n_ratios < 1) return fail(TS_EINVAL, "ts_diffid_score: bad argument");
    const int64_t copies = 2 * (int64_t)n_ratios, g = labels->t.numel();
    if (logits->t.dim() != 2 || logits->t.size(0) != g * copies || orig->t.numel() != g)
        return fail(TS_ESHAPE, "ts_diffid_score: logits must be (G·2R)×classes, labels and orig G");
    TS_GUARD({
        torch::NoGradGuard no_grad;
        at::Tensor lg = logits->t.reshape({g, copies, -1});
        at::Tensor lab = labels->t.reshape({g, 1});
        // argmax keeps the first of equal maxima, as diffid_argmax does
        at::Tensor hits = lg.argmax(2).eq(lab).to(torch::kFloat64); // G×2R
        at::Tensor ll = lg.gather(2, lab.unsqueeze(2).expand({g, copies, 1})).squeeze(2).to(torch::kFloat64);
        at::Tensor ratios = ll / orig->t.reshape({g, 1}).to(torch::kFloat64); // G×2R
        std::vector<at::Tensor> parts = {hits.sum(0), ratios.sum(0)};
        if (per_image) { // insertion columns [R, 2R) minus deletion [0, R), averaged
            auto diff = [&](const at::Tensor &t) {
                return (t.narrow(1, n_ratios, n_ratios).sum(1) - t.narrow(1, 0, n_ratios).sum(1)) / (double)n_ratios;
            };
            parts.push_back(at::stack({diff(hits), diff(ratios)}, 1).reshape({-1}));
        }
        at::Tensor both = at::cat(parts).contiguous().to(torch::kCPU);
        ledger_d2h((size_t)both.numel() * sizeof(double));
        memcpy(sums, both.data_ptr<double>(), (size_t)(4 * n_ratios) * sizeof(double));
        if (per_image) memcpy(per_image, both.data_ptr<double>() + 4 * n_ratios, (size_t)(2 * g) * sizeof(double));
    });
    return TS_OK;
}

int ts_argmax_rows(const ts_tensor *logits, int64_t *out, size_t n) {
    if (!logits || !out) return fail(TS_EINVAL, "ts_argmax_rows: NULL argument");
    if (logits->t.dim() != 2 || (size_t)logits->t.size(0) > n)
        return fail(TS_ESHAPE, "ts_argmax_rows: logits must be N×classes with N <= the output's length");
    TS_GUARD({
        torch::NoGradGuard no_grad;
        at::Tensor a = logits->t.argmax(1).to(torch::kInt64).contiguous().to(torch::kCPU);
        ledger_d2h((size_t)a.numel() * sizeof(int64_t));
        memcpy(out, a.data_ptr<int64_t>(), (size_t)a.numel() * sizeof(int64_t));
    });
    return TS_OK;
}

int ts_label_logits(const ts_tensor *logits, const ts_tensor *labels, ts_tensor **picked, int64_t *correct) {
    if (!logits || !labels || !picked || !correct) return fail(TS_EINVAL, "ts_label_logits: NULL argument");
    if (logits->t.dim() != 2 || labels->t.numel() != logits->t.size(0))
        return fail(TS_ESHAPE, "ts_label_logits: logits must be N×classes and labels N");
    TS_GUARD({
        torch::NoGradGuard no_grad;
        at::Tensor lab = labels->t.reshape({-1, 1});
        at::Tensor p = logits->t.gather(1, lab).reshape({-1});
        *correct = item_d2h<int64_t>(logits->t.argmax(1).eq(labels->t.reshape({-1})).sum());
        *picked = wrap(p); /* last: a failed sync above leaves no handle behind */
    });
    return TS_OK;
}

int ts_sgd_new(ts_module *m, double lr, double momentum, double weight_decay, ts_sgd **out) {
    if (int rc = aoti_refuses(m, "training")) return rc;
    if (!m || !out) return fail(TS_EINVAL, "ts_sgd_new: NULL argument");
    TS_GUARD({
        std::vector<at::Tensor> params;
        for (auto p : m->m.parameters()) params.push_back(p);
        auto opts = torch::optim::SGDOptions(lr).momentum(momentum).weight_decay(weight_decay);
        *out = new ts_sgd{std::make_unique<torch::optim::SGD>(params, opts), m};
    });
    return TS_OK;
}

void ts_sgd_free(ts_sgd *opt) {
    delete opt;
}

int ts_sgd_set_lr(ts_sgd *opt, double lr) {
    TS_GUARD({
        for (auto &group : opt->opt->param_groups()) static_cast<torch::optim::SGDOptions &>(group.options()).lr(lr);
    });
    return TS_OK;
}

// An optimizer step changes the weights, whatever the mode: the frozen copy
// (folded weights are copies) is stale from then on.
static void sgd_step(ts_sgd *opt) {
    opt->opt->step();
    std::lock_guard<std::mutex> lk(opt->m->frozen_mu);
    opt->m->frozen.reset();
}

int ts_train_step(ts_module *m, ts_sgd *opt, const ts_tensor *x, const ts_tensor *labels, double *loss_sum,
                  int64_t *correct) {
    if (!m || !opt || !x || !labels) return fail(TS_EINVAL, "ts_train_step: NULL argument");
    TS_GUARD({
        at::Tensor logits = run_forward(m, x->t, true);
        at::Tensor loss = torch::nn::functional::cross_entropy(logits, labels->t);
        opt->opt->zero_grad();
        loss.backward();
        sgd_step(opt);
        if (!std::isfinite(item_d2h<double>(loss)))
            return fail(TS_ENOTFINITE, "training loss became NaN or Inf (lower train.lr)");
        if (loss_sum) *loss_sum = item_d2h<double>(loss) * (double)x->t.size(0);
        if (correct) *correct = item_d2h<int64_t>(logits.argmax(1).eq(labels->t).sum());
    });
    return TS_OK;
}

int ts_train_grads(ts_module *m, const ts_tensor *x, const ts_tensor *labels, double scale, double *loss_sum,
                   int64_t *correct) {
    if (int rc = aoti_refuses(m, "training")) return rc;
    if (!m || (x && !labels)) return fail(TS_EINVAL, "ts_train_grads: NULL argument");
    TS_GUARD({
        for (auto p : m->m.parameters())
            if (p.grad().defined()) p.mutable_grad().zero_();
        if (loss_sum) *loss_sum = 0;
        if (correct) *correct = 0;
        if (x) {
            at::Tensor logits = run_forward(m, x->t, true);
            at::Tensor loss = torch::nn::functional::cross_entropy(
                logits, labels->t, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
            double l = item_d2h<double>(loss);
            if (!std::isfinite(l)) return fail(TS_ENOTFINITE, "training loss became NaN or Inf (lower train.lr)");
            (loss * scale).backward();
            if (loss_sum) *loss_sum = l;
            if (correct) *correct = item_d2h<int64_t>(logits.argmax(1).eq(labels->t).sum());
        }
    });
    return TS_OK;
}

int ts_grads_numel(ts_module *m, int64_t *n) {
    if (int rc = aoti_refuses(m, "training")) return rc;
    if (!m || !n) return fail(TS_EINVAL, "ts_grads_numel: NULL argument");
    TS_GUARD({
        int64_t k = 0;
        for (auto p : m->m.parameters()) k += p.numel();
        *n = k;
    });
    return TS_OK;
}

// The parameters' gradients as one fp32 vector on the module's device, in
// parameters() order, zeros for a parameter without one; and back.
static at::Tensor flat_grads(ts_module *m) {
    std::vector<at::Tensor> parts;
    for (auto p : m->m.parameters()) {
        if (p.grad().defined()) parts.push_back(p.grad().detach().to(at::kFloat).reshape({-1}));
        else parts.push_back(torch::zeros({p.numel()}, p.options().dtype(at::kFloat)));
    }
    return parts.empty() ? torch::zeros({0}, torch::TensorOptions().device(m->dev)) : torch::cat(parts).contiguous();
}

// false when flat has fewer elements than the parameters.
static bool set_grads(ts_module *m, const at::Tensor &flat) {
    torch::NoGradGuard ng;
    int64_t off = 0, n = flat.numel();
    for (auto p : m->m.parameters()) {
        int64_t k = p.numel();
        if (off + k > n) return false;
        at::Tensor g = flat.narrow(0, off, k).view(p.sizes()).to(p.device(), p.scalar_type());
        if (p.grad().defined()) p.mutable_grad().copy_(g);
        else p.mutable_grad() = g.clone();
        off += k;
    }
    return true;
}

int ts_grads_get(ts_module *m, float *dst, int64_t n) {
    if (!m || !dst) return fail(TS_EINVAL, "ts_grads_get: NULL argument");
    TS_GUARD({
        at::Tensor flat = flat_grads(m).to(at::kCPU);
        if (flat.numel() > n) return fail(TS_EINVAL, "ts_grads_get: buffer smaller than the parameters");
        memcpy(dst, flat.data_ptr<float>(), (size_t)flat.numel() * sizeof(float));
        ledger_d2h((size_t)flat.numel() * sizeof(float));
    });
    return TS_OK;
}

int ts_grads_set(ts_module *m, const float *src, int64_t n) {
    if (!m || !src) return fail(TS_EINVAL, "ts_grads_set: NULL argument");
    TS_GUARD({
        at::Tensor h = torch::from_blob(const_cast<float *>(src), {n}, at::kFloat);
        if (!set_grads(m, h)) return fail(TS_EINVAL, "ts_grads_set: buffer smaller than the parameters");
        ledger_h2d(h);
    });
    return TS_OK;
}

int ts_grads_flat(ts_module *m, ts_tensor **out) {
    if (!m || !out) return fail(TS_EINVAL, "ts_grads_flat: NULL argument");
    *out = nullptr;
    TS_GUARD({ *out = wrap(flat_grads(m)); });
    return TS_OK;
}

int ts_grads_set_flat(ts_module *m, const ts_tensor *flat) {
    if (!m || !flat) return fail(TS_EINVAL, "ts_grads_set_flat: NULL argument");
    TS_GUARD({
        if (!set_grads(m, flat->t)) return fail(TS_EINVAL, "ts_grads_set_flat: fewer elements than the parameters");
    });
    return TS_OK;
}

int ts_data_ptr(ts_tensor *t, void **ptr) {
    if (!t || !ptr) return fail(TS_EINVAL, "ts_data_ptr: NULL argument");
    if (!t->t.is_contiguous()) return fail(TS_EINVAL, "ts_data_ptr: tensor is not contiguous");
    *ptr = t->t.data_ptr();
    return TS_OK;
}

int ts_sgd_step(ts_sgd *opt) {
    if (!opt) return fail(TS_EINVAL, "ts_sgd_step: NULL argument");
    TS_GUARD({ sgd_step(opt); });
    return TS_OK;
}

} // extern "C"
