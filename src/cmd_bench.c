/* src/cmd_bench.c — `recal bench`: throughput measured side by side in one
 * run, on the same TorchScript model, inputs shape and sample counts:
 *   recal          the engine's own method / DiffID code path;
 *   raw bound      plain forward+backward (or forward) of the same number of
 *                  samples at the best of a few chunk sizes;
 *   reference loop the reference implementation's one-slice-at-a-time loop,
 *                  re-created in tools/bench_reference.py (PyTorch);
 *   Captum         IntegratedGradients, when importable (PYTHONPATH).
 * One JSON object per case on stdout (docs/performance.md). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "json_buf.h"
#include "cores.h"
#include "clock.h"
#include "chunk_tune.h"
#include "cli.h"
#include "diffid_batch.h"
#include "xfer_buf.h"
#include "bench_tail.h"
#include "engine.h"
#include "methods.h"
#include "torch_shim.h"
#include "wk_pool.h"

static const char *HELP =
    "usage: recal bench [--quick] [--threads T] [--device D] [--models DIR] [--only NAME] [--case KIND]\n"
    "                   [--no-python]\n"
    "                   [--memory-budget MB] [--precision fp32|tf32|bf16] [--images N]\n"
    "       mpirun -n R recal bench --dispatch [--shards N]\n"
    "       mpirun -n R recal bench --dispatch --tail [--images N] [--image-ms T] [--shards-per-rank K]\n"
    "\n"
    "Prints one JSON line per case: recal's images/s, the raw forward+backward bound of the same\n"
    "samples, the reference implementation's loop and Captum (tools/bench_reference.py, run with\n"
    "/usr/bin/python3 or $RECAL_PYTHON; put Captum on PYTHONPATH to include it), their ratios, and\n"
    "peak RSS (and peak GPU memory of the PyTorch baselines).\n"
    "  --quick       small counts, under 2 minutes on 2 cores\n"
    "  --models DIR  where benchmark models are exported (default build/bench-models)\n"
    "  --only NAME   only the models whose name contains NAME (fashion-cnn, preact_resnet18, resnet50)\n"
    "  --case KIND   only one kind of case: ig (attribution), diffid, or e2e (attribution of 1 and of 3\n"
    "                estimators + their DiffID, against the reference's one run per estimator)\n"
    "  --no-python   skip the PyTorch baselines\n"
    "  --memory-budget MB  chunk sizes follow this budget (default 2048; e.g. 32768 on a GPU)\n"
    "  --precision P fp32 (default, exact), tf32 (CUDA convolutions and matmuls in TF32) or bf16\n"
    "                (bfloat16 autocast forwards, recal's and the PyTorch baselines' alike)\n"
    "  --images N    images per IG case (default 1024/64/4 per model; --quick 128/8/0); DiffID 4×\n"
    "                (Fashion CNN and ResNet-50); e2e N/4 (default 256/16/2; --quick 32/0/0)\n"
    "  --data CONFIG only the dataset reader of CONFIG: images/s of decoded, normalized batches\n"
    "                with 1 decode thread and one per core (--images N, default 2000)\n"
    "  --dispatch    under mpirun (e.g. mpirun --oversubscribe -n 33): shards/s of recal run's own\n"
    "                coordinator (coord_run) with no-op workers, one-image shards, rank 0 dispatching\n"
    "                only; one line without the journal, one with it (append + fsync and a rank-log\n"
    "                line per shard, in a temporary run directory under $TMPDIR or /tmp). More ranks\n"
    "                than cores make the figure a lower bound (every rank polls for its turn)\n"
    "  --shards N    shards of the --dispatch pass without the journal (default 100000); the\n"
    "                journal pass takes at most 5000 of them (an fsync each)\n"
    "  --tail        with --dispatch: the tail of a run on R ranks, simulated (shards sleep for a model\n"
    "                of known time: --image-ms T an image, default 10, +-10 % a shard, a first batch's read\n"
    "                0.15 of its compute): shards of 144 images asked for when the last is done (before),\n"
    "                then recal run's default plan and look-ahead (after); --images N (default 50000),\n"
    "                --shards-per-rank K (default 32). tail_share: first rank idle to last done, of the run\n";

/* Settings every case shares. */
static long g_budget_mb = 2048;
static const char *g_precision = "fp32";
static int g_device = TS_DEV_CPU;
static double g_baseline_gpu_mb = -1; /* the PyTorch baselines' peak, last case */
/* DiffID's ratios, as the reference evaluates them: 2 × 9 perturbed copies */
static const double DIFFID_RATIOS[9] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};

