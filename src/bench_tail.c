/* src/bench_tail.c — `recal bench --dispatch --tail`: the tail of a run on
 * R ranks, simulated (issue #37, item 2). recal run's own coordinator
 * (coord_run, rank 0 computing too) hands out the shards of a plan; each
 * shard "computes" by sleeping for a model of known time, so 64 ranks fit
 * on 2 cores and the figure is the hand-out's, not the machine's:
 *
 *   a shard of n images takes n × image_ms × (1 + jitter_s), jitter_s a
 *   fixed draw in [-jitter, jitter] per shard (ranks and images are not
 *   all equally fast); its first batch is read without overlap
 *   (read_frac × a batch's compute, the JPEG decode the engine's in-shard
 *   prefetch hides for every later batch) unless the shard was asked for
 *   ahead, when that read overlapped the last shard's end.
 *
 * Three passes, one JSON line each:
 *   before  shards of --old-shard images (what the 5 s shard_seconds probe
 *           chose: 144 for ImageNet val × ResNet-50, IG 10×5, on an H100 at
 *           34 ms an image), asked for only when the last one is done;
 *   after   recal run's default: shard_plan_auto's size (shards_per_rank
 *           shards a rank at least, whole batches, at most shard_images
 *           256), the next one asked for once the last batch is read;
 *           "plan" is the same plan without the look-ahead.
 * tail_s is the time from the first rank running out of work to the last
 * one finishing, tail_share its share of the run (to that last finish);
 * idle_share the ranks' idle time over ranks × run. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_tail.h"
#include "cli.h"
#include "clock.h"
#include "coord.h"
#include "json_buf.h"
#include "record.h"
#include "shard_plan.h"

/* The task's state on one rank (rank 0's is used by its compute thread). */
struct sim {
    const struct bench_tail_opts *o;
    long shard_images;
    int ahead;          /* ask for the next shard once the last batch is "read" */
    coord_next_fn next; /* bound by coord_run */
    void *next_arg;
    long carried;            /* the first image of the shard asked for ahead (-1: none) */
    double busy_s, last_end; /* seconds computing; when the last shard ended (since the start) */
    double t0;
    /* The rank's model clock: when its last shard ended, and the real time
     * its task returned (0: none yet). A shard starts on the model clock,
     * so what a sleep overslept on 2 shared cores is not counted (a GPU
     * rank computes alone); what the hand-out took between two shards, and
     * a look-ahead's wait for its answer, are. */
    double vt, ret;
};

