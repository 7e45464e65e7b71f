/* worker/chunk_tune.h — choose the number of samples per forward+backward by
 * measurement. On CPUs bigger is often slower (caches: issue #8 measured
 * 64 > 256 > 960 for PreActResNet-18), on GPUs bigger is usually faster; the
 * memory budget only bounds the search. */
#ifndef RECAL_CHUNK_TUNE_H
#define RECAL_CHUNK_TUNE_H
#include "torch_shim.h"

/* Samples per second of plain input-gradient forward+backward (grad = 1) or
 * forward only (grad = 0) at chunk size n: one warm-up call at that shape,
 * then `reps` timed calls. Negative on error. */
double wk_probe_rate(ts_module *m, int device, int c, int h, int w, long n, int grad, int reps);

/* The best of the powers of two from 16 up to max_chunk (and max_chunk
 * itself); *rate receives its samples/s. Stops early once throughput has
 * fallen well below the best. */
long wk_tune_chunk(ts_module *m, int device, int c, int h, int w, long max_chunk, int grad, double *rate);
#endif
