/* src/run_stages.c — see run_stages.h. */
#include "run_stages.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "fsutil.h"
#include "log.h"
#include "mpi_util.h"
#include "progress.h"
#include "record.h"
#include "roar_stage.h"
#include "run_listing.h"
#include "shard_plan.h"
#include "torch_shim.h"

int run_engine_shard(void *ctx, long first, long count, double *rec, char *err, size_t errlen) {
    int rc = wk_engine_run(ctx, first, count, rec, err, errlen);
    return rc == WK_ABANDONED ? COORD_ABANDONED : rc;
}

void run_engine_bind(void *ctx, coord_next_fn next, void *arg) {
    struct wk_engine *e = ctx;
    e->next_shard = next;
    e->next_arg = arg;
}

void run_engine_fold(void *ctx, double *total, const double *rec) {
    const struct wk_engine *e = ctx;
    rec_fold(e->job, e->n_slots, total, rec);
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

/* Rank 0: the book of stage `stage` (the previous stage's closed). */
static int open_book(const struct run_roar_in *in, int stage, const struct journal_meta *jm, char *err, size_t errlen) {
    if (stage > 1) *in->coord_seconds += in->book->coord_seconds; /* the train stage's; the caller has stage 0's */
    coord_book_close(in->book);
    if (coord_book_open(in->book, in->run_dir, stage, in->resume, jm, err, errlen)) return -1;
    if (in->book->jn.dropped_bytes)
        fprintf(stderr, "recal: dropped a torn last journal record (%ld bytes); it is computed again\n",
                in->book->jn.dropped_bytes);
    return 0;
}

/* Stage 1: the engine over the train split, rank maps only, into RUN_DIR/train. */
static int train_maps_stage(const struct run_roar_in *in, int rank, int size, char *err, size_t errlen) {
    /* the heap, not function-level statics (110 KB of job), so that the stage can run twice in a process */
    struct job *tj = calloc(1, sizeof *tj);
    struct wk_engine *e = calloc(1, sizeof *e);
    char dir[sizeof e->run_dir];
    int failed = !tj || !e, opened = 0, rc = -1;
    double *total = NULL;
    if (failed) snprintf(err, errlen, "rank %d: out of host memory", rank);
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out; /* before the collective listing */
    job_roar_train_view(in->job, tj);
    snprintf(dir, sizeof dir, "%s/train", in->run_dir);
    struct ds_listing lists[2];
    double listing_s = 0;
    run_share_listings(tj, MPI_COMM_WORLD, lists, &listing_s); /* rank 0 lists the train split for all */
    const struct ds_listing *const listed[2] = {&lists[0], &lists[1]};
    failed = wk_engine_open_listed(e, tj, listed, err, errlen) != 0;
    opened = !failed;
    run_listings_free(lists);
    /* the stage's artefacts (masks/, attributions/) go under RUN_DIR/train:
     * made here, as recal makes every folder of the run directory (a link
     * planted there is refused); every rank writes the shards it computes */
    if (!failed) failed = fs_mkdir_own(dir, err, errlen) != 0;
    if (opened) {
        snprintf(e->run_dir, sizeof e->run_dir, "%s", dir);
        wk_engine_set_chunk(e, in->chunk);
        e->abandon = coord_stop_overdue;
    }
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out;
    if (rank == 0) {
        struct journal_meta jm = {"", e->ds.n, shard_plan_count(e->ds.n, tj->shard_images), tj->shard_images,
                                  wk_record_len(e)};
        snprintf(jm.sha256, sizeof jm.sha256, "%s", tj->sha256);
        failed = open_book(in, 1, &jm, err, errlen) != 0;
        if (!failed) {
            if (in->resume) run_recheck_outputs(in->book, tj, dir, e->ds.n);
            fprintf(stderr, "recal: Diff-ROAR stage 2 of 3: rank maps of %ld %s/train images -> %s", e->ds.n,
                    tj->dataset_name, dir);
            if (in->book->n_resumed)
                fprintf(stderr, " (%ld of %ld shards journaled)", in->book->n_resumed, in->book->n_shards);
            fputc('\n', stderr);
        }
    }
    total = calloc(wk_record_len(e), sizeof *total);
    if (!failed && !total) {
        snprintf(err, errlen, "rank %d: out of memory for a record", rank);
        failed = 1;
    }
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out;
    struct coord_opts co = {.n_images = e->ds.n,
                            .shard_images = tj->shard_images,
                            .progress_tty = in->progress_tty,
                            .log_every_s = 10.0,
                            .stage_name = "train-maps",
                            .stage_no = 2,
                            .n_stages = 3,
                            .book = rank == 0 ? in->book : NULL,
                            .shard_fn = run_engine_shard,
                            .shard_ctx = e,
                            .bind_ahead = run_engine_bind,
                            .record_len = wk_record_len(e),
                            /* a stage that a later one follows is complete, so its journal is sealed:
                             * shards recomputed for lost files are counted, not journaled again */
                            .no_journal = rank == 0 && in->book->jn.sealed,
                            .no_local_worker = !tj->coordinator_computes && size > 1,
                            .watchdog_s = tj->watchdog_seconds};
    rc = coord_run(&co, MPI_COMM_WORLD, total, err, errlen);
out:
    free(total);
    if (opened) wk_engine_close(e);
    return rc;
}

/* Rank 0: the fine-tunes' progress line when they run one after the other
 * (data_parallel), in the coordinator's format (docs/outputs.md,
 * "Progress"): each over every rank, so one at a time. */
static void dp_progress(long done, long total, int fresh, double t_start) {
    const double el = clock_now_s() - t_start;
    struct progress_in in = {.total = total, .done = done, .fresh = fresh, .busy = el, .ranks = 1};
    char line[320];
    progress_line(line, sizeof line, 3, 3, "fine-tunes", done, total, "fine-tunes", el > 0 ? fresh / el : 0, el,
                  progress_eta(&in));
    fprintf(stderr, "progress: %s\n", line);
    log_printf("progress: %s", line);
}

/* Stage 2 with metrics.roar.data_parallel: the fine-tunes one after the
 * other, each over every rank; rank 0 journals each. */
static int finetunes_dp(const struct run_roar_in *in, struct roar_stage *r, int rank, char *err, size_t errlen) {
    struct coord_book *b = in->book;
    const int n = r->n_tasks;
    int done_here = 0, todo_all = 0;
    if (rank == 0) todo_all = (int)(b->n_shards - b->n_resumed);
    MPI_Bcast(&todo_all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    const double t_start = clock_now_s();
    if (rank == 0) dp_progress(b->n_resumed, n, 0, t_start);
    for (int t = 0; t < n; t++) {
        int todo = rank == 0 ? !b->done[t] : 0;
        MPI_Bcast(&todo, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (!todo) continue;
        int stopped = coord_stop_signal() != 0;
        MPI_Allreduce(MPI_IN_PLACE, &stopped, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (stopped) {
            if (rank == 0)
                fprintf(stderr, "recal: stop asked: %ld of %d fine-tunes journaled\n", b->n_resumed + done_here, n);
            return COORD_INTERRUPTED;
        }
        double acc = 0, t0 = clock_now_s();
        int failed = roar_stage_task_dp(r, t, MPI_COMM_WORLD, &acc, err, errlen) != 0;
        if (!failed && rank == 0) {
            double rec[ROAR_RECORD_LEN] = {1, acc};
            failed = coord_book_put(b, t, t, 1, rec, err, errlen) != 0;
        }
        if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
        done_here++;
        if (rank == 0) {
            char what[256];
            roar_task_label(r, t, what, sizeof what);
            fprintf(stderr, "fine-tune %d, %s: test acc %.4f (%.1f s; %d of %d this session)\n", t, what, acc,
                    clock_now_s() - t0, done_here, todo_all);
            dp_progress(b->n_resumed + done_here, n, done_here, t_start);
        }
    }
    return 0;
}

/* Stage 2: every fine-tune. */
static int finetune_stage(const struct run_roar_in *in, int rank, int size, double **acc, char *err, size_t errlen) {
    const struct job *job = in->job;
    struct roar_stage *r = calloc(1, sizeof *r); /* the heap, not a function-level static */
    char train_dir[2200];
    int device = 0, rc = -1;
    snprintf(train_dir, sizeof train_dir, "%s/train", in->run_dir);
    int failed = !r || wk_job_device(job, &device) != 0;
    if (!r) snprintf(err, errlen, "rank %d: out of host memory", rank);
    else if (failed) snprintf(err, errlen, "device '%s': %s", job->device, ts_last_error());
    else failed = roar_stage_open(r, job, device, train_dir, in->run_dir, err, errlen) != 0;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out;
    if (rank == 0) {
        struct journal_meta jm = {"", r->n_tasks, r->n_tasks, 1, ROAR_RECORD_LEN};
        snprintf(jm.sha256, sizeof jm.sha256, "%s", job->sha256);
        failed = open_book(in, 2, &jm, err, errlen) != 0;
        if (!failed) {
            fprintf(stderr,
                    "recal: Diff-ROAR stage 3 of 3: %d fine-tunes (%d maps x %d fractions x top/bottom), %d epochs "
                    "on %ld train images, scored on %ld test images%s",
                    r->n_tasks, r->n_slots, job->roar.n_fractions, job->roar.epochs, r->train.n, r->test.n,
                    job->roar.data_parallel ? ", each over every rank" : "");
            if (in->book->n_resumed) fprintf(stderr, " (%ld journaled)", in->book->n_resumed);
            fputc('\n', stderr);
        }
    }
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out;
    if (job->roar.data_parallel) {
        rc = finetunes_dp(in, r, rank, err, errlen);
    } else {
        double total[ROAR_RECORD_LEN];
        struct coord_opts co = {.n_images = r->n_tasks,
                                .shard_images = 1,
                                .progress_tty = in->progress_tty,
                                .unit = "fine-tunes",
                                .log_every_s = 10.0,
                                .stage_name = "fine-tunes",
                                .stage_no = 3,
                                .n_stages = 3,
                                .book = rank == 0 ? in->book : NULL,
                                .shard_fn = roar_stage_task,
                                .shard_ctx = r,
                                .record_len = ROAR_RECORD_LEN,
                                .no_local_worker = !job->coordinator_computes && size > 1,
                                .watchdog_s = job->watchdog_seconds};
        rc = coord_run(&co, MPI_COMM_WORLD, total, err, errlen);
    }
    if (rc == 0 && rank == 0) {
        *acc = malloc((size_t)r->n_tasks * sizeof **acc);
        if (!*acc) {
            snprintf(err, errlen, "out of memory for %d accuracies", r->n_tasks);
            rc = -1;
        }
        for (int t = 0; *acc && t < r->n_tasks; t++)
            (*acc)[t] = in->book->records[(size_t)t * ROAR_RECORD_LEN + ROAR_ACC];
    }
    if (rc != COORD_HUNG && mpi_any_failed(rc < 0, err, errlen, MPI_COMM_WORLD)) rc = -1;
out:
    if (r) roar_stage_close(r);
    free(r);
    return rc;
}

int run_roar_stages(const struct run_roar_in *in, double **acc, int *stage, char *err, size_t errlen) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    *acc = NULL;
    *stage = 1;
    int rc = train_maps_stage(in, rank, size, err, errlen);
    if (rc) return rc;
    *stage = 2;
    return finetune_stage(in, rank, size, acc, err, errlen);
}
