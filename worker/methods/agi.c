/* worker/methods/agi.c — Adversarial Gradient Integration (docs/methods.md):
 * for T target classes ≠ t, walk K signed-gradient steps on the
 * unnormalized image toward the target (ascent on log p_target, clamped to
 * [0,1]); every step adds g(step point) ⊙ (previous point − step point) for
 * the explained objective. We follow the AGI paper: the path is cumulative
 * and the model always sees normalized input.
 *
 * Estimators: vanilla = mean over targets of the per-target sums; valid_ref
 * keeps per-target sums ≥ 0; valid_ip keeps per-step terms ≥ 0 — each
 * divided elementwise by max(1, kept count). All T targets of all B images
 * advance together: 2 backprops per step for B·T points, chunked.
 *
 * reference_compat reproduces the reference implementation's AGI
 * (saliency_methods/adv_grad_integration.py there), which differs in five
 * places: its targets are T distinct classes of 0 … C−3 (its select_id
 * returns a fresh draw that may hold the label); the direction is the sign
 * of ∂(raw target logit)/∂x̃ with the *unnormalized* image fed to the
 * model; every step restarts from the clean image, x̃_{k+1} =
 * clamp(x̃ + ε·sign(d_k), 0, 1), the direction d_k taken at the previous
 * step point; the term is g(x̃_{k+1}) ⊙ (x̃ − x̃_{k+1}); and vanilla sums
 * over targets instead of averaging. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "seed.h"

/* T distinct classes ≠ label from the image's own stream (a partial
 * Fisher–Yates over the other classes); compat: over classes 0 … C−3,
 * the label included, as the reference draws them. */
static void pick_targets(uint64_t seed, int classes, int64_t label, int compat, int t, int64_t *out) {
    int64_t pool[4096];
    int n = 0;
    for (int c = 0; c < (compat ? classes - 2 : classes) && n < 4096; c++)
        if (compat || c != label) pool[n++] = c;
    uint64_t s = seed;
    for (int i = 0; i < t; i++) {
        s = seed_mix(s);
        int j = i + (int)(s % (uint64_t)(n - i));
        int64_t tmp = pool[i];
        pool[i] = pool[j];
        pool[j] = tmp;
        out[i] = pool[i];
    }
}

