/* resize.c - separable antialiased bilinear resize, uint8 RGB -> float CHW.
 *
 * The filter is the one PIL's ImagingResample and torch's
 * interpolate(mode='bilinear', antialias=True, align_corners=False) share:
 * output pixel i covers input centre scale*(i+0.5); a triangle filter
 * stretched by scale when shrinking (so every input pixel under the output
 * pixel contributes: no aliasing) and of half-width 1 when enlarging; weights
 * normalized to sum 1. Kept in float and not rounded to uint8 between or
 * after the passes (torchvision on tensors does the same), so ds_get's
 * values are the exact resize, not a re-quantized one. Horizontal pass
 * first, only over the rows the vertical pass reads. */
#include "ds_image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Four float lanes (GCC/Clang vector extension): one RGBx pixel. Lane-wise
 * IEEE multiply and add, so the sums equal the scalar loop's. */
typedef float v4f __attribute__((vector_size(16)));

/* Weights of one axis for output indices [first, first+n) of an in -> out
 * resize: start[i], size[i], and w[i*kmax + j]. */
struct axis {
    int kmax;
    int *start, *size;
    float *w;
};

static void axis_free(struct axis *a) {
    free(a->start);
    free(a->size);
    free(a->w);
}

static double tri(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static int axis_plan(int in, int out, int first, int n, struct axis *a) {
    double scale = (double)in / (double)out;
    double support = scale >= 1.0 ? scale : 1.0;
    double inv = scale >= 1.0 ? 1.0 / scale : 1.0;
    a->kmax = (int)ceil(support) * 2 + 1;
    a->start = malloc((size_t)n * sizeof *a->start);
    a->size = malloc((size_t)n * sizeof *a->size);
    a->w = malloc((size_t)n * (size_t)a->kmax * sizeof *a->w);
    if (!a->start || !a->size || !a->w) {
        axis_free(a);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        double center = scale * (first + i + 0.5), total = 0.0, wj[512];
        /* truncation toward zero, as both references do */
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5), j;
        if (xmin < 0) xmin = 0;
        if (xmax > in) xmax = in;
        if (xmax - xmin > a->kmax) xmax = xmin + a->kmax;
        for (j = 0; j < xmax - xmin; j++) {
            wj[j < 512 ? j : 511] = tri((j + xmin - center + 0.5) * inv);
            total += wj[j < 512 ? j : 511];
        }
        a->start[i] = xmin;
        a->size[i] = xmax - xmin;
        for (j = 0; j < xmax - xmin; j++)
            a->w[(size_t)i * a->kmax + j] = (float)(total != 0.0 ? wj[j < 512 ? j : 511] / total : 0.0);
    }
    return 0;
}

int ds_resize_rgb(const struct ds_rgb *in, int oh, int ow, int top, int left, int ch, int cw, float *out) {
    struct axis ax = {0}, ay = {0};
    float *tmp = NULL, *rowf = NULL;
    v4f *wv = NULL;
    int rc = -1, y0, y1;

    /* 512 taps covers shrinking by 255x; no photo needs more. */
    if ((double)in->w / ow > 255.0 || (double)in->h / oh > 255.0) return -1;
    if (axis_plan(in->w, ow, left, cw, &ax) || axis_plan(in->h, oh, top, ch, &ay)) goto out;
    y0 = ay.start[0];
    y1 = ay.start[ch - 1] + ay.size[ch - 1];
    for (int i = 0; i < ch; i++) {
        if (ay.start[i] < y0) y0 = ay.start[i];
        if (ay.start[i] + ay.size[i] > y1) y1 = ay.start[i] + ay.size[i];
    }
    /* tmp: rows y0..y1 of the horizontally resized image, CHW. Each input
     * pixel feeds about 2·scale outputs, so a row is converted to float
     * once, as RGBx: the 4-lane multiply-add per tap then vectorizes. The
     * arithmetic (w·float(p), summed over taps in order) is unchanged. */
    int x0 = ax.start[0], x1 = ax.start[cw - 1] + ax.size[cw - 1];
    for (int x = 0; x < cw; x++) {
        if (ax.start[x] < x0) x0 = ax.start[x];
        if (ax.start[x] + ax.size[x] > x1) x1 = ax.start[x] + ax.size[x];
    }
    tmp = malloc((size_t)3 * (size_t)(y1 - y0) * (size_t)cw * sizeof *tmp);
    rowf = malloc((size_t)4 * (size_t)(x1 - x0) * sizeof *rowf);
    /* the horizontal weights, each broadcast to four lanes once */
    wv = malloc((size_t)cw * (size_t)ax.kmax * sizeof *wv);
    if (!tmp || !rowf || !wv) goto out;
    for (size_t k = 0; k < (size_t)cw * (size_t)ax.kmax; k++) wv[k] = (v4f){ax.w[k], ax.w[k], ax.w[k], ax.w[k]};
    const size_t plane = (size_t)(y1 - y0) * (size_t)cw;
    for (int y = y0; y < y1; y++) {
        const uint8_t *row = in->px + (size_t)y * (size_t)in->w * 3;
        for (int x = x0; x < x1; x++) {
            float *f = rowf + (size_t)4 * (size_t)(x - x0);
            f[0] = row[3 * x];
            f[1] = row[3 * x + 1];
            f[2] = row[3 * x + 2];
            f[3] = 0.0f;
        }
        for (int x = 0; x < cw; x++) {
            const v4f *w = wv + (size_t)x * ax.kmax;
            const float *p = rowf + (size_t)4 * (size_t)(ax.start[x] - x0);
            v4f acc = {0, 0, 0, 0};
            for (int j = 0; j < ax.size[x]; j++) {
                v4f px;
                memcpy(&px, p + 4 * j, sizeof px);
                acc += w[j] * px;
            }
            float s[4];
            memcpy(s, &acc, sizeof s);
            size_t o = (size_t)(y - y0) * (size_t)cw + (size_t)x;
            tmp[o] = s[0];
            tmp[plane + o] = s[1];
            tmp[2 * plane + o] = s[2];
        }
    }
    for (int c = 0; c < 3; c++) {
        const float *tp = tmp + (size_t)c * (size_t)(y1 - y0) * (size_t)cw;
        for (int y = 0; y < ch; y++) {
            const float *w = ay.w + (size_t)y * ay.kmax;
            float *o = out + ((size_t)c * ch + (size_t)y) * (size_t)cw;
            for (int x = 0; x < cw; x++) o[x] = 0.0f;
            for (int j = 0; j < ay.size[y]; j++) {
                const float *r = tp + (size_t)(ay.start[y] + j - y0) * (size_t)cw;
                const v4f wj = {w[j], w[j], w[j], w[j]};
                int x = 0;
                for (; x + 4 <= cw; x += 4) {
                    v4f a, b;
                    memcpy(&a, o + x, sizeof a);
                    memcpy(&b, r + x, sizeof b);
                    a += wj * b;
                    memcpy(o + x, &a, sizeof a);
                }
                for (; x < cw; x++) o[x] += w[j] * r[x];
            }
        }
    }
    rc = 0;
out:
    free(tmp);
    free(rowf);
    free(wv);
    axis_free(&ax);
    axis_free(&ay);
    return rc;
}
