// torch/ts_internal.hpp — private to the shim (C++ only, never included from
// C): the handle types behind torch_shim.h's opaque typedefs, the guard that
// turns every C++ exception into a status and ts_last_error(), and the small
// helpers every ts_*.cpp uses. Each object here exists once: the mutable
// globals (the error buffer, the ledger's counters, the bf16 switch) are
// declared extern and defined in ts_runtime.cpp; the helpers are inline, or
// declared here and defined in the one file named beside them. They live in
// namespace ts_internal so that none of their names (the counters are plain
// variables, unmangled) can meet a symbol of the C side at link time.
#ifndef RECAL_TS_INTERNAL_HPP
#define RECAL_TS_INTERNAL_HPP

#include "torch_shim.h"
#include "aoti_model.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
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

namespace ts_internal {

// The message of this thread's last failure (ts_last_error), and set_err,
// which trims libtorch's text into it (ts_runtime.cpp).
extern thread_local char g_err[2048];
void set_err(const char *msg);
// set_err(msg), then code: `return fail(TS_EINVAL, "...")` (ts_runtime.cpp).
int fail(int code, const char *msg);

// A model that ran but returned something recal cannot explain (not
// N×classes, not floating point): TS_ESHAPE, so callers blame the model's
// output, not the images.
struct ts_output_error : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

} // namespace ts_internal

// Every entry point is wrapped in TS_GUARD so that no exception escapes into C;
// the message lands in the thread-local g_err, which ts_last_error() returns.
#define TS_GUARD(...)                                                                                                  \
    do {                                                                                                               \
        ts_internal::g_err[0] = '\0';                                                                                  \
        try {                                                                                                          \
            __VA_ARGS__                                                                                                \
        } catch (const c10::Error &e) {                                                                                \
            ts_internal::set_err(e.what_without_backtrace());                                                          \
            return TS_ERR;                                                                                             \
        } catch (const ts_internal::ts_output_error &e) {                                                              \
            ts_internal::set_err(e.what());                                                                            \
            return TS_ESHAPE;                                                                                          \
        } catch (const std::exception &e) {                                                                            \
            ts_internal::set_err(e.what());                                                                            \
            return TS_ERR;                                                                                             \
        } catch (...) {                                                                                                \
            ts_internal::set_err("unknown C++ exception in libtorch");                                                 \
            return TS_ERR;                                                                                             \
        }                                                                                                              \
    } while (0)

namespace ts_internal {

inline c10::Device to_dev(int device) {
    return device == TS_DEV_CUDA ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
}

inline ts_tensor *wrap(at::Tensor t) {
    return new ts_tensor{std::move(t)};
}

inline std::vector<int64_t> dims(const int64_t *shape, int ndim) {
    return std::vector<int64_t>(shape, shape + ndim);
}

// The ledger (ts_ledger_read): every copy between host memory and a tensor's
// device, and every sample through the model. Counted on the CPU as well,
// where the same calls copy host memory, so what a job would move on a GPU
// is known and tested on any machine. Every copy is also a sync: the shim
// copies with non_blocking false, and on CUDA PyTorch then waits for the
// stream (cudaMemcpyAsync + cudaStreamSynchronize) both ways.
// Defined in ts_runtime.cpp, read by ts_ledger_read there.
extern std::atomic<uint64_t> g_h2d, g_d2h, g_fwd, g_bwd, g_syncs, g_d2h_syncs;
inline void ledger_h2d(const at::Tensor &t) {
    g_h2d += (uint64_t)t.numel() * t.element_size();
    g_syncs += 1;
}
inline void ledger_d2h(size_t bytes) {
    g_d2h += bytes;
    g_syncs += 1;
    g_d2h_syncs += 1;
}
// One value back to the host (a finiteness check, a loss): a d2h copy and,
// on a GPU, a wait for the device.
template <typename T> inline T item_d2h(const at::Tensor &t) {
    ledger_d2h(sizeof(T));
    return t.item<T>();
}

// `precision: bf16`: set by ts_set_bf16, read by every forward (ts_runtime.cpp).
extern std::atomic<int> g_bf16;

// bf16 autocast for the lifetime of one model call when the job asked for it;
// the thread's previous state comes back on exit, exceptions included
// (constructor and destructor in ts_runtime.cpp, beside the autocast calls).
class ForwardPrecision {
  public:
    explicit ForwardPrecision(c10::Device dev);
    ~ForwardPrecision();
    ForwardPrecision(const ForwardPrecision &) = delete;
    ForwardPrecision &operator=(const ForwardPrecision &) = delete;

  private:
    c10::DeviceType dt_;
    bool on_;
    bool prev_on_ = false;
    at::ScalarType prev_t_ = at::kBFloat16;
};

// A one-sample forward+backward takes other CPU kernels than a batch, and
// they break max-pooling ties (equal activations over a flat background)
// the other way: Debian's libtorch on an AVX-512 EPYC gave the demo CNN's
// input gradients 4.7 % apart, one image at a time vs in a batch, in
// PyTorch itself. Every gradient is therefore taken on at least two rows (a
// lone sample goes with a copy of itself), so an image's gradient does not
// depend on the batch or chunk it falls in.
inline at::Tensor two_rows(const at::Tensor &t) {
    return t.size(0) == 1 ? at::cat({t, t}, 0) : t;
}

// --- defined in ts_module.cpp ------------------------------------------------
// What a .pt2 package cannot do: 0 for a TorchScript module, else a
// TS_EINVAL failure naming `what` (training, GradCAM, saving).
int aoti_refuses(const ts_module *m, const char *what);
// The logits of a forward's result in fp32; throws (ts_output_error) on an
// integer output, naming `what`.
at::Tensor logits_of(const c10::IValue &r, const char *what = "model forward");
// A counted forward, checked N×classes; weights: differentiated w.r.t. the
// parameters (training), so the module itself runs, never its frozen copy.
at::Tensor run_forward(ts_module *m, const at::Tensor &x, bool weights = false);
// An AOTInductor package's logits (refuses bf16).
at::Tensor aoti_forward(ts_module *m, const at::Tensor &x);

} // namespace ts_internal

#endif
