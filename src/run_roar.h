/* src/run_roar.h — the two stages a Diff-ROAR config (metrics.roar) adds
 * after the evaluation of its split (run_stage.h): stage 1, the train
 * split's rank maps (RUN_DIR/train/masks), and stage 2, the fine-tunes
 * (train/roar_stage.h). A stage begins once the one before it is complete,
 * so --resume continues at the first missing shard of whichever stage a
 * stop interrupted. */
#ifndef RECAL_RUN_ROAR_H
#define RECAL_RUN_ROAR_H
#include <stddef.h>

#include "coord.h"
#include "job.h"

struct run_roar_in {
    const struct job *job; /* the evaluation's job, metrics.roar on */
    const char *run_dir;
    int resume;              /* rank 0: the run continues (--resume) */
    long chunk;              /* the run's chunk_samples */
    int progress_tty;        /* rank 0 */
    struct coord_book *book; /* rank 0: closed and opened again per stage */
    double *coord_seconds;   /* rank 0: the stages' dispatch bookkeeping is added here */
};

/* Stages 1 and 2. Collective. Returns 0 with *acc (rank 0: the
 * fine-tunes' accuracies in roar_task_of order, malloc'ed; NULL
 * elsewhere), COORD_INTERRUPTED (every rank), COORD_HUNG (rank 0 only, as
 * coord_run), or -1 with a message (every rank). *stage: the stage that
 * ended it (1 or 2). */
int run_roar_stages(const struct run_roar_in *in, double **acc, int *stage, char *err, size_t errlen);
#endif
