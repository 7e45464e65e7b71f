/* worker/perturb_batch.c — sensitivity-n, faithfulness (grid, correlation,
 * estimate) and infidelity; see
 * metric_batch.h. Per image: the perturbed copies, one batched forward
 * (chunked), output drops Δ = f(x)[t] − f(x̃)[t], then for each slot the
 * attribution's share of each perturbation and the correlation / error
 * against Δ. Sensitivity-n, faithfulness and infidelity run on the device
 * (draws, masks, copies, the shares as one float64 product for all slots):
 * only the target logits and the shares come back, and the statistics are
 * taken on the host. The two Quantus-style ones (faithfulness correlation
 * and estimate) build their copies on the host from host maps. */
#include "metric_batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_consts.h"
#include "diffid.h"
#include "perturb.h"
#include "road.h"
#include "seed.h"
#include "stats.h"
#include "wk_pool.h"

/* The metrics' one chunked forward over n perturbed copies, on the host
 * (xs: n×D floats, uploaded chunk by chunk) or already on the device
 * (dev: n×C×H×W). Either out[j] = f(copy_j)[label] (label_t: the label on
 * the device, picked there: one float a copy comes back, not every
 * class's — 1,000 a copy on ImageNet), or, with hits, hits[j] = 1 when
 * copy j is classed as `label` (only each copy's argmax comes back). */
static int forward_copies(const struct wk_metric_ctx *e, const float *xs, const ts_tensor *dev, long n,
                          const ts_tensor *label_t, int64_t label, float *out, int *hits, char *err, size_t errlen) {
    const long d = (long)e->ds->c * e->ds->h * e->ds->w, chunk = e->chunk_samples < n ? e->chunk_samples : n;
    int64_t *am = hits ? malloc((size_t)chunk * sizeof *am) : NULL;
    struct wk_pool pool = {0};
    if (hits && !am) {
        snprintf(err, errlen, "out of host memory for %ld ROAD predictions", chunk);
        return -1;
    }
    for (long j0 = 0; j0 < n; j0 += chunk) {
        const long g = n - j0 < chunk ? n - j0 : chunk;
        ts_tensor *xt, *lt, *ft;
        int64_t shape[4] = {g, e->ds->c, e->ds->h, e->ds->w};
        if (dev) WK_T(&pool, ts_narrow(dev, 0, j0, g, &xt), xt);
        else WK_T(&pool, ts_from_f32(xs + j0 * d, shape, 4, e->device, &xt), xt);
        WK_T(&pool, ts_module_forward(e->model, xt, &lt), lt);
        if (hits) {
            WK_CHECK(ts_argmax_rows(lt, am, (size_t)g));
            for (long j = 0; j < g; j++) hits[j0 + j] = am[j] == label;
        } else {
            WK_T(&pool, ts_index_select(lt, 1, label_t, &ft), ft);
            WK_CHECK(ts_to_f32(ft, out + j0, (size_t)g));
        }
        wk_pool_free(&pool);
    }
    free(am);
    return 0;
fail:
    wk_pool_free(&pool);
    free(am);
    return -1;
}

/* out[j] = f(xs_j)[label] for n copies on the host. */
static int forward_target(const struct wk_metric_ctx *e, const float *xs, long n, int64_t label, float *out, char *err,
                          size_t errlen) {
    const int64_t one = 1;
    ts_tensor *lab = NULL;
    if (ts_from_i64(&label, &one, 1, e->device, &lab) != TS_OK) {
        snprintf(err, errlen, "%s", ts_last_error());
        return -1;
    }
    int rc = forward_copies(e, xs, NULL, n, lab, label, out, NULL, err, errlen);
    ts_tensor_free(lab);
    return rc;
}

/* Image id of a split of `total` is one of a metric's `images: bound`. */
static int want(long bound, long total, long long id) {
    return job_subset_has(bound, total, (long)id);
}

/* One image's Pearson correlation into a (sum, count) pair of the record;
 * an undefined one (a constant side) is left out of the mean. Returns it,
 * or NaN when undefined (the image's per-image value). */
static double add_pearson(const double *xs, const double *ys, long n, double *sum, double *count) {
    double corr;
    if (stats_pearson(xs, ys, n, &corr) != 0) return NAN;
    *sum += corr;
    *count += 1;
    return corr;
}

