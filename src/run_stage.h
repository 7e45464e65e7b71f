/* src/run_stage.h — one stage of `recal run`: a plan of shards farmed by
 * the coordinator and journaled in RUN_DIR/journal as a section of its own
 * (coordinator/journal.h). Stage 0 is the evaluation of the config's split;
 * a Diff-ROAR config (metrics.roar) adds the train split's rank maps and
 * the fine-tunes (run_roar.h). Every stage opens its book the same way
 * (rank 0: the journal's section, the torn-record note, the outputs a
 * resume must find) and is farmed by coord_run with the same options, so
 * that is written once, here. */
#ifndef RECAL_RUN_STAGE_H
#define RECAL_RUN_STAGE_H
#include <stddef.h>

#include "coord.h"
#include "job.h"

struct wk_engine;

struct run_stage {
    const char *name;       /* the progress line's: "evaluation", "train-maps", "fine-tunes" */
    int no, n_stages;       /* "stage NO/N_STAGES" in the progress line */
    const char *unit;       /* what the plan counts (NULL: images) */
    int section;            /* the journal's section: 0, 1, 2 */
    struct journal_meta jm; /* rank 0: the plan the book is opened with */
    const char *run_dir;
    int resume;       /* rank 0: the run continues (--resume) */
    int progress_tty; /* rank 0 */
    /* rank 0: closed (when open) and opened for this stage; NULL elsewhere */
    struct coord_book *book;
    /* With resume, the job whose outputs a journaled shard must have under
     * artefact_dir (run_recheck_outputs); NULL: the stage writes none. */
    const struct job *outputs_job;
    const char *artefact_dir;
    /* rank 0, once the book is open: the stage's start line */
    void (*announce)(const struct run_stage *s, void *ctx);
    void *announce_ctx;
    /* the task (struct coord_opts') */
    coord_shard_fn shard_fn;
    void *shard_ctx;
    coord_bind_fn bind_ahead;
    coord_fold_fn fold;
    void *fold_ctx;
    size_t record_len;
    long n_items, shard_items;
    int no_local_worker;
    double watchdog_s;
    double *coord_seconds; /* rank 0: the stage's dispatch bookkeeping is added here (NULL: not kept) */
};

/* Rank 0 opens the stage's book and says so. Collective: 0 on every rank,
 * or -1 on every rank with a message. */
int run_stage_begin(const struct run_stage *s, char *err, size_t errlen);
/* The shards the book does not hold yet, over MPI_COMM_WORLD, as coord_run
 * (total: record_len doubles, rank 0's sums). A stage that a later one
 * follows is sealed in the journal: shards it computes again for lost
 * files are counted, not journaled twice. */
int run_stage_farm(const struct run_stage *s, double *total, char *err, size_t errlen);
/* Both. */
int run_stage(const struct run_stage *s, double *total, char *err, size_t errlen);

/* An engine stage: the plan of e's split (the journal's meta, keyed by
 * e->job's sha256), the engine as the task, the job's dispatch settings,
 * and e->job as the one whose outputs a resume checks. The caller sets the
 * rest (name, section, book, announce, artefact_dir, fold). size: the
 * world's ranks. */
void run_stage_engine(struct run_stage *s, struct wk_engine *e, int size);

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
#endif
