/* npy_ds.c - a dataset given as two .npy arrays in one directory.
 *
 * Naming (documented in worker/datasets/README.md): split test reads
 * images.npy + labels.npy, split train reads images-train.npy +
 * labels-train.npy. images.npy is either float32 N x C x H x W, already
 * normalized and used as stored, or uint8 N x H x W x C (C = 1 or 3) or
 * N x H x W, normalized by ds_get with dataset.mean/std (default 0/1, i.e.
 * pixel/255) after reordering to NCHW here. labels.npy: int64, int32 or uint8. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "ds_internal.h"
#include "npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_DS_PATH_MAX 4096
#define NPY_DS_MAX_CLASSES 1000000 /* a label beyond this is a wrong file, not a class */

static int npy_ds_images(const char *path, struct npy_array *a, struct ds_store *st, char *err, size_t errlen) {
    const char *remedy = "save float32 N x C x H x W (normalized) or uint8 N x H x W x C";
    if (a->dtype == NPY_F32) {
        if (a->ndim != 4) {
            ds_errf(err, errlen, "%s: float32 images must be 4-d N x C x H x W, got %d-d (%s)", path, a->ndim, remedy);
            return -1;
        }
        /* the normalization (and every pixel-space amount) is per channel,
         * for at most 3 channels */
        if (a->shape[1] < 1 || a->shape[1] > 3) {
            ds_errf(err, errlen, "%s: float32 images have %lld channels (axis 1); recal takes 1 to 3 (%s)", path,
                    (long long)a->shape[1], remedy);
            return -1;
        }
        st->total = (long)a->shape[0];
        st->c = (int)a->shape[1];
        st->h = (int)a->shape[2];
        st->w = (int)a->shape[3];
        /* A NaN pixel does not always make NaN gradients (ReLU's backward
         * drops it), so it would go unnoticed as a wrong attribution. */
        const float *f = a->data;
        size_t total = (size_t)a->shape[0] * (size_t)a->shape[1] * (size_t)a->shape[2] * (size_t)a->shape[3];
        size_t per = total / (a->shape[0] > 0 ? (size_t)a->shape[0] : 1);
        for (size_t i = 0; i < total; i++)
            if (!isfinite(f[i])) {
                ds_errf(err, errlen, "%s: image %zu has %s at element %zu of its %zu (fix or drop that image)", path,
                        i / per, isnan(f[i]) ? "NaN" : "Inf", i % per, per);
                return -1;
            }
        st->fpixels = a->data; /* ownership moves to the store */
        a->data = NULL;
    } else if (a->dtype == NPY_U8) {
        size_t n, plane, i, k;
        int c, ch;
        if (a->ndim != 3 && a->ndim != 4) {
            ds_errf(err, errlen, "%s: uint8 images must be N x H x W x C or N x H x W, got %d-d (%s)", path, a->ndim,
                    remedy);
            return -1;
        }
        c = a->ndim == 4 ? (int)a->shape[3] : 1;
        if (c != 1 && c != 3) {
            ds_errf(err, errlen,
                    "%s: uint8 images have %d channels in the last axis; expected 1 or 3 "
                    "(uint8 images are channels-last: N x H x W x C)",
                    path, c);
            return -1;
        }
        st->total = (long)a->shape[0];
        st->c = c;
        st->h = (int)a->shape[1];
        st->w = (int)a->shape[2];
        n = (size_t)st->total;
        plane = (size_t)st->h * (size_t)st->w;
        /* NHWC -> NCHW: ds_get and the models work channels-first. */
        st->pixels = malloc(n * plane * (size_t)c + 1);
        if (!st->pixels) {
            ds_errf(err, errlen, "%s: out of memory (free memory)", path);
            return -1;
        }
        for (i = 0; i < n; i++)
            for (ch = 0; ch < c; ch++)
                for (k = 0; k < plane; k++)
                    st->pixels[(i * (size_t)c + (size_t)ch) * plane + k] =
                        ((const uint8_t *)a->data)[(i * plane + k) * (size_t)c + (size_t)ch];
    } else {
        ds_errf(err, errlen,
                "%s: images are %s; expected float32 (N x C x H x W, normalized) or "
                "uint8 (N x H x W x C) (convert with .astype)",
                path, npy_dtype_name(a->dtype));
        return -1;
    }
    if (st->total < 1 || st->c < 1 || st->h < 1 || st->w < 1) {
        ds_errf(err, errlen, "%s: empty image array (save at least one image)", path);
        return -1;
    }
    return 0;
}

