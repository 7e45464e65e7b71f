/* worker/engine.c — see engine.h. */
#include "clock.h"
#include "cores.h"
#include "engine.h"
#include "log.h"

#include <math.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diffid.h"
#include "chunk_tune.h"
#include "diffid_batch.h"
#include "dev_consts.h"
#include "examples.h"
#include "fault.h"
#include "methods.h"
#include "metric_batch.h"
#include "ds_job.h"
#include "fsutil.h"
#include "npy.h"
#include "prefetch.h"
#include "xfer_buf.h"
#include "roar_rank.h"
#include "wk_pool.h"

/* Activation memory per sample is estimated as this many times the input
 * size: ResNet-50 at 224×224 keeps ~100 MB per sample for the backward pass,
 * about 170× its input; memory_budget_mb divided by that bounds a chunk. */
#define WK_ACT_FACTOR 256
/* Upper bounds of the chunk. On a GPU, kernels want many samples. On a CPU
 * a chunk much larger than the caches is slower per sample: measured on the
 * 2-core VM (fp32, frozen, 2 threads, samples/s of input-gradient passes):
 * PreActResNet-18 3×32×32 98/92/91/66/60 at 16/32/48/64/128; the demo CNN
 * 1×28×28 2,514/4,554/5,462/7,580 at 32/64/128/256; ResNet-50 3×224×224
 * 13/16/13/7 at 2/4/8/16. A chunk whose inputs total WK_CPU_CHUNK_BYTES
 * (PreActResNet-18: 42, the CNN: 167, ResNet-50: 4 by the floor) lands near
 * each optimum; `chunk_samples` (a number, or auto) overrides it per job. */
#define WK_CPU_CHUNK_BYTES (512L << 10)
#define WK_CPU_CHUNK_MIN 4
#define WK_CPU_CHUNK_CAP 256
#define WK_GPU_CHUNK_CAP 4096
/* memory_budget_mb: auto on CUDA takes this share of the device memory free
 * once the model is loaded: the batch's references, x − r and maps live
 * outside the chunk (and the caching allocator's own slack), so the rest is
 * left to them. */
#define WK_AUTO_FREE_SHARE 0.7

long wk_chunk_samples(int device, int c, int h, int w, long memory_budget_mb) {
    long in_bytes = (long)c * h * w * 4;
    long chunk = (long)((memory_budget_mb << 20) / (in_bytes * WK_ACT_FACTOR));
    long cap = WK_GPU_CHUNK_CAP;
    if (device != TS_DEV_CUDA) {
        cap = WK_CPU_CHUNK_BYTES / in_bytes;
        cap = cap < WK_CPU_CHUNK_MIN ? WK_CPU_CHUNK_MIN : cap > WK_CPU_CHUNK_CAP ? WK_CPU_CHUNK_CAP : cap;
    }
    return chunk < 1 ? 1 : chunk > cap ? cap : chunk;
}

size_t wk_record_len(const struct wk_engine *e) {
    return e->layout.len;
}

const char *wk_grad_hint(const char *torch_msg) {
    if (strstr(torch_msg, "does not require grad and does not have a grad_fn"))
        return "the model's output does not depend on its input x (a constant output, or x.detach(), "
               "torch.no_grad() or .data on the input inside forward): attributions are gradients with respect to "
               "x; export the model without cutting its input off";
    if (strstr(torch_msg, "leaf Variable that requires grad is being used in an in-place operation"))
        return "the model's forward modifies its input x in place (x.mul_(...), x += ..., an in-place "
               "normalization): recal keeps x for the gradient; write it out of place (x = x * ...) and export "
               "the model again";
    return NULL;
}

int wk_model_classes(ts_module *m, int device, const float *x, int c, int h, int w, int *classes) {
    ts_tensor *xt = NULL, *lg = NULL;
    int64_t shape[4] = {1, c, h, w}, lshape[TS_MAX_DIMS];
    int nd = 0, rc = ts_from_f32(x, shape, 4, device, &xt);
    if (rc == TS_OK) rc = ts_module_forward(m, xt, &lg); /* which refuses anything but N×classes */
    if (rc == TS_OK) rc = ts_shape(lg, lshape, &nd);
    if (rc == TS_OK) *classes = (int)lshape[1];
    ts_tensor_free(xt);
    ts_tensor_free(lg);
    return rc;
}

int wk_set_precision(const char *precision, int device) {
    int rc = device == TS_DEV_CUDA && !strcmp(precision, "tf32") ? ts_set_tf32(1) : TS_OK;
    return rc == TS_OK ? ts_set_bf16(!strcmp(precision, "bf16")) : rc;
}

int wk_job_device(const struct job *job, int *device) {
    int rc = ts_device_parse(job->device, device);
    return rc == TS_OK ? wk_set_precision(job->precision, *device) : rc;
}

/* The model's prediction: the first maximal logit. */
static int predicted(const float *logits, int classes) {
    int pred = 0;
    for (int k = 1; k < classes; k++)
        if (logits[k] > logits[pred]) pred = k;
    return pred;
}

/* The class the methods and metrics explain for an image (job->target). */
static int64_t target_of(const struct job *job, int64_t label, const float *logits, int classes) {
    return job->target == JOB_TARGET_LABEL       ? label
           : job->target == JOB_TARGET_PREDICTED ? predicted(logits, classes)
                                                 : job->target;
}

/* An image's fixed per-image columns (REC_IM_*): id, label, prediction,
 * target, and the target's logit and softmax probability (in double,
 * max-shifted). */
