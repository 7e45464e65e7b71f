/* worker/metrics/stats.c — see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>

int stats_pearson(const double *x, const double *y, long n, double *r) {
    if (n < 2) return -1;
    /* Two passes: the one-pass Σxy − n·x̄ȳ form loses every digit when the
     * values share a large offset (logits around 20 differing in 1e-4). */
    double mx = 0, my = 0;
    for (long i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (long i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return -1;
    *r = sxy / sqrt(sxx * syy);
    return 0;
}

static _Thread_local const double *g_keys;
static int cmp_asc(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    if (g_keys[a] < g_keys[b]) return -1;
    if (g_keys[a] > g_keys[b]) return 1;
    return (a > b) - (a < b);
}

void stats_ranks(const double *v, long n, double *rank, long *idx) {
    for (long i = 0; i < n; i++) idx[i] = i;
    g_keys = v;
    qsort(idx, (size_t)n, sizeof *idx, cmp_asc);
    for (long i = 0; i < n;) {
        long j = i + 1;
        while (j < n && v[idx[j]] == v[idx[i]]) j++;
        double avg = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        for (long k = i; k < j; k++) rank[idx[k]] = avg;
        i = j;
    }
}

int stats_spearman(const double *x, const double *y, long n, double *r, double *scratch, long *iscratch) {
    stats_ranks(x, n, scratch, iscratch);
    stats_ranks(y, n, scratch + n, iscratch);
    return stats_pearson(scratch, scratch + n, n, r);
}
