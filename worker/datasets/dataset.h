/* dataset.h - dataset readers behind one interface.
 *
 * A reader loads a whole split into memory at ds_open (uint8 pixels + labels),
 * validates it completely there, and ds_get then only copies and normalizes.
 * Today: "fashion-mnist" and "mnist" (IDX, gzip'd or plain). CIFAR, ImageNet
 * and npy readers are added beside idx.c and dispatched by name in dataset.c. */
#ifndef RECAL_DATASET_H
#define RECAL_DATASET_H

#include <stddef.h>
#include <stdint.h>

struct ds_dataset {
    char name[32];        /* "fashion-mnist" */
    long n;               /* images available after limit */
    int c, h, w;          /* 1, 28, 28 */
    int classes;          /* 10 */
    float mean[3], std[3];/* normalization applied by ds_get: fashion-mnist 0.2860/0.3530, mnist 0.1307/0.3081 */
    void *impl;           /* reader-private */
};

/* Open a dataset. name: "fashion-mnist" | "mnist" (others: "not supported yet"
 * error naming the name). split: "train" | "test". limit 0 = all, else
 * min(limit, available). Returns 0, or -1 with a message in err that names
 * the file, what is wrong and what to do. */
int ds_open(const char *name, const char *path, const char *split, long limit,
            struct ds_dataset *out, char *err, size_t errlen);

/* Copy images [first, first+count) normalized ((pixel/255 - mean)/std) as
 * float32 NCHW into x (count*c*h*w floats) and labels into y (may be NULL).
 * 0 or -1 (range error). */
int ds_get(const struct ds_dataset *ds, long first, long count, float *x,
           int64_t *y, char *err, size_t errlen);

/* Raw uint8 pixels [first, first+count) NCHW, for tests and figures. */
int ds_get_u8(const struct ds_dataset *ds, long first, long count, uint8_t *x,
              char *err, size_t errlen);

/* Free what ds_open loaded; safe on a zeroed or already-closed dataset. */
void ds_close(struct ds_dataset *ds);

#endif