static void image_row(double *row, long id, int64_t label, int64_t target, const float *logits, int classes) {
    const int pred = predicted(logits, classes);
    double z = 0;
    for (int k = 0; k < classes; k++) z += exp((double)logits[k] - logits[pred]);
    row[REC_IM_ID] = (double)id;
    row[REC_IM_LABEL] = (double)label;
    row[REC_IM_PRED] = pred;
    row[REC_IM_TARGET] = (double)target;
    row[REC_IM_LOGIT] = logits[target];
    row[REC_IM_PROB] = exp((double)logits[target] - logits[pred]) / z;
}

/* Each method's references (B·R per batch, each an image) and α (B·R·K)
 * are held whole for a batch, outside the chunks that memory_budget_mb
 * sizes: `refs: 100000000` passed the config check and then asked for
 * 313 GB inside a shard. Refused before any shard, with the arithmetic,
 * when they exceed this machine's memory; above memory_budget_mb only
 * logged (an ImageNet batch of 64 × 64 EG references, 2.5 GB, is a
 * legitimate job on a large node). */
static int check_refs_memory(const struct job *job, const struct ds_dataset *ds, char *err, size_t errlen) {
    const double d = (double)ds->c * ds->h * ds->w, budget = (double)job->memory_budget_mb * (1 << 20);
    const int auto_budget = job->memory_budget_mb == JOB_MEMORY_AUTO; /* not known before the model is loaded */
    const double ram = mem_usable_bytes();
    for (int k = 0; k < job->n_methods; k++) {
        const struct job_method *m = &job->methods[k];
        const double refs = (double)job->batch_size * m->refs * d * 4,
                     alpha = (double)job->batch_size * m->refs * m->steps * 4;
        if (!auto_budget && refs + alpha > budget)
            log_printf("methods.%d (%s): %.2f GB of references and path points a batch, above memory_budget_mb %ld", k,
                       job_method_label(m), (refs + alpha) / 1e9, job->memory_budget_mb);
        if (ram <= 0 || refs + alpha <= ram) continue;
        snprintf(err, errlen,
                 "%s: methods.%d (%s): batch_size %d x refs %d x %.0f values an image x 4 bytes = %.2f GB of "
                 "references (+ %.2f GB of path points) held for each batch, more than this machine's %.1f GB of "
                 "memory: lower refs or batch_size",
                 job->file, k, job_method_label(m), job->batch_size, m->refs, d, refs / 1e9, alpha / 1e9, ram / 1e9);
        return -1;
    }
    return 0;
}

/* The job's memory_budget_mb, or with `auto` the share of the device's free
 * memory on CUDA, the default elsewhere (logged either way: the chunk, and
 * so float summation order, follows from it). */
static long budget_mb(const struct wk_engine *e) {
    const struct job *job = e->job;
    size_t fr = 0, tot = 0;
    if (job->memory_budget_mb != JOB_MEMORY_AUTO) return job->memory_budget_mb;
    if (e->device == TS_DEV_CUDA && ts_cuda_mem_free(&fr, &tot) == TS_OK) {
        long mb = (long)((double)fr * WK_AUTO_FREE_SHARE / (1 << 20));
        log_printf("memory_budget_mb: auto: %ld MB, %.0f %% of the %.2f GB free of the device's %.2f GB",
                   mb < 1 ? 1 : mb, 100 * WK_AUTO_FREE_SHARE, (double)fr / 1e9, (double)tot / 1e9);
        return mb < 1 ? 1 : mb;
    }
    log_printf("memory_budget_mb: auto: %ld MB, the default (%s)", JOB_MEMORY_DEFAULT_MB,
               e->device == TS_DEV_CUDA ? ts_last_error() : "device memory is measured on CUDA only");
    return JOB_MEMORY_DEFAULT_MB;
}

/* One image through the model tells the class count and catches
 * channel/size mismatches before any shard is started. 0, or -1 with a
 * message. */
static int check_model(struct wk_engine *e, const struct job *job, char *err, size_t errlen) {
    long d = (long)e->ds.c * e->ds.h * e->ds.w;
    float *x = malloc((size_t)d * sizeof *x);
    int got = x && ds_get(&e->ds, 0, 1, x, NULL, err, errlen) == 0, ok = got, trc = TS_OK;
    if (ok) ok = (trc = wk_model_classes(e->model, e->device, x, e->ds.c, e->ds.h, e->ds.w, &e->classes)) == TS_OK;
    if (!x) snprintf(err, errlen, "out of memory for one %dx%dx%d image", e->ds.c, e->ds.h, e->ds.w);
    if (trc == TS_ESHAPE) /* it ran: its output is what recal cannot explain */
        snprintf(err, errlen, "%s: %s", job->model_path, ts_last_error());
    else if (!ok && got && wk_grad_hint(ts_last_error())) /* it ran, but gives no gradient */
        snprintf(err, errlen, "%s: %s (libtorch: %s)", job->model_path, wk_grad_hint(ts_last_error()), ts_last_error());
    else if (!ok && got) /* else ds_get's message (the file, the image) stands */
        snprintf(err, errlen,
                 "%s: the model does not accept %s images of shape 1x%dx%dx%d (NxCxHxW): %s (a model for "
                 "another dataset? check model.path, dataset.name and dataset.resize/crop)",
                 job->model_path, job->dataset_name, e->ds.c, e->ds.h, e->ds.w, ts_last_error());
    free(x);
    if (!ok) return -1;
    const char *note = ts_module_freeze_note(e->model);
    if (note) fprintf(stderr, "recal: %s: %s; it runs as loaded\n", job->model_path, note);
    if (job->target >= e->classes) {
        snprintf(err, errlen,
                 "%s: target %d: the model has classes 0..%d (set target: label, predicted or a "
                 "class below %d)",
                 job->file, job->target, e->classes - 1, e->classes);
        return -1;
    }
    if (e->classes < e->ds.classes && e->ds.max_label_at >= 0) {
        /* npy without dataset.classes: the count came from the labels */
        snprintf(err, errlen,
                 "%s/%s: label %d at index %ld is outside the %d classes %s outputs (fix the labels, "
                 "or check model.path)",
                 job->dataset_path, strcmp(job->split, "train") ? "labels.npy" : "labels-train.npy", e->ds.classes - 1,
                 e->ds.max_label_at, e->classes, job->model_path);
        return -1;
    }
    if (e->classes < e->ds.classes) {
        snprintf(err, errlen, "%s: the model outputs %d classes but %s has %d labels (wrong model for this dataset?)",
                 job->model_path, e->classes, job->dataset_name, e->ds.classes);
        return -1;
    }
    /* A data set whose class count is fixed (its format, its class
     * folders, dataset.classes) and a model with more outputs: label k
     * would name the model's class k, which is the data's only by luck
     * (3 class folders against a 4-logit model ran to the end). Labels
     * counted from an npy file may stop short of the model's classes. */
    if (e->classes > e->ds.classes && e->ds.max_label_at < 0) {
        snprintf(err, errlen,
                 "%s: the model outputs %d classes but %s at %s has %d: the data's label k would be read as "
                 "the model's class k (a model for another dataset? a subset of the model's classes needs "
                 "labels in the model's numbering: an npy data set with dataset.classes: %d)",
                 job->model_path, e->classes, job->dataset_name, job->dataset_path, e->ds.classes, e->classes);
        return -1;
    }
    return 0;
}

