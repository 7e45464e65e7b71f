/* worker/engine.h — one rank's evaluation engine: owns the model, the
 * dataset reader and the device; turns a shard (a range of image ids) into a
 * fixed-size result record of sums and counts. */
#ifndef RECAL_ENGINE_H
#define RECAL_ENGINE_H
#include <stddef.h>

#include "dataset.h"
#include "job.h"
#include "methods.h"
#include "torch_shim.h"

/* One row of results: a method with one estimator (random has one). */
struct wk_slot {
    int method;     /* index into job->methods */
    int estimator;  /* enum job_estimator */
};

#define WK_MAX_SLOTS (JOB_MAX_METHODS * JOB_EST_COUNT)

/* Record layout (doubles): [0] images, [1] clean correct, then one block
 * per slot of the metrics the job asks for, at the offsets of struct
 * wk_layout. Everything is a sum over images (so shards and ranks reduce
 * by adding), except the `max` fields of Lipschitz and max-sensitivity,
 * which wk_record_fold reduces by max.
 *   diffid: 4·n_ratios: deletion correct, insertion correct, deletion
 *           logit ratio, insertion logit ratio (each n_ratios long)
 *   sensn:  WK_SN_FIELDS per ratio (WK_SN_*)
 *   lips, maxs: WK_ST_FIELDS (WK_ST_*)
 *   infid:  WK_IF_FIELDS (WK_IF_*)
 *   faith:  WK_FA_FIELDS (WK_FA_*)
 *   fcorr, fest: WK_FQ_FIELDS (WK_FQ_*) */
#define WK_REC_IMAGES 0
#define WK_REC_CORRECT 1
/* The shim's ledger over the shard (struct ts_ledger): bytes host → device
 * and back, samples forward and backward through the model. */
#define WK_REC_H2D 2
#define WK_REC_D2H 3
#define WK_REC_FWD 4
#define WK_REC_BWD 5
#define WK_REC_HEADER 6
enum { WK_SN_CORR_SUM, WK_SN_CORR_N, WK_SN_PAIRS, WK_SN_SX, WK_SN_SY, WK_SN_SXY, WK_SN_SXX, WK_SN_SYY, WK_SN_FIELDS };
enum { WK_ST_SUM, WK_ST_N, WK_ST_MAX, WK_ST_FIELDS };
enum { WK_IF_SUM, WK_IF_N, WK_IF_FIELDS };
enum { WK_FA_PEARSON, WK_FA_PEARSON_N, WK_FA_SPEARMAN, WK_FA_SPEARMAN_N, WK_FA_INV, WK_FA_INV_N, WK_FA_FIELDS };
enum { WK_FQ_SUM, WK_FQ_N, WK_FQ_FIELDS }; /* faithfulness_correlation / _estimate: per-image Pearson */
struct wk_layout {
    size_t diffid, sensn, lips, maxs, infid, faith, fcorr, fest; /* offsets inside a slot block */
    size_t per_slot;                                /* doubles per slot */
    size_t len;                                     /* doubles per record */
};
void wk_layout_of(const struct job *job, int n_slots, struct wk_layout *l);
/* Offset of slot s's block in a record. */
static inline size_t wk_slot_base(const struct wk_layout *l, int s) { return WK_REC_HEADER + (size_t)s * l->per_slot; }
/* total ⊕= rec: sums, and max for the WK_ST_MAX fields. */
void wk_record_fold(const struct job *job, int n_slots, double *total, const double *rec);

struct wk_engine {
    const struct job *job;
    struct ds_dataset ds;
    struct ds_dataset ref_ds;   /* train split, when a method needs reference images (EG) */
    ts_module *model;
    int device;
    int classes;
    long chunk_samples;
    int n_slots;
    struct wk_slot slots[WK_MAX_SLOTS];
    struct wk_method_ctx mctx;
    struct wk_layout layout;
    char run_dir[1024];         /* where shard artefacts go (outputs.attributions) */
    int dry;                    /* 1: compute, write no artefacts (recal run's shard-size probe) */
    int (*abandon)(void);       /* non-zero between batches: give the shard up (NULL: never) */
};

/* wk_engine_run's result when e->abandon asked to give the shard up: no
 * record, no artefact; the shard is computed again on resume. */
enum { WK_ABANDONED = 1 };

size_t wk_record_len(const struct wk_engine *e);

/* Plan the result slots of a job without opening anything (rank 0 needs
 * them to label the report). */
int wk_plan_slots(const struct job *job, struct wk_slot *slots);

/* Samples per forward+backward for inputs of c×h×w under a memory budget. */
long wk_chunk_samples(int device, int c, int h, int w, long memory_budget_mb);

int wk_engine_open(struct wk_engine *e, const struct job *job, char *err, size_t errlen);

/* The job's `device` (ts_device_parse) with its `precision` applied: TF32
 * only when the job asks for it on CUDA; bf16 autocast on either device. TS_OK or the shim's status (see
 * ts_last_error()). For run, train and roar alike. */
int wk_job_device(const struct job *job, int *device);
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
void wk_shard_file(char *buf, size_t n, const char *run_dir, const char *dir, long first, long count,
                   const char *ext);
/* Use n samples per forward+backward (every rank must use the same n, or
 * float summation order differs between rank counts). */
void wk_engine_set_chunk(struct wk_engine *e, long n);
void wk_engine_close(struct wk_engine *e);
#endif
