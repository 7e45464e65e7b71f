/* worker/methods/refs.c — reference samplers of the path methods
 * (docs/methods.md table). All draws come from the counter-based stream of
 * (run seed, image id, purpose) (util/seed.h), drawn on the device, so an
 * image's references depend neither on its batch nor on where it runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_consts.h"
#include "methods.h"
#include "seed.h"
#include "wk_pool.h"

/* The statistics IG-SG / IG-SQ un- and re-normalize with to reach pixel
 * space: the model's; with reference_compat on 3-channel images ImageNet's,
 * whatever the dataset, as the reference code does (its main.py passes these
 * two methods no dataset name, so CIFAR images are unnormalized with
 * ImageNet's mean and std there). */
static const float IMAGENET_MEAN[3] = {0.485f, 0.456f, 0.406f}, IMAGENET_STD[3] = {0.229f, 0.224f, 0.225f};

static void sampler_stats(const struct wk_method_ctx *ctx, const struct job_method *m, int c, const float **mean,
                          const float **std) {
    int imagenet = m && m->reference_compat && c == 3 && (m->kind == JOB_M_IG_SG || m->kind == JOB_M_IG_SQ);
    *mean = imagenet ? IMAGENET_MEAN : ctx->mean;
    *std = imagenet ? IMAGENET_STD : ctx->std;
}

int wk_draw(uint64_t seed, long n, int gaussian, float *dst, char *err, size_t errlen) {
    (void)err, (void)errlen; /* nothing to fail: plain integer and libm arithmetic */
    for (long k = 0; k < n; k++)
        dst[k] = gaussian ? seed_ctr_normal(seed, (uint64_t)k) : seed_ctr_u01(seed, (uint64_t)k);
    return 0;
}

/* The images' keys for one purpose: what crosses to the device for a draw. */
static uint64_t *draw_keys(const struct wk_method_ctx *ctx, const struct wk_batch *bt, uint32_t purpose, char *err,
                           size_t errlen) {
    uint64_t *keys = malloc((size_t)bt->b * sizeof *keys);
    if (!keys) {
        snprintf(err, errlen, "out of host memory for %ld seeds", bt->b);
        return NULL;
    }
    for (long i = 0; i < bt->b; i++) keys[i] = seed_for(ctx->seed, bt->ids[i], purpose);
    return keys;
}

int wk_draw_dev(const struct wk_method_ctx *ctx, const struct wk_batch *bt, uint32_t purpose, long n_each, int gaussian,
                ts_tensor **out, char *err, size_t errlen) {
    uint64_t *keys = draw_keys(ctx, bt, purpose, err, errlen);
    if (!keys) return -1;
    int rc = ts_ctr_rand(keys, bt->b, n_each, gaussian, ctx->device, out);
    free(keys);
    if (rc != TS_OK) {
        snprintf(err, errlen, "drawing random numbers: %s", ts_last_error());
        return -1;
    }
    return 0;
}

/* (B·r)×C×H×W normalized references from u (B×r·D, pixel space, dropped). */
static int normalize_refs(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, const float *mean,
                          const float *std, ts_tensor *u, ts_tensor **out, char *err, size_t errlen) {
    int64_t s4[4] = {bt->b * r, bt->c, bt->h, bt->w};
    ts_tensor *u4 = NULL;
    int rc = ts_reshape(u, s4, 4, &u4);
    if (rc == TS_OK) rc = wk_normalize_channels(ctx->consts, u4, mean, std, bt->c, out);
    ts_tensor_free(u4);
    ts_tensor_free(u);
    if (rc != TS_OK) {
        snprintf(err, errlen, "preparing references: %s", ts_last_error());
        return -1;
    }
    return 0;
}

int wk_refs_uniform(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, ts_tensor **out, char *err,
                    size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    ts_tensor *u;
    if (wk_draw_dev(ctx, bt, SEED_REFERENCES, r * d, 0, &u, err, errlen)) return -1;
    return normalize_refs(ctx, bt, r, ctx->mean, ctx->std, u, out, err, errlen); /* normalize(U[0,1]^{C×H×W}) */
}

