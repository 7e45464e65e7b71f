/* job_method_check (jobs/job_method_check.c): the one validator of a
 * method's settings that a job's `methods:` entry and `recal attribute`'s
 * flags share. Each case is written out by hand from the rules in
 * docs/methods.md: which field it blames, how the message reads, and the
 * value a range refuses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "job.h"

static struct job_method method(enum job_method_kind k) {
    struct job_method m;
    job_method_defaults(k, &m);
    return m;
}

/* m with given fails on field f, in form, with msg exactly. */
static void refused(const struct job_method *m, unsigned given, enum job_method_field f, enum job_problem_form form,
                    const char *msg) {
    struct job_method_problem p;
    assert_int_equal(job_method_check(m, given, &p), -1);
    assert_int_equal(p.field, f);
    assert_int_equal(p.form, form);
    assert_string_equal(p.msg, msg);
}

/* A range refused: "KEY must be RULE, got VALUE". */
static void out_of_range(const struct job_method *m, enum job_method_field f, const char *rule, double value) {
    struct job_method_problem p;
    assert_int_equal(job_method_check(m, 0, &p), -1);
    assert_int_equal(p.field, f);
    assert_int_equal(p.form, JOB_MP_RULE);
    assert_string_equal(p.msg, rule);
    assert_true(p.value == value);
}

/* Every implemented method at its defaults passes, nothing given;
 * precomputed wants its path. */
static void test_defaults_pass(void **state) {
    (void)state;
    struct job_method_problem p;
    for (int k = 0; k < JOB_M_COUNT; k++) {
        struct job_method m = method((enum job_method_kind)k);
        if (k == JOB_M_PRECOMPUTED) {
            refused(&m, 0, JOB_MF_PATH, JOB_MP_TEXT,
                    "method precomputed needs 'path': the .npy of the split's maps (N x C x H x W or N x H x W, "
                    "float16/32/64, row i = image id i)");
            strcpy(m.path, "maps.npy");
        }
        assert_int_equal(job_method_check(&m, 0, &p), 0);
    }
}

