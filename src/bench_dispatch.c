/* src/bench_dispatch.c — `recal bench --dispatch`: shards handed out per
 * second by the coordinator of `recal run` — coord_run itself, with its
 * messages, polling and bookkeeping — when the per-shard compute is a no-op,
 * so the figure is the protocol's own cost (issue #6).
 *
 * Two passes, one JSON line each:
 *   journal false  MPI round trips and rank 0's in-memory bookkeeping only;
 *   journal true   as in a run: every shard appended and fsync'ed to a
 *                  journal, and one line per shard in the rank logs, in a
 *                  temporary run directory (removed afterwards).
 * Rank 0 only hands out shards here (in a run it also computes): a no-op
 * local worker would take nearly every shard through the mutex and the
 * figure would not be the MPI protocol's. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json_buf.h"
#include "cores.h"
#include "clock.h"
#include "cli.h"
#include "coord.h"
#include "record.h"
#include "fsutil.h"
#include "log.h"

/* Doubles per result record: what tests/data/fashion-diffid.yaml's records
 * hold (3 IG-Uniform estimators + random, DiffID over 9 ratios; the
 * record_len of its journal), so the messages are as big as a real run's. */
enum { BENCH_RECORD_LEN = 146 };
/* fsync costs ~0.5 ms on the VM the README figures come from: the journal
 * pass is capped so that it takes seconds, not minutes. */
enum { BENCH_JOURNAL_SHARDS = 5000 };

/* The worker's compute, minus the work: clear the record as the engine
 * does and count the shard's images. */
static int noop_shard(void *ctx, long first, long count, double *rec, char *err, size_t errlen) {
    (void)first;
    (void)err;
    (void)errlen;
    memset(rec, 0, *(const size_t *)ctx * sizeof *rec);
    rec[REC_IMAGES] = (double)count;
    return 0;
}

/* Rank 0: a fresh run directory with a journal for N one-image shards. */
static int open_book(struct coord_book *book, char *dir, size_t n, long shards, char *err, size_t errlen) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s/recal-bench-dispatch-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "cannot make a temporary run directory in %s", tmp && *tmp ? tmp : "/tmp");
        return -1;
    }
    char logs[2200];
    snprintf(logs, sizeof logs, "%s/logs", dir);
    if (fs_mkdirs(logs, err, errlen)) return -1;
    struct journal_meta jm = {"bench-dispatch", shards, shards, 1, BENCH_RECORD_LEN};
    return coord_book_open(book, dir, 0, 0, &jm, err, errlen);
}

/* Rank 0, after every rank closed its log: the directory goes. */
static void remove_run_dir(const char *dir, int ranks) {
    char path[2300];
    for (int r = 0; r < ranks; r++) {
        snprintf(path, sizeof path, "%s/logs/rank-%d.log", dir, r);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/logs", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/journal", dir);
    unlink(path);
    rmdir(dir);
}

static void print_pass(int journal, int ranks, long shards, double secs, const struct coord_book *book) {
    long cores = cores_usable();
    struct jbuf j = {0};
    jb_printf(&j,
              "{\"case\": \"dispatch\", \"journal\": %s, \"ranks\": %d, \"workers\": %d, \"cores\": %ld, "
              "\"oversubscribed\": %s, \"shards\": %ld, \"record_doubles\": %d, \"seconds\": %.3f, "
              "\"shards_per_s\": %.1f, \"us_per_shard\": %.2f, \"rank0_bookkeeping_s\": %.3f}",
              journal ? "true" : "false", ranks, ranks - 1, cores, ranks > cores ? "true" : "false", shards,
              BENCH_RECORD_LEN, secs, secs > 0 ? (double)shards / secs : 0.0, 1e6 * secs / (double)shards,
              book->coord_seconds);
    jb_put_line(&j, stdout);
    jb_free(&j);
}

/* One pass over `shards` no-op shards. Collective; 0 or -1 (rank 0 says why). */
static int dispatch_pass(int journal, long shards, int rank, int size) {
    char dir[2048] = "", err[2048] = "";
    struct coord_book book;
    memset(&book, 0, sizeof book);
    book.jn.fd = -1;
    int failed = rank == 0 && open_book(&book, dir, sizeof dir, shards, err, sizeof err);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) {
        if (rank == 0) fprintf(stderr, "recal bench: %s\n", err);
        coord_book_close(&book);
        return -1;
    }
    MPI_Bcast(dir, (int)sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (journal) { /* a run's per-shard log lines are part of its bookkeeping */
        char path[2300];
        snprintf(path, sizeof path, "%s/logs/rank-%d.log", dir, rank);
        log_open(path, rank, err, sizeof err);
    }
    size_t len = BENCH_RECORD_LEN;
    double total[BENCH_RECORD_LEN];
    struct coord_opts o = {.n_images = shards,
                           .shard_images = 1,
                           .log_every_s = 1e9,
                           .stage_name = "dispatch",
                           .unit = "shards",
                           .book = rank == 0 ? &book : NULL,
                           .shard_fn = noop_shard,
                           .shard_ctx = &len,
                           .record_len = len,
                           .no_journal = !journal,
                           .no_local_worker = 1};
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = clock_now_s();
    int rc = coord_run(&o, MPI_COMM_WORLD, total, err, sizeof err);
    double secs = clock_now_s() - t0; /* coord_run ends in an Allreduce: every rank is done */
    if (rank == 0 && rc == 0) print_pass(journal, size, shards, secs, &book);
    if (rank == 0 && rc) fprintf(stderr, "recal bench: dispatch: %s\n", rc < 0 ? err : "interrupted");
    log_close();
    coord_book_close(&book);
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) remove_run_dir(dir, size);
    return rc ? -1 : 0;
}

int bench_dispatch(int argc, char **argv, long shards) {
    int provided = 0, rank = 0, size = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int code = EXIT_OK;
    if (size < 2) {
        fprintf(stderr, "recal bench --dispatch: needs workers: run it under mpirun -n R with R >= 2 "
                        "(e.g. mpirun --oversubscribe -n 33)\n");
        code = EXIT_USER;
    } else if (dispatch_pass(0, shards, rank, size) ||
               dispatch_pass(1, shards < BENCH_JOURNAL_SHARDS ? shards : BENCH_JOURNAL_SHARDS, rank, size)) {
        code = EXIT_INTERNAL;
    }
    MPI_Finalize();
    return code;
}
