// torch/ts_metric.cpp — whole metric steps on the device, so that a batch
// stays there in a handful of kernels: DiffID's ranking, perturbed copies
// and scores, and the clean forward's per-image results (label logits,
// argmax rows). torch_shim.h's section "metric steps".
#include "ts_internal.hpp"

#include <cstring>
#include <tuple>

using namespace ts_internal;

extern "C" {

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

} // extern "C"
