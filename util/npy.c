/* npy.c - NumPy .npy reader/writer.
 *
 * Format (numpy/lib/format.py): "\x93NUMPY", version (major, minor), header
 * length (uint16 LE for 1.0, uint32 LE for 2.0/3.0), then an ASCII Python
 * dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...), } padded
 * with spaces and '\n' so the data starts on a 64-byte boundary, then the
 * raw data. We write 1.0; we read 1.0 and also 2.0/3.0, which differ only in
 * the header length field, because numpy picks them on its own for huge
 * headers. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open/fsync/O_CLOEXEC without compiler extensions */
#endif
#include "npy.h"
#include "fault.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__GNUC__)
#define NPY_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define NPY_PRINTF(a, b)
#endif

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64              /* numpy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21      /* numpy's GROWTH_AXIS_MAX_DIGITS */
#define NPY_MAX_HEADER (1u << 24) /* sanity bound for 2.0/3.0 headers */

const char *npy_dtype_name(enum npy_dtype t) {
    switch (t) {
    case NPY_F32:
        return "float32";
    case NPY_F64:
        return "float64";
    case NPY_I64:
        return "int64";
    case NPY_I32:
        return "int32";
    case NPY_U8:
        return "uint8";
    case NPY_F16:
        return "float16";
    case NPY_U16:
        return "uint16";
    }
    return "?";
}

static const struct {
    enum npy_dtype dtype;
    const char *descr;
    size_t size;
} npy_types[] = {
    {NPY_F32, "<f4", 4}, {NPY_F64, "<f8", 8}, {NPY_I64, "<i8", 8}, {NPY_I32, "<i4", 4},
    {NPY_U8, "|u1", 1},  {NPY_F16, "<f2", 2}, {NPY_U16, "<u2", 2},
};
#define NPY_NTYPES (sizeof npy_types / sizeof npy_types[0])

static void NPY_PRINTF(3, 4) npy_err(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (!err || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

size_t npy_itemsize(enum npy_dtype dtype) {
    size_t i;
    for (i = 0; i < NPY_NTYPES; i++)
        if (npy_types[i].dtype == dtype) return npy_types[i].size;
    return 0;
}

static const char *npy_descr(enum npy_dtype dtype) {
    size_t i;
    for (i = 0; i < NPY_NTYPES; i++)
        if (npy_types[i].dtype == dtype) return npy_types[i].descr;
    return NULL;
}

size_t npy_count(const struct npy_array *a) {
    size_t n = 1;
    int i;
    for (i = 0; i < a->ndim; i++) n *= (size_t)a->shape[i];
    return n;
}

/* Element count of a shape, or -1 on negative dims / size_t overflow of
 * count * itemsize. */
static int npy_shape_bytes(int ndim, const int64_t *shape, size_t itemsize, size_t *nbytes) {
    size_t n = itemsize;
    int i;
    for (i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > SIZE_MAX / (uint64_t)shape[i]) return -1;
        n *= (size_t)shape[i];
    }
    *nbytes = n;
    return 0;
}

/* ---- header dict parser ------------------------------------------------ */

/* A cursor over the header text; the parser only needs the subset of Python
 * literal syntax that numpy's repr() produces. */
struct npy_lex {
    const char *s, *p, *end;
};

static void npy_skip_ws(struct npy_lex *lx) {
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r')) lx->p++;
}

/* Parse a quoted string ('...' or "...", no escapes needed for our keys and
 * dtypes) into buf. */
static int npy_parse_str(struct npy_lex *lx, char *buf, size_t buflen) {
    char q;
    size_t n = 0;
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"')) return -1;
    q = *lx->p++;
    while (lx->p < lx->end && *lx->p != q) {
        if (n + 1 >= buflen) return -1;
        buf[n++] = *lx->p++;
    }
    if (lx->p >= lx->end) return -1;
    lx->p++;
    buf[n] = '\0';
    return 0;
}

static int npy_parse_word(struct npy_lex *lx, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, word, n) != 0) return -1;
    lx->p += n;
    return 0;
}