struct bench_model {
    const char *name, *file;
    int c, h, w;
    float mean[3], std[3];
};

static double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Gaussian-ish test inputs from a fixed LCG: timing does not depend on the
 * values, and the same seed gives the same bytes on every run. */
static void fill_inputs(float *x, long n) {
    uint64_t s = 0x1234567;
    for (long i = 0; i < n; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    }
}

/* Seconds for `samples` plain forward+backward (grad = 1) or forward
 * (grad = 0) passes at the best of a few chunk sizes. */
static double best_raw(ts_module *m, int device, const struct bench_model *bm, long samples, int grad,
                       long *best_chunk) {
    /* Chunks up to recal's own (which stays in the memory budget and, on a
     * CPU, in the caches): 16, 32, ... below it, and it. Where it is under 16
     * (ResNet-50 on a CPU: 4), a quarter, a half and it, so that the bound
     * is measured at sizes recal may run, not above them. */
    const long max_chunk = wk_chunk_samples(device, bm->c, bm->h, bm->w, g_budget_mb);
    long chunks[12];
    size_t n_chunks = 0;
    if (max_chunk < 16) {
        for (long c = max_chunk / 4 > 1 ? max_chunk / 4 : 1; c < max_chunk; c *= 2) chunks[n_chunks++] = c;
    } else {
        for (long c = 16; c < max_chunk && c <= 1024 && n_chunks < 8; c *= 2) chunks[n_chunks++] = c;
    }
    chunks[n_chunks++] = max_chunk;
    double best = -1;
    for (size_t i = 0; i < n_chunks; i++) {
        long reps = samples / chunks[i] > 0 ? samples / chunks[i] : 1;
        /* a rate, not a total: at most ~3 s per chunk size (one call first,
         * which also warms this shape up) */
        double r1 = wk_probe_rate(m, device, bm->c, bm->h, bm->w, chunks[i], grad, 1);
        if (r1 > 0 && reps > 3.0 * r1 / chunks[i]) reps = (long)(3.0 * r1 / chunks[i]) + 1;
        double rate = wk_probe_rate(m, device, bm->c, bm->h, bm->w, chunks[i], grad, (int)reps);
        if (rate > 0 && (best < 0 || samples / rate < best)) {
            best = samples / rate;
            *best_chunk = chunks[i];
        }
    }
    return best;
}

/* Run the PyTorch baselines; fills ref / captum (negative when absent). */
static void python_baselines(const char *model_path, const struct bench_model *bm, long images, const char *kase,
                             int refs, int steps, int estimators, int threads, double *ref, double *captum) {
    char cmd[2048], line[1024] = "";
    *ref = *captum = -1;
    snprintf(cmd, sizeof cmd,
             "'%s' tools/bench_reference.py --model '%s' --shape %d,%d,%d --images %ld --case %s "
             "--refs %d --steps %d --estimators %d --threads %d --device %s --precision %s",
             cli_python(), model_path, bm->c, bm->h, bm->w, images, kase, refs, steps, estimators, threads,
             ts_device_name(g_device), g_precision);
    FILE *p = popen(cmd, "r");
    if (!p) return;
    while (fgets(line, sizeof line, p))
        if (line[0] == '{') break;
    pclose(p);
    const char *r = strstr(line, "\"reference_loop_images_per_s\": "), *c = strstr(line, "\"captum_images_per_s\": ");
    if (r) *ref = atof(r + strlen("\"reference_loop_images_per_s\": "));
    if (c && strncmp(c + strlen("\"captum_images_per_s\": "), "null", 4))
        *captum = atof(c + strlen("\"captum_images_per_s\": "));
    const char *g = strstr(line, "\"peak_gpu_mb\": ");
    g_baseline_gpu_mb = g ? atof(g + strlen("\"peak_gpu_mb\": ")) : -1;
}

static void print_opt(struct jbuf *j, const char *key, double v) {
    if (v > 0) jb_printf(j, ", \"%s\": %.3f", key, v);
    else jb_printf(j, ", \"%s\": null", key);
}

/* The comparison fields every case line ends with (Captum only where it
 * has a counterpart); a missing measurement prints null. */
