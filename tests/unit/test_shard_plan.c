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

/* shard_plan_auto by hand: n / (ranks × per_rank × batch) batches a shard,
 * rounded down, at least 1, at most cap / batch. */
static void test_auto_by_hand(void **state) {
    (void)state;
    /* ImageNet val on 64 ranks, batches of 16: 50000 / (1280 × 16) = 2.44 -> 2 batches */
    assert_int_equal(shard_plan_auto(50000, 16, 64, 20, 256), 32);
    assert_int_equal(shard_plan_count(50000, 32), 1563); /* >= 64 × 20 */
    /* the default job on 2 ranks: 10000 / (40 × 64) = 3.9 -> 3 batches */
    assert_int_equal(shard_plan_auto(10000, 64, 2, 20, 256), 192);
    /* a 64-image job: less than a batch a shard wanted -> one batch */
    assert_int_equal(shard_plan_auto(64, 16, 1, 20, 256), 16);
    /* a big job on one rank: 1e6 / 320 = 3125 batches -> the cap, 16 batches */
    assert_int_equal(shard_plan_auto(1000000, 16, 1, 20, 256), 256);
    /* a cap of other than whole batches is kept as given (no auto size); 320 is 5 batches */
    assert_int_equal(shard_plan_auto(1000000, 64, 1, 20, 300), 300);
    assert_int_equal(shard_plan_auto(1000000, 64, 1, 20, 320), 320);
    /* off, or a cap of one batch or less: the cap as given */
    assert_int_equal(shard_plan_auto(50000, 16, 64, 0, 256), 256);
    assert_int_equal(shard_plan_auto(50000, 16, 64, 20, 16), 16);
    assert_int_equal(shard_plan_auto(50000, 16, 64, 20, 8), 8);
    assert_int_equal(shard_plan_auto(50000, 16, 0, 20, 256), 256); /* 0 ranks counts as 1: 50000/320 */
}

/* Whole batches, within [batch, cap], and at least ranks × per_rank shards
 * unless one batch a shard or the cap forbids it. */
static void test_auto_bounds(void **state) {
    (void)state;
    const long ns[] = {1, 15, 16, 17, 640, 5000, 10000, 50000, 1281167};
    const long bs[] = {1, 2, 16, 64};
    const long ranks[] = {1, 2, 8, 64, 512};
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof bs / sizeof *bs; b++)
            for (size_t r = 0; r < sizeof ranks / sizeof *ranks; r++) {
                const long n = ns[a], bt = bs[b], cap = 256 / bt * bt;
                if (cap <= bt) continue;
                long s = shard_plan_auto(n, bt, ranks[r], 20, cap);
                assert_int_equal(s % bt, 0);
                assert_true(s >= bt && s <= cap);
                if (s > bt && s < cap) assert_true(shard_plan_count(n, s) >= ranks[r] * 20);
                if (n >= ranks[r] * 20 * 2 * bt) assert_true(s >= 2 * bt); /* two batches a shard fit */
            }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_id_once),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_auto_by_hand),
        cmocka_unit_test(test_auto_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
