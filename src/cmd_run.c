/* src/cmd_run.c — `recal run CONFIG` (and `recal roar`): one job under the
 * current MPI world, as parse → prepare → stages → report. The steps below
 * share one struct run_world per rank; each is collective and fails on
 * every rank alike (mpi_any_failed), rank 0 holding the message. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "coord.h"
#include "coord_report.h"
#include "cores.h"
#include "engine.h"
#include "journal.h"
#include "launch.h"
#include "log.h"
#include "mpi_util.h"
#include "run_args.h"
#include "run_images.h"
#include "run_inputs.h"
#include "run_launch.h"
#include "run_listing.h"
#include "run_roar.h"
#include "run_stage.h"
#include "run_startup.h"

/* One rank's run. */
struct run_world {
    struct run_args *a;
    int rank, size, resume; /* resume: rank 0's, after a restart in a directory with no journal */
    struct run_startup su;
    double t0;
    char err[2048];
    struct job job;
    struct wk_engine eng;
    int eng_open, lock_fd;
    char run_dir[2048], run_id[512];
    long chunk;
    double *total, *roar_acc;
    struct coord_book book; /* rank 0 */
    struct coord_pi pi;     /* rank 0: the per-image values, for the report */
    /* what the report needs of the evaluation, kept before a Diff-ROAR
     * stage closes its engine and reuses its book */
    struct rec_slot slots[REC_MAX_SLOTS];
    int n_slots;
    const char *device_name;
    long n_images, image_bytes, resumed0, shards0, images_resumed0;
    double coord_s;
};

/* Every rank parses the config itself (cheap, and identical), so only rank
 * 0 needs to speak; rank 0 makes and locks the run directory; every rank
 * opens its log and takes its cores and GPU. */
