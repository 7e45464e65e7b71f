/* src/bench_data.c — `recal bench --data CONFIG`: how fast the config's
 * dataset reader delivers normalized batches (decode + resize + normalize
 * for imagenet), with 1 decode thread and with one per core, so the README
 * can state images/s per core. No model is involved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cores.h"
#include "clock.h"
#include "cli.h"
#include "dataset.h"
#include "ds_job.h"
#include "job.h"
#include "json_buf.h"

/* One JSON line: the reader's throughput with `threads` decode threads
 * (the dataset's name and split are the user's text: quoted by jb_string). */
static void data_line(const struct job *job, const struct ds_dataset *ds, int threads, double dt) {
    struct jbuf j = {0};
    jb_printf(&j, "{\"case\":\"data\",\"dataset\":");
    jb_string(&j, job->dataset_name);
    jb_printf(&j, ",\"split\":");
    jb_string(&j, job->split);
    jb_printf(
        &j,
        ",\"images\":%ld,\"shape\":[%d,%d,%d],\"threads\":%d,\"images_per_s\":%.1f,\"images_per_s_per_thread\":%.1f}",
        ds->n, ds->c, ds->h, ds->w, threads, dt > 0 ? (double)ds->n / dt : 0.0,
        dt > 0 ? (double)ds->n / dt / threads : 0.0);
    if (jb_put_line(&j, stdout)) fprintf(stderr, "recal bench: out of host memory\n");
    jb_free(&j);
}

int bench_data(const char *config, long images) {
    char err[2048];
    struct job *job = calloc(1, sizeof *job); /* 110 KB: the heap, not a static */
    if (!job || job_load(config, NULL, 0, job, err, sizeof err)) {
        fprintf(stderr, "recal bench: %s\n", job ? err : "out of host memory");
        free(job);
        return EXIT_USER;
    }
    int code = EXIT_OK;
    int cores = (int)cores_usable();
    int runs[2] = {1, cores > 1 ? cores : 0};
    for (int r = 0; r < 2 && runs[r]; r++) {
        job->ds_threads = runs[r];
        job->threads = runs[r];
        struct ds_dataset ds = {0};
        if (wk_ds_open(job, job->split, images, &ds, err, sizeof err)) {
            fprintf(stderr, "recal bench: %s\n", err);
            code = EXIT_USER;
            break;
        }
        const long bs = 64, d = (long)ds.c * ds.h * ds.w;
        float *x = malloc((size_t)(bs * d) * sizeof *x);
        int64_t *y = malloc((size_t)bs * sizeof *y);
        int rc = x && y ? 0 : -1;
        double t0 = clock_now_s();
        for (long b0 = 0; b0 < ds.n && !rc; b0 += bs)
            rc = ds_get(&ds, b0, ds.n - b0 < bs ? ds.n - b0 : bs, x, y, err, sizeof err);
        double dt = clock_now_s() - t0;
        if (rc) fprintf(stderr, "recal bench: %s\n", x && y ? err : "out of memory");
        else data_line(job, &ds, runs[r], dt);
        fflush(stdout);
        free(x);
        free(y);
        ds_close(&ds);
        if (rc) {
            code = EXIT_USER;
            break;
        }
        /* only readers that decode per image use threads */
        if (strcmp(job->dataset_name, "imagenet") != 0) break;
    }
    free(job);
    return code;
}
