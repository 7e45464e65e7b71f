/* worker/methods/superpixels.c — quickshift superpixels through VLFeat, for
 * LIME and KernelSHAP (ICML 2023: kernel_size 1, max_dist 200, ratio 0.1 in
 * skimage's terms). Mapping to VLFeat (README, "Methods"):
 * - features: (ratio · 100 · pixel_c, row, col) with pixel_c the
 *   unnormalized [0,1] value of each channel. skimage converts RGB to Lab
 *   (L in [0,100]); we scale linearly instead (no Lab), a documented deviation.
 * - VLFeat's kernel_size is skimage's σ; VLFeat links a pixel only to a
 *   denser pixel within joint (feature + position) distance max_dist and
 *   searches a spatial window of that radius; skimage searches a spatial
 *   window of ceil(3σ) at any feature distance and cuts links longer than
 *   max_dist. VLFeat gets max_dist = 3σ (the same window; a 200 window would
 *   link the whole image into one tree), and links longer than skimage's
 *   max_dist are cut here. Deviation: a pixel whose denser neighbours all
 *   differ by ≥ 3 in the joint space starts its own superpixel, where skimage
 *   would link it, so recal tends to find more superpixels than skimage. */
#include <stdio.h>
#include <stdlib.h>
#include <vl/quickshift.h>

#include "superpixels.h"

int wk_superpixels(const float *pix, int c, int h, int w, double kernel_size, double max_dist, double ratio,
                   int32_t *labels, int *count, char *err, size_t errlen) {
    const long hw = (long)h * w;
    vl_qs_type *im = malloc((size_t)(hw * c) * sizeof *im);
    int32_t *root_id = malloc((size_t)hw * sizeof *root_id);
    if (!im || !root_id) {
        free(im);
        free(root_id);
        snprintf(err, errlen, "out of host memory for superpixels");
        return -1;
    }
    /* VLFeat is column-major (height × width): giving it height = w and
     * width = h makes its pixel index i + j·height equal our row-major r·w + col. */
    for (long k = 0; k < hw * c; k++) im[k] = ratio * 100.0 * pix[k];
    VlQS *q = vl_quickshift_new(im, w, h, c);
    if (!q) {
        free(im);
        free(root_id);
        snprintf(err, errlen, "VLFeat quickshift could not allocate its state");
        return -1;
    }
    vl_quickshift_set_kernel_size(q, kernel_size);
    vl_quickshift_set_max_dist(q, 3.0 * kernel_size);
    vl_quickshift_process(q);
    const int *parent = vl_quickshift_get_parents(q);
    const vl_qs_type *dist = vl_quickshift_get_dists(q);
    /* Roots: pixels that are their own parent or whose link is longer than
     * max_dist; each pixel's label is its root's (numbered by first appearance). */
    int n = 0;
    for (long k = 0; k < hw; k++) root_id[k] = -1;
    for (long k = 0; k < hw; k++) {
        long r = k;
        while (parent[r] != r && dist[r] <= max_dist) r = parent[r];
        if (root_id[r] < 0) root_id[r] = n++;
        labels[k] = root_id[r];
    }
    *count = n;
    vl_quickshift_delete(q);
    free(im);
    free(root_id);
    return 0;
}
