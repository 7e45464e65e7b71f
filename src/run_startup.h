/* src/run_startup.h — what a rank of `recal run` spent before it asked for
 * its first shard, logged as one line (docs/performance.md, "Start-up"). */
#ifndef RECAL_RUN_STARTUP_H
#define RECAL_RUN_STARTUP_H

struct wk_engine;

/* Seconds; 0 for a step this rank did not take. */
struct run_startup {
    double exec_s;        /* exec to cmd_run: the dynamic loader (libtorch's libraries, static initializers) */
    double t0;            /* clock_now_s() at cmd_run's entry */
    double mpi_init_s;    /* MPI_Init_thread */
    double listing_s;     /* the split's file list: listed (rank 0), or received */
    double fingerprint_s; /* rank 0: the model's and the data's sha256 (for --resume) */
    double plan_s;        /* rank 0: the shard plan (its size; no probe since shards_per_rank) */
};

/* The line "start-up: T s from exec to the hand-out of shards: ..." in this
 * rank's log, with the engine's own open times; "the rest" is the config,
 * the run directory and the waits for rank 0. */
void run_startup_log(const struct run_startup *s, const struct wk_engine *e);
#endif
