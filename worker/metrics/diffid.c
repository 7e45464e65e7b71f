/* worker/metrics/diffid.c — see diffid.h. */
#include "diffid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long diffid_count(double ratio, long d) {
    /* 0.3 * 10 is 2.9999999999999996 in doubles; the papers mean 3. */
    return (long)floor(ratio * (double)d + 1e-9);
}

/* qsort has no stable mode and no context pointer; we sort indices by
 * (saliency desc, index asc), which is a total order, so the result is the
 * stable descending order whatever the sort algorithm. */
static _Thread_local const float *g_sort_keys;
static int cmp_desc_stable(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    float sa = g_sort_keys[a], sb = g_sort_keys[b];
    if (sa > sb) return -1;
    if (sa < sb) return 1;
    return (a > b) - (a < b);
}

static void fill_copy(const float *x, const long *order, long d, long first, long n_removed, float *out) {
    /* removed = order[first .. first + n_removed) */
    memcpy(out, x, (size_t)d * sizeof *out);
    double kept_sum = 0;
    for (long i = 0; i < d; i++) kept_sum += x[i];
    for (long i = first; i < first + n_removed; i++) kept_sum -= x[order[i]];
    long kept = d - n_removed;
    float fill = kept > 0 ? (float)(kept_sum / (double)kept) : 0.0f;
    for (long i = first; i < first + n_removed; i++) out[order[i]] = fill;
}

void diffid_perturb(const float *x, const float *a, int c, long hw, const double *ratios, int n_ratios,
                    float *out, long *order, float *s) {
    long d = (long)c * hw;
    float lo = INFINITY, hi = -INFINITY;
    for (long p = 0; p < hw; p++) {
        float v = 0;
        for (int ch = 0; ch < c; ch++) v += fabsf(a[(long)ch * hw + p]);
        s[p] = v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    for (long p = 0; p < hw; p++) s[p] = (s[p] - lo) / (hi - lo + 1e-10f);
    for (int ch = 1; ch < c; ch++) memcpy(s + (long)ch * hw, s, (size_t)hw * sizeof *s);
    for (long i = 0; i < d; i++) order[i] = i;
    g_sort_keys = s;
    qsort(order, (size_t)d, sizeof *order, cmp_desc_stable);
    for (int r = 0; r < n_ratios; r++) {
        long n = diffid_count(ratios[r], d);
        fill_copy(x, order, d, 0, n, out + (long)r * d);                     /* deletion: top n */
        fill_copy(x, order, d, d - n, n, out + (long)(n_ratios + r) * d);   /* insertion: bottom n */
    }
}

int diffid_argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best]) best = i;
    return best;
}

void diffid_score(const float *logits, int classes, int64_t label, float orig_logit, int n_ratios,
                  struct diffid_acc *acc) {
    for (int r = 0; r < n_ratios; r++) {
        const float *del = logits + (long)r * classes;
        const float *ins = logits + (long)(n_ratios + r) * classes;
        acc->del_correct[r] += diffid_argmax(del, classes) == label;
        acc->ins_correct[r] += diffid_argmax(ins, classes) == label;
        acc->del_logit[r] += (double)del[label] / (double)orig_logit;
        acc->ins_logit[r] += (double)ins[label] / (double)orig_logit;
    }
}
