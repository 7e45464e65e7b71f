/* dataset.h - dataset readers behind one interface.
 *
 * Most readers load a whole split into memory at ds_open (uint8 pixels +
 * labels), validate it completely there, and ds_get then only copies and
 * normalizes: "fashion-mnist", "mnist" (IDX), "cifar10", "cifar100" (binary
 * versions) and "npy" (images.npy + labels.npy; float32 images are kept as
 * floats). "imagenet" cannot be preloaded (50,000 x 224x224x3): ds_open only
 * lists the files, and ds_get decodes and resizes its range lazily. */
#ifndef RECAL_DATASET_H
#define RECAL_DATASET_H

#include <stddef.h>
#include <stdint.h>

struct ds_dataset {
    char name[32];         /* "fashion-mnist" */
    long n;                /* images available after limit */
    int c, h, w;           /* 1, 28, 28 */
    int classes;           /* 10 */
    long max_label_at;     /* npy without dataset.classes: the first image holding the highest
                              label (classes − 1), so a label beyond the model is named; else -1 */
    float mean[3], std[3]; /* normalization applied by ds_get: fashion-mnist 0.2860/0.3530, mnist 0.1307/0.3081 */
    void *impl;            /* reader-private */
};

enum ds_on_error { DS_ON_ERROR_FAIL = 0, DS_ON_ERROR_SKIP = 1 };

/* A split's listing in one buffer: what ds_open would otherwise read from
 * the split's directories (imagenet: its class folders and their files).
 * ds_list makes it; ds_open_opts takes it through ds_options.listing
 * instead of reading the directories, so that one MPI rank lists and the
 * others receive the bytes (recal run). len 0: nothing to list (the
 * readers of fixed file names). Plain bytes: sent as they are. */
struct ds_listing {
    char *buf;
    size_t len;
    long files; /* image files listed */
};

/* List the split of dataset `name` at path (NULL or "": the dataset's
 * default) into out; a dataset without a listing (not imagenet), an unknown
 * name or split give len 0 and 0 (ds_open says what is wrong). 0, or -1
 * with a message naming the directory. */
int ds_list(const char *name, const char *path, const char *split, struct ds_listing *out, char *err, size_t errlen);
void ds_listing_free(struct ds_listing *l);

/* Options beyond name/path/split/limit; a zeroed struct (or NULL) means the
 * dataset's defaults. Keys of the YAML `dataset:` section (docs/datasets.md). */
struct ds_options {
    int resize;                /* imagenet: 0 = 224 (direct resize to 224x224, no crop);
                                  with crop: the shorter side is resized to this */
    int crop;                  /* imagenet: 0 = none, else center crop crop x crop after resize */
    int label_coarse;          /* cifar100: 1 = the 20 coarse labels, 0 = the 100 fine ones */
    enum ds_on_error on_error; /* lazily decoded images (imagenet): fail | skip */
    int n_mean, n_std;         /* 0 = dataset default; else 1 (all channels) or c values */
    float mean[3], std[3];
    int classes;                      /* npy: 0 = max label + 1 */
    int threads;                      /* imagenet decode threads; 0 = 2 */
    int dct_scaling;                  /* imagenet: 1 = decode large JPEGs at a reduced size in the
                                         DCT domain first (faster, not bit-exact with PIL) */
    const struct ds_listing *listing; /* imagenet: ds_list's listing of this path and split, read
                                         instead of the directories; NULL or len 0: list them */
};

/* Open a dataset with options (NULL = defaults). Same contract as ds_open. */
int ds_open_opts(const char *name, const char *path, const char *split, long limit, const struct ds_options *opt,
                 struct ds_dataset *out, char *err, size_t errlen);

/* Open a dataset. name: "fashion-mnist" | "mnist" | "cifar10" | "cifar100" |
 * "npy" | "imagenet" (others: an error listing these). split: "train" |
 * "test" (imagenet: "val" | "train"; npy: "test" | "train"). limit 0 = all, else
 * min(limit, available). Returns 0, or -1 with a message in err that names
 * the file, what is wrong and what to do. */
int ds_open(const char *name, const char *path, const char *split, long limit, struct ds_dataset *out, char *err,
            size_t errlen);

/* Copy images [first, first+count) normalized ((pixel/255 - mean)/std) as
 * float32 NCHW into x (count*c*h*w floats) and labels into y (may be NULL).
 * npy float32 images are copied as stored (already normalized). imagenet
 * decodes here; a damaged image is -1 naming the file (on_error: fail), or
 * (on_error: skip) zero pixels and label -1 in y, counted by ds_skipped.
 * 0 or -1 (range error, decode error, out of memory). */
int ds_get(const struct ds_dataset *ds, long first, long count, float *x, int64_t *y, char *err, size_t errlen);

/* Raw uint8 pixels [first, first+count) NCHW, for tests and figures. -1 for
 * datasets that hold no uint8 pixels (npy float32, imagenet: the resize
 * output is float) with a message saying so. */
int ds_get_u8(const struct ds_dataset *ds, long first, long count, uint8_t *x, char *err, size_t errlen);

/* Distinct images replaced by zeros under on_error: skip so far (always 0
 * for preloaded datasets, which are validated whole at open). */
long ds_skipped(const struct ds_dataset *ds);
/* Path of the i-th skipped image (0 <= i < ds_skipped), in the order met;
 * NULL when out of range. Valid until ds_close. */
const char *ds_skipped_name(const struct ds_dataset *ds, long i);

/* A bounding box in the model input's pixel coordinates (x right, y down;
 * pixel (r, q) has its centre at (q + ½, r + ½)), and its class index (-1:
 * a class the dataset does not list). */
struct ds_box {
    float x0, y0, x1, y1;
    int cls;
};
/* The boxes of image id (at most max into out) after ds_get has read it:
 * imagenet's flat layout takes them from LOC_<split>_solution.csv ("wnid
 * xmin ymin xmax ymax ..." in the stored image's pixels, xmax and ymax the
 * last column and row covered: [xmin, xmax + 1) continuous) through the
 * same resize and crop as the image. Their count (0: none listed), or -1 when
 * the dataset has no boxes at all, -2 when the image was not read yet. */
int ds_boxes(const struct ds_dataset *ds, long id, struct ds_box *out, int max);

/* Boxes of the box file left out at open (not 4 finite numbers, negative,
 * beyond any image, or xmax < xmin), and the first as "file:line: image:
 * why" in *first; 0 when none or no boxes at all. */
long ds_bad_boxes(const struct ds_dataset *ds, const char **first);

/* A dataset's default normalization (docs/datasets.md): its values per
 * channel into mean/std and their count (1 or 3; npy: 1, mean 0 std 1);
 * 0 for an unknown name. */
int ds_default_normalization(const char *name, float mean[3], float std[3]);

/* Where image id (0 <= id < ds->n) comes from: the file, and in *record
 * (may be NULL) its record index in that file, or -1 when the file is the
 * image (imagenet). NULL when out of range. Valid until ds_close. */
const char *ds_source(const struct ds_dataset *ds, long id, long *record);

/* Image id's label without reading its pixels (the report's example
 * images, one per class); -1 when id is out of range. */
long ds_label(const struct ds_dataset *ds, long id);

/* The i-th file the reader reads for images [0, ds->n): labels and
 * box files first, then the files holding pixels in image order (every
 * image file for imagenet; a CIFAR batch only when an image of the run is
 * in it). NULL past the last one. What --resume fingerprints. */
const char *ds_file(const struct ds_dataset *ds, long i);

/* Free what ds_open loaded; safe on a zeroed or already-closed dataset. */
void ds_close(struct ds_dataset *ds);

#endif
