/* src/mpi_util.h — collective error agreement: every rank learns whether any
 * rank failed, and rank 0 gets the lowest failing rank's message to print. */
#ifndef RECAL_MPI_UTIL_H
#define RECAL_MPI_UTIL_H
#include <mpi.h>
#include <stddef.h>

/* Collective. Returns 1 on every rank when `failed` was set on any rank; on
 * rank 0 err then holds "rank r: message" (or rank 0's own message). */
int mpi_any_failed(int failed, char *err, size_t errlen, MPI_Comm comm);
/* Ranks on this node and this rank's index among them. */
void mpi_node_local(MPI_Comm comm, int *local_rank, int *local_size);
/* One GPU per rank: unless device is "cpu", narrow CUDA_VISIBLE_DEVICES to
 * this rank's device (util/gpu_pick.h) before libtorch initialises CUDA.
 * 0 with *set the value set (NULL when it was left alone), or -1 with a
 * message when the node lists fewer GPUs than it has ranks. Local: the
 * caller agrees on failure (mpi_any_failed). */
int mpi_pick_gpu(int local_rank, int local_size, const char *device, const char **set, char *err, size_t errlen);
#endif