/* Parse "(a, b, ...)" with optional trailing comma: (), (5,), (3, 4). */
static int npy_parse_shape(struct npy_lex *lx, int *ndim, int64_t *shape, const char **why) {
    int nd = 0;
    if (lx->p >= lx->end || *lx->p != '(') {
        *why = "expected '(' to start the shape tuple";
        return -1;
    }
    lx->p++;
    for (;;) {
        int64_t v = 0;
        int digits = 0;
        npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ')') {
            lx->p++;
            break;
        }
        while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) {
                *why = "shape dimension too large";
                return -1;
            }
            v = v * 10 + (*lx->p++ - '0');
            digits++;
        }
        if (digits == 0) {
            *why = "expected a non-negative integer in the shape tuple";
            return -1;
        }
        if (lx->p < lx->end && *lx->p == 'L') /* Python 2 longs in old files */
            lx->p++;
        if (nd == NPY_MAX_DIMS) {
            *why = "more than 8 dimensions";
            return -1;
        }
        shape[nd++] = v;
        npy_skip_ws(lx);
        if (lx->p < lx->end && *lx->p == ',') {
            lx->p++;
            continue;
        }
        if (lx->p < lx->end && *lx->p == ')') {
            lx->p++;
            break;
        }
        *why = "expected ',' or ')' in the shape tuple";
        return -1;
    }
    *ndim = nd;
    return 0;
}

/* Parse the header dict into descr/fortran/shape. On failure sets *why. */
static int npy_parse_header(const char *hdr, size_t len, char *descr, size_t descrlen, int *fortran, int *ndim,
                            int64_t *shape, const char **why) {
    struct npy_lex lx = {hdr, hdr, hdr + len};
    int have_descr = 0, have_fortran = 0, have_shape = 0;
    char key[32];

    npy_skip_ws(&lx);
    if (lx.p >= lx.end || *lx.p != '{') {
        *why = "expected '{' at the start of the header";
        return -1;
    }
    lx.p++;
    for (;;) {
        npy_skip_ws(&lx);
        if (lx.p < lx.end && *lx.p == '}') {
            lx.p++;
            break;
        }
        if (npy_parse_str(&lx, key, sizeof key) != 0) {
            *why = "expected a quoted key or '}'";
            return -1;
        }
        npy_skip_ws(&lx);
        if (lx.p >= lx.end || *lx.p != ':') {
            *why = "expected ':' after a key";
            return -1;
        }
        lx.p++;
        npy_skip_ws(&lx);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            if (npy_parse_str(&lx, descr, descrlen) != 0) {
                *why = "'descr' is not a simple dtype string (structured dtypes are not supported)";
                return -1;
            }
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0 && !have_fortran) {
            if (npy_parse_word(&lx, "True") == 0) *fortran = 1;
            else if (npy_parse_word(&lx, "False") == 0) *fortran = 0;
            else {
                *why = "'fortran_order' must be True or False";
                return -1;
            }
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            if (npy_parse_shape(&lx, ndim, shape, why) != 0) return -1;
            have_shape = 1;
        } else {
            *why = "unexpected or repeated key (expected 'descr', 'fortran_order', 'shape')";
            return -1;
        }
        npy_skip_ws(&lx);
        if (lx.p < lx.end && *lx.p == ',') {
            lx.p++;
            continue;
        }
        if (lx.p < lx.end && *lx.p == '}') {
            lx.p++;
            break;
        }
        *why = "expected ',' or '}' after a value";
        return -1;
    }
    /* numpy pads with spaces and ends with '\n'; old writers padded with NULs. */
    while (lx.p < lx.end && (*lx.p == ' ' || *lx.p == '\n' || *lx.p == '\r' || *lx.p == '\0')) lx.p++;
    if (lx.p != lx.end) {
        *why = "unexpected text after the closing '}'";
        return -1;
    }
    if (!have_descr || !have_fortran || !have_shape) {
        *why = "missing key (need 'descr', 'fortran_order' and 'shape')";
        return -1;
    }
    return 0;
}

/* ---- reader -------------------------------------------------------------- */

