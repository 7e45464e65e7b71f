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
