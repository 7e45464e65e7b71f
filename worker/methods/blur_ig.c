/* worker/methods/blur_ig.c — Blur Integrated Gradients (Xu et al., CVPR
 * 2020) as PAIR's `saliency` package computes it (blur_ig.py,
 * docs/methods.md): the path runs from the image blurred with σ =
 * max_sigma to the image itself; step i (0 ≤ i < steps) takes the gradient
 * at z_i = blur(x, σ_i) and the move −Δσ_i · ∂blur/∂σ, the derivative a
 * finite difference of `grad_step`. The blur is scipy.ndimage's
 * gaussian_filter over the two image axes (blur.c: zero padding, truncated
 * at 4σ, on the model's input). In float64 on the host; the model sees
 * float32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"

int wk_blur_ig(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
               float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const long B = bt->b, hw = (long)bt->h * bt->w, d = bt->c * hw, S = m->steps;
    const int idgi = out[JOB_EST_IDGI] != NULL;
    const long per = ctx->chunk_samples < 1 ? 1 : ctx->chunk_samples < S + 1 ? ctx->chunk_samples : S + 1;
    const double h = m->grad_step;
    const long rmax = wk_blur_radius(m->max_sigma + h);
    int rc = -1;
    struct wk_step_acc acc = {0};
    double *x = malloc((size_t)d * sizeof *x), *z = malloc((size_t)d * sizeof *z), *zh = malloc((size_t)d * sizeof *zh);
    double *tmp = malloc((size_t)d * sizeof *tmp), *kern = malloc((size_t)(2 * rmax + 1) * sizeof *kern);
    double *sig = malloc((size_t)(S + 1) * sizeof *sig), *mv = malloc((size_t)(per * d) * sizeof *mv);
    float *pts = malloc((size_t)(per * d) * sizeof *pts), *g = malloc((size_t)(per * d) * sizeof *g);
    float *f = malloc((size_t)per * sizeof *f);
    int64_t *lab = malloc((size_t)per * sizeof *lab);
    double *pend_mv = malloc((size_t)d * sizeof *pend_mv);
    float *pend_g = malloc((size_t)d * sizeof *pend_g);
    if (!x || !z || !zh || !tmp || !kern || !sig || !mv || !pts || !g || !f || !lab || !pend_mv || !pend_g) {
        snprintf(err, errlen, "out of host memory for Blur IG steps (lower memory_budget_mb)");
        goto out;
    }
    unsigned est = 0;
    for (int e = 0; e < JOB_EST_COUNT; e++) est |= out[e] ? 1u << e : 0;
    if (wk_step_acc_init(&acc, B, d, est, err, errlen)) goto out;
    for (long i = 0; i <= S; i++) /* PAIR's schedule: linear in σ, or in σ² (sqrt) */
        sig[i] = m->sqrt_sigmas ? sqrt((double)i * m->max_sigma / (double)S) : (double)i * m->max_sigma / (double)S;
    for (long i = 0; i < B; i++) {
        for (long k = 0; k < d; k++) x[k] = bt->xh[i * d + k];
        float f_pend = 0;
        int pending = 0;
        /* points 0 … S−1 (and S, the last blur, for IDGI's last change of
         * F), per points a chunk; step s is added once F at s + 1 is known */
        const long n_pts = idgi ? S + 1 : S;
        for (long s0 = 0; s0 < n_pts; s0 += per) {
            const long n = n_pts - s0 < per ? n_pts - s0 : per;
            for (long j = 0; j < n; j++) {
                const long s = s0 + j;
                wk_blur(x, bt->c, bt->h, bt->w, sig[s], z, tmp, kern);
                for (long k = 0; k < d; k++) pts[j * d + k] = (float)z[k];
                lab[j] = bt->labels[i];
                if (s == S) continue; /* no move from the last blur */
                wk_blur(x, bt->c, bt->h, bt->w, sig[s] + h, zh, tmp, kern);
                const double dsig = sig[s + 1] - sig[s];
                /* the path runs towards the image: the move is −Δσ ∂blur/∂σ */
                for (long k = 0; k < d; k++) mv[j * d + k] = -dsig * ((zh[k] - z[k]) / h);
            }
            if (wk_grads_host(ctx, (int)m->objective, pts, lab, n, bt->c, bt->h, bt->w, g, idgi ? f : NULL, err,
                              errlen))
                goto out;
            for (long j = 0; j < n; j++) {
                const long s = s0 + j;
                if (!idgi) { /* nothing to wait for */
                    wk_step_acc_add(&acc, i, g + j * d, mv + j * d, 0);
                    continue;
                }
                /* step s − 1 moved from z_s to z_{s−1}: F changed by F(z_{s−1}) − F(z_s) */
                if (pending) wk_step_acc_add(&acc, i, pend_g, pend_mv, (double)f_pend - f[j]);
                pending = 0;
                if (s == S) break;
                memcpy(pend_g, g + j * d, (size_t)d * sizeof *pend_g);
                memcpy(pend_mv, mv + j * d, (size_t)d * sizeof *pend_mv);
                f_pend = f[j];
                pending = 1;
            }
        }
    }
    wk_step_acc_out(&acc, out);
    rc = 0;
out:
    wk_step_acc_free(&acc);
    free(x);
    free(z);
    free(zh);
    free(tmp);
    free(kern);
    free(sig);
    free(mv);
    free(pts);
    free(g);
    free(f);
    free(lab);
    free(pend_mv);
    free(pend_g);
    return rc;
}
