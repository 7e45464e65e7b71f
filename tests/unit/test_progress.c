/* The progress line and its ETA (coordinator/progress.c), every number
 * worked out by hand in the comments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "progress.h"

static void test_eta_before_and_after(void **state) {
    (void)state;
    struct progress_in in = {.total = 100, .ranks = 2};
    assert_true(progress_eta(&in) < 0); /* nothing finished: estimating */
    in.done = 100;
    assert_true(progress_eta(&in) == 0); /* all journaled (a resume of a finished stage) */
    /* one rank, 10 images in 20 s: 0.5 images/s, 90 left: 180 s */
    struct progress_in one = {.total = 100, .done = 10, .fresh = 10, .busy = 20, .ranks = 1};
    assert_float_equal(progress_eta(&one), 180.0, 1e-9);
    /* resumed: 60 done of which 10 now, in 10 shard-seconds on each of 2 ranks:
     * r = 1, 40 left over 2 ranks: 20 s */
    struct progress_in res = {.total = 100, .done = 60, .fresh = 10, .busy = 10, .ranks = 2};
    assert_float_equal(progress_eta(&res), 20.0, 1e-9);
}

static void test_eta_in_flight(void **state) {
    (void)state;
    /* 3 ranks, shards of 8 of 64 images: one done in 16 s (r = 0.5 per rank),
     * two in flight for 15 s (7.5 along each): left 64 − 8 − 15 = 41 at 1.5/s
     * = 27.33 s; the slowest in flight ends in 16 − 15 = 1 s */
    long u[] = {8, 8};
    double t[] = {15, 15};
    struct progress_in in = {
        .total = 64, .done = 8, .fresh = 8, .busy = 16, .ranks = 3, .n_flight = 2, .flight_units = u, .flight_busy = t};
    assert_float_equal(progress_eta(&in), 41.0 / 1.5, 1e-9);
    /* the last shard, begun 2 s ago, needs 16 s: 14 s, though 7 images at 1.5/s are 4.67 s */
    long u1[] = {8};
    double t1[] = {2};
    struct progress_in tail = {.total = 24,
                               .done = 16,
                               .fresh = 16,
                               .busy = 32,
                               .ranks = 3,
                               .n_flight = 1,
                               .flight_units = u1,
                               .flight_busy = t1};
    assert_float_equal(progress_eta(&tail), 14.0, 1e-9);
    /* a shard running longer than expected counts as done, never negative */
    long u2[] = {4};
    double t2[] = {10};
    struct progress_in late = {
        .total = 8, .done = 4, .fresh = 4, .busy = 4, .ranks = 1, .n_flight = 1, .flight_units = u2, .flight_busy = t2};
    assert_float_equal(progress_eta(&late), 0.0, 1e-9);
}

static void test_line(void **state) {
    (void)state;
    char buf[320];
    progress_line(buf, sizeof buf, 1, 3, "evaluation", 0, 64, "images", 0, 3.4, -1);
    assert_string_equal(buf, "stage 1/3 evaluation: 0/64 images (0.0%), 0.0000 images/s, elapsed 3s, ETA estimating");
    progress_line(buf, sizeof buf, 1, 1, "evaluation", 256, 10000, "images", 12.5, 20.2, 390.4);
    assert_string_equal(buf, "stage 1/1 evaluation: 256/10000 images (2.6%), 12.5 images/s, elapsed 20s, ETA 390s");
    progress_line(buf, sizeof buf, 3, 3, "fine-tunes", 4, 40, "fine-tunes", 0.0125, 320, 2880);
    assert_string_equal(buf,
                        "stage 3/3 fine-tunes: 4/40 fine-tunes (10.0%), 0.0125 fine-tunes/s, elapsed 320s, ETA 2880s");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eta_before_and_after),
        cmocka_unit_test(test_eta_in_flight),
        cmocka_unit_test(test_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