static int needs_train_split(const struct job *job) {
    for (int i = 0; i < job->n_methods; i++)
        if (job->methods[i].kind == JOB_M_EG) return 1;
    return 0;
}

int wk_engine_splits(const struct job *job, const char *split[2]) {
    split[0] = job->split;
    split[1] = "train";
    return needs_train_split(job) && strcmp(job->split, "train") != 0 ? 2 : 1;
}

int wk_engine_open(struct wk_engine *e, const struct job *job, char *err, size_t errlen) {
    return wk_engine_open_listed(e, job, NULL, err, errlen);
}

int wk_engine_open_listed(struct wk_engine *e, const struct job *job, const struct ds_listing *const list[2], char *err,
                          size_t errlen) {
    memset(e, 0, sizeof *e);
    const char *split[2];
    const int n_split = wk_engine_splits(job, split);
    const struct ds_listing *own = list ? list[0] : NULL, *train = list && n_split == 2 ? list[1] : own;
    e->job = job;
    e->n_slots = rec_plan_slots(job, e->slots);
    rec_layout_of(job, e->n_slots, &e->layout);
    if (wk_job_device(job, &e->device) != TS_OK) {
        snprintf(err, errlen, "%s: device '%s': %s", job->file, job->device, ts_last_error());
        return -1;
    }
    {
        char what[JOB_PATH_MAX + 16];
        snprintf(what, sizeof what, "%s: threads", job->file);
        if (cores_check_threads(what, job->threads, err, errlen)) return -1;
    }
    if (job->threads > 0) ts_set_num_threads(job->threads);
    double t = clock_now_s();
    if (wk_ds_open_listed(job, job->split, job->limit, own, &e->ds, err, errlen)) return -1;
    e->open_dataset_s = clock_now_s() - t;
    if (check_refs_memory(job, &e->ds, err, errlen) ||
        wk_examples_plan(job, &e->ds, e->ex_ids, &e->n_ex_ids, err, errlen))
        goto fail;
    if (job->pointing.on) {
        struct ds_box probe;
        if (ds_boxes(&e->ds, 0, &probe, 0) == -1) {
            snprintf(err, errlen,
                     "%s: metrics.pointing_game needs bounding boxes, which only the imagenet dataset in the flat "
                     "layout has (<path>/LOC_%s_solution.csv: 'ImageId,wnid xmin ymin xmax ymax ...'); %s has none",
                     job->file, job->split, job->dataset_name);
            goto fail;
        }
    }
    if (!fs_exists(job->model_path)) {
        snprintf(err, errlen,
                 "%s: model.path: no such file (train the default with `recal train "
                 "configs/fashion-mnist-train.yaml`, or export yours to TorchScript with torch.jit.save)",
                 job->model_path);
        goto fail;
    }
    t = clock_now_s();
    if (ts_module_load(job->model_path, e->device, &e->model) != TS_OK) {
        snprintf(err, errlen, "%s: cannot load TorchScript model: %s (export it with tools/, or run `recal train`)",
                 job->model_path, ts_last_error());
        goto fail;
    }
    e->open_model_s = clock_now_s() - t;
    t = clock_now_s();
    /* GradCAM reads the model's features/classifier split: refuse at load,
     * not halfway through a run. */
    for (int k = 0; k < job->n_methods; k++)
        if (job->methods[k].kind == JOB_M_GRADCAM) {
            if (wk_gradcam_check_model(e->model, job->model_path, err, errlen)) goto fail;
            break;
        }
    if (check_model(e, job, err, errlen)) goto fail;
    /* The memory budget bounds the chunk. Measuring within it ("auto") is
     * opt-in: on a busy or 2-core machine the probe is noisy, and the chunk
     * sets float summation order (cmd_run makes every rank use rank 0's
     * choice and keeps it for --resume). */
    e->chunk_samples = wk_chunk_samples(e->device, e->ds.c, e->ds.h, e->ds.w, budget_mb(e));
    if (job->chunk_samples > 0) {
        if (job->chunk_samples < e->chunk_samples) e->chunk_samples = job->chunk_samples;
    } else if (job->chunk_samples < 0) {
        e->chunk_samples = wk_tune_chunk(e->model, e->device, e->ds.c, e->ds.h, e->ds.w, e->chunk_samples, 1, NULL);
    }
    e->open_check_s = clock_now_s() - t;
    e->mctx.model = e->model;
    e->mctx.device = e->device;
    e->mctx.seed = job->seed;
    e->mctx.chunk_samples = e->chunk_samples;
    e->mctx.classes = e->classes;
    e->mctx.consts = &e->consts;
    for (int ch = 0; ch < e->ds.c && ch < 3; ch++) {
        e->mctx.mean[ch] = e->ds.mean[ch];
        e->mctx.std[ch] = e->ds.std[ch];
    }
    /* Maps made elsewhere: each file mapped once, checked against the split. */
    for (int i = 0; i < job->n_methods; i++)
        if (job->methods[i].kind == JOB_M_PRECOMPUTED) {
            if (wk_maps_open(job->methods[i].path, e->ds.n, e->ds.c, e->ds.h, e->ds.w, &e->maps[e->mctx.n_maps], err,
                             errlen))
                goto fail;
            e->mctx.n_maps++;
        }
    e->mctx.maps = e->maps;
    /* Baseline files: each checked against the split here, before any shard. */
    for (int i = 0; i < job->n_methods; i++) {
        const struct job_method *m = &job->methods[i];
        if (!job_method_takes_baseline(m->kind) || m->baseline != JOB_BASE_FILE) continue;
        char why[1536];
        if (wk_base_file_open(m->baseline_path, e->ds.n, e->ds.c, e->ds.h, e->ds.w,
                              &e->base_files[e->mctx.n_base_files], why, sizeof why)) {
            snprintf(err, errlen, "methods.%d (%s) baseline: %s", i, job_method_label(m), why);
            goto fail;
        }
        e->mctx.n_base_files++;
    }
    e->mctx.base_files = e->base_files;
    /* Expected Gradients draws its references from the training split. */
    if (needs_train_split(job)) {
        t = clock_now_s();
        int rc = wk_ds_open_listed(job, "train", 0, train, &e->ref_ds, err, errlen);
        e->open_dataset_s += clock_now_s() - t;
        if (rc) {
            size_t n = strlen(err);
            snprintf(err + n, errlen - n, " (Expected Gradients needs the dataset's train split)");
            goto fail;
        }
        e->mctx.ref_ds = &e->ref_ds;
    }
    return 0;
fail:
    wk_engine_close(e);
    return -1;
}

