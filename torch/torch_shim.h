/* torch/torch_shim.h — the C face of libtorch.
 *
 * Rules (README, "Design in a paragraph"):
 * - Every function returns int status: TS_OK (0) or a negative TS_E* code; the
 *   message of the last failure on this thread is ts_last_error(). Every C++
 *   exception is caught inside the shim; none ever crosses into C. The last
 *   error is cleared on entry of every call.
 * - Handles are opaque. A function that hands back a tensor through `out`
 *   gives the caller a NEW reference that the caller must ts_tensor_free().
 *   Tensor arguments are borrowed: the callee never frees them.
 * - Tensors stay on their device; C composes the math from the ops below, so
 *   the same C code runs on CPU and CUDA.
 * Each section below names the one file of torch/ that implements it
 * (torch/README.md); their shared internals are torch/ts_internal.hpp.
 */
#ifndef RECAL_TORCH_SHIM_H
#define RECAL_TORCH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_OK 0
#define TS_ERR -1        /* libtorch threw: see ts_last_error() */
#define TS_EINVAL -2     /* bad argument from the C side */
#define TS_ESHAPE -3     /* a model or tensor had an unexpected shape */
#define TS_ENOTFINITE -4 /* NaN or Inf where finite numbers are required */

#define TS_MAX_DIMS 8

typedef struct ts_tensor ts_tensor;
typedef struct ts_module ts_module;
typedef struct ts_sgd ts_sgd;
typedef struct ts_checks ts_checks;

enum ts_device { TS_DEV_CPU = 0, TS_DEV_CUDA = 1 };
enum ts_objective { TS_OBJ_LOGIT = 0, TS_OBJ_PROB = 1, TS_OBJ_CONTRAST = 2 };

/* ---- runtime (ts_runtime.cpp) ------------------------------------------ */
const char *ts_last_error(void);
/* What crossed between host memory and tensors' devices (bytes, every copy
 * the shim makes, tensor data and single values alike), how many samples
 * went through the model (forward; backward to an input or feature map),
 * and how many times the host waited for the device (syncs: every copy,
 * up or down, is one, since PyTorch's blocking copy waits for the stream,
 * and so is ts_device_sync; d2h_syncs: the downloads among them, the values
 * the host reads back), since the process started. Counted on the CPU too,
 * where the same calls copy host memory. */
struct ts_ledger {
    uint64_t h2d_bytes, d2h_bytes, fwd_samples, bwd_samples, syncs, d2h_syncs;
};
void ts_ledger_read(struct ts_ledger *out);
const char *ts_version(void); /* libtorch version string, static */
/* What libtorch says of CUDA in this process (recal --version): the CUDA
 * runtime's version (e.g. 13020 for 13.2; 0 without libtorch_cuda), the cuDNN
 * libtorch was built with (e.g. 92600; 0 none) and the devices usable now. */
struct ts_cuda_info {
    long cudart, cudnn;
    int devices;
};
void ts_cuda_info(struct ts_cuda_info *out);
int ts_cuda_device_count(void); /* 0 when built/run without CUDA */
/* Free and total memory of CUDA device 0 (cudaMemGetInfo, after a sync);
 * TS_EINVAL without a CUDA device or runtime. */
int ts_cuda_mem_free(size_t *free_bytes, size_t *total_bytes);
/* "auto" → cuda when available else cpu; "cpu"; "cuda" (error if absent). */
int ts_device_parse(const char *name, int *device_out);
const char *ts_device_name(int device);
int ts_set_num_threads(int n);
/* fn(ctx, lo, hi) over disjoint ranges covering [0, n), on libtorch's
 * intra-op threads (the job's `threads`): host-side per-image work in C
 * without a thread pool of our own. fn must not call back into libtorch
 * ops that would want to go parallel themselves (they run serially). */
int ts_parallel_for(int64_t n, void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx);
/* CUDA: let convolutions and matmuls round through TF32 (on = 1) or keep
 * exact fp32 (0, what ts_device_parse sets whenever it picks CUDA). */
int ts_set_tf32(int on);
/* Run every model forward (evaluation and training) under bfloat16 autocast
 * (on = 1; `precision: bf16`): convolutions and matmuls in bf16, logits and
 * input gradients still returned as float32. Process-wide; 0 (the default)
 * is exact fp32. */
