/* The statistics' pieces on cases worked out by hand (docs/statistics.md):
 * numpy's linear percentile, the Wilcoxon signed-rank p-value in SciPy's
 * exact and normal-approximation branches, and the bootstrap's resample
 * counts and intervals. tests/oracle/check_statistics.py checks the same
 * against numpy and SciPy on a real run. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "stats_ci.h"

/* the p-value, asserting the call succeeded */
static double wx(const double *d, long n, double *stat) {
    double p;
    assert_int_equal(sci_wilcoxon(d, n, stat, &p), 0);
    return p;
}

static void test_percentile(void **state) {
    (void)state;
    const double v[4] = {1, 2, 3, 4};
    /* h = (n−1)·q: 0.075 → 1 + 0.075·(2 − 1); 2.925 → 3 + 0.925·(4 − 3) */
    assert_float_equal(sci_percentile_sorted(v, 4, 0.025), 1.075, 1e-12);
    assert_float_equal(sci_percentile_sorted(v, 4, 0.975), 3.925, 1e-12);
    assert_float_equal(sci_percentile_sorted(v, 4, 0.0), 1.0, 0);
    assert_float_equal(sci_percentile_sorted(v, 4, 1.0), 4.0, 0);
    assert_float_equal(sci_percentile_sorted(v, 1, 0.5), 1.0, 0);
}

static void test_wilcoxon_exact(void **state) {
    (void)state;
    double stat;
    /* ranks 1..5, R+ = 1+3+4+5 = 13, R− = 2. Of the 32 sign patterns of
     * five ranks, 3 have R+ >= 13 (sums 13, 14, 15): p = 2·3/32. */
    const double d[5] = {1, -2, 3, 4, 5};
    assert_float_equal(wx(d, 5, &stat), 0.1875, 1e-15);
    assert_float_equal(stat, 2.0, 0);
    /* ties without zeros stay exact: |d| ranks 1.5, 1.5, 3, 4, 5, 6; R+ = 18,
     * R− = 3; sums >= 18 of six ranks: 18 (2 ways), 19, 20, 21 → 2·5/64 */
    const double t[6] = {0.5, 0.5, -1.5, 2, 3, 4};
    assert_float_equal(wx(t, 6, &stat), 0.15625, 1e-15);
    assert_float_equal(stat, 3.0, 0);
    /* R+ at the centre of the distribution: p = 1 */
    const double c[3] = {1, 2, -3}; /* R+ = 3 = 6/2 */
    assert_float_equal(wx(c, 3, &stat), 1.0, 0);
}

static void test_wilcoxon_approx(void **state) {
    (void)state;
    double stat;
    /* a zero: the normal approximation over the other four, {1, 1, −2, 3}:
     * ranks 1.5, 1.5, 3, 4; R+ = 7, R− = 3 = T; mean 4·5/4 = 5; variance
     * (4·5·9 − ½·2·(4 − 1))/24 = 177/24; z = −2/√7.375; p = erfc(|z|/√2) */
    const double d[5] = {0, 1, 1, -2, 3};
    const double want = erfc(2.0 / sqrt(177.0 / 24.0) / sqrt(2.0));
    assert_float_equal(wx(d, 5, &stat), want, 1e-15);
    assert_float_equal(want, 0.4614509878333607, 1e-12); /* SciPy 1.10's wilcoxon([0, 1, 1, -2, 3]) */
    assert_float_equal(stat, 3.0, 0);
    /* more than 50 values: approximate even without zeros */
    double big[60];
    for (int i = 0; i < 60; i++) big[i] = i + 1;
    double p = wx(big, 60, &stat);
    assert_float_equal(stat, 0.0, 0);
    assert_true(p > 0 && p < 1e-10);
    /* undefined: nothing, or every difference 0 */
    const double z[3] = {0, 0, 0};
    assert_true(isnan(wx(z, 3, &stat)));
    assert_true(isnan(wx(z, 0, &stat)));
}