static int world_prepare(struct run_world *w) {
    char *err = w->err;
    const size_t errlen = sizeof w->err;
    int failed = run_load_job(w->a, &w->job, err, errlen) != 0;
    const char *ntasks = getenv("SLURM_NTASKS");
    if (!failed && ntasks && atoi(ntasks) != w->size) {
        snprintf(err, errlen,
                 "MPI world has %d ranks but SLURM_NTASKS=%s: launch with srun or mpirun -n %s inside the allocation",
                 w->size, ntasks, ntasks);
        failed = 1;
    }
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    int restart = 0;
    if (w->rank == 0)
        failed = run_dir_make(&w->job, w->a->run_dir, w->a->config, w->a->sets, w->a->n_sets, w->resume, w->run_dir,
                              sizeof w->run_dir, w->run_id, sizeof w->run_id, &w->lock_fd, &restart, err, errlen) != 0;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    /* Only rank 0 reads `resume` from here on (chunk, shard size, journal). */
    if (restart) {
        fprintf(stderr,
                "recal: %s has no journal yet (its first start ended before planning its shards): "
                "starting the run in it\n",
                w->run_dir);
        w->resume = 0;
    }
    MPI_Bcast(w->run_dir, (int)sizeof w->run_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(w->run_id, (int)sizeof w->run_id, MPI_CHAR, 0, MPI_COMM_WORLD);
    char logpath[2200];
    snprintf(logpath, sizeof logpath, "%s/logs/rank-%d.log", w->run_dir, w->rank);
    failed = log_open(logpath, w->rank, err, errlen) != 0;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    /* Split the node's cores between its ranks unless the job says. */
    int local_rank, local_size;
    mpi_node_local(MPI_COMM_WORLD, &local_rank, &local_size);
    if (w->job.threads == 0) {
        long cores = cores_usable();
        w->job.threads = (int)(cores / local_size > 0 ? cores / local_size : 1);
    }
    /* before wk_engine_open, whose device check is libtorch's first CUDA call */
    const char *gpu = NULL;
    failed = mpi_pick_gpu(local_rank, local_size, w->job.device, &gpu, err, errlen) != 0;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    char host[256] = "?";
    gethostname(host, sizeof host);
    if (gpu) log_printf("CUDA_VISIBLE_DEVICES=%s (one GPU per rank, from local rank %d)", gpu, local_rank);
    log_printf("recal run %s on %s (local rank %d of %d), %d threads, config sha256 %s", w->a->config, host, local_rank,
               local_size, w->job.threads, w->job.sha256);
    return 0;
}

/* The engine over the listed split, with the chunk and shard size the run
 * keeps (rank 0's, or the resumed run's first invocation's). */
static int world_open_engine(struct run_world *w) {
    char *err = w->err;
    const size_t errlen = sizeof w->err;
    struct job *job = &w->job;
    struct wk_engine *eng = &w->eng;
    /* Listed once, on rank 0: every rank's reader opens from its bytes. */
    struct ds_listing lists[2];
    run_share_listings(job, MPI_COMM_WORLD, lists, &w->su.listing_s);
    const struct ds_listing *const listed[2] = {&lists[0], &lists[1]};
    int failed = wk_engine_open_listed(eng, job, listed, err, errlen) != 0;
    run_listings_free(lists);
    w->eng_open = !failed;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    /* Every rank takes rank 0's measured chunk, and a resumed run the chunk
     * its first invocation measured: the chunk decides float summation
     * order, so one run uses one. */
    w->chunk = eng->chunk_samples;
    double t_step = clock_now_s();
    if (w->rank == 0)
        failed = run_keep_inputs(job, eng, w->run_dir, w->resume, err, errlen) != 0 ||
                 run_keep_chunk(w->run_dir, w->resume, &w->chunk, err, errlen) != 0;
    if (w->rank == 0) w->su.fingerprint_s = clock_now_s() - t_step;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    MPI_Bcast(&w->chunk, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    wk_engine_set_chunk(eng, w->chunk);
    log_printf("engine: %ld images, model %d classes, device %s, chunk %ld samples", eng->ds.n, eng->classes,
               ts_device_name(eng->device), eng->chunk_samples);
    const char *bad_box;
    const long bad_boxes = ds_bad_boxes(&eng->ds, &bad_box);
    if (bad_boxes && w->rank == 0) /* the pointing game scored 7 of 8 images without a word */
        fprintf(stderr,
                "recal: %ld bounding box(es) of the data set's box file cannot be used and are left out (an image "
                "without a box of its class is not scored by pointing_game); the first: %s\n",
                bad_boxes, bad_box);
    if (bad_boxes) log_printf("%ld unusable bounding box(es) left out; the first: %s", bad_boxes, bad_box);
    long shard = job->shard_images;
    const int computing = w->size > 1 && !job->coordinator_computes ? w->size - 1 : w->size;
    t_step = clock_now_s();
    if (w->rank == 0)
        failed = run_keep_shard_size(eng, job, w->run_dir, w->resume, computing, &shard, err, errlen) != 0;
    if (w->rank == 0) w->su.plan_s = clock_now_s() - t_step;
    if (mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD)) return -1;
    MPI_Bcast(&shard, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    /* a shard is never longer than the split: the same one-shard plan, and
     * records without per-image rows for images that do not exist */
    if (eng->ds.n > 0 && shard > eng->ds.n) shard = eng->ds.n;
    job->shard_images = (int)shard;
    wk_engine_relayout(eng); /* the record keeps a row per image of a shard */
    if (wk_record_len(eng) > JOURNAL_MAX_RECORD) {
        /* every rank computes the same layout: all fail alike */
        snprintf(err, errlen,
                 "%s: shard_images %d with every image's values kept (statistics, outputs.per_image) makes "
                 "records of %zu doubles, more than a journal holds (%llu): lower shard_images",
                 job->file, job->shard_images, wk_record_len(eng), (unsigned long long)JOURNAL_MAX_RECORD);
        return -1;
    }
    coord_set_stop_grace(job->stop_grace_seconds);
    wk_engine_set_output(eng, w->run_dir, coord_stop_overdue);
    w->total = calloc(wk_record_len(eng), sizeof *w->total);
    failed = w->total == NULL;
    if (failed) snprintf(err, errlen, "rank %d: out of memory for the run's totals", w->rank);
    return mpi_any_failed(failed, err, errlen, MPI_COMM_WORLD) ? -1 : 0;
}

/* Rank 0: the evaluation's start line. */
static void announce_evaluation(const struct run_stage *s, void *ctx) {
    const struct run_world *w = ctx;
    fprintf(stderr, "recal: %s, %ld images of %s/%s on %d rank(s), device %s -> %s\n", w->job.name, w->eng.ds.n,
            w->job.dataset_name, w->job.split, w->size, ts_device_name(w->eng.device), w->run_dir);
    if (s->resume)
        fprintf(stderr, "recal: resuming: %ld of %ld shards already done (journal), %ld to compute\n",
                s->book->n_resumed, s->book->n_shards, s->book->n_shards - s->book->n_resumed);
}

/* Stage 0: the engine over the config's split. coord_run's rc. */
static int world_evaluate(struct run_world *w) {
    struct job *job = &w->job;
    struct wk_engine *eng = &w->eng;
    /* coordinator_computes: false leaves rank 0's cores (and GPU) to the
     * dispatch alone; with one rank it must compute or nothing would. */
    struct run_stage st = {.name = "evaluation",
                           .no = 1,
                           .n_stages = job->roar.on ? 3 : 1,
                           .section = 0,
                           .run_dir = w->run_dir,
                           .resume = w->resume,
                           .progress_tty = w->rank == 0 && isatty(2),
                           .book = w->rank == 0 ? &w->book : NULL,
                           .artefact_dir = w->run_dir,
                           .announce = announce_evaluation,
                           .announce_ctx = w,
                           .fold = run_engine_fold,
                           .fold_ctx = eng,
                           .coord_seconds = &w->coord_s};
    run_stage_engine(&st, eng, w->size);
    if (run_stage_begin(&st, w->err, sizeof w->err)) return -1;
    if (w->rank == 0 && !job->coordinator_computes && w->size == 1)
        fprintf(stderr, "recal: coordinator_computes: false needs a second rank; the only rank computes\n");
    run_startup_log(&w->su, eng);
    int rc = run_stage_farm(&st, w->total, w->err, sizeof w->err);
    log_printf("read ahead: the first batch of %ld shard(s), while the shard before ended", eng->n_carried);
    return rc;
}

/* Rank 0, after the evaluation: the per-image rows of every shard (before
 * a Diff-ROAR stage reuses the book) and the statistics over them; then
 * what the report needs of the evaluation is kept. Collective: 0, or an
 * EXIT_* code. */
static int world_after_evaluation(struct run_world *w) {
    struct coord_book *b = &w->book;
    int failed = 0;
    if (w->rank == 0 && w->resume)
        log_printf("resume: %ld shards from the journal, %ld computed now", b->n_resumed, b->n_done - b->n_resumed);
    const double t_stats = clock_now_s();
    if (w->rank == 0 &&
        (run_write_images(w->run_dir, &w->eng.ds, &w->eng.layout, b->records, b->n_shards, b->len, w->err,
                          sizeof w->err) ||
         coord_pi_collect(&w->job, w->eng.n_slots, b->records, b->n_shards, b->len, &w->pi, w->err, sizeof w->err) ||
         coord_pi_stats(&w->job, w->eng.slots, &w->pi, w->err, sizeof w->err))) {
        fprintf(stderr, "recal run: %s; the evaluation is in the journal: run again with --resume\n", w->err);
        w->err[0] = '\0';
        failed = 1;
    }
    if (w->rank == 0 && w->pi.ci)
        log_printf("statistics: %ld images, %d resamples, %d paired comparisons: %.2f s", w->pi.n,
                   w->job.stats.resamples, w->pi.n_pairs, clock_now_s() - t_stats);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) return EXIT_USER;
    w->n_slots = w->eng.n_slots;
    memcpy(w->slots, w->eng.slots, sizeof w->slots);
    w->device_name = ts_device_name(w->eng.device);
    w->n_images = w->eng.ds.n;
    w->image_bytes = (long)w->eng.ds.c * w->eng.ds.h * w->eng.ds.w * (long)sizeof(float);
    w->resumed0 = b->n_resumed;
    w->shards0 = b->n_shards;
    w->images_resumed0 = b->images_resumed;
    return 0;
}

/* rc of a stage that did not complete (coord_run's or run_roar_stages'):
 * say where it stopped and how to resume; the exit code. COORD_HUNG does
 * not return: a rank that never answers would block any collective, so
 * rank 0 aborts the job once the journal is closed. */
static int stage_stopped(struct run_world *w, int rc, const char *stage, const char *unit) {
    if (rc < 0) return EXIT_USER;
    if (w->rank != 0) return EXIT_RESUMABLE;
    const struct coord_book *book = &w->book;
    const char *why = rc == COORD_HUNG ? "interrupted by the watchdog" : "interrupted";
    log_printf("%s%s: %ld of %ld %s done", why, stage, book->n_done, book->n_shards, unit);
    fprintf(stderr, "interrupted%s: %ld of %ld %s done; resume with: ", stage, book->n_done, book->n_shards, unit);
    run_resume_hint(stderr, w->a, w->run_dir, 1);
    if (rc == COORD_HUNG) {
        fflush(stderr);
        coord_book_close(&w->book); /* every journaled shard is on disk */
        log_close();
        if (w->lock_fd >= 0) close(w->lock_fd);
        MPI_Abort(MPI_COMM_WORLD, EXIT_RESUMABLE); /* takes the silent rank down too */
    }
    return EXIT_RESUMABLE;
}

/* Diff-ROAR: the train split's rank maps, then the fine-tunes, in this run
 * directory and journal; the evaluation's engine is done. 0, or an EXIT_*
 * code. */
static int world_roar(struct run_world *w) {
    wk_engine_close(&w->eng);
    w->eng_open = 0;
    struct run_roar_in ri = {&w->job,  w->run_dir, w->resume, w->chunk, w->rank == 0 && isatty(2),
                             &w->book, &w->coord_s};
    int stage = 1;
    int rc = run_roar_stages(&ri, &w->roar_acc, &stage, w->err, sizeof w->err);
    if (!rc) return 0;
    return stage_stopped(
        w, rc, stage == 1 ? " in Diff-ROAR stage 2 of 3 (train rank maps)" : " in Diff-ROAR stage 3 of 3 (fine-tunes)",
        stage == 1 ? "shards" : "fine-tunes");
}

/* Rank 0: metrics.json and the tables, the console's table, the figures.
 * An EXIT_* code. */
static int world_report(struct run_world *w) {
    const struct job *job = &w->job;
    struct coord_run_info info = {w->run_id,
                                  w->run_dir,
                                  w->size,
                                  w->device_name,
                                  ts_version(),
                                  clock_now_s() - w->t0,
                                  (long)w->total[REC_IMAGES] - w->images_resumed0,
                                  w->resumed0,
                                  w->n_images,
                                  w->coord_s,
                                  w->image_bytes,
                                  w->roar_acc,
                                  &w->pi};
    if (coord_write_metrics(job, w->slots, w->n_slots, w->total, &info, w->err, sizeof w->err)) {
        fprintf(stderr, "recal run: %s\n", w->err);
        w->err[0] = '\0';
        return EXIT_USER;
    }
    coord_print_table(stdout, job, w->slots, w->n_slots, w->total);
    coord_pi_print(stdout, job, w->slots, &w->pi);
    if (w->roar_acc) coord_print_roar(stdout, job, w->slots, w->n_slots, w->roar_acc);
    printf("\nwrote %s/metrics.json, metrics.csv, summary.csv and summary_long.csv%s (%.1f s", w->run_dir,
           w->roar_acc ? ", roar.json and roar.csv" : "", info.wall_seconds);
    if (w->resume) printf("; %ld of %ld evaluation shards from the journal", w->resumed0, w->shards0);
    printf(")\n");
    /* Figures are a convenience: a missing matplotlib costs the pictures,
     * never the run (metrics.json is already written). */
    if (job->out_figures) {
        fflush(stdout);
        if (report_render(w->run_dir) != EXIT_OK)
            fprintf(stderr,
                    "recal run: figures skipped (see the message above); the metrics are complete — "
                    "run `recal report %s` after installing python3-matplotlib\n",
                    w->run_dir);
    }
    return EXIT_OK;
}

/* The stages after MPI_Init: an EXIT_* code, the same on every rank. */
static int world_run(struct run_world *w) {
    if (world_prepare(w) || world_open_engine(w)) return EXIT_USER;
    int rc = world_evaluate(w);
    if (rc) return stage_stopped(w, rc, w->job.roar.on ? " in Diff-ROAR stage 1 of 3 (the evaluation)" : "", "shards");
    int code = world_after_evaluation(w);
    if (!code && w->job.roar.on) code = world_roar(w);
    if (code) return code;
    code = w->rank == 0 ? world_report(w) : EXIT_OK;
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return code;
}

/* One rank of the run: MPI, the world, its end. */
static int run_rank(int argc, char **argv, struct run_args *a) {
    int provided = 0;
    struct run_world *w = calloc(1, sizeof *w); /* 110 KB of job and the engine: the heap, not statics */
    if (!w) {
        fprintf(stderr, "recal run: out of host memory\n");
        return EXIT_USER; /* nothing started: the same command runs it */
    }
    w->a = a;
    w->resume = a->resume;
    w->lock_fd = -1;
    w->book.jn.fd = -1;
    w->su.exec_s = clock_since_exec_s();
    w->su.t0 = clock_now_s();
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    w->su.mpi_init_s = clock_now_s() - w->su.t0;
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    /* After MPI_Init, so ours are the handlers in place; every rank, since
     * mpirun and srun signal each of them. */
    coord_catch_signals();
    w->t0 = clock_now_s();
    const int code = world_run(w);
    if (w->err[0]) {
        log_printf("error: %s", w->err);
        if (w->rank == 0) fprintf(stderr, "recal run: %s\n", w->err);
    }
    free(w->total);
    free(w->roar_acc);
    coord_pi_free(&w->pi);
    coord_book_close(&w->book);
    if (w->eng_open) wk_engine_close(&w->eng);
    log_close();
    if (w->lock_fd >= 0) close(w->lock_fd); /* the run is over: the next may start */
    if (w->rank == 0) launch_note_exit(code);
    free(w);
    MPI_Finalize();
    return code;
}

/* `recal run` (require_roar 0) and `recal roar` (1). */
static int run_command(int argc, char **argv, int require_roar) {
    struct run_args *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "recal run: out of host memory\n");
        return EXIT_USER; /* nothing started: the same command runs it */
    }
    a->require_roar = require_roar;
    int rc = run_parse(argc, argv, a);
    int code = rc > 0 ? EXIT_OK : rc < 0 ? EXIT_USER : a->ranks > 0 ? run_launch_ranks(a) : run_rank(argc, argv, a);
    free(a);
    return code;
}

