/* coordinator/coord.h — rank 0 plans shards and hands them to whichever
 * rank asks (rank 0 computes too, on a second thread); workers return fixed
 * -size sum/count records; rank 0 keeps one record per shard and sums them in
 * shard order, so the total does not depend on who computed what. */
#ifndef RECAL_COORD_H
#define RECAL_COORD_H
#include <mpi.h>
#include <stddef.h>

#include "coord_book.h"

/* Computes images [first, first+count) into rec (the record length of the
 * run). 0, -1 with a message, or COORD_ABANDONED (the shard was given up:
 * no record; it is computed again on resume). */
typedef int (*coord_shard_fn)(void *ctx, long first, long count, double *rec, char *err, size_t errlen);
/* total ⊕= rec (the record contract's fold, jobs/record.h). */
typedef void (*coord_fold_fn)(void *ctx, double *total, const double *rec);
/* The look-ahead a task may use: called once the shard's last batch is
 * read (before it computes), it takes the shard this rank computes next
 * from the plan now, so the task can read that shard's first batch while
 * the current one ends and the rank never waits for the hand-out. 1 and
 * its range, or 0: none (the plan is handed out, or a stop came). At most
 * one call a shard; a task that never calls it is handed its next shard
 * when it returns, as before. */
typedef int (*coord_next_fn)(void *arg, long *first, long *count);
/* Gives the task (its shard_ctx) the rank's look-ahead before the hand-out,
 * and (NULL, NULL) after it. */
typedef void (*coord_bind_fn)(void *shard_ctx, coord_next_fn next, void *arg);

struct coord_opts {
    long n_images;
    long shard_images;
    int progress_tty;   /* rank 0: redraw one progress line on stderr */
    const char *unit;   /* what n_images counts, for the progress line (NULL: "images") */
    double log_every_s; /* otherwise a progress line every this many seconds */
    /* The stage the progress line names: "stage 1/3 evaluation: ..."
     * (NULL name: "evaluation"; 0 stages: 1/1). */
    const char *stage_name;
    int stage_no, n_stages;
    struct coord_book *book; /* rank 0: per-shard records + journal; NULL on the others */
    /* Any task: the coordinator knows records only by their length and
     * fold. `recal run` computes shards with the engine (worker/), `recal
     * bench --dispatch` with a no-op, so that what it times is the hand-out
     * alone. */
    coord_shard_fn shard_fn;
    void *shard_ctx;
    size_t record_len;        /* doubles per record */
    coord_fold_fn fold;       /* NULL: total stays zero */
    coord_bind_fn bind_ahead; /* NULL: the task never asks ahead */
    void *fold_ctx;
    int no_journal;      /* count a shard without appending it to the journal */
    int no_local_worker; /* rank 0 only hands out shards (it computes otherwise) */
    /* The watchdog: once a shard has finished anywhere, a rank that holds a
     * shard longer than max(watchdog_s, 20 × the longest shard so far)
     * without a word is taken for hung (a stopped process, a wedged GPU).
     * 0: off. */
    double watchdog_s;
};

/* COORD_HUNG: rank 0 only, the others are still inside coord_run (the hung
 * one may never answer): rank 0 stops resumably with MPI_Abort. */
enum { COORD_INTERRUPTED = 1, COORD_HUNG = 2 };
/* A shard_fn's result for a shard it gave up (a stop signal's grace). */
enum { COORD_ABANDONED = 1 };

/* Run every shard of the plan that the book does not hold yet over the
 * communicator, journaling each before it counts. On rank 0, total
 * (wk_record_len doubles) receives the sums in shard order. Returns 0 on
 * every rank when every shard is done; COORD_INTERRUPTED on every rank when
 * a signal (coord_catch_signals) stopped the hand-out and the finished
 * shards are journaled; -1 on every rank when any rank failed (rank 0's err
 * then holds the first failure, prefixed with the rank). Collective. */
int coord_run(const struct coord_opts *o, MPI_Comm comm, double *total, char *err, size_t errlen);

/* SIGTERM, SIGINT, SIGUSR1 (Slurm's --signal=B:USR1@T, mpirun forwards
 * USR1 as-is) ask for a clean stop: no new shards, in-flight ones finish
 * and are journaled. Install on every rank; the handlers only set a flag
 * and note the time. */
int coord_catch_signals(void);
/* The signal that asked for a stop, or 0. */
int coord_stop_signal(void);
/* How long shards in flight may still run after the stop signal reached
 * this rank (the job's stop_grace_seconds): a time limit or a preemption
 * must not kill the job before it has journaled and exited 3. */
void coord_set_stop_grace(double seconds);
/* Non-zero once the grace has passed since this rank's stop signal: the
 * engine's abandon hook, so a shard still running is given up between
 * batches (no record, no artefact: it is computed again on resume).
 * Thread-safe. */
int coord_stop_overdue(void);
#endif
