/* worker/perturb_batch.c — sensitivity-n, faithfulness (grid, correlation,
 * estimate) and infidelity; see
 * metric_batch.h. Per image: build the perturbed copies on the host, one
 * batched forward (chunked), output drops Δ = f(x)[t] − f(x̃)[t], then for
 * each slot the attribution's share of each perturbation and the
 * correlation / error against Δ. */
#include "metric_batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffid.h"
#include "perturb.h"
#include "seed.h"
#include "stats.h"
#include "wk_pool.h"

/* out[j] = f(xs_j)[label] for n copies (D floats each), chunk by chunk. */
static int forward_target(struct wk_engine *e, const float *xs, long n, int64_t label, float *out, char *err,
                          size_t errlen) {
    const long d = (long)e->ds.c * e->ds.h * e->ds.w;
    long chunk = e->chunk_samples < n ? e->chunk_samples : n;
    float *lg = malloc((size_t)(chunk * e->classes) * sizeof *lg);
    struct wk_pool pool = {0};
    int rc = -1;
    if (!lg) {
        snprintf(err, errlen, "out of host memory for %ld logits (lower memory_budget_mb)", chunk * e->classes);
        return -1;
    }
    for (long j0 = 0; j0 < n; j0 += chunk) {
        long g = n - j0 < chunk ? n - j0 : chunk;
        ts_tensor *xt, *lt;
        int64_t shape[4] = {g, e->ds.c, e->ds.h, e->ds.w};
        WK_T(&pool, ts_from_f32(xs + j0 * d, shape, 4, e->device, &xt), xt);
        WK_T(&pool, ts_module_forward(e->model, xt, &lt), lt);
        WK_CHECK(ts_to_f32(lt, lg, (size_t)(g * e->classes)));
        for (long j = 0; j < g; j++) out[j0 + j] = lg[j * e->classes + label];
        wk_pool_free(&pool);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(lg);
    return rc;
}

static int want(long bound, long long id) {
    return bound <= 0 || id < bound;
}

/* One image's Pearson correlation into a (sum, count) pair of the record;
 * an undefined one (a constant side) is left out of the mean. */
static void add_pearson(const double *xs, const double *ys, long n, double *sum, double *count) {
    double corr;
    if (stats_pearson(xs, ys, n, &corr) == 0) {
        *sum += corr;
        *count += 1;
    }
}

static int sensn_image(struct wk_engine *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
                       double *record, char *err, size_t errlen) {
    const struct job_sensn *sn = &e->job->sensn;
    const int c = bt->c, nr = sn->n_ratios, S = sn->samples;
    const long hw = (long)bt->h * bt->w, d = c * hw, n = (long)nr * S;
    const float *x = bt->xh + i * d;
    float *u = malloc((size_t)(n * hw) * sizeof *u), *copies = malloc((size_t)(n * d) * sizeof *copies);
    float *base = sn->baseline == JOB_SN_RAND ? malloc((size_t)(n * d) * sizeof *base) : NULL;
    float *f = malloc((size_t)n * sizeof *f);
    uint8_t *mask = malloc((size_t)(n * hw));
    long *order = malloc((size_t)hw * sizeof *order);
    double *xs = malloc((size_t)S * sizeof *xs), *ys = malloc((size_t)S * sizeof *ys);
    int rc = -1;
    if (!u || !copies || !f || !mask || !order || !xs || !ys || (sn->baseline == JOB_SN_RAND && !base)) {
        snprintf(err, errlen, "out of host memory for %ld sensitivity-n copies (lower metrics.sensitivity_n.samples)",
                 n);
        goto out;
    }
    if (wk_draw(seed_for(e->job->seed, bt->ids[i], SEED_SENSN_MASK), n * hw, 0, u, err, errlen)) goto out;
    /* rand: a uniformly random image in pixel space, normalized like the input */
    if (base && wk_draw(seed_for(e->job->seed, bt->ids[i], SEED_SENSN_BASE), n * d, 0, base, err, errlen)) goto out;
    for (long j = 0; j < n; j++) {
        float *cp = copies + j * d;
        uint8_t *m = mask + j * hw;
        sensn_pick(u + j * hw, hw, diffid_count(sn->ratios[j / S], hw), order, m);
        memcpy(cp, x, (size_t)d * sizeof *cp);
        for (int ch = 0; ch < c; ch++)
            for (long p = 0; p < hw; p++)
                if (m[p])
                    cp[ch * hw + p] = base ? (base[j * d + ch * hw + p] - e->mctx.mean[ch]) / e->mctx.std[ch] : 0.0f;
    }
    if (forward_target(e, copies, n, bt->labels[i], f, err, errlen)) goto out;
    for (int s = 0; s < e->n_slots; s++) {
        double *blk = record + rec_slot_base(&e->layout, s) + e->layout.sensn;
        for (int r = 0; r < nr; r++) {
            double *q = blk + (size_t)r * REC_SN_FIELDS;
            for (int j = 0; j < S; j++) {
                long k = (long)r * S + j;
                xs[j] = sensn_attr_sum(attr[s] + i * d, c, hw, mask + k * hw, sn->post_hoc == JOB_PH_ABS);
                ys[j] = (double)orig - (double)f[k];
                q[REC_SN_PAIRS] += 1;
                q[REC_SN_SX] += xs[j];
                q[REC_SN_SY] += ys[j];
                q[REC_SN_SXY] += xs[j] * ys[j];
                q[REC_SN_SXX] += xs[j] * xs[j];
                q[REC_SN_SYY] += ys[j] * ys[j];
            }
            add_pearson(xs, ys, S, &q[REC_SN_CORR_SUM], &q[REC_SN_CORR_N]);
        }
    }
    rc = 0;
out:
    free(u);
    free(copies);
    free(base);
    free(f);
    free(mask);
    free(order);
    free(xs);
    free(ys);
    return rc;
}

static int faith_image(struct wk_engine *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
                       const int *group_of, int G, double *record, char *err, size_t errlen) {
    const int c = bt->c;
    const long hw = (long)bt->h * bt->w, d = c * hw;
    const float *x = bt->xh + i * d;
    float *copies = malloc((size_t)(G * d) * sizeof *copies), *f = malloc((size_t)G * sizeof *f);
    double *p = malloc((size_t)G * sizeof *p), *a = malloc((size_t)G * sizeof *a);
    double *scratch = malloc((size_t)(2 * G) * sizeof *scratch);
    long *iscratch = malloc((size_t)G * sizeof *iscratch);
    int rc = -1;
    if (!copies || !f || !p || !a || !scratch || !iscratch) {
        snprintf(err, errlen, "out of host memory for %d faithfulness copies (lower metrics.faithfulness.groups)", G);
        goto out;
    }
    /* copy g: group g set to the 0 reference (0 in model input space) */
    for (int g = 0; g < G; g++) {
        float *cp = copies + (long)g * d;
        memcpy(cp, x, (size_t)d * sizeof *cp);
        for (int ch = 0; ch < c; ch++)
            for (long q = 0; q < hw; q++)
                if (group_of[q] == g) cp[ch * hw + q] = 0.0f;
    }
    if (forward_target(e, copies, G, bt->labels[i], f, err, errlen)) goto out;
    for (int g = 0; g < G; g++) p[g] = (double)orig - (double)f[g];
    for (int s = 0; s < e->n_slots; s++) {
        double *q = record + rec_slot_base(&e->layout, s) + e->layout.faith, r, dist = 0;
        const float *as = attr[s] + i * d;
        memset(a, 0, (size_t)G * sizeof *a);
        for (int ch = 0; ch < c; ch++)
            for (long k = 0; k < hw; k++) a[group_of[k]] += (double)as[ch * hw + k];
        if (stats_pearson(a, p, G, &r) == 0) {
            q[REC_FA_PEARSON] += r;
            q[REC_FA_PEARSON_N] += 1;
        }
        if (stats_spearman(a, p, G, &r, scratch, iscratch) == 0) {
            q[REC_FA_SPEARMAN] += r;
            q[REC_FA_SPEARMAN_N] += 1;
        }
        for (int g = 0; g < G; g++) dist += (a[g] - p[g]) * (a[g] - p[g]);
        if (dist > 0) {
            q[REC_FA_INV] += 1.0 / sqrt(dist);
            q[REC_FA_INV_N] += 1;
        }
    }
    rc = 0;
out:
    free(copies);
    free(f);
    free(p);
    free(a);
    free(scratch);
    free(iscratch);
    return rc;
}

/* The value a removed feature takes: Quantus's "black" is the image's
 * minimum (over all channels, in the model's input space); zero is 0
 * there (the dataset mean). */
static float fq_fill(const struct job_faith_q *f, const float *x, long d) {
    if (f->baseline == JOB_FQ_DATASET_MEAN) return 0.0f;
    float m = x[0];
    for (long k = 1; k < d; k++)
        if (x[k] < m) m = x[k];
    return m;
}

/* Faithfulness correlation (Bhatt et al. 2020; Quantus
 * FaithfulnessCorrelation): `runs` random subsets of `subset_size` of the
 * C·H·W input elements, each set to the baseline alone; per image the
 * Pearson correlation between the subsets' attribution sums and the drops
 * f(x)[t] − f(x̃)[t]. */
static int fcorr_image(struct wk_engine *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
                       double *record, char *err, size_t errlen) {
    const struct job_faith_q *fq = &e->job->fcorr;
    const long d = (long)bt->c * bt->h * bt->w, R = fq->runs, k = fq->size < d ? fq->size : d;
    const float *x = bt->xh + i * d;
    float *u = malloc((size_t)(R * d) * sizeof *u), *copies = malloc((size_t)(R * d) * sizeof *copies);
    float *f = malloc((size_t)R * sizeof *f);
    uint8_t *mask = malloc((size_t)(R * d));
    long *order = malloc((size_t)d * sizeof *order);
    double *xs = malloc((size_t)R * sizeof *xs), *ys = malloc((size_t)R * sizeof *ys);
    int rc = -1;
    if (!u || !copies || !f || !mask || !order || !xs || !ys) {
        snprintf(err, errlen, "out of host memory for %ld faithfulness_correlation copies (lower its runs)", R);
        goto out;
    }
    if (wk_draw(seed_for(e->job->seed, bt->ids[i], SEED_FCORR_MASK), R * d, 0, u, err, errlen)) goto out;
    const float fill = fq_fill(fq, x, d);
    for (long r = 0; r < R; r++) {
        /* the k elements with the smallest draws: a uniform k-subset */
        sensn_pick(u + r * d, d, k, order, mask + r * d);
        for (long q = 0; q < d; q++) copies[r * d + q] = mask[r * d + q] ? fill : x[q];
    }
    if (forward_target(e, copies, R, bt->labels[i], f, err, errlen)) goto out;
    for (int s = 0; s < e->n_slots; s++) {
        double *q = record + rec_slot_base(&e->layout, s) + e->layout.fcorr;
        const float *as = attr[s] + i * d;
        for (long r = 0; r < R; r++) {
            double a = 0;
            for (long t = 0; t < d; t++)
                if (mask[r * d + t]) a += (double)as[t];
            xs[r] = a;
            ys[r] = (double)orig - (double)f[r];
        }
        add_pearson(xs, ys, R, &q[REC_FQ_SUM], &q[REC_FQ_N]);
    }
    rc = 0;
out:
    free(u);
    free(copies);
    free(f);
    free(mask);
    free(order);
    free(xs);
    free(ys);
    return rc;
}

/* for fest_image's sort: attribution descending, ties by element index
 * (NumPy's stable argsort of −a, which the oracle uses) */
static const float *g_fest_a;
static int cmp_desc(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    if (g_fest_a[a] > g_fest_a[b]) return -1;
    if (g_fest_a[a] < g_fest_a[b]) return 1;
    return (a > b) - (a < b);
}

/* Faithfulness estimate (Alvarez-Melis & Jaakkola 2018; Quantus
 * FaithfulnessEstimate): the C·H·W elements in descending attribution
 * order, cut into steps of `features_in_step`; each step set to the
 * baseline alone (not cumulatively); per image and slot the Pearson
 * correlation between the steps' attribution sums and the drops. The
 * steps follow each map, so every slot has its own forwards. */
static int fest_image(struct wk_engine *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
                      double *record, char *err, size_t errlen) {
    const struct job_faith_q *fq = &e->job->fest;
    const long d = (long)bt->c * bt->h * bt->w, step = fq->size < d ? fq->size : d, G = (d + step - 1) / step;
    const float *x = bt->xh + i * d;
    float *copies = malloc((size_t)(G * d) * sizeof *copies), *f = malloc((size_t)G * sizeof *f);
    long *order = malloc((size_t)d * sizeof *order);
    double *xs = malloc((size_t)G * sizeof *xs), *ys = malloc((size_t)G * sizeof *ys);
    int rc = -1;
    if (!copies || !f || !order || !xs || !ys) {
        snprintf(err, errlen, "out of host memory for %ld faithfulness_estimate copies (raise its features_in_step)",
                 G);
        goto out;
    }
    const float fill = fq_fill(fq, x, d);
    for (int s = 0; s < e->n_slots; s++) {
        double *q = record + rec_slot_base(&e->layout, s) + e->layout.fest;
        const float *as = attr[s] + i * d;
        for (long t = 0; t < d; t++) order[t] = t;
        g_fest_a = as;
        qsort(order, (size_t)d, sizeof *order, cmp_desc);
        for (long g = 0; g < G; g++) {
            float *cp = copies + g * d;
            memcpy(cp, x, (size_t)d * sizeof *cp);
            double a = 0;
            for (long t = g * step; t < d && t < (g + 1) * step; t++) {
                cp[order[t]] = fill;
                a += (double)as[order[t]];
            }
            xs[g] = a;
        }
        if (forward_target(e, copies, G, bt->labels[i], f, err, errlen)) goto out;
        for (long g = 0; g < G; g++) ys[g] = (double)orig - (double)f[g];
        add_pearson(xs, ys, G, &q[REC_FQ_SUM], &q[REC_FQ_N]);
    }
    rc = 0;
out:
    free(copies);
    free(f);
    free(order);
    free(xs);
    free(ys);
    return rc;
}

static int infid_image(struct wk_engine *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
                       double *record, char *err, size_t errlen) {
    const struct job_robust *in = &e->job->infidelity;
    const long d = (long)bt->c * bt->h * bt->w, M = in->samples;
    const float *x = bt->xh + i * d;
    float *noise = malloc((size_t)(M * d) * sizeof *noise), *copies = malloc((size_t)(M * d) * sizeof *copies);
    float *f = malloc((size_t)M * sizeof *f);
    double *sv = malloc((size_t)M * sizeof *sv);
    int rc = -1;
    if (!noise || !copies || !f || !sv) {
        snprintf(err, errlen, "out of host memory for %ld infidelity copies (lower metrics.infidelity.samples)", M);
        goto out;
    }
    /* I ~ N(0, σ²) in the model's input space (sigma_model, Captum's
     * convention), or σ in pixel units, σ/std per channel in the model's
     * (sigma_pixel); copy = x − I */
    if (wk_draw(seed_for(e->job->seed, bt->ids[i], SEED_INFIDELITY), M * d, 1, noise, err, errlen)) goto out;
    const long hw = (long)bt->h * bt->w;
    for (long k = 0; k < M * d; k++) {
        float scale = in->pixel ? (float)(in->sigma / e->mctx.std[(k % d) / hw]) : (float)in->sigma;
        noise[k] *= scale;
        copies[k] = x[k % d] - noise[k];
    }
    if (forward_target(e, copies, M, bt->labels[i], f, err, errlen)) goto out;
    for (int s = 0; s < e->n_slots; s++) {
        double *q = record + rec_slot_base(&e->layout, s) + e->layout.infid;
        const float *as = attr[s] + i * d;
        double num = 0, den = 0, sum = 0;
        for (long j = 0; j < M; j++) {
            double v = 0, df = (double)orig - (double)f[j];
            for (long k = 0; k < d; k++) v += (double)noise[j * d + k] * (double)as[k];
            sv[j] = v;
            num += v * df;
            den += v * v;
        }
        /* optimal scale β = E[Iᵀa·Δf] / E[(Iᵀa)²]; 0 when the attribution is 0 */
        double beta = den > 0 ? num / den : 0.0;
        for (long j = 0; j < M; j++) {
            double r = beta * sv[j] - ((double)orig - (double)f[j]);
            sum += r * r;
        }
        q[REC_IF_SUM] += sum / (double)M;
        q[REC_IF_N] += 1;
    }
    rc = 0;
out:
    free(noise);
    free(copies);
    free(f);
    free(sv);
    return rc;
}

int wk_perturb_metrics(struct wk_engine *e, const struct wk_batch *bt, const float *orig, float *const *attr,
                       double *record, char *err, size_t errlen) {
    const struct job *job = e->job;
    int *group_of = NULL, G = 0, rc = -1;
    if (job->faith.on) {
        group_of = malloc((size_t)bt->h * bt->w * sizeof *group_of);
        if (!group_of) {
            snprintf(err, errlen, "out of host memory for the faithfulness groups");
            return -1;
        }
        G = faith_groups(bt->h, bt->w, job->faith.groups, group_of);
    }
    for (long i = 0; i < bt->b; i++) {
        if (job->sensn.on && want(job->sensn.images, bt->ids[i]) &&
            sensn_image(e, bt, i, orig[i], attr, record, err, errlen))
            goto out;
        if (job->faith.on && want(job->faith.images, bt->ids[i]) &&
            faith_image(e, bt, i, orig[i], attr, group_of, G, record, err, errlen))
            goto out;
        if (job->infidelity.on && want(job->infidelity.images, bt->ids[i]) &&
            infid_image(e, bt, i, orig[i], attr, record, err, errlen))
            goto out;
        if (job->fcorr.on && want(job->fcorr.images, bt->ids[i]) &&
            fcorr_image(e, bt, i, orig[i], attr, record, err, errlen))
            goto out;
        if (job->fest.on && want(job->fest.images, bt->ids[i]) &&
            fest_image(e, bt, i, orig[i], attr, record, err, errlen))
            goto out;
    }
    rc = 0;
out:
    free(group_of);
    return rc;
}
