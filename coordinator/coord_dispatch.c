/* coordinator/coord_dispatch.c — dynamic shard dispatch over MPI.
 *
 * Only rank 0's main thread calls MPI (MPI_THREAD_FUNNELED is enough); its
 * own share of the compute runs on a second thread that takes shards from
 * the same counter under a mutex. The main thread polls with MPI_Iprobe and
 * sleeps between polls: a blocking receive would spin a core that the
 * compute threads need. The nap starts at NAP_MIN_NS after each message and
 * doubles while nothing comes, up to NAP_MAX_NS: while requests keep
 * arriving (many ranks, short shards) each wake-up finds the next one at
 * once; an idle coordinator still wakes only every 2 ms. A finished shard
 * is appended to the journal (and fsync'ed) before it counts; a stop signal
 * ends the hand-out while the shards in flight finish, so they are
 * journaled too.
 *
 * Look-ahead: a task that asks for its next shard before the current one
 * ends (coord_next_fn, once its last batch is read) holds two — the one it
 * computes and the one it reads ahead — and sends the first one's result
 * later without asking again (MSG_WANT 0), so no rank waits for the
 * hand-out or for its next shard's first batch. A shard asked ahead is in
 * flight: on a stop it is computed (or given up after the grace) like the
 * current one. */
#include "coord.h"
#include "record.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "progress.h"
#include "shard_plan.h"

enum { TAG_REQ = 11, TAG_ASSIGN = 12, TAG_ERR = 13 };
/* A worker's message: [shard done or -1, stop asked, wants its next shard
 * (then an assignment answers it), shard given up or -1, record...]; the
 * record only when a shard is done. */
enum { MSG_SHARD = 0, MSG_STOP = 1, MSG_WANT = 2, MSG_LEFT = 3, MSG_RECORD = 4 };

struct coord_state {
    pthread_mutex_t mu;  /* the counters, flags and records below */
    pthread_mutex_t jmu; /* the journal: its fsync must not stall the MPI poll */
    const struct coord_opts *o;
    struct coord_book *book;
    size_t len;
    long n_shards, next, taken, shards_done, images_done, images_before;
    /* progress counts planned images (skipped ones included), so it ends at 100% */
    long planned_done, planned_before;
    double planned_busy; /* seconds the planned_done images took, summed over their shards (the ETA's rate) */
    long local_units;    /* rank 0's own shard in flight: its images (0: none), since when */
    double local_since;
    long *holds; /* main thread: per rank the shard it computes (-1: none), since when */
    double *since;
    long *queued;        /* main thread: per rank the shard it asked for ahead (-1: none) */
    int *ended;          /* main thread: per rank, told there is no shard left (2: and counted out) */
    int size, computing; /* ranks; those that compute shards */
    int failed, stopping;
    char err[1100];
    int local_done;
    long local_shards;
    double busy_s;        /* dispatch bookkeeping, both threads (coord_book.coord_seconds) */
    const char *hosts;    /* size × COORD_HOST_LEN: each rank's host name (the watchdog names it) */
    double longest_local; /* rank 0's own longest shard, seconds (the watchdog's scale too) */
    long local_next;      /* local thread only: the shard it asked for ahead (-1: none) */
    int local_asked;
};

enum { COORD_HOST_LEN = 64, WATCHDOG_FACTOR = 20, COORD_PROGRESS_FLIGHT = 1024 };

static volatile sig_atomic_t g_stop_signal;
/* When the stop signal came (CLOCK_MONOTONIC ns; 0 = none yet, set before
 * g_stop_signal): lock-free atomics and clock_gettime are
 * async-signal-safe. */
static atomic_llong g_stop_at_ns;
static double g_stop_grace_s = 60.0;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_stop_signal(int sig) {
    if (!g_stop_signal) {
        atomic_store(&g_stop_at_ns, now_ns());
        g_stop_signal = sig;
    }
}