static void print_comparisons(struct jbuf *j, double ips, double raw_ips, double ref, double cap, int with_captum) {
    print_opt(j, "raw_bound_images_per_s", raw_ips);
    print_opt(j, "ratio_to_raw_bound", raw_ips > 0 ? ips / raw_ips : -1);
    print_opt(j, "reference_loop_images_per_s", ref);
    print_opt(j, "speedup_vs_reference_loop", ref > 0 ? ips / ref : -1);
    if (with_captum) {
        print_opt(j, "captum_images_per_s", cap);
        print_opt(j, "speedup_vs_captum", cap > 0 ? ips / cap : -1);
    }
    if (g_baseline_gpu_mb > 0) jb_printf(j, ", \"baselines_peak_gpu_mb\": %.1f", g_baseline_gpu_mb);
    jb_printf(j, ", \"peak_rss_mb\": %.1f}", peak_rss_mb());
    if (jb_put_line(j, stdout)) fprintf(stderr, "recal bench: out of memory printing a result line\n");
    jb_free(j);
}

/* One batch the engine's way with the maps on the device (wk_diffid_copies_on_device):
 * the images and labels go up, the clean forward's label logits, the maps
 * and DiffID stay there. */
static int bench_batch_dev(ts_module *m, int device, const struct wk_method_ctx *ctx, const struct job_method *jm,
                           const struct bench_model *bm, const float *x, const int64_t *y, const int64_t *ids, long b,
                           int diffid, const int *ests, int n_est, struct diffid_acc *acc, char *err, size_t errlen) {
    struct wk_pool pool = {0};
    ts_tensor *xt, *yt, *lg = NULL, *orig_t = NULL, *outs[JOB_EST_COUNT] = {0};
    int64_t s4[4] = {b, bm->c, bm->h, bm->w}, s1[1] = {b}, correct;
    WK_T(&pool, ts_from_f32(x, s4, 4, device, &xt), xt);
    WK_T(&pool, ts_from_i64(y, s1, 1, device, &yt), yt);
    if (diffid) {
        WK_T(&pool, ts_module_forward(m, xt, &lg), lg);
        WK_T(&pool, ts_label_logits(lg, yt, &orig_t, &correct), orig_t);
    }
    struct wk_batch bt = {xt, x, y, yt, ids, b, bm->c, bm->h, bm->w, lg};
    if (wk_method_run_dev(ctx, jm, &bt, outs, err, errlen)) goto fail;
    for (int e = 0; e < JOB_EST_COUNT; e++)
        if (outs[e]) wk_pool_add(&pool, outs[e]);
    for (int e = 0; diffid && e < n_est; e++)
        if (wk_diffid_batch_dev(m, 0, bm->c, bm->h, bm->w, ctx->chunk_samples, DIFFID_RATIOS, 9, xt, outs[ests[e]], yt,
                                orig_t, b, acc, NULL, err, errlen))
            goto fail;
    wk_pool_free(&pool);
    return 0;
fail:
    wk_pool_free(&pool);
    return -1;
}

/* Seconds recal takes (best of two runs) for `images` images of IG-Uniform R×K with n_est
 * estimators (valid_ip first, then vanilla and valid_ref: one gradient
 * pass), in 64-image batches as `recal run` makes them, each batch followed,
 * when `diffid`, by its clean forward and the DiffID of every estimator's
 * map. A warm-up on 2 images comes first. Negative on error (printed). */
