/* src/mpi_util.c — see mpi_util.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* setenv */
#endif
#include "mpi_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gpu_pick.h"

int mpi_any_failed(int failed, char *err, size_t errlen, MPI_Comm comm) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int mine = failed ? rank : size, first = size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (first == size) return 0;
    if (first != 0) {
        char buf[2048];
        if (rank == first) MPI_Send(err, (int)strnlen(err, errlen) + 1, MPI_CHAR, 0, 99, comm);
        if (rank == 0) {
            MPI_Recv(buf, (int)sizeof buf, MPI_CHAR, first, 99, comm, MPI_STATUS_IGNORE);
            buf[sizeof buf - 1] = '\0';
            snprintf(err, errlen, "rank %d: %s", first, buf);
        }
    }
    return 1;
}

void mpi_node_local(MPI_Comm comm, int *local_rank, int *local_size) {
    MPI_Comm node;
    MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_size(node, local_size);
    MPI_Comm_free(&node);
}

int mpi_pick_gpu(int local_rank, int local_size, const char *device, const char **set, char *err, size_t errlen) {
    static char value[256];
    *set = NULL;
    if (device && !strcmp(device, "cpu")) return 0;
    const char *visible = getenv("CUDA_VISIBLE_DEVICES");
    int rc = gpu_pick(visible, local_rank, local_size, value, sizeof value);
    if (rc < 0) {
        char host[256] = "?";
        gethostname(host, sizeof host);
        snprintf(err, errlen,
                 "%s has %d ranks but CUDA_VISIBLE_DEVICES=%s lists fewer GPUs: recal runs one rank per GPU, so "
                 "start at most one rank per listed GPU on each node (--ntasks-per-node), or set device: cpu",
                 host, local_size, visible);
        return -1;
    }
    if (rc == 0) return 0;
    setenv("CUDA_VISIBLE_DEVICES", value, 1);
    *set = value;
    return 0;
}
