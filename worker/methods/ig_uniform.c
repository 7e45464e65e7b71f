/* worker/methods/ig_uniform.c — IG-Uniform with the three estimators of
 * METHODS.md computed from ONE set of R·K gradients.
 *
 * All R·K interpolation points of all B images are walked in chunks of whole
 * paths (K points each) so that one forward+backward serves many images, and
 * memory is bounded by the chunk, not by R·K. Per chunk the estimator terms
 * are folded into per-image device accumulators with index_add_, so nothing
 * of size R·K outlives its chunk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "seed.h"
#include "wk_pool.h"

/* References on the host: explicit ones from the user, or U[0,1]^{C×H×W}
 * drawn from the image's own generator and normalized like the data. */
static int make_references(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, float *out,
                           char *err, size_t errlen) {
    const long hw = (long)bt->h * bt->w, d = (long)bt->c * hw;
    for (long i = 0; i < bt->b; i++) {
        float *dst = out + i * r * d;
        if (ctx->references) {
            const float *src = ctx->references + (ctx->references_per_image ? i * r * d : 0);
            memcpy(dst, src, (size_t)(r * d) * sizeof *dst);
            continue;
        }
        int64_t shape[1] = {r * d};
        ts_tensor *u = NULL;
        if (ts_rand_seeded(seed_for(ctx->seed, bt->ids[i], SEED_REFERENCES), shape, 1, TS_DEV_CPU, &u) != TS_OK ||
            ts_to_f32(u, dst, (size_t)(r * d)) != TS_OK) {
            snprintf(err, errlen, "drawing references: %s", ts_last_error());
            ts_tensor_free(u);
            return -1;
        }
        ts_tensor_free(u);
        for (long j = 0; j < r; j++)
            for (int ch = 0; ch < bt->c; ch++) {
                float *p = dst + j * d + ch * hw;
                for (long k = 0; k < hw; k++) p[k] = p[k] * ctx->norm_scale[ch] + ctx->norm_shift[ch];
            }
    }
    return 0;
}