/* `recal roar CONFIG ...`: recal run of a config that must have metrics.roar. */
int cmd_roar(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--train-run") || !strcmp(argv[i], "--test-run") || !strcmp(argv[i], "--out") ||
            !strcmp(argv[i], "--data-parallel")) {
            fprintf(stderr,
                    "recal roar: %s is gone: `recal run CONFIG` of a config with metrics.roar now runs all of "
                    "Diff-ROAR in one run directory (evaluation, train rank maps, fine-tunes; "
                    "metrics.roar.data_parallel: true for data-parallel fine-tunes). See recal roar --help\n",
                    argv[i]);
            return EXIT_USER;
        }
        if (cli_is_help(argv[i])) {
            fputs("usage: recal roar CONFIG.yaml [recal run options]\n"
                  "\n"
                  "The same as `recal run`, for a config that must have metrics.roar: one run directory holds\n"
                  "the evaluation of the config's split (its metrics and ROAR rank maps), the train split's\n"
                  "rank maps (RUN_DIR/train) and every fine-tune (method x estimator x fraction x top/bottom),\n"
                  "one journal for all three stages, so --resume continues whichever stage was stopped. Diff-ROAR\n"
                  "lands in metrics.json (results[].roar), roar.json and roar.csv. See recal run --help.\n",
                  stdout);
            return EXIT_OK;
        }
    }
    return run_command(argc, argv, 1);
}

int cmd_run(int argc, char **argv) {
    return run_command(argc, argv, 0);
}
