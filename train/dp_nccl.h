/* train/dp_nccl.h — the NCCL gradient all-reduce of data-parallel training on
 * GPUs: a communicator over the ranks of an MPI communicator (unique id
 * broadcast with MPI) and an in-place fp32 sum of device memory, counts in
 * elements. dp_train uses it when the model is on CUDA and falls back to
 * MPI_Allreduce of host copies otherwise (same interface, same sums up to
 * summation order). */
#ifndef RECAL_DP_NCCL_H
#define RECAL_DP_NCCL_H
#include <mpi.h>
#include <stddef.h>

struct dp_nccl;

/* Collective over comm: 0 with *out set on every rank, or -1 on every rank
 * (err says why: no libnccl, an init failure, or another rank's). */
int dp_nccl_open(struct dp_nccl **out, MPI_Comm comm, char *err, size_t errlen);
/* In-place sum of `count` floats of device memory across the ranks; queued
 * on the legacy default stream (the caller syncs before reading). */
int dp_nccl_sum_f32(struct dp_nccl *n, void *buf, size_t count, char *err, size_t errlen);
void dp_nccl_close(struct dp_nccl *n); /* NULL ok */
/* recal --version: the NCCL version code of the nccl.h built against and of
 * the libnccl.so.2 already in the process (libtorch's), 0 for either that is
 * not there (e.g. 22807 for 2.28.7). */
void dp_nccl_versions(int *built, int *loaded);
#endif
