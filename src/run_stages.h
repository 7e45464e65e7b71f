/* src/run_stages.h — what every stage of `recal run` shares, and the two
 * stages a Diff-ROAR config (metrics.roar) adds after the evaluation of its
 * split: stage 1, the train split's rank maps (RUN_DIR/train/masks), and
 * stage 2, the fine-tunes (train/roar_stage.h). Each stage is a plan of
 * shards farmed by the coordinator and journaled in RUN_DIR/journal as a
 * section of its own (coordinator/journal.h); a stage begins once the one
 * before it is complete, so --resume continues at the first missing shard
 * of whichever stage a stop interrupted. */
#ifndef RECAL_RUN_STAGES_H
#define RECAL_RUN_STAGES_H
#include <stddef.h>

#include "coord.h"
#include "job.h"

/* The engine as the coordinator's task (coord_shard_fn, coord_fold_fn,
 * coord_bind_fn: the engine reads the next shard's first batch ahead; ctx:
 * a struct wk_engine). */
int run_engine_shard(void *ctx, long first, long count, double *rec, char *err, size_t errlen);
void run_engine_bind(void *ctx, coord_next_fn next, void *arg);
void run_engine_fold(void *ctx, double *total, const double *rec);

/* A journaled shard counts only with the files it wrote (job's
 * outputs.attributions / masks under artefact_dir): one whose files are
 * gone is taken out of the book and computed again. */
void run_recheck_outputs(struct coord_book *b, const struct job *job, const char *artefact_dir, long n_images);

struct run_roar_in {
    const struct job *job; /* the evaluation's job, metrics.roar on */
    const char *run_dir;
    int resume;              /* rank 0: the run continues (--resume) */
    long chunk;              /* the run's chunk_samples */
    int progress_tty;        /* rank 0 */
    struct coord_book *book; /* rank 0: closed and opened again per stage */
    double *coord_seconds;   /* rank 0: the train stage's dispatch bookkeeping is added here */
};

/* Stages 1 and 2. Collective. Returns 0 with *acc (rank 0: the
 * fine-tunes' accuracies in roar_task_of order, malloc'ed; NULL
 * elsewhere), COORD_INTERRUPTED (every rank), COORD_HUNG (rank 0 only, as
 * coord_run), or -1 with a message (every rank). *stage: the stage that
 * ended it (1 or 2). */
int run_roar_stages(const struct run_roar_in *in, double **acc, int *stage, char *err, size_t errlen);
#endif
