/* The host-side pieces of sensitivity-n and faithfulness (docs/metrics.md (sensitivity-n),
 * §4) and the correlations, against values worked out by hand. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "perturb.h"
#include "stats.h"

static void test_pearson(void **state) {
    (void)state;
    const double x[4] = {1, 2, 3, 4}, y[4] = {1, 3, 2, 4}, z[4] = {8, 6, 4, 2}, k[4] = {5, 5, 5, 5};
    double r = 0;
    /* dx = dy·perm: Σdxdy = 4, Σdx² = Σdy² = 5 → 0.8 */
    assert_int_equal(stats_pearson(x, y, 4, &r), 0);
    assert_true(fabs(r - 0.8) < 1e-12);
    assert_int_equal(stats_pearson(x, z, 4, &r), 0);
    assert_true(fabs(r + 1.0) < 1e-12);
    /* undefined: a constant side, or fewer than 2 pairs; r left alone */
    r = 42;
    assert_int_equal(stats_pearson(x, k, 4, &r), -1);
    assert_int_equal(stats_pearson(x, y, 1, &r), -1);
    assert_true(r == 42);
    /* a large shared offset must not cost the digits (two-pass form) */
    const double xo[3] = {1e8 + 1, 1e8 + 2, 1e8 + 3}, yo[3] = {1e8 + 1, 1e8 + 3, 1e8 + 2};
    assert_int_equal(stats_pearson(xo, yo, 3, &r), 0);
    assert_true(fabs(r - 0.5) < 1e-9);
}

static void test_ranks_and_spearman(void **state) {
    (void)state;
    const double v[4] = {10, 20, 20, 5}, y[4] = {1, 2, 3, 0};
    double rank[4], scratch[8], r = 0;
    long idx[4];
    stats_ranks(v, 4, rank, idx);
    /* 5 → 1, 10 → 2, the two 20s share (3 + 4) / 2 */
    assert_true(rank[0] == 2 && rank[1] == 3.5 && rank[2] == 3.5 && rank[3] == 1);
    /* Pearson([2 3.5 3.5 1], [2 3 4 1]) = 4.5 / √(4.5·5) */
    assert_int_equal(stats_spearman(v, y, 4, &r, scratch, idx), 0);
    assert_true(fabs(r - 4.5 / sqrt(22.5)) < 1e-12);
}

static void test_sensn_pick_and_sum(void **state) {
    (void)state;
    const float u[5] = {0.5f, 0.1f, 0.9f, 0.1f, 0.3f};
    long order[5];
    uint8_t m[5];
    sensn_pick(u, 5, 3, order, m); /* 0.1 (pixel 1), 0.1 (pixel 3, tie by index), 0.3 (pixel 4) */
    assert_true(m[0] == 0 && m[1] == 1 && m[2] == 0 && m[3] == 1 && m[4] == 1);
    sensn_pick(u, 5, 2, order, m);
    assert_true(m[0] == 0 && m[1] == 1 && m[2] == 0 && m[3] == 1 && m[4] == 0);
    sensn_pick(u, 5, 0, order, m);
    assert_true(m[0] + m[1] + m[2] + m[3] + m[4] == 0);
    const float a[10] = {1, -2, 3, 4, -5, /* channel 1 */ 0, 1, 0, -1, 2};
    const uint8_t mk[5] = {0, 1, 0, 1, 1};
    /* sum: (−2 + 4 − 5) + (1 − 1 + 2) = −1; abs: (2 + 4 + 5) + (1 + 1 + 2) = 15 */
    assert_true(sensn_attr_sum(a, 2, 5, mk, 0) == -1.0);
    assert_true(sensn_attr_sum(a, 2, 5, mk, 1) == 15.0);
}

static void test_faith_groups(void **state) {
    (void)state;
    static int g[28 * 28];
    int count[100] = {0};
    assert_int_equal(faith_groups(28, 28, 100, g), 100);
    /* rows 0..2 are band 0 (⌊2·10/28⌋ = 0), row 3 band 1; column 27 → 9 */
    assert_int_equal(g[2 * 28 + 0], 0);
    assert_int_equal(g[3 * 28 + 27], 19);
    for (int p = 0; p < 28 * 28; p++) count[g[p]]++;
    for (int k = 0; k < 100; k++) assert_true(count[k] >= 4 && count[k] <= 9); /* 2..3 × 2..3 pixels */
    int h[4 * 6];
    /* 6 groups: gh = round(√6) = 2 rows, gw = 3 columns */
    assert_int_equal(faith_groups(4, 6, 6, h), 6);
    assert_int_equal(h[1 * 6 + 2], 1);
    assert_int_equal(h[3 * 6 + 5], 5);
    /* more groups than pixels: capped at the image */
    int t[2 * 2];
    assert_int_equal(faith_groups(2, 2, 100, t), 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pearson),
        cmocka_unit_test(test_ranks_and_spearman),
        cmocka_unit_test(test_sensn_pick_and_sum),
        cmocka_unit_test(test_faith_groups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
