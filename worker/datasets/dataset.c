/* dataset.c - dataset dispatch by name, and the shared ds_get/ds_get_u8.
 *
 * Readers (idx.c, later cifar.c, imagenet.c ...) only decode files into a
 * struct ds_store; everything format-independent (name table, split names,
 * limit, normalization, range checks) lives here once. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open/fsync/O_CLOEXEC without compiler extensions */
#endif
#include "dataset.h"
#include "ds_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__GNUC__)
#define DS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DS_PRINTF(a, b)
#endif

enum ds_format { DS_FMT_IDX };

struct ds_spec {
    const char *name;
    enum ds_format format;
    int c, h, w, classes;
    float mean, std;          /* of the train split's pixels/255 */
    const char *default_path; /* used when path is NULL or "" (NULL: path required) */
    const char *hint;         /* remedy for damaged files */
    const char *missing_hint; /* remedy for missing files */
};

static const struct ds_spec ds_specs[] = {
    { "fashion-mnist", DS_FMT_IDX, 1, 28, 28, 10, 0.2860f, 0.3530f,
      "/usr/share/datasets/fashion-mnist",
      "re-download or reinstall dataset-fashion-mnist",
      "install Debian's dataset-fashion-mnist or set dataset.path" },
    { "mnist", DS_FMT_IDX, 1, 28, 28, 10, 0.1307f, 0.3081f,
      NULL,
      "re-download the MNIST IDX files",
      "download the four MNIST IDX files (train-/t10k- images-idx3/labels-idx1 -ubyte.gz) "
      "into this directory or set dataset.path" },
};

static void DS_PRINTF(3, 4) ds_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const struct ds_spec *ds_find(const char *name)
{
    size_t i;
    for (i = 0; i < sizeof ds_specs / sizeof ds_specs[0]; i++)
        if (strcmp(ds_specs[i].name, name) == 0)
            return &ds_specs[i];
    return NULL;
}

int ds_open(const char *name, const char *path, const char *split, long limit,
            struct ds_dataset *out, char *err, size_t errlen)
{
    const struct ds_spec *sp;
    const char *prefix;
    struct ds_store *st;
    struct stat sb;
    int ch, p;

    if (!out) {
        ds_err(err, errlen, "ds_open: out is NULL (caller bug)");
        return -1;
    }
    /* A failed open leaves out zeroed so that ds_close(out) is always safe. */
    memset(out, 0, sizeof *out);
    if (!name || !split) {
        ds_err(err, errlen, "ds_open: dataset name and split are required (set dataset.name and dataset.split)");
        return -1;
    }
    sp = ds_find(name);
    if (!sp) {
        ds_err(err, errlen, "dataset '%s': not supported yet (supported: fashion-mnist, mnist)", name);
        return -1;
    }
    if (strcmp(split, "train") == 0) {
        prefix = "train";
    } else if (strcmp(split, "test") == 0) {
        prefix = "t10k";
    } else {
        ds_err(err, errlen, "dataset '%s' has no split '%s' (use 'train' or 'test'; "
               "hold out a validation set from 'train' yourself)", name, split);
        return -1;
    }
    if (limit < 0) {
        ds_err(err, errlen, "dataset '%s': limit %ld is negative (use 0 for all images)", name, limit);
        return -1;
    }
    if (!path || !*path)
        path = sp->default_path;
    if (!path) {
        ds_err(err, errlen, "dataset '%s': no path given (set dataset.path to the directory holding its files)", name);
        return -1;
    }
    /* Check the directory first: "dir missing" has a different remedy than
     * "one file missing", and saying so saves the user a guess. */
    if (stat(path, &sb) != 0) {
        ds_err(err, errlen, "%s: %s (%s)", path, strerror(errno), sp->missing_hint);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        ds_err(err, errlen, "%s: not a directory (set dataset.path to the directory holding the %s files)",
               path, name);
        return -1;
    }

    st = calloc(1, sizeof *st);
    if (!st) {
        ds_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    switch (sp->format) {
    case DS_FMT_IDX:
        if (ds_idx_load(path, prefix, sp->h, sp->w, sp->classes, sp->hint,
                        sp->missing_hint, st, err, errlen) != 0) {
            free(st);
            return -1;
        }
        break;
    }

    for (ch = 0; ch < st->c && ch < 3; ch++)
        for (p = 0; p < 256; p++)
            st->lut[ch][p] = ((float)p / 255.0f - sp->mean) / sp->std;

    snprintf(out->name, sizeof out->name, "%s", sp->name);
    out->n = (limit == 0 || limit > st->total) ? st->total : limit;
    out->c = st->c;
    out->h = st->h;
    out->w = st->w;
    out->classes = sp->classes;
    for (ch = 0; ch < 3; ch++) {
        out->mean[ch] = ch < st->c ? sp->mean : 0.0f;
        out->std[ch] = ch < st->c ? sp->std : 0.0f;
    }
    out->impl = st;
    return 0;
}

/* Shared argument check of ds_get / ds_get_u8. */
static int ds_check_range(const struct ds_dataset *ds, long first, long count,
                          const void *x, const char *fn, char *err, size_t errlen)
{
    if (!ds || !ds->impl) {
        ds_err(err, errlen, "%s: dataset is not open (call ds_open first)", fn);
        return -1;
    }
    if (first < 0 || count < 0 || first > ds->n || count > ds->n - first) {
        ds_err(err, errlen, "%s: range [%ld, %ld+%ld) outside %s's %ld images (check batch bounds)",
               fn, first, first, count, ds->name, ds->n);
        return -1;
    }
    if (count > 0 && !x) {
        ds_err(err, errlen, "%s: output buffer is NULL (caller bug)", fn);
        return -1;
    }
    return 0;
}

int ds_get(const struct ds_dataset *ds, long first, long count, float *x,
           int64_t *y, char *err, size_t errlen)
{
    const struct ds_store *st;
    size_t plane, per, i, k;
    int ch;

    if (ds_check_range(ds, first, count, x, "ds_get", err, errlen) != 0)
        return -1;
    st = ds->impl;
    plane = (size_t)st->h * (size_t)st->w;
    per = (size_t)st->c * plane;
    for (i = 0; i < (size_t)count; i++) {
        const uint8_t *src = st->pixels + ((size_t)first + i) * per;
        float *dst = x + i * per;
        for (ch = 0; ch < st->c; ch++) {
            const float *lut = st->lut[ch < 3 ? ch : 2];
            for (k = 0; k < plane; k++)
                dst[(size_t)ch * plane + k] = lut[src[(size_t)ch * plane + k]];
        }
        if (y)
            y[i] = st->labels[(size_t)first + i];
    }
    return 0;
}

int ds_get_u8(const struct ds_dataset *ds, long first, long count, uint8_t *x,
              char *err, size_t errlen)
{
    const struct ds_store *st;
    size_t per;

    if (ds_check_range(ds, first, count, x, "ds_get_u8", err, errlen) != 0)
        return -1;
    if (count == 0)
        return 0;
    st = ds->impl;
    per = (size_t)st->c * (size_t)st->h * (size_t)st->w;
    memcpy(x, st->pixels + (size_t)first * per, (size_t)count * per);
    return 0;
}

void ds_close(struct ds_dataset *ds)
{
    struct ds_store *st;
    if (!ds)
        return;
    st = ds->impl;
    if (st) {
        free(st->pixels);
        free(st->labels);
        free(st);
    }
    memset(ds, 0, sizeof *ds);
}
