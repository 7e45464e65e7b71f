/* cifar.c - CIFAR-10 / CIFAR-100 binary version reader.
 *
 * The binary versions are headerless runs of fixed-size records (CIFAR-10:
 * 1 label byte + 3072 pixel bytes; CIFAR-100: coarse + fine label bytes +
 * 3072), pixels already CHW (1024 R, 1024 G, 1024 B, row-major). Without a
 * header the only checks are the record count and the label range, so both
 * are made on every file, and the error names the record and its offset. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "ds_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIX 3072
#define CIFAR_PER_FILE_10 10000 /* each CIFAR-10 batch file */
#define CIFAR_TRAIN_100 50000
#define CIFAR_TEST_100 10000
#define CIFAR_PATH_MAX 4096

static const char *cifar_url(int variant) {
    return variant == 10 ? "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
                         : "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz";
}

int ds_cifar_parse(const char *path, const uint8_t *buf, size_t len, int variant, long expect, int nlab, int lab,
                   int classes, struct ds_store *st, long *at, char *err, size_t errlen) {
    const size_t rec = (size_t)nlab + CIFAR_PIX;
    size_t i;
    long n;

    n = (long)(len / rec);
    if (len % rec != 0 || n < expect) {
        /* The first incomplete record is where the damage starts. */
        ds_errf(err, errlen,
                "%s: truncated: %zu bytes is not %ld records of %zu bytes; record %ld "
                "(byte offset %zu) is %s (re-download %s and unpack it again)",
                path, len, expect, rec, n, (size_t)n * rec, len % rec ? "incomplete" : "missing", cifar_url(variant));
        return -1;
    }
    if (n > expect) {
        ds_errf(err, errlen,
                "%s: %ld records of %zu bytes, expected %ld: extra data from byte offset "
                "%zu (wrong file, or files from another release? re-download %s)",
                path, n, rec, expect, (size_t)expect * rec, cifar_url(variant));
        return -1;
    }
    for (i = 0; i < (size_t)n; i++) {
        const uint8_t *r = buf + i * rec;
        if (r[lab] >= classes) {
            ds_errf(err, errlen,
                    "%s: record %zu (byte offset %zu): label %u is out of range 0..%d "
                    "(a CIFAR-%d file? check dataset.name; else re-download %s)",
                    path, i, i * rec + (size_t)lab, (unsigned)r[lab], classes - 1, variant, cifar_url(variant));
            return -1;
        }
        st->labels[*at] = r[lab];
        memcpy(st->pixels + (size_t)*at * CIFAR_PIX, r + nlab, CIFAR_PIX);
        (*at)++;
    }
    return 0;
}

/* The directory the official tarball unpacks into holds the files one level
 * down (cifar-10-batches-bin/, cifar-100-binary/): dataset.path may name
 * either. Returns dir itself when the inner directory is not there. */
static const char *cifar_dir(const char *dir, int variant, char *buf, size_t n) {
    struct stat sb;
    const char *inner = variant == 10 ? "cifar-10-batches-bin" : "cifar-100-binary";
    if ((size_t)snprintf(buf, n, "%s/%s", dir, inner) >= n || stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode)) return dir;
    return buf;
}

/* Append one file's records to st. nlab = label bytes per record, lab =
 * which of them is the label used, classes its range. */
static int cifar_file(const char *dir, const char *base, int variant, long expect, int nlab, int lab, int classes,
                      struct ds_store *st, long *at, char *err, size_t errlen) {
    char path[CIFAR_PATH_MAX], missing[512];
    uint8_t *buf;
    size_t len;
    int rc;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, base) >= sizeof path) {
        ds_errf(err, errlen, "%s/%s: path too long (use a shorter dataset.path)", dir, base);
        return -1;
    }
    snprintf(missing, sizeof missing,
             "download %s, unpack it and set dataset.path to the "
             "directory it unpacks into, or the one holding %s",
             cifar_url(variant), base);
    if (ds_slurp(path, missing, &buf, &len, err, errlen) != 0) return -1;
    long first = *at;
    rc = ds_cifar_parse(path, buf, len, variant, expect, nlab, lab, classes, st, at, err, errlen);
    free(buf);
    if (rc == 0) ds_store_add_file(st, path, first, *at - first); /* labels ride in the records */
    return rc;
}

int ds_cifar_load(const char *dir, int variant, int train, int coarse, struct ds_store *st, char *err, size_t errlen) {
    long total = variant == 10 ? (train ? 5 * CIFAR_PER_FILE_10 : CIFAR_PER_FILE_10)
                               : (train ? CIFAR_TRAIN_100 : CIFAR_TEST_100);
    long at = 0;
    int rc = 0, k;
    char inner[CIFAR_PATH_MAX];

    dir = cifar_dir(dir, variant, inner, sizeof inner);
    st->pixels = malloc((size_t)total * CIFAR_PIX);
    st->labels = malloc((size_t)total * sizeof *st->labels);
    if (!st->pixels || !st->labels) {
        ds_errf(err, errlen, "%s: out of memory for %ld CIFAR images (free memory)", dir, total);
        rc = -1;
    } else if (variant == 10) {
        if (train) {
            for (k = 1; k <= 5 && rc == 0; k++) {
                char base[32];
                snprintf(base, sizeof base, "data_batch_%d.bin", k);
                rc = cifar_file(dir, base, 10, CIFAR_PER_FILE_10, 1, 0, 10, st, &at, err, errlen);
            }
        } else {
            rc = cifar_file(dir, "test_batch.bin", 10, CIFAR_PER_FILE_10, 1, 0, 10, st, &at, err, errlen);
        }
    } else {
        rc = cifar_file(dir, train ? "train.bin" : "test.bin", 100, total, 2, coarse ? 0 : 1, coarse ? 20 : 100, st,
                        &at, err, errlen);
    }
    if (rc != 0) {
        free(st->pixels);
        free(st->labels);
        st->pixels = NULL;
        st->labels = NULL;
        return -1;
    }
    st->total = total;
    st->c = 3;
    st->h = 32;
    st->w = 32;
    st->classes = variant == 10 ? 10 : (coarse ? 20 : 100);
    return 0;
}
