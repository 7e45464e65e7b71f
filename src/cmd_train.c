/* src/cmd_train.c — `recal train CONFIG`: SGD with momentum on a TorchScript
 * model, in C through the shim. Architectures come from tools/ (PyTorch);
 * the training loop, data order and evaluation are ours, deterministic for
 * a seed and a thread count. Under mpirun it is data-parallel (dp_train.h):
 * each rank takes a slice of every global batch and of the test set. */
#include <getopt.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cores.h"
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
#include "train_loop.h"

static const char *HELP = "usage: recal train CONFIG.yaml [--set key=value]...\n"
                          "\n"
                          "Train the TorchScript model at model.path on dataset.split (usually train) with SGD +\n"
                          "momentum (train.epochs, train.lr, train.momentum, train.weight_decay, train.batch_size),\n"
                          "report test accuracy after every epoch, and save the trained model to train.out.\n"
                          "The data order comes from `seed`, so a run is repeatable for a given thread count.\n"
                          "Under mpirun (mpirun -n N recal train ...) training is data-parallel: every rank computes\n"
                          "the gradients of its slice of each batch of train.batch_size images, the gradients are\n"
                          "summed across ranks, and all ranks take the same step; rank 0 saves the model.\n";

/* The data set's own images (train_loop's fill): one read for a run of
 * consecutive ids. */
static int fill_plain(void *ctx, const long *ids, long n, float *x, int64_t *y, char *err, size_t errlen) {
    const struct ds_dataset *ds = ctx;
    const long d = (long)ds->c * ds->h * ds->w;
    for (long i = 0; i < n;) {
        long run = 1;
        while (i + run < n && ids[i + run] == ids[i] + run) run++;
        if (ds_get(ds, ids[i], run, x + i * d, y + i, err, errlen)) return -1;
        i += run;
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *config = NULL, *sets[JOB_MAX_SETS];
    int n_sets = 0;
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"set", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    cli_start();
    for (int c; (c = cli_next("train", argc, argv, opts)) != -1;) {
        if (c == 'h') {
            fputs(HELP, stdout);
            return EXIT_OK;
        }
        if (c != 's' || cli_add_set(optarg, sets, &n_sets, JOB_MAX_SETS, "train")) return EXIT_USER;
    }
    const char **operands;
    for (int i = 0, n = cli_operands(&operands); i < n; i++)
        if (cli_operand("train", operands[i], &config)) return EXIT_USER;
    if (!config) {
        fputs(HELP, stderr);
        return EXIT_USER;
    }
    int provided = 0, rank = 0, size = 1, local_rank = 0, local_size = 1;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    mpi_node_local(MPI_COMM_WORLD, &local_rank, &local_size);
    struct job *job = calloc(1, sizeof *job); /* 110 KB: the heap, not a function-level static */
    char err[2048] = "out of host memory";
    int failed = !job || job_load(config, sets, n_sets, job, err, sizeof err) != 0;
    if (!failed && !job->train.present) {
        snprintf(err, sizeof err, "%s has no 'train:' section (epochs, lr, momentum, batch_size, out)", config);
        failed = 1;
    }
    if (failed) { /* every rank read the same file: the same message */
        if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
        free(job);
        MPI_Finalize();
        return EXIT_USER;
    }
    const struct job_train *tr = &job->train;
    int device = 0, code = EXIT_USER;
    struct dp_ctx dp = {0};
    struct ds_dataset train = {0}, test = {0};
    ts_module *m = NULL;
    ts_sgd *opt = NULL;
    struct tl_buf tb = {0}, eb = {0}; /* training batches, evaluation batches */
    const char *gpu = NULL;
    failed =
        mpi_pick_gpu(local_rank, local_size, job->device, &gpu, err, sizeof err) != 0; /* before CUDA's first use */
    if (!failed && wk_job_device(job, &device)) {
        snprintf(err, sizeof err, "%s: %s", config, ts_last_error());
        failed = 1;
    }
    /* The node's cores shared by its ranks unless the job says: libtorch's
     * own default can be 1 here. */
    long cores = cores_usable() / local_size;
    if (!failed) {
        char what[JOB_PATH_MAX + 16];
        snprintf(what, sizeof what, "%s: threads", config);
        failed = cores_check_threads(what, job->threads, err, sizeof err) != 0;
    }
    ts_set_num_threads(job->threads > 0 ? job->threads : (int)(cores > 0 ? cores : 1));
    ts_manual_seed(job->seed);
    /* train.out refused before the training, not after it */
    if (!failed &&
        (fs_output_ok(tr->out, err, sizeof err) || wk_ds_open(job, job->split, job->limit, &train, err, sizeof err) ||
         wk_ds_open(job, "test", 0, &test, err, sizeof err)))
        failed = 1;
    if (!failed && (ts_module_load(job->model_path, device, &m) || ts_module_set_train(m, 1) ||
                    ts_sgd_new(m, tr->lr, tr->momentum, tr->weight_decay, &opt))) {
        snprintf(err, sizeof err, "%s: %s (export one with tools/export_fashion_cnn.py)", job->model_path,
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
    const struct tl_data td = {fill_plain, &train, train.n, train.c, train.h, train.w};
    const struct tl_data ed = {fill_plain, &test, test.n, test.c, test.h, test.w};
    failed = tl_buf_alloc(&tb, bs, d, train.n, err, sizeof err) || tl_buf_alloc(&eb, 500, d, 0, err, sizeof err);
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) {
        if (rank == 0) fprintf(stderr, "recal train: %s\n", err);
        goto out;
    }
    if (rank == 0)
        fprintf(stderr,
                "recal train: %s on %ld %s/%s images, %d epochs, batch %ld, lr %g, momentum %g, device %s, "
                "%d rank(s)\n",
                job->model_path, train.n, job->dataset_name, job->split, tr->epochs, bs, tr->lr, tr->momentum,
                ts_device_name(device), size);
    double test_acc = 0;
    for (int ep = 0; ep < tr->epochs; ep++) {
        double t0 = clock_now_s(), loss = 0;
        long correct = 0;
        ts_module_set_train(m, 1);
        if (tl_epoch(m, opt, &dp, device, &td, &tb, job->seed, ep, SEED_TRAIN_SHUFFLE, NULL, &loss, &correct, err,
                     sizeof err)) {
            fprintf(stderr, "recal train: rank %d: epoch %d: %s\n", rank, ep + 1, err);
            goto out;
        }
        ts_module_set_train(m, 0);
        if (tl_score(m, device, &ed, &eb, MPI_COMM_WORLD, &test_acc, err, sizeof err)) {
            fprintf(stderr, "recal train: rank %d: %s\n", rank, err);
            goto out;
        }
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
    tl_buf_free(&tb);
    tl_buf_free(&eb);
    ts_sgd_free(opt);
    ts_module_free(m);
    if (train.impl) ds_close(&train);
    if (test.impl) ds_close(&test);
    free(job);
    MPI_Finalize();
    return code;
}
