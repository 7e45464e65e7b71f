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
    double *grid = NULL, *weight = NULL;
    if (m->kind != JOB_M_EG && m->alpha_rule != JOB_ALPHA_ENDPOINTS) { /* the rule's grid, the same every path */
        grid = malloc((size_t)K * sizeof *grid);
        weight = malloc((size_t)K * sizeof *weight);
        if (!grid || !weight || wk_alpha_grid(m->alpha_rule, K, grid, weight)) {
            snprintf(err, errlen, "alpha_rule %s with steps %ld: %s", job_alpha_rule_name(m->alpha_rule), K,
                     grid && weight ? "needs steps >= 2" : "out of host memory");
            free(grid);
            free(weight);
            return -1;
        }
    }
    for (long i = 0; i < bt->b; i++) {
        float *a = alpha + i * R * K;
        if (m->kind == JOB_M_EG) {
            if (wk_draw(seed_for(ctx->seed, bt->ids[i], SEED_ALPHA), R * K, 0, a, err, errlen)) return -1;
            continue;
        }
        for (long j = 0; j < R; j++)
            for (long k = 0; k < K; k++)
                a[j * K + k] = grid ? (float)grid[k] : K == 1 ? 1.0f : (float)k / (float)(K - 1);
    }
    free(grid);
    free(weight);
    return 0;
}

/* One group of images of a batch; `first` is its offset in the batch (explicit
 * per-image references are indexed by batch position). out[e]: new handles. */
static int path_group(const struct wk_method_ctx *ctx, const struct job_method *mm, const struct wk_batch *bt,
                      long first, ts_checks *checks, ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const struct job_method m = *mm;
    const long R = m.refs, K = m.steps, d = (long)bt->c * bt->h * bt->w;
    int rc = -1;
    ts_tensor *refs_owner = NULL, *refs_t = NULL;
    float *refs = NULL;
    float *alpha = malloc((size_t)(bt->b * R * K) * sizeof *alpha);
    if (!alpha) {
        snprintf(err, errlen, "out of host memory for %ld steps per image (lower batch_size)", R * K);
        goto out;
    }
    if (!ctx->references && m.kind == JOB_M_IG_UNIFORM) {
        if (wk_refs_uniform(ctx, bt, R, &refs_t, err, errlen)) goto out;
    } else if (!ctx->references && (m.kind == JOB_M_IG_SG || m.kind == JOB_M_IG_SQ)) {
        if (wk_refs_gaussian(ctx, &m, bt, R, &refs_t, err, errlen)) goto out;
    } else { /* host references, uploaded whole (page-locked on CUDA) */
        refs = wk_xfer_alloc(ctx->device, (size_t)(bt->b * R * d) * sizeof *refs, malloc, &refs_owner);
        if (!refs) {
            snprintf(err, errlen, "out of host memory for %ld references per image (lower batch_size)", R);
            goto out;
        }
        if (ctx->references) {
            for (long i = 0; i < bt->b; i++)
                memcpy(refs + i * R * d, ctx->references + (ctx->references_per_image ? (first + i) * R * d : 0),
                       (size_t)(R * d) * sizeof *refs);
        } else if (m.kind == JOB_M_IG) {
            if (wk_refs_baseline(ctx, &m, bt, refs, err, errlen)) goto out;
        } else if (m.kind == JOB_M_EG) {
            if (wk_refs_dataset(ctx, bt, R, refs, err, errlen)) goto out;
        }
        int64_t s4[4] = {bt->b * R, bt->c, bt->h, bt->w};
        if (ts_from_f32(refs, s4, 4, ctx->device, &refs_t) != TS_OK) {
            snprintf(err, errlen, "uploading references: %s", ts_last_error());
            goto out;
        }
    }
    if (make_alpha(ctx, &m, bt, alpha, err, errlen)) goto out;
    rc = wk_path_attribute(ctx, &m, bt, refs_t, alpha, m.kind == JOB_M_IG_SQ, checks, out, err, errlen);
out:
    ts_tensor_free(refs_t);
    wk_xfer_free(refs, refs_owner);
    free(alpha);
    return rc;
}

/* The references of a batch take B·R·D floats on the device, and as much
 * again for x − r: with R = 50 at 224×224 that is GBs. Groups of about 2
 * chunks' worth of paths keep them near the chunk's own input size,
 * whatever R·K is (issue #4: memory follows the budget, not R·K); per-image
 * results do not depend on the grouping (seeds and sums are per image). The
 * groups' maps are joined on the device. */
