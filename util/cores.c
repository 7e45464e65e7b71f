/* util/cores.c — see cores.h. */
#include "cores.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The process's cgroup path for a controller: the v2 line ("0::/x") when
 * v1_controller is NULL, else the v1 line that names it ("4:cpuset:/x").
 * 0 when found. */
static int cgroup_path(const char *v1_controller, char *out, size_t outlen) {
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[1024];
    int found = -1;
    while (found && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c2 = 0;
        char list[256], want[64];
        snprintf(list, sizeof list, ",%s,", c1 + 1);
        snprintf(want, sizeof want, ",%s,", v1_controller ? v1_controller : "");
        if ((!v1_controller && !c1[1]) || (v1_controller && strstr(list, want)))
            found = snprintf(out, outlen, "%s", c2 + 1) < (int)outlen ? 0 : -1;
    }
    fclose(f);
    return found;
}

static int read_line(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (!ok) return -1;
    buf[strcspn(buf, "\n")] = 0;
    return 0;
}

/* One control file of this process's group: cgroup v2 (mounted at
 * /sys/fs/cgroup, or at .../unified beside v1 controllers) when v1_controller
 * is NULL, else v1's /sys/fs/cgroup/<controller>. A container that mounts its
 * own group as the root shows the file at the mount itself. 0 when read. */
static int cgroup_read(const char *v1_controller, const char *file, char *buf, size_t len) {
    char cg[1024], path[1400];
    if (cgroup_path(v1_controller, cg, sizeof cg)) return -1;
    static const char *const v2_roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
    for (int i = 0; i < (v1_controller ? 1 : 2); i++)
        for (int inside = 1; inside >= 0; inside--) {
            if (v1_controller)
                snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/%s", v1_controller, inside ? cg : "", file);
            else snprintf(path, sizeof path, "%s%s/%s", v2_roots[i], inside ? cg : "", file);
            if (!read_line(path, buf, len)) return 0;
        }
    return -1;
}

/* CPUs in a list such as "0-3,8,10-11"; 0 when it does not parse. */
static long cpulist_count(const char *s) {
    long n = 0;
    while (*s) {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || a < 0) return 0;
        if (*end == '-') {
            s = end + 1;
            b = strtol(s, &end, 10);
            if (end == s || b < a) return 0;
        }
        n += b - a + 1;
        s = end;
        if (*s == ',') s++;
        else if (*s) return 0;
    }
    return n;
}

long cores_usable(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    char buf[4096];
    long c = 0, q = 0, p = 0;
    if (!cgroup_read(NULL, "cpuset.cpus.effective", buf, sizeof buf) ||
        !cgroup_read("cpuset", "cpuset.effective_cpus", buf, sizeof buf) ||
        !cgroup_read("cpuset", "cpuset.cpus", buf, sizeof buf))
        c = cpulist_count(buf);
    if (c > 0 && c < n) n = c;
    /* a CPU quota: v2 cpu.max "QUOTA PERIOD" ("max PERIOD" when none), v1
     * cfs_quota_us (-1 when none); 1.5 CPUs is 2 cores' worth of threads */
    if (!cgroup_read(NULL, "cpu.max", buf, sizeof buf)) {
        if (sscanf(buf, "%ld %ld", &q, &p) != 2) q = 0;
    } else if (!cgroup_read("cpu", "cpu.cfs_quota_us", buf, sizeof buf)) {
        q = strtol(buf, NULL, 10);
        if (cgroup_read("cpu", "cpu.cfs_period_us", buf, sizeof buf)) q = 0;
        else p = strtol(buf, NULL, 10);
    }
    if (q > 0 && p > 0 && (q + p - 1) / p < n) n = (q + p - 1) / p;
    return n < 1 ? 1 : n;
}

double mem_usable_bytes(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    double ram = pages > 0 && page > 0 ? (double)pages * (double)page : 0;
    char buf[128];
    double lim = 0;
    /* v2 memory.max ("max" when unlimited); v1 prints a huge number instead */
    if (!cgroup_read(NULL, "memory.max", buf, sizeof buf) ||
        !cgroup_read("memory", "memory.limit_in_bytes", buf, sizeof buf))
        lim = strtod(buf, NULL);
    if (lim > 0 && isfinite(lim) && (ram <= 0 || lim < ram)) ram = lim;
    return ram;
}

int cores_check_threads(const char *what, long threads, char *err, size_t errlen) {
    long cores = cores_usable();
    long max = CORES_THREADS_PER_CORE * cores;
    if (threads <= max) return 0;
    snprintf(err, errlen,
             "%s: %ld intra-op threads on a machine with %ld usable cores (at most %ld, %d per core: more only "
             "thrash): lower it, or leave it out for the default",
             what, threads, cores, max, CORES_THREADS_PER_CORE);
    return -1;
}
