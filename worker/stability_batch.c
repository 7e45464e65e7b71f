/* worker/stability_batch.c — local Lipschitz estimate and max-sensitivity;
 * see metric_batch.h. For each image and method: M perturbed copies are
 * explained (in groups of batch_size copies, so host memory follows the
 * batch, not M), and every estimator slot of the method is compared with
 * its attribution of the clean image. */
#include "metric_batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seed.h"
#include "wk_pool.h"

enum stab_kind { STAB_LIPSCHITZ, STAB_MAXSENS };

static double l2_diff(const float *a, const float *b, long n) {
    double s = 0;
    for (long k = 0; k < n; k++) {
        double v = (double)a[k] - (double)b[k];
        s += v * v;
    }
    return sqrt(s);
}

/* Per-image maxima, one per slot, start at -1 ("no defined ratio yet"). */
static int stab_image(struct wk_engine *e, const struct wk_batch *bt, long i, enum stab_kind kind, float *const *attr,
                      double *best, char *err, size_t errlen) {
    const struct job *job = e->job;
    const struct job_robust *cfg = kind == STAB_LIPSCHITZ ? &job->lipschitz : &job->max_sens;
    const int c = bt->c;
    const long hw = (long)bt->h * bt->w, d = c * hw, M = cfg->samples;
    const long gmax = job->batch_size < M ? job->batch_size : M;
    const float *x = bt->xh + i * d;
    float *noise = malloc((size_t)(M * d) * sizeof *noise), *copies = malloc((size_t)(gmax * d) * sizeof *copies);
    float *outs[JOB_EST_COUNT] = {0};
    int64_t *labels = malloc((size_t)gmax * sizeof *labels), *ids = malloc((size_t)gmax * sizeof *ids);
    struct wk_pool pool = {0};
    int rc = -1, ok = noise && copies && labels && ids;
    for (int k = 0; k < JOB_EST_COUNT && ok; k++) ok = (outs[k] = malloc((size_t)(gmax * d) * sizeof(float))) != NULL;
    if (!ok) {
        snprintf(err, errlen, "out of host memory for %ld re-attributed copies (lower batch_size)", gmax);
        goto fail;
    }
    /* per channel, the amount in the model's space: pixel units ÷ std */
    float amount[3];
    for (int ch = 0; ch < c && ch < 3; ch++) {
        double a = kind == STAB_LIPSCHITZ ? cfg->sigma : cfg->radius;
        amount[ch] = (float)(cfg->pixel ? a / e->mctx.std[ch] : a);
    }
    if (kind == STAB_LIPSCHITZ) {
        /* x_j = x + σ·z, σ in pixel units (sigma_pixel: σ·z/std in the
         * model's space) or in the model's (sigma_model) */
        if (wk_draw(seed_for(job->seed, bt->ids[i], SEED_LIPSCHITZ), M * d, 1, noise, err, errlen)) goto fail;
    } else {
        /* x_j = x + u, u ~ U(−r, r) per element: r in the model's space
         * (radius_model, Captum's perturb_radius) or in pixels (radius_pixel) */
        if (wk_draw(seed_for(job->seed, bt->ids[i], SEED_MAXSENS), M * d, 0, noise, err, errlen)) goto fail;
    }
    for (long j0 = 0; j0 < M; j0 += gmax) {
        long g = M - j0 < gmax ? M - j0 : gmax;
        for (long j = 0; j < g; j++) {
            const float *z = noise + (j0 + j) * d;
            float *cp = copies + j * d;
            for (int ch = 0; ch < c; ch++)
                for (long p = 0; p < hw; p++) {
                    long k = ch * hw + p;
                    cp[k] =
                        kind == STAB_LIPSCHITZ ? x[k] + amount[ch] * z[k] : x[k] + amount[ch] * (2.0f * z[k] - 1.0f);
                }
            labels[j] = bt->labels[i];
            ids[j] = wk_copy_id(bt->ids[i], j0 + j);
        }
        ts_tensor *xt;
        int64_t shape[4] = {g, c, bt->h, bt->w};
        WK_T(&pool, ts_from_f32(copies, shape, 4, e->device, &xt), xt);
        struct wk_batch cb = {xt, copies, labels, NULL, ids, g, c, bt->h, bt->w};
        for (int s = 0; s < e->n_slots;) {
            int s_end = s;
            while (s_end < e->n_slots && e->slots[s_end].method == e->slots[s].method) s_end++;
            const struct job_method *m = &job->methods[e->slots[s].method];
            if (wk_method_run(&e->mctx, m, &cb, outs, err, errlen)) goto fail;
            for (int t = s; t < s_end; t++) {
                const float *a0 = attr[t] + i * d, *aj = outs[e->slots[t].estimator];
                double an = 0;
                for (long k = 0; k < d; k++) an += (double)a0[k] * (double)a0[k];
                an = sqrt(an);
                for (long j = 0; j < g; j++) {
                    double num = l2_diff(a0, aj + j * d, d), den;
                    if (kind == STAB_LIPSCHITZ) {
                        double zn = 0;
                        const float *z = noise + (j0 + j) * d;
                        for (long k = 0; k < d; k++) zn += (double)z[k] * (double)z[k];
                        den = cfg->sigma * sqrt(zn); /* ‖x − x_j‖ in the space σ is given in */
                    } else {
                        den = an > 0 ? an : 1; /* as Captum's sensitivity_max: an all-zero map divides by 1 */
                    }
                    if (den > 0 && num / den > best[t]) best[t] = num / den;
                }
            }
            s = s_end;
        }
        wk_pool_free(&pool);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(noise);
    free(copies);
    free(labels);
    free(ids);
    for (int k = 0; k < JOB_EST_COUNT; k++) free(outs[k]);
    return rc;
}

int wk_stability_metrics(struct wk_engine *e, const struct wk_batch *bt, float *const *attr, double *record, char *err,
                         size_t errlen) {
    const struct job *job = e->job;
    double best[REC_MAX_SLOTS];
    for (int kind = STAB_LIPSCHITZ; kind <= STAB_MAXSENS; kind++) {
        const struct job_robust *cfg = kind == STAB_LIPSCHITZ ? &job->lipschitz : &job->max_sens;
        size_t off = kind == STAB_LIPSCHITZ ? e->layout.lips : e->layout.maxs;
        if (!cfg->on) continue;
        for (long i = 0; i < bt->b; i++) {
            if (cfg->images > 0 && bt->ids[i] >= cfg->images) continue;
            for (int s = 0; s < e->n_slots; s++) best[s] = -1;
            if (stab_image(e, bt, i, (enum stab_kind)kind, attr, best, err, errlen)) return -1;
            for (int s = 0; s < e->n_slots; s++) {
                double *q = record + rec_slot_base(&e->layout, s) + off;
                if (best[s] < 0) continue; /* no finite ratio (Lipschitz with zero noise) */
                q[REC_ST_SUM] += best[s];
                q[REC_ST_N] += 1;
                if (best[s] > q[REC_ST_MAX]) q[REC_ST_MAX] = best[s];
            }
        }
    }
    return 0;
}
