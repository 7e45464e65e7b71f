/* Shard planning: every image id lands in exactly one shard, in order, for
 * any image count and shard size; and any assignment of shards to N ranks
 * (round robin here, dynamic in the run) covers each id exactly once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>

#include "shard_plan.h"

static void check_plan(long n, long size, int ranks) {
    unsigned char *seen = calloc((size_t)(n ? n : 1), 1);
    long count = shard_plan_count(n, size);
    assert_int_equal(count, n == 0 ? 0 : (n + size - 1) / size);
    long next_first = 0;
    for (int r = 0; r < ranks; r++)
        for (long s = r; s < count; s += ranks) {
            struct shard sh;
            assert_int_equal(shard_plan_get(n, size, s, &sh), 0);
            assert_int_equal(sh.index, s);
            assert_true(sh.count >= 1 && sh.count <= size);
            for (long i = sh.first; i < sh.first + sh.count; i++) {
                assert_true(i >= 0 && i < n);
                assert_int_equal(seen[i], 0);
                seen[i] = 1;
            }
        }
    for (long s = 0; s < count; s++) { /* contiguous and ordered */
        struct shard sh;
        shard_plan_get(n, size, s, &sh);
        assert_int_equal(sh.first, next_first);
        next_first += sh.count;
    }
    for (long i = 0; i < n; i++) assert_int_equal(seen[i], 1);
    struct shard sh;
    assert_int_equal(shard_plan_get(n, size, count, &sh), -1);
    assert_int_equal(shard_plan_get(n, size, -1, &sh), -1);
    free(seen);
}

static void test_every_id_once(void **state) {
    (void)state;
    const long ns[] = {0, 1, 2, 7, 255, 256, 257, 1000, 10000, 50000};
    const long sizes[] = {1, 3, 64, 256, 999, 100000};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof sizes / sizeof *sizes; b++)
            for (int ranks = 1; ranks <= 9; ranks += 4) check_plan(ns[a], sizes[b], ranks);
}

static void test_bad_args(void **state) {
    (void)state;
    assert_int_equal(shard_plan_count(10, 0), 0);
    assert_int_equal(shard_plan_count(-5, 4), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_id_once),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