void wk_engine_relayout(struct wk_engine *e) {
    rec_layout_of(e->job, e->n_slots, &e->layout);
}

void wk_engine_set_chunk(struct wk_engine *e, long n) {
    e->chunk_samples = n;
    e->mctx.chunk_samples = n;
}

void wk_engine_set_output(struct wk_engine *e, const char *run_dir, int (*abandon)(void)) {
    snprintf(e->run_dir, sizeof e->run_dir, "%s", run_dir);
    e->abandon = abandon;
}

void wk_engine_bind_next(struct wk_engine *e, int (*next)(void *arg, long *first, long *count), void *arg) {
    e->next_shard = next;
    e->next_arg = arg;
}

void wk_engine_close(struct wk_engine *e) {
    if (e->carry.running) { /* a read ahead for a shard that never came (a failure, a stop) */
        char ignored[8];
        wk_prefetch_wait(&e->carry, ignored, sizeof ignored);
    }
    wk_xfer_free(e->carry_x, e->carry_owner);
    free(e->carry_y);
    e->carry_x = NULL;
    e->carry_y = NULL;
    for (int k = 0; k < e->mctx.n_maps; k++) npy_free(&e->maps[k].a);
    e->mctx.n_maps = 0;
    for (int k = 0; k < e->mctx.n_base_files; k++) npy_free(&e->base_files[k].a);
    e->mctx.n_base_files = 0;
    wk_consts_free(&e->consts);
    ts_module_free(e->model);
    e->model = NULL;
    if (e->ds.impl) ds_close(&e->ds);
    if (e->ref_ds.impl) ds_close(&e->ref_ds);
}

/* A model that outputs NaN or Inf (a log of 0, a division by zero, an
 * overflow in bf16) would turn every metric into NaN: a clear error naming
 * the model and the first images, never a number. what: "logits" or
 * "attributions" (then m names the method). */
static int nonfinite_rows(const struct wk_engine *e, const char *what, const float *v, long rows, long cols,
                          const int64_t *ids, const struct job_method *m, char *err, size_t errlen) {
    long bad = 0, first_bad[3];
    for (long i = 0; i < rows; i++)
        for (long k = 0; k < cols; k++)
            if (!isfinite(v[i * cols + k])) {
                if (bad < 3) first_bad[bad] = (long)ids[i];
                bad++;
                break;
            }
    if (!bad) return 0;
    char list[96];
    int n = 0;
    for (long j = 0; j < bad && j < 3; j++)
        n += snprintf(list + n, sizeof list - (size_t)n, "%s%ld", j ? ", " : "", first_bad[j]);
    snprintf(err, errlen,
             "%s: the model gives NaN or Inf %s%s%s for %ld image(s) of this batch (image id%s %s%s); recal scores no "
             "non-finite numbers: check the model on these images (a log of 0, a division by zero, an overflow "
             "under precision: bf16?)",
             e->job->model_path, what, m ? " of " : "", m ? job_method_name(m->kind) : "", bad, bad > 1 ? "s" : "",
             list, bad > 3 ? ", ..." : "");
    return -1;
}

