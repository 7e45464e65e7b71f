/* worker/methods/superpixels.c — quickshift superpixels for LIME and
 * KernelSHAP with the ICML 2023 settings, which are skimage's
 * (`quickshift(image, kernel_size=1, max_dist=200, ratio=0.1)`, as
 * lime_image calls it). Split of the work (docs/methods.md, "LIME and KernelSHAP"):
 * - features: ratio · Lab of the unnormalized pixels (skimage's rgb2lab,
 *   D65; a 1-channel image is taken as gray RGB), then row and column;
 *   images with another channel count get ratio · 100 · pixel per channel.
 * - density: VLFeat's quickshift (Parzen window, Gaussian kernel of
 *   σ = kernel_size over a ceil(3σ) window), the part a library does.
 * - tree: skimage links every pixel to its nearest (joint distance) denser
 *   pixel in that same window, at any distance, and cuts links longer than
 *   max_dist. VLFeat's tree cannot express that (its max_dist is both the
 *   search radius and a link limit: 3σ would refuse links skimage makes,
 *   200 would search the whole image), so that one step is done here.
 * skimage breaks density ties (flat backgrounds) with N(0, 1e-5) noise
 * from NumPy's generator; we add noise of the same scale from a hash, so a
 * plateau splits as skimage would with another seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <vl/quickshift.h>

#include "seed.h"
#include "superpixels.h"

#define TIE_NOISE 1e-5

/* A standard normal deviate from a hash of k (Box–Muller on two 53-bit
 * uniforms), the same for every image. */
static double hash_normal(uint64_t k) {
    uint64_t a = seed_mix(2 * k + 1), b = seed_mix(2 * k + 2);
    double u1 = ((a >> 11) + 1.0) / 9007199254740993.0, u2 = (b >> 11) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* skimage.color's sRGB → XYZ (D65) → Lab for one pixel in [0,1]. */
static double lab_f(double t) {
    return t > 0.008856 ? cbrt(t) : 7.787 * t + 16.0 / 116.0;
}

static double srgb_linear(double v) {
    return v > 0.04045 ? pow((v + 0.055) / 1.055, 2.4) : v / 12.92;
}

static void rgb_to_lab(double r, double g, double b, double lab[3]) {
    r = srgb_linear(r);
    g = srgb_linear(g);
    b = srgb_linear(b);
    double x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047;
    double y = 0.212671 * r + 0.715160 * g + 0.072169 * b;
    double z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883;
    double fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    lab[0] = 116.0 * fy - 16.0;
    lab[1] = 500.0 * (fx - fy);
    lab[2] = 200.0 * (fy - fz);
}

/* Features in VLFeat's layout: channel-major planes of (h × w) pixels,
 * column-major — giving VLFeat height = w and width = h makes its pixel
 * index i + j·height equal our row-major r·w + col. */
static void features(const float *pix, int c, long hw, double ratio, vl_qs_type *im) {
    if (c != 1 && c != 3) {
        for (long k = 0; k < hw * c; k++) im[k] = ratio * 100.0 * pix[k];
        return;
    }
    for (long k = 0; k < hw; k++) {
        double lab[3];
        if (c == 1) rgb_to_lab(pix[k], pix[k], pix[k], lab);
        else rgb_to_lab(pix[k], pix[hw + k], pix[2 * hw + k], lab);
        for (int j = 0; j < 3; j++) im[j * hw + k] = ratio * lab[j];
    }
}

static double joint_dist2(const vl_qs_type *im, int nc, long hw, long a, long b, int dr, int dc) {
    double d = (double)dr * dr + (double)dc * dc;
    for (int j = 0; j < nc; j++) {
        double t = im[j * hw + a] - im[j * hw + b];
        d += t * t;
    }
    return d;
}

int wk_superpixels(const float *pix, int c, int h, int w, double kernel_size, double max_dist, double ratio,
                   int32_t *labels, int *count, char *err, size_t errlen) {
    const long hw = (long)h * w;
    const int nc = (c == 1 || c == 3) ? 3 : c;
    vl_qs_type *im = calloc((size_t)(hw * nc), sizeof *im);
    long *parent = malloc((size_t)hw * sizeof *parent);
    int32_t *root_id = malloc((size_t)hw * sizeof *root_id);
    VlQS *q = NULL;
    int rc = -1;
    if (!im || !parent || !root_id) {
        snprintf(err, errlen, "out of host memory for superpixels");
        goto out;
    }
    features(pix, c, hw, ratio, im);
    q = vl_quickshift_new(im, w, h, nc);
    if (!q) {
        snprintf(err, errlen, "VLFeat quickshift could not allocate its state");
        goto out;
    }
    vl_quickshift_set_kernel_size(q, kernel_size);
    vl_quickshift_set_max_dist(q, 1.0); /* its own tree is not used: keep its search small */
    vl_quickshift_process(q);
    /* skimage's tie-break: N(0, 1e-5) added to every density (here from a
     * fixed hash of the pixel index; skimage draws it with seed 42).
     * Without it a flat background is one root per pixel. */
    vl_qs_type *density = vl_quickshift_get_density(q);
    for (long k = 0; k < hw; k++) density[k] += TIE_NOISE * hash_normal((uint64_t)k);
    const int win = (int)ceil(3.0 * kernel_size);
    for (int r = 0; r < h; r++)
        for (int col = 0; col < w; col++) {
            long k = (long)r * w + col, best = k;
            double closest = INFINITY;
            for (int r2 = r - win > 0 ? r - win : 0; r2 < h && r2 <= r + win; r2++)
                for (int c2 = col - win > 0 ? col - win : 0; c2 < w && c2 <= col + win; c2++) {
                    long k2 = (long)r2 * w + c2;
                    if (density[k2] <= density[k]) continue;
                    double d = joint_dist2(im, nc, hw, k, k2, r - r2, col - c2);
                    if (d < closest) {
                        closest = d;
                        best = k2;
                    }
                }
            parent[k] = sqrt(closest) > max_dist ? k : best;
        }
    /* Density strictly rises along links, so every chain ends at a root;
     * labels are numbered by first appearance. */
    int n = 0;
    for (long k = 0; k < hw; k++) root_id[k] = -1;
    for (long k = 0; k < hw; k++) {
        long r = k;
        while (parent[r] != r) r = parent[r];
        if (root_id[r] < 0) root_id[r] = n++;
        labels[k] = root_id[r];
    }
    *count = n;
    rc = 0;
out:
    if (q) vl_quickshift_delete(q);
    free(im);
    free(parent);
    free(root_id);
    return rc;
}