int ds_npy_load(const char *dir, int train, int classes, struct ds_store *st, char *err, size_t errlen) {
    char ipath[NPY_DS_PATH_MAX], lpath[NPY_DS_PATH_MAX];
    struct npy_array im = {0}, lb = {0};
    struct stat sb;
    int64_t *y = NULL, maxl = -1;
    long i;

    snprintf(ipath, sizeof ipath, "%s/%s", dir, train ? "images-train.npy" : "images.npy");
    snprintf(lpath, sizeof lpath, "%s/%s", dir, train ? "labels-train.npy" : "labels.npy");
    if (stat(ipath, &sb) != 0) {
        ds_errf(err, errlen,
                "%s: no such file (dataset npy, split %s reads %s and %s; save them with "
                "numpy.save)",
                ipath, train ? "train" : "test", train ? "images-train.npy" : "images.npy",
                train ? "labels-train.npy" : "labels.npy");
        return -1;
    }
    if (npy_read(ipath, &im, err, errlen) != 0) return -1;
    if (npy_ds_images(ipath, &im, st, err, errlen) != 0) goto fail;
    npy_free(&im);
    if (npy_read(lpath, &lb, err, errlen) != 0) goto fail;
    if ((lb.dtype != NPY_I64 && lb.dtype != NPY_I32 && lb.dtype != NPY_U8) || lb.ndim != 1) {
        ds_errf(err, errlen,
                "%s: labels must be 1-d int64, int32 or uint8, got %d-d %s (save "
                "labels.astype('int64'))",
                lpath, lb.ndim, npy_dtype_name(lb.dtype));
        goto fail;
    }
    if (lb.shape[0] != st->total) {
        ds_errf(err, errlen, "%s: %lld labels but %s has %ld images (save matching arrays)", lpath,
                (long long)lb.shape[0], ipath, st->total);
        goto fail;
    }
    y = npy_to_i64(&lb);
    st->labels = malloc((size_t)st->total * sizeof *st->labels);
    if (!y || !st->labels) {
        ds_errf(err, errlen, "%s: out of memory (free memory)", lpath);
        goto fail;
    }
    for (i = 0; i < st->total; i++) {
        int64_t lim = classes ? classes : NPY_DS_MAX_CLASSES;
        if (y[i] < 0 || y[i] >= lim) {
            ds_errf(err, errlen, "%s: label %lld at index %ld is out of range 0..%lld (%s)", lpath, (long long)y[i], i,
                    (long long)lim - 1,
                    classes ? "raise dataset.classes or fix the labels" : "labels must be class indices");
            goto fail;
        }
        st->labels[i] = (int32_t)y[i];
        if (y[i] > maxl) {
            maxl = y[i];
            st->max_label_at = i + 1;
        }
    }
    st->classes = classes ? classes : (int)maxl + 1;
    free(y);
    npy_free(&lb);
    ds_store_add_file(st, lpath, 0, 0);
    ds_store_add_file(st, ipath, 0, st->total);
    return 0;
fail:
    free(y);
    npy_free(&im);
    npy_free(&lb);
    free(st->pixels);
    free(st->fpixels);
    free(st->labels);
    st->pixels = NULL;
    st->fpixels = NULL;
    st->labels = NULL;
    return -1;
}
