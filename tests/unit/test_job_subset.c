/* The image ids of a metric's `images: N` (jobs/job_subset.c): the ids
 * ⌊k·T/N⌋, k = 0 … N−1, worked out by hand here, spread over the split,
 * and every id when N is 0 or at least T. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "job.h"

/* The chosen ids of 0..total-1 into out; their count. */
static long chosen(long n, long total, long *out) {
    long m = 0;
    for (long id = 0; id < total; id++)
        if (job_subset_has(n, total, id)) out[m++] = id;
    return m;
}

static void test_by_hand(void **state) {
    (void)state;
    long got[64];
    /* T = 10, N = 4: 0, 2.5, 5, 7.5 -> 0, 2, 5, 7 */
    const long a[] = {0, 2, 5, 7};
    assert_int_equal(chosen(4, 10, got), 4);
    for (int i = 0; i < 4; i++) assert_int_equal(got[i], a[i]);
    /* T = 64, N = 8: every 8th id */
    assert_int_equal(chosen(8, 64, got), 8);
    for (int i = 0; i < 8; i++) assert_int_equal(got[i], 8 * i);
    /* T = 7, N = 3: 0, 2.33, 4.67 -> 0, 2, 4 */
    const long b[] = {0, 2, 4};
    assert_int_equal(chosen(3, 7, got), 3);
    for (int i = 0; i < 3; i++) assert_int_equal(got[i], b[i]);
    /* T = 10, N = 9: 0, 1.11, 2.22, ..., 8.89 -> every id but 9 */
    assert_int_equal(chosen(9, 10, got), 9);
    for (int i = 0; i < 9; i++) assert_int_equal(got[i], i);
    /* N = 1: the first image only */
    assert_int_equal(chosen(1, 50, got), 1);
    assert_int_equal(got[0], 0);
}

static void test_all_and_outside(void **state) {
    (void)state;
    long got[64];
    assert_int_equal(chosen(0, 20, got), 20); /* 0: every image */
    assert_int_equal(chosen(20, 20, got), 20);
    assert_int_equal(chosen(500, 20, got), 20); /* more than the split */
    assert_false(job_subset_has(0, 20, 20));    /* ids outside the split never */
    assert_false(job_subset_has(5, 20, -1));
    assert_false(job_subset_has(5, 0, 0));
}

/* N ids, distinct, spaced ⌊T/N⌋ or ⌈T/N⌉ apart: every stretch of
 * ⌈T/N⌉ ids (so every shard at least that long) holds one. */
static void test_spread(void **state) {
    (void)state;
    const long totals[] = {1, 2, 10, 100, 257, 10000, 50000};
    for (size_t t = 0; t < sizeof totals / sizeof *totals; t++)
        for (long n = 1; n < totals[t]; n = n * 3 + 1) {
            const long T = totals[t];
            long m = 0, prev = -1;
            for (long id = 0; id < T; id++) {
                if (!job_subset_has(n, T, id)) continue;
                if (prev >= 0) {
                    assert_true(id - prev >= T / n);
                    assert_true(id - prev <= (T + n - 1) / n);
                } else {
                    assert_int_equal(id, 0);
                }
                prev = id;
                m++;
            }
            assert_int_equal(m, n);
            assert_true(T - prev <= (T + n - 1) / n);
        }
    /* a large split: 1.28 million ImageNet train images, N = 1000 */
    assert_true(job_subset_has(1000, 1281167, 1281)); /* ⌊1281.167⌋ */
    assert_false(job_subset_has(1000, 1281167, 1282));
    assert_true(job_subset_has(1000, 1281167, 1279885)); /* k = 999: ⌊1279885.833⌋ */
    assert_false(job_subset_has(1000, 1281167, 1281166));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_all_and_outside),
        cmocka_unit_test(test_spread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
