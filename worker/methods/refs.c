/* worker/methods/refs.c — reference samplers of the path methods
 * (docs/methods.md table). All draws come from a generator seeded by (run seed,
 * image id, purpose) so an image's references never depend on its batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "seed.h"

/* u (pixel space) → normalized model space with (mean, std), per channel,
 * in place. */
static void normalize_with(const float *mean, const float *std, int c, long hw, long n_images, float *v) {
    for (long j = 0; j < n_images; j++)
        for (int ch = 0; ch < c; ch++) {
            float *p = v + (j * c + ch) * hw;
            for (long k = 0; k < hw; k++) p[k] = (p[k] - mean[ch]) / std[ch];
        }
}

static void normalize(const struct wk_method_ctx *ctx, int c, long hw, long n_images, float *v) {
    normalize_with(ctx->mean, ctx->std, c, hw, n_images, v);
}

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
    int64_t shape[1] = {n};
    ts_tensor *u = NULL;
    int rc =
        gaussian ? ts_randn_seeded(seed, shape, 1, TS_DEV_CPU, &u) : ts_rand_seeded(seed, shape, 1, TS_DEV_CPU, &u);
    if (rc != TS_OK || ts_to_f32(u, dst, (size_t)n) != TS_OK) {
        snprintf(err, errlen, "drawing random numbers: %s", ts_last_error());
        ts_tensor_free(u);
        return -1;
    }
    ts_tensor_free(u);
    return 0;
}

/* Every image's r·d draws at once, image i from its own seeded generator. */
static int draw_batch(const struct wk_method_ctx *ctx, const struct wk_batch *bt, enum seed_purpose purpose,
                      long n_each, int gaussian, float *out, char *err, size_t errlen) {
    uint64_t *seeds = malloc((size_t)bt->b * sizeof *seeds);
    if (!seeds) {
        snprintf(err, errlen, "out of host memory for %ld seeds", bt->b);
        return -1;
    }
    for (long i = 0; i < bt->b; i++) seeds[i] = seed_for(ctx->seed, bt->ids[i], purpose);
    int rc = ts_fill_seeded(seeds, bt->b, n_each, gaussian, out);
    free(seeds);
    if (rc != TS_OK) {
        snprintf(err, errlen, "drawing random numbers: %s", ts_last_error());
        return -1;
    }
    return 0;
}

/* Per-image arithmetic on the draws, spread over libtorch's CPU threads
 * like the draws themselves (large images: ~10^8 floats per batch). */
struct post_job {
    const struct wk_method_ctx *ctx;
    const struct job_method *m;
    const struct wk_batch *bt;
    float *out;
    long r;
};

static void uniform_range(void *p, int64_t lo, int64_t hi) {
    const struct post_job *j = p;
    const long hw = (long)j->bt->h * j->bt->w, d = j->bt->c * hw;
    for (int64_t i = lo; i < hi; i++) normalize(j->ctx, j->bt->c, hw, j->r, j->out + i * j->r * d);
}

static void gaussian_range(void *p, int64_t lo, int64_t hi) {
    const struct post_job *j = p;
    const struct wk_batch *bt = j->bt;
    const struct wk_method_ctx *ctx = j->ctx;
    const long hw = (long)bt->h * bt->w, d = bt->c * hw;
    const float *mean, *std;
    sampler_stats(ctx, j->m, bt->c, &mean, &std);
    for (int64_t i = lo; i < hi; i++) {
        float *o = j->out + i * j->r * d;
        const float sigma = wk_noise_sigma(ctx, j->m, bt, i);
        for (long r = 0; r < j->r; r++)
            for (int ch = 0; ch < bt->c; ch++)
                for (long k = 0; k < hw; k++) {
                    float px = bt->xh[i * d + ch * hw + k] * std[ch] + mean[ch];
                    float v = px + sigma * o[r * d + ch * hw + k];
                    v = v < 0 ? 0 : v > 1 ? 1 : v; /* clamp(x̃ + N(0, σ²), 0, 1) */
                    o[r * d + ch * hw + k] = v;
                }
        normalize_with(mean, std, bt->c, hw, j->r, o);
    }
}

static int run_post(struct post_job *pj, void (*fn)(void *, int64_t, int64_t), char *err, size_t errlen) {
    if (ts_parallel_for(pj->bt->b, fn, pj) != TS_OK) {
        snprintf(err, errlen, "preparing references: %s", ts_last_error());
        return -1;
    }
    return 0;
}

int wk_refs_uniform(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, float *out, char *err,
                    size_t errlen) {
    const long hw = (long)bt->h * bt->w, d = bt->c * hw;
    if (draw_batch(ctx, bt, SEED_REFERENCES, r * d, 0, out, err, errlen)) return -1;
    struct post_job pj = {ctx, NULL, bt, out, r};
    return run_post(&pj, uniform_range, err, errlen); /* normalize(U[0,1]^{C×H×W}) */
}

void wk_refs_baseline(const struct wk_method_ctx *ctx, const struct wk_batch *bt, enum job_baseline base, float *out) {
    const long hw = (long)bt->h * bt->w, d = bt->c * hw;
    for (long i = 0; i < bt->b; i++)
        for (int ch = 0; ch < bt->c; ch++) {
            /* zero: 0 in model space; black: normalize(0) */
            float v = base == JOB_BASE_BLACK ? -ctx->mean[ch] / ctx->std[ch] : 0.0f;
            for (long k = 0; k < hw; k++) out[i * d + ch * hw + k] = v;
        }
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
                     float *out, char *err, size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    if (draw_batch(ctx, bt, SEED_NOISE, r * d, 1, out, err, errlen)) return -1;
    struct post_job pj = {ctx, m, bt, out, r};
    return run_post(&pj, gaussian_range, err, errlen);
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