static double time_attribution(ts_module *m, int device, const struct bench_model *bm, long images, int refs, int steps,
                               int n_est, int diffid, long *chunk, double *grad_points) {
    const long d = (long)bm->c * bm->h * bm->w, B = 64;
    const int ests[3] = {JOB_EST_VALID_IP, JOB_EST_VANILLA, JOB_EST_VALID_REF};
    struct job_method jm = {.kind = JOB_M_IG_UNIFORM, .refs = refs, .steps = steps};
    for (int e = 0; e < n_est; e++) jm.estimators |= 1u << ests[e];
    /* The engine's default choice: from the memory budget. */
    struct wk_method_ctx ctx = {.model = m,
                                .device = device,
                                .seed = 0,
                                .chunk_samples = wk_chunk_samples(device, bm->c, bm->h, bm->w, g_budget_mb)};
    memcpy(ctx.mean, bm->mean, sizeof ctx.mean);
    memcpy(ctx.std, bm->std, sizeof ctx.std);
    *chunk = ctx.chunk_samples;
    float *x = malloc((size_t)(B * d) * sizeof *x), *a = malloc((size_t)(n_est * B * d) * sizeof *a);
    float *orig = calloc((size_t)B, sizeof *orig), *logits = NULL;
    int64_t *y = calloc((size_t)B, sizeof *y), *ids = calloc((size_t)B, sizeof *ids);
    struct diffid_acc acc;
    char err[1024] = "out of host memory";
    int classes = 1, failed = 1;
    double t = -1;
    memset(&acc, 0, sizeof acc);
    if (!x || !a || !orig || !y || !ids) goto out;
    fill_inputs(x, B * d);
    if (diffid && (wk_model_classes(m, device, x, bm->c, bm->h, bm->w, &classes) != TS_OK ||
                   !(logits = malloc((size_t)(B * classes) * sizeof *logits)))) {
        snprintf(err, sizeof err, "%s: no N×classes logits from a forward: %s", bm->name, ts_last_error());
        goto out;
    }
    struct ts_ledger l0, l1;
    const int on_dev = wk_diffid_copies_on_device(device);
    /* A warm-up on 2 images, then the case twice, best kept: the raw bound
     * is the best of its chunk sizes, so recal's figure is a best too (this
     * VM's rates drift by ±20 % from one minute to the next). */
    for (int pass = 0; pass < 3; pass++) {
        long todo = pass ? images : 2;
        ts_ledger_read(&l0);
        double t0 = clock_now_s();
        for (long i0 = 0; i0 < todo; i0 += B) {
            long b = todo - i0 < B ? todo - i0 : B;
            ts_tensor *xt = NULL, *lg = NULL;
            int64_t s4[4] = {b, bm->c, bm->h, bm->w};
            for (long i = 0; i < b; i++) {
                ids[i] = i0 + i;
                y[i] = (i0 + i) % classes;
            }
            if (on_dev) { /* as the engine does with the maps on the device */
                if (bench_batch_dev(m, device, &ctx, &jm, bm, x, y, ids, b, diffid, ests, n_est, &acc, err, sizeof err))
                    goto out;
                continue;
            }
            /* the clean forward gives f(x)[t], which DiffID scores against */
            int r = ts_from_f32(x, s4, 4, device, &xt) ||
                    (diffid && (ts_module_forward(m, xt, &lg) || ts_to_f32(lg, logits, (size_t)(b * classes))));
            ts_tensor_free(lg);
            if (r) {
                snprintf(err, sizeof err, "%s", ts_last_error());
            } else {
                for (long i = 0; diffid && i < b; i++) orig[i] = logits[i * classes + y[i]];
                struct wk_batch bt = {xt, x, y, NULL, ids, b, bm->c, bm->h, bm->w, NULL};
                float *outs[JOB_EST_COUNT] = {0};
                for (int e = 0; e < n_est; e++) outs[ests[e]] = a + e * B * d;
                r = wk_method_run(&ctx, &jm, &bt, outs, err, sizeof err);
                for (int e = 0; diffid && e < n_est && !r; e++)
                    r = wk_diffid_batch(m, device, classes, bm->c, bm->h, bm->w, ctx.chunk_samples, DIFFID_RATIOS, 9, x,
                                        xt, outs[ests[e]], y, orig, b, &acc, NULL, err, sizeof err);
            }
            ts_tensor_free(xt);
            if (r) goto out;
        }
        double tp = clock_now_s() - t0;
        if (pass <= 1 || tp < t) t = tp;
        ts_ledger_read(&l1);
        /* the gradient points recal computed an image: R·K, less those it shares */
        *grad_points = (double)(l1.bwd_samples - l0.bwd_samples) / (double)todo;
    }
    failed = 0;
out:
    if (failed) fprintf(stderr, "recal bench: %s\n", err);
    free(x);
    free(a);
    free(orig);
    free(logits);
    free(y);
    free(ids);
    return failed ? -1 : t;
}

