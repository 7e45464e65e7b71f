/* util/heap.c: after heap_tune a buffer below 32 MiB comes from the heap,
 * not from a mapping of its own, and freeing it does not hand the pages
 * back; RECAL_HEAP_TUNE=0 keeps glibc's defaults, under which the same
 * buffer is mapped. Read from glibc's own books (mallinfo2: hblkhd is the
 * bytes in mapped chunks, arena the bytes the heap holds). Skipped where
 * glibc's malloc is not the one in use (ASan, valgrind: mallinfo2 reads
 * zeros). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"

#define MiB ((size_t)1 << 20)
#if defined(__SANITIZE_ADDRESS__)
#define HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_ASAN 1
#endif
#endif

/* Bytes in mapped chunks while a buffer of n bytes (touched) is held. */
static size_t mapped_while_held(size_t n) {
    char *p = malloc(n);
    assert_non_null(p);
    memset(p, 1, n);
    size_t h = mallinfo2().hblkhd;
    free(p);
    return h;
}

static void test_thresholds(void **state) {
    (void)state;
#ifdef HEAP_ASAN
    skip();
#endif
    /* glibc's defaults: a 16 MiB buffer is mapped on its own (the first
     * time: glibc then slides its threshold up to that size) */
    setenv("RECAL_HEAP_TUNE", "0", 1);
    heap_tune();
    size_t before = mallinfo2().hblkhd;
    size_t h = mapped_while_held(16 * MiB);
    if (h == 0 && mallinfo2().arena == 0) skip(); /* another malloc is in use */
    assert_true(h >= before + 16 * MiB);

    /* tuned: 24 MiB (above what glibc slid to) from the heap, and kept */
    unsetenv("RECAL_HEAP_TUNE");
    heap_tune();
    before = mallinfo2().hblkhd;
    assert_true(mapped_while_held(24 * MiB) < before + 24 * MiB);
    assert_true(mallinfo2().arena >= 24 * MiB); /* freed, not trimmed */

    /* above glibc's ceiling (32 MiB) a buffer is still mapped on its own */
    before = mallinfo2().hblkhd;
    assert_true(mapped_while_held(48 * MiB) >= before + 48 * MiB);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