int wk_ig_uniform(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const long B = bt->b, R = m->refs, K = m->steps, D = (long)bt->c * bt->h * bt->w;
    const long paths = B * R;
    const int want_van = (m->estimators >> JOB_EST_VANILLA) & 1;
    const int want_vr = (m->estimators >> JOB_EST_VALID_REF) & 1;
    const int want_ip = (m->estimators >> JOB_EST_VALID_IP) & 1;
    struct wk_pool keep = {0}, chunk = {0};
    int rc = -1;
    float *hrefs = malloc((size_t)(paths * D) * sizeof *hrefs);
    int64_t *hidx = malloc((size_t)paths * sizeof *hidx);
    int64_t *hlab = malloc((size_t)(paths * K) * sizeof *hlab);
    float *halpha = malloc((size_t)K * sizeof *halpha), *hcoef = malloc((size_t)K * sizeof *hcoef);
    if (!hrefs || !hidx || !hlab || !halpha || !hcoef) {
        snprintf(err, errlen, "out of host memory for %ld reference paths (lower batch_size)", paths);
        goto fail;
    }
    if (make_references(ctx, bt, R, hrefs, err, errlen)) goto fail;
    for (long p = 0; p < paths; p++) {
        hidx[p] = p / R;
        for (long k = 0; k < K; k++) hlab[p * K + k] = bt->labels[p / R];
    }
    /* linspace(0, 1, K); K = 1 means the single point α = 1 (METHODS.md). */
    for (long k = 0; k < K; k++) {
        halpha[k] = K == 1 ? 1.0f : (float)k / (float)(K - 1);
        hcoef[k] = (1.0f - halpha[k]) / (float)K; /* x − z_{j,k} = (1 − α_k)(x − r_j), and the 1/K */
    }

    ts_tensor *refs, *x3, *refs3, *d3all, *d2, *alpha, *coef, *idx, *lab;
    int64_t s_pd[2] = {paths, D}, s_b1d[3] = {B, 1, D}, s_brd[3] = {B, R, D}, s_1k1[3] = {1, K, 1};
    int64_t s_paths[1] = {paths}, s_pk[1] = {paths * K}, s_bd[2] = {B, D};
    WK_T(&keep, ts_from_f32(hrefs, s_pd, 2, ctx->device, &refs), refs);
    WK_T(&keep, ts_reshape(bt->x, s_b1d, 3, &x3), x3);
    WK_T(&keep, ts_reshape(refs, s_brd, 3, &refs3), refs3);
    WK_T(&keep, ts_sub(x3, refs3, &d3all), d3all);
    WK_T(&keep, ts_reshape(d3all, s_pd, 2, &d2), d2);
    WK_T(&keep, ts_from_f32(halpha, s_1k1, 3, ctx->device, &alpha), alpha);
    WK_T(&keep, ts_from_f32(hcoef, s_1k1, 3, ctx->device, &coef), coef);
    WK_T(&keep, ts_from_i64(hidx, s_paths, 1, ctx->device, &idx), idx);
    WK_T(&keep, ts_from_i64(hlab, s_pk, 1, ctx->device, &lab), lab);
    free(hrefs);
    hrefs = NULL;

    ts_tensor *acc_van = NULL, *acc_vr = NULL, *cnt_vr = NULL, *acc_ip = NULL, *cnt_ip = NULL;
    if (want_van) WK_T(&keep, ts_zeros(s_bd, 2, ctx->device, &acc_van), acc_van);
    if (want_vr) {
        WK_T(&keep, ts_zeros(s_bd, 2, ctx->device, &acc_vr), acc_vr);
        WK_T(&keep, ts_zeros(s_bd, 2, ctx->device, &cnt_vr), cnt_vr);
    }
    if (want_ip) {
        WK_T(&keep, ts_zeros(s_bd, 2, ctx->device, &acc_ip), acc_ip);
        WK_T(&keep, ts_zeros(s_bd, 2, ctx->device, &cnt_ip), cnt_ip);
    }

    long per_chunk = ctx->chunk_samples / K;
    if (per_chunk < 1) per_chunk = 1;
    for (long p0 = 0; p0 < paths; p0 += per_chunk) {
        long pc = paths - p0 < per_chunk ? paths - p0 : per_chunk;
        ts_tensor *rc_, *dc, *r3, *dc3, *ad, *z, *z4, *labc, *g, *g3, *idxc;
        int64_t s_p1d[3] = {pc, 1, D}, s_z4[4] = {pc * K, bt->c, bt->h, bt->w}, s_pkd[3] = {pc, K, D};
        WK_T(&chunk, ts_narrow(refs, 0, p0, pc, &rc_), rc_);
        WK_T(&chunk, ts_narrow(d2, 0, p0, pc, &dc), dc);
        WK_T(&chunk, ts_reshape(rc_, s_p1d, 3, &r3), r3);
        WK_T(&chunk, ts_reshape(dc, s_p1d, 3, &dc3), dc3);
        WK_T(&chunk, ts_mul(alpha, dc3, &ad), ad);      /* [pc,K,D] */
        WK_T(&chunk, ts_add(r3, ad, &z), z);            /* z_{j,k} = r_j + α_k (x − r_j) */
        WK_T(&chunk, ts_reshape(z, s_z4, 4, &z4), z4);
        WK_T(&chunk, ts_narrow(lab, 0, p0 * K, pc * K, &labc), labc);
        WK_T(&chunk, ts_objective_grad(ctx->model, z4, labc, (int)m->objective, &g, NULL), g);
        WK_T(&chunk, ts_reshape(g, s_pkd, 3, &g3), g3);
        WK_T(&chunk, ts_narrow(idx, 0, p0, pc, &idxc), idxc);
        if (want_van || want_vr) {
            ts_tensor *gbar, *mm;
            WK_T(&chunk, ts_mean_dim(g3, 1, 0, &gbar), gbar); /* ḡ_j */
            WK_T(&chunk, ts_mul(dc, gbar, &mm), mm);           /* m_j = (x − r_j) ⊙ ḡ_j */
            if (want_van) WK_CHECK(ts_index_add_(acc_van, 0, idxc, mm));
            if (want_vr) {
                ts_tensor *kp, *km;
                WK_T(&chunk, ts_ge_scalar(mm, 0.0, &kp), kp);
                WK_T(&chunk, ts_mul(kp, mm, &km), km);
                WK_CHECK(ts_index_add_(acc_vr, 0, idxc, km));
                WK_CHECK(ts_index_add_(cnt_vr, 0, idxc, kp));
            }
        }
        if (want_ip) {
            ts_tensor *gc, *mip, *kp, *km, *ks, *kc;
            WK_T(&chunk, ts_mul(g3, coef, &gc), gc);
            WK_T(&chunk, ts_mul(gc, dc3, &mip), mip);  /* m_{j,k} = (x − z_{j,k}) ⊙ g(z_{j,k}) / K */
            WK_T(&chunk, ts_ge_scalar(mip, 0.0, &kp), kp);
            WK_T(&chunk, ts_mul(kp, mip, &km), km);
            WK_T(&chunk, ts_sum_dim(km, 1, 0, &ks), ks);
            WK_T(&chunk, ts_sum_dim(kp, 1, 0, &kc), kc);
            WK_CHECK(ts_index_add_(acc_ip, 0, idxc, ks));
            WK_CHECK(ts_index_add_(cnt_ip, 0, idxc, kc));
        }
        wk_pool_free(&chunk);
    }

    /* Finish: vanilla = mean over references; re-calibrated = kept sum over
     * max(1, kept count), elementwise. */
    size_t n = (size_t)(B * D);
    if (want_van) {
        ts_tensor *a;
        WK_T(&chunk, ts_mul_scalar(acc_van, 1.0 / (double)R, &a), a);
        WK_CHECK(ts_to_f32(a, out[JOB_EST_VANILLA], n));
    }
    if (want_vr) {
        ts_tensor *den, *a;
        WK_T(&chunk, ts_clamp_min(cnt_vr, 1.0, &den), den);
        WK_T(&chunk, ts_div(acc_vr, den, &a), a);
        WK_CHECK(ts_to_f32(a, out[JOB_EST_VALID_REF], n));
    }
    if (want_ip) {
        ts_tensor *den, *a;
        WK_T(&chunk, ts_clamp_min(cnt_ip, 1.0, &den), den);
        WK_T(&chunk, ts_div(acc_ip, den, &a), a);
        WK_CHECK(ts_to_f32(a, out[JOB_EST_VALID_IP], n));
    }
    rc = 0;
fail:
    wk_pool_free(&chunk);
    wk_pool_free(&keep);
    free(hrefs);
    free(hidx);
    free(hlab);
    free(halpha);
    free(hcoef);
    return rc;
}
