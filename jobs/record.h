/* jobs/record.h — the record contract between the workers and the
 * coordinator: a shard's result is a fixed-size row of doubles whose layout
 * follows from the job alone; the workers fill it (worker/engine_run.c), the
 * coordinator folds rows in shard order and reports them
 * (coordinator/coord_report.c). Neither side needs the other's headers. */
#ifndef RECAL_RECORD_H
#define RECAL_RECORD_H
#include <stddef.h>

#include "job.h"

/* One row of results: a method with one estimator (random has one). */
struct rec_slot {
    int method;    /* index into job->methods */
    int estimator; /* enum job_estimator */
};

#define REC_MAX_SLOTS (JOB_MAX_METHODS * JOB_EST_COUNT)

/* Record layout (doubles): the header (REC_IMAGES … REC_BWD: images, clean
 * correct, the ledger), then one block per slot of the metrics the job asks
 * for, at the offsets of struct rec_layout. Everything is a sum over images (so shards and ranks reduce
 * by adding), except the `max` fields of Lipschitz and max-sensitivity,
 * which rec_fold reduces by max.
 *   diffid: 4·n_ratios: deletion correct, insertion correct, deletion
 *           logit ratio, insertion logit ratio (each n_ratios long)
 *   sensn:  REC_SN_FIELDS per ratio (REC_SN_*)
 *   lips, maxs: REC_ST_FIELDS (REC_ST_*)
 *   infid:  REC_IF_FIELDS (REC_IF_*)
 *   faith:  REC_FA_FIELDS (REC_FA_*)
 *   fcorr, fest: REC_FQ_FIELDS (REC_FQ_*)
 *   road:   2·n_ratios + 1: MoRF correct per ratio, LeRF correct per ratio,
 *           images
 *   point:  REC_PG_FIELDS (REC_PG_*) */
#define REC_IMAGES 0
#define REC_CORRECT 1
/* The shim's ledger over the shard (struct ts_ledger): bytes host → device
 * and back, samples forward and backward through the model, and the host's
 * waits for the device (every copy either way; the downloads alone). */
#define REC_H2D 2
#define REC_D2H 3
#define REC_FWD 4
#define REC_BWD 5
#define REC_SYNCS 6
#define REC_D2H_SYNCS 7
#define REC_HEADER 8
enum {
    REC_SN_CORR_SUM,
    REC_SN_CORR_N,
    REC_SN_PAIRS,
    REC_SN_SX,
    REC_SN_SY,
    REC_SN_SXY,
    REC_SN_SXX,
    REC_SN_SYY,
    REC_SN_FIELDS
};
enum { REC_ST_SUM, REC_ST_N, REC_ST_MAX, REC_ST_FIELDS };
enum { REC_IF_SUM, REC_IF_N, REC_IF_FIELDS };
enum { REC_FA_PEARSON, REC_FA_PEARSON_N, REC_FA_SPEARMAN, REC_FA_SPEARMAN_N, REC_FA_INV, REC_FA_INV_N, REC_FA_FIELDS };
enum { REC_FQ_SUM, REC_FQ_N, REC_FQ_FIELDS }; /* faithfulness_correlation / _estimate: per-image Pearson */
enum { REC_PG_HITS, REC_PG_ENERGY, REC_PG_ENERGY_N, REC_PG_N, REC_PG_FIELDS };
/* The per-image values (issue #23): one row per image position of the
 * shard, after the sums, in every record. A row is the image id (-1: no
 * image there, or one skipped under on_error: skip), its label, the
 * model's prediction, the target (job->target) and its clean logit and softmax probability
 * (RUN_DIR/images.csv), then for each slot the enabled fields in REC_PI_*
 * order. A value is NaN where it is undefined for that image (a
 * constant side of a correlation, a metric's `images:` bound). The
 * statistics (coordinator/coord_stats.c) resample these rows. */
enum { REC_IM_ID, REC_IM_LABEL, REC_IM_PRED, REC_IM_TARGET, REC_IM_LOGIT, REC_IM_PROB, REC_PI_FIXED };
enum {
    REC_PI_DIFF_ACC,   /* DiffID: mean over ratios of insertion − deletion correct (0/1) */
    REC_PI_DIFF_LOGIT, /* DiffID: the same of the logit ratios f(x̃)[y]/f(x)[y] */
    REC_PI_SENSN,      /* sensitivity-n: mean of the image's defined per-ratio correlations */
    REC_PI_LIPS,
    REC_PI_MAXS,
    REC_PI_INFID,
    REC_PI_FA_PEARSON,
    REC_PI_FA_SPEARMAN,
    REC_PI_FA_INV,
    REC_PI_FCORR,
    REC_PI_FEST,
    REC_PI_ROAD,         /* ROAD: mean over ratios of LeRF − MoRF correct (0/1) */
    REC_PI_POINT_HIT,    /* pointing game: 1 when the map's maximum is in (or near) a box */
    REC_PI_POINT_ENERGY, /* the share of Σ_c |A| inside the boxes */
    REC_PI_COUNT
};
/* The field's name in metrics.json, summary.csv, summary_long.csv and per_image/. */
const char *rec_pi_name(int field);
/* 1 when the job computes the field's metric (whether or not its per-image
 * values are kept: that is rec_layout.pi_col). */
int rec_pi_on(const struct job *job, int field);
struct rec_layout {
    size_t diffid, sensn, lips, maxs, infid, faith, fcorr, fest, road, point; /* offsets inside a slot block */
    size_t per_slot;                                                          /* doubles per slot */
    size_t sums;                                                              /* doubles of header and slot blocks */
    int pi_col[REC_PI_COUNT]; /* a field's column in a slot's per-image cells; -1 when off */
    int n_pi;                 /* per-image fields per slot; 0: only the REC_PI_FIXED columns */
    size_t pi_rows;           /* rows: job->shard_images */
    size_t pi_stride;         /* doubles per row: REC_PI_FIXED + slots · n_pi */
    size_t len;               /* doubles per record */
};
void rec_layout_of(const struct job *job, int n_slots, struct rec_layout *l);
/* Row p of a record's per-image section (NULL when the layout has none). */
static inline double *rec_pi_row(const struct rec_layout *l, double *rec, long p) {
    return l->pi_rows ? rec + l->sums + (size_t)p * l->pi_stride : NULL;
}
/* Set the cell of (row, slot, field) when the field is on. */
static inline void rec_pi_put(const struct rec_layout *l, double *row, int s, int field, double v) {
    if (row && l->pi_col[field] >= 0) row[REC_PI_FIXED + (size_t)s * l->n_pi + l->pi_col[field]] = v;
}
/* Empty rows: id -1, every value NaN (a record's per-image section before a
 * shard runs). */
void rec_pi_clear(const struct rec_layout *l, double *rec);
void rec_layout_of(const struct job *job, int n_slots, struct rec_layout *l);
/* Offset of slot s's block in a record. */
static inline size_t rec_slot_base(const struct rec_layout *l, int s) {
    return REC_HEADER + (size_t)s * l->per_slot;
}
/* total ⊕= rec: sums, and max for the REC_ST_MAX fields (the per-image
 * rows are not folded: the coordinator reads them shard by shard). */
void rec_fold(const struct job *job, int n_slots, double *total, const double *rec);

/* The result slots of a job, in report order; returns their count. */
int rec_plan_slots(const struct job *job, struct rec_slot *slots);
#endif