int wk_metric_covers(long bound, long total, const int64_t *ids, long b) {
    for (long i = 0; i < b; i++)
        if (job_subset_has(bound, total, (long)ids[i])) return 1;
    return 0;
}

int wk_metrics_read_maps(const struct job *job, long total, const int64_t *ids, long b) {
    return (job->fcorr.on && wk_metric_covers(job->fcorr.images, total, ids, b)) ||
           (job->fest.on && wk_metric_covers(job->fest.images, total, ids, b)) ||
           (job->road.on && wk_metric_covers(job->road.images, total, ids, b)) ||
           (job->pointing.on && wk_metric_covers(job->pointing.images, total, ids, b));
}

void wk_shard_file(char *buf, size_t n, const char *run_dir, const char *dir, long first, long count, const char *ext) {
    snprintf(buf, n, "%s/%s/shard-%08ld-%08ld%s", run_dir, dir, first, first + count - 1, ext);
}

/* What the metric batches read of the engine (metric_batch.h). */
static struct wk_metric_ctx metric_ctx(struct wk_engine *e) {
    return (struct wk_metric_ctx){.job = e->job,
                                  .ds = &e->ds,
                                  .layout = &e->layout,
                                  .slots = e->slots,
                                  .n_slots = e->n_slots,
                                  .model = e->model,
                                  .device = e->device,
                                  .chunk_samples = e->chunk_samples,
                                  .mctx = &e->mctx,
                                  .shard_first = e->shard_first};
}

/* The shard's last batch is read: ask for the next shard and read its first
 * batch into the carry buffer while this one computes (the dataset reads
 * one batch at a time: no read of this shard is running now). Without a
 * look-ahead, or without memory for the buffer, the next shard reads its
 * first batch itself, as before. */
static void carry_start(struct wk_engine *e, size_t batch_bytes) {
    long f = 0, c = 0;
    if (!e->next_shard || e->next_shard(e->next_arg, &f, &c) != 1 || c <= 0) return;
    if (!e->carry_x) e->carry_x = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &e->carry_owner);
    if (!e->carry_y) e->carry_y = fault_malloc((size_t)e->job->batch_size * sizeof *e->carry_y);
    if (!e->carry_x || !e->carry_y) return;
    e->carry_first = f;
    e->carry_count = c < e->job->batch_size ? c : e->job->batch_size;
    e->carry_skipped0 = ds_skipped(&e->ds);
    wk_prefetch_start(&e->carry, &e->ds, f, e->carry_count, e->carry_x, e->carry_y);
}

/* The shard's first batch, when it was read ahead (carry_start): into x, y;
 * *skipped0 the dataset's skipped count before that read. 1 taken, 0 none
 * (the caller reads it), -1 its read failed (message in err). */
static int carry_take(struct wk_engine *e, long first, long count, float *x, int64_t *y, long *skipped0, char *err,
                      size_t errlen) {
    const long n = e->carry_count, d = (long)e->ds.c * e->ds.h * e->ds.w;
    if (n == 0) return 0;
    e->carry_count = 0;
    char why[1024];
    const int rc = wk_prefetch_wait(&e->carry, why, sizeof why);
    if (e->carry_first != first || n != (count < e->job->batch_size ? count : e->job->batch_size))
        return 0; /* another shard than the one asked for (not in a run: the coordinator keeps the order) */
    if (rc) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    memcpy(x, e->carry_x, (size_t)(n * d) * sizeof *x);
    memcpy(y, e->carry_y, (size_t)n * sizeof *y);
    *skipped0 = e->carry_skipped0;
    e->n_carried++;
    return 1;
}