void coord_set_stop_grace(double seconds) {
    g_stop_grace_s = seconds;
}

int coord_stop_overdue(void) {
    long long at = atomic_load(&g_stop_at_ns);
    return at && (double)(now_ns() - at) >= g_stop_grace_s * 1e9;
}

int coord_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* file reads in the engine must not see EINTR */
    const int sigs[] = {SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], &sa, NULL)) return -1;
    return 0;
}

int coord_stop_signal(void) {
    return (int)g_stop_signal;
}

/* The run's compute: the caller's task (recal run's engine, recal bench's no-op). */
static int compute_shard(const struct coord_opts *o, const struct shard *sh, double *rec, char *err, size_t errlen) {
    return o->shard_fn(o->shard_ctx, sh->first, sh->count, rec, err, errlen);
}

static void add_busy(struct coord_state *st, double since) {
    double dt = clock_now_s() - since;
    pthread_mutex_lock(&st->mu);
    st->busy_s += dt;
    pthread_mutex_unlock(&st->mu);
}

static long take_shard(struct coord_state *st) {
    pthread_mutex_lock(&st->mu);
    long s = -1;
    if (!st->failed && !st->stopping) {
        while (st->next < st->n_shards && st->book->done[st->next]) st->next++; /* journaled earlier */
        if (st->next < st->n_shards) {
            s = st->next++;
            st->taken++;
        }
    }
    pthread_mutex_unlock(&st->mu);
    return s;
}

static void fail_run(struct coord_state *st, int rank, const char *msg) {
    pthread_mutex_lock(&st->mu);
    if (!st->failed) {
        st->failed = 1;
        snprintf(st->err, sizeof st->err, "rank %d: %s", rank, msg);
    }
    pthread_mutex_unlock(&st->mu);
}

/* Journal first, then count: a shard in the per-shard array is a shard on
 * disk, so an interrupted run never reports one it would lose. */
static void finish_shard(struct coord_state *st, long s, const double *rec, double took) {
    struct shard sh;
    char err[1024];
    if (shard_plan_get(st->o->n_images, st->o->shard_images, s, &sh)) {
        snprintf(err, sizeof err, "internal error: a result for shard %ld, outside the plan of %ld", s, st->n_shards);
        fail_run(st, 0, err);
        return;
    }
    int rc = 0;
    if (!st->o->no_journal) {
        pthread_mutex_lock(&st->jmu);
        rc = journal_append(&st->book->jn, s, sh.first, sh.count, rec, err, sizeof err);
        pthread_mutex_unlock(&st->jmu);
    }
    if (rc) {
        fail_run(st, 0, err);
        return;
    }
    pthread_mutex_lock(&st->mu);
    coord_book_mark(st->book, s, rec); /* journaled above, under jmu */
    st->shards_done++;
    st->images_done += (long)rec[REC_IMAGES];
    st->planned_done += sh.count;
    st->planned_busy += took;
    pthread_mutex_unlock(&st->mu);
}

/* No new shards from now on; the ones handed out still finish. */
static void begin_stop(struct coord_state *st, const char *why) {
    pthread_mutex_lock(&st->mu);
    int first = !st->stopping && !st->failed;
    st->stopping = 1;
    long in_flight = st->taken - st->shards_done;
    pthread_mutex_unlock(&st->mu);
    if (!first) return;
    log_printf("stop asked (%s): no new shards; waiting for %ld in flight (up to %g s each after the signal)", why,
               in_flight, g_stop_grace_s);
    fprintf(stderr, "%srecal: %s: no new shards; finishing the %ld in flight (stop_grace_seconds %g), then stopping\n",
            st->o->progress_tty ? "\n" : "", why, in_flight, g_stop_grace_s);
}