static int path_method(const struct wk_method_ctx *ctx, const struct job_method *m0, const struct wk_batch *bt,
                       ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen) {
    struct job_method m = *m0;
    if (m.kind == JOB_M_IG) m.refs = 1; /* one fixed baseline */
    if (ctx->references) m.refs = (int)ctx->references_r;
    const long d = (long)bt->c * bt->h * bt->w;
    long group = 2 * (ctx->chunk_samples > 0 ? ctx->chunk_samples : 1) / (m.refs > 0 ? m.refs : 1);
    if (group < 1) group = 1;
    const long n_groups = (bt->b + group - 1) / group;
    ts_tensor **parts = calloc((size_t)(n_groups * JOB_EST_COUNT), sizeof *parts);
    /* every pass's label and finiteness checks stay on the device, read
     * once for the batch below (one sync instead of three a chunk) */
    ts_checks *checks = NULL;
    int rc = -1;
    if (!parts || ts_checks_new(&checks) != TS_OK) {
        snprintf(err, errlen, "out of host memory for %ld groups", n_groups);
        free(parts);
        return -1;
    }
    for (long gi = 0; gi < n_groups; gi++) {
        const long i0 = gi * group, n = bt->b - i0 < group ? bt->b - i0 : group;
        ts_tensor *xs = NULL, *ys = NULL, *ls = NULL;
        if (ts_narrow(bt->x, 0, i0, n, &xs) != TS_OK || (bt->y && ts_narrow(bt->y, 0, i0, n, &ys) != TS_OK) ||
            (bt->logits && ts_narrow(bt->logits, 0, i0, n, &ls) != TS_OK)) {
            snprintf(err, errlen, "%s", ts_last_error());
            ts_tensor_free(xs);
            ts_tensor_free(ys);
            goto out;
        }
        struct wk_batch sb = {
            xs, bt->xh ? bt->xh + i0 * d : NULL, bt->labels + i0, ys, bt->ids + i0, n, bt->c, bt->h, bt->w, ls};
        int grc = path_group(ctx, &m, &sb, i0, checks, parts + gi * JOB_EST_COUNT, err, errlen);
        ts_tensor_free(xs);
        ts_tensor_free(ys);
        ts_tensor_free(ls);
        if (grc) goto out;
    }
    if (ts_checks_read(checks) != TS_OK) { /* the message of the pass that found it */
        snprintf(err, errlen, "%s", ts_last_error());
        goto out;
    }
    for (int e = 0; e < JOB_EST_COUNT; e++) {
        if (!parts[e]) continue;
        if (n_groups == 1) {
            out[e] = parts[e];
            parts[e] = NULL;
            continue;
        }
        ts_tensor **col = malloc((size_t)n_groups * sizeof *col);
        if (!col) {
            snprintf(err, errlen, "out of host memory for %ld groups", n_groups);
            goto out;
        }
        for (long gi = 0; gi < n_groups; gi++) col[gi] = parts[gi * JOB_EST_COUNT + e];
        int crc = ts_cat((const ts_tensor *const *)col, (int)n_groups, 0, &out[e]);
        free(col);
        if (crc != TS_OK) {
            snprintf(err, errlen, "%s", ts_last_error());
            goto out;
        }
    }
    rc = 0;
out:
    for (long k = 0; k < n_groups * JOB_EST_COUNT; k++) ts_tensor_free(parts[k]);
    free(parts);
    ts_checks_free(checks);
    if (rc)
        for (int e = 0; e < JOB_EST_COUNT; e++) {
            ts_tensor_free(out[e]);
            out[e] = NULL;
        }
    return rc;
}

int wk_method_on_device(const struct job_method *m) {
    switch (m->kind) {
    case JOB_M_RANDOM:
    case JOB_M_IG:
    case JOB_M_IG_UNIFORM:
    case JOB_M_IG_SG:
    case JOB_M_IG_SQ:
    case JOB_M_EG:
        return 1;
    default:
        return 0;
    }
}

int wk_method_reads_host_x(const struct job_method *m) {
    if (!wk_method_on_device(m)) return 1;
    if (m->kind == JOB_M_IG) return m->baseline == JOB_BASE_BLUR; /* the blur of x, made on the host */
    return (m->kind == JOB_M_IG_SG || m->kind == JOB_M_IG_SQ) && m->sigma <= 0;
}

/* The estimators a method fills: its own, or vanilla for methods without. */
static unsigned method_outputs(const struct job_method *m) {
    switch (m->kind) {
    case JOB_M_IG:
    case JOB_M_IG_UNIFORM:
    case JOB_M_IG_SG:
    case JOB_M_IG_SQ:
    case JOB_M_EG:
    case JOB_M_AGI:
    case JOB_M_GUIDED_IG:
    case JOB_M_BLUR_IG:
        return m->estimators;
    default:
        return 1u << JOB_EST_VANILLA;
    }
}