static int bench_ig(ts_module *m, int device, const struct bench_model *bm, const char *path, long images, int refs,
                    int steps, int threads, int python) {
    long chunk_used = 0, chunk = 0;
    double pts = 0;
    double t = time_attribution(m, device, bm, images, refs, steps, 1, 0, &chunk_used, &pts);
    if (t < 0) return -1;
    /* The raw bound of the points recal computes (the distinct ones), and
     * of all R·K at the same per-sample rate: above 1 against the latter is
     * faster than any code that computes every point. */
    double raw = best_raw(m, device, bm, (long)(images * pts + 0.5), 1, &chunk);
    double ref = -1, cap = -1;
    if (python) python_baselines(path, bm, images, "ig", refs, steps, 1, threads, &ref, &cap);
    double ips = images / t, raw_ips = raw > 0 ? images / raw : -1;
    double all_ips = raw_ips > 0 ? raw_ips * pts / (double)(refs * steps) : -1;
    struct jbuf j = {0};
    jb_printf(&j, "{\"case\": \"ig_uniform/valid_ip R=%d K=%d\", \"model\": ", refs, steps);
    jb_string(&j, bm->name); /* a model file's name is the user's text */
    jb_printf(&j,
              ", \"device\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"images\": %ld, \"images_per_s\": %.3f, "
              "\"chunk\": %ld",
              ts_device_name(device), g_precision, threads, images, ips, chunk_used);
    jb_printf(&j, ", \"raw_bound_chunk\": %ld, \"gradient_points_per_image\": %.2f, \"all_points\": %d", chunk, pts,
              refs * steps);
    print_opt(&j, "all_points_bound_images_per_s", all_ips);
    print_opt(&j, "ratio_to_all_points_bound", all_ips > 0 ? ips / all_ips : -1);
    print_comparisons(&j, ips, raw_ips, ref, cap, 1);
    return 0;
}

static int bench_diffid(ts_module *m, int device, const struct bench_model *bm, const char *path, long images,
                        int threads, int python) {
    const long d = (long)bm->c * bm->h * bm->w;
    ts_tensor *x_owner, *x_dev = NULL; /* page-locked on CUDA, as recal run's batch buffers */
    float *x = wk_xfer_alloc(device, (size_t)(images * d) * sizeof *x, malloc, &x_owner);
    float *a = malloc((size_t)(images * d) * sizeof *a);
    float *orig = calloc((size_t)images, sizeof *orig);
    int64_t *y = calloc((size_t)images, sizeof *y);
    struct diffid_acc acc;
    char err[1024];
    int rc = -1;
    long chunk = wk_chunk_samples(device, bm->c, bm->h, bm->w, g_budget_mb);
    if (!x || !a || !orig || !y) goto out;
    fill_inputs(x, images * d);
    fill_inputs(a, images * d);
    for (long i = 0; i < images; i++) orig[i] = 1.0f;
    memset(&acc, 0, sizeof acc);
    /* the model's class count, from one forward (10 for the CNN, 1000 for ResNet-50) */
    int classes = 0;
    if (wk_model_classes(m, device, x, bm->c, bm->h, bm->w, &classes) != TS_OK) {
        fprintf(stderr, "recal bench: %s: no N×classes logits from a forward: %s\n", bm->name, ts_last_error());
        goto out;
    }
    /* the images sit on the device already, as the batch does in recal run */
    int64_t shape[4] = {images, bm->c, bm->h, bm->w};
    if (ts_from_f32(x, shape, 4, device, &x_dev) != TS_OK) {
        fprintf(stderr, "recal bench: %s: %s\n", bm->name, ts_last_error());
        goto out;
    }
    wk_diffid_batch(m, device, classes, bm->c, bm->h, bm->w, chunk, DIFFID_RATIOS, 9, x, x_dev, a, y, orig, 2, &acc,
                    NULL, err, sizeof err);
    double t0 = clock_now_s();
    if (wk_diffid_batch(m, device, classes, bm->c, bm->h, bm->w, chunk, DIFFID_RATIOS, 9, x, x_dev, a, y, orig, images,
                        &acc, NULL, err, sizeof err)) {
        fprintf(stderr, "recal bench: %s\n", err);
        goto out;
    }
    double t = clock_now_s() - t0;
    long best_chunk = 0;
    double raw = best_raw(m, device, bm, images * 18, 0, &best_chunk);
    double ref = -1, cap = -1;
    if (python) python_baselines(path, bm, images, "diffid", 0, 0, 1, threads, &ref, &cap);
    double ips = images / t, raw_ips = raw > 0 ? images / raw : -1;
    struct jbuf j = {0};
    jb_printf(&j, "{\"case\": \"diffid\", \"model\": ");
    jb_string(&j, bm->name);
    jb_printf(&j,
              ", \"device\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"copies\": \"%s\", \"images\": %ld, "
              "\"images_per_s\": %.3f",
              ts_device_name(device), g_precision, threads, wk_diffid_copies_on_device(device) ? "device" : "host",
              images, ips);
    print_comparisons(&j, ips, raw_ips, ref, cap, 0);
    rc = 0;
out:
    ts_tensor_free(x_dev);
    wk_xfer_free(x, x_owner);
    free(a);
    free(orig);
    free(y);
    return rc;
}

