/* train/roar_stage.c — see roar_stage.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "roar_stage.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "diffid.h"
#include "dp_train.h"
#include "ds_job.h"
#include "npy.h"
#include "seed.h"
#include "torch_shim.h"
#include "train_loop.h"

struct roar_task roar_task_of(int t, int n_fractions) {
    struct roar_task task = {t / (n_fractions * 2), (t / 2) % n_fractions, t % 2};
    return task;
}

struct map_file {
    long first, last;
    char name[64];
};

static int by_first(const void *a, const void *b) {
    const struct map_file *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

/* RUN_DIR/masks/shard-<first>-<last>.npy, by first image id (a directory
 * listing, not glob: the run directory's name may hold glob's characters). */
static int list_maps(const char *dir, struct map_file **out, size_t *n, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    *out = NULL;
    *n = 0;
    if (!d) {
        snprintf(err, errlen, "%s: no rank maps (the stage that writes them did not finish?)", dir);
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        struct map_file f;
        int end = 0;
        if (sscanf(e->d_name, "shard-%ld-%ld.npy%n", &f.first, &f.last, &end) != 2 || e->d_name[end] != '\0' ||
            strlen(e->d_name) >= sizeof f.name)
            continue; /* not a shard (a temporary file, another name) */
        snprintf(f.name, sizeof f.name, "%s", e->d_name);
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            struct map_file *grown = realloc(*out, cap * sizeof *grown);
            if (!grown) {
                snprintf(err, errlen, "out of memory listing %s", dir);
                rc = -1;
                break;
            }
            *out = grown;
        }
        (*out)[(*n)++] = f;
    }
    closedir(d);
    if (!rc && *n == 0) {
        snprintf(err, errlen, "%s: no rank maps (the stage that writes them did not finish?)", dir);
        rc = -1;
    }
    if (rc) {
        free(*out);
        *out = NULL;
        return -1;
    }
    qsort(*out, *n, sizeof **out, by_first);
    return 0;
}

static int load_maps(const char *run_dir, int slots, int h, int w, struct roar_maps *m, char *err, size_t errlen) {
    char dir[4200], path[4400];
    struct map_file *files = NULL;
    size_t n_files = 0;
    memset(m, 0, sizeof *m);
    snprintf(dir, sizeof dir, "%s/masks", run_dir);
    if (list_maps(dir, &files, &n_files, err, errlen)) return -1;
    int rc = -1;
    m->slots = slots;
    m->hw = (long)h * w;
    /* each shard must start where the previous one ended */
    for (size_t f = 0; f < n_files; f++) {
        struct npy_array a;
        const long first = files[f].first, last = files[f].last;
        snprintf(path, sizeof path, "%s/%s", dir, files[f].name);
        if (first != m->n || last < first) {
            snprintf(err, errlen, "%s: unexpected shard (expected images from %ld on): was a file removed?", path,
                     m->n);
            goto out;
        }
        if (npy_read(path, &a, err, errlen)) goto out;
        long cnt = last - first + 1;
        if (a.dtype != NPY_U16 || a.ndim != 4 || a.shape[0] != cnt || a.shape[1] != slots || a.shape[2] != h ||
            a.shape[3] != w) {
            snprintf(err, errlen, "%s: rank maps of the wrong shape or type (want uint16 %ld×%d×%d×%d)", path, cnt,
                     slots, h, w);
            npy_free(&a);
            goto out;
        }
        uint16_t *grown = realloc(m->r, (size_t)((m->n + cnt) * slots * m->hw) * sizeof *grown);
        if (!grown) {
            snprintf(err, errlen, "out of memory for the rank maps of %s", run_dir);
            npy_free(&a);
            goto out;
        }
        m->r = grown;
        memcpy(m->r + m->n * slots * m->hw, a.data, (size_t)(cnt * slots * m->hw) * sizeof *m->r);
        m->n += cnt;
        npy_free(&a);
    }
    rc = 0;
out:
    free(files);
    if (rc) {
        free(m->r);
        m->r = NULL;
    }
    return rc;
}

