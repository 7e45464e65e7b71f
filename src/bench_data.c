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

int bench_data(const char *config, long images) {
    static struct job job;
    char err[2048];
    if (job_load(config, NULL, 0, &job, err, sizeof err)) {
        fprintf(stderr, "recal bench: %s\n", err);
        return EXIT_USER;
    }
    int cores = (int)cores_usable();
    int runs[2] = {1, cores > 1 ? cores : 0};
    for (int r = 0; r < 2 && runs[r]; r++) {
        job.ds_threads = runs[r];
        job.threads = runs[r];
        struct ds_dataset ds = {0};
        if (wk_ds_open(&job, job.split, images, &ds, err, sizeof err)) {
            fprintf(stderr, "recal bench: %s\n", err);
            return EXIT_USER;
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
        else
            printf("{\"case\":\"data\",\"dataset\":\"%s\",\"split\":\"%s\",\"images\":%ld,\"shape\":[%d,%d,%d],"
                   "\"threads\":%d,\"images_per_s\":%.1f,\"images_per_s_per_thread\":%.1f}\n",
                   job.dataset_name, job.split, ds.n, ds.c, ds.h, ds.w, runs[r], dt > 0 ? (double)ds.n / dt : 0.0,
                   dt > 0 ? (double)ds.n / dt / runs[r] : 0.0);
        fflush(stdout);
        free(x);
        free(y);
        ds_close(&ds);
        if (rc) return EXIT_USER;
        /* only readers that decode per image use threads */
        if (strcmp(job.dataset_name, "imagenet") != 0) break;
    }
    return EXIT_OK;
}
