/* DiffID against a hand-computed 2×2×2 example (docs/metrics.md (DiffID)). Every
 * expected number below was derived on paper, not taken from the code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <math.h>

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
    void *scratch = malloc(diffid_scratch_bytes(2, 4));
    assert_non_null(scratch);
    diffid_perturb(x, a, 2, 4, ratios, 2, out, scratch);
    free(scratch);
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
    void *scratch = malloc(diffid_scratch_bytes(1, 4));
    assert_non_null(scratch);
    diffid_perturb(x, a, 1, 4, ratios, 1, out, scratch);
    free(scratch);
    const float del[4] = {3.5f, 3.5f, 3, 4}; /* remove 0, 1; kept mean 3.5 */
    const float ins[4] = {1, 2, 1.5f, 1.5f}; /* remove 2, 3; kept mean 1.5 */
    for (int i = 0; i < 4; i++) {
        assert_float_equal(out[i], del[i], 1e-6);
        assert_float_equal(out[4 + i], ins[i], 1e-6);
    }
}

/* The ranking against a plain comparator sort (saliency desc, flat index
 * asc) written here, on random maps with many exact ties (attributions
 * quantized to a few levels, zero regions) and with none, for c = 1 and 3:
 * the copies must be bit-identical to ones built from that order. */
static const float *g_keys;
static int by_desc_then_index(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    if (g_keys[a] > g_keys[b]) return -1;
    if (g_keys[a] < g_keys[b]) return 1;
    return (a > b) - (a < b);
}

static void test_perturb_matches_comparator_sort(void **state) {
    (void)state;
    const double ratios[3] = {0.1, 0.5, 0.9};
    uint64_t rng = 12345;
    for (int trial = 0; trial < 12; trial++) {
        const int c = trial % 2 ? 3 : 1, levels = trial < 4 ? 3 : (trial < 8 ? 50 : 0);
        const long hw = 97 + 31 * trial, d = c * hw;
        float *x = malloc((size_t)d * sizeof *x), *a = malloc((size_t)d * sizeof *a);
        float *out = malloc((size_t)(6 * d) * sizeof *out), *want = malloc((size_t)(6 * d) * sizeof *want);
        float *s = malloc((size_t)d * sizeof *s);
        long *order = malloc((size_t)d * sizeof *order);
        void *scratch = malloc(diffid_scratch_bytes(c, hw));
        assert_true(x && a && out && want && s && order && scratch);
        for (long i = 0; i < d; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(rng >> 11) / 9007199254740992.0;
            x[i] = (float)(u * 4 - 2);
            a[i] = levels ? (float)((long)(u * levels) % levels) / levels - 0.3f : (float)(u - 0.5);
            if (i % hw < hw / 5) a[i] = 0; /* a flat zero region: the minimum */
        }
        diffid_perturb(x, a, c, hw, ratios, 3, out, scratch);
        /* the reference: the same saliency, a comparator sort, the same fill */
        float lo = INFINITY, hi = -INFINITY;
        for (long p = 0; p < hw; p++) {
            float v = 0;
            for (int ch = 0; ch < c; ch++) v += fabsf(a[ch * hw + p]);
            s[p] = v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        for (long p = 0; p < hw; p++) s[p] = (s[p] - lo) / (hi - lo + 1e-10f);
        for (int ch = 1; ch < c; ch++) memcpy(s + ch * hw, s, (size_t)hw * sizeof *s);
        for (long i = 0; i < d; i++) order[i] = i;
        g_keys = s;
        qsort(order, (size_t)d, sizeof *order, by_desc_then_index);
        for (int r = 0; r < 3; r++)
            for (int ins = 0; ins < 2; ins++) {
                long n = diffid_count(ratios[r], d), first = ins ? d - n : 0;
                float *w = want + (long)(ins * 3 + r) * d;
                double kept = 0;
                for (long i = 0; i < d; i++) kept += x[i];
                for (long i = first; i < first + n; i++) kept -= x[order[i]];
                memcpy(w, x, (size_t)d * sizeof *w);
                for (long i = first; i < first + n; i++) w[order[i]] = (float)(kept / (double)(d - n));
            }
        assert_memory_equal(out, want, (size_t)(6 * d) * sizeof *out);
        free(x);
        free(a);
        free(out);
        free(want);
        free(s);
        free(order);
        free(scratch);
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
        cmocka_unit_test(test_count),        cmocka_unit_test(test_perturb_2x2x2),
        cmocka_unit_test(test_perturb_ties), cmocka_unit_test(test_perturb_matches_comparator_sort),
        cmocka_unit_test(test_score),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
