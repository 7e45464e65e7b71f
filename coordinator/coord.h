/* coordinator/coord.h — rank 0 plans shards and hands them to whichever
 * rank asks (rank 0 computes too, on a second thread); workers return fixed
 * -size sum/count records; rank 0 keeps one record per shard and sums them in
 * shard order, so the total does not depend on who computed what. */
#ifndef RECAL_COORD_H
#define RECAL_COORD_H
#include <mpi.h>
#include <stddef.h>

#include "engine.h"

struct coord_opts {
    long n_images;
    long shard_images;
    int progress_tty;     /* rank 0: redraw one progress line on stderr */
    double log_every_s;   /* otherwise a progress line every this many seconds */
};

/* Run every shard of the plan over the communicator. On rank 0, total
 * (wk_record_len doubles) receives the sums. Returns 0 on every rank when
 * the run succeeded, -1 on every rank when any rank failed (rank 0's err
 * then holds the first failure, prefixed with the rank). Collective. */
int coord_run(struct wk_engine *e, const struct coord_opts *o, MPI_Comm comm, double *total, char *err,
              size_t errlen);
#endif
