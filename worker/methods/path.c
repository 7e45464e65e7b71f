/* worker/methods/path.c — the path engine shared by IG, IG-Uniform, IG-SG,
 * IG-SQ and EG: the three estimators of METHODS.md from ONE set of R·K
 * gradients.
 *
 * All R·K points of all B images are walked in chunks of whole paths (K
 * points each) so that one forward+backward serves many images and memory is
 * bounded by the chunk, not by R·K; a path longer than a chunk goes through
 * in pieces, its gradient sum carried from one to the next. Every point
 * carries its own reference row and α (gathered with index_select), which
 * lets the reference implementation's pairing (`reference_compat`) be
 * expressed by a different index table instead of different code. Per chunk
 * the estimator terms are folded into per-image device accumulators with
 * index_add_. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "wk_pool.h"

/* Point q = (i·R + j)·K + k of image i, path j, step k. Normally its
 * reference is r_{i,j} and its α is α_{i,j,k}. With reference_compat the
 * reference code's flat order l = j·K + k within an image is read as
 * (reference l mod R, step l div R): the gradient averaged into slot j comes
 * from points of other references (METHODS.md, "Known defect"). */
static void point_tables(long B, long R, long K, int compat, int64_t *pref, int64_t *pimg, int64_t *palpha) {
    for (long i = 0; i < B; i++)
        for (long j = 0; j < R; j++)
            for (long k = 0; k < K; k++) {
                long q = (i * R + j) * K + k, jj = j, kk = k;
                if (compat) {
                    long l = j * K + k;
                    jj = l % R;
                    kk = l / R;
                }
                pref[q] = i * R + jj;
                pimg[q] = i;
                palpha[q] = (i * R + jj) * K + kk;
            }
}

