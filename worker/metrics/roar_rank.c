/* worker/metrics/roar_rank.c — see roar_rank.h. */
#include "roar_rank.h"

#include <math.h>
#include <stdlib.h>

static _Thread_local const float *g_sal;
static int cmp_asc(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    if (g_sal[a] < g_sal[b]) return -1;
    if (g_sal[a] > g_sal[b]) return 1;
    return (a > b) - (a < b);
}

void roar_rank_map(const float *a, int c, long hw, uint16_t *out, long *order, float *sal) {
    for (long p = 0; p < hw; p++) {
        float v = 0;
        for (int ch = 0; ch < c; ch++) v += fabsf(a[(long)ch * hw + p]);
        sal[p] = v;
        order[p] = p;
    }
    g_sal = sal;
    qsort(order, (size_t)hw, sizeof *order, cmp_asc);
    for (long r = 0; r < hw; r++)
        out[order[r]] = (uint16_t)(hw <= 65536 ? r : (long)((double)r * 65536.0 / (double)hw));
}
