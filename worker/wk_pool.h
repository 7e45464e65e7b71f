/* worker/wk_pool.h — a scope's temporary tensor handles, freed together.
 * The shim hands back a new reference from every op; composing math in C
 * would otherwise need a free() per line. A pool owns what is put into it. */
#ifndef RECAL_WK_POOL_H
#define RECAL_WK_POOL_H
#include "torch_shim.h"

#define WK_POOL_MAX 96

struct wk_pool {
    ts_tensor *t[WK_POOL_MAX];
    int n;
};

static inline ts_tensor *wk_pool_add(struct wk_pool *p, ts_tensor *t) {
    if (p->n < WK_POOL_MAX) {
        p->t[p->n++] = t;
    } else {
        ts_tensor_free(t); /* programming error: pool too small; fail loudly below */
        return NULL;
    }
    return t;
}

static inline void wk_pool_free(struct wk_pool *p) {
    for (int i = 0; i < p->n; i++) ts_tensor_free(p->t[i]);
    p->n = 0;
}

/* Run a shim call that produces *slot, put the result in the pool, or jump
 * to `fail` with the shim's message in (err, errlen). */
#define WK_T(pool, call, slot)                                                                                         \
    do {                                                                                                               \
        if ((call) != TS_OK) {                                                                                         \
            snprintf(err, errlen, "%s", ts_last_error());                                                              \
            goto fail;                                                                                                 \
        }                                                                                                              \
        if (!wk_pool_add((pool), (slot))) {                                                                            \
            snprintf(err, errlen, "internal: tensor pool exhausted at %s:%d", __FILE__, __LINE__);                     \
            goto fail;                                                                                                 \
        }                                                                                                              \
    } while (0)

#define WK_CHECK(call)                                                                                                 \
    do {                                                                                                               \
        if ((call) != TS_OK) {                                                                                         \
            snprintf(err, errlen, "%s", ts_last_error());                                                              \
            goto fail;                                                                                                 \
        }                                                                                                              \
    } while (0)
#endif
