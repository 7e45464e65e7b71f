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
/* The shard size that gives each of `ranks` at least `per_rank` shards:
 * whole batches (so every size batches the same images together and the
 * numbers do not depend on it), at least one batch and at most `cap`
 * rounded down to whole batches. Needs no timing, so no rank waits for a
 * probe, and depends only on its arguments (recal run fixes it at start in
 * RUN_DIR/shard_images; --resume reads it back). cap when cap is not a
 * multiple of batch or is at most one batch, or per_rank <= 0 (off). */
long shard_plan_auto(long n_images, long batch, long ranks, long per_rank, long cap);
#endif
