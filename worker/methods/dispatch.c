/* worker/methods/dispatch.c — one entry point for every implemented method:
 * picks the reference sampler and α schedule of a path method, or the
 * gradient method, per docs/methods.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "seed.h"
#include "xfer_buf.h"

/* α per point, path-major (B·R·K): linspace(0, 1, K) (K = 1 → α = 1), or
 * for Expected Gradients one U(0,1) draw per point from the image's seed. */
static int make_alpha(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                      float *alpha, char *err, size_t errlen) {
    const long R = m->refs, K = m->steps;
    for (long i = 0; i < bt->b; i++) {
        float *a = alpha + i * R * K;
        if (m->kind == JOB_M_EG) {
            if (wk_draw(seed_for(ctx->seed, bt->ids[i], SEED_ALPHA), R * K, 0, a, err, errlen)) return -1;
            continue;
        }
        for (long j = 0; j < R; j++)
            for (long k = 0; k < K; k++) a[j * K + k] = K == 1 ? 1.0f : (float)k / (float)(K - 1);
    }
    return 0;
}

/* One group of images of a batch; `first` is its offset in the batch (explicit
 * per-image references are indexed by batch position). */
static int path_group(const struct wk_method_ctx *ctx, const struct job_method *mm, const struct wk_batch *bt,
                      long first, float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const struct job_method m = *mm;
    const long R = m.refs, K = m.steps, d = (long)bt->c * bt->h * bt->w;
    int rc = -1;
    ts_tensor *refs_owner; /* page-locked on CUDA: the references are uploaded whole */
    float *refs = wk_xfer_alloc(ctx->device, (size_t)(bt->b * R * d) * sizeof *refs, malloc, &refs_owner);
    float *alpha = malloc((size_t)(bt->b * R * K) * sizeof *alpha);
    if (!refs || !alpha) {
        snprintf(err, errlen, "out of host memory for %ld references per image (lower batch_size)", R);
        goto out;
    }
    if (ctx->references) {
        for (long i = 0; i < bt->b; i++)
            memcpy(refs + i * R * d, ctx->references + (ctx->references_per_image ? (first + i) * R * d : 0),
                   (size_t)(R * d) * sizeof *refs);
    } else if (m.kind == JOB_M_IG) {
        wk_refs_baseline(ctx, bt, m.baseline, refs);
    } else if (m.kind == JOB_M_IG_UNIFORM) {
        if (wk_refs_uniform(ctx, bt, R, refs, err, errlen)) goto out;
    } else if (m.kind == JOB_M_IG_SG || m.kind == JOB_M_IG_SQ) {
        if (wk_refs_gaussian(ctx, &m, bt, R, refs, err, errlen)) goto out;
    } else if (m.kind == JOB_M_EG) {
        if (wk_refs_dataset(ctx, bt, R, refs, err, errlen)) goto out;
    }
    if (make_alpha(ctx, &m, bt, alpha, err, errlen)) goto out;
    rc = wk_path_attribute(ctx, &m, bt, refs, alpha, m.kind == JOB_M_IG_SQ, out, err, errlen);
out:
    wk_xfer_free(refs, refs_owner);
    free(alpha);
    return rc;
}

/* The references of a batch take B·R·D floats on the host and twice that on
 * the device (refs and x − r): with R = 50 at 224×224 that is GBs. Groups of
 * about 2 chunks' worth of paths keep them near the chunk's own input size,
 * whatever R·K is (issue #4: memory follows the budget, not R·K); per-image
 * results do not depend on the grouping (seeds and sums are per image). */
static int path_method(const struct wk_method_ctx *ctx, const struct job_method *m0, const struct wk_batch *bt,
                       float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    struct job_method m = *m0;
    if (m.kind == JOB_M_IG) m.refs = 1; /* one fixed baseline */
    if (ctx->references) m.refs = (int)ctx->references_r;
    const long d = (long)bt->c * bt->h * bt->w;
    long group = 2 * (ctx->chunk_samples > 0 ? ctx->chunk_samples : 1) / (m.refs > 0 ? m.refs : 1);
    if (group < 1) group = 1;
    for (long i0 = 0; i0 < bt->b; i0 += group) {
        const long n = bt->b - i0 < group ? bt->b - i0 : group;
        ts_tensor *xs = NULL;
        if (ts_narrow(bt->x, 0, i0, n, &xs) != TS_OK) {
            snprintf(err, errlen, "%s", ts_last_error());
            return -1;
        }
        struct wk_batch sb = {xs, bt->xh + i0 * d, bt->labels + i0, bt->ids + i0, n, bt->c, bt->h, bt->w};
        float *so[JOB_EST_COUNT];
        for (int e = 0; e < JOB_EST_COUNT; e++) so[e] = out[e] ? out[e] + i0 * d : NULL;
        int rc = path_group(ctx, &m, &sb, i0, so, err, errlen);
        ts_tensor_free(xs);
        if (rc) return rc;
    }
    return 0;
}

int wk_method_run(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    switch (m->kind) {
    case JOB_M_RANDOM:
        return wk_random_attr(ctx, bt, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_INPUT_GRAD:
        return wk_input_grad(ctx, m, bt, 0, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_INPUT_X_GRAD:
        return wk_input_grad(ctx, m, bt, 1, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_SMOOTHGRAD:
        return wk_smoothgrad(ctx, m, bt, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_IG:
    case JOB_M_IG_UNIFORM:
    case JOB_M_IG_SG:
    case JOB_M_IG_SQ:
    case JOB_M_EG:
        return path_method(ctx, m, bt, out, err, errlen);
    case JOB_M_GRADCAM:
        return wk_gradcam(ctx, m, bt, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_LIME:
    case JOB_M_KERNEL_SHAP:
        return wk_surrogate(ctx, m, bt, out[JOB_EST_VANILLA], ctx->segments_out, err, errlen);
    case JOB_M_AGI:
        return wk_agi(ctx, m, bt, out, err, errlen);
    default:
        snprintf(err, errlen, "method '%s' is not implemented in this build", job_method_name(m->kind));
        return -1;
    }
}