int wk_engine_run(struct wk_engine *e, long first, long count, double *record, char *err, size_t errlen) {
    const struct job *job = e->job;
    e->mctx.abandon = e->abandon; /* the methods look between chunks too */
    const long d = (long)e->ds.c * e->ds.h * e->ds.w;
    const long bmax = job->batch_size;
    const int nr = job->n_diffid_ratios;
    int rc = -1;
    memset(record, 0, wk_record_len(e) * sizeof *record);
    rec_pi_clear(&e->layout, record);
    e->shard_first = first;
    double *pi_diffid = NULL; /* the batch's per-image DiffID, 2 per image */
    struct ts_ledger led0, led1;
    ts_ledger_read(&led0);
    /* two batch buffers: one computes while the next is read (prefetch.h) */
    const size_t batch_bytes = (size_t)(bmax * d) * sizeof(float);
    ts_tensor *x_owner, *xn_owner, *attr_owner[REC_MAX_SLOTS] = {0};
    /* the images (uploaded by every method, DiffID and the clean forward)
     * and the maps (downloaded per chunk): page-locked on CUDA */
    float *x = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &x_owner);
    float *xn = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &xn_owner);
    int64_t *y = fault_malloc((size_t)bmax * sizeof *y), *yn = fault_malloc((size_t)bmax * sizeof *yn);
    int64_t *ids = fault_malloc((size_t)bmax * sizeof *ids);
    struct wk_prefetch pf = {0};
    /* dataset.on_error: skip — the files this shard skipped, one per line,
     * kept in RUN_DIR/skipped/ so that metrics.json can list them all */
    long skipped_before = 0; /* read once no read ahead runs (carry_take) */
    char *skipped = NULL;
    size_t skipped_len = 0;
    float *clean = fault_malloc((size_t)(bmax * e->classes) * sizeof *clean),
          *orig = fault_malloc((size_t)bmax * sizeof *orig);
    float *attr[REC_MAX_SLOTS] = {0};
    struct diffid_acc *acc = fault_calloc((size_t)(e->n_slots ? e->n_slots : 1), sizeof *acc);
    struct wk_pool pool = {0};
    /* the batch's maps on the device, one per slot (owned here: a job may
     * have more slots than a pool holds) */
    ts_tensor *attr_t[REC_MAX_SLOTS] = {0};
    /* count × slots × D, image-major, as numpy users index it */
    float *maps = job->out_attributions ? fault_calloc((size_t)(count * e->n_slots * d), sizeof *maps) : NULL;
    /* outputs.figures: the example images of this shard (wk_examples_plan)
     * and their maps, for the report's heatmap grid */
    long n_ex = wk_examples_in(e->ex_ids, e->n_ex_ids, first, count);
    float *ex = n_ex ? fault_calloc((size_t)(n_ex * (1 + e->n_slots) * d), sizeof *ex) : NULL;
    /* outputs.masks: ROAR rank maps, count × slots × H × W uint16 */
    const long hw = (long)e->ds.h * e->ds.w;
    /* calloc: an image skipped under on_error: skip keeps zeros */
    uint16_t *ranks = job->out_masks ? fault_calloc((size_t)(count * e->n_slots * hw), sizeof *ranks) : NULL;
    long *rk_order = job->out_masks ? fault_malloc((size_t)hw * sizeof *rk_order) : NULL;
    float *rk_sal = job->out_masks ? fault_malloc((size_t)hw * sizeof *rk_sal) : NULL;
    if (e->layout.n_pi && job->diffid) pi_diffid = fault_malloc((size_t)(2 * bmax) * sizeof *pi_diffid);
    int ok = x && xn && y && yn && ids && clean && orig && acc && (maps || !job->out_attributions) && (ex || !n_ex) &&
             (pi_diffid || !e->layout.n_pi || !job->diffid) && (!job->out_masks || (ranks && rk_order && rk_sal));
    for (int s = 0; s < e->n_slots && ok; s++)
        ok = (attr[s] = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &attr_owner[s])) != NULL;
    if (!ok) {
        snprintf(err, errlen, "out of host memory for a batch of %ld images (lower batch_size)", bmax);
        goto fail;
    }
    /* the first batch: read ahead while the last shard ended (carry_start), or now */
    const int carried = carry_take(e, first, count, xn, yn, &skipped_before, err, errlen);
    if (carried < 0) goto fail;
    if (!carried) skipped_before = ds_skipped(&e->ds);
    if (!carried && count > 0) wk_prefetch_start(&pf, &e->ds, first, count < bmax ? count : bmax, xn, yn);
    for (long b0 = first; b0 < first + count; b0 += bmax) {
        long b = first + count - b0 < bmax ? first + count - b0 : bmax;
        /* Before any artefact is written (they follow the last batch). */
        if (e->abandon && e->abandon()) {
            snprintf(err, errlen, "shard of images %ld..%ld abandoned", first, first + count - 1);
            rc = WK_ABANDONED;
            goto fail;
        }
        if (wk_prefetch_wait(&pf, err, errlen)) goto fail;
        for (long k = skipped_before; k < ds_skipped(&e->ds); k++) {
            const char *name = ds_skipped_name(&e->ds, k);
            size_t n = strlen(name ? name : "?");
            char *grown = realloc(skipped, skipped_len + n + 2);
            if (!grown) {
                snprintf(err, errlen, "out of memory listing skipped images");
                goto fail;
            }
            skipped = grown;
            memcpy(skipped + skipped_len, name ? name : "?", n);
            skipped_len += n;
            skipped[skipped_len++] = '\n';
            skipped[skipped_len] = '\0';
        }
        skipped_before = ds_skipped(&e->ds);
        float *tx = x; /* the read batch becomes the current one */
        int64_t *ty = y;
        x = xn, y = yn, xn = tx, yn = ty;
        long nb0 = b0 + bmax;
        if (nb0 < first + count)
            wk_prefetch_start(&pf, &e->ds, nb0, first + count - nb0 < bmax ? first + count - nb0 : bmax, xn, yn);
        else carry_start(e, batch_bytes);
        /* dataset.on_error: skip hands back label -1 for an unreadable
         * image: leave it out of the batch, so it reaches neither the model
         * nor the accuracies (its attribution map, if written, stays 0). */
        long kept = 0;
        for (long i = 0; i < b; i++) {
            if (y[i] < 0) continue;
            if (kept != i) memcpy(x + kept * d, x + i * d, (size_t)d * sizeof *x);
            y[kept] = y[i];
            ids[kept++] = b0 + i;
        }
        if (kept == 0) continue;
        b = kept;
        /* Labels checked here, once a batch, before they go up: the shim
         * then need not read them back after every pass (the open checked
         * the data set's classes against the model's; this holds a reader
         * to it), and a target made from them (label, the prediction, a
         * class checked at open) is in range too. */
        for (long i = 0; i < b; i++)
            if (y[i] >= e->classes) {
                snprintf(
                    err, errlen,
                    "%s: image %lld has label %lld, outside the model's %d classes (%s; check dataset and model match)",
                    job->dataset_path, (long long)ids[i], (long long)y[i], e->classes, job->model_path);
                goto fail;
            }
        ts_tensor *xt, *yt, *lg, *orig_t;
        int64_t shape[4] = {b, e->ds.c, e->ds.h, e->ds.w}, s_b[1] = {b};
        int64_t correct = 0;
        int finite = 1;
        WK_T(&pool, ts_from_f32(x, shape, 4, e->device, &xt), xt);
        WK_T(&pool, ts_from_i64(y, s_b, 1, e->device, &yt), yt);
        WK_T(&pool, ts_module_forward(e->model, xt, &lg), lg);
        WK_CHECK(ts_all_finite(lg, &finite));
        if (!finite) { /* the logits come back only to name the images */
            WK_CHECK(ts_to_f32(lg, clean, (size_t)(b * e->classes)));
            if (nonfinite_rows(e, "logits", clean, b, e->classes, ids, NULL, err, errlen)) goto fail;
        }
        WK_T(&pool, ts_label_logits(lg, yt, &orig_t, &correct), orig_t); /* the accuracy: against the label */
        record[REC_CORRECT] += (double)correct;
        record[REC_IMAGES] += (double)b;
        /* images.csv's columns: one host copy of the batch's logits (classes
         * floats an image, beside the attribution's passes) */
        if (finite) WK_CHECK(ts_to_f32(lg, clean, (size_t)(b * e->classes)));
        for (long i = 0; i < b; i++) {
            const int64_t t = target_of(job, y[i], clean + i * e->classes, e->classes);
            double *row = wk_pi_row(e, record, ids[i]);
            if (row) image_row(row, ids[i], y[i], t, clean + i * e->classes, e->classes);
            y[i] = t; /* from here on every method and metric explains the target */
        }
        if (job->target != JOB_TARGET_LABEL) {
            int64_t ignored;
            WK_T(&pool, ts_from_i64(y, s_b, 1, e->device, &yt), yt);
            WK_T(&pool, ts_label_logits(lg, yt, &orig_t, &ignored), orig_t);
        }
        WK_CHECK(ts_to_f32(orig_t, orig, (size_t)b)); /* f(x)[target]: 4 bytes an image, for the host metrics */

        struct wk_batch bt = {xt, x, y, yt, ids, b, e->ds.c, e->ds.h, e->ds.w, lg};
        int on_host[REC_MAX_SLOTS] = {0}; /* slot s's maps are in attr[s] already (a host-computed method) */
        for (int s = 0; s < e->n_slots;) {
            const struct job_method *m = &job->methods[e->slots[s].method];
            /* All slots of one method come from one call: the estimators
             * share the gradients. */
            int s_end = s;
            ts_tensor *out[JOB_EST_COUNT] = {0};
            while (s_end < e->n_slots && e->slots[s_end].method == e->slots[s].method) s_end++;
            float *keep[JOB_EST_COUNT] = {0}; /* a host method's maps straight into the slots' host buffers */
            for (int t = s; t < s_end; t++) keep[e->slots[t].estimator] = attr[t];
            int maps_kept = 0;
            if (wk_method_run_dev_keep(&e->mctx, m, &bt, out, keep, &maps_kept, err, errlen)) {
                /* name the method and images: the shim's message cannot */
                char why[1024];
                snprintf(why, sizeof why, "%s", err);
                snprintf(err, errlen, "%s: %s on images %ld..%ld: %s", job->model_path, job_method_name(m->kind),
                         (long)ids[0], (long)ids[b - 1], why);
                goto fail;
            }
            for (int t = s; t < s_end; t++) {
                attr_t[t] = out[e->slots[t].estimator];
                out[e->slots[t].estimator] = NULL;
                on_host[t] = maps_kept;
            }
            for (int k = 0; k < JOB_EST_COUNT; k++) ts_tensor_free(out[k]); /* none expected */
            for (int t = s; t < s_end; t++) {
                if (!attr_t[t]) {
                    snprintf(err, errlen, "internal: %s gave no map for slot %d", job_method_name(m->kind), t);
                    goto fail;
                }
            }
            s = s_end;
        }
        /* Every slot's maps finite: one read for all of them (a sync each
         * was n_slots a batch); the first slot that is not is named, with
         * its method and images, as before. */
        int bad = -1;
        if (e->n_slots > 0) WK_CHECK(ts_all_finite_each((const ts_tensor *const *)attr_t, e->n_slots, &bad));
        if (bad >= 0) {
            if (!on_host[bad]) WK_CHECK(ts_to_f32(attr_t[bad], attr[bad], (size_t)(b * d)));
            if (nonfinite_rows(e, "attributions", attr[bad], b, d, ids, &job->methods[e->slots[bad].method], err,
                               errlen))
                goto fail;
        }
        /* The maps come to the host only for what reads them there: saved
         * maps, rank maps and figures, DiffID's host path, faithfulness
         * correlation and estimate on the images they cover. */
        const int dev_diffid = wk_diffid_copies_on_device(e->device);
        int in_fig = 0;
        for (long i = 0; i < b; i++) in_fig |= ids[i] - first < n_ex;
        if (maps || ranks || in_fig || (job->diffid && !dev_diffid) || wk_metrics_read_maps(job, e->ds.n, ids, b))
            for (int s = 0; s < e->n_slots; s++)
                if (!on_host[s]) WK_CHECK(ts_to_f32(attr_t[s], attr[s], (size_t)(b * d)));
        if (maps)
            for (long i = 0; i < b; i++)
                for (int s = 0; s < e->n_slots; s++)
                    memcpy(maps + ((ids[i] - first) * e->n_slots + s) * d, attr[s] + i * d, (size_t)d * sizeof *maps);
        if (ranks)
            for (long i = 0; i < b; i++)
                for (int s = 0; s < e->n_slots; s++)
                    roar_rank_map(attr[s] + i * d, e->ds.c, hw, ranks + ((ids[i] - first) * e->n_slots + s) * hw,
                                  rk_order, rk_sal);
        for (long i = 0; i < b; i++) {
            const long row = wk_examples_row(e->ex_ids, e->n_ex_ids, first, count, (long)ids[i]);
            if (row < 0) continue;
            float *dst = ex + row * (1 + e->n_slots) * d;
            for (long k = 0; k < d; k++) dst[k] = x[i * d + k] * e->ds.std[k / hw] + e->ds.mean[k / hw];
            for (int s = 0; s < e->n_slots; s++) memcpy(dst + (1 + s) * d, attr[s] + i * d, (size_t)d * sizeof *dst);
        }
        if (job->diffid)
            for (int s = 0; s < e->n_slots; s++) {
                int drc = dev_diffid
                              ? wk_diffid_batch_dev(e->model, e->classes, e->ds.c, e->ds.h, e->ds.w, e->chunk_samples,
                                                    job->diffid_ratios, job->n_diffid_ratios, xt, attr_t[s], yt, orig_t,
                                                    b, &acc[s], pi_diffid, err, errlen)
                              : wk_diffid_batch(e->model, e->device, e->classes, e->ds.c, e->ds.h, e->ds.w,
                                                e->chunk_samples, job->diffid_ratios, job->n_diffid_ratios, x, xt,
                                                attr[s], y, orig, b, &acc[s], pi_diffid, err, errlen);
                if (drc) goto fail;
                for (long i = 0; pi_diffid && i < b; i++) {
                    double *row = wk_pi_row(e, record, ids[i]);
                    rec_pi_put(&e->layout, row, s, REC_PI_DIFF_ACC, pi_diffid[2 * i]);
                    rec_pi_put(&e->layout, row, s, REC_PI_DIFF_LOGIT, pi_diffid[2 * i + 1]);
                }
            }
        const struct wk_metric_ctx mc = metric_ctx(e);
        if (wk_perturb_metrics(&mc, &bt, orig, attr, attr_t, record, err, errlen) ||
            wk_stability_metrics(&mc, &bt, attr_t, record, err, errlen))
            goto fail;
        wk_pool_free(&pool);
        for (int s = 0; s < e->n_slots; s++) {
            ts_tensor_free(attr_t[s]);
            attr_t[s] = NULL;
        }
    }
    if (maps) {
        char path[1200];
        int64_t shape[5] = {count, e->n_slots, e->ds.c, e->ds.h, e->ds.w};
        snprintf(path, sizeof path, "%s/attributions", e->run_dir);
        if (fs_mkdir_own(path, err, errlen)) goto fail;
        wk_shard_file(path, sizeof path, e->run_dir, "attributions", first, count, ".npy");
        if (npy_write(path, NPY_F32, 5, shape, maps, err, errlen)) goto fail;
    }
    if (skipped) {
        char path[1200];
        snprintf(path, sizeof path, "%s/skipped", e->run_dir);
        if (fs_mkdir_own(path, err, errlen)) goto fail;
        wk_shard_file(path, sizeof path, e->run_dir, "skipped", first, count, ".txt");
        if (fs_write_atomic(path, skipped, skipped_len, err, errlen)) goto fail;
    }
    if (ranks) {
        char path[1200];
        int64_t shape[4] = {count, e->n_slots, e->ds.h, e->ds.w};
        snprintf(path, sizeof path, "%s/masks", e->run_dir);
        if (fs_mkdir_own(path, err, errlen)) goto fail;
        wk_shard_file(path, sizeof path, e->run_dir, "masks", first, count, ".npy");
        if (npy_write(path, NPY_U16, 4, shape, ranks, err, errlen)) goto fail;
    }
    if (n_ex) {
        int64_t shape[5] = {n_ex, 1 + e->n_slots, e->ds.c, e->ds.h, e->ds.w};
        if (wk_examples_write(e->run_dir, first, count, e->ex_ids, e->n_ex_ids, shape, ex, err, errlen)) goto fail;
    }
    for (int s = 0; s < e->n_slots && job->diffid; s++) {
        double *r = record + rec_slot_base(&e->layout, s) + e->layout.diffid;
        memcpy(r, acc[s].del_correct, (size_t)nr * sizeof *r);
        memcpy(r + nr, acc[s].ins_correct, (size_t)nr * sizeof *r);
        memcpy(r + 2 * nr, acc[s].del_logit, (size_t)nr * sizeof *r);
        memcpy(r + 3 * nr, acc[s].ins_logit, (size_t)nr * sizeof *r);
    }
    ts_ledger_read(&led1);
    record[REC_H2D] = (double)(led1.h2d_bytes - led0.h2d_bytes);
    record[REC_D2H] = (double)(led1.d2h_bytes - led0.d2h_bytes);
    record[REC_FWD] = (double)(led1.fwd_samples - led0.fwd_samples);
    record[REC_BWD] = (double)(led1.bwd_samples - led0.bwd_samples);
    record[REC_SYNCS] = (double)(led1.syncs - led0.syncs);
    record[REC_D2H_SYNCS] = (double)(led1.d2h_syncs - led0.d2h_syncs);
    rc = 0;
fail:
    /* a method that gave up between chunks (WK_STOP_MSG) abandons the shard */
    if (rc < 0 && e->abandon && e->abandon()) {
        snprintf(err, errlen, "shard of images %ld..%ld abandoned", first, first + count - 1);
        rc = WK_ABANDONED;
    }
    /* a read still running writes into xn/yn: let it finish first */
    if (pf.running) {
        char ignored[8];
        wk_prefetch_wait(&pf, ignored, sizeof ignored);
    }
    for (int s = 0; s < e->n_slots; s++) ts_tensor_free(attr_t[s]);
    wk_pool_free(&pool);
    wk_xfer_free(x, x_owner);
    wk_xfer_free(xn, xn_owner);
    free(y);
    free(yn);
    free(ids);
    free(clean);
    free(orig);
    free(acc);
    free(pi_diffid);
    free(maps);
    free(ex);
    free(skipped);
    free(ranks);
    free(rk_order);
    free(rk_sal);
    for (int s = 0; s < e->n_slots; s++) wk_xfer_free(attr[s], attr_owner[s]);
    return rc;
}
