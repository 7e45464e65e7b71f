/* util/cores.c — see cores.h. */
#include "cores.h"

#include <stdio.h>
#include <unistd.h>

int cores_check_threads(const char *what, long threads, char *err, size_t errlen) {
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1) cores = 1;
    long max = CORES_THREADS_PER_CORE * cores;
    if (threads <= max) return 0;
    snprintf(err, errlen,
             "%s: %ld intra-op threads on a machine with %ld cores (at most %ld, %d per core: more only thrash): "
             "lower it, or leave it out for the default",
             what, threads, cores, max, CORES_THREADS_PER_CORE);
    return -1;
}
