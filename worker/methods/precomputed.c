/* worker/methods/precomputed.c — maps made elsewhere (Captum, Quantus's
 * a_batch, one's own method), read from a .npy and scored by recal's
 * metrics as if a method had made them (docs/methods.md, "Maps made
 * elsewhere"). The file is mapped, not read: a split's maps need not fit in
 * memory, and each rank touches only its shards' rows. */
#include <stdio.h>
#include <string.h>

#include "methods.h"

int wk_maps_open(const char *path, long n, int c, int h, int w, struct wk_maps *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    out->path = path;
    if (npy_map(path, &out->a, err, errlen)) return -1;
    const struct npy_array *a = &out->a;
    const int ok_type = a->dtype == NPY_F16 || a->dtype == NPY_F32 || a->dtype == NPY_F64;
    const int nd = a->ndim, hw = nd >= 3 && a->shape[nd - 2] == h && a->shape[nd - 1] == w;
    const int ch = nd == 3 || (nd == 4 && (a->shape[1] == c || a->shape[1] == 1));
    if (!ok_type || !hw || !ch || a->shape[0] < n) {
        char shape[160] = "";
        for (int k = 0, at = 0; k < nd && at < (int)sizeof shape; k++)
            at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%lld", k ? " x " : "", (long long)a->shape[k]);
        snprintf(err, errlen,
                 "%s: maps of shape %s%s do not fit %ld images of %d x %d x %d: save N x %d x %d x %d (or N x %d x %d) "
                 "float32 or float16, row i = image id i of the run (images.csv), N >= %ld",
                 path, nd ? shape : "()", ok_type ? "" : " and a dtype other than float16/32/64", n, c, h, w, c, h, w,
                 h, w, n);
        npy_free(&out->a);
        return -1;
    }
    return 0;
}

int wk_precomputed(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                   char *err, size_t errlen) {
    const struct wk_maps *mp = NULL;
    for (int k = 0; k < ctx->n_maps && !mp; k++)
        if (!strcmp(ctx->maps[k].path, m->path)) mp = &ctx->maps[k];
    if (!mp) {
        snprintf(err, errlen, "%s: precomputed maps not opened (internal)", m->path);
        return -1;
    }
    const struct npy_array *a = &mp->a;
    const long hw = (long)bt->h * bt->w, d = bt->c * hw;
    const long fc = a->ndim == 4 ? (long)a->shape[1] : 1; /* channels in the file: c, or 1 for every channel */
    for (long i = 0; i < bt->b; i++) {
        const long row = (long)bt->ids[i];
        if (row < 0 || row >= a->shape[0]) {
            snprintf(err, errlen, "%s: no row for image id %ld (the file has %lld)", mp->path, row,
                     (long long)a->shape[0]);
            return -1;
        }
        for (int ch = 0; ch < bt->c; ch++) {
            const size_t src = ((size_t)row * (size_t)fc + (size_t)(fc == 1 ? 0 : ch)) * (size_t)hw;
            float *dst = out + i * d + ch * hw;
            const unsigned char *b = a->data; /* loads by memcpy: a writer need not align the data */
            for (long p = 0; p < hw; p++) {
                const size_t at = src + (size_t)p;
                if (a->dtype == NPY_F32) {
                    memcpy(&dst[p], b + 4 * at, 4);
                } else if (a->dtype == NPY_F64) {
                    double v;
                    memcpy(&v, b + 8 * at, 8);
                    dst[p] = (float)v;
                } else {
                    uint16_t h16;
                    memcpy(&h16, b + 2 * at, 2);
                    dst[p] = npy_f16_to_f32(h16);
                }
            }
        }
    }
    return 0;
}
