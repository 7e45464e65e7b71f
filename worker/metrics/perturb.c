/* worker/metrics/perturb.c — see perturb.h. */
#include "perturb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local const float *g_u;
static int cmp_u(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    if (g_u[a] < g_u[b]) return -1;
    if (g_u[a] > g_u[b]) return 1;
    return (a > b) - (a < b);
}

void sensn_pick(const float *u, long hw, long k, long *order, uint8_t *mask) {
    for (long p = 0; p < hw; p++) order[p] = p;
    g_u = u;
    qsort(order, (size_t)hw, sizeof *order, cmp_u);
    memset(mask, 0, (size_t)hw);
    for (long i = 0; i < k && i < hw; i++) mask[order[i]] = 1;
}

double sensn_attr_sum(const float *a, int c, long hw, const uint8_t *mask, int abs_values) {
    double s = 0;
    for (int ch = 0; ch < c; ch++)
        for (long p = 0; p < hw; p++)
            if (mask[p]) s += abs_values ? fabs((double)a[(long)ch * hw + p]) : (double)a[(long)ch * hw + p];
    return s;
}

int faith_groups(int h, int w, int groups, int *group_of) {
    int gh = (int)lround(sqrt((double)groups));
    if (gh < 1) gh = 1;
    if (gh > h) gh = h;
    int gw = (groups + gh - 1) / gh;
    if (gw > w) gw = w;
    for (int r = 0; r < h; r++)
        for (int q = 0; q < w; q++) group_of[r * w + q] = (int)((long)r * gh / h) * gw + (int)((long)q * gw / w);
    return gh * gw;
}
