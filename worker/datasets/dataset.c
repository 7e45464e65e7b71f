/* dataset.c - dataset dispatch by name, and the shared ds_get/ds_get_u8.
 *
 * Readers (idx.c, cifar.c, npy_ds.c, imagenet.c) only decode files into a
 * struct ds_store; everything format-independent (name table, split names,
 * limit, normalization, range checks) lives here once. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open/fsync/O_CLOEXEC without compiler extensions */
#endif
#include "dataset.h"
#include "ds_internal.h"
#include "inet_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum ds_format { DS_FMT_IDX, DS_FMT_CIFAR10, DS_FMT_CIFAR100, DS_FMT_NPY, DS_FMT_IMAGENET };

struct ds_spec {
    const char *name;
    enum ds_format format;
    int c, h, w, classes;     /* 0: decided by the reader (npy) or options (imagenet) */
    float mean[3], std[3];    /* per channel, of the train split's pixels/255 */
    const char *default_path; /* used when path is NULL or "" (NULL: path required) */
    const char *hint;         /* remedy for damaged files */
    const char *missing_hint; /* remedy for missing files */
};

static const struct ds_spec ds_specs[] = {
    {"fashion-mnist",
     DS_FMT_IDX,
     1,
     28,
     28,
     10,
     {0.2860f},
     {0.3530f},
     "/usr/share/datasets/fashion-mnist",
     "re-download or reinstall dataset-fashion-mnist",
     "install Debian's dataset-fashion-mnist or set dataset.path"},
    {"mnist",
     DS_FMT_IDX,
     1,
     28,
     28,
     10,
     {0.1307f},
     {0.3081f},
     NULL,
     "re-download the MNIST IDX files",
     "download the four MNIST IDX files (train-/t10k- images-idx3/labels-idx1 -ubyte.gz) "
     "into this directory or set dataset.path"},
    {"cifar10",
     DS_FMT_CIFAR10,
     3,
     32,
     32,
     10,
     {0.4914f, 0.4822f, 0.4465f},
     {0.2471f, 0.2435f, 0.2616f},
     NULL,
     NULL,
     "download https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz, unpack it and set "
     "dataset.path to its cifar-10-batches-bin directory"},
    {"cifar100",
     DS_FMT_CIFAR100,
     3,
     32,
     32,
     100,
     {0.5071f, 0.4865f, 0.4409f},
     {0.2673f, 0.2564f, 0.2762f},
     NULL,
     NULL,
     "download https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz, unpack it and set "
     "dataset.path to its cifar-100-binary directory"},
    /* npy uint8 images default to pixel/255; float32 ones are used as stored. */
    {"npy",
     DS_FMT_NPY,
     0,
     0,
     0,
     0,
     {0.0f, 0.0f, 0.0f},
     {1.0f, 1.0f, 1.0f},
     NULL,
     NULL,
     "set dataset.path to a directory holding images.npy and labels.npy"},
    {"imagenet",
     DS_FMT_IMAGENET,
     3,
     224,
     224,
     0,
     {0.485f, 0.456f, 0.406f},
     {0.229f, 0.224f, 0.225f},
     NULL,
     NULL,
     "set dataset.path to the directory holding val/ (and train/)"},
};

static const struct ds_spec *ds_find(const char *name) {
    size_t i;
    for (i = 0; i < sizeof ds_specs / sizeof ds_specs[0]; i++)
        if (strcmp(ds_specs[i].name, name) == 0) return &ds_specs[i];
    return NULL;
}

/* The split names each format knows; NULL result = bad split (err set). */
static int ds_check_split(const struct ds_spec *sp, const char *split, char *err, size_t errlen) {
    if (sp->format == DS_FMT_IMAGENET) {
        if (strcmp(split, "val") == 0 || strcmp(split, "train") == 0) return 0;
        ds_errf(err, errlen,
                "dataset 'imagenet' has no split '%s' (use 'val' or 'train'; ImageNet's "
                "test labels are not public)",
                split);
        return -1;
    }
    if (strcmp(split, "train") == 0 || strcmp(split, "test") == 0) return 0;
    ds_errf(err, errlen,
            "dataset '%s' has no split '%s' (use 'train' or 'test'; "
            "hold out a validation set from 'train' yourself)",
            sp->name, split);
    return -1;
}

