/* worker/diffid_batch.c — see diffid_batch.h. */
#include "diffid_batch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wk_pool.h"

/* Where DiffID runs (diffid_batch.h): on the model's device, GPU or CPU —
 * the ranking (a stable sort), the copies (one select) and the scores, with
 * the maps already there; only 4·n_ratios sums a chunk come back. The
 * host's radix sort and fill loop (the path before issue #21) were no
 * faster on the CPU once the maps no longer had to come back for them
 * (2-core VM, `recal bench --case e2e`: the demo CNN 145 against 140
 * images/s with one estimator, 99 against 71 with three; PreActResNet-18
 * 6.1 against 4.6; ResNet-50's DiffID within the VM's noise).
 * RECAL_DIFFID_COPIES=host keeps the maps on the host for DiffID, and the
 * tests compare both. */
int wk_diffid_copies_on_device(int device) {
    const char *v = getenv("RECAL_DIFFID_COPIES");
    if (v && strcmp(v, "device") == 0) return 1;
    if (v && strcmp(v, "host") == 0) return 0;
    (void)device;
    return 1;
}

/* Images [lo, hi) of one group, on a pool thread, each range with scratch of
 * its own: their perturbed copies (the host path). */
struct group_job {
    const float *x, *attr;
    float *pert;
    int c, n_ratios;
    long hw, d;
    const double *ratios;
    _Atomic int failed;
};

static void group_range(void *ctx, int64_t lo, int64_t hi) {
    struct group_job *j = ctx;
    void *scratch = malloc(diffid_scratch_bytes(j->c, j->hw));
    if (!scratch) {
        j->failed = 1;
    } else {
        for (int64_t i = lo; i < hi; i++) {
            const float *x = j->x + i * j->d, *a = j->attr + i * j->d;
            diffid_perturb(x, a, j->c, j->hw, j->ratios, j->n_ratios, j->pert + i * 2 * j->n_ratios * j->d, scratch);
        }
    }
    free(scratch);
}

int wk_diffid_batch_dev(ts_module *model, int classes, int c, int h, int w, long chunk_samples, const double *ratios,
                        int n_ratios, const ts_tensor *x_dev, const ts_tensor *attr_dev, const ts_tensor *y_dev,
                        const ts_tensor *orig_dev, long b, struct diffid_acc *acc, double *per_image, char *err,
                        size_t errlen) {
    (void)classes; /* the scores reduce on the device, whatever the class count */
    const int copies = 2 * n_ratios;
    const long d = (long)c * h * w;
    long group = chunk_samples / copies;
    if (group < 1) group = 1;
    if (group > b) group = b;
    int64_t counts[DIFFID_MAX_RATIOS];
    for (int r = 0; r < n_ratios; r++) counts[r] = diffid_count(ratios[r], d);
    struct wk_pool pool = {0}, chunk = {0};
    ts_tensor *x2, *a2, *t_counts;
    int64_t rows[2] = {b, d}, shape[4] = {0, c, h, w}, s_r[1] = {n_ratios};
    WK_T(&pool, ts_from_i64(counts, s_r, 1, ts_device_of(x_dev), &t_counts), t_counts); /* once a batch */
    WK_T(&pool, ts_reshape(x_dev, rows, 2, &x2), x2);
    WK_T(&pool, ts_reshape(attr_dev, rows, 2, &a2), a2);
    for (long i0 = 0; i0 < b; i0 += group) {
        const long g = b - i0 < group ? b - i0 : group;
        ts_tensor *xg, *ag, *yg, *og, *rk, *fill, *flat, *pt, *lg;
        double sums[4 * DIFFID_MAX_RATIOS];
        WK_T(&chunk, ts_narrow(x2, 0, i0, g, &xg), xg);
        WK_T(&chunk, ts_narrow(a2, 0, i0, g, &ag), ag);
        WK_T(&chunk, ts_narrow(y_dev, 0, i0, g, &yg), yg);
        WK_T(&chunk, ts_narrow(orig_dev, 0, i0, g, &og), og);
        if (ts_diffid_rank(xg, ag, c, t_counts, &rk, &fill) != TS_OK) {
            snprintf(err, errlen, "%s", ts_last_error());
            goto fail;
        }
        wk_pool_add(&chunk, rk);
        wk_pool_add(&chunk, fill);
        WK_T(&chunk, ts_rank_copies(xg, rk, fill, t_counts, &flat), flat);
        shape[0] = g * copies;
        WK_T(&chunk, ts_reshape(flat, shape, 4, &pt), pt);
        WK_T(&chunk, ts_module_forward(model, pt, &lg), lg);
        WK_CHECK(ts_diffid_score(lg, yg, og, n_ratios, sums, per_image ? per_image + 2 * i0 : NULL));
        for (int r = 0; r < n_ratios; r++) {
            acc->del_correct[r] += sums[r];
            acc->ins_correct[r] += sums[n_ratios + r];
            acc->del_logit[r] += sums[2 * n_ratios + r];
            acc->ins_logit[r] += sums[3 * n_ratios + r];
        }
        wk_pool_free(&chunk);
    }
    wk_pool_free(&pool);
    return 0;
fail:
    wk_pool_free(&chunk);
    wk_pool_free(&pool);
    return -1;
}

