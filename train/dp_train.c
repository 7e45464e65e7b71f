/* src/dp_train.c — see dp_train.h. */
#include "dp_train.h"

#include "dp_nccl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dp_open(struct dp_ctx *dp, ts_module *m, MPI_Comm comm, int device, char *err, size_t errlen) {
    memset(dp, 0, sizeof *dp);
    dp->comm = comm;
    MPI_Comm_rank(comm, &dp->rank);
    MPI_Comm_size(comm, &dp->size);
    int ok = ts_grads_numel(m, &dp->n) == TS_OK && dp->n > 0 && dp->n < INT_MAX;
    if (ok) ok = (dp->grads = malloc((size_t)dp->n * sizeof *dp->grads)) != NULL;
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    if (!all) {
        snprintf(err, errlen, "cannot set up data-parallel training (%lld parameters): %s", (long long)dp->n,
                 ok                   ? "another rank failed"
                 : ts_last_error()[0] ? ts_last_error()
                                      : "out of memory");
        dp_close(dp);
        return -1;
    }
    /* GPUs on every rank: sum the gradients in device memory over NCCL;
     * otherwise (or when NCCL cannot start) host copies over MPI. */
    int cuda = device == TS_DEV_CUDA, all_cuda = 0;
    MPI_Allreduce(&cuda, &all_cuda, 1, MPI_INT, MPI_MIN, comm);
    char why[512] = "";
    if (all_cuda && dp_nccl_open(&dp->nccl, comm, why, sizeof why) && dp->rank == 0)
        fprintf(stderr, "recal: gradient all-reduce over MPI (NCCL unavailable: %s)\n", why);
    static int said; /* once per process: a Diff-ROAR run opens one per fine-tune */
    if (dp->rank == 0 && !said++)
        fprintf(stderr, "recal: data-parallel training on %d rank(s), gradient all-reduce over %s (%lld floats)\n",
                dp->size, dp->nccl ? "NCCL" : "MPI", (long long)dp->n);
    return 0;
}

void dp_close(struct dp_ctx *dp) {
    dp_nccl_close(dp->nccl);
    dp->nccl = NULL;
    free(dp->grads);
    dp->grads = NULL;
}

/* The gradient sum in device memory: flat copy, NCCL sum, copy back. */
static int sum_grads_nccl(struct dp_ctx *dp, ts_module *m, char *err, size_t errlen) {
    ts_tensor *flat = NULL;
    void *ptr = NULL;
    int rc = -1;
    if (ts_grads_flat(m, &flat) || ts_data_ptr(flat, &ptr) || ts_device_sync(TS_DEV_CUDA)) {
        snprintf(err, errlen, "%s", ts_last_error());
        goto out;
    }
    if (dp_nccl_sum_f32(dp->nccl, ptr, (size_t)dp->n, err, errlen)) goto out;
    if (ts_device_sync(TS_DEV_CUDA) || ts_grads_set_flat(m, flat)) {
        snprintf(err, errlen, "%s", ts_last_error());
        goto out;
    }
    rc = 0;
out:
    ts_tensor_free(flat);
    return rc;
}

void dp_slice(long b, int rank, int size, long *lo, long *hi) {
    long q = b / size, r = b % size;
    *lo = rank * q + (rank < r ? rank : r);
    *hi = *lo + q + (rank < r ? 1 : 0);
}

int dp_step(struct dp_ctx *dp, ts_module *m, ts_sgd *opt, int device, const float *x, const int64_t *y, long b_local,
            long b_global, int c, int h, int w, double *loss_sum, long *correct, char *err, size_t errlen) {
    double local[3] = {0, 0, 0}, global[3]; /* loss sum, correct, failed ranks + 1 (lowest wins) */
    ts_tensor *xt = NULL, *yt = NULL;
    int64_t hits = 0;
    int bad = 0;
    if (b_local < 0) { /* the caller failed before the step: tell the others */
        bad = 1;
        snprintf(err, errlen, "this rank failed before the step");
    } else if (b_local > 0) {
        int64_t shape[4] = {b_local, c, h, w}, ys[1] = {b_local};
        bad = ts_from_f32(x, shape, 4, device, &xt) || ts_from_i64(y, ys, 1, device, &yt);
    }
    /* mean over the global batch: each rank scales its sum by 1 / b_global */
    if (b_local >= 0) {
        if (!bad) bad = ts_train_grads(m, xt, yt, 1.0 / (double)b_global, &local[0], &hits) != TS_OK;
        if (!bad && !dp->nccl) bad = ts_grads_get(m, dp->grads, dp->n) != TS_OK;
        if (bad) snprintf(err, errlen, "%s", ts_last_error());
    }
    ts_tensor_free(xt);
    ts_tensor_free(yt);
    local[1] = (double)hits;
    local[2] = bad ? 1.0 / (double)(dp->rank + 1) : 0; /* the max names the lowest failing rank */
    MPI_Allreduce(local, global, 2, MPI_DOUBLE, MPI_SUM, dp->comm);
    MPI_Allreduce(&local[2], &global[2], 1, MPI_DOUBLE, MPI_MAX, dp->comm);
    if (global[2] > 0) {
        if (!bad)
            snprintf(err, errlen, "rank %d failed in a training step (see its message)",
                     (int)(1.0 / global[2] + 0.5) - 1);
        return -1;
    }
    if (dp->nccl) {
        /* a failure here is a device or network fault, not the data's: the
         * run stops (exit 2) on the ranks that see it, the others in NCCL */
        if (sum_grads_nccl(dp, m, err, errlen)) return -1;
    } else {
        MPI_Allreduce(MPI_IN_PLACE, dp->grads, (int)dp->n, MPI_FLOAT, MPI_SUM, dp->comm);
        if (ts_grads_set(m, dp->grads, dp->n) != TS_OK) {
            snprintf(err, errlen, "%s", ts_last_error());
            return -1;
        }
    }
    if (ts_sgd_step(opt) != TS_OK) {
        /* the same on every rank (same model, same sums), so no agreement is needed */
        snprintf(err, errlen, "%s", ts_last_error());
        return -1;
    }
    if (loss_sum) *loss_sum = global[0];
    if (correct) *correct = (long)global[1];
    return 0;
}