/* The methods computed on the host, into host buffers out[e]. */
static int host_method(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                       float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    switch (m->kind) {
    case JOB_M_INPUT_GRAD:
        return wk_input_grad(ctx, m, bt, 0, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_INPUT_X_GRAD:
        return wk_input_grad(ctx, m, bt, 1, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_SMOOTHGRAD:
        return wk_smoothgrad(ctx, m, bt, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_GRADCAM:
        return wk_gradcam(ctx, m, bt, out[JOB_EST_VANILLA], err, errlen);
    case JOB_M_LIME:
    case JOB_M_KERNEL_SHAP:
        return wk_surrogate(ctx, m, bt, out[JOB_EST_VANILLA], ctx->segments_out, err, errlen);
    case JOB_M_AGI:
        return wk_agi(ctx, m, bt, out, err, errlen);
    case JOB_M_GUIDED_IG:
        return wk_guided_ig(ctx, m, bt, out, err, errlen);
    case JOB_M_BLUR_IG:
        return wk_blur_ig(ctx, m, bt, out, err, errlen);
    case JOB_M_PRECOMPUTED:
        return wk_precomputed(ctx, m, bt, out[JOB_EST_VANILLA], err, errlen);
    default:
        snprintf(err, errlen, "method '%s' is not implemented in this build", job_method_name(m->kind));
        return -1;
    }
}

static int device_method(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                         ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen) {
    if (m->kind == JOB_M_RANDOM) return wk_random_attr(ctx, bt, &out[JOB_EST_VANILLA], err, errlen);
    return path_method(ctx, m, bt, out, err, errlen);
}

int wk_method_run_dev_keep(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                           ts_tensor *out[JOB_EST_COUNT], float *const keep[JOB_EST_COUNT], int *kept, char *err,
                           size_t errlen) {
    for (int e = 0; e < JOB_EST_COUNT; e++) out[e] = NULL;
    if (kept) *kept = 0;
    if (wk_method_on_device(m)) return device_method(ctx, m, bt, out, err, errlen);
    const unsigned want = method_outputs(m);
    const long n = bt->b * (long)bt->c * bt->h * bt->w;
    float *host[JOB_EST_COUNT] = {0}, *own[JOB_EST_COUNT] = {0};
    int rc = -1;
    /* into the caller's host buffers where given: the maps are then on the
     * host already and need not come back down when they are saved */
    for (int e = 0; e < JOB_EST_COUNT; e++)
        if ((want >> e) & 1 && !(host[e] = keep && keep[e] ? keep[e] : (own[e] = malloc((size_t)n * sizeof(float))))) {
            snprintf(err, errlen, "out of host memory for a batch of maps (lower batch_size)");
            goto out;
        }
    if (host_method(ctx, m, bt, host, err, errlen)) goto out;
    int64_t s2[2] = {bt->b, (long)bt->c * bt->h * bt->w};
    for (int e = 0; e < JOB_EST_COUNT; e++)
        if (host[e] && ts_from_f32(host[e], s2, 2, ctx->device, &out[e]) != TS_OK) {
            snprintf(err, errlen, "uploading maps: %s", ts_last_error());
            goto out;
        }
    if (kept) *kept = keep != NULL;
    rc = 0;
out:
    for (int e = 0; e < JOB_EST_COUNT; e++) {
        free(own[e]);
        if (rc) {
            ts_tensor_free(out[e]);
            out[e] = NULL;
        }
    }
    return rc;
}

int wk_method_run_dev(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                      ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen) {
    return wk_method_run_dev_keep(ctx, m, bt, out, NULL, NULL, err, errlen);
}

int wk_method_run(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    if (!wk_method_on_device(m)) return host_method(ctx, m, bt, out, err, errlen);
    ts_tensor *t[JOB_EST_COUNT] = {0};
    if (device_method(ctx, m, bt, t, err, errlen)) return -1;
    const size_t n = (size_t)(bt->b * (long)bt->c * bt->h * bt->w);
    int rc = 0;
    for (int e = 0; e < JOB_EST_COUNT; e++) {
        if (t[e] && out[e] && rc == 0 && ts_to_f32(t[e], out[e], n) != TS_OK) {
            snprintf(err, errlen, "copying maps to the host: %s", ts_last_error());
            rc = -1;
        }
        ts_tensor_free(t[e]);
    }
    return rc;
}