static int npy_le16(const unsigned char *p) {
    return p[0] | p[1] << 8;
}
static uint32_t npy_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What a .npy header says: where the data start, its type, shape and size. */
struct npy_head {
    size_t off, nbytes;
    enum npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
};

/* The dtype named by descr (numpy's '<f4', ...); -1 with the remedy otherwise. */
static int npy_dtype_of(const char *path, const char *descr, struct npy_head *h, size_t *itemsize, char *err,
                        size_t errlen) {
    for (size_t i = 0; i < NPY_NTYPES; i++) {
        if (strcmp(descr, npy_types[i].descr) == 0) {
            h->dtype = npy_types[i].dtype;
            *itemsize = npy_types[i].size;
            return 0;
        }
    }
    if (descr[0] == '>' && descr[1] != '\0')
        npy_err(err, errlen,
                "%s: big-endian dtype '%s' is not supported "
                "(convert with a.astype(a.dtype.newbyteorder('<')) and save again)",
                path, descr);
    else /* the remedy for what the array holds: labels want integers, images floats */
        npy_err(err, errlen,
                "%s: unsupported dtype '%s' (supported: <f4 <f8 <i8 <i4 |u1 <f2 <u2; "
                "save labels or class indices with a.astype(np.int64), images or maps with "
                "a.astype(np.float32))",
                path, descr);
    return -1;
}

/* The magic, version and header dictionary of f, read up to the data; 0 or
 * -1 with a message that says what to do. */
static int npy_read_head(FILE *f, const char *path, struct npy_head *h, char *err, size_t errlen) {
    unsigned char pre[12];
    char descr[64];
    const char *why = NULL;
    size_t prelen, itemsize = 0;
    int fortran = 0, rc = -1;
    char *hdr = NULL;
    size_t got = fread(pre, 1, 10, f);
    if (got < 8 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        npy_err(err, errlen, "%s: bad magic: not a .npy file (expected \\x93NUMPY; write it with numpy.save)", path);
        return -1;
    }
    if (pre[6] == 1 && pre[7] == 0) {
        prelen = 10;
    } else if ((pre[6] == 2 || pre[6] == 3) && pre[7] == 0) {
        prelen = 12;
        got += fread(pre + 10, 1, 2, f);
    } else {
        npy_err(err, errlen, "%s: unsupported .npy version %u.%u (supported 1.0, 2.0, 3.0; re-save with numpy.save)",
                path, pre[6], pre[7]);
        return -1;
    }
    if (got < prelen) {
        npy_err(err, errlen, "%s: truncated: file ends inside the header (re-create the file)", path);
        return -1;
    }
    const size_t hlen = prelen == 10 ? (size_t)npy_le16(pre + 8) : (size_t)npy_le32(pre + 8);
    if (hlen > NPY_MAX_HEADER) {
        npy_err(err, errlen, "%s: header length %zu is implausible (file damaged; re-create it)", path, hlen);
        return -1;
    }
    if (!(hdr = malloc(hlen + 1))) {
        npy_err(err, errlen, "%s: out of memory reading the header", path);
        return -1;
    }
    if (fread(hdr, 1, hlen, f) != hlen) {
        npy_err(err, errlen, "%s: truncated: file ends inside the %zu-byte header (re-create the file)", path, hlen);
        goto out;
    }
    hdr[hlen] = '\0';
    if (npy_parse_header(hdr, hlen, descr, sizeof descr, &fortran, &h->ndim, h->shape, &why) != 0) {
        /* quote the header without its padding so the message stays one line */
        for (size_t i = hlen; i > 0 && (hdr[i - 1] == ' ' || hdr[i - 1] == '\n' || hdr[i - 1] == '\0'); i--)
            hdr[i - 1] = '\0';
        npy_err(err, errlen, "%s: header parse error: %s (header: %.120s)", path, why, hdr);
        goto out;
    }
    if (fortran) {
        npy_err(err, errlen,
                "%s: fortran_order is True; only C order is supported "
                "(save with np.ascontiguousarray(a))",
                path);
        goto out;
    }
    if (npy_dtype_of(path, descr, h, &itemsize, err, errlen)) goto out;
    if (npy_shape_bytes(h->ndim, h->shape, itemsize, &h->nbytes) != 0) {
        npy_err(err, errlen, "%s: shape is too large to address (file damaged?)", path);
        goto out;
    }
    h->off = prelen + hlen;
    rc = 0;
out:
    free(hdr);
    return rc;
}

