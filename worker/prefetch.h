/* worker/prefetch.h — read the next batch while the current one computes.
 * One background thread per batch runs ds_get into a second buffer, so JPEG
 * decoding (imagenet) overlaps the model's forward and backward passes; for
 * in-memory datasets it is a copy. Only one ds_get on a dataset runs at a
 * time: the engine waits for the prefetch before it asks for another. */
#ifndef RECAL_PREFETCH_H
#define RECAL_PREFETCH_H
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

struct wk_prefetch {
    const struct ds_dataset *ds;
    long first, count;
    float *x;
    int64_t *y;
    pthread_t th;
    int running, rc;
    char err[1024];
};

/* Start reading [first, first+count) into x, y. 0, or -1 when no thread
 * could be started (then the read is done here, synchronously, and its
 * outcome is what wk_prefetch_wait returns). */
int wk_prefetch_start(struct wk_prefetch *p, const struct ds_dataset *ds, long first, long count, float *x, int64_t *y);
/* Wait for the read: 0, or -1 with its message in err. No-op (0) when
 * nothing was started. */
int wk_prefetch_wait(struct wk_prefetch *p, char *err, size_t errlen);
#endif
