// torch/ts_grad.cpp — gradients of the explained objective: the
// objectives (docs/methods.md), the label and finiteness checks (at once or
// deferred on the device, ts_checks), input gradients of TorchScript
// modules and AOTInductor packages, and GradCAM's feature-map gradients and
// bilinear resize. torch_shim.h's sections "objectives, checks and input
// gradients" and "GradCAM".
#include "ts_internal.hpp"

#include <cstdio>
#include <limits>

using namespace ts_internal;

extern "C" {

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

} // extern "C"
