/* worker/methods/baseline.c — the fixed baseline ig and guided_ig integrate
 * from (docs/methods.md, "Baselines"), on the host, in the model's
 * normalized space: a constant (dataset_mean, black), the image blurred
 * (blur.c, Blur IG's kernel), uniform noise from the image's own seeded
 * stream (so a run's baselines depend neither on batch, shard nor rank), or
 * a user's file, mapped so that one baseline per image of a whole split
 * need not fit in memory. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "metric_batch.h"
#include "seed.h"

/* "N x C x H x W" of the array, for messages. */
static void shape_text(const struct npy_array *a, char *out, size_t len) {
    out[0] = '\0';
    for (int k = 0, at = 0; k < a->ndim && at < (int)len; k++)
        at += snprintf(out + at, len - (size_t)at, "%s%lld", k ? " x " : "", (long long)a->shape[k]);
    if (!a->ndim) snprintf(out, len, "()");
}

int wk_base_file_open(const char *path, long n, int c, int h, int w, struct wk_base_file *out, char *err,
                      size_t errlen) {
    memset(out, 0, sizeof *out);
    out->path = path;
    if (npy_map(path, &out->a, err, errlen)) return -1;
    const struct npy_array *a = &out->a;
    const int nd = a->ndim, off = nd == 4 ? 1 : 0;
    const int chw = (nd == 3 || nd == 4) && a->shape[off] == c && a->shape[off + 1] == h && a->shape[off + 2] == w;
    const int ok_type = a->dtype == NPY_F16 || a->dtype == NPY_F32 || a->dtype == NPY_F64;
    out->per_image = nd == 4 && a->shape[0] != 1;
    if (chw && ok_type && (!out->per_image || a->shape[0] >= n)) return 0;
    char shape[160];
    shape_text(a, shape, sizeof shape);
    if (!ok_type)
        snprintf(err, errlen,
                 "%s: a baseline of dtype %s: save it as float32 (a.astype(np.float32); float16 and float64 are read "
                 "too), %d x %d x %d for all images or N x %d x %d x %d, in the model's normalized input space",
                 path, npy_dtype_name(a->dtype), c, h, w, c, h, w);
    else if (chw)
        snprintf(err, errlen,
                 "%s: a baseline of shape %s has %lld rows for %ld images: one per image needs a row for each image "
                 "id (N >= %ld), or save one baseline of %d x %d x %d for all",
                 path, shape, (long long)a->shape[0], n, n, c, h, w);
    else
        snprintf(err, errlen,
                 "%s: a baseline of shape %s does not fit images of %d x %d x %d: save %d x %d x %d (one for all "
                 "images) or N x %d x %d x %d (row i = image id i, N >= %ld), float32, in the model's normalized "
                 "input space",
                 path, shape, c, h, w, c, h, w, c, h, w, n);
    npy_free(&out->a);
    return -1;
}

/* Image id's row of m's file into dst (d floats), checked finite. */
static int file_row(const struct wk_method_ctx *ctx, const struct job_method *m, long long id, long d, float *dst,
                    char *err, size_t errlen) {
    const struct wk_base_file *f = NULL;
    for (int k = 0; k < ctx->n_base_files && !f; k++)
        if (!strcmp(ctx->base_files[k].path, m->baseline_path)) f = &ctx->base_files[k];
    if (!f) {
        snprintf(err, errlen, "%s: baseline file not opened (internal)", m->baseline_path);
        return -1;
    }
    const long long row = f->per_image ? wk_copy_origin(id) : 0;
    if (row < 0 || (f->per_image && row >= f->a.shape[0])) {
        snprintf(err, errlen, "%s: no baseline row for image id %lld (the file has %lld)", f->path, row,
                 (long long)f->a.shape[0]);
        return -1;
    }
    npy_range_f32(&f->a, (size_t)row * (size_t)d, (size_t)d, dst);
    for (long k = 0; k < d; k++)
        if (!isfinite(dst[k])) {
            snprintf(err, errlen,
                     "%s: the baseline of image id %lld has NaN or Inf at element %ld of its %ld (fix "
                     "the file)",
                     f->path, row, k, d);
            return -1;
        }
    return 0;
}

/* Image i of the batch blurred by m->blur_sigma (model space, float64). */
static int blurred(const struct wk_batch *bt, long i, double sigma, float *dst, char *err, size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    double *x = malloc((size_t)(3 * d) * sizeof *x),
           *kern = malloc((size_t)(2 * wk_blur_radius(sigma) + 1) * sizeof *kern);
    if (!x || !kern || !bt->xh) {
        snprintf(err, errlen,
                 !bt->xh ? "blur baseline without the images on the host (internal)"
                         : "out of host memory for a blurred baseline");
        free(x);
        free(kern);
        return -1;
    }
    for (long k = 0; k < d; k++) x[k] = bt->xh[i * d + k];
    wk_blur(x, bt->c, bt->h, bt->w, sigma, x + d, x + 2 * d, kern);
    for (long k = 0; k < d; k++) dst[k] = (float)x[d + k];
    free(x);
    free(kern);
    return 0;
}

int wk_refs_baseline(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                     char *err, size_t errlen) {
    const long hw = (long)bt->h * bt->w, d = bt->c * hw;
    for (long i = 0; i < bt->b; i++) {
        float *o = out + i * d;
        switch (m->baseline) {
        case JOB_BASE_BLUR:
            if (blurred(bt, i, m->blur_sigma, o, err, errlen)) return -1;
            break;
        case JOB_BASE_FILE:
            if (file_row(ctx, m, (long long)bt->ids[i], d, o, err, errlen)) return -1;
            break;
        case JOB_BASE_UNIFORM: /* normalize(U[0,1]^{C×H×W}), the image's own draw */
            if (wk_draw(seed_for(ctx->seed, wk_copy_origin(bt->ids[i]), SEED_BASELINE), d, 0, o, err, errlen))
                return -1;
            for (int ch = 0; ch < bt->c; ch++)
                for (long k = 0; k < hw; k++) o[ch * hw + k] = (o[ch * hw + k] - ctx->mean[ch]) / ctx->std[ch];
            break;
        default: /* dataset_mean: 0 in model space; black: normalize(0) */
            for (int ch = 0; ch < bt->c; ch++) {
                const float v = m->baseline == JOB_BASE_BLACK ? -ctx->mean[ch] / ctx->std[ch] : 0.0f;
                for (long k = 0; k < hw; k++) o[ch * hw + k] = v;
            }
        }
    }
    return 0;
}
