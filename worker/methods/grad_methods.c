/* worker/methods/grad_methods.c — gradient-only methods: InputGrad,
 * Input×Gradient and SmoothGrad (docs/methods.md). InputGrad batches images up
 * to the chunk size; SmoothGrad sends one image's noisy samples per call
 * (its noise is drawn per image, from the image's own generator). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "seed.h"
#include "wk_pool.h"

/* Gradient of the objective at `n` host points (n·D floats) whose explained
 * classes are labels[point / per_image]; writes n·D host gradients. */
static int grads_at(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                    const float *pts, long n, const int64_t *lab, float *g_out, char *err, size_t errlen) {
    struct wk_pool pool = {0};
    int rc = -1;
    const long d = (long)bt->c * bt->h * bt->w;
    ts_tensor *z, *l, *g;
    int64_t s_z[4] = {n, bt->c, bt->h, bt->w}, s_l[1] = {n};
    WK_T(&pool, ts_from_f32(pts, s_z, 4, ctx->device, &z), z);
    WK_T(&pool, ts_from_i64(lab, s_l, 1, ctx->device, &l), l);
    WK_T(&pool, ts_objective_grad(ctx->model, z, l, (int)m->objective, &g, NULL, NULL), g);
    WK_CHECK(ts_to_f32(g, g_out, (size_t)(n * d)));
    rc = 0;
fail:
    wk_pool_free(&pool);
    return rc;
}

int wk_input_grad(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  int times_input, float *out, char *err, size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    long per = ctx->chunk_samples < 1 ? 1 : ctx->chunk_samples;
    for (long i0 = 0; i0 < bt->b; i0 += per) {
        long n = bt->b - i0 < per ? bt->b - i0 : per;
        if (grads_at(ctx, m, bt, bt->xh + i0 * d, n, bt->labels + i0, out + i0 * d, err, errlen)) return -1;
    }
    if (times_input)
        for (long k = 0; k < bt->b * d; k++) out[k] *= bt->xh[k];
    return 0;
}

int wk_smoothgrad(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                  char *err, size_t errlen) {
    const long hw = (long)bt->h * bt->w, d = bt->c * hw, N = m->samples;
    long per = ctx->chunk_samples < N ? ctx->chunk_samples : N;
    if (per < 1) per = 1;
    int rc = -1;
    float *noise = malloc((size_t)(N * d) * sizeof *noise), *pts = malloc((size_t)(per * d) * sizeof *pts);
    float *g = malloc((size_t)(per * d) * sizeof *g);
    int64_t *lab = malloc((size_t)per * sizeof *lab);
    if (!noise || !pts || !g || !lab) {
        snprintf(err, errlen, "out of host memory for SmoothGrad samples");
        goto out;
    }
    memset(out, 0, (size_t)(bt->b * d) * sizeof *out);
    for (long i = 0; i < bt->b; i++) {
        if (wk_draw(seed_for(ctx->seed, bt->ids[i], SEED_NOISE), N * d, 1, noise, err, errlen)) goto out;
        /* ε ~ N(0, σ²) in pixel units is ε / std_c in model space. */
        const float sigma = wk_noise_sigma(ctx, m, bt, i);
        const float *x = bt->xh + i * d;
        for (long s0 = 0; s0 < N; s0 += per) {
            if (wk_method_stop(ctx, err, errlen)) goto out;
            long n = N - s0 < per ? N - s0 : per;
            for (long s = 0; s < n; s++) {
                lab[s] = bt->labels[i];
                for (int ch = 0; ch < bt->c; ch++)
                    for (long k = 0; k < hw; k++)
                        pts[s * d + ch * hw + k] =
                            x[ch * hw + k] + sigma * noise[(s0 + s) * d + ch * hw + k] / ctx->std[ch];
            }
            if (grads_at(ctx, m, bt, pts, n, lab, g, err, errlen)) goto out;
            for (long s = 0; s < n; s++)
                for (long k = 0; k < d; k++) out[i * d + k] += g[s * d + k];
        }
        for (long k = 0; k < d; k++) out[i * d + k] /= (float)N;
    }
    rc = 0;
out:
    free(noise);
    free(pts);
    free(g);
    free(lab);
    return rc;
}