/* Sleep until model time vt (the same clock as clock_now_s). */
static void nap_until(double vt) {
    double s = vt - clock_now_s();
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A fixed draw in [-1, 1] per shard (splitmix64 of its first image). */
static double jitter_of(long first) {
    uint64_t z = (uint64_t)first + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return 2.0 * (double)(z >> 11) / 9007199254740992.0 - 1.0;
}

static int sim_shard(void *ctx, long first, long count, double *rec, char *err, size_t errlen) {
    struct sim *m = ctx;
    const struct bench_tail_opts *o = m->o;
    (void)err;
    (void)errlen;
    const double now = clock_now_s(), per = o->image_ms * 1e-3 * (1 + o->jitter * jitter_of(first));
    const long last_b = count % o->batch ? count % o->batch : (count < o->batch ? count : o->batch);
    double vt = m->ret > 0 ? m->vt + (now - m->ret) : now; /* + the hand-out's time since the last one */
    const double start = vt;
    if (m->carried != first) vt += o->read_frac * (double)o->batch * per; /* the first batch's read */
    m->carried = -1;
    vt += (double)(count - last_b) * per;
    nap_until(vt);
    long f, c;
    double ta = clock_now_s();
    if (m->ahead && m->next && m->next(m->next_arg, &f, &c) == 1) m->carried = f;
    vt += clock_now_s() - ta; /* the look-ahead's question holds the compute thread up */
    vt += (double)last_b * per;
    nap_until(vt);
    memset(rec, 0, BENCH_TAIL_RECORD * sizeof *rec);
    rec[REC_IMAGES] = (double)count;
    m->busy_s += vt - start;
    m->last_end = vt - m->t0;
    m->vt = vt;
    m->ret = clock_now_s();
    return 0;
}

static void sim_bind(void *ctx, coord_next_fn next, void *arg) {
    struct sim *m = ctx;
    m->next = next;
    m->next_arg = arg;
}

/* One pass; rank 0 prints its line. Collective; 0 or -1. */
static int tail_pass(const struct bench_tail_opts *o, const char *name, long shard, int ahead, int rank, int size) {
    struct coord_book book;
    char err[1024] = "";
    memset(&book, 0, sizeof book);
    book.jn.fd = -1;
    const long n_shards = shard_plan_count(o->images, shard);
    int failed = 0;
    if (rank == 0) /* a book without a journal: the figure is the hand-out's, not the disk's */
        failed = coord_book_open_memory(&book, n_shards, BENCH_TAIL_RECORD, err, sizeof err) != 0;
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) {
        if (rank == 0) fprintf(stderr, "recal bench: %s\n", err);
        return -1;
    }
    struct sim m = {.o = o, .shard_images = shard, .ahead = ahead, .carried = -1};
    double total[BENCH_TAIL_RECORD];
    struct coord_opts co = {.n_images = o->images,
                            .shard_images = shard,
                            .log_every_s = 1e9,
                            .stage_name = "tail",
                            .book = rank == 0 ? &book : NULL,
                            .shard_fn = sim_shard,
                            .shard_ctx = &m,
                            .record_len = BENCH_TAIL_RECORD,
                            .bind_ahead = sim_bind,
                            .no_journal = 1};
    MPI_Barrier(MPI_COMM_WORLD);
    m.t0 = clock_now_s();
    int rc = coord_run(&co, MPI_COMM_WORLD, total, err, sizeof err);
    double mine[2] = {m.busy_s, m.last_end}, busy = 0, first_idle = 0, last = 0;
    MPI_Reduce(&mine[0], &busy, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(&mine[1], &first_idle, 1, MPI_DOUBLE, MPI_MIN, 0, MPI_COMM_WORLD);
    MPI_Reduce(&mine[1], &last, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0 && rc == 0) {
        struct jbuf j = {0};
        jb_printf(&j,
                  "{\"case\": \"tail\", \"plan\": \"%s\", \"ranks\": %d, \"images\": %ld, \"batch\": %ld, "
                  "\"shard_images\": %ld, \"shards\": %ld, \"shards_per_rank\": %.1f, \"look_ahead\": %s, "
                  "\"image_ms\": %g, \"jitter\": %g, \"read_frac\": %g, \"seconds\": %.3f, \"ideal_s\": %.3f, "
                  "\"tail_s\": %.3f, \"tail_share\": %.4f, \"idle_share\": %.4f}",
                  name, size, o->images, o->batch, shard, n_shards, (double)n_shards / size, ahead ? "true" : "false",
                  o->image_ms, o->jitter, o->read_frac, last, busy / size, last - first_idle,
                  last > 0 ? (last - first_idle) / last : 0.0, last > 0 ? 1 - busy / (size * last) : 0.0);
        jb_put_line(&j, stdout);
        jb_free(&j);
    }
    if (rank == 0 && rc) fprintf(stderr, "recal bench: tail: %s\n", rc < 0 ? err : "interrupted");
    coord_book_close(&book);
    return rc ? -1 : 0;
}

int bench_tail(int argc, char **argv, const struct bench_tail_opts *o) {
    int provided = 0, rank = 0, size = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* every rank computes (rank 0 on its second thread), as in recal run */
    const long after = shard_plan_auto(o->images, o->batch, size, o->per_rank, BENCH_TAIL_CAP);
    int code = EXIT_OK;
    if (tail_pass(o, "before", o->old_shard, 0, rank, size) || tail_pass(o, "plan", after, 0, rank, size) ||
        tail_pass(o, "after", after, 1, rank, size))
        code = EXIT_INTERNAL;
    MPI_Finalize();
    return code;
}
