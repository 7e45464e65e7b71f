/* worker/datasets/ds_store.c — what every reader shares: the messages
 * (ds_errf), a whole file read (ds_slurp) and the files a reader read
 * (ds_store_add_file). Kept apart from dataset.c, which calls the readers,
 * so that no reader calls back into the file that calls it. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* open/strdup without compiler extensions */
#endif
#include "ds_internal.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void ds_errf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    if (!err || errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int ds_slurp(const char *path, const char *missing_hint, uint8_t **buf, size_t *len, char *err, size_t errlen) {
    struct stat sb;
    uint8_t *b;
    size_t got = 0;
    int fd = fs_open_read(path); /* a FIFO fails here instead of blocking the run */

    *buf = NULL;
    *len = 0;
    if (fd < 0 && errno == ENOENT && missing_hint) {
        ds_errf(err, errlen, "%s: %s (%s)", path, strerror(errno), missing_hint);
        return -1;
    }
    if (fd < 0 && errno != EINVAL && errno != EISDIR) {
        ds_errf(err, errlen, "%s: %s (check the file and its permissions)", path, strerror(errno));
        return -1;
    }
    if (fd < 0 || fstat(fd, &sb) != 0) {
        ds_errf(err, errlen, "%s: %s (point dataset.path at the dataset's directory)", path,
                fd < 0 ? fs_read_strerror() : strerror(errno));
        close(fd);
        return -1;
    }
    /* +1: never malloc(0), and an empty file still gets a buffer. */
    b = malloc((size_t)sb.st_size + 1);
    if (!b) {
        ds_errf(err, errlen, "%s: out of memory for %lld bytes (free memory)", path, (long long)sb.st_size);
        close(fd);
        return -1;
    }
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, b + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            ds_errf(err, errlen, "%s: read error after %zu bytes: %s (check the disk)", path, got,
                    r < 0 ? strerror(errno) : "file shrank while reading");
            free(b);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = got;
    return 0;
}

void ds_store_release(struct ds_store *st) {
    free(st->pixels);
    free(st->fpixels);
    free(st->labels);
    for (int k = 0; k < st->nsrc; k++) free(st->src[k].path);
    st->pixels = NULL;
    st->fpixels = NULL;
    st->labels = NULL;
    st->nsrc = 0;
}

void ds_store_add_file(struct ds_store *st, const char *path, long first, long count) {
    char *p = st->nsrc < DS_MAX_FILES ? strdup(path) : NULL;
    if (!p) {
        st->src_lost = 1;
        return;
    }
    st->src[st->nsrc++] = (struct ds_src){p, first, count};
}