/* The data mapped: a data set's maps need not fit in memory (pages are read
 * as they are touched). */
static int npy_map_data(FILE *f, const char *path, const struct npy_head *h, struct npy_array *out, char *err,
                        size_t errlen) {
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size != h->off + h->nbytes) {
        npy_err(err, errlen,
                "%s: not a regular file of %zu bytes (header and data as its header says): re-create it with "
                "numpy.save",
                path, h->off + h->nbytes);
        return -1;
    }
    void *base = mmap(NULL, h->off + h->nbytes, PROT_READ, MAP_PRIVATE, fileno(f), 0);
    if (base == MAP_FAILED) {
        npy_err(err, errlen, "%s: cannot map %zu bytes: %s", path, h->off + h->nbytes, strerror(errno));
        return -1;
    }
    out->data = (char *)base + h->off;
    out->map = base;
    out->map_len = h->off + h->nbytes;
    return 0;
}

/* The data read whole into memory, refusing a short or overlong file. */
static int npy_read_data(FILE *f, const char *path, const struct npy_head *h, struct npy_array *out, char *err,
                         size_t errlen) {
    void *data = malloc(h->nbytes ? h->nbytes : 1);
    if (!data) {
        npy_err(err, errlen, "%s: out of memory for %zu bytes of data", path, h->nbytes);
        return -1;
    }
    size_t got = fread(data, 1, h->nbytes, f);
    if (got != h->nbytes) {
        if (ferror(f)) npy_err(err, errlen, "%s: read error: %s", path, strerror(errno));
        else
            npy_err(err, errlen,
                    "%s: truncated: expected %zu bytes of data, found %zu "
                    "(the writer was interrupted; re-create the file)",
                    path, h->nbytes, got);
        free(data);
        return -1;
    }
    if (fgetc(f) != EOF) {
        struct stat sb;
        long extra = -1;
        if (fstat(fileno(f), &sb) == 0) extra = (long)((size_t)sb.st_size - (h->off + h->nbytes));
        npy_err(err, errlen,
                "%s: %ld trailing bytes after the %zu bytes of data "
                "(file damaged or not written by numpy.save; re-create it)",
                path, extra, h->nbytes);
        free(data);
        return -1;
    }
    out->data = data;
    return 0;
}

static int npy_load(const char *path, struct npy_array *out, int map, char *err, size_t errlen) {
    struct npy_head h = {0};
    if (!out) {
        npy_err(err, errlen, "npy_read: out is NULL (caller bug)");
        return -1;
    }
    memset(out, 0, sizeof *out);
    FILE *f = fs_fopen_read(path); /* a FIFO fails here instead of blocking the run */
    if (!f) {
        npy_err(err, errlen, "%s: %s (check the path)", path, fs_read_strerror());
        return -1;
    }
    int rc = npy_read_head(f, path, &h, err, errlen);
    /* Check the size on disk before trusting the header with malloc: a
     * damaged shape otherwise asks for hundreds of GB (found by
     * tests/fuzz/fuzz_npy). Same message as a short read. */
    struct stat sb;
    if (!rc && fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (size_t)sb.st_size >= h.off &&
        (size_t)sb.st_size - h.off < h.nbytes) {
        npy_err(err, errlen,
                "%s: truncated: expected %zu bytes of data, found %zu "
                "(the writer was interrupted; re-create the file)",
                path, h.nbytes, (size_t)sb.st_size - h.off);
        rc = -1;
    }
    if (!rc) rc = map ? npy_map_data(f, path, &h, out, err, errlen) : npy_read_data(f, path, &h, out, err, errlen);
    fclose(f);
    if (rc) return -1;
    out->dtype = h.dtype;
    out->ndim = h.ndim;
    memcpy(out->shape, h.shape, sizeof(int64_t) * (size_t)h.ndim);
    out->nbytes = h.nbytes;
    return 0;
}

