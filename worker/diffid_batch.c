/* worker/diffid_batch.c — see diffid_batch.h. */
#include "diffid_batch.h"

#include <stdio.h>
#include <stdlib.h>

#include "wk_pool.h"

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
    long *order = malloc((size_t)d * sizeof *order);
    float *sal = malloc((size_t)d * sizeof *sal);
    struct wk_pool pool = {0};
    if (!pert || !logits || !order || !sal) {
        snprintf(err, errlen, "out of host memory for DiffID copies (lower memory_budget_mb)");
        goto fail;
    }
    for (long i0 = 0; i0 < b; i0 += group) {
        long g = b - i0 < group ? b - i0 : group;
        for (long i = 0; i < g; i++)
            diffid_perturb(x + (i0 + i) * d, attr + (i0 + i) * d, c, hw, ratios, n_ratios, pert + i * copies * d,
                           order, sal);
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
    free(order);
    free(sal);
    return rc;
}
