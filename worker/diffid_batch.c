/* worker/diffid_batch.c — see diffid_batch.h. */
#include "diffid_batch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wk_pool.h"

/* Where the copies are built (diffid_batch.h). On a GPU, on the device:
 * one rank map per image crosses the bus instead of 2·n_ratios images
 * (18 × 600 KB at 224×224), and the selects are one kernel. On the CPU, on the host: the C
 * fill loop beats libtorch's broadcasting where (the 18 copies of one
 * 3×224×224 image: 1.2 ms on one core against 4.1 ms on two, here).
 * RECAL_DIFFID_COPIES=host|device overrides the choice, so that the CPU
 * tests run the device path too. */
int wk_diffid_copies_on_device(int device) {
    const char *v = getenv("RECAL_DIFFID_COPIES");
    if (v && strcmp(v, "device") == 0) return 1;
    if (v && strcmp(v, "host") == 0) return 0;
    return device != TS_DEV_CPU;
}

/* Images [lo, hi) of one group, on a pool thread, each range with scratch of
 * its own: either their ranking and fill values (rank != NULL) or their
 * perturbed copies. */
struct group_job {
    const float *x, *attr;
    uint32_t *rank;
    float *fill, *pert;
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
            if (j->rank)
                diffid_rank(x, a, j->c, j->hw, j->ratios, j->n_ratios, j->rank + i * j->d,
                            j->fill + i * 2 * j->n_ratios, scratch);
            else
                diffid_perturb(x, a, j->c, j->hw, j->ratios, j->n_ratios, j->pert + i * 2 * j->n_ratios * j->d,
                               scratch);
        }
    }
    free(scratch);
}

int wk_diffid_batch(ts_module *model, int device, int classes, int c, int h, int w, long chunk_samples,
                    const double *ratios, int n_ratios, const float *x, const ts_tensor *x_dev, const float *attr,
                    const int64_t *labels, const float *orig_logit, long b, struct diffid_acc *acc, char *err,
                    size_t errlen) {
    const int copies = 2 * n_ratios, on_device = wk_diffid_copies_on_device(device);
    const long hw = (long)h * w, d = (long)c * hw;
    long group = chunk_samples / copies;
    if (group < 1) group = 1;
    if (group > b) group = b;
    int rc = -1;
    int64_t counts[DIFFID_MAX_RATIOS];
    for (int r = 0; r < n_ratios; r++) counts[r] = diffid_count(ratios[r], d);
    /* device: a rank map (int32; ts_rank_copies checks d < 2^31) and fill
     * values per image; host: the copies themselves */
    uint32_t *rank = on_device ? malloc((size_t)(group * d) * sizeof *rank) : NULL;
    float *fill = on_device ? malloc((size_t)(group * copies) * sizeof *fill) : NULL;
    float *pert = on_device ? NULL : malloc((size_t)(group * copies * d) * sizeof *pert);
    float *logits = malloc((size_t)(group * copies * classes) * sizeof *logits);
    struct wk_pool pool = {0};
    if (!(on_device ? rank && fill : pert != NULL) || !logits) {
        snprintf(err, errlen, "out of host memory for DiffID copies (lower memory_budget_mb)");
        goto fail;
    }
    for (long i0 = 0; i0 < b; i0 += group) {
        long g = b - i0 < group ? b - i0 : group;
        struct group_job gj = {x + i0 * d, attr + i0 * d, rank, fill, pert, c, n_ratios, hw, d, ratios, 0};
        if (ts_parallel_for(g, group_range, &gj) != TS_OK || gj.failed) {
            snprintf(err, errlen, "building DiffID copies: %s", gj.failed ? "out of host memory" : ts_last_error());
            goto fail;
        }
        ts_tensor *pt, *lg;
        int64_t shape[4] = {g * copies, c, h, w};
        if (on_device) {
            ts_tensor *xg, *xt, *rt, *flat;
            int64_t rows[2] = {g, d};
            if (x_dev) { /* the batch is on the device already: only the ranks cross */
                WK_T(&pool, ts_narrow(x_dev, 0, i0, g, &xg), xg);
                WK_T(&pool, ts_reshape(xg, rows, 2, &xt), xt);
            } else {
                WK_T(&pool, ts_from_f32(x + i0 * d, rows, 2, device, &xt), xt);
            }
            WK_T(&pool, ts_from_i32((const int32_t *)rank, rows, 2, device, &rt), rt);
            WK_T(&pool, ts_rank_copies(xt, rt, fill, counts, n_ratios, &flat), flat);
            WK_T(&pool, ts_reshape(flat, shape, 4, &pt), pt);
        } else {
            WK_T(&pool, ts_from_f32(pert, shape, 4, device, &pt), pt);
        }
        WK_T(&pool, ts_module_forward(model, pt, &lg), lg);
        WK_CHECK(ts_to_f32(lg, logits, (size_t)(g * copies * classes)));
        for (long i = 0; i < g; i++)
            diffid_score(logits + i * copies * classes, classes, labels[i0 + i], orig_logit[i0 + i], n_ratios, acc);
        wk_pool_free(&pool);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(rank);
    free(fill);
    free(pert);
    free(logits);
    return rc;
}
