/* src/run_stage.c — see run_stage.h. */
#include "run_stage.h"

#include <mpi.h>
#include <stdio.h>

#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "mpi_util.h"
#include "record.h"
#include "shard_plan.h"

int run_engine_shard(void *ctx, long first, long count, double *rec, char *err, size_t errlen) {
    int rc = wk_engine_run(ctx, first, count, rec, err, errlen);
    return rc == WK_ABANDONED ? COORD_ABANDONED : rc;
}

void run_engine_bind(void *ctx, coord_next_fn next, void *arg) {
    wk_engine_bind_next(ctx, next, arg);
}

void run_engine_fold(void *ctx, double *total, const double *rec) {
    const struct wk_engine *e = ctx;
    rec_fold(e->job, e->n_slots, total, rec);
}

void run_stage_engine(struct run_stage *s, struct wk_engine *e, int size) {
    const struct job *job = e->job;
    struct journal_meta jm = {"", e->ds.n, shard_plan_count(e->ds.n, job->shard_images), job->shard_images,
                              wk_record_len(e)};
    snprintf(jm.sha256, sizeof jm.sha256, "%s", job->sha256);
    s->jm = jm;
    s->outputs_job = job;
    s->shard_fn = run_engine_shard;
    s->shard_ctx = e;
    s->bind_ahead = run_engine_bind;
    s->record_len = wk_record_len(e);
    s->n_items = e->ds.n;
    s->shard_items = job->shard_images;
    s->no_local_worker = !job->coordinator_computes && size > 1;
    s->watchdog_s = job->watchdog_seconds;
}

/* Its journal record stays; journal_resume keeps the first copy of a
 * shard, and the recomputed one is the same numbers. */
void run_recheck_outputs(struct coord_book *b, const struct job *job, const char *artefact_dir, long n_images) {
    long lost = 0;
    char first_lost[2200] = "";
    for (long s = 0; s < b->n_shards && (job->out_attributions || job->out_masks); s++) {
        struct shard sh;
        if (!b->done[s] || shard_plan_get(n_images, job->shard_images, s, &sh)) continue;
        char path[2200];
        int missing = 0;
        for (int k = 0; k < 2 && !missing; k++) {
            if (!(k == 0 ? job->out_attributions : job->out_masks)) continue;
            wk_shard_file(path, sizeof path, artefact_dir, k == 0 ? "attributions" : "masks", sh.first, sh.count,
                          ".npy");
            missing = !fs_exists(path);
        }
        if (!missing) continue;
        if (!lost) snprintf(first_lost, sizeof first_lost, "%s", path);
        lost++;
        coord_book_forget(b, s);
    }
    if (lost) {
        fprintf(stderr, "recal: %ld journaled shard(s) lost their output files (first: %s): computing them again\n",
                lost, first_lost);
        log_printf("resume: %ld journaled shards without their outputs (first %s), computed again", lost, first_lost);
    }
}

int run_stage_begin(const struct run_stage *s, char *err, size_t errlen) {
    int failed = 0;
    if (s->book) {                 /* rank 0 */
        coord_book_close(s->book); /* the stage before's, if any */
        failed = coord_book_open(s->book, s->run_dir, s->section, s->resume, &s->jm, err, errlen) != 0;
        if (!failed && s->book->jn.dropped_bytes)
            fprintf(stderr, "recal: dropped a torn last journal record (%ld bytes); that shard is computed again\n",
                    s->book->jn.dropped_bytes);
        if (!failed && s->resume && s->outputs_job)
            run_recheck_outputs(s->book, s->outputs_job, s->artefact_dir, s->n_items);
        if (!failed && s->announce) s->announce(s, s->announce_ctx);
    }
    return mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD) ? -1 : 0;
}

int run_stage_farm(const struct run_stage *s, double *total, char *err, size_t errlen) {
    struct coord_opts co = {.n_images = s->n_items,
                            .shard_images = s->shard_items,
                            .progress_tty = s->progress_tty,
                            .unit = s->unit,
                            .log_every_s = 10.0,
                            .stage_name = s->name,
                            .stage_no = s->no,
                            .n_stages = s->n_stages,
                            .book = s->book,
                            .shard_fn = s->shard_fn,
                            .shard_ctx = s->shard_ctx,
                            .bind_ahead = s->bind_ahead,
                            .record_len = s->record_len,
                            .fold = s->fold,
                            .fold_ctx = s->fold_ctx,
                            .no_journal = s->book && s->book->jn.sealed,
                            .no_local_worker = s->no_local_worker,
                            .watchdog_s = s->watchdog_s};
    int rc = coord_run(&co, MPI_COMM_WORLD, total, err, errlen);
    if (s->book && s->coord_seconds) *s->coord_seconds += s->book->coord_seconds;
    return rc;
}

int run_stage(const struct run_stage *s, double *total, char *err, size_t errlen) {
    if (run_stage_begin(s, err, errlen)) return -1;
    return run_stage_farm(s, total, err, errlen);
}