/* rank 0's look-ahead (coord_next_fn): from the same counter, no MPI. */
static int local_next(void *arg, long *first, long *count) {
    struct coord_state *st = arg;
    struct shard sh;
    if (st->local_asked) return 0;
    st->local_asked = 1;
    double tb = clock_now_s();
    st->local_next = take_shard(st);
    add_busy(st, tb);
    if (st->local_next < 0 || shard_plan_get(st->o->n_images, st->o->shard_images, st->local_next, &sh)) return 0;
    *first = sh.first;
    *count = sh.count;
    return 1;
}

static void *local_worker(void *arg) {
    struct coord_state *st = arg;
    double *rec = malloc(st->len * sizeof *rec);
    char err[1024];
    long n = 0;
    if (!rec) fail_run(st, 0, "out of memory for a result record");
    double tb = clock_now_s();
    long s = rec ? take_shard(st) : -1;
    add_busy(st, tb);
    while (s >= 0) {
        struct shard sh;
        shard_plan_get(st->o->n_images, st->o->shard_images, s, &sh);
        double t = clock_now_s();
        pthread_mutex_lock(&st->mu);
        st->local_units = sh.count;
        st->local_since = t;
        pthread_mutex_unlock(&st->mu);
        st->local_asked = 0;
        st->local_next = -1;
        int rc = compute_shard(st->o, &sh, rec, err, sizeof err);
        pthread_mutex_lock(&st->mu);
        st->local_units = 0;
        pthread_mutex_unlock(&st->mu);
        if (rc == COORD_ABANDONED) {
            /* one asked for ahead is given up too: both are computed again on resume */
            log_printf("%s: the stop's grace (%g s) passed; it is computed again on resume", err, g_stop_grace_s);
            break;
        }
        if (rc) {
            fail_run(st, 0, err);
            break;
        }
        double took = clock_now_s() - t;
        log_printf("shard %ld: images %ld..%ld in %.2f s", s, sh.first, sh.first + sh.count - 1, took);
        pthread_mutex_lock(&st->mu);
        if (took > st->longest_local) st->longest_local = took;
        pthread_mutex_unlock(&st->mu);
        tb = clock_now_s();
        finish_shard(st, s, rec, took);
        s = st->local_asked ? st->local_next : take_shard(st);
        add_busy(st, tb);
        n++;
    }
    free(rec);
    pthread_mutex_lock(&st->mu);
    st->local_shards = n;
    st->local_done = 1;
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* The stage's line (docs/outputs.md, "Progress"): its own count, rate,
 * elapsed time and ETA, from the shards finished in this session and the
 * ones in flight. Main thread only (it reads holds and since). */
static void show_progress(struct coord_state *st, double t0, int final) {
    const struct coord_opts *o = st->o;
    const double now = clock_now_s();
    long flight_units[COORD_PROGRESS_FLIGHT + 1]; /* + rank 0's own */
    double flight_busy[COORD_PROGRESS_FLIGHT + 1];
    int n_flight = 0;
    /* remote shards in flight; the first thousand ranks' are plenty for an ETA */
    for (int r = 1; st->holds && r < st->size && n_flight < COORD_PROGRESS_FLIGHT; r++) {
        struct shard sh;
        if (st->holds[r] < 0 || shard_plan_get(o->n_images, o->shard_images, st->holds[r], &sh)) continue;
        flight_units[n_flight] = sh.count;
        flight_busy[n_flight++] = now - st->since[r];
    }
    pthread_mutex_lock(&st->mu);
    struct progress_in in = {.total = o->n_images,
                             .done = st->planned_before + st->planned_done,
                             .fresh = st->planned_done,
                             .busy = st->planned_busy,
                             .ranks = st->computing,
                             .flight_units = flight_units,
                             .flight_busy = flight_busy};
    if (st->local_units > 0) {
        flight_units[n_flight] = st->local_units;
        flight_busy[n_flight++] = now - st->local_since;
    }
    pthread_mutex_unlock(&st->mu);
    in.n_flight = n_flight;
    /* The rate counts this session's images only: journaled ones cost nothing. */
    const double el = now - t0, rate = el > 0 ? (double)in.fresh / el : 0;
    char line[320];
    progress_line(line, sizeof line, o->stage_no > 0 ? o->stage_no : 1, o->n_stages > 0 ? o->n_stages : 1,
                  o->stage_name ? o->stage_name : "evaluation", in.done, in.total, o->unit ? o->unit : "images", rate,
                  el, progress_eta(&in));
    if (o->progress_tty) {
        fprintf(stderr, "\r\033[K%s%s", line, final ? "\n" : "");
        fflush(stderr);
    } else {
        fprintf(stderr, "progress: %s\n", line);
    }
    log_printf("progress: %s", line);
}

enum { NAP_MIN_NS = 20000, NAP_MAX_NS = 2000000 };

/* One worker message (MSG_*): its result, its stop, its request. Main
 * thread. */
static void on_request(struct coord_state *st, MPI_Comm comm, int src, double *buf, int *active, int *hung,
                       double *longest) {
    MPI_Recv(buf, (int)st->len + MSG_RECORD, MPI_DOUBLE, src, TAG_REQ, comm, MPI_STATUS_IGNORE);
    const long done = (long)buf[MSG_SHARD], left = (long)buf[MSG_LEFT];
    if (buf[MSG_STOP] != 0) { /* a signal reached that rank (e.g. srun --signal) */
        char why[64];
        snprintf(why, sizeof why, "signal on rank %d", src);
        begin_stop(st, why);
    }
    if (src == *hung) { /* it woke up after all: let it go */
        *hung = -1;
        (*active)++;
    }
    const double now = clock_now_s();
    double took = 0;
    if (done >= 0 || left >= 0) { /* its current shard ends; the one asked for ahead begins */
        if (done >= 0 && st->holds[src] >= 0) took = now - st->since[src];
        st->holds[src] = st->queued[src];
        st->queued[src] = -1;
        st->since[src] = now;
    }
    if (took > *longest) *longest = took;
    if (buf[MSG_WANT] != 0) {
        /* The worker gets its next shard before its result is journaled:
         * the fsync (0.15–3 ms here, more on network file systems) then
         * overlaps the worker's compute instead of adding to its wait.
         * Nothing counts the result until finish_shard has it on disk. */
        long next = take_shard(st);
        if (st->holds[src] < 0) { /* idle: it starts now */
            st->holds[src] = next;
            st->since[src] = now;
        } else {
            st->queued[src] = next; /* asked ahead: it starts when the current one ends */
        }
        if (next < 0) st->ended[src] = 1;
        MPI_Send(&next, 1, MPI_LONG, src, TAG_ASSIGN, comm);
    }
    if (st->ended[src] == 1 && st->holds[src] < 0 && st->queued[src] < 0) { /* nothing left to hear from it */
        st->ended[src] = 2;
        (*active)--;
    }
    if (done >= 0) finish_shard(st, done, buf + MSG_RECORD, took);
}

static int coordinator(struct coord_state *st, MPI_Comm comm, int size) {
    pthread_t th;
    int local = !st->o->no_local_worker;
    if (!local) st->local_done = 1;
    else if (pthread_create(&th, NULL, local_worker, st)) {
        fail_run(st, 0, "cannot start the local worker thread");
        return -1;
    }
    int active = size - 1, hung = -1;
    double t0 = clock_now_s(), last = t0, longest = 0;
    double *buf = malloc((st->len + MSG_RECORD) * sizeof *buf);
    /* per rank: the shard it computes (-1: none) and since when, the one it asked for ahead */
    long *holds = malloc((size_t)size * sizeof *holds), *queued = malloc((size_t)size * sizeof *queued);
    double *since = malloc((size_t)size * sizeof *since);
    int *ended = calloc((size_t)size, sizeof *ended);
    if (!buf || !holds || !since || !queued || !ended) {
        fail_run(st, 0, "out of memory for the dispatch");
        active = 0;
    }
    for (int r = 0; holds && queued && r < size; r++) holds[r] = queued[r] = -1;
    st->holds = holds;
    st->since = since;
    st->queued = queued;
    st->ended = ended;
    st->size = size;
    st->computing = size - 1 + local;
    char msg[1024];
    long nap_ns = NAP_MIN_NS;
    int shown_first = 0;
    show_progress(st, t0, 0); /* the stage has begun: "estimating" */
    for (;;) {
        int sig = coord_stop_signal();
        if (sig) begin_stop(st, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "SIGUSR1");
        pthread_mutex_lock(&st->mu);
        int local_done = st->local_done;
        pthread_mutex_unlock(&st->mu);
        if (active == 0 && local_done) break;
        int flag = 0;
        MPI_Status status;
        if (active > 0) MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, comm, &flag, &status);
        if (!flag) {
            double t = clock_now_s();
            pthread_mutex_lock(&st->mu);
            const int first = !shown_first && st->shards_done > 0;
            pthread_mutex_unlock(&st->mu);
            /* the first shard of the session gives the first ETA: shown at once */
            if (first || (st->o->progress_tty && t - last > 0.5) || t - last > st->o->log_every_s) {
                show_progress(st, t0, 0);
                last = t;
                shown_first |= first;
            }
            /* Armed once some shard has finished: before that nobody knows
             * how long one takes (a first CPU shard of ImageNet images can
             * take longer than any fixed floor). */
            pthread_mutex_lock(&st->mu);
            double scale = longest > st->longest_local ? longest : st->longest_local;
            pthread_mutex_unlock(&st->mu);
            double limit = st->o->watchdog_s > WATCHDOG_FACTOR * scale ? st->o->watchdog_s : WATCHDOG_FACTOR * scale;
            for (int r = 1; st->o->watchdog_s > 0 && scale > 0 && holds && hung < 0 && r < size; r++)
                if (holds[r] >= 0 && t - since[r] > limit) {
                    /* It may never answer: stop handing out, wait for the
                     * others, and leave it out of the count. */
                    hung = r;
                    active--;
                    char why[COORD_HOST_LEN + 160];
                    snprintf(why, sizeof why, "rank %d on %s silent for %.0f s in shard %ld (watchdog)", r,
                             st->hosts ? st->hosts + (size_t)r * COORD_HOST_LEN : "?", t - since[r], holds[r]);
                    log_printf("watchdog: %s; limit %.0f s = max(watchdog_seconds %g, %d x the longest shard %.1f s)",
                               why, limit, st->o->watchdog_s, WATCHDOG_FACTOR, scale);
                    begin_stop(st, why);
                }
            struct timespec ts = {0, nap_ns};
            nanosleep(&ts, NULL);
            nap_ns = nap_ns * 2 < NAP_MAX_NS ? nap_ns * 2 : NAP_MAX_NS;
            continue;
        }
        nap_ns = NAP_MIN_NS; /* a message: the next one may be close behind */
        double tb = clock_now_s();
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
        on_request(st, comm, status.MPI_SOURCE, buf, &active, &hung, &longest);
        add_busy(st, tb);
    }
    if (local) pthread_join(th, NULL);
    st->holds = st->queued = NULL;
    st->since = NULL;
    st->ended = NULL;
    free(buf);
    free(holds);
    free(queued);
    free(since);
    free(ended);
    show_progress(st, t0, 1);
    if (st->failed) return -1;
    if (hung >= 0) {
        fprintf(stderr,
                "recal: rank %d on %s has held a shard without a word for longer than the watchdog allows (a stopped "
                "process or a hung GPU?); every other shard is journaled: the run stops resumably\n",
                hung, st->hosts ? st->hosts + (size_t)hung * COORD_HOST_LEN : "?");
        return COORD_HUNG;
    }
    if (st->taken > st->shards_done)
        fprintf(stderr,
                "recal: %ld shard(s) in flight ran past the stop's grace (stop_grace_seconds %g) and were "
                "abandoned; they are computed again on resume\n",
                st->taken - st->shards_done, g_stop_grace_s);
    return st->book->n_resumed + st->shards_done == st->n_shards ? 0 : COORD_INTERRUPTED;
}

