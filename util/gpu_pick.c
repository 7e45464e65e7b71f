/* util/gpu_pick.c — see gpu_pick.h. */
#include "gpu_pick.h"

#include <stdio.h>
#include <string.h>

int gpu_pick(const char *visible, int local_rank, int local_size, char *out, size_t outlen) {
    if (local_size <= 1 || local_rank < 0 || !out || outlen == 0) return 0;
    if (!visible) {
        snprintf(out, outlen, "%d", local_rank);
        return 1;
    }
    int k = 0;
    for (const char *p = visible; *p;) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n) k++;
        p += n + (q ? 1 : 0);
    }
    if (k <= 1) return 0;
    if (k < local_size) return -1; /* recal runs one rank per GPU */
    int want = local_rank, i = 0;
    for (const char *p = visible; *p;) {
        const char *q = strchr(p, ',');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n && i++ == want) {
            snprintf(out, outlen, "%.*s", (int)n, p);
            return 1;
        }
        p += n + (q ? 1 : 0);
    }
    return 0;
}
