/* util/clock.c — see clock.h. */
#define _GNU_SOURCE
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

double clock_since_exec_s(void) {
    /* /proc/self/stat's field 22 is the start in clock ticks since boot,
     * which CLOCK_BOOTTIME counts too; the command name (field 2) may hold
     * spaces and parentheses, so the fields are counted from its last ')'. */
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long long start = 0;
    long tick = sysconf(_SC_CLK_TCK);
    if (!p || tick <= 0) return -1;
    p++;
    for (int field = 3; field < 22 && *p; field++) { /* skip fields 3..21 */
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    if (sscanf(p, " %llu", &start) != 1) return -1;
    struct timespec ts;
    if (clock_gettime(CLOCK_BOOTTIME, &ts) != 0) return -1;
    double d = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec - (double)start / (double)tick;
    return d >= 0 ? d : 0;
}
