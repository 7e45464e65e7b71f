/* coordinator/coord_dispatch.c — dynamic shard dispatch over MPI.
 *
 * Only rank 0's main thread calls MPI (MPI_THREAD_FUNNELED is enough); its
 * own share of the compute runs on a second thread that takes shards from
 * the same counter under a mutex. The main thread polls with MPI_Iprobe and
 * sleeps between polls: a blocking receive would spin a core that the
 * compute threads need. */
#include "coord.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shard_plan.h"

enum { TAG_REQ = 11, TAG_ASSIGN = 12, TAG_ERR = 13 };

struct coord_state {
    pthread_mutex_t mu;
    struct wk_engine *e;
    const struct coord_opts *o;
    size_t len;
    long n_shards, next, shards_done, images_done;
    double *records;       /* n_shards × len */
    int failed;
    char err[1100];
    int local_done;
};

static long take_shard(struct coord_state *st) {
    pthread_mutex_lock(&st->mu);
    long s = (!st->failed && st->next < st->n_shards) ? st->next++ : -1;
    pthread_mutex_unlock(&st->mu);
    return s;
}

static void finish_shard(struct coord_state *st, long s, const double *rec) {
    pthread_mutex_lock(&st->mu);
    memcpy(st->records + (size_t)s * st->len, rec, st->len * sizeof *rec);
    st->shards_done++;
    st->images_done += (long)rec[WK_REC_IMAGES];
    pthread_mutex_unlock(&st->mu);
}

