/* util/clock.h — monotonic seconds, for timings, rates and ETAs. */
#ifndef RECAL_CLOCK_H
#define RECAL_CLOCK_H
#include <time.h>

static inline double clock_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds since this process was exec'ed (the kernel's start time, to its
 * clock tick, 10 ms), or -1 where /proc is not there: called first thing in
 * a command, the dynamic loader's share (libtorch's libraries and static
 * initializers) of the start-up. */
double clock_since_exec_s(void);
#endif