int ts_set_bf16(int on);
/* Wait for every queued kernel on the device (no-op on CPU). */
int ts_device_sync(int device);
int ts_manual_seed(uint64_t seed); /* global generator: training init only */

/* ---- tensor life and host copies (ts_runtime.cpp) ----------------------- */
void ts_tensor_free(ts_tensor *t); /* NULL ok */
/* Copy host float32/int64/int32 data into a new tensor on `device`. */
int ts_from_f32(const float *data, const int64_t *shape, int ndim, int device, ts_tensor **out);
int ts_from_i64(const int64_t *data, const int64_t *shape, int ndim, int device, ts_tensor **out);
int ts_from_i32(const int32_t *data, const int64_t *shape, int ndim, int device, ts_tensor **out);
/* Copy a tensor to host memory as float32 (or int64), straight into dst;
 * n must equal numel. */
int ts_to_f32(const ts_tensor *t, float *dst, size_t n);
int ts_to_i64(const ts_tensor *t, int64_t *dst, size_t n);
int ts_to_f64(const ts_tensor *t, double *dst, size_t n);
/* Host memory of `bytes` bytes that lives as long as the tensor *owner
 * (free it with ts_tensor_free); *ptr is its first byte, aligned for any
 * scalar type. pinned = 1 page-locks it when CUDA is available: copies
 * between it and the GPU then go by DMA at full bus speed instead of
 * through a pageable staging buffer (libtorch caches such blocks, so
 * allocating them per shard is cheap). */
int ts_host_buffer(size_t bytes, int pinned, ts_tensor **owner, void **ptr);
int ts_shape(const ts_tensor *t, int64_t *shape, int *ndim);
int64_t ts_numel(const ts_tensor *t);
/* TS_DEV_CPU or TS_DEV_CUDA: where t lives. */
int ts_device_of(const ts_tensor *t);

/* ---- creation (ts_runtime.cpp) ------------------------------------------ */
int ts_zeros(const int64_t *shape, int ndim, int device, ts_tensor **out);
/* count × n_each float32 on `device`, row i from the counter-based stream
 * of keys[i] (util/seed.h seed_ctr_bits), drawn where it is used: element n
 * is seed_ctr_u01(keys[i], n) exactly (gaussian 0: U[0, 1), 24 bits), or
 * (gaussian 1) sqrt(−2 ln u1)·cos(2π u2) from the pair u1 = (b(2n) + 1)·2^-24,
 * u2 = b(2n + 1)·2^-24 with b(m) = seed_ctr_bits(keys[i], m) >> 40,
 * computed in float64 and rounded to float32. Uniform draws are the same
 * bits on every device; normal ones go through the device's log, sqrt and
 * cos, whose float64 results may differ in the last place, so they agree to
 * float32 rounding (identical in practice). Only the keys cross to the
 * device. */
int ts_ctr_rand(const uint64_t *keys, int64_t count, int64_t n_each, int gaussian, int device, ts_tensor **out);

/* ---- element-wise and reductions, broadcasting as in PyTorch (ts_ops.cpp) */
int ts_add(const ts_tensor *a, const ts_tensor *b, ts_tensor **out);
int ts_sub(const ts_tensor *a, const ts_tensor *b, ts_tensor **out);
int ts_mul(const ts_tensor *a, const ts_tensor *b, ts_tensor **out);
int ts_div(const ts_tensor *a, const ts_tensor *b, ts_tensor **out);
int ts_mul_scalar(const ts_tensor *a, double s, ts_tensor **out);
int ts_add_scalar(const ts_tensor *a, double s, ts_tensor **out);
int ts_clamp_min(const ts_tensor *a, double lo, ts_tensor **out);
int ts_clamp(const ts_tensor *a, double lo, double hi, ts_tensor **out);
/* mask ? a : b elementwise (mask nonzero = true; broadcasting). */
int ts_where(const ts_tensor *mask, const ts_tensor *a, const ts_tensor *b, ts_tensor **out);
int ts_abs(const ts_tensor *a, ts_tensor **out);
int ts_cast_f64(const ts_tensor *a, ts_tensor **out);
int ts_matmul(const ts_tensor *a, const ts_tensor *b, ts_tensor **out);
/* sqrt(Σ_k a[i, k]²) per row of a 2-D tensor (in a's dtype). */
int ts_row_l2(const ts_tensor *a, ts_tensor **out);
/* u n×m: mask (u's dtype) 1 at the k_i smallest elements of row i (ties
 * by index: sensn_pick's subset, worker/metrics/perturb.h), else 0; the nk
 * values of k each serve n / nk consecutive rows (k_i = k[i / (n / nk)]). */
