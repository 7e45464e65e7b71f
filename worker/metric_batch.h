/* worker/metric_batch.h — the metrics beyond DiffID (docs/metrics.md (sensitivity-n; robustness and faithfulness)) over
 * one batch of explained images, adding per-image scores into the shard's
 * record at the engine's layout. A metric with `images: N` scores only the
 * N ids job_subset_has picks, spread over the split (so every shard gets
 * its share of a costly metric); the other images are skipped.
 *
 * perturb: sensitivity-n, faithfulness, infidelity. Their perturbed copies
 *   depend only on the image, so one set of forwards serves every method.
 * stability: local Lipschitz and max-sensitivity. They re-run each method on
 *   perturbed copies; every copy draws its own method randomness (a pseudo
 *   image id per copy), as Captum's sensitivity_max re-runs the explainer —
 *   so the random-attribution control is not trivially stable — but a fixed
 *   baseline (ig's `uniform` draw, a file's row) stays its image's
 *   (wk_copy_origin). */
#ifndef RECAL_METRIC_BATCH_H
#define RECAL_METRIC_BATCH_H
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "job.h"
#include "methods.h"
#include "record.h"
#include "torch_shim.h"

/* What a metric batch reads of the engine that runs it (the engine fills
 * one per batch; the metrics include nothing of the engine's own): the
 * job and its record layout, the model and device, the data set (its shape,
 * count and boxes), the methods' context for their re-runs, and the
 * running shard's first id (its per-image rows start there). */
struct wk_metric_ctx {
    const struct job *job;
    const struct ds_dataset *ds;
    const struct rec_layout *layout;
    const struct rec_slot *slots;
    int n_slots;
    ts_module *model;
    int device;
    long chunk_samples;
    struct wk_method_ctx *mctx;
    long shard_first;
};

/* The per-image row of image `id` of the running shard in record (NULL
 * when the job keeps none). */
static inline double *wk_metric_pi_row(const struct wk_metric_ctx *e, double *record, int64_t id) {
    return rec_pi_row(e->layout, record, (long)(id - e->shard_first));
}

/* orig[i] = f(x_i)[label_i] of the clean images; attr_t[s] holds slot s's
 * attributions on the device (B×D), and attr[s] on the host (B·D; read
 * only by faithfulness correlation and estimate: the engine copies the maps
 * when wk_metrics_read_maps says so). bt->y must be set. */
int wk_perturb_metrics(const struct wk_metric_ctx *e, const struct wk_batch *bt, const float *orig, float *const *attr,
                       ts_tensor *const *attr_t, double *record, char *err, size_t errlen);
int wk_stability_metrics(const struct wk_metric_ctx *e, const struct wk_batch *bt, ts_tensor *const *attr_t,
                         double *record, char *err, size_t errlen);

/* 1 when a metric whose image bound is `bound` (0: all) over a split of
 * `total` images covers one of the b images (ids). */
int wk_metric_covers(long bound, long total, const int64_t *ids, long b);
/* 1 when a metric that reads host maps (faithfulness correlation and
 * estimate) covers one of the b images: the engine then brings the
 * batch's maps to the host. */
int wk_metrics_read_maps(const struct job *job, long total, const int64_t *ids, long b);

/* Image id of perturbed copy j of image id: negative, so it never meets a
 * real image's seeds, and unique per (id, j) for j < 2^20. */
static inline long long wk_copy_id(long long id, long j) {
    return -1 - (id * 1048576 + j);
}
/* The image id copy id came from (a real image's id is its own): a fixed
 * baseline's draw and file row follow the image, as a baseline tensor
 * handed to Captum's sensitivity_max stays the same for every copy. */
static inline long long wk_copy_origin(long long id) {
    return id >= 0 ? id : (-1 - id) / 1048576;
}
#endif
