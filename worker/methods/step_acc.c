/* worker/methods/step_acc.c — the estimators of a method that walks one
 * path of steps of its own making (Guided IG, Blur IG; docs/methods.md):
 * each step brings a gradient g at its start, the move Δ it makes, and the
 * change of F over it. vanilla sums g ⊙ Δ; valid_ip keeps the step terms
 * that are ≥ 0 and divides by their count, elementwise (as AGI's valid_ip);
 * IDGI gives feature i the share g_i² / Σ_j g_j² of the change of F. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "wk_pool.h"

int wk_step_acc_init(struct wk_step_acc *a, long b, long d, unsigned estimators, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    a->b = b;
    a->d = d;
    const size_t n = (size_t)(b * d);
    a->van = calloc(n, sizeof *a->van);
    if ((estimators >> JOB_EST_VALID_IP) & 1) {
        a->ip = calloc(n, sizeof *a->ip);
        a->ip_n = calloc(n, sizeof *a->ip_n);
    }
    if ((estimators >> JOB_EST_IDGI) & 1) a->idgi = calloc(n, sizeof *a->idgi);
    if (!a->van || (((estimators >> JOB_EST_VALID_IP) & 1) && (!a->ip || !a->ip_n)) ||
        (((estimators >> JOB_EST_IDGI) & 1) && !a->idgi)) {
        wk_step_acc_free(a);
        snprintf(err, errlen, "out of host memory for %ld maps (lower batch_size)", b);
        return -1;
    }
    return 0;
}

void wk_step_acc_add(struct wk_step_acc *a, long i, const float *g, const double *delta, double df) {
    double *van = a->van + i * a->d, sq = 0;
    for (long k = 0; k < a->d; k++) {
        const double t = (double)g[k] * delta[k];
        van[k] += t;
        if (a->ip && t >= 0) {
            a->ip[i * a->d + k] += t;
            a->ip_n[i * a->d + k] += 1;
        }
        sq += (double)g[k] * g[k];
    }
    /* a step whose gradient is 0 everywhere has no feature to give its
     * change of F to: dropped, as IG's IDGI does */
    if (a->idgi && sq > 0)
        for (long k = 0; k < a->d; k++) a->idgi[i * a->d + k] += (double)g[k] * g[k] / sq * df;
}

void wk_step_acc_out(const struct wk_step_acc *a, float *out[JOB_EST_COUNT]) {
    for (long k = 0; k < a->b * a->d; k++) {
        if (out[JOB_EST_VANILLA]) out[JOB_EST_VANILLA][k] = (float)a->van[k];
        if (out[JOB_EST_VALID_IP] && a->ip)
            out[JOB_EST_VALID_IP][k] = (float)(a->ip[k] / (a->ip_n[k] > 1 ? a->ip_n[k] : 1));
        if (out[JOB_EST_IDGI] && a->idgi) out[JOB_EST_IDGI][k] = (float)a->idgi[k];
    }
}

void wk_step_acc_free(struct wk_step_acc *a) {
    free(a->van);
    free(a->ip);
    free(a->ip_n);
    free(a->idgi);
    memset(a, 0, sizeof *a);
}

int wk_grads_host(const struct wk_method_ctx *ctx, int objective, const float *pts, const int64_t *lab, long n, int c,
                  int h, int w, float *g_out, float *f_out, char *err, size_t errlen) {
    const long d = (long)c * h * w;
    const long per = ctx->chunk_samples < 1 ? 1 : ctx->chunk_samples;
    for (long i0 = 0; i0 < n; i0 += per) {
        const long k = n - i0 < per ? n - i0 : per;
        if (wk_method_stop(ctx, err, errlen)) return -1;
        struct wk_pool pool = {0};
        ts_tensor *z, *l, *g, *f = NULL;
        int64_t s4[4] = {k, c, h, w}, s1[1] = {k};
        WK_T(&pool, ts_from_f32(pts + i0 * d, s4, 4, ctx->device, &z), z);
        WK_T(&pool, ts_from_i64(lab + i0, s1, 1, ctx->device, &l), l);
        WK_CHECK(ts_objective_grad(ctx->model, z, l, objective, &g, f_out ? &f : NULL, NULL));
        wk_pool_add(&pool, g); /* both handed out together: owned before any check */
        if (f) wk_pool_add(&pool, f);
        WK_CHECK(ts_to_f32(g, g_out + i0 * d, (size_t)(k * d)));
        if (f) WK_CHECK(ts_to_f32(f, f_out + i0, (size_t)k));
        wk_pool_free(&pool);
        continue;
    fail:
        wk_pool_free(&pool);
        return -1;
    }
    return 0;
}