int npy_read(const char *path, struct npy_array *out, char *err, size_t errlen) {
    return npy_load(path, out, 0, err, errlen);
}

int npy_map(const char *path, struct npy_array *out, char *err, size_t errlen) {
    return npy_load(path, out, 1, err, errlen);
}

void npy_free(struct npy_array *a) {
    if (!a) return;
    if (a->map) munmap(a->map, a->map_len);
    else free(a->data);
    memset(a, 0, sizeof *a);
}

/* ---- conversions --------------------------------------------------------- */

float npy_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    float f;

    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal half: normalize into a float exponent */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400u)) {
                mant <<= 1;
                exp--;
            }
            bits = sign | exp << 23 | (mant & 0x3ffu) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | mant << 13;
    } else {
        bits = sign | (exp + 112) << 23 | mant << 13;
    }
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even, as numpy's float32 -> float16 cast does. */
uint16_t npy_f32_to_f16(float f) {
    uint32_t x, absx, sign, e, m, shift, hm, rem, halfway;
    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* inf, nan (keep it a quiet nan) */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0));
    if (absx >= 0x477ff000u) /* >= 65520 rounds to inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) { /* below 2^-14: half subnormal or zero */
        e = absx >> 23;
        if (e < 102) return (uint16_t)sign;
        m = (absx & 0x7fffffu) | 0x800000u;
        shift = 126 - e;
        hm = m >> shift;
        rem = m & ((1u << shift) - 1);
        halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (hm & 1u))) hm++;
        return (uint16_t)(sign | hm);
    }
    hm = (absx >> 13) - (112u << 10);
    rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) hm++;
    return (uint16_t)(sign | hm);
}

/* Element i of a as double: exact for every supported dtype except int64
 * beyond 2^53, which the i64 path avoids. */
static double npy_get_f64(const struct npy_array *a, size_t i) {
    switch (a->dtype) {
    case NPY_F32: {
        float v;
        memcpy(&v, (const char *)a->data + 4 * i, 4);
        return v;
    }
    case NPY_F64: {
        double v;
        memcpy(&v, (const char *)a->data + 8 * i, 8);
        return v;
    }
    case NPY_I64: {
        int64_t v;
        memcpy(&v, (const char *)a->data + 8 * i, 8);
        return (double)v;
    }
    case NPY_I32: {
        int32_t v;
        memcpy(&v, (const char *)a->data + 4 * i, 4);
        return v;
    }
    case NPY_U8:
        return ((const uint8_t *)a->data)[i];
    case NPY_F16: {
        uint16_t v;
        memcpy(&v, (const char *)a->data + 2 * i, 2);
        return npy_f16_to_f32(v);
    }
    case NPY_U16: {
        uint16_t v;
        memcpy(&v, (const char *)a->data + 2 * i, 2);
        return v;
    }
    }
    return 0.0;
}

float *npy_to_f32(const struct npy_array *a) {
    size_t n, i;
    float *o;
    if (!a || (!a->data && a->nbytes)) return NULL;
    n = npy_count(a);
    o = malloc(n ? n * sizeof *o : 1);
    if (!o) return NULL;
    if (a->dtype == NPY_F32) {
        memcpy(o, a->data, n * sizeof *o);
        return o;
    }
    for (i = 0; i < n; i++) o[i] = (float)npy_get_f64(a, i);
    return o;
}

void npy_range_f32(const struct npy_array *a, size_t first, size_t n, float *dst) {
    if (a->dtype == NPY_F32) {
        memcpy(dst, (const char *)a->data + 4 * first, n * sizeof *dst);
        return;
    }
    for (size_t i = 0; i < n; i++) dst[i] = (float)npy_get_f64(a, first + i);
}