static void test_resample_counts(void **state) {
    (void)state;
    enum { N = 1000 };
    uint32_t a[N], b[N], c[N];
    sci_resample_counts(7, 3, N, a);
    sci_resample_counts(7, 3, N, b);
    sci_resample_counts(7, 4, N, c);
    long total = 0, same = 1, differs = 0, zeros = 0;
    for (int i = 0; i < N; i++) {
        total += a[i];
        same &= a[i] == b[i];
        differs += a[i] != c[i];
        zeros += a[i] == 0;
    }
    assert_int_equal(total, N); /* n draws */
    assert_true(same);          /* a function of (seed, b) alone */
    assert_true(differs > 0);
    /* with replacement: about 1/e of the rows are not drawn */
    assert_true(zeros > 300 && zeros < 440);
}

static void test_bootstrap(void **state) {
    (void)state;
    double lo[3], hi[3];
    /* column 0 constant, column 1 NaN but for one row, column 2 all NaN */
    const double v[3 * 4] = {2, 2, 2, 2, NAN, 5, NAN, NAN, NAN, NAN, NAN, NAN};
    assert_int_equal(sci_bootstrap_means(v, 4, 3, 1, 200, 0.95, lo, hi), 0);
    assert_float_equal(lo[0], 2.0, 0);
    assert_float_equal(hi[0], 2.0, 0);
    assert_float_equal(lo[1], 5.0, 0); /* every resample that drew row 1 */
    assert_float_equal(hi[1], 5.0, 0);
    assert_true(isnan(lo[2]) && isnan(hi[2]));
    /* 0 and 1 in equal parts: the interval holds 1/2 and is about ±2·0.5/√n */
    enum { N = 400 };
    static double w[N];
    for (int i = 0; i < N; i++) w[i] = i % 2;
    assert_int_equal(sci_bootstrap_means(w, N, 1, 3, 1000, 0.95, lo, hi), 0);
    assert_true(lo[0] < 0.5 && hi[0] > 0.5);
    assert_true(fabs((hi[0] - lo[0]) - 2 * 1.96 * 0.5 / 20.0) < 0.01);
}

/* Holm by hand: p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted 0.005, 0.01,
 * 0.03, 0.04 times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04 → running max 0.02,
 * 0.03, 0.06, 0.06. A NaN does not count (m stays 4) and stays NaN; a tie
 * (0.03 twice with m = 3: ×3 then ×2) takes the larger; 1 caps. */
static void test_holm(void **state) {
    (void)state;
    const double p[5] = {0.01, 0.04, NAN, 0.03, 0.005};
    double adj[5];
    assert_int_equal(sci_holm(p, 5, adj), 0);
    assert_float_equal(adj[0], 0.03, 1e-15);
    assert_float_equal(adj[1], 0.06, 1e-15);
    assert_true(isnan(adj[2]));
    assert_float_equal(adj[3], 0.06, 1e-15);
    assert_float_equal(adj[4], 0.02, 1e-15);
    const double t[3] = {0.03, 0.5, 0.03};
    double ta[3];
    assert_int_equal(sci_holm(t, 3, ta), 0);
    assert_float_equal(ta[0], 0.09, 1e-15);
    assert_float_equal(ta[2], 0.09, 1e-15);
    assert_float_equal(ta[1], 0.5, 1e-15);
    const double big[2] = {0.7, 0.9};
    assert_int_equal(sci_holm(big, 2, ta), 0);
    assert_float_equal(ta[0], 1.0, 0);
    assert_float_equal(ta[1], 1.0, 0);
    assert_int_equal(sci_holm(big, 0, ta), 0); /* an empty family */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_percentile),      cmocka_unit_test(test_wilcoxon_exact),
        cmocka_unit_test(test_wilcoxon_approx), cmocka_unit_test(test_resample_counts),
        cmocka_unit_test(test_bootstrap),       cmocka_unit_test(test_holm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
