/* worker/dev_consts.h — small host tables that do not change between
 * batches (the channel vectors of the normalization and the metrics' noise,
 * a path's step tables) kept on the device for an engine's life: each
 * upload is a copy and a sync (PyTorch's blocking copy waits for the
 * device's queue), per chunk or group otherwise. Looked up by content, so
 * a caller hands over the host values as before and gets the same tensor
 * back. NULL cache: every call uploads anew into `pool` (recal attribute's
 * one batch). One thread at a time (the engine's). */
#ifndef RECAL_DEV_CONSTS_H
#define RECAL_DEV_CONSTS_H
#include <stddef.h>
#include <stdint.h>

#include "wk_pool.h"

#define WK_CONSTS_MAX 32

struct wk_const {
    int device, is_i64;
    size_t bytes;
    void *data; /* the host values it was made from */
    ts_tensor *t;
};

struct wk_consts {
    struct wk_const e[WK_CONSTS_MAX];
    int n;
};

/* *out: a 1-D tensor of n values on `device`, borrowed (the cache's, or
 * one in `pool` when the cache is NULL or full). TS_OK or the shim's code
 * (ts_last_error). */
int wk_const_f32(struct wk_consts *c, const float *v, int64_t n, int device, struct wk_pool *pool, ts_tensor **out);
int wk_const_i64(struct wk_consts *c, const int64_t *v, int64_t n, int device, struct wk_pool *pool, ts_tensor **out);
void wk_consts_free(struct wk_consts *c);

/* ts_normalize_channels / ts_affine_channels with their channel vectors
 * from the cache: a new handle in *out, as those. */
int wk_normalize_channels(struct wk_consts *c, const ts_tensor *a, const float *mean, const float *std, int ch,
                          ts_tensor **out);
int wk_affine_channels(struct wk_consts *c, const ts_tensor *a, const float *scale, const float *shift, int ch,
                       ts_tensor **out);
#endif