int ds_list(const char *name, const char *path, const char *split, struct ds_listing *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const struct ds_spec *sp = name ? ds_find(name) : NULL;
    if (!sp || sp->format != DS_FMT_IMAGENET || !split || ds_check_split(sp, split, NULL, 0)) return 0;
    if (!path || !*path) path = sp->default_path;
    return path ? inet_list(path, split, out, err, errlen) : 0;
}

void ds_listing_free(struct ds_listing *l) {
    if (!l) return;
    free(l->buf);
    memset(l, 0, sizeof *l);
}

int ds_open(const char *name, const char *path, const char *split, long limit, struct ds_dataset *out, char *err,
            size_t errlen) {
    return ds_open_opts(name, path, split, limit, NULL, out, err, errlen);
}

int ds_open_opts(const char *name, const char *path, const char *split, long limit, const struct ds_options *opt,
                 struct ds_dataset *out, char *err, size_t errlen) {
    static const struct ds_options defaults;
    const struct ds_spec *sp;
    struct ds_store *st;
    struct stat sb;
    float mean[3], std[3];
    int ch, p, rc = -1, train;

    if (!out) {
        ds_errf(err, errlen, "ds_open: out is NULL (caller bug)");
        return -1;
    }
    /* A failed open leaves out zeroed so that ds_close(out) is always safe. */
    memset(out, 0, sizeof *out);
    if (!opt) opt = &defaults;
    if (!name || !split) {
        ds_errf(err, errlen, "ds_open: dataset name and split are required (set dataset.name and dataset.split)");
        return -1;
    }
    sp = ds_find(name);
    if (!sp) {
        ds_errf(err, errlen,
                "dataset '%s': not supported (supported: fashion-mnist, mnist, cifar10, "
                "cifar100, imagenet, npy)",
                name);
        return -1;
    }
    if (ds_check_split(sp, split, err, errlen) != 0) return -1;
    train = strcmp(split, "train") == 0;
    if (limit < 0) {
        ds_errf(err, errlen, "dataset '%s': limit %ld is negative (use 0 for all images)", name, limit);
        return -1;
    }
    if (opt->label_coarse && sp->format != DS_FMT_CIFAR100) {
        ds_errf(err, errlen, "dataset '%s': dataset.label: coarse applies to cifar100 only (remove it)", name);
        return -1;
    }
    if ((opt->resize || opt->crop) && sp->format != DS_FMT_IMAGENET) {
        ds_errf(err, errlen, "dataset '%s': dataset.resize/crop apply to imagenet only (remove them)", name);
        return -1;
    }
    if (opt->classes && sp->format != DS_FMT_NPY) {
        ds_errf(err, errlen, "dataset '%s': dataset.classes applies to npy only (%s's class count is fixed)", name,
                name);
        return -1;
    }
    if (opt->n_mean < 0 || opt->n_mean > 3 || opt->n_std < 0 || opt->n_std > 3) {
        ds_errf(err, errlen, "dataset '%s': mean/std need 1 or 3 values", name);
        return -1;
    }
    if (!path || !*path) path = sp->default_path;
    if (!path) {
        ds_errf(err, errlen, "dataset '%s': no path given (set dataset.path to the directory holding its files)", name);
        return -1;
    }
    /* Check the directory first: "dir missing" has a different remedy than
     * "one file missing", and saying so saves the user a guess. */
    if (stat(path, &sb) != 0) {
        ds_errf(err, errlen, "%s: %s (%s)", path, strerror(errno), sp->missing_hint);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) {
        ds_errf(err, errlen, "%s: not a directory (set dataset.path to the directory holding the %s files)", path,
                name);
        return -1;
    }

    /* Per-channel mean/std: the dataset's, or the options' (1 value = all channels). */
    for (ch = 0; ch < 3; ch++) {
        int k = sp->c == 1 ? 0 : ch; /* 1-channel rows give one value */
        mean[ch] = opt->n_mean ? opt->mean[opt->n_mean == 1 ? 0 : ch] : sp->mean[k];
        std[ch] = opt->n_std ? opt->std[opt->n_std == 1 ? 0 : ch] : sp->std[k];
        if (!(std[ch] > 0.0f)) {
            ds_errf(err, errlen, "dataset '%s': std[%d] = %g must be > 0 (fix dataset.std)", name, ch, (double)std[ch]);
            return -1;
        }
    }

    st = calloc(1, sizeof *st);
    if (!st) {
        ds_errf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    switch (sp->format) {
    case DS_FMT_IDX:
        rc = ds_idx_load(path, train ? "train" : "t10k", sp->h, sp->w, sp->classes, sp->hint, sp->missing_hint, st, err,
                         errlen);
        break;
    case DS_FMT_CIFAR10:
    case DS_FMT_CIFAR100:
        rc = ds_cifar_load(path, sp->format == DS_FMT_CIFAR10 ? 10 : 100, train, opt->label_coarse, st, err, errlen);
        break;
    case DS_FMT_NPY:
        rc = ds_npy_load(path, train, opt->classes, st, err, errlen);
        break;
    case DS_FMT_IMAGENET:
        rc = ds_imagenet_open(path, split, opt, mean, std, st, err, errlen);
        break;
    }
    if (rc != 0) {
        for (int k = 0; k < st->nsrc; k++) free(st->src[k].path);
        free(st);
        return -1;
    }
    if (st->src_lost) {
        ds_errf(err, errlen, "%s: out of memory listing the data set's files (free memory)", path);
        out->impl = st;
        ds_close(out);
        return -1;
    }
    if ((opt->n_mean == 3 || opt->n_std == 3) && st->c != 3) {
        ds_errf(err, errlen,
                "%s: dataset.mean/std have 3 values but the images have %d channel(s) "
                "(give one value)",
                path, st->c);
        out->impl = st;
        ds_close(out);
        return -1;
    }

    for (ch = 0; ch < st->c && ch < 3; ch++)
        for (p = 0; p < 256; p++) st->lut[ch][p] = ((float)p / 255.0f - mean[ch]) / std[ch];

    snprintf(out->name, sizeof out->name, "%s", sp->name);
    out->n = (limit == 0 || limit > st->total) ? st->total : limit;
    out->c = st->c;
    out->h = st->h;
    out->w = st->w;
    out->classes = st->classes ? st->classes : sp->classes;
    out->max_label_at = opt->classes == 0 ? st->max_label_at - 1 : -1;
    for (ch = 0; ch < 3; ch++) {
        out->mean[ch] = ch < st->c ? mean[ch] : 0.0f;
        out->std[ch] = ch < st->c ? std[ch] : 0.0f;
    }
    out->impl = st;
    return 0;
}

/* Shared argument check of ds_get / ds_get_u8. */
static int ds_check_range(const struct ds_dataset *ds, long first, long count, const void *x, const char *fn, char *err,
                          size_t errlen) {
    if (!ds || !ds->impl) {
        ds_errf(err, errlen, "%s: dataset is not open (call ds_open first)", fn);
        return -1;
    }
    if (first < 0 || count < 0 || first > ds->n || count > ds->n - first) {
        ds_errf(err, errlen, "%s: range [%ld, %ld+%ld) outside %s's %ld images (check batch bounds)", fn, first, first,
                count, ds->name, ds->n);
        return -1;
    }
    if (count > 0 && !x) {
        ds_errf(err, errlen, "%s: output buffer is NULL (caller bug)", fn);
        return -1;
    }
    return 0;
}

int ds_get(const struct ds_dataset *ds, long first, long count, float *x, int64_t *y, char *err, size_t errlen) {
    const struct ds_store *st;
    size_t plane, per, i, k;
    int ch;

    if (ds_check_range(ds, first, count, x, "ds_get", err, errlen) != 0) return -1;
    st = ds->impl;
    if (count == 0) return 0;
    if (st->lazy_get) return st->lazy_get(st->lazy, first, count, x, y, err, errlen);
    plane = (size_t)st->h * (size_t)st->w;
    per = (size_t)st->c * plane;
    if (st->fpixels) memcpy(x, st->fpixels + (size_t)first * per, (size_t)count * per * sizeof *x);
    for (i = 0; i < (size_t)count; i++) {
        if (st->pixels) {
            const uint8_t *src = st->pixels + ((size_t)first + i) * per;
            float *dst = x + i * per;
            for (ch = 0; ch < st->c; ch++) {
                const float *lut = st->lut[ch < 3 ? ch : 2];
                for (k = 0; k < plane; k++) dst[(size_t)ch * plane + k] = lut[src[(size_t)ch * plane + k]];
            }
        }
        if (y) y[i] = st->labels[(size_t)first + i];
    }
    return 0;
}

int ds_get_u8(const struct ds_dataset *ds, long first, long count, uint8_t *x, char *err, size_t errlen) {
    const struct ds_store *st;
    size_t per;

    if (ds_check_range(ds, first, count, x, "ds_get_u8", err, errlen) != 0) return -1;
    st = ds->impl;
    if (!st->pixels) {
        ds_errf(err, errlen, "ds_get_u8: %s holds no uint8 pixels (%s; use ds_get)", ds->name,
                st->fpixels ? "its images.npy is float32" : "its images are decoded and resized to float");
        return -1;
    }
    if (count == 0) return 0;
    per = (size_t)st->c * (size_t)st->h * (size_t)st->w;
    memcpy(x, st->pixels + (size_t)first * per, (size_t)count * per);
    return 0;
}

long ds_skipped(const struct ds_dataset *ds) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    return st && st->lazy_skipped ? st->lazy_skipped(st->lazy) : 0;
}

