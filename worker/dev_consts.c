/* worker/dev_consts.c — see dev_consts.h. */
#include "dev_consts.h"

#include <stdlib.h>
#include <string.h>

static int lookup(struct wk_consts *c, const void *v, size_t bytes, int is_i64, int64_t n, int device,
                  struct wk_pool *pool, ts_tensor **out) {
    for (int k = 0; c && k < c->n; k++) {
        const struct wk_const *e = &c->e[k];
        if (e->device == device && e->is_i64 == is_i64 && e->bytes == bytes && !memcmp(e->data, v, bytes)) {
            *out = e->t;
            return TS_OK;
        }
    }
    ts_tensor *t = NULL;
    int64_t shape[1] = {n};
    int rc = is_i64 ? ts_from_i64(v, shape, 1, device, &t) : ts_from_f32(v, shape, 1, device, &t);
    if (rc != TS_OK) return rc;
    void *copy = c && c->n < WK_CONSTS_MAX ? malloc(bytes ? bytes : 1) : NULL;
    if (copy) { /* kept: later calls with these values get this tensor */
        memcpy(copy, v, bytes);
        c->e[c->n++] = (struct wk_const){device, is_i64, bytes, copy, t};
    } else if (!wk_pool_add(pool, t)) { /* no cache (or a full one): the caller's scope owns it */
        return TS_EINVAL;
    }
    *out = t;
    return TS_OK;
}

int wk_const_f32(struct wk_consts *c, const float *v, int64_t n, int device, struct wk_pool *pool, ts_tensor **out) {
    return lookup(c, v, (size_t)n * sizeof *v, 0, n, device, pool, out);
}

int wk_const_i64(struct wk_consts *c, const int64_t *v, int64_t n, int device, struct wk_pool *pool, ts_tensor **out) {
    return lookup(c, v, (size_t)n * sizeof *v, 1, n, device, pool, out);
}

void wk_consts_free(struct wk_consts *c) {
    for (int k = 0; k < c->n; k++) {
        ts_tensor_free(c->e[k].t);
        free(c->e[k].data);
    }
    c->n = 0;
}

/* The two channel vectors of a (on a's device), then op on them. */
static int channels(struct wk_consts *c, const ts_tensor *a, const float *u, const float *v, int ch, int affine,
                    ts_tensor **out) {
    struct wk_pool pool = {0};
    ts_tensor *tu, *tv;
    const int device = ts_device_of(a);
    int rc = wk_const_f32(c, u, ch, device, &pool, &tu);
    if (rc == TS_OK) rc = wk_const_f32(c, v, ch, device, &pool, &tv);
    if (rc == TS_OK) rc = affine ? ts_affine_channels_t(a, tu, tv, out) : ts_normalize_channels_t(a, tu, tv, out);
    wk_pool_free(&pool);
    return rc;
}

int wk_normalize_channels(struct wk_consts *c, const ts_tensor *a, const float *mean, const float *std, int ch,
                          ts_tensor **out) {
    return channels(c, a, mean, std, ch, 0, out);
}

int wk_affine_channels(struct wk_consts *c, const ts_tensor *a, const float *scale, const float *shift, int ch,
                       ts_tensor **out) {
    return channels(c, a, scale, shift, ch, 1, out);
}
