// torch/ts_ops.cpp — tensor primitives for the C side to compose its math
// from: element-wise arithmetic, reductions, channel affine maps, index ops,
// finiteness, views and layout. torch_shim.h's sections "element-wise and
// reductions" and "views and layout".
#include "ts_internal.hpp"

#include <tuple>

using namespace ts_internal;

extern "C" {

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

} // extern "C"