int wk_path_attribute(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                      const float *refs_h, const float *alpha_h, int squared, float *out[JOB_EST_COUNT], char *err,
                      size_t errlen) {
    const long B = bt->b, R = m->refs, K = m->steps, D = (long)bt->c * bt->h * bt->w;
    const long paths = B * R, points = paths * K;
    const int want_van = (m->estimators >> JOB_EST_VANILLA) & 1;
    const int want_vr = (m->estimators >> JOB_EST_VALID_REF) & 1;
    const int want_ip = (m->estimators >> JOB_EST_VALID_IP) & 1;
    struct wk_pool keep = {0}, path = {0}, chunk = {0};
    int rc = -1;
    int64_t *pref = malloc((size_t)points * sizeof *pref), *pimg = malloc((size_t)points * sizeof *pimg);
    int64_t *palpha = malloc((size_t)points * sizeof *palpha), *plab = malloc((size_t)points * sizeof *plab);
    int64_t *pathimg = malloc((size_t)paths * sizeof *pathimg);
    float *alpha = malloc((size_t)points * sizeof *alpha), *coef = malloc((size_t)points * sizeof *coef);
    if (!pref || !pimg || !palpha || !plab || !pathimg || !alpha || !coef) {
        snprintf(err, errlen, "out of host memory for %ld path points (lower batch_size)", points);
        goto fail;
    }
    point_tables(B, R, K, m->reference_compat, pref, pimg, palpha);
    for (long q = 0; q < points; q++) {
        alpha[q] = alpha_h[palpha[q]];
        coef[q] = (1.0f - alpha[q]) / (float)K; /* x − z = (1 − α)(x − r), and the 1/K of valid_ip */
        plab[q] = bt->labels[pimg[q]];
    }
    for (long p = 0; p < paths; p++) pathimg[p] = p / R;

    ts_tensor *refs, *x2, *x3, *refs3, *dpath3, *dpath, *t_pref, *t_pimg, *t_alpha, *t_coef, *t_lab, *t_pathimg;
    int64_t s_pd[2] = {paths, D}, s_bd[2] = {B, D}, s_b1d[3] = {B, 1, D}, s_brd[3] = {B, R, D};
    int64_t s_q1[2] = {points, 1}, s_q[1] = {points}, s_p[1] = {paths};
    WK_T(&keep, ts_from_f32(refs_h, s_pd, 2, ctx->device, &refs), refs);
    WK_T(&keep, ts_reshape(bt->x, s_bd, 2, &x2), x2);
    WK_T(&keep, ts_reshape(bt->x, s_b1d, 3, &x3), x3);
    WK_T(&keep, ts_reshape(refs, s_brd, 3, &refs3), refs3);
    WK_T(&keep, ts_sub(x3, refs3, &dpath3), dpath3);
    WK_T(&keep, ts_reshape(dpath3, s_pd, 2, &dpath), dpath); /* x − r_j per path */
    WK_T(&keep, ts_from_i64(pref, s_q, 1, ctx->device, &t_pref), t_pref);
    WK_T(&keep, ts_from_i64(pimg, s_q, 1, ctx->device, &t_pimg), t_pimg);
    WK_T(&keep, ts_from_f32(alpha, s_q1, 2, ctx->device, &t_alpha), t_alpha);
    WK_T(&keep, ts_from_f32(coef, s_q1, 2, ctx->device, &t_coef), t_coef);
    WK_T(&keep, ts_from_i64(plab, s_q, 1, ctx->device, &t_lab), t_lab);
    WK_T(&keep, ts_from_i64(pathimg, s_p, 1, ctx->device, &t_pathimg), t_pathimg);
    ts_tensor *t_zero; /* [0] (path 0's image): the row a split path's carried gradient sum adds into */
    WK_T(&keep, ts_narrow(t_pathimg, 0, 0, 1, &t_zero), t_zero);

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

    /* A chunk holds whole paths, per_chunk of them, as long as K points fit
     * in it; otherwise (split) one path goes through in pieces of about
     * chunk_samples points, its gradient sum carried between them, so that
     * memory follows the budget whatever K. A piece never holds a single
     * point: on the CPU a one-sample forward+backward gave some points other
     * gradients than the same points in larger chunks (up to 6 % of a
     * vanilla map on the demo CNN; ties at max-pooling or ReLU resolved by
     * another kernel, most likely), while pieces of 2 or more agree. */
    const int split = K > ctx->chunk_samples;
    long per_chunk = split ? 1 : ctx->chunk_samples / K, sub = split ? ctx->chunk_samples : K;
    if (per_chunk < 1) per_chunk = 1;
    if (split && sub < 2) sub = 2;
    for (long p0 = 0; p0 < paths; p0 += per_chunk) {
        const long pc = paths - p0 < per_chunk ? paths - p0 : per_chunk;
        ts_tensor *idx, *gsum = NULL, *gbar = NULL;
        WK_T(&path, ts_narrow(t_pathimg, 0, p0, pc, &idx), idx);
        for (long k0 = 0, kc; k0 < K; k0 += kc) {
            kc = K - k0 < sub ? K - k0 : sub;
            if (K - k0 - kc == 1) kc++; /* no one-point piece last */
            const long q0 = p0 * K + k0, qc = pc * kc;
            ts_tensor *ir, *ii, *r, *xs, *dp, *al, *ad, *z, *z4, *lab, *g;
            int64_t s_z4[4] = {qc, bt->c, bt->h, bt->w}, s_qd[2] = {qc, D}, s_pkd[3] = {pc, kc, D};
            WK_T(&chunk, ts_narrow(t_pref, 0, q0, qc, &ir), ir);
            WK_T(&chunk, ts_narrow(t_pimg, 0, q0, qc, &ii), ii);
            WK_T(&chunk, ts_index_select(refs, 0, ir, &r), r);  /* reference of each point */
            WK_T(&chunk, ts_index_select(x2, 0, ii, &xs), xs);   /* its image */
            WK_T(&chunk, ts_sub(xs, r, &dp), dp);                /* x − r per point */
            WK_T(&chunk, ts_narrow(t_alpha, 0, q0, qc, &al), al);
            WK_T(&chunk, ts_mul(al, dp, &ad), ad);
            WK_T(&chunk, ts_add(r, ad, &z), z);                  /* z = r + α (x − r) */
            WK_T(&chunk, ts_reshape(z, s_z4, 4, &z4), z4);
            WK_T(&chunk, ts_narrow(t_lab, 0, q0, qc, &lab), lab);
            WK_T(&chunk, ts_objective_grad(ctx->model, z4, lab, (int)m->objective, &g, NULL), g);
            if (want_van || want_vr) {
                ts_tensor *g3, *gs;
                WK_T(&chunk, ts_reshape(g, s_pkd, 3, &g3), g3);
                if (!split) {
                    WK_T(&path, ts_mean_dim(g3, 1, 0, &gbar), gbar); /* ḡ_j */
                } else {
                    WK_T(&chunk, ts_sum_dim(g3, 1, 0, &gs), gs);
                    if (gsum) WK_CHECK(ts_index_add_(gsum, 0, t_zero, gs));
                    else WK_T(&path, ts_sum_dim(g3, 1, 0, &gsum), gsum);
                }
            }
            if (want_ip) {
                ts_tensor *g2, *co, *gc, *mip, *kp, *km, *km3, *kp3, *ks, *kcnt;
                WK_T(&chunk, ts_reshape(g, s_qd, 2, &g2), g2);
                WK_T(&chunk, ts_narrow(t_coef, 0, q0, qc, &co), co);
                WK_T(&chunk, ts_mul(g2, co, &gc), gc);
                WK_T(&chunk, ts_mul(gc, dp, &mip), mip); /* m_{j,k} = (x − z_{j,k}) ⊙ g(z_{j,k}) / K */
                WK_T(&chunk, ts_ge_scalar(mip, 0.0, &kp), kp);
                WK_T(&chunk, ts_mul(kp, mip, &km), km);
                if (squared) WK_T(&chunk, ts_mul(km, mip, &km), km);
                WK_T(&chunk, ts_reshape(km, s_pkd, 3, &km3), km3);
                WK_T(&chunk, ts_reshape(kp, s_pkd, 3, &kp3), kp3);
                WK_T(&chunk, ts_sum_dim(km3, 1, 0, &ks), ks);
                WK_T(&chunk, ts_sum_dim(kp3, 1, 0, &kcnt), kcnt);
                WK_CHECK(ts_index_add_(acc_ip, 0, idx, ks));
                WK_CHECK(ts_index_add_(cnt_ip, 0, idx, kcnt));
            }
            wk_pool_free(&chunk);
        }
        if (want_van || want_vr) {
            ts_tensor *dc, *mm;
            if (split) WK_T(&path, ts_mul_scalar(gsum, 1.0 / (double)K, &gbar), gbar); /* ḡ_j */
            WK_T(&path, ts_narrow(dpath, 0, p0, pc, &dc), dc);
            WK_T(&path, ts_mul(dc, gbar, &mm), mm);          /* m_j = (x − r_j) ⊙ ḡ_j */
            if (want_van) {
                ts_tensor *v = mm;
                if (squared) WK_T(&path, ts_mul(mm, gbar, &v), v); /* (x − r_j) ⊙ ḡ_j² */
                WK_CHECK(ts_index_add_(acc_van, 0, idx, v));
            }
            if (want_vr) {
                ts_tensor *kp, *km;
                WK_T(&path, ts_ge_scalar(mm, 0.0, &kp), kp);
                WK_T(&path, ts_mul(kp, mm, &km), km);
                if (squared) WK_T(&path, ts_mul(km, mm, &km), km);
                WK_CHECK(ts_index_add_(acc_vr, 0, idx, km));
                WK_CHECK(ts_index_add_(cnt_vr, 0, idx, kp));
            }
        }
        wk_pool_free(&path);
    }

    /* vanilla = mean over references; re-calibrated = kept sum over
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
    wk_pool_free(&path);
    wk_pool_free(&keep);
    free(pref);
    free(pimg);
    free(palpha);
    free(plab);
    free(pathimg);
    free(alpha);
    free(coef);
    return rc;
}
