/* fuzz_util.h - what the libFuzzer targets share: the input goes to a file,
 * since the readers under test take paths (as the product does). Each
 * process gets its own directory, so parallel fuzzers do not collide. */
#ifndef RECAL_FUZZ_UTIL_H
#define RECAL_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The process's scratch directory, created on first use; aborts when it
 * cannot be made (a harness without its directory tests nothing). */
const char *fz_dir(void);

/* Write data to <fz_dir()>/<name> (truncating); returns the full path in a
 * static buffer per slot (slot 0..3), aborting on I/O errors. */
const char *fz_put(int slot, const char *name, const uint8_t *data, size_t n);

#endif