/* f(copies_j)[label] for the n copies on the device. */
static int forward_target_dev(const struct wk_metric_ctx *e, const ts_tensor *copies, long n, const ts_tensor *label,
                              float *out, char *err, size_t errlen) {
    return forward_copies(e, NULL, copies, n, label, 0, out, NULL, err, errlen);
}

/* What the device metrics share for image i: its row of the batch, its
 * label, and every slot's map as D×slots float64 columns (abs_values: |a|)
 * summed over channels first when per_pixel (→ HW×slots). */
struct img_dev {
    ts_tensor *x, *label;
};

static int img_dev_of(const struct wk_batch *bt, long i, struct wk_pool *pool, struct img_dev *im, char *err,
                      size_t errlen) {
    WK_T(pool, ts_narrow(bt->x, 0, i, 1, &im->x), im->x);
    WK_T(pool, ts_narrow(bt->y, 0, i, 1, &im->label), im->label);
    return 0;
fail:
    return -1;
}

static int slot_columns(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, ts_tensor *const *attr_t,
                        int per_pixel, int abs_values, struct wk_pool *pool, ts_tensor **cols, char *err,
                        size_t errlen) {
    const long hw = (long)bt->h * bt->w, d = (long)bt->c * hw;
    ts_tensor *parts[REC_MAX_SLOTS] = {0};
    struct wk_pool tmp = {0}; /* per slot: a job may have dozens of slots, a pool holds WK_POOL_MAX */
    int rc = -1;
    for (int s = 0; s < e->n_slots; s++) {
        ts_tensor *a, *a64, *v;
        int64_t s_chw[2] = {bt->c, hw}, s_col[2] = {per_pixel ? hw : d, 1};
        WK_T(&tmp, ts_narrow(attr_t[s], 0, i, 1, &a), a);
        WK_T(&tmp, ts_cast_f64(a, &a64), a64);
        if (abs_values) WK_T(&tmp, ts_abs(a64, &a64), a64);
        v = a64;
        if (per_pixel) {
            WK_T(&tmp, ts_reshape(a64, s_chw, 2, &v), v);
            WK_T(&tmp, ts_sum_dim(v, 0, 0, &v), v);
        }
        WK_CHECK(ts_reshape(v, s_col, 2, &parts[s]));
        wk_pool_free(&tmp);
    }
    WK_T(pool, ts_cat((const ts_tensor *const *)parts, e->n_slots, 1, cols), *cols);
    rc = 0;
fail:
    wk_pool_free(&tmp);
    for (int s = 0; s < e->n_slots; s++) ts_tensor_free(parts[s]);
    return rc;
}

