/* util/heap.h — keep freed tensor memory in the process instead of handing it
 * back to the kernel after every chunk. */
#ifndef RECAL_HEAP_H
#define RECAL_HEAP_H

/* Called once at start, before any thread. libtorch's CPU tensors come from
 * glibc malloc. With glibc's defaults, a buffer above the (sliding) mmap
 * threshold is mapped for each chunk's activations and unmapped when the
 * chunk ends, and free space at the top of the heap is trimmed back: every
 * chunk then faults its pages in again. Measured on the 2-core VM (recal
 * bench --case ig, the demo CNN, chunk 167): 88–93 images/s and 15 s of
 * system time with the defaults, 136 images/s and 8 s with both knobs set,
 * no change of peak RSS. Sets the mmap threshold to its glibc ceiling
 * (32 MiB) and the trim threshold to 2 GiB, so a steady run reuses its own
 * pages — what PyTorch's caching allocators do on a GPU. RECAL_HEAP_TUNE=0
 * keeps glibc's defaults (for side-by-side timing). Does nothing without
 * glibc, or when a sanitizer or valgrind owns malloc (mallopt is ignored). */
void heap_tune(void);

#endif