/* A field given to a method that does not read it names the methods that do. */
static void test_applies(void **state) {
    (void)state;
    static const struct {
        enum job_method_kind kind;
        enum job_method_field f;
        const char *msg;
    } cases[] = {
        {JOB_M_IG_UNIFORM, JOB_MF_BASELINE, "applies to methods ig and guided_ig only"},
        {JOB_M_IG, JOB_MF_FILL, "applies to lime and kernel_shap only"},
        {JOB_M_RANDOM, JOB_MF_NOISE, "applies to ig_sg, ig_sq and smoothgrad only"},
        {JOB_M_EG, JOB_MF_SIGMA, "applies to ig_sg, ig_sq and smoothgrad only"},
        {JOB_M_IG, JOB_MF_EPSILON, "applies to agi only"},
        {JOB_M_BLUR_IG, JOB_MF_MAX_DIST, "applies to guided_ig only"},
        {JOB_M_BLUR_IG, JOB_MF_FRACTION, "applies to guided_ig only"},
        {JOB_M_GUIDED_IG, JOB_MF_MAX_SIGMA, "applies to blur_ig only"},
        {JOB_M_IG, JOB_MF_GRAD_STEP, "applies to blur_ig only"},
        {JOB_M_IG, JOB_MF_SQRT, "applies to blur_ig only"},
        {JOB_M_AGI, JOB_MF_SAMPLES, "applies to smoothgrad, lime and kernel_shap only"},
        {JOB_M_RANDOM, JOB_MF_PATH, "applies to precomputed only"},
        {JOB_M_EG, JOB_MF_ALPHA_RULE,
         "applies to ig, ig_uniform, ig_sg and ig_sq (eg draws its α or has no path of straight-line points)"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        struct job_method m = method(cases[k].kind);
        if (cases[k].f == JOB_MF_SIGMA) m.sigma = 0.03;
        refused(&m, JOB_MF_BIT(cases[k].f), cases[k].f, JOB_MP_KEY, cases[k].msg);
    }
    /* the same fields given to the methods that read them pass */
    struct job_method_problem p;
    struct job_method sg = method(JOB_M_SMOOTHGRAD);
    sg.sigma = 0.03;
    assert_int_equal(
        job_method_check(&sg, JOB_MF_BIT(JOB_MF_NOISE) | JOB_MF_BIT(JOB_MF_SIGMA) | JOB_MF_BIT(JOB_MF_SAMPLES), &p), 0);
    struct job_method bl = method(JOB_M_BLUR_IG);
    assert_int_equal(
        job_method_check(&bl, JOB_MF_BIT(JOB_MF_MAX_SIGMA) | JOB_MF_BIT(JOB_MF_GRAD_STEP) | JOB_MF_BIT(JOB_MF_SQRT),
                         &p),
        0);
    /* blur_sigma: only with baseline blur, which says what it is */
    struct job_method ig = method(JOB_M_IG);
    refused(&ig, JOB_MF_BIT(JOB_MF_BLUR_SIGMA), JOB_MF_BLUR_SIGMA, JOB_MP_KEY,
            "applies to baseline: blur only (this entry's baseline is dataset_mean)");
    ig.baseline = JOB_BASE_BLUR;
    assert_int_equal(job_method_check(&ig, JOB_MF_BIT(JOB_MF_BLUR_SIGMA), &p), 0);
}

/* The counts in [1, 1000000], the amounts in their intervals, at both ends. */
static void test_ranges(void **state) {
    (void)state;
    struct job_method m = method(JOB_M_IG_UNIFORM);
    m.refs = 0;
    out_of_range(&m, JOB_MF_REFS, "an integer >= 1", 0);
    m.refs = 1000000;
    struct job_method_problem p;
    assert_int_equal(job_method_check(&m, 0, &p), 0);
    m.refs = 1000001;
    out_of_range(&m, JOB_MF_REFS, "an integer between 1 and 1000000", 1000001);
    m = method(JOB_M_IG_UNIFORM);
    m.steps = -3;
    out_of_range(&m, JOB_MF_STEPS, "an integer >= 1", -3);
    m = method(JOB_M_LIME);
    m.samples = 1000001;
    out_of_range(&m, JOB_MF_SAMPLES, "an integer between 1 and 1000000", 1000001);
    m = method(JOB_M_SMOOTHGRAD);
    m.noise = 0;
    out_of_range(&m, JOB_MF_NOISE, "a number > 0 (fraction of the pixel range)", 0);
    m = method(JOB_M_SMOOTHGRAD);
    m.sigma = -1;
    out_of_range(&m, JOB_MF_SIGMA, "a number > 0 (pixel units: the image in [0, 1])", -1);
    m = method(JOB_M_AGI);
    m.epsilon = 0;
    out_of_range(&m, JOB_MF_EPSILON, "a number > 0 (pixel units: the image in [0, 1])", 0);
    m = method(JOB_M_GUIDED_IG);
    m.max_dist = 0; /* a straight line: allowed */
    assert_int_equal(job_method_check(&m, 0, &p), 0);
    m.max_dist = 1.5;
    out_of_range(&m, JOB_MF_MAX_DIST, "a number in [0, 1] (a share of the path)", 1.5);
    m = method(JOB_M_GUIDED_IG);
    m.fraction = 0;
    out_of_range(&m, JOB_MF_FRACTION, "a number in (0, 1]", 0);
    m.fraction = 1;
    assert_int_equal(job_method_check(&m, 0, &p), 0);
    m = method(JOB_M_BLUR_IG);
    m.max_sigma = 1000.5;
    out_of_range(&m, JOB_MF_MAX_SIGMA, "a number in (0, 1000] (pixels)", 1000.5);
    m = method(JOB_M_BLUR_IG);
    m.grad_step = 0;
    out_of_range(&m, JOB_MF_GRAD_STEP, "a number in (0, 1000] (pixels)", 0);
    m = method(JOB_M_IG);
    m.baseline = JOB_BASE_BLUR;
    m.blur_sigma = 1000;
    assert_int_equal(job_method_check(&m, 0, &p), 0);
    m.blur_sigma = 1001;
    out_of_range(&m, JOB_MF_BLUR_SIGMA, "a number in (0, 1000] (pixels)", 1001);
}

/* Estimators a kind lacks, reference_compat's and the α rules' combinations. */
static void test_combinations(void **state) {
    (void)state;
    struct job_method m = method(JOB_M_EG);
    m.estimators |= 1u << JOB_EST_IDGI;
    m.refs = 0; /* the estimators are blamed first */
    refused(&m, 0, JOB_MF_ESTIMATORS, JOB_MP_TEXT,
            "method 'eg' supports estimators [vanilla, valid_ref, valid_ip]; idgi splits each step of an ordered "
            "path: ig, ig_uniform, ig_sg, guided_ig, blur_ig; EG's random points and AGI's adversarial steps have "
            "no such order, and IG-SQ's squared sum has no IDGI form");
    m = method(JOB_M_RANDOM);
    m.estimators = 1u << JOB_EST_VALID_IP;
    refused(&m, 0, JOB_MF_ESTIMATORS, JOB_MP_TEXT,
            "method 'random' supports estimators [vanilla]; valid_ip re-weights the points of a path: ig, "
            "ig_uniform, ig_sg, ig_sq, eg, agi, guided_ig, blur_ig");
    m = method(JOB_M_IG_UNIFORM);
    m.estimators = 1u << JOB_EST_IDGI;
    m.reference_compat = true;
    refused(&m, 0, JOB_MF_REFERENCE_COMPAT, JOB_MP_TEXT,
            "reference_compat has no 'idgi' estimator (the reference code has none; drop one)");
    m.reference_compat = false;
    m.alpha_rule = JOB_ALPHA_RIEMANN_LEFT;
    refused(&m, 0, JOB_MF_ALPHA_RULE, JOB_MP_TEXT,
            "alpha_rule riemann_left with the 'idgi' estimator: IDGI weighs its steps by the model's change between "
            "them, not by a rule (drop one)");
    m = method(JOB_M_IG);
    m.alpha_rule = JOB_ALPHA_GAUSSLEGENDRE;
    m.reference_compat = true;
    refused(&m, 0, JOB_MF_ALPHA_RULE, JOB_MP_TEXT,
            "alpha_rule gausslegendre with reference_compat: the reference code walks linspace(0, 1, K) only (drop "
            "one)");
    m.reference_compat = false;
    m.steps = 1; /* Gauss-Legendre takes one point; the riemann rules two */
    struct job_method_problem p;
    assert_int_equal(job_method_check(&m, 0, &p), 0);
    m.alpha_rule = JOB_ALPHA_RIEMANN_MIDDLE;
    refused(&m, 0, JOB_MF_ALPHA_RULE, JOB_MP_TEXT,
            "alpha_rule riemann_middle needs steps >= 2 (as Captum's riemann rules), got 1");
    m.steps = 4096;
    assert_int_equal(job_method_check(&m, 0, &p), 0);
    m.steps = 4097;
    refused(&m, 0, JOB_MF_ALPHA_RULE, JOB_MP_TEXT, "alpha_rule riemann_middle takes at most 4096 steps, got 4097");
    m.alpha_rule = JOB_ALPHA_ENDPOINTS; /* endpoints: any K */
    assert_int_equal(job_method_check(&m, JOB_MF_BIT(JOB_MF_ALPHA_RULE), &p), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_pass),
        cmocka_unit_test(test_applies),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_combinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