/* End to end, as a paper's table is made: IG-Uniform R×K of each image
 * with `n_est` estimators (valid_ip alone, or vanilla, valid_ref and
 * valid_ip), then DiffID of every estimator's map. The raw bound is the
 * same work as plain passes: R·K input-gradient forward+backward and
 * 1 + 18·n_est forwards per image. The reference runs one estimator per
 * invocation, so it pays the gradients n_est times; recal's estimators
 * share one gradient pass. */
static int bench_e2e(ts_module *m, int device, const struct bench_model *bm, const char *path, long images, int refs,
                     int steps, int n_est, int threads, int python) {
    long chunk_used = 0, gchunk = 0, fchunk = 0;
    double pts = 0;
    double t = time_attribution(m, device, bm, images, refs, steps, n_est, 1, &chunk_used, &pts);
    if (t < 0) return -1;
    double raw_g = best_raw(m, device, bm, (long)(images * pts + 0.5), 1, &gchunk); /* the distinct points */
    double raw_f = best_raw(m, device, bm, images * (1 + 18L * n_est), 0, &fchunk);
    double ref = -1, cap = -1;
    if (python) python_baselines(path, bm, images, "e2e", refs, steps, n_est, threads, &ref, &cap);
    double ips = images / t, raw_ips = raw_g > 0 && raw_f > 0 ? images / (raw_g + raw_f) : -1;
    struct jbuf j = {0};
    jb_printf(&j, "{\"case\": \"e2e ig_uniform/%s R=%d K=%d + diffid\", \"model\": ",
              n_est == 1 ? "valid_ip" : "{vanilla,valid_ref,valid_ip}", refs, steps);
    jb_string(&j, bm->name);
    jb_printf(&j,
              ", \"device\": \"%s\", \"precision\": \"%s\", \"threads\": %d, \"estimators\": %d, \"images\": %ld, "
              "\"images_per_s\": %.3f, \"chunk\": %ld",
              ts_device_name(device), g_precision, threads, n_est, images, ips, chunk_used);
    jb_printf(&j, ", \"gradient_points_per_image\": %.2f, \"all_points\": %d", pts, refs * steps);
    print_comparisons(&j, ips, raw_ips, ref, cap, 0);
    return 0;
}

/* --case: NULL runs every kind of case. */
static int want(const char *only_case, const char *kind) {
    return !only_case || !strcmp(only_case, kind);
}

/* The flags, as given (or their defaults). */
struct bench_opts {
    int quick, threads, python, dispatch, images_set, tail;
    const char *device_s, *dir, *only, *data, *only_case;
    long data_images, shards;
    struct bench_tail_opts to;
};

enum {
    O_QUICK = 256,
    O_NO_PYTHON,
    O_DISPATCH,
    O_SHARDS,
    O_THREADS,
    O_DEVICE,
    O_MODELS,
    O_ONLY,
    O_CASE,
    O_DATA,
    O_IMAGES,
    O_BUDGET,
    O_PRECISION,
    O_TAIL,
    O_IMAGE_MS,
    O_PER_RANK
};

/* One flag into o (the memory budget and precision into the settings every
 * case shares): 0, or -1 after one line saying what is wrong. */
static int bench_option(int c, const char *v, struct bench_opts *o) {
    long t;
    char *end;
    switch (c) {
    case O_QUICK:
        return o->quick = 1, 0;
    case O_NO_PYTHON:
        return o->python = 0, 0;
    case O_DISPATCH:
        return o->dispatch = 1, 0;
    case O_TAIL:
        return o->tail = 1, 0;
    case O_IMAGE_MS:
        o->to.image_ms = strtod(v, &end);
        if (!(o->to.image_ms > 0 && o->to.image_ms <= 1e4) || *end || end == v) {
            fprintf(stderr, "recal bench: --image-ms needs milliseconds an image, > 0 and <= 10000, got '%s'\n", v);
            return -1;
        }
        return 0;
    case O_PER_RANK:
        return cli_long("bench", "--shards-per-rank", v, 1, &o->to.per_rank);
    case O_SHARDS:
        o->shards = strtol(v, &end, 10);
        if (o->shards <= 0 || *end || end == v) {
            fprintf(stderr, "recal bench: --shards needs a number of shards > 0\n");
            return -1;
        }
        return 0;
    case O_THREADS:
        if (cli_long("bench", "--threads", v, 1, &t)) return -1;
        return o->threads = (int)t, 0;
    case O_DEVICE:
        return o->device_s = v, 0;
    case O_MODELS:
        return o->dir = v, 0;
    case O_ONLY:
        return o->only = v, 0;
    case O_CASE:
        if (!want(v, "ig") && !want(v, "diffid") && !want(v, "e2e")) {
            fprintf(stderr, "recal bench: --case is ig, diffid or e2e, got '%s'\n", v);
            return -1;
        }
        return o->only_case = v, 0;
    case O_DATA:
        return o->data = v, 0;
    case O_IMAGES:
        if (cli_long("bench", "--images", v, 1, &o->data_images)) return -1;
        return o->images_set = 1, 0;
    case O_BUDGET:
        return cli_long("bench", "--memory-budget", v, 1, &g_budget_mb);
    case O_PRECISION:
        if (!job_precision_known(v)) {
            fprintf(stderr, "recal bench: --precision is fp32, tf32 or bf16, got '%s'\n", v);
            return -1;
        }
        return g_precision = v, 0;
    default:
        return -1;
    }
}

