/* src/cmd_roar.c — `recal roar CONFIG --train-run A --test-run B`: Diff-ROAR
 * (docs/metrics.md (ROAR)) from the ROAR rank maps two `recal run`s wrote, one over
 * the train split and one over the test split. For every (method/estimator,
 * fraction k, kept = top or bottom) the classifier is fine-tuned on train
 * images that keep only that part of their pixels (the rest set to the
 * per-channel dataset mean, 0 in the model's input space) and scored on the
 * test images masked the same way; diff_roar(k) = top_acc(k) − bottom_acc(k).
 * The fine-tunes are independent, so MPI ranks take them round robin (one
 * fine-tune per rank at a time); rank 0 gathers the accuracies. Each
 * finished fine-tune is recorded in OUT/roar-tasks/ (roar_tasks.h), and
 * --resume skips the recorded ones. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <glob.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "coord.h"
#include "cli.h"
#include "dataset.h"
#include "dp_train.h"
#include "ds_job.h"
#include "diffid.h"
#include "engine.h"
#include "fsutil.h"
#include "json_finite.h"
#include "job.h"
#include "mpi_util.h"
#include "npy.h"
#include "roar_tasks.h"
#include "seed.h"
#include "torch_shim.h"

static const char *HELP =
    "usage: recal roar CONFIG.yaml --train-run DIR --test-run DIR [--out DIR] [--data-parallel]\n"
    "                  [--resume] [--set key=value]...\n"
    "\n"
    "Diff-ROAR from ROAR rank maps: fine-tune model.path on train images keeping only the top-k\n"
    "or bottom-k most salient pixels of each method (the rest filled with the dataset mean), for\n"
    "every fraction k of metrics.roar.fractions, and score it on the test images masked the same\n"
    "way: diff_roar(k) = top_acc(k) - bottom_acc(k) (higher is better; random attribution ~ 0).\n"
    "\n"
    "  --train-run DIR  a finished `recal run` of this config over the train split\n"
    "                   (--set dataset.split=train); its masks/ hold the train rank maps\n"
    "  --test-run DIR   the same over the evaluation split (dataset.split: test, or val)\n"
    "  --out DIR        where roar.json and roar.csv go (default: the test run directory)\n"
    "  --resume         keep the fine-tunes an interrupted `recal roar` of the same config\n"
    "                   finished (DIR/roar-tasks/, one file each) and run only the rest\n"
    "\n"
    "SIGUSR1 (forwarded by mpirun), SIGTERM or SIGINT stop the fine-tunes in flight (a\n"
    "data-parallel one finishes first); the finished ones stay recorded and the command exits 3:\n"
    "run it again with --resume.\n"
    "\n"
    "metrics.roar: fractions, epochs (0 = score the unchanged model on masked data), lr,\n"
    "milestones (lr / 10 at each), momentum, weight_decay, batch_size. Fine-tunes are spread\n"
    "over MPI ranks (mpirun -n N recal roar ...), each one single-process; with --data-parallel\n"
    "every fine-tune is data-parallel over all ranks instead (gradients summed with MPI), which\n"
    "suits few, large fine-tunes (ImageNet-sized) better than many small ones.\n";

/* All rank maps of one run: n × slots × hw uint16, in image-id order. */
struct roar_maps {
    uint16_t *r;
    long n;
    int slots;
    long hw;
};