int roar_stage_open(struct roar_stage *r, const struct job *job, int device, const char *train_dir,
                    const char *test_dir, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->job = job;
    r->device = device;
    r->n_slots = rec_plan_slots(job, r->slots);
    r->n_tasks = r->n_slots * job->roar.n_fractions * 2;
    MPI_Comm_rank(MPI_COMM_WORLD, &r->rank);
    /* Open without a limit to learn the image size, then keep as many
     * images as the stages wrote rank maps for. */
    if (wk_ds_open(job, "train", 0, &r->train, err, errlen) || wk_ds_open(job, job->split, 0, &r->test, err, errlen) ||
        load_maps(train_dir, r->n_slots, r->train.h, r->train.w, &r->mtr, err, errlen) ||
        load_maps(test_dir, r->n_slots, r->test.h, r->test.w, &r->mte, err, errlen))
        return -1;
    if (r->mtr.n > r->train.n || r->mte.n > r->test.n) {
        snprintf(err, errlen,
                 "rank maps of %ld train and %ld test images but %s has %ld and %ld (made with another data set?)",
                 r->mtr.n, r->mte.n, job->dataset_name, r->train.n, r->test.n);
        return -1;
    }
    r->train.n = r->mtr.n; /* ds_get reads ids < n: the mapped prefix */
    r->test.n = r->mte.n;
    return 0;
}

void roar_stage_close(struct roar_stage *r) {
    free(r->mtr.r);
    free(r->mte.r);
    r->mtr.r = r->mte.r = NULL;
    if (r->train.impl) ds_close(&r->train);
    if (r->test.impl) ds_close(&r->test);
}

/* One split seen through a fine-tune's masks (train_loop's fill): keep the
 * top (or bottom) k of each image's pixels, the others set to 0. */
struct masked_view {
    const struct ds_dataset *ds;
    const struct roar_maps *m;
    int slot, top;
    long k;
};

static int fill_masked(void *ctx, const long *ids, long n, float *x, int64_t *y, char *err, size_t errlen) {
    const struct masked_view *v = ctx;
    const long hw = v->m->hw, d = (long)v->ds->c * hw;
    for (long i = 0; i < n; i++) {
        if (ds_get(v->ds, ids[i], 1, x + i * d, y + i, err, errlen)) return -1;
        const uint16_t *rank = v->m->r + (ids[i] * v->m->slots + v->slot) * hw;
        float *xi = x + i * d;
        for (long p = 0; p < hw; p++) {
            int keep = v->top ? rank[p] >= hw - v->k : rank[p] < v->k;
            if (!keep)
                for (int ch = 0; ch < v->ds->c; ch++) xi[(long)ch * hw + p] = 0.0f;
        }
    }
    return 0;
}

/* Data-parallel (comm not NULL): whether any rank of comm failed; the
 * others' err says so. This rank alone: bad. */
static int agree(MPI_Comm comm, int bad, int t, const char *what, char *err, size_t errlen) {
    if (comm == MPI_COMM_NULL) return bad;
    int any = bad;
    MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_MAX, comm);
    if (any && !bad) snprintf(err, errlen, "another rank failed to %s fine-tune %d (see its log)", what, t);
    return any;
}

/* Fine-tune t and score it: 0, -1 with a message, or 1 when stop() asked
 * to give it up (this rank alone only). dp: NULL, or every rank of a
 * data-parallel fine-tune. */