const char *ds_skipped_name(const struct ds_dataset *ds, long i) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    return st && st->lazy_skipped_name ? st->lazy_skipped_name(st->lazy, i) : NULL;
}

int ds_default_normalization(const char *name, float mean[3], float std[3]) {
    const struct ds_spec *sp = ds_find(name);
    if (!sp) return 0;
    const int n = sp->c == 3 ? 3 : 1;
    for (int ch = 0; ch < 3; ch++) {
        mean[ch] = sp->mean[ch < n ? ch : 0];
        std[ch] = sp->c ? sp->std[ch < n ? ch : 0] : 1.0f; /* npy: 0/1 */
    }
    return n;
}

long ds_bad_boxes(const struct ds_dataset *ds, const char **first) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    *first = "";
    return st && st->lazy_bad_boxes ? st->lazy_bad_boxes(st->lazy, first) : 0;
}

int ds_boxes(const struct ds_dataset *ds, long id, struct ds_box *out, int max) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    if (!st || !st->lazy_boxes) return -1;
    if (id < 0 || id >= ds->n) return 0;
    return st->lazy_boxes(st->lazy, id, out, max);
}

const char *ds_source(const struct ds_dataset *ds, long id, long *record) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    if (!st || id < 0 || id >= ds->n) return NULL;
    if (record) *record = -1;
    if (st->lazy_source) return st->lazy_source(st->lazy, id);
    for (int k = 0; k < st->nsrc; k++)
        if (st->src[k].count > 0 && id >= st->src[k].first && id < st->src[k].first + st->src[k].count) {
            if (record) *record = id - st->src[k].first;
            return st->src[k].path;
        }
    return NULL;
}

long ds_label(const struct ds_dataset *ds, long id) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    if (!st || id < 0 || id >= ds->n) return -1;
    if (st->lazy_label) return st->lazy_label(st->lazy, id);
    return st->labels ? st->labels[id] : -1;
}

const char *ds_file(const struct ds_dataset *ds, long i) {
    const struct ds_store *st = ds ? ds->impl : NULL;
    if (!st || i < 0) return NULL;
    for (int k = 0; k < st->nsrc; k++) /* labels and boxes: every image needs them */
        if (st->src[k].count == 0 && i-- == 0) return st->src[k].path;
    if (st->lazy_source) return i < ds->n ? st->lazy_source(st->lazy, i) : NULL;
    for (int k = 0; k < st->nsrc; k++)
        if (st->src[k].count > 0 && st->src[k].first < ds->n && i-- == 0) return st->src[k].path;
    return NULL;
}

void ds_close(struct ds_dataset *ds) {
    struct ds_store *st;
    if (!ds) return;
    st = ds->impl;
    if (st) {
        if (st->lazy_free) st->lazy_free(st->lazy);
        ds_store_release(st);
        free(st);
    }
    memset(ds, 0, sizeof *ds);
}
