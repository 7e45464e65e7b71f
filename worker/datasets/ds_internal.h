/* ds_internal.h - what dataset.c shares with the per-format readers.
 * Not part of the public interface: only the .c files of worker/datasets include it. */
#ifndef RECAL_DS_INTERNAL_H
#define RECAL_DS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Every reader decodes its split into this one in-memory form, so ds_get and
 * ds_get_u8 are written once in dataset.c. */
struct ds_store {
    uint8_t *pixels;      /* total * c*h*w bytes, NCHW */
    uint8_t *labels;      /* total bytes, each < classes */
    long total;           /* images in the files (before limit) */
    int c, h, w;
    float lut[3][256];    /* per-channel pixel -> normalized float, filled by dataset.c */
};

/* IDX reader (idx.c). Loads <dir>/<prefix>-images-idx3-ubyte(.gz) and
 * <prefix>-labels-idx1-ubyte(.gz); expects h x w uint8 images and labels
 * < classes. hint is the remedy appended to content errors, missing_hint the
 * one appended to "No such file or directory". Fills st (pixels, labels,
 * total, c, h, w) and returns 0, or -1 with err set and st untouched. */
int ds_idx_load(const char *dir, const char *prefix, int h, int w, int classes,
                const char *hint, const char *missing_hint,
                struct ds_store *st, char *err, size_t errlen);

#endif