int wk_agi(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
           float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const long B = bt->b, T = m->refs, K = m->steps, hw = (long)bt->h * bt->w, D = bt->c * hw, P = B * T;
    const float eps = (float)m->epsilon;
    const int compat = m->reference_compat;
    if (ctx->classes < 2 || T > ctx->classes - 1 || (compat && T > ctx->classes - 2)) {
        snprintf(err, errlen, "agi: refs (target classes) = %ld but the model has only %d %s", T,
                 compat ? ctx->classes - 2 : ctx->classes - 1,
                 compat ? "candidate classes (reference_compat draws from 0 … C−3)" : "other classes");
        return -1;
    }
    int rc = -1;
    int64_t *tgt = malloc((size_t)P * sizeof *tgt), *lab = malloc((size_t)P * sizeof *lab);
    float *cur = malloc((size_t)(P * D) * sizeof *cur), *nxt = malloc((size_t)(P * D) * sizeof *nxt);
    float *zn = malloc((size_t)(P * D) * sizeof *zn), *g = malloc((size_t)(P * D) * sizeof *g);
    float *orig = compat ? malloc((size_t)(P * D) * sizeof *orig) : NULL; /* the clean image per path */
    float *psum = calloc((size_t)(P * D), sizeof *psum);                  /* per-target sums (valid_ref) */
    float *acc = calloc((size_t)(3 * B * D), sizeof *acc), *cnt = calloc((size_t)(2 * B * D), sizeof *cnt);
    if (!tgt || !lab || !cur || !nxt || !zn || !g || !psum || !acc || !cnt || (compat && !orig)) {
        snprintf(err, errlen, "out of host memory for AGI paths (lower batch_size)");
        goto out;
    }
    float *acc_van = acc, *acc_vr = acc + B * D, *acc_ip = acc + 2 * B * D, *cnt_vr = cnt, *cnt_ip = cnt + B * D;
    for (long i = 0; i < B; i++) {
        pick_targets(seed_for(ctx->seed, bt->ids[i], SEED_AGI_TARGETS), ctx->classes, bt->labels[i], compat, (int)T,
                     tgt + i * T);
        for (long j = 0; j < T; j++) {
            lab[i * T + j] = bt->labels[i];
            for (int ch = 0; ch < bt->c; ch++)
                for (long k = 0; k < hw; k++)
                    cur[(i * T + j) * D + ch * hw + k] = bt->xh[i * D + ch * hw + k] * ctx->std[ch] + ctx->mean[ch];
            if (compat) memcpy(orig + (i * T + j) * D, cur + (i * T + j) * D, (size_t)D * sizeof *orig);
        }
    }
    for (long step = 0; step < K; step++) {
        /* 1. direction: sign of ∂ log p_target / ∂x̃ (std > 0 keeps the sign
         * of ∂/∂z); compat: of the raw target logit, the model fed x̃ as is */
        for (long p = 0; p < P; p++)
            for (int ch = 0; ch < bt->c; ch++)
                for (long k = 0; k < hw; k++)
                    zn[p * D + ch * hw + k] =
                        compat ? cur[p * D + ch * hw + k] : (cur[p * D + ch * hw + k] - ctx->mean[ch]) / ctx->std[ch];
        if (wk_grads_host(ctx, compat ? TS_OBJ_LOGIT : TS_OBJ_PROB, zn, tgt, P, bt->c, bt->h, bt->w, g, NULL, err,
                          errlen))
            goto out;
        for (long q = 0; q < P * D; q++) {
            float sgn = g[q] > 0 ? 1.0f : g[q] < 0 ? -1.0f : 0.0f;
            float v = (compat ? orig[q] : cur[q]) + eps * sgn; /* compat restarts from the clean image */
            nxt[q] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
        /* 2. the explained objective's gradient at the step point */
        for (long p = 0; p < P; p++)
            for (int ch = 0; ch < bt->c; ch++)
                for (long k = 0; k < hw; k++)
                    zn[p * D + ch * hw + k] = (nxt[p * D + ch * hw + k] - ctx->mean[ch]) / ctx->std[ch];
        if (wk_grads_host(ctx, (int)m->objective, zn, lab, P, bt->c, bt->h, bt->w, g, NULL, err, errlen)) goto out;
        /* 3. term = g ⊙ (previous − step), both in model space */
        for (long p = 0; p < P; p++) {
            long i = p / T;
            for (int ch = 0; ch < bt->c; ch++)
                for (long k = 0; k < hw; k++) {
                    long q = p * D + ch * hw + k, o = i * D + ch * hw + k;
                    float term = g[q] * (((compat ? orig[q] : cur[q]) - nxt[q]) / ctx->std[ch]);
                    acc_van[o] += term;
                    psum[q] += term;
                    if (term >= 0) {
                        acc_ip[o] += term;
                        cnt_ip[o] += 1;
                    }
                }
        }
        float *t = cur;
        cur = nxt;
        nxt = t;
    }
    for (long p = 0; p < P; p++)
        for (long k = 0; k < D; k++)
            if (psum[p * D + k] >= 0) {
                acc_vr[(p / T) * D + k] += psum[p * D + k];
                cnt_vr[(p / T) * D + k] += 1;
            }
    for (long o = 0; o < B * D; o++) {
        if (out[JOB_EST_VANILLA]) out[JOB_EST_VANILLA][o] = compat ? acc_van[o] : acc_van[o] / (float)T;
        if (out[JOB_EST_VALID_REF]) out[JOB_EST_VALID_REF][o] = acc_vr[o] / (cnt_vr[o] > 1 ? cnt_vr[o] : 1);
        if (out[JOB_EST_VALID_IP]) out[JOB_EST_VALID_IP][o] = acc_ip[o] / (cnt_ip[o] > 1 ? cnt_ip[o] : 1);
    }
    rc = 0;
out:
    free(tgt);
    free(lab);
    free(cur); /* cur and nxt may have swapped: still two distinct blocks */
    free(nxt);
    free(zn);
    free(orig);
    free(g);
    free(psum);
    free(acc);
    free(cnt);
    return rc;
}
