/* coordinator/shard_plan.c — see shard_plan.h. */
#include "shard_plan.h"

long shard_plan_count(long n_images, long shard_images) {
    if (n_images <= 0 || shard_images <= 0) return 0;
    return (n_images + shard_images - 1) / shard_images;
}

int shard_plan_get(long n_images, long shard_images, long index, struct shard *out) {
    if (index < 0 || index >= shard_plan_count(n_images, shard_images)) return -1;
    out->index = index;
    out->first = index * shard_images;
    long left = n_images - out->first;
    out->count = left < shard_images ? left : shard_images;
    return 0;
}

long shard_plan_auto(long n_images, long batch, long ranks, long per_rank, long cap) {
    if (per_rank <= 0 || batch <= 0 || cap <= batch || cap % batch != 0) return cap;
    const long want = (ranks > 0 ? ranks : 1) * per_rank; /* shards wanted, at least */
    long batches = n_images / (want * batch);             /* per shard: rounding down keeps >= want shards */
    if (batches < 1) batches = 1;                         /* a small job: one batch a shard, the best balance */
    if (batches > cap / batch) batches = cap / batch;
    return batches * batch;
}