static int run_task(struct roar_stage *r, int t, MPI_Comm comm, double *acc, char *err, size_t errlen) {
    const struct job *job = r->job;
    const struct job_roar *ro = &job->roar;
    const struct roar_task task = roar_task_of(t, ro->n_fractions);
    const long hw = r->mtr.hw, k = diffid_count(ro->fractions[task.frac], hw);
    struct masked_view vtr = {&r->train, &r->mtr, task.slot, task.top, k};
    struct masked_view vte = {&r->test, &r->mte, task.slot, task.top, k};
    const struct tl_data dtr = {fill_masked, &vtr, r->train.n, r->train.c, r->train.h, r->train.w};
    const struct tl_data dte = {fill_masked, &vte, r->test.n, r->test.c, r->test.h, r->test.w};
    ts_module *m = NULL;
    ts_sgd *opt = NULL;
    struct dp_ctx dp = {0};
    struct tl_buf b = {0};
    int rc = -1;
    /* a fine-tune's own seed: the order of the tasks and the rank do not matter */
    ts_manual_seed(seed_for(job->seed, (uint64_t)t, SEED_ROAR_SHUFFLE));
    int bad = tl_buf_alloc(&b, ro->batch_size, (long)r->train.c * hw, r->train.n, err, errlen) != 0;
    if (!bad && ts_module_load(job->model_path, r->device, &m)) {
        snprintf(err, errlen, "%s: %s", job->model_path, ts_last_error());
        bad = 1;
    }
    if (!bad && ro->epochs > 0 &&
        (ts_module_set_train(m, 1) || ts_sgd_new(m, ro->lr, ro->momentum, ro->weight_decay, &opt))) {
        snprintf(err, errlen, "%s: cannot fine-tune: %s", job->model_path, ts_last_error());
        bad = 1;
    }
    /* data-parallel: a failure on one rank stops them all before the next
     * collective, instead of leaving the others waiting in it */
    if (agree(comm, bad, t, "prepare", err, errlen)) goto out;
    if (ro->epochs > 0 && comm != MPI_COMM_NULL && dp_open(&dp, m, comm, r->device, err, errlen)) goto out;
    for (int ep = 0; ep < ro->epochs; ep++) {
        bad = ts_sgd_set_lr(opt, tl_lr_at(ro->lr, ro->milestones, ro->n_milestones, ep)) != 0;
        if (bad) snprintf(err, errlen, "fine-tune failed: %s", ts_last_error());
        if (agree(comm, bad, t, "step", err, errlen)) goto out;
        /* the same data order for every task: top and bottom differ only in their pixels */
        int st = tl_epoch(m, opt, comm != MPI_COMM_NULL ? &dp : NULL, r->device, &dtr, &b, job->seed, ep,
                          SEED_ROAR_SHUFFLE, r->abandon, NULL, NULL, err, errlen);
        if (st) {
            rc = st;
            goto out;
        }
    }
    bad = ts_module_set_train(m, 0) != 0;
    if (bad) snprintf(err, errlen, "fine-tune failed: %s", ts_last_error());
    if (agree(comm, bad, t, "score", err, errlen)) goto out;
    if (tl_score(m, r->device, &dte, &b, comm, acc, err, errlen)) goto out; /* each rank scores a slice */
    rc = 0;
out:
    tl_buf_free(&b);
    dp_close(&dp);
    ts_sgd_free(opt);
    ts_module_free(m);
    return rc;
}

void roar_task_label(const struct roar_stage *r, int t, char *buf, size_t n) {
    const struct roar_task k = roar_task_of(t, r->job->roar.n_fractions);
    const struct rec_slot *sl = &r->slots[k.slot];
    snprintf(buf, n, "%s/%s k=%g %s kept", job_method_label(&r->job->methods[sl->method]),
             job_estimator_name((enum job_estimator)sl->estimator), r->job->roar.fractions[k.frac],
             k.top ? "top" : "bottom");
}

int roar_stage_task(void *ctx, long first, long count, double *rec, char *err, size_t errlen) {
    struct roar_stage *r = ctx;
    (void)count;
    double acc = 0, t0 = clock_now_s();
    int rc = run_task(r, (int)first, MPI_COMM_NULL, &acc, err, errlen);
    if (rc > 0) {
        snprintf(err, errlen, "fine-tune %ld", first);
        return ROAR_ABANDONED;
    }
    if (rc) return -1;
    rec[REC_IMAGES] = 1;
    rec[ROAR_ACC] = acc;
    char what[256];
    roar_task_label(r, (int)first, what, sizeof what);
    fprintf(stderr, "rank %d: fine-tune %ld, %s: test acc %.4f (%.1f s)\n", r->rank, first, what, acc,
            clock_now_s() - t0);
    return 0;
}

int roar_stage_task_dp(struct roar_stage *r, int t, MPI_Comm comm, double *acc, char *err, size_t errlen) {
    return run_task(r, t, comm, acc, err, errlen) ? -1 : 0;
}
