/* worker/engine_buffers.h — a shard's host buffers (wk_engine_run): every
 * one sized from the job and the shard, allocated together before the first
 * batch and freed together after the last, so that the batch loop allocates
 * nothing (only the skipped-file list grows, with the files a reader
 * skipped). */
#ifndef RECAL_ENGINE_BUFFERS_H
#define RECAL_ENGINE_BUFFERS_H
#include <stddef.h>
#include <stdint.h>

#include "diffid.h"
#include "engine.h"
#include "torch_shim.h"

struct wk_shard_bufs {
    /* two batch buffers: one computes while the next is read (prefetch.h);
     * the images (uploaded by every method, DiffID and the clean forward)
     * page-locked on CUDA, *_owner holding that memory */
    float *x, *xn;
    ts_tensor *x_owner, *xn_owner;
    int64_t *y, *yn; /* labels, then (from the forward on) the explained targets */
    int64_t *ids;    /* the batch's image ids, after unread images are dropped */
    float *clean;    /* the batch's logits on the host, classes an image */
    float *orig;     /* f(x)[target] an image, for the host metrics */
    /* slot s's maps on the host (downloaded per batch when read there;
     * page-locked on CUDA) */
    float *attr[REC_MAX_SLOTS];
    ts_tensor *attr_owner[REC_MAX_SLOTS];
    struct diffid_acc *acc; /* DiffID's sums, one per slot */
    double *pi_diffid;      /* the batch's per-image DiffID, 2 an image (per-image rows only) */
    /* outputs.attributions: count × slots × D, image-major, as numpy users
     * index it (calloc: an image skipped under on_error: skip keeps zeros) */
    float *maps;
    /* outputs.figures: the example images of this shard (wk_examples_plan)
     * and their maps, n_ex × (1 + slots) × D, for the report's heatmap grid */
    long n_ex;
    float *ex;
    /* outputs.masks: ROAR rank maps, count × slots × H × W uint16, and the
     * ranking's scratch (H·W each) */
    long hw;
    uint16_t *ranks;
    long *rk_order;
    float *rk_sal;
    /* dataset.on_error: skip — the files this shard skipped, one per line,
     * kept in RUN_DIR/skipped/ so that metrics.json can list them all */
    char *skipped;
    size_t skipped_len;
    int n_slots;
};

/* Every buffer of a shard of `count` images from `first` for engine e. 0, or
 * -1 with "out of host memory ..." (what was allocated is freed by
 * wk_shard_bufs_free, which must be called either way). */
int wk_shard_bufs_alloc(struct wk_shard_bufs *sb, const struct wk_engine *e, long first, long count, char *err,
                        size_t errlen);
void wk_shard_bufs_free(struct wk_shard_bufs *sb);
#endif
