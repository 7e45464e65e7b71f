/* src/mpi_util.c — see mpi_util.h. */
#include "mpi_util.h"

#include <stdio.h>
#include <string.h>

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