/* The device path for host maps (recal bench): maps, labels and logits go
 * up, the rest is wk_diffid_batch_dev. */
static int upload_and_run(ts_module *model, int device, int classes, int c, int h, int w, long chunk_samples,
                          const double *ratios, int n_ratios, const float *x, const ts_tensor *x_dev, const float *attr,
                          const int64_t *labels, const float *orig_logit, long b, struct diffid_acc *acc,
                          double *per_image, char *err, size_t errlen) {
    struct wk_pool pool = {0};
    const ts_tensor *xd = x_dev;
    ts_tensor *xu, *ad, *yd, *od;
    int64_t s4[4] = {b, c, h, w}, s2[2] = {b, (long)c * h * w}, s1[1] = {b};
    int rc = -1;
    if (!xd) {
        WK_T(&pool, ts_from_f32(x, s4, 4, device, &xu), xu);
        xd = xu;
    }
    WK_T(&pool, ts_from_f32(attr, s2, 2, device, &ad), ad);
    WK_T(&pool, ts_from_i64(labels, s1, 1, device, &yd), yd);
    WK_T(&pool, ts_from_f32(orig_logit, s1, 1, device, &od), od);
    rc = wk_diffid_batch_dev(model, classes, c, h, w, chunk_samples, ratios, n_ratios, xd, ad, yd, od, b, acc,
                             per_image, err, errlen);
fail:
    wk_pool_free(&pool);
    return rc;
}

int wk_diffid_batch(ts_module *model, int device, int classes, int c, int h, int w, long chunk_samples,
                    const double *ratios, int n_ratios, const float *x, const ts_tensor *x_dev, const float *attr,
                    const int64_t *labels, const float *orig_logit, long b, struct diffid_acc *acc, double *per_image,
                    char *err, size_t errlen) {
    const int copies = 2 * n_ratios;
    const long hw = (long)h * w, d = (long)c * hw;
    if (wk_diffid_copies_on_device(device))
        return upload_and_run(model, device, classes, c, h, w, chunk_samples, ratios, n_ratios, x, x_dev, attr, labels,
                              orig_logit, b, acc, per_image, err, errlen);
    long group = chunk_samples / copies;
    if (group < 1) group = 1;
    if (group > b) group = b;
    int rc = -1;
    struct wk_pool pool = {0};
    float *pert = malloc((size_t)(group * copies * d) * sizeof *pert);
    float *logits = malloc((size_t)(group * copies * classes) * sizeof *logits);
    if (!pert || !logits) {
        snprintf(err, errlen, "out of host memory for DiffID copies (lower memory_budget_mb)");
        goto fail;
    }
    for (long i0 = 0; i0 < b; i0 += group) {
        long g = b - i0 < group ? b - i0 : group;
        struct group_job gj = {x + i0 * d, attr + i0 * d, pert, c, n_ratios, hw, d, ratios, 0};
        if (ts_parallel_for(g, group_range, &gj) != TS_OK || gj.failed) {
            snprintf(err, errlen, "building DiffID copies: %s", gj.failed ? "out of host memory" : ts_last_error());
            goto fail;
        }
        ts_tensor *pt, *lg;
        int64_t shape[4] = {g * copies, c, h, w};
        WK_T(&pool, ts_from_f32(pert, shape, 4, device, &pt), pt);
        WK_T(&pool, ts_module_forward(model, pt, &lg), lg);
        WK_CHECK(ts_to_f32(lg, logits, (size_t)(g * copies * classes)));
        for (long i = 0; i < g; i++) {
            /* the image alone first, then into the sums: 0 + v is v, so the
             * sums are what adding straight into acc gives */
            struct diffid_acc one = {0};
            diffid_score(logits + i * copies * classes, classes, labels[i0 + i], orig_logit[i0 + i], n_ratios, &one);
            for (int r = 0; r < n_ratios; r++) {
                acc->del_correct[r] += one.del_correct[r];
                acc->ins_correct[r] += one.ins_correct[r];
                acc->del_logit[r] += one.del_logit[r];
                acc->ins_logit[r] += one.ins_logit[r];
            }
            if (per_image) diffid_image_diffs(&one, n_ratios, per_image + 2 * (i0 + i));
        }
        wk_pool_free(&pool);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(pert);
    free(logits);
    return rc;
}