/* The flags into o: 0, 1 after --help was printed, or -1 after one line
 * saying what is wrong. */
static int bench_parse(int argc, char **argv, struct bench_opts *o) {
    *o = (struct bench_opts){.python = 1,
                             .device_s = "auto",
                             .dir = "build/bench-models",
                             .data_images = 2000,
                             .shards = 100000,
                             .to = {.images = 50000,
                                    .batch = 16,
                                    .image_ms = 10,
                                    .jitter = 0.1,
                                    .read_frac = 0.15,
                                    .old_shard = 144,
                                    .per_rank = JOB_SHARDS_PER_RANK}};
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"quick", no_argument, NULL, O_QUICK},
        {"no-python", no_argument, NULL, O_NO_PYTHON},
        {"dispatch", no_argument, NULL, O_DISPATCH},
        {"shards", required_argument, NULL, O_SHARDS},
        {"threads", required_argument, NULL, O_THREADS},
        {"device", required_argument, NULL, O_DEVICE},
        {"models", required_argument, NULL, O_MODELS},
        {"only", required_argument, NULL, O_ONLY},
        {"case", required_argument, NULL, O_CASE},
        {"data", required_argument, NULL, O_DATA},
        {"images", required_argument, NULL, O_IMAGES},
        {"memory-budget", required_argument, NULL, O_BUDGET},
        {"precision", required_argument, NULL, O_PRECISION},
        {"tail", no_argument, NULL, O_TAIL},
        {"image-ms", required_argument, NULL, O_IMAGE_MS},
        {"shards-per-rank", required_argument, NULL, O_PER_RANK},
        {NULL, 0, NULL, 0},
    };
    cli_start();
    for (int c; (c = cli_next("bench", argc, argv, opts)) != -1;) {
        if (c == 'h') {
            fputs(HELP, stdout);
            return 1;
        }
        if (bench_option(c, optarg, o)) return -1;
    }
    const char **operands;
    if (cli_operands(&operands) > 0) {
        fprintf(stderr, "recal bench: unexpected argument '%s' (see recal bench --help)\n", operands[0]);
        return -1;
    }
    if (o->tail && !o->dispatch) {
        fprintf(stderr, "recal bench: --tail is a --dispatch pass: mpirun -n R recal bench --dispatch --tail\n");
        return -1;
    }
    if (o->tail && o->images_set) o->to.images = o->data_images;
    return 0;
}

/* The device, precision and threads every case runs with, and the
 * benchmark models exported into o->dir: an EXIT_* code. */
static int bench_setup(const struct bench_opts *o, int *device) {
    if (ts_device_parse(o->device_s, device)) {
        fprintf(stderr, "recal bench: --device %s: %s\n", o->device_s, ts_last_error());
        return EXIT_USER;
    }
    g_device = *device;
    wk_set_precision(g_precision, *device);
    ts_set_num_threads(o->threads);
    /* Models come from tools/ (architectures live in PyTorch); random
     * weights are enough for timing. */
    char cmd[2048];
    const char *py = cli_python(), *dir = o->dir;
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s' && { [ -f '%s/fashion-cnn.pt' ] || '%s' tools/export_fashion_cnn.py "
             "'%s/fashion-cnn.pt' >/dev/null; } && { [ -f '%s/preact_resnet18.pt' ] || '%s' "
             "tools/export_models.py '%s' >/dev/null; }",
             dir, dir, py, dir, dir, py, dir);
    if (system(cmd) != 0) {
        fprintf(stderr,
                "recal bench: exporting the benchmark models into %s failed (run from the source tree, "
                "with python3-torch installed)\n",
                dir);
        return EXIT_USER;
    }
    return EXIT_OK;
}

