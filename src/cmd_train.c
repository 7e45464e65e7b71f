/* src/cmd_train.c — `recal train CONFIG`: SGD with momentum on a TorchScript
 * model, in C through the shim. Architectures come from tools/ (PyTorch);
 * the training loop, data order and evaluation are ours, deterministic for
 * a seed and a thread count. Under mpirun it is data-parallel (dp_train.h):
 * each rank takes a slice of every global batch and of the test set. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "fsutil.h"
#include "dataset.h"
#include "dp_train.h"
#include "ds_job.h"
#include "engine.h"
#include "job.h"
#include "mpi_util.h"
#include "seed.h"
#include "torch_shim.h"

static const char *HELP = "usage: recal train CONFIG.yaml [--set key=value]...\n"
                          "\n"
                          "Train the TorchScript model at model.path on dataset.split (usually train) with SGD +\n"
                          "momentum (train.epochs, train.lr, train.momentum, train.weight_decay, train.batch_size),\n"
                          "report test accuracy after every epoch, and save the trained model to train.out.\n"
                          "The data order comes from `seed`, so a run is repeatable for a given thread count.\n"
                          "Under mpirun (mpirun -n N recal train ...) training is data-parallel: every rank computes\n"
                          "the gradients of its slice of each batch of train.batch_size images, the gradients are\n"
                          "summed across ranks, and all ranks take the same step; rank 0 saves the model.\n";

/* Correct predictions on this rank's slice [lo, hi) of ds. */
static int evaluate(ts_module *m, int device, const struct ds_dataset *ds, long lo, long hi, long *hits, char *err,
                    size_t errlen) {
    const long bs = 500, d = (long)ds->c * ds->h * ds->w;
    float *x = malloc((size_t)(bs * d) * sizeof *x);
    int64_t *y = malloc((size_t)bs * sizeof *y);
    float *lg = NULL;
    long correct = 0;
    int rc = -1;
    if (!x || !y) goto out;
    for (long b0 = lo; b0 < hi; b0 += bs) {
        long b = hi - b0 < bs ? hi - b0 : bs;
        if (ds_get(ds, b0, b, x, y, err, errlen)) goto out;
        ts_tensor *xt = NULL, *out = NULL;
        int64_t shape[4] = {b, ds->c, ds->h, ds->w}, os[2];
        int nd;
        if (ts_from_f32(x, shape, 4, device, &xt) || ts_module_forward(m, xt, &out) || ts_shape(out, os, &nd)) {
            snprintf(err, errlen, "evaluation forward failed: %s", ts_last_error());
            ts_tensor_free(xt);
            ts_tensor_free(out);
            goto out;
        }
        if (!lg) lg = malloc((size_t)(bs * os[1]) * sizeof *lg);
        if (!lg || ts_to_f32(out, lg, (size_t)(b * os[1]))) {
            ts_tensor_free(xt);
            ts_tensor_free(out);
            goto out;
        }
        for (long i = 0; i < b; i++) {
            const float *r = lg + i * os[1];
            long best = 0;
            for (long c = 1; c < os[1]; c++)
                if (r[c] > r[best]) best = c;
            correct += best == y[i];
        }
        ts_tensor_free(xt);
        ts_tensor_free(out);
    }
    *hits = correct;
    rc = 0;
out:
    free(x);
    free(y);
    free(lg);
    return rc;
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *sets[JOB_MAX_SETS];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        int taken;
        if (cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((taken = cli_take_set(argc, argv, &i, sets, &n_sets, JOB_MAX_SETS, "train"))) {
            if (taken < 0) return EXIT_USER;
        } else if (argv[i][0] == '-' || config) {
            fprintf(stderr, "recal train: unexpected argument '%s' (see recal train --help)\n", argv[i]);
            return EXIT_USER;
        } else {
            config = argv[i];
        }
    }
    if (!config) {
        fputs(HELP, stderr);
        return EXIT_USER;
    }
    int provided = 0, rank = 0, size = 1, local_rank = 0, local_size = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mpi_node_local(MPI_COMM_WORLD, &local_rank, &local_size);
    static struct job job;
    char err[2048] = "";
    int failed = job_load(config, sets, n_sets, &job, err, sizeof err) != 0;
    if (!failed && !job.train.present) {
        snprintf(err, sizeof err, "%s has no 'train:' section (epochs, lr, momentum, batch_size, out)", config);
        failed = 1;
    }
    if (failed) { /* every rank read the same file: the same message */
        if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
        MPI_Finalize();
        return EXIT_USER;
    }
    const struct job_train *tr = &job.train;
    int device = 0, code = EXIT_USER;
    struct dp_ctx dp = {0};
    struct ds_dataset train = {0}, test = {0};
    ts_module *m = NULL;
    ts_sgd *opt = NULL;
    float *x = NULL;
    int64_t *y = NULL;
    long *order = NULL;
    mpi_pick_gpu(local_rank, local_size, job.device); /* before libtorch's first CUDA call */
    if (wk_job_device(&job, &device)) {
        snprintf(err, sizeof err, "%s: %s", config, ts_last_error());
        failed = 1;
    }
    /* The node's cores shared by its ranks unless the job says: libtorch's
     * own default can be 1 here. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN) / local_size;
    ts_set_num_threads(job.threads > 0 ? job.threads : (int)(cores > 0 ? cores : 1));
    ts_manual_seed(job.seed);
    if (!failed && (wk_ds_open(&job, job.split, job.limit, &train, err, sizeof err) ||
                    wk_ds_open(&job, "test", 0, &test, err, sizeof err)))
        failed = 1;
    if (!failed && (ts_module_load(job.model_path, device, &m) || ts_module_set_train(m, 1) ||
                    ts_sgd_new(m, tr->lr, tr->momentum, tr->weight_decay, &opt))) {
        snprintf(err, sizeof err, "%s: %s (export one with tools/export_fashion_cnn.py)", job.model_path,
                 ts_last_error());
        failed = 1;
    }
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) {
        if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
        goto out;
    }
    if (dp_open(&dp, m, MPI_COMM_WORLD, device, err, sizeof err)) {
        if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
        goto out;
    }
    const long d = (long)train.c * train.h * train.w, bs = tr->batch_size;
    x = malloc((size_t)(bs * d) * sizeof *x);
    y = malloc((size_t)bs * sizeof *y);
    order = malloc((size_t)train.n * sizeof *order);
    failed = !x || !y || !order;
    if (failed) snprintf(err, sizeof err, "out of memory for a batch of %ld images", bs);
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) {
        if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
        goto out;
    }
    if (rank == 0)
        fprintf(stderr,
                "recal train: %s on %ld %s/%s images, %d epochs, batch %ld, lr %g, momentum %g, device %s, "
                "%d rank(s)\n",
                job.model_path, train.n, job.dataset_name, job.split, tr->epochs, bs, tr->lr, tr->momentum,
                ts_device_name(device), size);
    double test_acc = 0;
    for (int ep = 0; ep < tr->epochs; ep++) {
        double t0 = clock_now_s(), loss = 0;
        long correct = 0;
        seed_shuffle(order, train.n, seed_for(job.seed, ep, SEED_TRAIN_SHUFFLE));
        ts_module_set_train(m, 1);
        for (long b0 = 0; b0 < train.n; b0 += bs) {
            long b = train.n - b0 < bs ? train.n - b0 : bs, lo, hi;
            dp_slice(b, rank, size, &lo, &hi);
            int bad = 0;
            for (long i = lo; i < hi && !bad; i++)
                bad = ds_get(&train, order[b0 + i], 1, x + (i - lo) * d, y + (i - lo), err, sizeof err) != 0;
            double l = 0;
            long c = 0;
            /* a rank whose data failed still joins the step's collectives (as -1
             * images) so that the others stop instead of waiting; its own message
             * (in err) is the one it prints */
            char step_err[512];
            int rc = dp_step(&dp, m, opt, device, x, y, bad ? -1 : hi - lo, b, train.c, train.h, train.w, &l, &c,
                             step_err, sizeof step_err);
            if (!bad && rc) snprintf(err, sizeof err, "%s", step_err);
            if (bad || rc) {
                fprintf(stderr, "recal train: rank %d: epoch %d, batch at %ld: %s\n", rank, ep + 1, b0, err);
                goto out;
            }
            loss += l;
            correct += c;
        }
        ts_module_set_train(m, 0);
        long lo, hi, hits = 0, all = 0;
        dp_slice(test.n, rank, size, &lo, &hi);
        int bad = evaluate(m, device, &test, lo, hi, &hits, err, sizeof err) != 0;
        if (mpi_any_failed(bad, err, sizeof err, MPI_COMM_WORLD)) {
            if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
            goto out;
        }
        MPI_Allreduce(&hits, &all, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
        test_acc = test.n ? (double)all / (double)test.n : 0;
        if (rank == 0) {
            printf("epoch %d/%d: loss %.4f  train acc %.4f  test acc %.4f  (%.1f s)\n", ep + 1, tr->epochs,
                   loss / (double)train.n, (double)correct / (double)train.n, test_acc, clock_now_s() - t0);
            fflush(stdout);
        }
    }
    /* Save next to the target and rename: a half-written model is never
     * mistaken for a trained one. Every rank holds the same weights; rank 0 writes. */
    code = EXIT_OK;
    if (rank == 0) {
        char tmp[JOB_PATH_MAX + 32], why[1024];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", tr->out, (long)getpid());
        if (ts_module_save(m, tmp)) {
            fprintf(stderr, "recal train: cannot save %s: %s\n", tr->out, ts_last_error());
            unlink(tmp);
            code = EXIT_USER;
        } else if (fs_commit_tmp(tmp, tr->out, why, sizeof why)) { /* fsync, rename, directory fsync */
            fprintf(stderr, "recal train: %s\n", why);
            code = EXIT_USER;
        } else {
            printf("saved %s (test accuracy %.4f)\n", tr->out, test_acc);
        }
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
out:
    dp_close(&dp);
    free(x);
    free(y);
    free(order);
    ts_sgd_free(opt);
    ts_module_free(m);
    if (train.impl) ds_close(&train);
    if (test.impl) ds_close(&test);
    MPI_Finalize();
    return code;
}