/* A worker rank's side of the hand-out: its message buffer, the shard it
 * asked for ahead, and how long it waited for assignments. */
struct worker_link {
    const struct coord_opts *o;
    MPI_Comm comm;
    double *buf; /* MSG_RECORD + record_len doubles */
    size_t len;
    long next; /* the shard asked for ahead (-1: none) */
    int asked;
    double wait_s, wait_max; /* idle for an assignment: this rank's share of the dispatch overhead */
};

/* Send the message in buf (with the record when a shard is done) and, when it
 * wants one, wait for the assignment. */
static long worker_send(struct worker_link *w, long done, long left, int want) {
    long s = -1;
    w->buf[MSG_SHARD] = (double)done;
    w->buf[MSG_STOP] = coord_stop_signal() != 0;
    w->buf[MSG_WANT] = want;
    w->buf[MSG_LEFT] = (double)left;
    double tw = clock_now_s();
    MPI_Send(w->buf, MSG_RECORD + (done >= 0 ? (int)w->len : 0), MPI_DOUBLE, 0, TAG_REQ, w->comm);
    if (!want) return -1;
    MPI_Recv(&s, 1, MPI_LONG, 0, TAG_ASSIGN, w->comm, MPI_STATUS_IGNORE);
    tw = clock_now_s() - tw;
    w->wait_s += tw;
    if (tw > w->wait_max) w->wait_max = tw;
    return s;
}

