/* worker/methods/surrogate.c — LIME and KernelSHAP on quickshift
 * superpixels (ICML 2023 settings; docs/methods.md has the choices):
 * S = m->samples perturbations per image switch superpixels off (m->fill:
 * the superpixel's own mean colour, lime_image's default and LIME's here;
 * 0 in model space, Captum's baseline and KernelSHAP's here; or black),
 * the model's objective at each is fitted by a weighted
 * linear model with intercept, and each superpixel's coefficient is painted
 * onto its pixels in every channel.
 * - LIME (Ribeiro et al., lime_image): sample 0 keeps every superpixel,
 *   the others keep each with probability 1/2; weight sqrt(exp(−d²/0.25²)),
 *   d = cosine distance of the on/off vector to all-on; Ridge α = 1 (the
 *   intercept is not penalized).
 * - KernelSHAP (Captum's sampler): samples 0 and 1 are all-on and all-off
 *   (weight 10⁶), the others draw k ~ (M−1)/(k(M−k)) on 1..M−1 and a uniform
 *   k-subset (weight 1); unregularized least squares (minimum norm when
 *   underdetermined).
 * The solve is LAPACK's dgelsd on the √w-scaled, weighted-mean-centered
 * system (ridge as extra rows). */
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "seed.h"
#include "superpixels.h"

#define LIME_KERNEL_WIDTH 0.25
#define LIME_RIDGE_ALPHA 1.0
#define SHAP_EDGE_WEIGHT 1e6

/* F per sample from host logits (n × classes), as docs/methods.md's objectives. */
static double objective_host(const float *z, int classes, int64_t t, enum job_objective obj) {
    double zt = z[t];
    if (obj == JOB_OBJ_LOGIT) return zt;
    double mx = z[0];
    for (int j = 1; j < classes; j++) mx = z[j] > mx ? z[j] : mx;
    if (obj == JOB_OBJ_PROB) {
        double s = 0;
        for (int j = 0; j < classes; j++) s += exp(z[j] - mx);
        return zt - mx - log(s);
    }
    /* contrast: z_t − Σ_{j≠t} softmax_{j≠t}(z)_j z_j */
    double s = 0, sz = 0;
    for (int j = 0; j < classes; j++)
        if (j != t) {
            double e = exp(z[j] - mx);
            s += e;
            sz += e * z[j];
        }
    return zt - (s > 0 ? sz / s : 0);
}

/* On/off masks (S × M bytes) and regression weights for one image. */
static int draw_masks(const struct wk_method_ctx *ctx, const struct job_method *m, int64_t id, long S, int M,
                      unsigned char *z, double *wt, char *err, size_t errlen) {
    const int shap = m->kind == JOB_M_KERNEL_SHAP;
    float *u = malloc((size_t)(S * (M + 1)) * sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of host memory for %ld surrogate samples", S);
        return -1;
    }
    if (wk_draw(seed_for(ctx->seed, (uint64_t)id, shap ? SEED_SHAP_MASKS : SEED_LIME_MASKS), S * (M + 1), 0, u, err,
                errlen)) {
        free(u);
        return -1;
    }
    for (long s = 0; s < S; s++) {
        const float *us = u + s * (M + 1);
        unsigned char *zs = z + s * M;
        if (s == 0 || (shap && s == 1) || (shap && M < 2)) {
            /* all on (and all off for KernelSHAP); with one superpixel there is nothing in between */
            memset(zs, (s == 0 || (M < 2 && us[0] < 0.5f)) ? 1 : 0, (size_t)M);
        } else if (!shap) {
            for (int j = 0; j < M; j++) zs[j] = us[1 + j] < 0.5f;
        } else {
            /* k by inverse CDF of p(k) ∝ (M−1)/(k(M−k)); the k smallest draws switch on */
            double tot = 0, acc = 0;
            for (int k = 1; k < M; k++) tot += 1.0 / ((double)k * (M - k));
            int k = M - 1;
            for (int kk = 1; kk < M; kk++) {
                acc += 1.0 / ((double)kk * (M - kk)) / tot;
                if ((double)us[0] < acc) {
                    k = kk;
                    break;
                }
            }
            for (int j = 0; j < M; j++) {
                int below = 0; /* rank of draw j among the M, ties by index */
                for (int i = 0; i < M; i++) below += us[1 + i] < us[1 + j] || (us[1 + i] == us[1 + j] && i < j);
                zs[j] = below < k;
            }
        }
        int on = 0;
        for (int j = 0; j < M; j++) on += zs[j];
        if (shap) {
            wt[s] = (on == 0 || on == M) ? SHAP_EDGE_WEIGHT : 1.0;
        } else {
            double d = on ? 1.0 - sqrt((double)on / M) : 1.0;
            wt[s] = sqrt(exp(-d * d / (LIME_KERNEL_WIDTH * LIME_KERNEL_WIDTH)));
        }
    }
    free(u);
    return 0;
}

