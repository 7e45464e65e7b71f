/* ds_internal.h - what dataset.c shares with the per-format readers.
 * Not part of the public interface: only the .c files of worker/datasets include it. */
#ifndef RECAL_DS_INTERNAL_H
#define RECAL_DS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

#define DS_MAX_FILES 8

/* Every reader decodes its split into this one in-memory form, so ds_get and
 * ds_get_u8 are written once in dataset.c. Exactly one of pixels, fpixels
 * and lazy_get is set:
 *  - pixels: uint8, normalized through lut by ds_get (IDX, CIFAR, npy uint8);
 *  - fpixels: float32 already normalized, copied as is (npy float32);
 *  - lazy_get: a reader that decodes at ds_get time (imagenet), owning lazy. */
struct ds_store {
    uint8_t *pixels; /* total * c*h*w bytes, NCHW */
    float *fpixels;  /* total * c*h*w floats, NCHW */
    int32_t *labels; /* total labels, each in [0, classes); NULL for lazy readers */
    long total;      /* images in the files (before limit) */
    int c, h, w;
    int classes;       /* set by readers whose class count depends on the data (npy) */
    long max_label_at; /* npy: index of the first highest label + 1 (0: not known) */
    float lut[3][256]; /* per-channel pixel -> normalized float, filled by dataset.c */
    void *lazy;
    int (*lazy_get)(void *lazy, long first, long count, float *x, int64_t *y, char *err, size_t errlen);
    long (*lazy_skipped)(void *lazy);
    const char *(*lazy_skipped_name)(void *lazy, long i);
    int (*lazy_boxes)(void *lazy, long id, struct ds_box *out, int max); /* NULL: no boxes */
    long (*lazy_bad_boxes)(void *lazy, const char **first);
    void (*lazy_free)(void *lazy);
    const char *(*lazy_source)(void *lazy, long id); /* the file image id is decoded from */
    long (*lazy_label)(void *lazy, long id);         /* image id's label, from the listing */
    /* The files the reader read (ds_file): what a resume fingerprints. first,
     * count: the images whose pixels the file holds (count 0: labels or boxes
     * for every image). Lazy readers list only such files here. */
    struct ds_src {
        char *path;
        long first, count;
    } src[DS_MAX_FILES];
    int nsrc;
    int src_lost; /* a ds_store_add_file failed: ds_open_opts refuses the data set */
};

/* Record a file a reader read (see ds_store.src); out of memory or more
 * than DS_MAX_FILES sets src_lost instead. Freed by ds_close. */
void ds_store_add_file(struct ds_store *st, const char *path, long first, long count);

/* Free what a reader put in st (pixels, labels, the file list; not the
 * lazy reader's own state) and zero those fields. */
void ds_store_release(struct ds_store *st);

/* printf into err (when err and errlen allow); shared by the readers. */
void ds_errf(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Read the whole file at path into *buf (malloc'd) / *len. -1 with a message
 * naming the file (missing_hint appended to "No such file or directory"). */
int ds_slurp(const char *path, const char *missing_hint, uint8_t **buf, size_t *len, char *err, size_t errlen);

/* IDX reader (idx.c). Loads <dir>/<prefix>-images-idx3-ubyte(.gz) and
 * <prefix>-labels-idx1-ubyte(.gz); expects h x w uint8 images and labels
 * < classes. hint is the remedy appended to content errors, missing_hint the
 * one appended to "No such file or directory". Fills st (pixels, labels,
 * total, c, h, w) and returns 0, or -1 with err set and st untouched. */
int ds_idx_load(const char *dir, const char *prefix, int h, int w, int classes, const char *hint,
                const char *missing_hint, struct ds_store *st, char *err, size_t errlen);

/* CIFAR binary reader (cifar.c). variant 10: <dir>/data_batch_1..5.bin
 * (train) or test_batch.bin; variant 100: <dir>/train.bin or test.bin, with
 * coarse choosing the 20 coarse labels over the 100 fine ones. Fills st
 * (pixels, labels, total, 3x32x32). */
int ds_cifar_load(const char *dir, int variant, int train, int coarse, struct ds_store *st, char *err, size_t errlen);

/* One CIFAR file's bytes (buf, len; path only named in messages) appended
 * to st at *at: expect records of nlab label bytes + 3072 pixels, label
 * byte lab in [0, classes). cifar.c's per-file step, exposed so the fuzz
 * target can use batches of a few records instead of 10000. */
int ds_cifar_parse(const char *path, const uint8_t *buf, size_t len, int variant, long expect, int nlab, int lab,
                   int classes, struct ds_store *st, long *at, char *err, size_t errlen);

/* npy reader (npy_ds.c): <dir>/images.npy + labels.npy (test) or
 * images-train.npy + labels-train.npy (train). classes 0 = max label + 1.
 * Fills st (pixels or fpixels, labels, total, c, h, w, classes). */
int ds_npy_load(const char *dir, int train, int classes, struct ds_store *st, char *err, size_t errlen);

/* ImageNet reader (imagenet.c): lists <dir>/<split>, sets st->lazy*, total,
 * c, h, w, classes. mean/std per channel for the normalization. */
int ds_imagenet_open(const char *dir, const char *split, const struct ds_options *opt, const float mean[3],
                     const float std[3], struct ds_store *st, char *err, size_t errlen);

#endif
