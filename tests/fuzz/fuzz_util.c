/* fuzz_util.c - see fuzz_util.h. */
#define _POSIX_C_SOURCE 200809L
#include "fuzz_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *fz_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/recal-fuzz-%ld", t && *t ? t : "/tmp", (long)getpid());
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "fuzz: cannot create %s: %s\n", dir, strerror(errno));
            abort();
        }
    }
    return dir;
}

const char *fz_put(int slot, const char *name, const uint8_t *data, size_t n) {
    static char paths[4][512];
    char *p = paths[slot & 3];
    FILE *f;
    snprintf(p, sizeof paths[0], "%s/%s", fz_dir(), name);
    f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", p, strerror(errno));
        abort();
    }
    return p;
}