float wk_noise_sigma(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, long i) {
    if (m->sigma > 0) return (float)m->sigma;
    /* The reference takes the range over the whole batch; per image keeps an
     * image's result independent of its batch (docs/methods.md). */
    const long hw = (long)bt->h * bt->w, d = bt->c * hw;
    const float *mean, *std;
    sampler_stats(ctx, m, bt->c, &mean, &std);
    float lo = INFINITY, hi = -INFINITY;
    for (int ch = 0; ch < bt->c; ch++)
        for (long k = 0; k < hw; k++) {
            float p = bt->xh[i * d + ch * hw + k] * std[ch] + mean[ch];
            if (p < lo) lo = p;
            if (p > hi) hi = p;
        }
    return (float)m->noise * (hi - lo);
}

int wk_refs_gaussian(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, long r,
                     ts_tensor **out, char *err, size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    const float *mean, *std;
    sampler_stats(ctx, m, bt->c, &mean, &std);
    struct wk_pool pool = {0};
    float *sigma = malloc((size_t)bt->b * sizeof *sigma);
    if (!sigma) {
        snprintf(err, errlen, "out of host memory for %ld noise levels", bt->b);
        return -1;
    }
    for (long i = 0; i < bt->b; i++) sigma[i] = wk_noise_sigma(ctx, m, bt, i);
    ts_tensor *e, *px, *px3, *e3, *st, *se, *v, *vc;
    int64_t s_b11[3] = {bt->b, 1, 1}, s_b1d[3] = {bt->b, 1, d}, s_brd[3] = {bt->b, r, d};
    if (wk_draw_dev(ctx, bt, SEED_NOISE, r * d, 1, &e, err, errlen)) goto fail;
    wk_pool_add(&pool, e);
    /* clamp(x̃ + N(0, σ²), 0, 1) in pixel space, x̃ = x·std + mean */
    float shift[3];
    for (int ch = 0; ch < bt->c && ch < 3; ch++) shift[ch] = mean[ch];
    WK_T(&pool, wk_affine_channels(ctx->consts, bt->x, std, shift, bt->c, &px), px);
    WK_T(&pool, ts_reshape(px, s_b1d, 3, &px3), px3);
    WK_T(&pool, ts_reshape(e, s_brd, 3, &e3), e3);
    WK_T(&pool, ts_from_f32(sigma, s_b11, 3, ctx->device, &st), st);
    WK_T(&pool, ts_mul(e3, st, &se), se);
    WK_T(&pool, ts_add(px3, se, &v), v);
    WK_CHECK(ts_clamp(v, 0.0, 1.0, &vc));
    wk_pool_free(&pool);
    free(sigma);
    return normalize_refs(ctx, bt, r, mean, std, vc, out, err, errlen);
fail:
    wk_pool_free(&pool);
    free(sigma);
    return -1;
}

int wk_refs_dataset(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, float *out, char *err,
                    size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    const struct ds_dataset *ds = ctx->ref_ds;
    if (!ds || ds->n < 1) {
        snprintf(err, errlen, "Expected Gradients needs reference images (the dataset's train split, or --references)");
        return -1;
    }
    if (ds->c != bt->c || ds->h != bt->h || ds->w != bt->w) {
        snprintf(err, errlen, "Expected Gradients: reference images are %dx%dx%d, inputs %dx%dx%d", ds->c, ds->h, ds->w,
                 bt->c, bt->h, bt->w);
        return -1;
    }
    for (long i = 0; i < bt->b; i++) {
        uint64_t s = seed_for(ctx->seed, bt->ids[i], SEED_EG_INDEX);
        for (long j = 0; j < r; j++) {
            s = seed_mix(s);
            long id = (long)(s % (uint64_t)ds->n);
            if (ds_get(ds, id, 1, out + (i * r + j) * d, NULL, err, errlen)) return -1;
        }
    }
    return 0;
}
