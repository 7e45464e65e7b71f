/* worker/metrics/roar_rank.h — ROAR rank maps (docs/metrics.md (ROAR)): per pixel,
 * the rank of its saliency Σ_c |A| among the image's h·w pixels, as uint16,
 * so that any top-k / bottom-k mask is one comparison:
 *   keep top k:    rank >= hw − ⌊k·hw⌋      keep bottom k: rank < ⌊k·hw⌋
 * Rank 0 is the least salient pixel; ties keep pixel-index order (the same
 * stable order as DiffID). Exact for h·w <= 65536 (up to 256×256); larger
 * images store ⌊rank·65536/hw⌋, a percentile with 65536 levels. */
#ifndef RECAL_ROAR_RANK_H
#define RECAL_ROAR_RANK_H
#include <stdint.h>

/* a is C×HW; out receives HW ranks. order (HW longs) and sal (HW floats)
 * are scratch. */
void roar_rank_map(const float *a, int c, long hw, uint16_t *out, long *order, float *sal);
#endif
