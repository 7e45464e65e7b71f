/* src/fault_wrap.c — the recal executable links with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc, so every allocation in
 * recal's own C code (not libtorch's, MPI's or libyaml's: shared libraries
 * keep theirs) comes here first. RECAL_FAULT=allocsite:K (util/fault.h)
 * makes the first allocation of the Kth call site fail, as a full memory
 * would; without it the cost is one load and compare. */
#include <errno.h>
#include <stddef.h>

#include "fault.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

void *__wrap_malloc(size_t n) {
    if (fault_alloc_site(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
    if (fault_alloc_site(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
    if (fault_alloc_site(__builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}