/* The look-ahead (coord_next_fn) on a worker rank: this rank computes on
 * MPI's thread, so the task's call may speak MPI. */
static int worker_next(void *arg, long *first, long *count) {
    struct worker_link *w = arg;
    struct shard sh;
    if (w->asked) return 0;
    w->asked = 1;
    w->next = worker_send(w, -1, -1, 1);
    if (w->next < 0 || shard_plan_get(w->o->n_images, w->o->shard_images, w->next, &sh)) return 0;
    *first = sh.first;
    *count = sh.count;
    return 1;
}

static int worker(struct worker_link *w) {
    const struct coord_opts *o = w->o;
    char err[1024];
    int rc = 0;
    long n = 0;
    if (!w->buf) {
        snprintf(err, sizeof err, "out of memory for a result record");
        MPI_Send(err, (int)strlen(err) + 1, MPI_CHAR, 0, TAG_ERR, w->comm);
        return -1;
    }
    for (long s = worker_send(w, -1, -1, 1); s >= 0;) {
        struct shard sh;
        shard_plan_get(o->n_images, o->shard_images, s, &sh);
        double t = clock_now_s();
        n++;
        w->asked = 0;
        w->next = -1;
        int rc_shard = compute_shard(o, &sh, w->buf + MSG_RECORD, err, sizeof err);
        if (rc_shard && rc_shard != COORD_ABANDONED) {
            log_printf("error: %s", err);
            MPI_Send(err, (int)strlen(err) + 1, MPI_CHAR, 0, TAG_ERR, w->comm);
            rc = -1;
            break;
        }
        if (rc_shard == COORD_ABANDONED) /* no result; rank 0, stopping, answers -1 */
            log_printf("%s: the stop's grace (%g s) passed; it is computed again on resume", err, g_stop_grace_s);
        else
            log_printf("shard %ld: images %ld..%ld in %.2f s", s, sh.first, sh.first + sh.count - 1, clock_now_s() - t);
        const long done = rc_shard ? -1 : s, left = rc_shard ? s : -1;
        if (w->asked) { /* the next one is known: the result goes without a question */
            worker_send(w, done, left, 0);
            s = w->next;
        } else {
            s = worker_send(w, done, left, 1);
        }
    }
    log_printf("dispatch: %ld shards, %.3f s waiting for the next one (request to assignment; longest %.3f s)", n,
               w->wait_s, w->wait_max);
    return rc;
}

