/* util/heap.c — see heap.h. */
#include "heap.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void heap_tune(void) {
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    const char *v = getenv("RECAL_HEAP_TUNE");
    if (v && !strcmp(v, "0")) return;
    /* glibc refuses an mmap threshold above HEAP_MAX_SIZE / 2: 32 MiB on
     * 64-bit. Larger buffers are still mapped per use; below it, arenas
     * serve them. Setting either knob also stops glibc's own sliding of
     * both, which is what let them fall back after a large free. */
    (void)mallopt(M_MMAP_THRESHOLD, (int)(sizeof(long) * 4 * 1024 * 1024));
    (void)mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}
