/* worker/engine_batch.h — one batch of a shard (wk_engine_run's step): the
 * images up, the clean forward (accuracy, targets, images.csv's columns),
 * every method's maps on the device, the host copies the outputs read,
 * DiffID and the other metrics, all added into the shard's record. */
#ifndef RECAL_ENGINE_BATCH_H
#define RECAL_ENGINE_BATCH_H
#include <stddef.h>

#include "engine.h"
#include "engine_buffers.h"

/* The b images in sb->x, sb->y (labels), sb->ids of the shard [first,
 * first+count), unread ones already dropped. Adds into record and the
 * shard's outputs in sb (maps, ranks, examples, DiffID sums); sb->y holds
 * the explained targets after. 0, or -1 with a message. */
int wk_engine_batch(struct wk_engine *e, struct wk_shard_bufs *sb, long first, long count, long b, double *record,
                    char *err, size_t errlen);
#endif