int coord_run(const struct coord_opts *o, MPI_Comm comm, double *total, char *err, size_t errlen) {
    int rank, size;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    size_t len = o->record_len;
    int state = 0; /* 0 done, 1 interrupted, 2 failed: the worst wins everywhere */
    /* every rank's host name, for the watchdog's message */
    char me[COORD_HOST_LEN] = "?", *hosts = rank == 0 ? calloc((size_t)size, COORD_HOST_LEN) : NULL;
    gethostname(me, sizeof me - 1);
    int have = rank != 0 || hosts; /* without rank 0's buffer, no rank gathers (the names become "?") */
    MPI_Bcast(&have, 1, MPI_INT, 0, comm);
    if (have) MPI_Gather(me, COORD_HOST_LEN, MPI_CHAR, hosts, COORD_HOST_LEN, MPI_CHAR, 0, comm);
    if (rank == 0) {
        struct coord_state st;
        memset(&st, 0, sizeof st);
        pthread_mutex_init(&st.mu, NULL);
        pthread_mutex_init(&st.jmu, NULL);
        st.o = o;
        st.book = o->book;
        st.len = len;
        st.n_shards = shard_plan_count(o->n_images, o->shard_images);
        for (long s = 0; s < st.n_shards; s++)
            if (st.book->done[s]) {
                struct shard sh;
                st.images_before += (long)st.book->records[(size_t)s * len + REC_IMAGES];
                if (shard_plan_get(o->n_images, o->shard_images, s, &sh) == 0) st.planned_before += sh.count;
            }
        st.book->images_resumed = st.images_before;
        st.hosts = hosts;
        if (o->bind_ahead) o->bind_ahead(o->shard_ctx, local_next, &st);
        int rc = coordinator(&st, comm, size);
        if (o->bind_ahead) o->bind_ahead(o->shard_ctx, NULL, NULL);
        free(hosts);
        hosts = NULL;
        st.book->n_done = st.book->n_resumed + st.shards_done;
        st.book->coord_seconds = st.busy_s;
        st.book->local_shards = st.local_shards;
        log_printf("dispatch: %ld shards (%ld computed here), %.3f s of bookkeeping on rank 0", st.shards_done,
                   st.local_shards, st.busy_s);
        if (rc == COORD_HUNG) { /* no collective: the hung rank would never join it */
            pthread_mutex_destroy(&st.jmu);
            pthread_mutex_destroy(&st.mu);
            return COORD_HUNG;
        }
        if (rc < 0) {
            state = 2;
            snprintf(err, errlen, "%s", st.err);
        } else if (rc == COORD_INTERRUPTED) {
            state = 1;
        } else {
            memset(total, 0, len * sizeof *total);
            for (long s = 0; o->fold && s < st.n_shards; s++)
                o->fold(o->fold_ctx, total, st.book->records + (size_t)s * len);
        }
        pthread_mutex_destroy(&st.jmu);
        pthread_mutex_destroy(&st.mu);
    } else {
        struct worker_link w = {.o = o, .comm = comm, .buf = calloc(len + MSG_RECORD, sizeof(double)), .len = len};
        if (o->bind_ahead) o->bind_ahead(o->shard_ctx, worker_next, &w);
        state = worker(&w) != 0 ? 2 : 0;
        if (o->bind_ahead) o->bind_ahead(o->shard_ctx, NULL, NULL);
        free(w.buf);
    }
    int worst = 0;
    MPI_Allreduce(&state, &worst, 1, MPI_INT, MPI_MAX, comm);
    return worst == 2 ? -1 : worst == 1 ? COORD_INTERRUPTED : 0;
}
