/* worker/engine.c — see engine.h. */
#include "clock.h"
#include "cores.h"
#include "engine.h"
#include "log.h"

#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk_tune.h"
#include "dev_consts.h"
#include "examples.h"
#include "methods.h"
#include "metric_batch.h"
#include "ds_job.h"
#include "fsutil.h"
#include "prefetch.h"
#include "xfer_buf.h"

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

/* What the methods read of the engine (e->mctx): the model, device, seed,
 * chunk and normalization, and the files some methods read, each opened
 * once and checked against the split here, before any shard. 0 or -1. */
static int open_method_ctx(struct wk_engine *e, const struct job *job, char *err, size_t errlen) {
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
                return -1;
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
            return -1;
        }
        e->mctx.n_base_files++;
    }
    e->mctx.base_files = e->base_files;
    return 0;
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
    if (open_method_ctx(e, job, err, errlen)) goto fail;
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
