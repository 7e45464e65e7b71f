/* src/cmd_dataset.c — `recal dataset-dump`: write what ds_get hands the
 * engine (normalized float32 NCHW + int64 labels) for a config's dataset as
 * .npy, so the readers can be checked against an independent decoder
 * (tests/integration/check_datasets.py) and users can see their inputs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
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
    const char *config = NULL, *out = NULL, *labels = NULL, *sets[JOB_MAX_SETS];
    long first = 0, count = -1, batch = 64;
    int n_sets = 0, code = EXIT_USER;
    char err[2048];
    struct job *job = NULL; /* on the heap (110 KB), so the command can run twice in one process */
    struct ds_dataset ds = {0};
    float *x = NULL;
    int64_t *y = NULL;

    enum { O_OUT = 256, O_LABELS, O_FIRST, O_COUNT, O_BATCH, O_SET };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"out", required_argument, NULL, O_OUT},
        {"labels", required_argument, NULL, O_LABELS},
        {"first", required_argument, NULL, O_FIRST},
        {"count", required_argument, NULL, O_COUNT},
        {"batch", required_argument, NULL, O_BATCH},
        {"set", required_argument, NULL, O_SET},
        {NULL, 0, NULL, 0},
    };
    cli_start();
    for (int c; (c = cli_next("dataset-dump", argc, argv, opts)) != -1;) {
        const char *v = optarg;
        switch (c) {
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        case O_OUT:
            out = v;
            break;
        case O_LABELS:
            labels = v;
            break;
        case O_FIRST:
            if (cli_long("dataset-dump", "--first", v, 0, &first)) return EXIT_USER;
            break;
        case O_COUNT:
            if (cli_long("dataset-dump", "--count", v, 0, &count)) return EXIT_USER;
            break;
        case O_BATCH:
            if (cli_long("dataset-dump", "--batch", v, 1, &batch)) return EXIT_USER;
            break;
        case O_SET:
            if (cli_add_set(v, sets, &n_sets, JOB_MAX_SETS, "dataset-dump")) return EXIT_USER;
            break;
        default:
            return EXIT_USER;
        }
    }
    const char **operands;
    for (int i = 0, n = cli_operands(&operands); i < n; i++)
        if (cli_operand("dataset-dump", operands[i], &config)) return EXIT_USER;
    if (!config || !out || first < 0 || batch < 1) {
        fprintf(stderr, "recal dataset-dump: need CONFIG.yaml and --out X.npy, --first >= 0, --batch >= 1 "
                        "(see --help)\n");
        return EXIT_USER;
    }
    if (fs_same_file(out, labels) || fs_same_file(out, config) || fs_same_file(labels, config)) {
        fprintf(stderr,
                "recal dataset-dump: --out, --labels and CONFIG must be three files (%s would overwrite "
                "another); name another --out or --labels\n",
                fs_same_file(out, config) ? out : labels);
        return EXIT_USER;
    }
    if (!(job = calloc(1, sizeof *job))) {
        fprintf(stderr, "recal dataset-dump: out of host memory\n");
        return EXIT_USER;
    }
    if (fs_output_ok(out, err, sizeof err) || (labels && fs_output_ok(labels, err, sizeof err)) ||
        job_load(config, sets, n_sets, job, err, sizeof err) ||
        wk_ds_open(job, job->split, job->limit, &ds, err, sizeof err)) {
        fprintf(stderr, "recal dataset-dump: %s\n", err);
        goto out;
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
    jb_printf(&j, "{\"name\": ");
    jb_string(&j, ds.name);
    jb_printf(&j,
              ", \"n\": %ld, \"c\": %d, \"h\": %d, \"w\": %d, \"classes\": %d, "
              "\"mean\": [%g, %g, %g], \"std\": [%g, %g, %g], \"skipped\": %ld, \"skipped_files\": [",
              count, ds.c, ds.h, ds.w, ds.classes, (double)ds.mean[0], (double)ds.mean[1], (double)ds.mean[2],
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
    free(job);
    return code;
}