#define SURROGATE_RCOND 1e-10

/* min Σ w_s (b + z_s·β − y_s)² + α|β|² by dgelsd; coef gets β (M). The
 * intercept b is taken out by centering z and y on their weighted means
 * (scikit-learn's way, and so Captum's): the same β as an intercept column
 * when the system is determined or ridge-regularized, and, when there are
 * more superpixels than samples, the minimum-norm β with b left out of the
 * norm, as Captum's KernelShap gives. */
static int fit(long S, int M, const unsigned char *z, const double *wt, const double *y, double alpha, double *coef,
               char *err, size_t errlen) {
    const lapack_int rows = (lapack_int)(S + (alpha > 0 ? M : 0)), cols = M;
    const lapack_int ldb = rows > cols ? rows : cols;
    double *a = calloc((size_t)rows * cols, sizeof *a), *b = calloc((size_t)ldb, sizeof *b);
    double *sv = malloc((size_t)cols * sizeof *sv), *zbar = calloc((size_t)M, sizeof *zbar);
    int rc = -1;
    if (!a || !b || !sv || !zbar) {
        snprintf(err, errlen, "out of host memory for the surrogate fit");
        goto out;
    }
    double wsum = 0, ybar = 0;
    for (long s = 0; s < S; s++) {
        wsum += wt[s];
        ybar += wt[s] * y[s];
        for (int j = 0; j < M; j++) zbar[j] += wt[s] * z[s * M + j];
    }
    ybar /= wsum;
    for (int j = 0; j < M; j++) zbar[j] /= wsum;
    for (long s = 0; s < S; s++) {
        double r = sqrt(wt[s]);
        for (int j = 0; j < M; j++) a[s * cols + j] = r * (z[s * M + j] - zbar[j]);
        b[s] = r * (y[s] - ybar);
    }
    if (alpha > 0)
        for (int j = 0; j < M; j++) a[(S + j) * cols + j] = sqrt(alpha);
    /* Centering puts √w in the left null space: with fewer samples than
     * superpixels one singular value is 0 up to rounding (~1e-14 of the
     * largest); a cut at machine epsilon would keep it and amplify rounding
     * into the minimum-norm β. Genuine ones here are far above 1e-10. */
    lapack_int rank = 0;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, cols, 1, a, cols, b, 1, sv, SURROGATE_RCOND, &rank);
    if (info != 0) {
        snprintf(err, errlen, "LAPACK dgelsd failed (info %d) fitting %d superpixels", (int)info, M);
        goto out;
    }
    for (int j = 0; j < M; j++) coef[j] = b[j];
    rc = 0;
out:
    free(zbar);
    free(a);
    free(b);
    free(sv);
    return rc;
}

/* FILL (d floats, model space) for one image X with superpixels SEG (M of
 * them): what a switched-off superpixel shows. SUM has M·C doubles and CNT
 * M longs of scratch. */
static void fill_image(const struct wk_method_ctx *ctx, enum job_fill how, const float *x, const int32_t *seg, int M,
                       int c, long hw, double *sum, long *cnt, float *fill) {
    if (how == JOB_FILL_SUPERPIXEL_MEAN) {
        memset(sum, 0, (size_t)M * (size_t)c * sizeof *sum);
        memset(cnt, 0, (size_t)M * sizeof *cnt);
        for (long k = 0; k < hw; k++) {
            cnt[seg[k]]++;
            for (int ch = 0; ch < c; ch++) sum[(size_t)seg[k] * c + ch] += x[ch * hw + k];
        }
        /* the mean of normalized values is the normalized mean colour */
        for (int ch = 0; ch < c; ch++)
            for (long k = 0; k < hw; k++) fill[ch * hw + k] = (float)(sum[(size_t)seg[k] * c + ch] / cnt[seg[k]]);
        return;
    }
    for (int ch = 0; ch < c; ch++) {
        float v = how == JOB_FILL_BLACK ? -ctx->mean[ch] / ctx->std[ch] : 0.0f;
        for (long k = 0; k < hw; k++) fill[ch * hw + k] = v;
    }
}