static int load_maps(const char *run_dir, int slots, int h, int w, struct roar_maps *m, char *err, size_t errlen) {
    char pat[4200];
    glob_t g;
    memset(m, 0, sizeof *m);
    snprintf(pat, sizeof pat, "%s/masks/shard-*.npy", run_dir);
    if (glob(pat, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        snprintf(err, errlen,
                 "%s/masks: no rank maps (run `recal run` with metrics.roar or outputs.masks: true into "
                 "this directory first)",
                 run_dir);
        return -1;
    }
    int rc = -1;
    m->slots = slots;
    m->hw = (long)h * w;
    /* glob sorts by name; names carry zero-padded first/last ids, so this is
     * id order, and each shard must start where the previous one ended. */
    for (size_t f = 0; f < g.gl_pathc; f++) {
        struct npy_array a;
        long first = -1, last = -1;
        const char *base = strrchr(g.gl_pathv[f], '/');
        if (!base || sscanf(base, "/shard-%ld-%ld.npy", &first, &last) != 2 || first != m->n || last < first) {
            snprintf(err, errlen, "%s: unexpected shard (expected images from %ld on); is the run finished?",
                     g.gl_pathv[f], m->n);
            goto out;
        }
        if (npy_read(g.gl_pathv[f], &a, err, errlen)) goto out;
        long cnt = last - first + 1;
        if (a.dtype != NPY_U16 || a.ndim != 4 || a.shape[0] != cnt || a.shape[1] != slots || a.shape[2] != h ||
            a.shape[3] != w) {
            snprintf(err, errlen,
                     "%s: rank maps of the wrong shape or type (want uint16 %ld×%d×%d×%d; made with "
                     "another config?)",
                     g.gl_pathv[f], cnt, slots, h, w);
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
    globfree(&g);
    if (rc) {
        free(m->r);
        m->r = NULL;
    }
    return rc;
}

/* Keep the top (or bottom) k of the image's pixels, the others set to 0 —
 * the per-channel dataset mean in the model's input space. */
static void mask_image(float *x, int c, const uint16_t *rank, long hw, long k, int top) {
    for (long p = 0; p < hw; p++) {
        int keep = top ? rank[p] >= hw - k : rank[p] < k;
        if (!keep)
            for (int ch = 0; ch < c; ch++) x[(long)ch * hw + p] = 0.0f;
    }
}

struct roar_task {
    int slot, frac, top;
};

/* Images [b0, b0+b) of ds (in the given order, or in id order when order
 * is NULL), masked with slot s's rank maps. */
static int masked_batch(const struct ds_dataset *ds, const struct roar_maps *m, const long *order, long b0, long b,
                        const struct roar_task *t, long k, float *x, int64_t *y, char *err, size_t errlen) {
    const long d = (long)ds->c * m->hw;
    for (long i = 0; i < b; i++) {
        long id = order ? order[b0 + i] : b0 + i;
        if (ds_get(ds, id, 1, x + i * d, y + i, err, errlen)) return -1;
        mask_image(x + i * d, ds->c, m->r + (id * m->slots + t->slot) * m->hw, m->hw, k, t->top);
    }
    return 0;
}

/* One fine-tune and its masked test accuracy: 0, -1 with err, or 1 when a
 * stop signal came (checked between the steps of a fine-tune on one rank;
 * a data-parallel fine-tune's steps are collective, so it runs to its end).
 * dp_comm: MPI_COMM_NULL for a fine-tune on this rank alone, else the ranks
 * that run it data-parallel (every one of them calls this with the same
 * task). */
static int run_task(const struct job *job, int device, const struct ds_dataset *train, const struct ds_dataset *test,
                    const struct roar_maps *mtr, const struct roar_maps *mte, const struct roar_task *t,
                    MPI_Comm dp_comm, double *acc, char *err, size_t errlen) {
    const struct job_roar *r = &job->roar;
    const long hw = mtr->hw, d = (long)train->c * hw, bs = r->batch_size;
    const long k = diffid_count(r->fractions[t->frac], hw);
    ts_module *m = NULL;
    ts_sgd *opt = NULL;
    struct dp_ctx dp = {0};
    int rank = 0, size = 1;
    if (dp_comm != MPI_COMM_NULL) {
        MPI_Comm_rank(dp_comm, &rank);
        MPI_Comm_size(dp_comm, &size);
    }
    float *x = malloc((size_t)(bs * d) * sizeof *x), *lg = NULL;
    int64_t *y = malloc((size_t)bs * sizeof *y);
    long *order = malloc((size_t)train->n * sizeof *order), correct = 0;
    int rc = -1;
    if (!x || !y || !order) {
        snprintf(err, errlen, "out of memory for a batch of %ld images (lower metrics.roar.batch_size)", bs);
        goto out;
    }
    if (ts_module_load(job->model_path, device, &m)) {
        snprintf(err, errlen, "%s: %s", job->model_path, ts_last_error());
        goto out;
    }
    if (r->epochs > 0) {
        if (ts_module_set_train(m, 1) || ts_sgd_new(m, r->lr, r->momentum, r->weight_decay, &opt)) {
            snprintf(err, errlen, "%s: cannot fine-tune: %s", job->model_path, ts_last_error());
            goto out;
        }
        if (dp_comm != MPI_COMM_NULL && dp_open(&dp, m, dp_comm, device, err, errlen)) goto out;
    }
    for (int ep = 0; ep < r->epochs; ep++) {
        double lr = r->lr;
        for (int i = 0; i < r->n_milestones; i++)
            if (ep >= r->milestones[i]) lr /= 10; /* PyTorch MultiStepLR, gamma 0.1 */
        if (ts_sgd_set_lr(opt, lr)) goto torch_fail;
        /* the same data order for every task: top and bottom differ only in their pixels */
        seed_shuffle(order, train->n, seed_for(job->seed, ep, SEED_ROAR_SHUFFLE));
        for (long b0 = 0; b0 < train->n; b0 += bs) {
            long b = train->n - b0 < bs ? train->n - b0 : bs;
            if (dp_comm != MPI_COMM_NULL) { /* this rank's slice of the global batch, one step together */
                long lo, hi;
                char step_err[512];
                dp_slice(b, rank, size, &lo, &hi);
                int bad = masked_batch(train, mtr, order, b0 + lo, hi - lo, t, k, x, y, err, errlen) != 0;
                int rc2 = dp_step(&dp, m, opt, device, x, y, bad ? -1 : hi - lo, b, train->c, train->h, train->w, NULL,
                                  NULL, step_err, sizeof step_err);
                if (!bad && rc2) snprintf(err, errlen, "%s", step_err);
                if (bad || rc2) goto out;
                continue;
            }
            if (coord_stop_signal()) { /* this fine-tune is lost; the recorded ones are not */
                rc = 1;
                goto out;
            }
            if (masked_batch(train, mtr, order, b0, b, t, k, x, y, err, errlen)) goto out;
            ts_tensor *xt = NULL, *yt = NULL;
            int64_t shape[4] = {b, train->c, train->h, train->w}, ys[1] = {b};
            double loss;
            int64_t c;
            int bad = ts_from_f32(x, shape, 4, device, &xt) || ts_from_i64(y, ys, 1, device, &yt) ||
                      ts_train_step(m, opt, xt, yt, &loss, &c);
            ts_tensor_free(xt);
            ts_tensor_free(yt);
            if (bad) goto torch_fail;
        }
    }
    if (ts_module_set_train(m, 0)) goto torch_fail;
    long lo = 0, hi = test->n;
    if (dp_comm != MPI_COMM_NULL) dp_slice(test->n, rank, size, &lo, &hi); /* each rank scores a slice */
    for (long b0 = lo; b0 < hi; b0 += bs) {
        long b = hi - b0 < bs ? hi - b0 : bs;
        if (masked_batch(test, mte, NULL, b0, b, t, k, x, y, err, errlen)) goto out;
        ts_tensor *xt = NULL, *out = NULL;
        int64_t shape[4] = {b, test->c, test->h, test->w}, os[2];
        int nd = 0;
        int bad = ts_from_f32(x, shape, 4, device, &xt) || ts_module_forward(m, xt, &out) || ts_shape(out, os, &nd);
        if (!bad && !lg) bad = !(lg = malloc((size_t)(bs * os[1]) * sizeof *lg));
        if (!bad) bad = ts_to_f32(out, lg, (size_t)(b * os[1]));
        ts_tensor_free(xt);
        ts_tensor_free(out);
        if (bad) goto torch_fail;
        for (long i = 0; i < b; i++) correct += diffid_argmax(lg + i * os[1], (int)os[1]) == y[i];
    }
    if (dp_comm != MPI_COMM_NULL) MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_LONG, MPI_SUM, dp_comm);
    *acc = test->n ? (double)correct / (double)test->n : 0;
    rc = 0;
    goto out;
torch_fail:
    snprintf(err, errlen, "fine-tune failed: %s", ts_last_error());
out:
    free(x);
    free(y);
    free(lg);
    free(order);
    dp_close(&dp);
    ts_sgd_free(opt);
    ts_module_free(m);
    return rc;
}

/* Task t: slot t / (2·nf), fraction (t / 2) mod nf, top when t is odd (the
 * order of the loop and of roar.json's accuracies). */
static struct roar_task task_of(int t, int nf) {
    struct roar_task task = {t / (nf * 2), (t / 2) % nf, t % 2};
    return task;
}

/* Task t's identity, by name, for its record and its log line. */
static struct roar_task_id roar_id(const struct job *job, const struct rec_slot *slots, int nf, int t) {
    const struct roar_task task = task_of(t, nf);
    const struct rec_slot *sl = &slots[task.slot];
    struct roar_task_id id = {t, job_method_name(job->methods[sl->method].kind),
                              job_estimator_name((enum job_estimator)sl->estimator), job->roar.fractions[task.frac],
                              task.top};
    return id;
}

static int write_results(const char *dir, const struct job *job, const struct rec_slot *slots, int n_slots,
                         const double *acc, char *err, size_t errlen) {
    const struct job_roar *r = &job->roar;
    const int nf = r->n_fractions;
    size_t cap = 4096 + (size_t)n_slots * (size_t)(nf + 1) * 256;
    char *js = malloc(cap), *csv = malloc(cap), path[4200];
    size_t jn = 0, cn = 0;
    int rc = -1;
    if (!js || !csv) {
        snprintf(err, errlen, "out of memory writing roar.json");
        goto out;
    }
    jn += (size_t)snprintf(js + jn, cap - jn,
                           "{\n  \"config_sha256\": \"%s\", \"epochs\": %d, \"lr\": %g,\n  \"results\": [", job->sha256,
                           r->epochs, r->lr);
    cn += (size_t)snprintf(csv + cn, cap - cn, "method,estimator,fraction,top_acc,bottom_acc,diff_roar\n");
    for (int s = 0; s < n_slots; s++) {
        const char *mn = job_method_name(job->methods[slots[s].method].kind);
        const char *en = job_estimator_name((enum job_estimator)slots[s].estimator);
        jn += (size_t)snprintf(js + jn, cap - jn, "%s\n    {\"method\": \"%s\", \"estimator\": \"%s\", \"roar\": {",
                               s ? "," : "", mn, en);
        const char *names[4] = {"fractions", "top_acc", "bottom_acc", "diff_roar"};
        for (int q = 0; q < 4; q++) {
            jn += (size_t)snprintf(js + jn, cap - jn, "%s\"%s\": [", q ? ", " : "", names[q]);
            for (int f = 0; f < nf; f++) {
                double top = acc[((size_t)s * nf + f) * 2 + 1], bot = acc[((size_t)s * nf + f) * 2];
                double v = q == 0 ? r->fractions[f] : q == 1 ? top : q == 2 ? bot : top - bot;
                jn += (size_t)snprintf(js + jn, cap - jn, "%s%.10g", f ? ", " : "", v);
            }
            jn += (size_t)snprintf(js + jn, cap - jn, "]");
        }
        jn += (size_t)snprintf(js + jn, cap - jn, "}}");
        for (int f = 0; f < nf; f++) {
            double top = acc[((size_t)s * nf + f) * 2 + 1], bot = acc[((size_t)s * nf + f) * 2];
            cn += (size_t)snprintf(csv + cn, cap - cn, "%s,%s,%.10g,%.10g,%.10g,%.10g\n", mn, en, r->fractions[f], top,
                                   bot, top - bot);
        }
    }
    jn += (size_t)snprintf(js + jn, cap - jn, "\n  ]\n}\n");
    if (fs_mkdirs(dir, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/roar.json", dir);
    if (json_finite_write(path, js, jn, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/roar.csv", dir);
    if (fs_write_atomic(path, csv, cn, err, errlen)) goto out;
    rc = 0;
out:
    free(js);
    free(csv);
    return rc;
}

/* One GPU per rank, before libtorch's first CUDA call. */
static void roar_pick_gpu(const struct job *job) {
    int local_rank = 0, local_size = 1;
    mpi_node_local(MPI_COMM_WORLD, &local_rank, &local_size);
    mpi_pick_gpu(local_rank, local_size, job->device);
}

int cmd_roar(int argc, char **argv) {
    const char *config = NULL, *train_dir = NULL, *test_dir = NULL, *out_dir = NULL;
    int data_parallel = 0, resume = 0;
    const char *sets[JOB_MAX_SETS];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0, taken;
        const char *v;
        if (cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((taken = cli_take_set(argc, argv, &i, sets, &n_sets, JOB_MAX_SETS, "roar"))) {
            if (taken < 0) return EXIT_USER;
        } else if ((v = cli_opt(argc, argv, &i, "--train-run", &missing)) || missing) {
            train_dir = v;
        } else if ((v = cli_opt(argc, argv, &i, "--test-run", &missing)) || missing) {
            test_dir = v;
        } else if ((v = cli_opt(argc, argv, &i, "--out", &missing)) || missing) {
            out_dir = v;
        } else if (!strcmp(argv[i], "--data-parallel")) {
            data_parallel = 1;
        } else if (!strcmp(argv[i], "--resume")) {
            resume = 1;
        } else if (argv[i][0] == '-' || config) {
            fprintf(stderr, "recal roar: unexpected argument '%s' (see recal roar --help)\n", argv[i]);
            return EXIT_USER;
        } else {
            config = argv[i];
        }
        if (missing) {
            fprintf(stderr, "recal roar: %s needs a value (see recal roar --help)\n", argv[i]);
            return EXIT_USER;
        }
    }
    if (!config || !train_dir || !test_dir) {
        fputs(HELP, stderr);
        return EXIT_USER;
    }
    if (!out_dir) out_dir = test_dir;

    int provided = 0, rank = 0, size = 1, code = EXIT_USER;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    coord_catch_signals();
    char err[2048] = "";
    struct job job;
    struct rec_slot slots[REC_MAX_SLOTS];
    struct ds_dataset train = {0}, test = {0};
    struct roar_maps mtr = {0}, mte = {0};
    double *acc = NULL, *all = NULL;
    int *pending = NULL; /* the task indices still to run */
    int lock_fd = -1;    /* rank 0: OUT/roar.lock */
    int device = 0, n_slots = 0, failed = 0;
    if (job_load(config, sets, n_sets, &job, err, sizeof err)) {
        failed = 1;
    } else if (!job.roar.on) {
        snprintf(err, sizeof err, "%s: no metrics.roar section (fractions, epochs, lr, milestones, ...)", config);
        failed = 1;
    } else if ((roar_pick_gpu(&job), wk_job_device(&job, &device))) {
        snprintf(err, sizeof err, "%s: device '%s': %s", config, job.device, ts_last_error());
        failed = 1;
    }
    if (!failed) {
        n_slots = rec_plan_slots(&job, slots);
        ts_set_num_threads(
            job.threads > 0
                ? job.threads
                : (int)(sysconf(_SC_NPROCESSORS_ONLN) / size > 0 ? sysconf(_SC_NPROCESSORS_ONLN) / size : 1));
        /* Open without a limit first to learn the image size, then keep as
         * many images as the runs have rank maps for. */
        failed = wk_ds_open(&job, "train", 0, &train, err, sizeof err) ||
                 wk_ds_open(&job, job.split, 0, &test, err, sizeof err) ||
                 load_maps(train_dir, n_slots, train.h, train.w, &mtr, err, sizeof err) ||
                 load_maps(test_dir, n_slots, test.h, test.w, &mte, err, sizeof err);
        if (!failed && (mtr.n > train.n || mte.n > test.n)) {
            snprintf(err, sizeof err,
                     "the runs hold rank maps of %ld train and %ld test images but %s has %ld and %ld "
                     "(made with another dataset?)",
                     mtr.n, mte.n, job.dataset_name, train.n, test.n);
            failed = 1;
        }
        if (!failed) {
            train.n = mtr.n; /* ds_get reads ids < n: the mapped prefix */
            test.n = mte.n;
        }
    }
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) {
        if (rank == 0) fprintf(stderr, "recal roar: %s\n", err);
        goto out;
    }
    const int nf = job.roar.n_fractions, n_tasks = n_slots * nf * 2;
    acc = calloc((size_t)n_tasks, sizeof *acc);
    all = calloc((size_t)n_tasks, sizeof *all);
    pending = calloc((size_t)n_tasks, sizeof *pending);
    failed = !acc || !all || !pending;
    if (failed) snprintf(err, sizeof err, "out of host memory for %d fine-tunes", n_tasks);
    /* Rank 0 reads the record of finished fine-tunes and tells the others
     * which remain; the accuracies of the recorded ones stay on rank 0, so
     * the final sum counts each task once. */
    int n_pending = 0, n_done = 0;
    /* one `recal roar` at a time per output directory (held until exit; a
     * crash frees it): two would run and record the same fine-tunes */
    if (!failed && rank == 0) {
        char lock[4200], who[512] = "";
        snprintf(lock, sizeof lock, "%s/roar.lock", out_dir);
        if (fs_mkdirs(out_dir, err, sizeof err)) {
            failed = 1;
        } else if ((lock_fd = fs_lock(lock, 1, who, sizeof who)) < 0) {
            if (lock_fd == FS_LOCK_BUSY)
                snprintf(err, sizeof err,
                         "%s is in use by another `recal roar` (%s): let it finish, or give this one "
                         "another --out",
                         out_dir, who);
            else snprintf(err, sizeof err, "%s", who);
            failed = 1;
        }
    }
    if (!failed && rank == 0) {
        int recorded = roar_tasks_count(out_dir);
        if (recorded > 0 && !resume) {
            snprintf(err, sizeof err,
                     "%s/roar-tasks holds %d finished fine-tune(s) of an earlier `recal roar`: pass "
                     "--resume to keep them and run the rest, or remove that directory to start over",
                     out_dir, recorded);
            failed = 1;
        }
        for (int t = 0; t < n_tasks && !failed; t++) {
            struct roar_task_id id = roar_id(&job, slots, nf, t);
            int got = resume ? roar_task_load(out_dir, job.sha256, &id, &acc[t], err, sizeof err) : 0;
            if (got < 0) failed = 1;
            else if (got) n_done++;
            else pending[n_pending++] = t;
        }
    }
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) {
        if (rank == 0) fprintf(stderr, "recal roar: %s\n", err);
        goto out;
    }
    MPI_Bcast(&n_pending, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Bcast(pending, n_pending, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        fprintf(stderr,
                "recal roar: %d fine-tunes (%d maps × %d fractions × top/bottom) of %s, %d epochs on %ld train "
                "images, scored on %ld test images, over %d rank(s)\n",
                n_tasks, n_slots, nf, job.model_path, job.roar.epochs, train.n, test.n, size);
        if (n_done)
            fprintf(stderr, "recal roar: resuming: %d of them already finished (%s/roar-tasks), %d to run\n", n_done,
                    out_dir, n_pending);
    }
    /* round robin over the remaining tasks: one fine-tune per rank at a
     * time; data-parallel: every rank takes part in every fine-tune. A
     * task's seed is its index, so the order and the rank do not matter. */
    int stopped = 0;
    /* this rank's share, for its ETA (the ranks run their shares side by side) */
    const int mine = data_parallel ? n_pending : (n_pending - rank + size - 1) / size;
    int mine_done = 0;
    const double loop_t0 = clock_now_s();
    for (int p = data_parallel ? 0 : rank; p < n_pending && !failed; p += data_parallel ? 1 : size) {
        const int t = pending[p];
        const struct roar_task task = task_of(t, nf);
        const struct roar_task_id id = roar_id(&job, slots, nf, t);
        double t0 = clock_now_s();
        stopped = coord_stop_signal() != 0;
        if (data_parallel) MPI_Allreduce(MPI_IN_PLACE, &stopped, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (stopped) break;
        ts_manual_seed(seed_for(job.seed, t, SEED_ROAR_SHUFFLE));
        int st = run_task(&job, device, &train, &test, &mtr, &mte, &task,
                          data_parallel ? MPI_COMM_WORLD : MPI_COMM_NULL, &acc[t], err, sizeof err);
        if (st > 0) {
            stopped = 1;
            break;
        }
        if (st) {
            failed = 1;
            break;
        }
        if ((!data_parallel || rank == 0) && roar_task_save(out_dir, job.sha256, &id, acc[t], err, sizeof err)) {
            failed = 1;
            break;
        }
        mine_done++;
        if (!data_parallel || rank == 0) {
            double now = clock_now_s(), eta = (now - loop_t0) / mine_done * (mine - mine_done);
            fprintf(stderr, "rank %d: %s/%s k=%g %s kept: test acc %.4f (%.1f s; %d/%d, ETA %.0fs)\n", rank, id.method,
                    id.estimator, id.fraction, id.top ? "top" : "bottom", acc[t], now - t0, mine_done, mine, eta);
        }
    }
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) {
        if (rank == 0) {
            int kept = roar_tasks_count(out_dir);
            if (kept)
                fprintf(stderr,
                        "recal roar: %s\nrecal roar: %d of %d fine-tunes are recorded in %s/roar-tasks: once "
                        "that is fixed, run the same command plus --resume\n",
                        err, kept, n_tasks, out_dir);
            else fprintf(stderr, "recal roar: %s\n", err);
        }
        goto out;
    }
    /* SIGTERM, SIGINT or SIGUSR1 (mpirun forwards SIGUSR1 as it is): what
     * finished is recorded, the rest runs after --resume */
    MPI_Allreduce(MPI_IN_PLACE, &stopped, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (stopped) {
        if (rank == 0)
            fprintf(stderr,
                    "recal roar: stopped by a signal with %d of %d fine-tunes recorded in %s/roar-tasks; "
                    "continue with the same command plus --resume\n",
                    roar_tasks_count(out_dir), n_tasks, out_dir);
        code = EXIT_RESUMABLE;
        goto out;
    }
    /* each task's accuracy is counted once: the sum is the gather */
    if (data_parallel && rank != 0) memset(acc, 0, (size_t)n_tasks * sizeof *acc);
    MPI_Reduce(acc, all, n_tasks, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    code = EXIT_OK;
    if (rank == 0) {
        if (write_results(out_dir, &job, slots, n_slots, all, err, sizeof err)) {
            fprintf(stderr, "recal roar: %s\n", err);
            code = EXIT_USER;
        } else {
            printf("\nDiff-ROAR = top-k kept accuracy - bottom-k kept accuracy (higher is better)\n%-12s %-10s",
                   "method", "estimator");
            for (int f = 0; f < nf; f++) printf("   k=%-5g", job.roar.fractions[f]);
            printf("\n");
            for (int s = 0; s < n_slots; s++) {
                printf("%-12s %-10s", job_method_name(job.methods[slots[s].method].kind),
                       job.methods[slots[s].method].kind == JOB_M_RANDOM
                           ? "-"
                           : job_estimator_name((enum job_estimator)slots[s].estimator));
                for (int f = 0; f < nf; f++)
                    printf(" %9.4f", all[((size_t)s * nf + f) * 2 + 1] - all[((size_t)s * nf + f) * 2]);
                printf("\n");
            }
            printf("\nwrote %s/roar.json and roar.csv\n", out_dir);
            char mj[4200];
            snprintf(mj, sizeof mj, "%s/metrics.json", out_dir);
            if (job.out_figures && fs_exists(mj)) { /* the test run's report gains the Diff-ROAR figure */
                fflush(stdout);
                if (report_render(out_dir) != EXIT_OK)
                    fprintf(stderr, "recal roar: figures skipped; roar.json is complete\n");
            }
        }
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
out:
    if (lock_fd >= 0) close(lock_fd);
    free(acc);
    free(all);
    free(pending);
    free(mtr.r);
    free(mte.r);
    if (train.impl) ds_close(&train);
    if (test.impl) ds_close(&test);
    MPI_Finalize();
    return code;
}