int ts_pick_smallest(const ts_tensor *u, const int64_t *k, int64_t nk, ts_tensor **mask);
/* idx m int64 with values in [0, g): out g×m float32, out[j, p] = idx[p] == j. */
int ts_onehot_rows(const ts_tensor *idx, int64_t g, ts_tensor **out);
/* 0 … n−1 as int64 on `device`, and floor division / remainder of an int64
 * tensor by a positive number: index tables made where they are used. */
int ts_arange(int64_t n, int device, ts_tensor **out);
int ts_idiv_scalar(const ts_tensor *a, int64_t s, ts_tensor **out);
int ts_irem_scalar(const ts_tensor *a, int64_t s, ts_tensor **out);
/* 1.0 where a >= s else 0.0, same dtype as a. */
int ts_ge_scalar(const ts_tensor *a, double s, ts_tensor **out);
int ts_sum_dim(const ts_tensor *a, int dim, int keepdim, ts_tensor **out);
int ts_mean_dim(const ts_tensor *a, int dim, int keepdim, ts_tensor **out);
/* out[:, c] = a[:, c] * scale[c] + shift[c] for an N×C×… tensor. */
int ts_affine_channels(const ts_tensor *a, const float *scale, const float *shift, int c, ts_tensor **out);
/* out[:, c] = (a[:, c] − mean[c]) / std[c] for an N×C×… tensor: the
 * model's input normalization, rounded as the host's (p − mean) / std. */
int ts_normalize_channels(const ts_tensor *a, const float *mean, const float *std, int c, ts_tensor **out);
/* The same two with the C channel values already on a's device (float32
 * tensors of C elements, e.g. kept for a run): nothing crosses. */
int ts_affine_channels_t(const ts_tensor *a, const ts_tensor *scale, const ts_tensor *shift, ts_tensor **out);
int ts_normalize_channels_t(const ts_tensor *a, const ts_tensor *mean, const ts_tensor *std, ts_tensor **out);
/* In place: self.index_add_(dim, index, src); index is an int64 tensor. */
int ts_index_add_(ts_tensor *self, int dim, const ts_tensor *index, const ts_tensor *src);
/* out = a.index_select(dim, index); index is an int64 tensor (a gather of rows). */
int ts_index_select(const ts_tensor *a, int dim, const ts_tensor *index, ts_tensor **out);
/* 1 when every element is finite, 0 otherwise. */
int ts_all_finite(const ts_tensor *a, int *finite);
/* The same of n tensors (on one device) with one read: *first_bad is the
 * index of the first holding NaN or Inf, -1 when none does. */
int ts_all_finite_each(const ts_tensor *const *ts, int n, int *first_bad);

/* ---- views and layout, new handles that may share data (ts_ops.cpp) ---- */
int ts_reshape(const ts_tensor *a, const int64_t *shape, int ndim, ts_tensor **out);
int ts_narrow(const ts_tensor *a, int dim, int64_t start, int64_t length, ts_tensor **out);
int ts_cat(const ts_tensor *const *parts, int n, int dim, ts_tensor **out);

/* ---- metric steps: whole steps on the device (ts_metric.cpp) ----------- */
/* Perturbed copies by rank (DiffID, built where the model runs): x is G×D
 * float32, rank G×D int32 with a permutation of 0..D-1 per row, fill G×2R
 * float32, counts R int64 in [0, D] (all on one device).
 * out is (G·2R)×D: row g·2R + r (r < R) is x[g] with every element of
 * rank < counts[r] set to fill[g, r]; row g·2R + R + r sets those of
 * rank >= D − counts[r] to fill[g, R + r]. Other elements are x's own
 * floats, copied exactly. */
