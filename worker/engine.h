/* worker/engine.h — one rank's evaluation engine: owns the model, the
 * dataset reader and the device; turns a shard (a range of image ids) into a
 * fixed-size result record of sums and counts. */
#ifndef RECAL_ENGINE_H
#define RECAL_ENGINE_H
#include <stddef.h>

#include "dataset.h"
#include "dev_consts.h"
#include "job.h"
#include "methods.h"
#include "prefetch.h"
#include "record.h"
#include "torch_shim.h"

struct wk_engine {
    const struct job *job;
    struct ds_dataset ds;
    struct ds_dataset ref_ds; /* train split, when a method needs reference images (EG) */
    ts_module *model;
    int device;
    int classes;
    long chunk_samples;
    int n_slots;
    struct rec_slot slots[REC_MAX_SLOTS];
    struct wk_method_ctx mctx;
    struct wk_consts consts;                         /* mctx.consts: small tables uploaded once */
    struct wk_maps maps[JOB_MAX_METHODS];            /* the precomputed methods' files, mctx.maps */
    struct wk_base_file base_files[JOB_MAX_METHODS]; /* ig / guided_ig baseline files, mctx.base_files */
    struct rec_layout layout;
    char run_dir[1024];   /* where shard artefacts go (outputs.attributions) */
    int (*abandon)(void); /* non-zero between batches: give the shard up (NULL: never) */
    /* The look-ahead (the coordinator's coord_next_fn, NULL: none): asked
     * once a shard's last batch is read, it names the next shard, whose
     * first batch is then read into `carry` while the last one computes. */
    int (*next_shard)(void *arg, long *first, long *count);
    void *next_arg;
    struct wk_prefetch carry;
    float *carry_x; /* one batch, kept from shard to shard */
    int64_t *carry_y;
    ts_tensor *carry_owner;
    long carry_first, carry_count, carry_skipped0; /* carry_count 0: nothing read ahead */
    long n_carried;                                /* shards whose first batch came from the carry */
    long shard_first;              /* the running shard's first image id: its per-image rows start there */
    long ex_ids[JOB_MAX_EXAMPLES]; /* outputs.figures: the images whose maps the report shows, ascending */
    int n_ex_ids;
    /* wk_engine_open's start-up, in seconds (recal run logs them): the
     * split listed and opened (EG's train split included), the model
     * loaded, one image through it and the chunk chosen */
    double open_dataset_s, open_model_s, open_check_s;
};

/* The per-image row of image `id` of the running shard in record (NULL
 * when the job keeps none). */
static inline double *wk_pi_row(const struct wk_engine *e, double *record, int64_t id) {
    return rec_pi_row(&e->layout, record, (long)(id - e->shard_first));
}

/* wk_engine_run's result when e->abandon asked to give the shard up: no
 * record, no artefact; the shard is computed again on resume. */
enum { WK_ABANDONED = 1 };

size_t wk_record_len(const struct wk_engine *e);

/* Samples per forward+backward for inputs of c×h×w under a memory budget. */
long wk_chunk_samples(int device, int c, int h, int w, long memory_budget_mb);

int wk_engine_open(struct wk_engine *e, const struct job *job, char *err, size_t errlen);

/* The splits wk_engine_open lists: the job's, then "train" when a method
 * draws its references from it (Expected Gradients) and the job's split is
 * another. Their count (1 or 2), names into split. */
int wk_engine_splits(const struct job *job, const char *split[2]);

/* wk_engine_open with the splits' listings made elsewhere (ds_list; recal
 * run lists on rank 0 and sends them to every rank): list[k] for split k of
 * wk_engine_splits; list NULL, or a NULL entry, lists the directories here. */
int wk_engine_open_listed(struct wk_engine *e, const struct job *job, const struct ds_listing *const list[2], char *err,
                          size_t errlen);

/* The job's `device` (ts_device_parse) with its `precision` applied: TF32
 * only when the job asks for it on CUDA; bf16 autocast on either device. TS_OK or the shim's status (see
 * ts_last_error()). For run, train and roar alike. */
int wk_job_device(const struct job *job, int *device);
/* What a model that runs but gives no input gradient did wrong, from
 * libtorch's message (output independent of x, x modified in place), or
 * NULL when the message is another one. */
const char *wk_grad_hint(const char *torch_msg);
/* One image (x: c×h×w floats, on the host) through the model: its class
 * count. TS_OK or the shim's status (see ts_last_error()). */
int wk_model_classes(ts_module *m, int device, const float *x, int c, int h, int w, int *classes);
/* Apply a `precision` (job_precision_known) on `device`: TF32 only on CUDA,
 * bf16 autocast on either, fp32 otherwise. TS_OK or the shim's status. */
int wk_set_precision(const char *precision, int device);

/* Evaluate images [first, first+count); record must hold wk_record_len()
 * doubles and is overwritten. 0, -1 with a message, or WK_ABANDONED. With outputs.attributions, the shard's maps
 * are first written to RUN_DIR/attributions/shard-<first>-<last>.npy
 * (float32, count × slots × C × H × W, temp + fsync + rename), so a shard
 * in the journal always has its file. */
int wk_engine_run(struct wk_engine *e, long first, long count, double *record, char *err, size_t errlen);

/* The file a shard of images first..first+count-1 writes under RUN_DIR/DIR
 * (attributions, masks: ".npy"; skipped: ".txt"): the one name the engine
 * writes and a resume checks. */
void wk_shard_file(char *buf, size_t n, const char *run_dir, const char *dir, long first, long count, const char *ext);
/* The job's shard_images changed (recal run's shard size): the record's
 * per-image rows follow it. */
void wk_engine_relayout(struct wk_engine *e);
/* Use n samples per forward+backward (every rank must use the same n, or
 * float summation order differs between rank counts). */
void wk_engine_set_chunk(struct wk_engine *e, long n);
/* Where the shards' artefacts go (RUN_DIR, or RUN_DIR/train for Diff-ROAR's
 * train maps) and what may give a shard up between batches (NULL: never). */
void wk_engine_set_output(struct wk_engine *e, const char *run_dir, int (*abandon)(void));
/* The coordinator's look-ahead for the shards to come (NULL: none). */
void wk_engine_bind_next(struct wk_engine *e, int (*next)(void *arg, long *first, long *count), void *arg);
void wk_engine_close(struct wk_engine *e);
#endif
