/* worker/methods/methods.h — attribution methods over a batch of images.
 * Inputs are device tensors; outputs are host float buffers (B×C×H×W per
 * estimator) because the metrics that follow read them on the host. */
#ifndef RECAL_METHODS_H
#define RECAL_METHODS_H
#include <stddef.h>
#include <stdint.h>

#include "job.h"
#include "torch_shim.h"

struct wk_batch {
    const ts_tensor *x;      /* B×C×H×W normalized, on device */
    const int64_t *labels;   /* B explained classes (host) */
    const int64_t *ids;      /* B image ids (host): seeds come from these */
    long b;                  /* images */
    int c, h, w;
};

struct wk_method_ctx {
    ts_module *model;
    int device;
    uint64_t seed;
    long chunk_samples;      /* max samples per forward+backward */
    float norm_scale[3], norm_shift[3]; /* normalize(u) = u*scale + shift per channel */
    /* Explicit references (recal attribute --references): R×D shared by all
     * images, or N×R×D indexed by batch position; NULL = the method's sampler. */
    const float *references;
    int references_per_image;
};

/* ig_uniform (and the other path methods later): fills out[e] (B·C·H·W floats)
 * for every estimator e set in m->estimators; out[e] for unset e is ignored. */
int wk_ig_uniform(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  float *out[JOB_EST_COUNT], char *err, size_t errlen);

/* The random-attribution control: U[0,1) per element, seeded per image. */
int wk_random_attr(const struct wk_method_ctx *ctx, const struct wk_batch *bt, float *out, char *err,
                   size_t errlen);
#endif