int ts_rank_copies(const ts_tensor *x, const ts_tensor *rank, const ts_tensor *fill, const ts_tensor *counts,
                   ts_tensor **out);
/* diffid_rank (worker/metrics/diffid.h) on the device for G images at once:
 * x and a are G×D float32 (D = C·HW), counts as ts_rank_copies'; *rank
 * gets G×D int32, *fill G×2R float32 (new handles). The ranks are the host's exactly (same float keys,
 * a stable sort); the fill means are summed in float64 in another order
 * than the host's and agree with them to float32 rounding. */
int ts_diffid_rank(const ts_tensor *x, const ts_tensor *a, int c, const ts_tensor *counts, ts_tensor **rank,
                   ts_tensor **fill);
/* diffid_score summed over G images: logits (G·2R)×classes of the copies,
 * labels G int64, orig G float32 (f(x)[label]) → sums[0..4R) on the host in
 * struct diffid_acc order (deletion hits, insertion hits, deletion logit
 * ratios, insertion logit ratios): 4R doubles cross, whatever G. With
 * per_image (else NULL), also 2 doubles per image: the means over the
 * ratios of insertion − deletion hits and logit ratios (diffid_image_diffs). */
int ts_diffid_score(const ts_tensor *logits, const ts_tensor *labels, const ts_tensor *orig, int n_ratios, double *sums,
                    double *per_image);
/* The clean forward's per-image results: *picked = logits[i, labels[i]]
 * (N float32, new handle, stays on the device) and *correct = how many
 * argmax hits (one number crosses). */
int ts_label_logits(const ts_tensor *logits, const ts_tensor *labels, ts_tensor **picked, int64_t *correct);
/* out[i] = argmax of row i of an N×classes tensor (the first of equal
 * maxima), N ≤ n; 8 bytes a row cross. */
int ts_argmax_rows(const ts_tensor *logits, int64_t *out, size_t n);

/* ---- modules (ts_module.cpp) -------------------------------------------- */
/* Load a TorchScript file onto `device`, in eval mode with parameters frozen
 * (requires_grad false: attribution needs input gradients only). Eval-mode
 * forwards and input gradients then run a frozen copy (torch::jit::freeze:
 * constant weights, BatchNorm folded into the convolution before it), built
 * on the first one and dropped by ts_module_set_train and ts_sgd_step;
 * RECAL_FREEZE=0 in the environment runs the module as loaded, and so does a
 * model that freezing refuses or whose frozen copy fails the probe made when
 * it is built (outputs and input gradients on the first input must match
 * the module's); inputs of another per-sample shape than that first one run
 * the module itself. */
int ts_module_load(const char *path, int device, ts_module **out);
/* Why the module runs as loaded although freezing is on (freeze refused it,
 * or the probe found the frozen copy computes otherwise), or NULL. Owned by
 * the module; set at most once, on the first eval forward. */
const char *ts_module_freeze_note(ts_module *m);
void ts_module_free(ts_module *m); /* NULL ok */
int ts_module_save(ts_module *m, const char *path);
/* Forward without autograd. Checks the output is N×classes (2-D, N rows). */
int ts_module_forward(ts_module *m, const ts_tensor *x, ts_tensor **logits);
/* Switch train/eval mode (BatchNorm, Dropout) and parameter requires_grad. */
int ts_module_set_train(ts_module *m, int train);

/* ---- objectives, checks and input gradients (ts_grad.cpp) -------------- */
/* Checks kept on the device: the label range and the gradients' finiteness
 * of every call given them, ANDed into a few flags there, so that a chunk
 * loop does not make the host wait for the device after each pass (reading
 * a check back is a sync). ts_checks_read reads the flags once (one sync; none
 * when nothing was checked since the last read), clears them, and fails as
 * the call that found the problem would have: TS_ESHAPE "a label is outside
 * the model's N classes ..." first, then TS_ENOTFINITE "the model produced
 * NaN or Inf input gradients". A call given checks computes on as if its
 * input were good (an out-of-range label indexes as the nearest class): its
 * results mean nothing until ts_checks_read says TS_OK. */
int ts_checks_new(ts_checks **out);
void ts_checks_free(ts_checks *c); /* NULL ok */
int ts_checks_read(ts_checks *c);

