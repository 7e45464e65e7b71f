/* npy.h - NumPy .npy reader/writer (format 1.0; little-endian, C order).
 *
 * Readers accept the header layouts numpy writes (any key order, 1-tuples,
 * 0-d shapes). The writer produces byte-for-byte what np.save writes for the
 * same array, so np.load (and mmap_mode='r') read our files. */
#ifndef RECAL_NPY_H
#define RECAL_NPY_H

#include <stddef.h>
#include <stdint.h>

enum npy_dtype { NPY_F32, NPY_F64, NPY_I64, NPY_I32, NPY_U8, NPY_F16, NPY_U16 };

#define NPY_MAX_DIMS 8

struct npy_array {
    enum npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    void *data; /* malloc'd (or inside map); NPY_F16 holds IEEE half bit patterns (uint16_t) */
    size_t nbytes;
    void *map; /* npy_map: the mapped file (data points into it), else NULL */
    size_t map_len;
};

/* NumPy's name of a dtype ("float32", "int64", ...), for messages. */
const char *npy_dtype_name(enum npy_dtype t);

/* Read path into out. Returns 0, or -1 with a message naming the file: missing
 * file, bad magic, unsupported version, header parse errors, big-endian or
 * fortran_order True, unsupported dtype, truncated body, trailing bytes. */
int npy_read(const char *path, struct npy_array *out, char *err, size_t errlen);

/* npy_read's header checks and a regular file of exactly the header's size,
 * then the data mapped read-only instead of read (a precomputed method's
 * maps of a whole split: pages are read as rows are used; the file must
 * not be rewritten while mapped). Freed by npy_free. */
int npy_map(const char *path, struct npy_array *out, char *err, size_t errlen);

/* Free out->data and zero the struct; safe on a zeroed struct. */
void npy_free(struct npy_array *a);

/* Bytes per element of a dtype (0 for an invalid value). */
size_t npy_itemsize(enum npy_dtype dtype);

/* Elements in the array (product of shape; 1 for 0-d). */
size_t npy_count(const struct npy_array *a);

/* Convert any numeric dtype to a newly malloc'd float32 / int64 buffer of
 * npy_count(a) elements (caller frees; NULL on out of memory). Floats go to
 * int64 by truncation toward zero. */
float *npy_to_f32(const struct npy_array *a);
int64_t *npy_to_i64(const struct npy_array *a);

/* Elements first .. first + n − 1 of a (any numeric dtype; a mapped file's
 * rows too) as float32 into dst, loaded by memcpy: a writer need not align
 * the data. The caller checks the range against npy_count. */
void npy_range_f32(const struct npy_array *a, size_t first, size_t n, float *dst);

/* IEEE half <-> float, for callers building NPY_F16 data. */
float npy_f16_to_f32(uint16_t h);
uint16_t npy_f32_to_f16(float f);

/* Write atomically: to "<path>.tmp.<pid>", fsync, rename over path. Header
 * padded as numpy pads it (multiple of 64 bytes, '\n' terminated). Data is
 * given already in dtype, C order. 0 or -1 with message naming the file. */
int npy_write(const char *path, enum npy_dtype dtype, int ndim, const int64_t *shape, const void *data, char *err,
              size_t errlen);

#endif
