/* idx.c - IDX file reader (MNIST, Fashion-MNIST), gzip'd or plain.
 *
 * zlib's gzread passes non-gzip files through unchanged, so one code path
 * reads both. Each file is read whole into memory (47 MB at most for these
 * datasets) before its header is trusted: a damaged header then cannot make
 * us allocate gigabytes, and truncation is reported with exact byte counts. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open/fsync/O_CLOEXEC without compiler extensions */
#endif
#include "ds_internal.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#if defined(__GNUC__)
#define IDX_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IDX_PRINTF(a, b)
#endif

#define IDX_MAGIC_IMAGES 0x00000803u /* type 0x08 = uint8, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u /* type 0x08 = uint8, 1 dimension */
#define IDX_PATH_MAX 4096

/* One file's decompressed content. */
struct idx_buf {
    char path[IDX_PATH_MAX];
    uint8_t *data;
    size_t len;
    int cut_short; /* gzip stream ended before its end marker */
};

static void IDX_PRINTF(3, 4) idx_err(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (!err || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint32_t idx_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Open <dir>/<base>, falling back to <dir>/<base>.gz. The plain file wins when
 * both exist: someone decompressed it on purpose. Returns an fd or -1. */
static int idx_open_fd(const char *dir, const char *base, struct idx_buf *b, const char *missing_hint, char *err,
                       size_t errlen) {
    char plain[IDX_PATH_MAX - 3]; /* room left in b->path for ".gz" */
    int fd, n;

    n = snprintf(plain, sizeof plain, "%s/%s", dir, base);
    if (n < 0 || (size_t)n >= sizeof plain) {
        idx_err(err, errlen, "%s/%s: path too long (use a shorter dataset.path)", dir, base);
        return -1;
    }
    fd = fs_open_read(plain); /* a FIFO fails instead of blocking the run */
    if (fd >= 0) {
        snprintf(b->path, sizeof b->path, "%s", plain);
        return fd;
    }
    if (errno != ENOENT) {
        idx_err(err, errlen, "%s: %s (check the file's permissions)", plain, fs_read_strerror());
        return -1;
    }
    snprintf(b->path, sizeof b->path, "%s.gz", plain);
    fd = fs_open_read(b->path);
    if (fd >= 0) return fd;
    if (errno == ENOENT) idx_err(err, errlen, "%s: %s (nor %s; %s)", b->path, strerror(errno), plain, missing_hint);
    else idx_err(err, errlen, "%s: %s (check the file's permissions)", b->path, fs_read_strerror());
    return -1;
}

/* Read the whole (decompressed) file into b->data. */
static int idx_slurp(const char *dir, const char *base, struct idx_buf *b, const char *hint, const char *missing_hint,
                     char *err, size_t errlen) {
    size_t cap = 1u << 20;
    gzFile gz;
    int fd, zerr;
    const char *zmsg;

    memset(b, 0, sizeof *b);
    fd = idx_open_fd(dir, base, b, missing_hint, err, errlen);
    if (fd < 0) return -1;
    gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        idx_err(err, errlen, "%s: cannot start reading (out of memory)", b->path);
        return -1;
    }
    gzbuffer(gz, 1u << 17);
    b->data = malloc(cap);
    if (!b->data) goto oom;
    for (;;) {
        size_t want;
        int got;
        if (b->len == cap) {
            uint8_t *nd;
            if (cap > SIZE_MAX / 2) goto oom;
            nd = realloc(b->data, cap * 2);
            if (!nd) goto oom;
            b->data = nd;
            cap *= 2;
        }
        want = cap - b->len;
        if (want > INT_MAX / 2) want = INT_MAX / 2;
        got = gzread(gz, b->data + b->len, (unsigned)want);
        if (got < 0) {
            zmsg = gzerror(gz, &zerr);
            /* zlib prefixes its message with "<fd:N>: "; we name the path. */
            if (strncmp(zmsg, "<fd:", 4) == 0 && strstr(zmsg, ": ")) zmsg = strstr(zmsg, ": ") + 2;
            if (zerr == Z_ERRNO) idx_err(err, errlen, "%s: read error: %s (check the disk)", b->path, strerror(errno));
            else idx_err(err, errlen, "%s: corrupt gzip data: %s (%s)", b->path, zmsg, hint);
            goto fail;
        }
        if (got == 0) break;
        b->len += (size_t)got;
    }
    /* gzread reports a gzip stream cut mid-way as a short read plus
     * Z_BUF_ERROR ("unexpected end of file"), not as a failure. */
    zmsg = gzerror(gz, &zerr);
    (void)zmsg;
    if (zerr == Z_BUF_ERROR) b->cut_short = 1;
    gzclose(gz);
    return 0;

oom:
    idx_err(err, errlen, "%s: out of memory after %zu bytes (free memory or use a smaller dataset)", b->path, b->len);
fail:
    gzclose(gz);
    free(b->data);
    b->data = NULL;
    return -1;
}

/* Check b holds exactly `expected` bytes; name the problem otherwise. */
static int idx_check_len(const struct idx_buf *b, size_t expected, const char *hint, char *err, size_t errlen) {
    if (b->len < expected) {
        idx_err(err, errlen, "%s: truncated: expected %zu bytes, file ends after %zu%s (%s)", b->path, expected, b->len,
                b->cut_short ? " (gzip stream cut short)" : "", hint);
        return -1;
    }
    if (b->len > expected) {
        idx_err(err, errlen, "%s: trailing garbage: expected %zu bytes, file has %zu (%s)", b->path, expected, b->len,
                hint);
        return -1;
    }
    if (b->cut_short) {
        /* All data is there but the gzip trailer (CRC) is missing, so the
         * content is unverified. */
        idx_err(err, errlen, "%s: truncated: gzip stream ends before its checksum (%s)", b->path, hint);
        return -1;
    }
    return 0;
}

static int idx_check_magic(const struct idx_buf *b, size_t hdr, uint32_t want, const char *what, const char *hint,
                           char *err, size_t errlen) {
    uint32_t magic;
    if (b->len < hdr) {
        idx_err(err, errlen, "%s: truncated: expected at least %zu header bytes, file ends after %zu (%s)", b->path,
                hdr, b->len, hint);
        return -1;
    }
    magic = idx_be32(b->data);
    if (magic != want) {
        idx_err(err, errlen, "%s: bad magic number 0x%08x, expected 0x%08x for IDX %s (%s)", b->path, (unsigned)magic,
                (unsigned)want, what, hint);
        return -1;
    }
    return 0;
}

int ds_idx_load(const char *dir, const char *prefix, int h, int w, int classes, const char *hint,
                const char *missing_hint, struct ds_store *st, char *err, size_t errlen) {
    char base[64];
    struct idx_buf im, lb;
    uint32_t n, rows, cols, nl;
    size_t per, i;
    uint8_t *pixels;

    lb.data = NULL;
    snprintf(base, sizeof base, "%s-images-idx3-ubyte", prefix);
    if (idx_slurp(dir, base, &im, hint, missing_hint, err, errlen) != 0) return -1;
    if (idx_check_magic(&im, 16, IDX_MAGIC_IMAGES, "uint8 images", hint, err, errlen) != 0) goto fail;
    n = idx_be32(im.data + 4);
    rows = idx_be32(im.data + 8);
    cols = idx_be32(im.data + 12);
    if (rows != (uint32_t)h || cols != (uint32_t)w) {
        idx_err(err, errlen, "%s: images are %ux%u, expected %dx%d (wrong dataset in this directory? %s)", im.path,
                (unsigned)rows, (unsigned)cols, h, w, hint);
        goto fail;
    }
    if (n == 0) {
        idx_err(err, errlen, "%s: header says 0 images (%s)", im.path, hint);
        goto fail;
    }
    per = (size_t)rows * cols;
    if (idx_check_len(&im, 16 + (size_t)n * per, hint, err, errlen) != 0) goto fail;

    snprintf(base, sizeof base, "%s-labels-idx1-ubyte", prefix);
    if (idx_slurp(dir, base, &lb, hint, missing_hint, err, errlen) != 0) goto fail;
    if (idx_check_magic(&lb, 8, IDX_MAGIC_LABELS, "uint8 labels", hint, err, errlen) != 0) goto fail;
    nl = idx_be32(lb.data + 4);
    /* Check the declared count before the length: a count mismatch is the
     * more useful diagnosis when both are off. */
    if (nl != n) {
        idx_err(err, errlen,
                "%s: count mismatch: %u labels but %s has %u images "
                "(files from different releases? %s)",
                lb.path, (unsigned)nl, im.path, (unsigned)n, hint);
        goto fail;
    }
    if (idx_check_len(&lb, 8 + (size_t)nl, hint, err, errlen) != 0) goto fail;
    for (i = 0; i < nl; i++) {
        if (lb.data[8 + i] >= classes) {
            idx_err(err, errlen, "%s: label %u at index %zu is out of range 0..%d (%s)", lb.path,
                    (unsigned)lb.data[8 + i], i, classes - 1, hint);
            goto fail;
        }
    }

    /* Drop the headers in place so the buffers are the stored arrays. */
    memmove(im.data, im.data + 16, (size_t)n * per);
    pixels = realloc(im.data, (size_t)n * per);
    st->pixels = pixels ? pixels : im.data;
    st->labels = malloc((size_t)nl * sizeof *st->labels);
    if (!st->labels) {
        idx_err(err, errlen, "%s: out of memory for %u labels (free memory)", lb.path, (unsigned)nl);
        free(st->pixels);
        st->pixels = NULL;
        free(lb.data);
        return -1;
    }
    for (i = 0; i < nl; i++) st->labels[i] = lb.data[8 + i];
    free(lb.data);
    ds_store_add_file(st, lb.path, 0, 0);
    ds_store_add_file(st, im.path, 0, (long)n);
    st->total = (long)n;
    st->c = 1;
    st->h = h;
    st->w = w;
    return 0;

fail:
    free(im.data);
    free(lb.data);
    return -1;
}