/* Gradient of the explained objective F (see docs/methods.md) w.r.t. x, summed
 * over independent samples: grad[i] = dF(x[i], label[i]) / dx[i].
 * labels: int64 tensor [N] on the module's device. `fvals` (optional, may be
 * NULL) receives F per sample [N]. Fails with TS_ESHAPE when the output is
 * not N×classes or the label count is not N; checks NULL: also with
 * TS_ENOTFINITE on NaN/Inf gradients and TS_ESHAPE when a label is out of
 * range (three syncs), else those two go into checks (no sync). */
int ts_objective_grad(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective, ts_tensor **grad,
                      ts_tensor **fvals, ts_checks *checks);

/* F per sample (as ts_objective_grad's fvals) from logits already computed
 * (N×classes), or from a forward of x without autograd: new handle [N].
 * The label range as ts_objective_grad's (checks NULL: now). */
int ts_objective_of_logits(const ts_tensor *logits, const ts_tensor *labels, int objective, ts_tensor **fvals,
                           ts_checks *checks);
int ts_objective_values(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective, ts_tensor **fvals,
                        ts_checks *checks);

/* ---- GradCAM: features(x) and classifier(a) (ts_grad.cpp) -------------- */
/* *has = 1 when the scripted module has a method `name` (e.g. "features"). */
int ts_module_has_method(ts_module *m, const char *name, int *has);
/* a = m.features(x) (N×K×h×w, the last conv maps) and the gradient of the
 * explained objective, computed as m.classifier(a), w.r.t. a. Both are new
 * handles (acts may be NULL when only the gradient is wanted). Same label
 * and finiteness checks as ts_objective_grad. */
int ts_feature_grad(ts_module *m, const ts_tensor *x, const ts_tensor *labels, int objective, ts_tensor **acts,
                    ts_tensor **grad);
/* Bilinear resize of an N×C×h×w tensor to N×C×oh×ow (align_corners false,
 * as Captum's LayerAttribution.interpolate). */
int ts_interpolate_bilinear(const ts_tensor *a, int64_t oh, int64_t ow, ts_tensor **out);

/* ---- training (ts_train.cpp) -------------------------------------------- */
int ts_sgd_new(ts_module *m, double lr, double momentum, double weight_decay, ts_sgd **out);
void ts_sgd_free(ts_sgd *opt); /* NULL ok */
int ts_sgd_set_lr(ts_sgd *opt, double lr);
/* One step of cross-entropy SGD in train mode. loss_sum: sum of per-sample
 * losses; correct: number of argmax hits (both over the batch). */
int ts_train_step(ts_module *m, ts_sgd *opt, const ts_tensor *x, const ts_tensor *labels, double *loss_sum,
                  int64_t *correct);
/* Data-parallel training, one step = on every rank ts_train_grads over its
 * part of the global batch (scale = 1 / global batch size, so the summed
 * gradients are those of the mean loss), a sum of the flat gradients across
 * ranks, ts_grads_set, ts_sgd_step. Parameters are flattened in
 * module.parameters() order; an unused parameter contributes zeros.
 * ts_train_grads with a NULL x (a rank with no images this step) only zeroes
 * the gradients. loss_sum: Σ per-sample loss; correct: argmax hits. */
int ts_train_grads(ts_module *m, const ts_tensor *x, const ts_tensor *labels, double scale, double *loss_sum,
                   int64_t *correct);
int ts_grads_numel(ts_module *m, int64_t *n);
int ts_grads_get(ts_module *m, float *dst, int64_t n);
int ts_grads_set(ts_module *m, const float *src, int64_t n);
/* The same gradients as one contiguous fp32 tensor on the module's device
 * (new handle), and back: for collectives that work on device memory
 * (NCCL). ts_data_ptr: the address of a contiguous tensor's first element,
 * valid while the handle lives. */
int ts_grads_flat(ts_module *m, ts_tensor **out);
int ts_grads_set_flat(ts_module *m, const ts_tensor *flat);
int ts_data_ptr(ts_tensor *t, void **ptr);
int ts_sgd_step(ts_sgd *opt);

#ifdef __cplusplus
}
#endif
#endif
