/* worker/methods/blur.c — the one Gaussian blur of recal's methods: Blur
 * IG's path (blur_ig.c) and the `blur` baseline of ig and guided_ig
 * (baseline.c). scipy.ndimage's gaussian_filter over the two image axes
 * (not the channels), mode "constant" (zero padding), truncated at 4σ,
 * applied to the model's input, where 0 is the dataset mean: PAIR's
 * saliency calls it so for Blur IG, and one kernel for both keeps a blur
 * baseline the first point of Blur IG's path at the same σ. */
#include <math.h>
#include <string.h>

#include "methods.h"

long wk_blur_radius(double sigma) {
    return (long)(4.0 * sigma + 0.5);
}

void wk_blur(const double *x, int c, int h, int w, double sigma, double *out, double *tmp, double *kern) {
    const long hw = (long)h * w;
    if (!(sigma > 1e-15)) { /* scipy skips such an axis */
        memcpy(out, x, (size_t)(c * hw) * sizeof *out);
        return;
    }
    const long r = wk_blur_radius(sigma);
    double sum = 0;
    for (long k = -r; k <= r; k++) sum += kern[k + r] = exp(-0.5 / (sigma * sigma) * (double)(k * k));
    for (long k = 0; k <= 2 * r; k++) kern[k] /= sum;
    for (int ch = 0; ch < c; ch++) {
        const double *src = x + ch * hw;
        double *t = tmp + ch * hw, *o = out + ch * hw;
        /* taps outside the image meet the zero padding: only those inside are summed */
        for (int i = 0; i < h; i++) /* along H: row i from rows i − r … i + r */
            for (int j = 0; j < w; j++) {
                double v = 0;
                for (long k = -r > -i ? -r : -i; k <= r && i + k < h; k++) v += kern[k + r] * src[(i + k) * w + j];
                t[i * w + j] = v;
            }
        for (int i = 0; i < h; i++) /* then along W */
            for (int j = 0; j < w; j++) {
                double v = 0;
                for (long k = -r > -j ? -r : -j; k <= r && j + k < w; k++) v += kern[k + r] * t[i * w + j + k];
                o[i * w + j] = v;
            }
    }
}