static int sensn_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float orig,
                       ts_tensor *const *attr_t, double *record, char *err, size_t errlen) {
    const struct job_sensn *sn = &e->job->sensn;
    const int c = bt->c, nr = sn->n_ratios, S = sn->samples, ns = e->n_slots;
    const long hw = (long)bt->h * bt->w, d = c * hw, n = (long)nr * S;
    float *f = malloc((size_t)n * sizeof *f);
    int64_t *k = malloc((size_t)nr * sizeof *k);
    double *xs_all = malloc((size_t)(n * ns) * sizeof *xs_all);
    double *xs = malloc((size_t)S * sizeof *xs), *ys = malloc((size_t)S * sizeof *ys);
    struct wk_pool pool = {0};
    struct img_dev im;
    int rc = -1;
    if (!f || !k || !xs_all || !xs || !ys) {
        snprintf(err, errlen, "out of host memory for %ld sensitivity-n copies (lower metrics.sensitivity_n.samples)",
                 n);
        goto fail;
    }
    if (img_dev_of(bt, i, &pool, &im, err, errlen)) goto fail;
    /* the masks: the k smallest of hw uniform draws per copy, drawn and
     * picked on the device; rand: a uniformly random image in pixel space,
     * normalized like the input */
    ts_tensor *u, *u2, *mask, *mask4, *fill, *copies, *m64, *cols, *xsd;
    uint64_t key = seed_for(e->job->seed, bt->ids[i], SEED_SENSN_MASK);
    int64_t s_nhw[2] = {n, hw}, s_n1hw[4] = {n, 1, bt->h, bt->w}, s_one[1] = {1};
    for (int r = 0; r < nr; r++) k[r] = diffid_count(sn->ratios[r], hw); /* each for S copies */
    WK_T(&pool, ts_ctr_rand(&key, 1, n * hw, 0, e->device, &u), u);
    WK_T(&pool, ts_reshape(u, s_nhw, 2, &u2), u2);
    WK_T(&pool, ts_pick_smallest(u2, k, nr, &mask), mask);
    WK_T(&pool, ts_reshape(mask, s_n1hw, 4, &mask4), mask4);
    if (sn->baseline == JOB_SN_RAND) {
        ts_tensor *b, *b4;
        int64_t s4[4] = {n, c, bt->h, bt->w};
        key = seed_for(e->job->seed, bt->ids[i], SEED_SENSN_BASE);
        WK_T(&pool, ts_ctr_rand(&key, 1, n * d, 0, e->device, &b), b);
        WK_T(&pool, ts_reshape(b, s4, 4, &b4), b4);
        WK_T(&pool, wk_normalize_channels(e->mctx->consts, b4, e->mctx->mean, e->mctx->std, c, &fill), fill);
    } else {
        WK_T(&pool, ts_zeros(s_one, 1, e->device, &fill), fill);
    }
    WK_T(&pool, ts_where(mask4, fill, im.x, &copies), copies);
    if (forward_target_dev(e, copies, n, im.label, f, err, errlen)) goto fail;
    /* every slot's masked attribution sums at once: masks (n×HW) × the
     * maps summed over channels (HW×slots), in float64 */
    if (slot_columns(e, bt, i, attr_t, 1, sn->post_hoc == JOB_PH_ABS, &pool, &cols, err, errlen)) goto fail;
    WK_T(&pool, ts_cast_f64(mask, &m64), m64);
    WK_T(&pool, ts_matmul(m64, cols, &xsd), xsd);
    WK_CHECK(ts_to_f64(xsd, xs_all, (size_t)(n * ns)));
    double *row = wk_metric_pi_row(e, record, bt->ids[i]);
    for (int s = 0; s < ns; s++) {
        double *blk = record + rec_slot_base(e->layout, s) + e->layout->sensn, img_sum = 0, img_n = 0;
        for (int r = 0; r < nr; r++) {
            double *q = blk + (size_t)r * REC_SN_FIELDS;
            for (int j = 0; j < S; j++) {
                long kk = (long)r * S + j;
                xs[j] = xs_all[kk * ns + s];
                ys[j] = (double)orig - (double)f[kk];
                q[REC_SN_PAIRS] += 1;
                q[REC_SN_SX] += xs[j];
                q[REC_SN_SY] += ys[j];
                q[REC_SN_SXY] += xs[j] * ys[j];
                q[REC_SN_SXX] += xs[j] * xs[j];
                q[REC_SN_SYY] += ys[j] * ys[j];
            }
            double corr = add_pearson(xs, ys, S, &q[REC_SN_CORR_SUM], &q[REC_SN_CORR_N]);
            if (!isnan(corr)) {
                img_sum += corr;
                img_n += 1;
            }
        }
        rec_pi_put(e->layout, row, s, REC_PI_SENSN, img_n > 0 ? img_sum / img_n : NAN);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(f);
    free(k);
    free(xs_all);
    free(xs);
    free(ys);
    return rc;
}

/* onehot: G×HW float32 on the device, row g = the pixels of group g. */
static int faith_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float orig,
                       ts_tensor *const *attr_t, const ts_tensor *onehot, int G, double *record, char *err,
                       size_t errlen) {
    const int ns = e->n_slots;
    float *f = malloc((size_t)G * sizeof *f);
    double *p = malloc((size_t)G * sizeof *p), *a = malloc((size_t)G * sizeof *a);
    double *a_all = malloc((size_t)(G * ns) * sizeof *a_all);
    double *scratch = malloc((size_t)(2 * G) * sizeof *scratch);
    long *iscratch = malloc((size_t)G * sizeof *iscratch);
    struct wk_pool pool = {0};
    struct img_dev im;
    int rc = -1;
    if (!f || !p || !a || !a_all || !scratch || !iscratch) {
        snprintf(err, errlen, "out of host memory for %d faithfulness copies (lower metrics.faithfulness.groups)", G);
        goto fail;
    }
    if (img_dev_of(bt, i, &pool, &im, err, errlen)) goto fail;
    /* copy g: group g set to the 0 reference (0 in model input space) */
    ts_tensor *mask4, *zero, *copies, *oh64, *cols, *ad;
    int64_t s_g1hw[4] = {G, 1, bt->h, bt->w}, s_one[1] = {1};
    WK_T(&pool, ts_reshape(onehot, s_g1hw, 4, &mask4), mask4);
    WK_T(&pool, ts_zeros(s_one, 1, e->device, &zero), zero);
    WK_T(&pool, ts_where(mask4, zero, im.x, &copies), copies);
    if (forward_target_dev(e, copies, G, im.label, f, err, errlen)) goto fail;
    for (int g = 0; g < G; g++) p[g] = (double)orig - (double)f[g];
    /* each group's attribution sum, every slot at once, in float64 */
    if (slot_columns(e, bt, i, attr_t, 1, 0, &pool, &cols, err, errlen)) goto fail;
    WK_T(&pool, ts_cast_f64(onehot, &oh64), oh64);
    WK_T(&pool, ts_matmul(oh64, cols, &ad), ad);
    WK_CHECK(ts_to_f64(ad, a_all, (size_t)(G * ns)));
    double *row = wk_metric_pi_row(e, record, bt->ids[i]);
    for (int s = 0; s < ns; s++) {
        double *q = record + rec_slot_base(e->layout, s) + e->layout->faith, r, dist = 0;
        for (int g = 0; g < G; g++) a[g] = a_all[(long)g * ns + s];
        double pear = NAN, spear = NAN, inv = NAN;
        if (stats_pearson(a, p, G, &r) == 0) {
            q[REC_FA_PEARSON] += pear = r;
            q[REC_FA_PEARSON_N] += 1;
        }
        if (stats_spearman(a, p, G, &r, scratch, iscratch) == 0) {
            q[REC_FA_SPEARMAN] += spear = r;
            q[REC_FA_SPEARMAN_N] += 1;
        }
        for (int g = 0; g < G; g++) dist += (a[g] - p[g]) * (a[g] - p[g]);
        if (dist > 0) {
            q[REC_FA_INV] += inv = 1.0 / sqrt(dist);
            q[REC_FA_INV_N] += 1;
        }
        rec_pi_put(e->layout, row, s, REC_PI_FA_PEARSON, pear);
        rec_pi_put(e->layout, row, s, REC_PI_FA_SPEARMAN, spear);
        rec_pi_put(e->layout, row, s, REC_PI_FA_INV, inv);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(f);
    free(p);
    free(a);
    free(a_all);
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
static int fcorr_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
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
        double *q = record + rec_slot_base(e->layout, s) + e->layout->fcorr;
        const float *as = attr[s] + i * d;
        for (long r = 0; r < R; r++) {
            double a = 0;
            for (long t = 0; t < d; t++)
                if (mask[r * d + t]) a += (double)as[t];
            xs[r] = a;
            ys[r] = (double)orig - (double)f[r];
        }
        rec_pi_put(e->layout, wk_metric_pi_row(e, record, bt->ids[i]), s, REC_PI_FCORR,
                   add_pearson(xs, ys, R, &q[REC_FQ_SUM], &q[REC_FQ_N]));
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
static int fest_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float orig, float *const *attr,
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
        double *q = record + rec_slot_base(e->layout, s) + e->layout->fest;
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
        rec_pi_put(e->layout, wk_metric_pi_row(e, record, bt->ids[i]), s, REC_PI_FEST,
                   add_pearson(xs, ys, G, &q[REC_FQ_SUM], &q[REC_FQ_N]));
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

static int infid_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float orig,
                       ts_tensor *const *attr_t, double *record, char *err, size_t errlen) {
    const struct job_robust *in = &e->job->infidelity;
    const int c = bt->c, ns = e->n_slots;
    const long d = (long)c * bt->h * bt->w, M = in->samples;
    float *f = malloc((size_t)M * sizeof *f);
    double *sv = malloc((size_t)(M * ns) * sizeof *sv);
    struct wk_pool pool = {0};
    struct img_dev im;
    int rc = -1;
    if (!f || !sv) {
        snprintf(err, errlen, "out of host memory for %ld infidelity copies (lower metrics.infidelity.samples)", M);
        goto fail;
    }
    if (img_dev_of(bt, i, &pool, &im, err, errlen)) goto fail;
    /* I ~ N(0, σ²) in the model's input space (sigma_model, Captum's
     * convention), or σ in pixel units, σ/std per channel in the model's
     * (sigma_pixel); copy = x − I; drawn on the device */
    float scale[3] = {0}, zero[3] = {0};
    for (int ch = 0; ch < c && ch < 3; ch++)
        scale[ch] = in->pixel ? (float)(in->sigma / e->mctx->std[ch]) : (float)in->sigma;
    ts_tensor *z, *z4, *noise, *copies, *n2, *n64, *cols, *svd;
    uint64_t key = seed_for(e->job->seed, bt->ids[i], SEED_INFIDELITY);
    int64_t s4[4] = {M, c, bt->h, bt->w}, s2[2] = {M, d};
    WK_T(&pool, ts_ctr_rand(&key, 1, M * d, 1, e->device, &z), z);
    WK_T(&pool, ts_reshape(z, s4, 4, &z4), z4);
    WK_T(&pool, wk_affine_channels(e->mctx->consts, z4, scale, zero, c, &noise), noise);
    WK_T(&pool, ts_sub(im.x, noise, &copies), copies);
    if (forward_target_dev(e, copies, M, im.label, f, err, errlen)) goto fail;
    /* Iᵀa for every copy and slot at once, in float64 */
    if (slot_columns(e, bt, i, attr_t, 0, 0, &pool, &cols, err, errlen)) goto fail;
    WK_T(&pool, ts_reshape(noise, s2, 2, &n2), n2);
    WK_T(&pool, ts_cast_f64(n2, &n64), n64);
    WK_T(&pool, ts_matmul(n64, cols, &svd), svd);
    WK_CHECK(ts_to_f64(svd, sv, (size_t)(M * ns)));
    for (int s = 0; s < ns; s++) {
        double *q = record + rec_slot_base(e->layout, s) + e->layout->infid;
        double num = 0, den = 0, sum = 0;
        for (long j = 0; j < M; j++) {
            double v = sv[j * ns + s], df = (double)orig - (double)f[j];
            num += v * df;
            den += v * v;
        }
        /* optimal scale β = E[Iᵀa·Δf] / E[(Iᵀa)²]; 0 when the attribution is 0 */
        double beta = den > 0 ? num / den : 0.0;
        for (long j = 0; j < M; j++) {
            double r = beta * sv[j * ns + s] - ((double)orig - (double)f[j]);
            sum += r * r;
        }
        q[REC_IF_SUM] += sum / (double)M;
        q[REC_IF_N] += 1;
        rec_pi_put(e->layout, wk_metric_pi_row(e, record, bt->ids[i]), s, REC_PI_INFID, sum / (double)M);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(f);
    free(sv);
    return rc;
}

/* hits[j] = 1 when copy j (n copies of D floats on the host) is classed as
 * `label`. */
static int forward_hits(const struct wk_metric_ctx *e, const float *xs, long n, int64_t label, int *hits, char *err,
                        size_t errlen) {
    return forward_copies(e, xs, NULL, n, NULL, label, NULL, hits, err, errlen);
}

/* ROAD (Rong et al. 2022; docs/metrics.md): per slot the pixels by
 * saliency; for each ratio the most salient (MoRF) and the least salient
 * (LeRF) n pixels imputed from their neighbours (road_impute), with the
 * same noise for every slot; each copy's class against the label. */
static int road_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float *const *attr,
                      double *record, char *err, size_t errlen) {
    const struct job_road *rd = &e->job->road;
    const int c = bt->c, R = rd->n_ratios;
    const long hw = (long)bt->h * bt->w, d = c * hw, ncp = 2L * R;
    float *z = rd->noise > 0 ? malloc((size_t)(ncp * d) * sizeof *z) : NULL;
    float *copies = malloc((size_t)(ncp * d) * sizeof *copies);
    long *order = malloc((size_t)hw * sizeof *order);
    double *sal = malloc((size_t)hw * sizeof *sal);
    void *scratch = malloc(road_scratch_bytes(c, bt->h, bt->w));
    int *hits = malloc((size_t)ncp * sizeof *hits), rc = -1;
    if ((rd->noise > 0 && !z) || !copies || !order || !sal || !scratch || !hits) {
        snprintf(err, errlen, "out of host memory for %ld ROAD copies (lower metrics.road.ratios)", ncp);
        goto out;
    }
    /* the noise of copy (order o, ratio r): its own stream, whatever the slot */
    const uint64_t key = seed_for(e->job->seed, bt->ids[i], SEED_ROAD_NOISE);
    for (long o = 0; z && o < 2; o++)
        for (int r = 0; r < R; r++)
            if (wk_draw(seed_mix(key + (uint64_t)(o * JOB_MAX_RATIOS + r)), c * diffid_count(rd->ratios[r], hw), 1,
                        z + (o * R + r) * d, err, errlen))
                goto out;
    double *row = wk_metric_pi_row(e, record, bt->ids[i]);
    for (int s = 0; s < e->n_slots; s++) {
        road_order(attr[s] + i * d, c, hw, rd->abs_values, order, sal);
        for (long o = 0; o < 2; o++)
            for (int r = 0; r < R; r++) {
                const long n = diffid_count(rd->ratios[r], hw), cp = o * R + r;
                if (road_impute(bt->xh + i * d, c, bt->h, bt->w, o == 0 ? order : order + hw - n, n,
                                z ? z + cp * d : NULL, rd->noise, copies + cp * d, scratch)) {
                    snprintf(err, errlen,
                             "ROAD: the imputation of image %lld at ratio %g did not converge (lower the ratio)",
                             (long long)bt->ids[i], rd->ratios[r]);
                    goto out;
                }
            }
        if (forward_hits(e, copies, ncp, bt->labels[i], hits, err, errlen)) goto out;
        double *q = record + rec_slot_base(e->layout, s) + e->layout->road, diff = 0;
        for (int r = 0; r < R; r++) {
            q[r] += hits[r];
            q[R + r] += hits[R + r];
            diff += hits[R + r] - hits[r];
        }
        q[2 * R] += 1;
        rec_pi_put(e->layout, row, s, REC_PI_ROAD, diff / R);
    }
    rc = 0;
out:
    free(z);
    free(copies);
    free(order);
    free(sal);
    free(scratch);
    free(hits);
    return rc;
}

/* The pointing game (Zhang et al., ECCV 2016) and its energy-based form
 * (Wang et al., Score-CAM, CVPR 2020 workshops; docs/metrics.md): on s =
 * Σ_c |A|, a hit when the maximum's pixel centre (the first in pixel order
 * on ties) lies within `tolerance` pixels of a box of the label's class,
 * and the share of s whose pixel centres lie inside such a box. Images
 * without a box of their class have no value. */
static int pointing_image(const struct wk_metric_ctx *e, const struct wk_batch *bt, long i, float *const *attr,
                          double *record, char *err, size_t errlen) {
    enum { MAX_BOXES = 64 };
    struct ds_box all[MAX_BOXES], box[MAX_BOXES];
    const int nall = ds_boxes(e->ds, bt->ids[i], all, MAX_BOXES);
    int nb = 0;
    for (int k = 0; k < nall; k++)
        if (all[k].cls == bt->labels[i]) box[nb++] = all[k];
    if (nb == 0) return 0;
    const long w = bt->w, hw = (long)bt->h * w, d = bt->c * hw;
    const double tol = e->job->pointing.tolerance;
    double *row = wk_metric_pi_row(e, record, bt->ids[i]);
    (void)err, (void)errlen;
    for (int s = 0; s < e->n_slots; s++) {
        const float *a = attr[s] + i * d;
        double best = -1, total = 0, inside = 0;
        long at = 0;
        for (long p = 0; p < hw; p++) {
            double v = 0;
            for (int ch = 0; ch < bt->c; ch++) v += fabs((double)a[ch * hw + p]);
            if (v > best) best = v, at = p;
            total += v;
            const double cx = (double)(p % w) + 0.5, cy = (double)(p / w) + 0.5;
            for (int k = 0; k < nb; k++)
                /* half-open, as the box [xmin, xmax + 1) it maps: a centre on the right or
                 * bottom edge (a resize by 0.5 puts some there) is outside */
                if (cx >= box[k].x0 && cx < box[k].x1 && cy >= box[k].y0 && cy < box[k].y1) {
                    inside += v;
                    break;
                }
        }
        const double cx = (double)(at % w) + 0.5, cy = (double)(at / w) + 0.5;
        double dist = INFINITY;
        for (int k = 0; k < nb; k++) {
            const double dx = fmax(fmax(box[k].x0 - cx, 0), cx - box[k].x1);
            const double dy = fmax(fmax(box[k].y0 - cy, 0), cy - box[k].y1);
            dist = fmin(dist, sqrt(dx * dx + dy * dy));
        }
        double *q = record + rec_slot_base(e->layout, s) + e->layout->point;
        const int hit = dist <= tol;
        q[REC_PG_HITS] += hit;
        q[REC_PG_N] += 1;
        rec_pi_put(e->layout, row, s, REC_PI_POINT_HIT, hit);
        if (total > 0) {
            q[REC_PG_ENERGY] += inside / total;
            q[REC_PG_ENERGY_N] += 1;
            rec_pi_put(e->layout, row, s, REC_PI_POINT_ENERGY, inside / total);
        }
    }
    return 0;
}

int wk_perturb_metrics(const struct wk_metric_ctx *e, const struct wk_batch *bt, const float *orig, float *const *attr,
                       ts_tensor *const *attr_t, double *record, char *err, size_t errlen) {
    const struct job *job = e->job;
    int *group_of = NULL, G = 0, rc = -1;
    int64_t *group64 = NULL;
    ts_tensor *onehot = NULL;
    if (job->faith.on && wk_metric_covers(job->faith.images, e->ds->n, bt->ids, bt->b)) {
        const long hw = (long)bt->h * bt->w;
        ts_tensor *gt = NULL;
        group_of = malloc((size_t)hw * sizeof *group_of);
        group64 = malloc((size_t)hw * sizeof *group64);
        if (!group_of || !group64) {
            snprintf(err, errlen, "out of host memory for the faithfulness groups");
            goto out;
        }
        G = faith_groups(bt->h, bt->w, job->faith.groups, group_of);
        for (long q = 0; q < hw; q++) group64[q] = group_of[q];
        int64_t s_hw[1] = {hw};
        int trc = ts_from_i64(group64, s_hw, 1, e->device, &gt);
        if (trc == TS_OK) trc = ts_onehot_rows(gt, G, &onehot);
        ts_tensor_free(gt);
        if (trc != TS_OK) {
            snprintf(err, errlen, "faithfulness groups: %s", ts_last_error());
            goto out;
        }
    }
    for (long i = 0; i < bt->b; i++) {
        if (job->sensn.on && want(job->sensn.images, e->ds->n, bt->ids[i]) &&
            sensn_image(e, bt, i, orig[i], attr_t, record, err, errlen))
            goto out;
        if (job->faith.on && want(job->faith.images, e->ds->n, bt->ids[i]) &&
            faith_image(e, bt, i, orig[i], attr_t, onehot, G, record, err, errlen))
            goto out;
        if (job->infidelity.on && want(job->infidelity.images, e->ds->n, bt->ids[i]) &&
            infid_image(e, bt, i, orig[i], attr_t, record, err, errlen))
            goto out;
        if (job->fcorr.on && want(job->fcorr.images, e->ds->n, bt->ids[i]) &&
            fcorr_image(e, bt, i, orig[i], attr, record, err, errlen))
            goto out;
        if (job->fest.on && want(job->fest.images, e->ds->n, bt->ids[i]) &&
            fest_image(e, bt, i, orig[i], attr, record, err, errlen))
            goto out;
        if (job->road.on && want(job->road.images, e->ds->n, bt->ids[i]) &&
            road_image(e, bt, i, attr, record, err, errlen))
            goto out;
        if (job->pointing.on && want(job->pointing.images, e->ds->n, bt->ids[i]) &&
            pointing_image(e, bt, i, attr, record, err, errlen))
            goto out;
    }
    rc = 0;
out:
    ts_tensor_free(onehot);
    free(group_of);
    free(group64);
    return rc;
}
