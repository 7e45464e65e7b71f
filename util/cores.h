/* util/cores.h — the thread counts a user gives, against the cores there are.
 * `threads: 100000` was accepted and started 13,521 threads (104 GB of virtual
 * memory) before anyone noticed; more intra-op threads than a few per core
 * only thrash, so a count above CORES_THREADS_PER_CORE × the online cores is
 * refused where the work starts (the config is validated on the submit host,
 * which is not the node). */
#ifndef RECAL_CORES_H
#define RECAL_CORES_H
#include <stddef.h>

#define CORES_THREADS_PER_CORE 4
/* The largest `threads` a config may name anywhere: no node has more cores. */
#define CORES_THREADS_MAX 4096

/* 0 when threads (0 = auto) fits this machine, else -1 with a message
 * naming what (e.g. "threads", "--threads") and the limit. */
int cores_check_threads(const char *what, long threads, char *err, size_t errlen);
#endif
