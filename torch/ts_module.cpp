// torch/ts_module.cpp — models: loading a TorchScript file or an
// AOTInductor package (with the advice for one saved by a newer PyTorch),
// saving, train/eval mode, the frozen copy that eval forwards run (built,
// probed and dropped here) and the counted forward every other file calls.
// torch_shim.h's section "modules".
#include "ts_internal.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

using namespace ts_internal;

namespace ts_internal {

// What a .pt2 package cannot do: it holds a compiled forward+backward for
// input gradients, not the module (no weights to train, no features split).
int aoti_refuses(const ts_module *m, const char *what) {
    if (!m || !m->aoti) return 0;
    return fail(TS_EINVAL, (std::string(what) +
                            " needs a TorchScript model: an AOTInductor package (.pt2) holds only the forward and "
                            "input gradient compiled into it (attribution and the metrics; not GradCAM, training "
                            "or Diff-ROAR)")
                               .c_str());
}

// The logits of a forward's result, in fp32: a tensor of a floating type.
// An integer output (argmax, .long()) has no gradient, and libtorch's own
// message for that ("element 0 of tensors does not require grad") names
// neither the model nor the cause.
at::Tensor logits_of(const c10::IValue &r, const char *what) {
    if (!r.isTensor())
        throw std::runtime_error(std::string(what) + " did not return a tensor (expected N×classes logits)");
    const at::Tensor &t = r.toTensor();
    if (!at::isFloatingType(t.scalar_type()))
        throw ts_output_error(std::string(what) + " returns " + c10::toString(t.scalar_type()) +
                              " values, not floating point: attributions need the logits (return them "
                              "before any argmax or integer cast)");
    return t.to(at::kFloat);
}

} // namespace ts_internal

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

namespace ts_internal {

// weights: the forward is differentiated w.r.t. the parameters (training,
// whatever the mode), so it must run the module itself, never the frozen copy.
at::Tensor run_forward(ts_module *m, const at::Tensor &x, bool weights) {
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
at::Tensor aoti_forward(ts_module *m, const at::Tensor &x) {
    // bf16 autocast wraps a module's forward; a package runs what it was
    // compiled in (fp32): refuse rather than ignore the job's precision.
    if (g_bf16.load())
        throw std::invalid_argument("precision: bf16 needs a TorchScript model (an AOTInductor package runs the "
                                    "fp32 it was compiled in)");
    g_fwd += (uint64_t)x.size(0);
    at::Tensor w = torch::zeros({x.size(0), aoti_classes(*m->aoti)}, x.options().dtype(at::kFloat));
    return aoti_run(*m->aoti, x, w).first;
}

} // namespace ts_internal

extern "C" {

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

const char *ts_module_freeze_note(ts_module *m) {
    if (!m) return NULL;
    std::lock_guard<std::mutex> lk(m->frozen_mu);
    return m->freeze_note.empty() ? NULL : m->freeze_note.c_str();
}

int ts_module_forward(ts_module *m, const ts_tensor *x, ts_tensor **logits) {
    if (!m || !x || !logits) return fail(TS_EINVAL, "ts_module_forward: NULL argument");
    TS_GUARD({
        torch::NoGradGuard ng;
        *logits = wrap(m->aoti ? aoti_forward(m, x->t) : run_forward(m, x->t));
    });
    return TS_OK;
}

} // extern "C"
