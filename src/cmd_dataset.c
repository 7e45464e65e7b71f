/* src/cmd_dataset.c — `recal dataset-dump`: write what ds_get hands the
 * engine (normalized float32 NCHW + int64 labels) for a config's dataset as
 * .npy, so the readers can be checked against an independent decoder
 * (tests/integration/check_datasets.py) and users can see their inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "json_buf.h"
#include "dataset.h"
#include "ds_job.h"
#include "job.h"
#include "npy.h"

static const char *HELP = "usage: recal dataset-dump CONFIG.yaml --out X.npy [--labels Y.npy] [options]\n"
                          "\n"
                          "Writes the config's dataset (dataset.* keys, split, limit) as the engine sees it:\n"
                          "  --out X.npy         N×C×H×W float32, decoded, resized and normalized by ds_get\n"
                          "  --labels Y.npy      N int64 labels (-1 for images skipped under dataset.on_error: skip)\n"
                          "  --first I           first image id (default 0)\n"
                          "  --count N           images to write (default: all after --first, up to dataset.limit)\n"
                          "  --batch B           images per ds_get call (default 64)\n"
                          "  --set key=value     override a config key (as for recal run)\n"
                          "Prints one JSON line: name, n, c, h, w, classes, mean, std, skipped and skipped_files.\n"
                          "model.path need not exist. Exit 1 when the dataset cannot be opened or an image\n"
                          "cannot be decoded (dataset.on_error: fail); the message names the file.\n";

int cmd_dataset_dump(int argc, char **argv) {
    const char *config = NULL, *out = NULL, *labels = NULL, *sets[JOB_MAX_SETS], *v;
    long first = 0, count = -1, batch = 64;
    int n_sets = 0, missing, taken, code = EXIT_USER;
    char err[2048];
    static struct job job;
    struct ds_dataset ds = {0};
    float *x = NULL;
    int64_t *y = NULL;

    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((v = cli_opt(argc, argv, &i, "--out", &missing)) || missing) {
            out = v;
        } else if ((v = cli_opt(argc, argv, &i, "--labels", &missing)) || missing) {
            labels = v;
        } else if ((v = cli_opt(argc, argv, &i, "--first", &missing)) || missing) {
            first = v ? strtol(v, NULL, 10) : -1;
        } else if ((v = cli_opt(argc, argv, &i, "--count", &missing)) || missing) {
            count = v ? strtol(v, NULL, 10) : -1;
        } else if ((v = cli_opt(argc, argv, &i, "--batch", &missing)) || missing) {
            batch = v ? strtol(v, NULL, 10) : 0;
        } else if ((taken = cli_take_set(argc, argv, &i, sets, &n_sets, JOB_MAX_SETS, "dataset-dump"))) {
            if (taken < 0) return EXIT_USER;
        } else if (argv[i][0] != '-' && !config) {
            config = argv[i];
        } else {
            fprintf(stderr, "recal dataset-dump: unknown argument '%s' (see --help)\n", argv[i]);
            return EXIT_USER;
        }
        if (missing) {
            fprintf(stderr, "recal dataset-dump: %s needs a value (see --help)\n", argv[i]);
            return EXIT_USER;
        }
    }
    if (!config || !out || first < 0 || batch < 1) {
        fprintf(stderr, "recal dataset-dump: need CONFIG.yaml and --out X.npy, --first >= 0, --batch >= 1 "
                        "(see --help)\n");
        return EXIT_USER;
    }
    if (job_load(config, sets, n_sets, &job, err, sizeof err)) {
        fprintf(stderr, "recal dataset-dump: %s\n", err);
        return EXIT_USER;
    }
    if (wk_ds_open(&job, job.split, job.limit, &ds, err, sizeof err)) {
        fprintf(stderr, "recal dataset-dump: %s\n", err);
        return EXIT_USER;
    }
    if (first > ds.n) first = ds.n;
    if (count < 0 || count > ds.n - first) count = ds.n - first;
    const size_t d = (size_t)ds.c * ds.h * ds.w;
    x = malloc((count ? (size_t)count : 1) * d * sizeof *x);
    y = malloc((count ? (size_t)count : 1) * sizeof *y);
    if (!x || !y) {
        fprintf(stderr, "recal dataset-dump: out of memory for %ld images (use --count)\n", count);
        goto out;
    }
    /* Batches as the engine asks for them: contiguous ranges. */
    for (long b0 = 0; b0 < count; b0 += batch) {
        long b = count - b0 < batch ? count - b0 : batch;
        if (ds_get(&ds, first + b0, b, x + (size_t)b0 * d, y + b0, err, sizeof err)) {
            fprintf(stderr, "recal dataset-dump: %s\n", err);
            goto out;
        }
    }
    int64_t xs[4] = {count, ds.c, ds.h, ds.w}, ys[1] = {count};
    if (npy_write(out, NPY_F32, 4, xs, x, err, sizeof err) ||
        (labels && npy_write(labels, NPY_I64, 1, ys, y, err, sizeof err))) {
        fprintf(stderr, "recal dataset-dump: %s\n", err);
        goto out;
    }
    struct jbuf j = {0};
    jb_printf(&j,
              "{\"name\": \"%s\", \"n\": %ld, \"c\": %d, \"h\": %d, \"w\": %d, \"classes\": %d, "
              "\"mean\": [%g, %g, %g], \"std\": [%g, %g, %g], \"skipped\": %ld, \"skipped_files\": [",
              ds.name, count, ds.c, ds.h, ds.w, ds.classes, (double)ds.mean[0], (double)ds.mean[1], (double)ds.mean[2],
              (double)ds.std[0], (double)ds.std[1], (double)ds.std[2], ds_skipped(&ds));
    for (long i = 0; i < ds_skipped(&ds); i++) {
        if (i) jb_printf(&j, ", ");
        jb_string(&j, ds_skipped_name(&ds, i));
    }
    jb_printf(&j, "]}");
    if (jb_put_line(&j, stdout)) {
        fprintf(stderr, "recal dataset-dump: out of memory listing skipped files\n");
        jb_free(&j);
        goto out;
    }
    jb_free(&j);
    code = EXIT_OK;
out:
    free(x);
    free(y);
    ds_close(&ds);
    return code;
}