static const struct bench_model MODELS[] = {
    {"fashion-cnn 1x28x28", "fashion-cnn.pt", 1, 28, 28, {0.2860f}, {0.3530f}},
    {"preact_resnet18 3x32x32",
     "preact_resnet18.pt",
     3,
     32,
     32,
     {0.4914f, 0.4822f, 0.4465f},
     {0.2471f, 0.2435f, 0.2616f}},
    {"resnet50 3x224x224", "resnet50.pt", 3, 224, 224, {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}},
};

/* Model k's cases (IG, DiffID, end to end; as --case picks) on n_ig and
 * n_e2e images: 0, or -1 after the message. */
static int bench_model_cases(ts_module *m, int device, int k, const char *path, long n_ig, long n_e2e,
                             const struct bench_opts *o) {
    const struct bench_model *bm = &MODELS[k];
    int rc = 0;
    if (want(o->only_case, "ig")) {
        rc = bench_ig(m, device, bm, path, n_ig, 10, 5, o->threads, o->python);
        if (!rc && k == 1) rc = bench_ig(m, device, bm, path, n_ig, 10, 3, o->threads, o->python);
    }
    /* DiffID at the demo's size and at ImageNet's, where the host-built
     * copies are 192× larger per image */
    if (!rc && k != 1 && want(o->only_case, "diffid"))
        rc = bench_diffid(m, device, bm, path, n_ig * 4, o->threads, o->python);
    /* end to end at the ImageNet setting (K=5) on the demo CNN and
     * ResNet-50, at the CIFAR one (K=3) on PreActResNet-18 */
    for (int n_est = 1; n_est <= 3 && !rc && n_e2e && want(o->only_case, "e2e"); n_est += 2)
        rc = bench_e2e(m, device, bm, path, n_e2e, 10, k == 1 ? 3 : 5, n_est, o->threads, o->python);
    return rc;
}

/* Every model's cases, at --quick's, the default or --images' counts: an
 * EXIT_* code. */
static int bench_models(const struct bench_opts *o, int device) {
    long n_ig[] = {o->quick ? 128 : 1024, o->quick ? 8 : 64, o->quick ? 0 : 4};
    long n_e2e[] = {o->quick ? 32 : 256, o->quick ? 0 : 16, o->quick ? 0 : 2};
    if (o->images_set) {
        n_ig[0] = n_ig[1] = n_ig[2] = o->data_images;
        n_e2e[0] = n_e2e[1] = n_e2e[2] = o->data_images / 4 > 0 ? o->data_images / 4 : 1;
    }
    for (int k = 0; k < 3; k++) {
        if (!n_ig[k] || (o->only && !strstr(MODELS[k].name, o->only))) continue;
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", o->dir, MODELS[k].file);
        if (access(path, R_OK)) {
            fprintf(stderr, "recal bench: %s missing (install python3-torchvision for ResNet-50); skipped\n", path);
            continue;
        }
        ts_module *m = NULL;
        if (ts_module_load(path, device, &m)) {
            fprintf(stderr, "recal bench: %s: %s\n", path, ts_last_error());
            return EXIT_USER;
        }
        int rc = bench_model_cases(m, device, k, path, n_ig[k], n_e2e[k], o);
        ts_module_free(m);
        if (rc) return EXIT_INTERNAL;
    }
    return EXIT_OK;
}

/* parse -> (the --tail, --dispatch or --data pass, or) the device and the
 * models -> each model's cases, one JSON line each. */
int cmd_bench(int argc, char **argv) {
    struct bench_opts o;
    int prc = bench_parse(argc, argv, &o);
    if (prc) return prc > 0 ? EXIT_OK : EXIT_USER;
    if (o.tail) return bench_tail(argc, argv, &o.to);
    if (o.dispatch) return bench_dispatch(argc, argv, o.shards);
    if (o.data) return bench_data(o.data, o.data_images > 0 ? o.data_images : 2000);
    if (o.threads <= 0) o.threads = (int)cores_usable();
    int device, rc = bench_setup(&o, &device);
    return rc ? rc : bench_models(&o, device);
}
