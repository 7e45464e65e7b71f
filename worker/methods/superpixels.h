/* worker/methods/superpixels.h — quickshift superpixels (VLFeat). */
#ifndef RECAL_SUPERPIXELS_H
#define RECAL_SUPERPIXELS_H
#include <stddef.h>
#include <stdint.h>

/* ICML 2023 settings in skimage's terms. */
#define WK_QS_KERNEL_SIZE 1.0
#define WK_QS_MAX_DIST 200.0
#define WK_QS_RATIO 0.1

/* Segment one image: pix is C×H×W unnormalized pixels in [0,1]; labels
 * (H·W) get 0..count−1. */
int wk_superpixels(const float *pix, int c, int h, int w, double kernel_size, double max_dist, double ratio,
                   int32_t *labels, int *count, char *err, size_t errlen);
#endif
