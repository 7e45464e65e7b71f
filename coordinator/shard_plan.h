/* coordinator/shard_plan.h — the work units of a run: contiguous image-id
 * ranges of a fixed size. The plan depends only on the image count and the
 * shard size, never on the rank count, so every rank count batches the same
 * images together and gets the same numbers. */
#ifndef RECAL_SHARD_PLAN_H
#define RECAL_SHARD_PLAN_H

struct shard {
    long index; /* 0..count-1 */
    long first; /* first image id */
    long count; /* images in the shard (the last may be short) */
};

long shard_plan_count(long n_images, long shard_images);
/* 0 and *out filled, or -1 when index is out of range. */
int shard_plan_get(long n_images, long shard_images, long index, struct shard *out);
#endif
