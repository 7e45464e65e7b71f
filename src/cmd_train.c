/* src/cmd_train.c — `recal train CONFIG`: SGD with momentum on a TorchScript
 * model, in C through the shim. Architectures come from tools/ (PyTorch);
 * the training loop, data order and evaluation are ours, deterministic for
 * a seed and a thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "cli.h"
#include "dataset.h"
#include "ds_job.h"
#include "job.h"
#include "seed.h"
#include "torch_shim.h"

static const char *HELP =
    "usage: recal train CONFIG.yaml [--set key=value]...\n"
    "\n"
    "Train the TorchScript model at model.path on dataset.split (usually train) with SGD +\n"
    "momentum (train.epochs, train.lr, train.momentum, train.weight_decay, train.batch_size),\n"
    "report test accuracy after every epoch, and save the trained model to train.out.\n"
    "The data order comes from `seed`, so a run is repeatable for a given thread count.\n";

static int evaluate(ts_module *m, int device, const struct ds_dataset *ds, double *acc, char *err, size_t errlen) {
    const long bs = 500, d = (long)ds->c * ds->h * ds->w;
    float *x = malloc((size_t)(bs * d) * sizeof *x);
    int64_t *y = malloc((size_t)bs * sizeof *y);
    float *lg = NULL;
    long correct = 0;
    int rc = -1;
    if (!x || !y) goto out;
    for (long b0 = 0; b0 < ds->n; b0 += bs) {
        long b = ds->n - b0 < bs ? ds->n - b0 : bs;
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
    *acc = ds->n ? (double)correct / (double)ds->n : 0;
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
        int missing = 0;
        const char *v;
        if (cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((v = cli_opt(argc, argv, &i, "--set", &missing)) || missing) {
            if (missing || n_sets >= JOB_MAX_SETS) {
                fprintf(stderr, "recal train: --set needs key=value\n");
                return EXIT_USER;
            }
            sets[n_sets++] = v;
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
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    if (ws && atoi(ws) > 1) {
        fprintf(stderr, "recal train: data-parallel training across ranks is not in this version yet; run it as "
                        "one process\n");
        return EXIT_USER;
    }
    static struct job job;
    char err[2048];
    if (job_load(config, sets, n_sets, &job, err, sizeof err)) {
        fprintf(stderr, "recal train: %s\n", err);
        return EXIT_USER;
    }
    if (!job.train.present) {
        fprintf(stderr, "recal train: %s has no 'train:' section (epochs, lr, momentum, batch_size, out)\n", config);
        return EXIT_USER;
    }
    const struct job_train *tr = &job.train;
    int device, code = EXIT_USER;
    struct ds_dataset train = {0}, test = {0};
    ts_module *m = NULL;
    ts_sgd *opt = NULL;
    float *x = NULL;
    int64_t *y = NULL;
    long *order = NULL;
    if (ts_device_parse(job.device, &device)) {
        fprintf(stderr, "recal train: %s: %s\n", config, ts_last_error());
        return EXIT_USER;
    }
    /* All cores unless the job says: libtorch's own default can be 1 here. */
    ts_set_num_threads(job.threads > 0 ? job.threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    ts_manual_seed(job.seed);
    if (wk_ds_open(&job, job.split, job.limit, &train, err, sizeof err) ||
        wk_ds_open(&job, "test", 0, &test, err, sizeof err)) {
        fprintf(stderr, "recal train: %s\n", err);
        goto out;
    }
    if (ts_module_load(job.model_path, device, &m) || ts_module_set_train(m, 1) ||
        ts_sgd_new(m, tr->lr, tr->momentum, tr->weight_decay, &opt)) {
        fprintf(stderr, "recal train: %s: %s (export one with tools/export_fashion_cnn.py)\n", job.model_path,
                ts_last_error());
        goto out;
    }
    const long d = (long)train.c * train.h * train.w, bs = tr->batch_size;
    x = malloc((size_t)(bs * d) * sizeof *x);
    y = malloc((size_t)bs * sizeof *y);
    order = malloc((size_t)train.n * sizeof *order);
    if (!x || !y || !order) {
        fprintf(stderr, "recal train: out of memory\n");
        goto out;
    }
    fprintf(stderr, "recal train: %s on %ld %s/%s images, %d epochs, batch %ld, lr %g, momentum %g, device %s\n",
            job.model_path, train.n, job.dataset_name, job.split, tr->epochs, bs, tr->lr, tr->momentum,
            ts_device_name(device));
    double test_acc = 0;
    for (int ep = 0; ep < tr->epochs; ep++) {
        double t0 = clock_now_s(), loss = 0;
        int64_t correct = 0;
        seed_shuffle(order, train.n, seed_for(job.seed, ep, SEED_TRAIN_SHUFFLE));
        ts_module_set_train(m, 1);
        for (long b0 = 0; b0 < train.n; b0 += bs) {
            long b = train.n - b0 < bs ? train.n - b0 : bs;
            for (long i = 0; i < b; i++)
                if (ds_get(&train, order[b0 + i], 1, x + i * d, y + i, err, sizeof err)) {
                    fprintf(stderr, "recal train: %s\n", err);
                    goto out;
                }
            ts_tensor *xt = NULL, *yt = NULL;
            int64_t shape[4] = {b, train.c, train.h, train.w}, ys[1] = {b};
            double l = 0;
            int64_t c = 0;
            int rc = ts_from_f32(x, shape, 4, device, &xt) || ts_from_i64(y, ys, 1, device, &yt) ||
                     ts_train_step(m, opt, xt, yt, &l, &c);
            ts_tensor_free(xt);
            ts_tensor_free(yt);
            if (rc) {
                fprintf(stderr, "recal train: epoch %d, batch at %ld: %s\n", ep + 1, b0, ts_last_error());
                goto out;
            }
            loss += l;
            correct += c;
        }
        ts_module_set_train(m, 0);
        if (evaluate(m, device, &test, &test_acc, err, sizeof err)) {
            fprintf(stderr, "recal train: %s\n", err);
            goto out;
        }
        printf("epoch %d/%d: loss %.4f  train acc %.4f  test acc %.4f  (%.1f s)\n", ep + 1, tr->epochs,
               loss / (double)train.n, (double)correct / (double)train.n, test_acc, clock_now_s() - t0);
        fflush(stdout);
    }
    /* Save next to the target and rename: a half-written model is never
     * mistaken for a trained one. */
    char tmp[JOB_PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", tr->out, (long)getpid());
    if (ts_module_save(m, tmp) || rename(tmp, tr->out)) {
        fprintf(stderr, "recal train: cannot save %s: %s\n", tr->out, ts_last_error()[0] ? ts_last_error() : "rename failed");
        unlink(tmp);
        goto out;
    }
    printf("saved %s (test accuracy %.4f)\n", tr->out, test_acc);
    code = EXIT_OK;
out:
    free(x);
    free(y);
    free(order);
    ts_sgd_free(opt);
    ts_module_free(m);
    if (train.impl) ds_close(&train);
    if (test.impl) ds_close(&test);
    return code;
}
