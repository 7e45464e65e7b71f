/* jobs/job_subset.c — the image ids that a metric's `images: N` covers.
 *
 * The ids ⌊k·T/N⌋, k = 0 … N−1, of a split of T images: spread evenly over
 * the split, so every shard carries its share of a costly metric (the
 * first N ids all fell in shard 0: a 64-image job spent 83 s there
 * against 10–46 s elsewhere). They depend only on N and T, never on the
 * rank count, the shard size or a resume, so every run of a job scores
 * the same images. */
#include "job.h"

/* 64-bit products: ids and N are below T, and a split of T < 2^32 images
 * keeps id·N and k·T below 2^64. */
bool job_subset_has(long n, long total, long id) {
    if (id < 0 || id >= total) return false;
    if (n <= 0 || n >= total) return true;
    const unsigned long long un = (unsigned long long)n, ut = (unsigned long long)total;
    const unsigned long long ui = (unsigned long long)id;
    /* the smallest k with k·T/N ≥ id; id is chosen when ⌊k·T/N⌋ is id itself */
    const unsigned long long k = (ui * un + ut - 1) / ut;
    return k < un && k * ut < (ui + 1) * un;
}