static void fail_run(struct coord_state *st, int rank, const char *msg) {
    pthread_mutex_lock(&st->mu);
    if (!st->failed) {
        st->failed = 1;
        snprintf(st->err, sizeof st->err, "rank %d: %s", rank, msg);
    }
    pthread_mutex_unlock(&st->mu);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *local_worker(void *arg) {
    struct coord_state *st = arg;
    double *rec = malloc(st->len * sizeof *rec);
    char err[1024];
    if (!rec) fail_run(st, 0, "out of memory for a result record");
    for (long s; rec && (s = take_shard(st)) >= 0;) {
        struct shard sh;
        shard_plan_get(st->o->n_images, st->o->shard_images, s, &sh);
        double t = now_s();
        if (wk_engine_run(st->e, sh.first, sh.count, rec, err, sizeof err)) {
            fail_run(st, 0, err);
            break;
        }
        log_printf("shard %ld: images %ld..%ld in %.2f s", s, sh.first, sh.first + sh.count - 1, now_s() - t);
        finish_shard(st, s, rec);
    }
    free(rec);
    pthread_mutex_lock(&st->mu);
    st->local_done = 1;
    pthread_mutex_unlock(&st->mu);
    return NULL;
}


static void show_progress(struct coord_state *st, double t0, int final) {
    pthread_mutex_lock(&st->mu);
    long done = st->images_done, total = st->o->n_images;
    pthread_mutex_unlock(&st->mu);
    double el = now_s() - t0, rate = el > 0 ? (double)done / el : 0;
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    char line[256];
    snprintf(line, sizeof line, "%ld/%ld images (%.1f%%)  %.1f images/s  elapsed %.0fs  ETA %.0fs", done, total,
             total ? 100.0 * (double)done / (double)total : 100.0, rate, el, eta);
    if (st->o->progress_tty) {
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
        fflush(stderr);
    } else {
        fprintf(stderr, "progress: %s\n", line);
    }
    log_printf("progress: %s", line);
}

static int coordinator(struct coord_state *st, MPI_Comm comm, int size) {
    pthread_t th;
    if (pthread_create(&th, NULL, local_worker, st)) {
        fail_run(st, 0, "cannot start the local worker thread");
        return -1;
    }
    int active = size - 1;
    double t0 = now_s(), last = t0;
    double *buf = malloc((st->len + 1) * sizeof *buf);
    char msg[1024];
    for (;;) {
        pthread_mutex_lock(&st->mu);
        int local_done = st->local_done;
        pthread_mutex_unlock(&st->mu);
        if (active == 0 && local_done) break;
        int flag = 0;
        MPI_Status status;
        if (active > 0) MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &status);
        if (!flag) {
            double t = now_s();
            if ((st->o->progress_tty && t - last > 0.5) || t - last > st->o->log_every_s) {
                show_progress(st, t0, 0);
                last = t;
            }
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (status.MPI_TAG == TAG_ERR) {
            int n = 0;
            MPI_Get_count(&status, MPI_CHAR, &n);
            if (n >= (int)sizeof msg) n = sizeof msg - 1;
            MPI_Recv(msg, (int)sizeof msg, MPI_CHAR, status.MPI_SOURCE, TAG_ERR, comm, MPI_STATUS_IGNORE);
            msg[n] = '\0';
            fail_run(st, status.MPI_SOURCE, msg);
            active--;
            continue;
        }
        /* TAG_REQ: [shard index done or -1, record...] */
        MPI_Recv(buf, (int)st->len + 1, MPI_DOUBLE, status.MPI_SOURCE, TAG_REQ, comm, MPI_STATUS_IGNORE);
        long done = (long)buf[0];
        if (done >= 0) finish_shard(st, done, buf + 1);
        long next = take_shard(st);
        MPI_Send(&next, 1, MPI_LONG, status.MPI_SOURCE, TAG_ASSIGN, comm);
        if (next < 0) active--;
    }
    pthread_join(th, NULL);
    free(buf);
    show_progress(st, t0, 1);
    return st->failed ? -1 : 0;
}

static int worker(struct wk_engine *e, const struct coord_opts *o, MPI_Comm comm, size_t len) {
    double *buf = calloc(len + 1, sizeof *buf);
    char err[1024];
    int rc = 0;
    buf[0] = -1;
    for (;;) {
        long s;
        MPI_Send(buf, (int)len + 1, MPI_DOUBLE, 0, TAG_REQ, comm);
        MPI_Recv(&s, 1, MPI_LONG, 0, TAG_ASSIGN, comm, MPI_STATUS_IGNORE);
        if (s < 0) break;
        struct shard sh;
        shard_plan_get(o->n_images, o->shard_images, s, &sh);
        double t = now_s();
        if (wk_engine_run(e, sh.first, sh.count, buf + 1, err, sizeof err)) {
            log_printf("error: %s", err);
            MPI_Send(err, (int)strlen(err) + 1, MPI_CHAR, 0, TAG_ERR, comm);
            rc = -1;
            break;
        }
        log_printf("shard %ld: images %ld..%ld in %.2f s", s, sh.first, sh.first + sh.count - 1, now_s() - t);
        buf[0] = (double)s;
    }
    free(buf);
    return rc;
}

int coord_run(struct wk_engine *e, const struct coord_opts *o, MPI_Comm comm, double *total, char *err,
              size_t errlen) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t len = wk_record_len(e);
    int failed = 0;
    if (rank == 0) {
        struct coord_state st;
        memset(&st, 0, sizeof st);
        pthread_mutex_init(&st.mu, NULL);
        st.e = e;
        st.o = o;
        st.len = len;
        st.n_shards = shard_plan_count(o->n_images, o->shard_images);
        st.records = calloc((size_t)(st.n_shards ? st.n_shards : 1) * len, sizeof *st.records);
        if (!st.records) {
            failed = 1;
            snprintf(err, errlen, "rank 0: out of memory for %ld shard records", st.n_shards);
        } else if (coordinator(&st, comm, size)) {
            failed = 1;
            snprintf(err, errlen, "%s", st.err);
        } else {
            memset(total, 0, len * sizeof *total);
            for (long s = 0; s < st.n_shards; s++)
                for (size_t i = 0; i < len; i++) total[i] += st.records[(size_t)s * len + i];
        }
        free(st.records);
        pthread_mutex_destroy(&st.mu);
    } else {
        failed = worker(e, o, comm, len) != 0;
    }
    int any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, comm);
    return any ? -1 : 0;
}
