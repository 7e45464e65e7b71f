/* src/run_launch.h — `recal run --ranks N`: recal starts mpirun itself and
 * speaks for the ranks afterwards (run_launch.c). */
#ifndef RECAL_RUN_LAUNCH_H
#define RECAL_RUN_LAUNCH_H
#include "run_args.h"

/* Start `mpirun -n a->ranks` of this command (without --ranks, with the
 * run directory fixed here), wait, and explain its end: a rank killed by a
 * signal takes the job down, rank 0 included, and mpirun exits 128 +
 * signal; the run directory keeps every journaled shard, so the launcher
 * names the rank and host (from mpirun's own line) and exits 3 with the
 * command that resumes. An EXIT_* code. */
int run_launch_ranks(struct run_args *a);
#endif
