/* DiffID against a hand-computed 2×2×2 example (METRICS.md §1). Every
 * expected number below was derived on paper, not taken from the code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "diffid.h"

static void test_count(void **state) {
    (void)state;
    assert_int_equal(diffid_count(0.3, 10), 3); /* 0.3*10 = 2.9999999999999996 in doubles */
    assert_int_equal(diffid_count(0.7, 10), 7);
    assert_int_equal(diffid_count(0.1, 784), 78);
    assert_int_equal(diffid_count(0.9, 784), 705);
    assert_int_equal(diffid_count(0.5, 3), 1);
}

/* x: channel 0 = [1 2 3 4], channel 1 = [5 6 7 8] (H = W = 2).
 * a: channel 0 = [0.1 -0.6 0.2 0], channel 1 = [0.3 0 -0.1 0.8]
 * saliency per pixel Σ_c|a| = [0.4 0.6 0.3 0.8] → min–max → [0.2 0.6 0 1],
 * repeated over channels; descending stable order of the 8 elements:
 * 3, 7 (1.0), 1, 5 (0.6), 0, 4 (0.2), 2, 6 (0). */
static void test_perturb_2x2x2(void **state) {
    (void)state;
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const float a[8] = {0.1f, -0.6f, 0.2f, 0.0f, 0.3f, 0.0f, -0.1f, 0.8f};
    const double ratios[2] = {0.25, 0.5};
    float out[4 * 8];
    long order[8];
    float s[8];
    diffid_perturb(x, a, 2, 4, ratios, 2, out, order, s);
    /* deletion 0.25: remove elements 3, 7 (x = 4, 8); kept mean (1+2+3+5+6+7)/6 = 4 */
    const float del25[8] = {1, 2, 3, 4, 5, 6, 7, 4};
    /* deletion 0.5: remove 3, 7, 1, 5 (x = 4, 8, 2, 6); kept mean (1+3+5+7)/4 = 4 */
    const float del50[8] = {1, 4, 3, 4, 5, 4, 7, 4};
    /* insertion 0.25: remove the 2 lowest, 2 and 6 (x = 3, 7); kept mean 26/6 */
    const float m = 26.0f / 6.0f;
    const float ins25[8] = {1, 2, m, 4, 5, 6, m, 8};
    /* insertion 0.5: remove 0, 4, 2, 6 (x = 1, 5, 3, 7); kept mean (2+4+6+8)/4 = 5 */
    const float ins50[8] = {5, 2, 5, 4, 5, 6, 5, 8};
    const float *want[4] = {del25, del50, ins25, ins50};
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < 8; i++) assert_float_equal(out[k * 8 + i], want[k][i], 1e-6);
}

/* Equal saliency everywhere: ties keep flat-index order, and a constant
 * attribution still yields a valid (finite) ranking. */
static void test_perturb_ties(void **state) {
    (void)state;
    const float x[4] = {1, 2, 3, 4}, a[4] = {1, 1, 1, 1};
    const double ratios[1] = {0.5};
    float out[2 * 4];
    long order[4];
    float s[4];
    diffid_perturb(x, a, 1, 4, ratios, 1, out, order, s);
    const float del[4] = {3.5f, 3.5f, 3, 4}; /* remove 0, 1; kept mean 3.5 */
    const float ins[4] = {1, 2, 1.5f, 1.5f};  /* remove 2, 3; kept mean 1.5 */
    for (int i = 0; i < 4; i++) {
        assert_float_equal(out[i], del[i], 1e-6);
        assert_float_equal(out[4 + i], ins[i], 1e-6);
    }
}

static void test_score(void **state) {
    (void)state;
    /* 2 ratios × (deletion, insertion), 3 classes, label 1, f(x)[1] = 2 */
    const float logits[4 * 3] = {
        0, 1, 2, /* deletion r0: argmax 2 → wrong, ratio 0.5 */
        0, 3, 1, /* deletion r1: correct, ratio 1.5 */
        5, 4, 0, /* insertion r0: wrong, ratio 2.0 */
        0, 2, 2, /* insertion r1: tie → first max (1) → correct, ratio 1.0 */
    };
    struct diffid_acc acc;
    memset(&acc, 0, sizeof acc);
    diffid_score(logits, 3, 1, 2.0f, 2, &acc);
    diffid_score(logits, 3, 1, 2.0f, 2, &acc); /* sums, not means */
    assert_float_equal(acc.del_correct[0], 0, 0);
    assert_float_equal(acc.del_correct[1], 2, 0);
    assert_float_equal(acc.ins_correct[0], 0, 0);
    assert_float_equal(acc.ins_correct[1], 2, 0);
    assert_float_equal(acc.del_logit[0], 1.0, 1e-12);
    assert_float_equal(acc.del_logit[1], 3.0, 1e-12);
    assert_float_equal(acc.ins_logit[0], 4.0, 1e-12);
    assert_float_equal(acc.ins_logit[1], 2.0, 1e-12);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_perturb_2x2x2),
        cmocka_unit_test(test_perturb_ties),
        cmocka_unit_test(test_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
