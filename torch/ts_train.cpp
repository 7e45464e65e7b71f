// torch/ts_train.cpp — training: SGD (which makes a module's frozen copy
// stale), train steps on one rank, and the flat gradients of data-parallel
// training (host copies for MPI, device tensors and their addresses for
// NCCL). torch_shim.h's section "training".
#include "ts_internal.hpp"

#include <cmath>
#include <cstring>

using namespace ts_internal;

extern "C" {

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
