/* worker/diffid_batch.c — see diffid_batch.h. */
#include "diffid_batch.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "wk_pool.h"

/* The perturbed copies of images [lo, hi) of one group, on a pool thread;
 * each range sorts with scratch of its own. */
struct perturb_job {
    const float *x, *attr;
    float *pert;
    int c, n_ratios, copies;
    long hw, d;
    const double *ratios;
    _Atomic int failed;
};

static void perturb_range(void *ctx, int64_t lo, int64_t hi) {
    struct perturb_job *j = ctx;
    void *scratch = malloc(diffid_scratch_bytes(j->c, j->hw));
    if (!scratch) {
        j->failed = 1;
    } else {
        for (int64_t i = lo; i < hi; i++)
            diffid_perturb(j->x + i * j->d, j->attr + i * j->d, j->c, j->hw, j->ratios, j->n_ratios,
                           j->pert + i * j->copies * j->d, scratch);
    }
    free(scratch);
}

int wk_diffid_batch(ts_module *model, int device, int classes, int c, int h, int w, long chunk_samples,
                    const double *ratios, int n_ratios, const float *x, const float *attr, const int64_t *labels,
                    const float *orig_logit, long b, struct diffid_acc *acc, char *err, size_t errlen) {
    const int copies = 2 * n_ratios;
    const long hw = (long)h * w, d = (long)c * hw;
    long group = chunk_samples / copies;
    if (group < 1) group = 1;
    if (group > b) group = b;
    int rc = -1;
    float *pert = malloc((size_t)(group * copies * d) * sizeof *pert);
    float *logits = malloc((size_t)(group * copies * classes) * sizeof *logits);
    struct wk_pool pool = {0};
    if (!pert || !logits) {
        snprintf(err, errlen, "out of host memory for DiffID copies (lower memory_budget_mb)");
        goto fail;
    }
    for (long i0 = 0; i0 < b; i0 += group) {
        long g = b - i0 < group ? b - i0 : group;
        struct perturb_job pj = {x + i0 * d, attr + i0 * d, pert, c, n_ratios, copies, hw, d, ratios, 0};
        if (ts_parallel_for(g, perturb_range, &pj) != TS_OK || pj.failed) {
            snprintf(err, errlen, "building DiffID copies: %s", pj.failed ? "out of host memory" : ts_last_error());
            goto fail;
        }
        ts_tensor *pt, *lg;
        int64_t shape[4] = {g * copies, c, h, w};
        WK_T(&pool, ts_from_f32(pert, shape, 4, device, &pt), pt);
        WK_T(&pool, ts_module_forward(model, pt, &lg), lg);
        WK_CHECK(ts_to_f32(lg, logits, (size_t)(g * copies * classes)));
        for (long i = 0; i < g; i++)
            diffid_score(logits + i * copies * classes, classes, labels[i0 + i], orig_logit[i0 + i], n_ratios, acc);
        wk_pool_free(&pool);
    }
    rc = 0;
fail:
    wk_pool_free(&pool);
    free(pert);
    free(logits);
    return rc;
}
