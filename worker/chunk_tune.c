/* worker/chunk_tune.c — see chunk_tune.h. */
#include "chunk_tune.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

double wk_probe_rate(ts_module *m, int device, int c, int h, int w, long n, int grad, int reps) {
    const long d = (long)c * h * w;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    int64_t *lab = calloc((size_t)n, sizeof *lab);
    ts_tensor *xt = NULL, *lt = NULL;
    double rate = -1;
    int64_t s4[4] = {n, c, h, w}, s1[1] = {n};
    if (!x || !lab) goto out;
    /* Values do not change the cost; a fixed pattern keeps runs repeatable. */
    for (long i = 0; i < n * d; i++) x[i] = (float)((i * 2654435761u) % 2000) / 1000.0f - 1.0f;
    if (ts_from_f32(x, s4, 4, device, &xt) || ts_from_i64(lab, s1, 1, device, &lt)) goto out;
    double t0 = 0;
    for (int r = -1; r < reps; r++) {
        /* CUDA kernels run after their calls return: wait for them on both
         * sides of the timed loop, or the queue is what gets measured */
        if (r == 0 && ts_device_sync(device) == TS_OK) t0 = clock_now_s();
        ts_tensor *g = NULL;
        int rc = grad ? ts_objective_grad(m, xt, lt, TS_OBJ_LOGIT, &g, NULL, NULL) : ts_module_forward(m, xt, &g);
        ts_tensor_free(g);
        if (rc) goto out;
    }
    if (ts_device_sync(device)) goto out;
    rate = (double)(n * reps) / (clock_now_s() - t0);
out:
    free(x);
    free(lab);
    ts_tensor_free(xt);
    ts_tensor_free(lt);
    return rate;
}

long wk_tune_chunk(ts_module *m, int device, int c, int h, int w, long max_chunk, int grad, double *rate) {
    long best = max_chunk < 16 ? max_chunk : 16;
    double best_rate = -1;
    for (long n = best;; n *= 2) {
        if (n > max_chunk) n = max_chunk;
        /* Enough repetitions for ~0.2 s of work, judged from one call. */
        double r1 = wk_probe_rate(m, device, c, h, w, n, grad, 1);
        int reps = r1 > 0 ? (int)(0.2 * r1 / (double)n) : 1;
        reps = reps < 1 ? 1 : reps > 20 ? 20 : reps;
        double r = reps > 1 ? wk_probe_rate(m, device, c, h, w, n, grad, reps) : r1;
        if (getenv("RECAL_DEBUG_TUNE")) fprintf(stderr, "tune: chunk %ld: %.1f samples/s (%d reps)\n", n, r, reps);
        /* Prefer the larger chunk within 5%: the probe leaves out the
         * per-chunk work around the model (gathers, estimator terms). */
        if (r >= 0.95 * best_rate) {
            best_rate = r;
            best = n;
        } else if (r < 0.8 * best_rate) {
            break;
        }
        if (n == max_chunk) break;
    }
    if (rate) *rate = best_rate;
    return best;
}
