/* src/run_roar.c — see run_roar.h. */
#include "run_roar.h"

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
#include "roar_stage.h"
#include "run_listing.h"
#include "run_stage.h"
#include "torch_shim.h"

/* Rank 0: stage 1's start line. */
static void announce_train_maps(const struct run_stage *s, void *ctx) {
    const struct job *tj = ctx;
    fprintf(stderr, "recal: Diff-ROAR stage 2 of 3: rank maps of %ld %s/train images -> %s", s->n_items,
            tj->dataset_name, s->artefact_dir);
    if (s->book->n_resumed) fprintf(stderr, " (%ld of %ld shards journaled)", s->book->n_resumed, s->book->n_shards);
    fputc('\n', stderr);
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
        wk_engine_set_output(e, dir, coord_stop_overdue);
        wk_engine_set_chunk(e, in->chunk);
        total = calloc(wk_record_len(e), sizeof *total);
        if (!failed && !total) {
            snprintf(err, errlen, "rank %d: out of memory for a record", rank);
            failed = 1;
        }
    }
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out;
    struct run_stage st = {.name = "train-maps",
                           .no = 2,
                           .n_stages = 3,
                           .section = 1,
                           .run_dir = in->run_dir,
                           .resume = in->resume,
                           .progress_tty = in->progress_tty,
                           .book = rank == 0 ? in->book : NULL,
                           .artefact_dir = dir,
                           .announce = announce_train_maps,
                           .announce_ctx = tj,
                           .coord_seconds = in->coord_seconds};
    run_stage_engine(&st, e, size);
    rc = run_stage(&st, total, err, errlen);
out:
    free(total);
    if (opened) wk_engine_close(e);
    free(e);
    free(tj);
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

/* Rank 0: stage 2's start line. */
static void announce_finetunes(const struct run_stage *s, void *ctx) {
    const struct roar_stage *r = ctx;
    const struct job *job = r->job;
    fprintf(stderr,
            "recal: Diff-ROAR stage 3 of 3: %d fine-tunes (%d maps x %d fractions x top/bottom), %d epochs "
            "on %ld train images, scored on %ld test images%s",
            r->n_tasks, r->n_slots, job->roar.n_fractions, job->roar.epochs, r->train.n, r->test.n,
            job->roar.data_parallel ? ", each over every rank" : "");
    if (s->book->n_resumed) fprintf(stderr, " (%ld journaled)", s->book->n_resumed);
    fputc('\n', stderr);
}

/* Rank 0: the accuracies out of the book, in task order. */
static int finetune_accuracies(const struct coord_book *b, int n, double **acc, char *err, size_t errlen) {
    *acc = malloc((size_t)n * sizeof **acc);
    if (!*acc) {
        snprintf(err, errlen, "out of memory for %d accuracies", n);
        return -1;
    }
    for (int t = 0; t < n; t++) (*acc)[t] = b->records[(size_t)t * ROAR_RECORD_LEN + ROAR_ACC];
    return 0;
}

/* A fine-tune as the coordinator's task. */
static int finetune_task(void *ctx, long first, long count, double *rec, char *err, size_t errlen) {
    int rc = roar_stage_task(ctx, first, count, rec, err, errlen);
    return rc == ROAR_ABANDONED ? COORD_ABANDONED : rc;
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
    if (r) r->abandon = coord_stop_overdue;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) goto out;
    struct run_stage st = {.name = "fine-tunes",
                           .no = 3,
                           .n_stages = 3,
                           .unit = "fine-tunes",
                           .section = 2,
                           .jm = {"", r->n_tasks, r->n_tasks, 1, ROAR_RECORD_LEN},
                           .run_dir = in->run_dir,
                           .resume = in->resume,
                           .progress_tty = in->progress_tty,
                           .book = rank == 0 ? in->book : NULL,
                           .announce = announce_finetunes,
                           .announce_ctx = r,
                           .shard_fn = finetune_task,
                           .shard_ctx = r,
                           .record_len = ROAR_RECORD_LEN,
                           .n_items = r->n_tasks,
                           .shard_items = 1,
                           .no_local_worker = !job->coordinator_computes && size > 1,
                           .watchdog_s = job->watchdog_seconds,
                           .coord_seconds = in->coord_seconds};
    snprintf(st.jm.sha256, sizeof st.jm.sha256, "%s", job->sha256);
    if (run_stage_begin(&st, err, errlen)) goto out;
    double total[ROAR_RECORD_LEN];
    rc = job->roar.data_parallel ? finetunes_dp(in, r, rank, err, errlen) : run_stage_farm(&st, total, err, errlen);
    if (rc == 0 && rank == 0 && finetune_accuracies(in->book, r->n_tasks, acc, err, errlen)) rc = -1;
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