int wk_surrogate(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                 int32_t *segments_out, char *err, size_t errlen) {
    const long hw = (long)bt->h * bt->w, d = bt->c * hw, S = m->samples;
    long per = ctx->chunk_samples < S ? ctx->chunk_samples : S;
    if (per < 1) per = 1;
    if (S < 2) {
        snprintf(err, errlen, "%s needs samples >= 2 (ICML 2023: 100)", job_method_name(m->kind));
        return -1;
    }
    int rc = -1;
    float *pix = malloc((size_t)d * sizeof *pix), *pts = malloc((size_t)(per * d) * sizeof *pts);
    int32_t *seg = malloc((size_t)hw * sizeof *seg);
    unsigned char *z = malloc((size_t)(S * hw) * sizeof *z);
    double *wt = malloc((size_t)S * sizeof *wt), *y = malloc((size_t)S * sizeof *y);
    double *coef = malloc((size_t)hw * sizeof *coef), *sum = malloc((size_t)(d) * sizeof *sum);
    long *cnt = malloc((size_t)hw * sizeof *cnt);
    float *logits = NULL, *fill = malloc((size_t)d * sizeof *fill);
    if (!pix || !pts || !seg || !z || !wt || !y || !coef || !sum || !cnt || !fill) {
        snprintf(err, errlen, "out of host memory for %s", job_method_name(m->kind));
        goto out;
    }
    for (long i = 0; i < bt->b; i++) {
        const float *x = bt->xh + i * d;
        for (int ch = 0; ch < bt->c; ch++)
            for (long k = 0; k < hw; k++) pix[ch * hw + k] = x[ch * hw + k] * ctx->std[ch] + ctx->mean[ch];
        int M = 0;
        if (wk_superpixels(pix, bt->c, bt->h, bt->w, WK_QS_KERNEL_SIZE, WK_QS_MAX_DIST, WK_QS_RATIO, seg, &M, err,
                           errlen))
            goto out;
        if (segments_out) memcpy(segments_out + i * hw, seg, (size_t)hw * sizeof *seg);
        if (draw_masks(ctx, m, bt->ids[i], S, M, z, wt, err, errlen)) goto out;
        fill_image(ctx, m->fill, x, seg, M, bt->c, hw, sum, cnt, fill);
        for (long s0 = 0; s0 < S; s0 += per) {
            if (wk_method_stop(ctx, err, errlen)) goto out;
            long n = S - s0 < per ? S - s0 : per;
            for (long s = 0; s < n; s++)
                for (int ch = 0; ch < bt->c; ch++)
                    for (long k = 0; k < hw; k++)
                        pts[s * d + ch * hw + k] = z[(s0 + s) * M + seg[k]] ? x[ch * hw + k] : fill[ch * hw + k];
            ts_tensor *xt = NULL, *lg = NULL;
            int64_t shape[4] = {n, bt->c, bt->h, bt->w}, ls[2];
            int nd = 0;
            if (ts_from_f32(pts, shape, 4, ctx->device, &xt) || ts_module_forward(ctx->model, xt, &lg) ||
                ts_shape(lg, ls, &nd)) {
                snprintf(err, errlen, "%s", ts_last_error());
                ts_tensor_free(xt);
                ts_tensor_free(lg);
                goto out;
            }
            float *grown = realloc(logits, (size_t)(n * ls[1]) * sizeof *logits);
            if (!grown || ts_to_f32(lg, grown, (size_t)(n * ls[1]))) {
                snprintf(err, errlen, "%s", grown ? ts_last_error() : "out of host memory for logits");
                if (grown) logits = grown;
                ts_tensor_free(xt);
                ts_tensor_free(lg);
                goto out;
            }
            logits = grown;
            ts_tensor_free(xt);
            ts_tensor_free(lg);
            for (long s = 0; s < n; s++)
                y[s0 + s] = objective_host(logits + s * ls[1], (int)ls[1], bt->labels[i], m->objective);
        }
        const double alpha = m->kind == JOB_M_LIME ? LIME_RIDGE_ALPHA : 0.0;
        if (fit(S, M, z, wt, y, alpha, coef, err, errlen)) goto out;
        for (int ch = 0; ch < bt->c; ch++)
            for (long k = 0; k < hw; k++) out[i * d + ch * hw + k] = (float)coef[seg[k]];
    }
    rc = 0;
out:
    free(pix);
    free(pts);
    free(seg);
    free(z);
    free(wt);
    free(y);
    free(coef);
    free(sum);
    free(cnt);
    free(fill);
    free(logits);
    return rc;
}
