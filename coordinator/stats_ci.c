/* coordinator/stats_ci.c — see stats_ci.h. */
#include "stats_ci.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "seed.h"

void sci_resample_counts(uint64_t seed, long b, long n, uint32_t *counts) {
    const uint64_t key = seed_for(seed, (int64_t)b, SEED_BOOTSTRAP);
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (long j = 0; j < n; j++) counts[((seed_ctr_bits(key, (uint64_t)j) >> 32) * (uint64_t)n) >> 32]++;
}

double sci_percentile_sorted(const double *v, long n, double q) {
    double h = (double)(n - 1) * q;
    long lo = (long)floor(h);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int sci_bootstrap_means(const double *v, long n, int k, uint64_t seed, int B, double level, double *lo, double *hi) {
    uint32_t *counts = malloc((size_t)(n > 0 ? n : 1) * sizeof *counts);
    double *means = malloc((size_t)k * (size_t)(B > 0 ? B : 1) * sizeof *means);
    long *defined = calloc((size_t)(k > 0 ? k : 1), sizeof *defined);
    if (!counts || !means || !defined) {
        free(counts);
        free(means);
        free(defined);
        return -1;
    }
    for (int b = 0; b < B; b++) {
        sci_resample_counts(seed, b, n, counts);
        for (int c = 0; c < k; c++) {
            const double *col = v + (size_t)c * (size_t)n;
            double sum = 0, w = 0;
            for (long i = 0; i < n; i++)
                if (counts[i] && !isnan(col[i])) {
                    sum += counts[i] * col[i];
                    w += counts[i];
                }
            if (w > 0) means[(size_t)c * (size_t)B + (size_t)defined[c]++] = sum / w;
        }
    }
    const double a = (1.0 - level) / 2.0;
    for (int c = 0; c < k; c++) {
        double *m = means + (size_t)c * (size_t)B;
        if (!defined[c]) {
            lo[c] = hi[c] = NAN;
            continue;
        }
        qsort(m, (size_t)defined[c], sizeof *m, cmp_double);
        lo[c] = sci_percentile_sorted(m, defined[c], a);
        hi[c] = sci_percentile_sorted(m, defined[c], 1.0 - a);
    }
    free(counts);
    free(means);
    free(defined);
    return 0;
}

/* |d| ascending, for the ranks */
static int cmp_abs(const void *a, const void *b) {
    double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
    return (x > y) - (x < y);
}

int sci_wilcoxon(const double *d, long n, double *stat, double *p_out) {
    *stat = *p_out = NAN;
    if (n <= 0) return 0;
    long n_zero = 0;
    for (long i = 0; i < n; i++) n_zero += d[i] == 0;
    /* SciPy: exact up to 50 values, unless one is 0 (then the normal
     * approximation, which drops the zeros) */
    const int exact = n <= 50 && n_zero == 0;
    if (!exact && n_zero == n) return 0;
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return -1;
    long m = 0;
    for (long i = 0; i < n; i++)
        if (d[i] != 0) s[m++] = d[i];
    qsort(s, (size_t)m, sizeof *s, cmp_abs);
    /* average ranks of equal |d| (scipy.stats.rankdata), and the tie term */
    double r_plus = 0, r_minus = 0, ties = 0;
    for (long i = 0; i < m;) {
        long j = i;
        while (j + 1 < m && fabs(s[j + 1]) == fabs(s[i])) j++;
        const double rank = (double)(i + j + 2) / 2.0, t = (double)(j - i + 1);
        for (long q = i; q <= j; q++) {
            if (s[q] > 0) r_plus += rank;
            else r_minus += rank;
        }
        if (t > 1) ties += t * (t * t - 1);
        i = j + 1;
    }
    free(s);
    *stat = r_plus < r_minus ? r_plus : r_minus;
    const double cnt = (double)m;
    if (!exact) {
        const double mn = cnt * (cnt + 1) * 0.25;
        const double se = sqrt((cnt * (cnt + 1) * (2 * cnt + 1) - 0.5 * ties) / 24.0);
        if (se > 0) *p_out = erfc(fabs((*stat - mn) / se) / sqrt(2.0)); /* 2·norm.sf(|z|) */
        return 0;
    }
    /* exact: how many of the 2^m sign patterns give each R+ (counts up to
     * 2^50 are exact in doubles) */
    const long top = m * (m + 1) / 2;
    double *c = calloc((size_t)top + 1, sizeof *c);
    if (!c) return -1;
    c[0] = 1;
    for (long k = 1; k <= m; k++)
        for (long t = top; t >= k; t--) c[t] += c[t - k];
    const long r = (long)r_plus; /* SciPy truncates a tied half rank */
    double p;
    if (r == top / 2) {
        p = 1.0;
    } else {
        double less = 0, greater = 0;
        for (long t = 0; t <= r; t++) less += c[t];
        for (long t = r; t <= top; t++) greater += c[t];
        p = 2.0 * (less < greater ? less : greater) / ldexp(1.0, (int)m);
        if (p > 1) p = 1;
    }
    free(c);
    *p_out = p;
    return 0;
}

/* A p-value and its place, ordered by value, ties by place (stable). */
struct holm_item {
    double p;
    long i;
};
static int holm_cmp(const void *a, const void *b) {
    const struct holm_item *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

int sci_holm(const double *p, long n, double *adj) {
    struct holm_item *ord = malloc((size_t)(n > 0 ? n : 1) * sizeof *ord);
    long m = 0;
    if (!ord) return -1;
    for (long i = 0; i < n; i++) {
        const double v = p[i]; /* before adj[i] is written: adj may be p */
        adj[i] = NAN;
        if (!isnan(v)) ord[m++] = (struct holm_item){v, i};
    }
    qsort(ord, (size_t)m, sizeof *ord, holm_cmp);
    double run = 0;
    for (long j = 0; j < m; j++) {
        double v = (double)(m - j) * ord[j].p;
        if (v > 1) v = 1;
        if (v > run) run = v;
        adj[ord[j].i] = run;
    }
    free(ord);
    return 0;
}
