/* train/dp_train.h — data-parallel SGD. Every rank holds the same model,
 * computes the gradients of its slice of each global batch, the flat
 * gradients are summed across ranks (fp32, counts in elements: NCCL in
 * device memory when every rank is on CUDA, else MPI_Allreduce of host
 * copies; dp_nccl.h) and every
 * rank takes the same SGD step, so N ranks train like one process on the
 * global batch (up to float summation order). BatchNorm statistics are the
 * local slice's (no SyncBatchNorm); rank 0's model is the one saved. */
#ifndef RECAL_DP_TRAIN_H
#define RECAL_DP_TRAIN_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "torch_shim.h"

struct dp_nccl;

struct dp_ctx {
    MPI_Comm comm;
    int rank, size;
    float *grads;         /* the flat host gradient buffer of the MPI path, n floats */
    struct dp_nccl *nccl; /* non-NULL: gradients summed on the GPUs */
    int64_t n;
};

/* Collective. 0, or -1 with err set (same outcome on every rank). device:
 * where this rank's model lives (TS_DEV_CUDA on all ranks → NCCL). */
int dp_open(struct dp_ctx *dp, ts_module *m, MPI_Comm comm, int device, char *err, size_t errlen);
void dp_close(struct dp_ctx *dp);

/* This rank's images [lo, hi) of a global batch of b: contiguous slices,
 * the first b % size ranks one image more. */
void dp_slice(long b, int rank, int size, long *lo, long *hi);

/* Collective: one step on this rank's b_local images (x, y on the host;
 * b_local may be 0, and -1 says this rank failed before the step, so that
 * every rank stops instead of waiting for it) of a global batch of b_global. loss_sum and correct get
 * the global sums. Returns 0, or -1 on every rank when any rank failed
 * (err: this rank's message, or which rank failed). */
int dp_step(struct dp_ctx *dp, ts_module *m, ts_sgd *opt, int device, const float *x, const int64_t *y, long b_local,
            long b_global, int c, int h, int w, double *loss_sum, long *correct, char *err, size_t errlen);
#endif