int64_t *npy_to_i64(const struct npy_array *a) {
    size_t n, i;
    int64_t *o;
    if (!a || (!a->data && a->nbytes)) return NULL;
    n = npy_count(a);
    o = malloc(n ? n * sizeof *o : 1);
    if (!o) return NULL;
    if (a->dtype == NPY_I64) {
        memcpy(o, a->data, n * sizeof *o);
        return o;
    }
    for (i = 0; i < n; i++) {
        double v = npy_get_f64(a, i);
        /* Casting NaN or out-of-range floats is UB in C; clamp like a sane
         * numpy user would expect instead of crashing under UBSan. */
        if (v != v) o[i] = 0;
        else if (v >= 9223372036854775807.0) o[i] = INT64_MAX;
        else if (v <= -9223372036854775808.0) o[i] = INT64_MIN;
        else o[i] = (int64_t)v;
    }
    return o;
}

/* ---- writer -------------------------------------------------------------- */

/* Build the exact preamble + header numpy 1.x writes for this array. */
static int npy_build_header(enum npy_dtype dtype, int ndim, const int64_t *shape, char *buf, size_t buflen,
                            size_t *outlen) {
    char dict[512];
    size_t n = 0, padlen, hlen;
    int i, k, first_digits = 0;

    k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", npy_descr(dtype));
    n = (size_t)k;
    for (i = 0; i < ndim; i++) {
        k = snprintf(dict + n, sizeof dict - n, i ? ", %lld" : "%lld", (long long)shape[i]);
        if (i == 0) first_digits = k;
        n += (size_t)k;
    }
    if (ndim == 1) dict[n++] = ',';
    n += (size_t)snprintf(dict + n, sizeof dict - n, "), }");
    /* numpy >= 1.22 leaves room to grow axis 0 in place (GROWTH_AXIS_MAX_DIGITS). */
    if (ndim > 0)
        for (k = first_digits; k < NPY_GROWTH_DIGITS; k++) dict[n++] = ' ';
    /* numpy's _wrap_header: pad so preamble + header is a multiple of 64,
     * always adding at least one byte ('\n'); an already-aligned header
     * still gets a full 64 bytes of padding. */
    hlen = n + 1;
    padlen = NPY_ALIGN - ((NPY_MAGIC_LEN + 2 + 2 + hlen) % NPY_ALIGN);
    if (10 + hlen + padlen > buflen || hlen + padlen > 65535) return -1;
    memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (char)((hlen + padlen) & 0xff);
    buf[9] = (char)((hlen + padlen) >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', padlen);
    buf[10 + n + padlen] = '\n';
    *outlen = 10 + hlen + padlen;
    return 0;
}

int npy_write(const char *path, enum npy_dtype dtype, int ndim, const int64_t *shape, const void *data, char *err,
              size_t errlen) {
    char hdr[1024];
    size_t hdrlen, nbytes, itemsize = npy_itemsize(dtype);

    if (!path || itemsize == 0 || ndim < 0 || ndim > NPY_MAX_DIMS || (ndim > 0 && !shape)) {
        npy_err(err, errlen, "%s: npy_write: bad arguments (dtype %d, ndim %d; caller bug)", path ? path : "(null)",
                (int)dtype, ndim);
        return -1;
    }
    if (npy_shape_bytes(ndim, shape, itemsize, &nbytes) != 0) {
        npy_err(err, errlen, "%s: npy_write: negative or overflowing shape (caller bug)", path);
        return -1;
    }
    if (nbytes > 0 && !data) {
        npy_err(err, errlen, "%s: npy_write: data is NULL for %zu bytes (caller bug)", path, nbytes);
        return -1;
    }
    if (npy_build_header(dtype, ndim, shape, hdr, sizeof hdr, &hdrlen) != 0) {
        npy_err(err, errlen, "%s: npy_write: header too long (caller bug)", path);
        return -1;
    }
    /* One atomic writer for every artefact (util/fsutil.h): readers and a
     * crash see the old file or the complete new one. */
    struct fs_part parts[2] = {{hdr, hdrlen}, {data, nbytes}};
    return fs_write_parts(path, parts, 2, err, errlen);
}
