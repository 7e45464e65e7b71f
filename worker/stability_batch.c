/* worker/stability_batch.c — local Lipschitz estimate and max-sensitivity;
 * see metric_batch.h. For each image and method: M perturbed copies are
 * explained (in groups of batch_size copies, so memory follows the batch,
 * not M), and every estimator slot of the method is compared with its
 * attribution of the clean image, on the device. */
#include "metric_batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_consts.h"
#include "seed.h"
#include "wk_pool.h"

enum stab_kind { STAB_LIPSCHITZ, STAB_MAXSENS };

/* Per-image maxima, one per slot, start at -1 ("no defined ratio yet").
 * The draws, the copies, their attributions and the norms stay on the
 * device; per copy one distance per slot comes back (and ‖z‖ once). */
static int stab_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, enum stab_kind kind,
                      ts_tensor *const *attr_t, double *best, char *err, size_t errlen) {
    const struct job *job = e->job;
    const struct job_robust *cfg = kind == STAB_LIPSCHITZ ? &job->lipschitz : &job->max_sens;
    const int c = bt->c;
    const long hw = (long)bt->h * bt->w, d = c * hw, M = cfg->samples;
    const long gmax = job->batch_size < M ? job->batch_size : M;
    int host_x = 0; /* a method that reads the copies on the host (its sampler, or all of it) */
    for (int s = 0; s < e->n_slots; s++) host_x |= wk_method_reads_host_x(&job->methods[e->slots[s].method]);
    float *copies_h = host_x ? malloc((size_t)(gmax * d) * sizeof *copies_h) : NULL;
    int64_t *labels = malloc((size_t)gmax * sizeof *labels), *ids = malloc((size_t)gmax * sizeof *ids);
    double *zn = malloc((size_t)M * sizeof *zn), *num = malloc((size_t)gmax * sizeof *num), an[REC_MAX_SLOTS];
    struct wk_pool keep = {0}, pool = {0};
    ts_tensor *a064[REC_MAX_SLOTS] = {0}; /* owned, one per slot; before the first goto fail */
    int rc = -1;
    if ((host_x && !copies_h) || !labels || !ids || !zn || !num) {
        snprintf(err, errlen, "out of host memory for %ld re-attributed copies (lower batch_size)", gmax);
        goto fail;
    }
    /* per channel, the amount in the model's space: pixel units ÷ std */
    float amount[3] = {0}, zero[3] = {0}, two[3] = {2, 2, 2}, minus1[3] = {-1, -1, -1};
    for (int ch = 0; ch < c && ch < 3; ch++) {
        double a = kind == STAB_LIPSCHITZ ? cfg->sigma : cfg->radius;
        amount[ch] = (float)(cfg->pixel ? a / e->mctx->std[ch] : a);
    }
    ts_tensor *xi, *z, *z4, *pert, *copies;
    uint64_t key = seed_for(job->seed, bt->ids[i], kind == STAB_LIPSCHITZ ? SEED_LIPSCHITZ : SEED_MAXSENS);
    int64_t s4[4] = {M, c, bt->h, bt->w}, s2[2] = {M, d};
    WK_T(&keep, ts_narrow(bt->x, 0, i, 1, &xi), xi);
    if (kind == STAB_LIPSCHITZ) {
        /* x_j = x + σ·z, σ in pixel units (sigma_pixel: σ·z/std in the
         * model's space) or in the model's (sigma_model) */
        WK_T(&keep, ts_ctr_rand(&key, 1, M * d, 1, e->device, &z), z);
        WK_T(&keep, ts_reshape(z, s4, 4, &z4), z4);
        WK_T(&keep, wk_affine_channels(e->mctx->consts, z4, amount, zero, c, &pert), pert);
        ts_tensor *z2, *z64, *znt;
        WK_T(&pool, ts_reshape(z, s2, 2, &z2), z2);
        WK_T(&pool, ts_cast_f64(z2, &z64), z64);
        WK_T(&pool, ts_row_l2(z64, &znt), znt);
        WK_CHECK(ts_to_f64(znt, zn, (size_t)M));
        wk_pool_free(&pool);
    } else {
        /* x_j = x + u, u ~ U(−r, r) per element: r in the model's space
         * (radius_model, Captum's perturb_radius) or in pixels (radius_pixel) */
        ts_tensor *u;
        WK_T(&keep, ts_ctr_rand(&key, 1, M * d, 0, e->device, &z), z);
        WK_T(&keep, ts_reshape(z, s4, 4, &z4), z4);
        WK_T(&keep, wk_affine_channels(e->mctx->consts, z4, two, minus1, c, &u), u); /* 2u − 1 */
        WK_T(&keep, wk_affine_channels(e->mctx->consts, u, amount, zero, c, &pert), pert);
    }
    WK_T(&keep, ts_add(xi, pert, &copies), copies);
    for (int t = 0; t < e->n_slots; t++) {
        ts_tensor *a0, *n0;
        WK_T(&pool, ts_narrow(attr_t[t], 0, i, 1, &a0), a0);
        WK_CHECK(ts_cast_f64(a0, &a064[t]));
        WK_T(&pool, ts_row_l2(a064[t], &n0), n0);
        WK_CHECK(ts_to_f64(n0, &an[t], 1));
        wk_pool_free(&pool);
    }
    for (long j0 = 0; j0 < M; j0 += gmax) {
        const long g = M - j0 < gmax ? M - j0 : gmax;
        for (long j = 0; j < g; j++) {
            labels[j] = bt->labels[i];
            ids[j] = wk_copy_id(bt->ids[i], j0 + j);
        }
        ts_tensor *xt;
        WK_T(&pool, ts_narrow(copies, 0, j0, g, &xt), xt);
        if (host_x) WK_CHECK(ts_to_f32(xt, copies_h, (size_t)(g * d)));
        struct wk_batch cb = {xt, copies_h, labels, NULL, ids, g, c, bt->h, bt->w, NULL};
        for (int s = 0; s < e->n_slots;) {
            int s_end = s;
            while (s_end < e->n_slots && e->slots[s_end].method == e->slots[s].method) s_end++;
            const struct job_method *m = &job->methods[e->slots[s].method];
            ts_tensor *outs[JOB_EST_COUNT];
            struct wk_pool mp = {0}; /* this method's maps: freed before the next method */
            if (wk_method_run_dev(e->mctx, m, &cb, outs, err, errlen)) goto fail;
            for (int k = 0; k < JOB_EST_COUNT; k++)
                if (outs[k]) wk_pool_add(&mp, outs[k]); /* at most JOB_EST_COUNT: always fits */
            for (int t = s; t < s_end; t++) {
                ts_tensor *aj = outs[e->slots[t].estimator], *aj64, *dif, *nt;
                struct wk_pool sp = {0};
                int src = ts_cast_f64(aj, &aj64);
                if (src == TS_OK) wk_pool_add(&sp, aj64);
                if (src == TS_OK && (src = ts_sub(aj64, a064[t], &dif)) == TS_OK) wk_pool_add(&sp, dif);
                if (src == TS_OK && (src = ts_row_l2(dif, &nt)) == TS_OK) wk_pool_add(&sp, nt);
                if (src == TS_OK) src = ts_to_f64(nt, num, (size_t)g);
                wk_pool_free(&sp);
                if (src != TS_OK) {
                    snprintf(err, errlen, "%s", ts_last_error());
                    wk_pool_free(&mp);
                    goto fail;
                }
                for (long j = 0; j < g; j++) {
                    double den;
                    if (kind == STAB_LIPSCHITZ)
                        den = cfg->sigma * zn[j0 + j]; /* ‖x − x_j‖ in the space σ is given in */
                    else den = an[t] > 0 ? an[t] : 1;  /* as Captum's sensitivity_max: an all-zero map divides by 1 */
                    if (den > 0 && num[j] / den > best[t]) best[t] = num[j] / den;
                }
            }
            wk_pool_free(&mp);
            s = s_end;
        }
        wk_pool_free(&pool);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    wk_pool_free(&keep);
    for (int t = 0; t < e->n_slots; t++) ts_tensor_free(a064[t]);
    free(copies_h);
    free(labels);
    free(ids);
    free(zn);
    free(num);
    return rc;
}

int wk_stability_metrics(const struct wk_metric_ctx *e, const struct wk_batch *bt, ts_tensor *const *attr_t,
                         double *record, char *err, size_t errlen) {
    const struct job *job = e->job;
    double best[REC_MAX_SLOTS];
    for (int kind = STAB_LIPSCHITZ; kind <= STAB_MAXSENS; kind++) {
        const struct job_robust *cfg = kind == STAB_LIPSCHITZ ? &job->lipschitz : &job->max_sens;
        size_t off = kind == STAB_LIPSCHITZ ? e->layout->lips : e->layout->maxs;
        if (!cfg->on) continue;
        for (long i = 0; i < bt->b; i++) {
            if (!job_subset_has(cfg->images, e->ds->n, (long)bt->ids[i])) continue;
            for (int s = 0; s < e->n_slots; s++) best[s] = -1;
            if (stab_image(e, bt, i, (enum stab_kind)kind, attr_t, best, err, errlen)) return -1;
            for (int s = 0; s < e->n_slots; s++) {
                double *q = record + rec_slot_base(e->layout, s) + off;
                rec_pi_put(e->layout, wk_metric_pi_row(e, record, bt->ids[i]), s,
                           kind == STAB_LIPSCHITZ ? REC_PI_LIPS : REC_PI_MAXS, best[s] < 0 ? NAN : best[s]);
                if (best[s] < 0) continue; /* no finite ratio (Lipschitz with zero noise) */
                q[REC_ST_SUM] += best[s];
                q[REC_ST_N] += 1;
                if (best[s] > q[REC_ST_MAX]) q[REC_ST_MAX] = best[s];
            }
        }
    }
    return 0;
}
