/* ROAD's pixel order and noisy linear imputation (worker/metrics/road.c) on
 * cases worked out by hand; tests/oracle/check_quantus.py compares the
 * whole metric with Quantus's ROAD. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "road.h"

static void test_order(void **state) {
    (void)state;
    /* two channels summed: pixel saliency {3, -5, 3, 1}; ties by index */
    const float a[8] = {1, -2, 2, 0, 2, -3, 1, 1};
    long order[4];
    double s[4];
    road_order(a, 2, 4, 0, order, s);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 3);
    assert_int_equal(order[3], 1);
    road_order(a, 2, 4, 1, order, s); /* |s|: {3, 5, 3, 1} */
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 0);
    assert_int_equal(order[2], 2);
    assert_int_equal(order[3], 3);
}

static void test_impute(void **state) {
    (void)state;
    void *scratch = malloc(road_scratch_bytes(2, 6, 6));
    float x[2 * 36], out[2 * 36];
    /* channel 0 a ramp r + 2q, channel 1 its negative: the stencil's
     * weighted mean reproduces a linear function, so an interior block
     * comes back exactly */
    for (int r = 0; r < 6; r++)
        for (int q = 0; q < 6; q++) {
            x[r * 6 + q] = (float)(r + 2 * q);
            x[36 + r * 6 + q] = -(float)(r + 2 * q);
        }
    const long block[4] = {2 * 6 + 2, 2 * 6 + 3, 3 * 6 + 2, 3 * 6 + 3};
    float y[2 * 36];
    for (int k = 0; k < 72; k++) y[k] = x[k];
    for (int k = 0; k < 4; k++) y[block[k]] = y[36 + block[k]] = 100; /* what was there does not matter */
    assert_int_equal(road_impute(y, 2, 6, 6, block, 4, NULL, 0, out, scratch), 0);
    for (int k = 0; k < 72; k++) assert_float_equal(out[k], x[k], 1e-5);
    /* a corner alone: its three in-image neighbours, weights 1/6, 1/6, 1/12
     * renormalised: (x01/6 + x10/6 + x11/12) / (5/12) */
    const long corner[1] = {0};
    assert_int_equal(road_impute(x, 1, 6, 6, corner, 1, NULL, 0, out, scratch), 0);
    assert_float_equal(out[0], (2.0 / 6 + 1.0 / 6 + 3.0 / 12) / (5.0 / 12), 1e-6);
    /* noise: + noise · z, per channel and imputed pixel */
    const float z[2] = {1.5f, -2.0f};
    assert_int_equal(road_impute(x, 2, 6, 6, corner, 1, z, 0.1, out, scratch), 0);
    assert_float_equal(out[0], 1.8 + 0.15, 1e-6);
    assert_float_equal(out[36], -1.8 - 0.2, 1e-6);
    assert_float_equal(out[1], x[1], 0); /* the rest untouched */
    /* every pixel imputed: nothing anchors the values */
    long all[36];
    for (int k = 0; k < 36; k++) all[k] = k;
    assert_int_equal(road_impute(x, 1, 6, 6, all, 36, NULL, 0, out, scratch), -1);
    free(scratch);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_order), cmocka_unit_test(test_impute)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
