/* tests/unit/test_job_yaml.c — job_load: every field, defaults, each error
 * class with its exact "file:line:col" prefix, --set overrides, sha256. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "job.h"

static struct job J; /* ~6 KiB; static keeps test stacks small */
static char ERR[1024];
static char PATHBUF[1024];

/* Fixtures live in tests/data/yaml; ctest sets RECAL_TEST_DATA, and a bare
 * run falls back to the path next to this source file. */
static const char *data_path(const char *name) {
    static char buf[4096];
    const char *dir = getenv("RECAL_TEST_DATA");
    if (dir && *dir) {
        snprintf(buf, sizeof buf, "%s/yaml/%s", dir, name);
    } else {
        char src[2048];
        snprintf(src, sizeof src, "%s", __FILE__);
        char *slash = strrchr(src, '/');
        if (slash) *slash = '\0';
        snprintf(buf, sizeof buf, "%s/../data/yaml/%s", slash ? src : "tests/unit", name);
    }
    return buf;
}

/* Write TEXT to $RECAL_TEST_TMP/NAME and return its path. */
static const char *tmp_file(const char *name, const char *text) {
    const char *dir = getenv("RECAL_TEST_TMP");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(PATHBUF, sizeof PATHBUF, "%s/job_yaml_%s", dir, name);
    FILE *f = fopen(PATHBUF, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
    return PATHBUF;
}

#define BASE "model: {path: m.pt}\ndataset: {name: mnist, path: /d}\n"

static int load_text(const char *text, const char *const *sets, int n) {
    const char *p = tmp_file("t.yaml", text);
    return job_load(p, sets, n, &J, ERR, sizeof ERR);
}

/* Load TEXT expecting failure; ERR must equal "<tmp path><suffix>". */
static void expect_err(const char *text, const char *const *sets, int n, const char *suffix) {
    int rc = load_text(text, sets, n);
    if (rc == 0) fail_msg("expected an error ending in \"%s\"", suffix);
    char want[4096];
    snprintf(want, sizeof want, "%s%s", PATHBUF, suffix);
    assert_string_equal(ERR, want);
}

/* Same, but for messages that name a --set instead of the file. */
static void expect_set_err(const char *text, const char *const *sets, int n, const char *msg) {
    assert_int_equal(load_text(text, sets, n), -1);
    assert_string_equal(ERR, msg);
}

/* statistics: the bootstrap's resamples and level; outputs.per_image */
static void test_statistics(void **state) {
    (void)state;
    assert_int_equal(load_text(BASE "methods: [{name: random}]\n", NULL, 0), 0);
    assert_int_equal(J.stats.resamples, 1000);
    assert_float_equal(J.stats.level, 0.95, 0);
    assert_false(J.out_per_image);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nstatistics: {resamples: 0, level: 0.9}\n"
                                    "outputs: {per_image: true}\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.stats.resamples, 0);
    assert_float_equal(J.stats.level, 0.9, 0);
    assert_true(J.out_per_image);
    expect_err(BASE "methods: [{name: random}]\nstatistics: {level: 95}\n", NULL, 0,
               ":4:21: 'level' must be a number in (0, 1), e.g. 0.95, got '95'");
    expect_err(BASE "methods: [{name: random}]\nstatistics: {resample: 10}\n", NULL, 0,
               ":4:14: unknown key 'resample' in 'statistics' (did you mean 'resamples'?)");
    expect_err(BASE "methods: [{name: random}]\nstatistics: {resamples: -1}\n", NULL, 0,
               ":4:25: 'resamples' must be an integer >= 0, got '-1'");
    expect_err(BASE "methods: [{name: random}]\nstatistics: {resamples: 2000000}\n", NULL, 0,
               ":4:25: 'resamples' must be an integer between 0 and 1000000, got '2000000'");
    expect_err(BASE "methods: [{name: random}]\nstatistic: {resamples: 10}\n", NULL, 0,
               ":4:1: unknown key 'statistic' in top level (did you mean 'statistics'?)");
    const char *sets[] = {"statistics.resamples=50"};
    assert_int_equal(load_text(BASE "methods: [{name: random}]\n", sets, 1), 0);
    assert_int_equal(J.stats.resamples, 50);
}

static void test_full_roundtrip(void **state) {
    (void)state;
    const char *p = data_path("full.yaml");
    int rc = job_load(p, NULL, 0, &J, ERR, sizeof ERR);
    if (rc) fail_msg("%s", ERR);
    assert_string_equal(J.file, p);
    assert_string_equal(J.name, "fashion-ig");
    assert_true(J.seed == 42);
    assert_string_equal(J.device, "cuda");
    assert_int_equal(J.threads, 4);
    assert_string_equal(J.model_path, "models/fashion-cnn.pt");
    assert_string_equal(J.dataset_name, "fashion-mnist");
    assert_string_equal(J.dataset_path, "/usr/share/datasets/fashion-mnist");
    assert_string_equal(J.split, "val");
    assert_int_equal(J.limit, 1000);
    assert_int_equal(J.batch_size, 32);
    assert_int_equal(J.memory_budget_mb, 4096);
    assert_int_equal(J.shard_images, 128);
    assert_int_equal(J.n_methods, 2);
    const struct job_method *m = &J.methods[0];
    assert_int_equal(m->kind, JOB_M_IG_UNIFORM);
    assert_int_equal(m->estimators, 7u);
    assert_int_equal(m->refs, 20);
    assert_int_equal(m->steps, 7);
    assert_int_equal(m->objective, JOB_OBJ_PROB);
    assert_true(m->reference_compat);
    m = &J.methods[1];
    assert_int_equal(m->kind, JOB_M_RANDOM);
    assert_int_equal(m->estimators, 1u << JOB_EST_VANILLA);
    assert_int_equal(m->refs, 1);
    assert_int_equal(m->steps, 5);
    assert_int_equal(m->objective, JOB_OBJ_CONTRAST);
    assert_false(m->reference_compat);
    assert_true(J.diffid);
    assert_int_equal(J.n_diffid_ratios, 3);
    assert_true(J.diffid_ratios[0] == 0.25 && J.diffid_ratios[2] == 0.75);
    assert_true(J.out_attributions);
    assert_true(J.out_masks);
    assert_false(J.out_figures);
    assert_true(J.train.present);
    assert_int_equal(J.train.epochs, 5);
    assert_true(J.train.lr == 0.01 && J.train.momentum == 0.5);
    assert_true(J.train.weight_decay == 0.0001);
    assert_int_equal(J.train.batch_size, 128);
    assert_string_equal(J.train.out, "models/trained.pt");
    assert_int_equal(strlen(J.sha256), 64);
    assert_int_equal(strspn(J.sha256, "0123456789abcdef"), 64);
}

static void test_defaults(void **state) {
    (void)state;
    int rc = job_load(data_path("minimal.yaml"), NULL, 0, &J, ERR, sizeof ERR);
    if (rc) fail_msg("%s", ERR);
    assert_string_equal(J.name, "recal");
    assert_true(J.seed == 0);
    assert_string_equal(J.device, "auto");
    assert_int_equal(J.threads, 0);
    assert_string_equal(J.split, "test");
    assert_int_equal(J.limit, 0);
    assert_int_equal(J.batch_size, 64);
    assert_int_equal(J.memory_budget_mb, 2048);
    assert_int_equal(J.shard_images, 256);
    assert_int_equal(J.shards_per_rank, 32);
    assert_true(J.stop_grace_seconds == 60.0);
    assert_true(J.watchdog_seconds == 600.0);
    assert_int_equal(J.n_methods, 1);
    assert_int_equal(J.methods[0].refs, 1);
    assert_false(J.diffid);
    assert_int_equal(J.n_diffid_ratios, 9);
    assert_true(J.diffid_ratios[0] == 0.1 && J.diffid_ratios[8] == 0.9);
    assert_false(J.out_attributions);
    assert_false(J.out_masks);
    assert_true(J.out_figures);
    assert_false(J.train.present);
    assert_int_equal(J.train.epochs, 3);
    assert_true(J.train.lr == 0.05 && J.train.momentum == 0.9);

    /* ig_uniform's R defaults to 10; `diffid:` and `diffid: {}` mean defaults */
    assert_int_equal(load_text(BASE "methods: [{name: ig_uniform}]\nmetrics: {diffid: {}}\n", NULL, 0), 0);
    assert_int_equal(J.methods[0].refs, 10);
    assert_int_equal(J.methods[0].steps, 5);
    assert_int_equal(J.methods[0].estimators, 1u);
    assert_true(J.diffid);
    assert_int_equal(J.n_diffid_ratios, 9);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  diffid:\n", NULL, 0), 0);
    assert_true(J.diffid);
    assert_int_equal(J.n_diffid_ratios, 9);
}

static void test_train_only(void **state) {
    (void)state;
    int rc = load_text(BASE "train: {out: t.pt}\n", NULL, 0);
    if (rc) fail_msg("%s", ERR);
    assert_true(J.train.present);
    assert_int_equal(J.n_methods, 0);
    assert_string_equal(J.train.out, "t.pt");
    expect_err(BASE "train: {epochs: 2}\n", NULL, 0, ":3:8: missing required key 'train.out'");
    expect_err(BASE "train: {out: t.pt, momentum: 1.0}\n", NULL, 0,
               ":3:30: 'momentum' must be a number in [0, 1), got '1.0'");
    expect_err(BASE "train: {out: t.pt, lr: 0}\n", NULL, 0, ":3:24: 'lr' must be a number > 0, got '0'");
}

static void test_case_insensitive_methods(void **state) {
    (void)state;
    int rc = load_text(BASE "methods:\n  - name: IG_Uniform\n    estimators: [VANILLA, Valid_IP]\n"
                            "  - name: RANDOM\n",
                       NULL, 0);
    if (rc) fail_msg("%s", ERR);
    assert_int_equal(J.methods[0].kind, JOB_M_IG_UNIFORM);
    assert_int_equal(J.methods[0].estimators, (1u << JOB_EST_VANILLA) | (1u << JOB_EST_VALID_IP));
    assert_int_equal(J.methods[1].kind, JOB_M_RANDOM);
    rc = load_text(BASE "methods: [{name: ig_sg, estimators: [valid_ip, idgi]}]\n", NULL, 0);
    if (rc) fail_msg("%s", ERR);
    assert_int_equal(J.methods[0].estimators, (1u << JOB_EST_VALID_IP) | (1u << JOB_EST_IDGI));
}

static void test_booleans(void **state) {
    (void)state;
    assert_int_equal(load_text(BASE "methods: [{name: random}]\n"
                                    "outputs: {attributions: YES, masks: On, figures: False}\n",
                               NULL, 0),
                     0);
    assert_true(J.out_attributions && J.out_masks && !J.out_figures);
    assert_true(J.coordinator_computes); /* the default */
    expect_err(BASE "methods: [{name: random}]\noutputs: {masks: maybe}\n", NULL, 0,
               ":4:18: 'masks' must be a boolean (true/false), got 'maybe'");
    assert_int_equal(load_text(BASE "methods: [{name: random}]\ncoordinator_computes: false\n", NULL, 0), 0);
    assert_false(J.coordinator_computes);
    expect_err(BASE "methods: [{name: random}]\ncoordinator_computes: 2\n", NULL, 0,
               ":4:23: 'coordinator_computes' must be a boolean (true/false), got '2'");
}

/* outputs.heatmap (abs | signed) and outputs.examples (the report's rows) */
static void test_outputs_heatmap(void **state) {
    (void)state;
    assert_int_equal(load_text(BASE "methods: [{name: random}]\n", NULL, 0), 0);
    assert_int_equal(J.out_heatmap, JOB_HEATMAP_ABS);
    assert_int_equal(J.n_examples, 0);
    assert_int_equal(
        load_text(BASE "methods: [{name: random}]\noutputs: {heatmap: Signed, examples: [7, 0, 42]}\n", NULL, 0), 0);
    assert_int_equal(J.out_heatmap, JOB_HEATMAP_SIGNED);
    assert_int_equal(J.n_examples, 3);
    assert_true(J.examples[0] == 7 && J.examples[1] == 0 && J.examples[2] == 42); /* as listed */
    const char *sets[] = {"outputs.heatmap=abs", "outputs.examples=[5, 6]"};
    assert_int_equal(load_text(BASE "methods: [{name: random}]\noutputs: {heatmap: signed}\n", sets, 2), 0);
    assert_true(J.out_heatmap == JOB_HEATMAP_ABS && J.n_examples == 2 && J.examples[1] == 6);
    expect_err(BASE "methods: [{name: random}]\noutputs: {heatmap: signd}\n", NULL, 0,
               ":4:20: 'heatmap' must be one of abs, signed, got 'signd' (did you mean 'signed'?)");
    expect_err(BASE "methods: [{name: random}]\noutputs: {heatmaps: abs}\n", NULL, 0,
               ":4:11: unknown key 'heatmaps' in 'outputs' (did you mean 'heatmap'?)");
    expect_err(BASE "methods: [{name: random}]\noutputs: {examples: [3, x]}\n", NULL, 0,
               ":4:25: 'examples' must be an integer >= 0, got 'x'");
    expect_err(BASE "methods: [{name: random}]\noutputs: {examples: [3, -1]}\n", NULL, 0,
               ":4:25: 'examples' must be an integer >= 0, got '-1'");
    expect_err(BASE "methods: [{name: random}]\noutputs: {examples: [3, 3]}\n", NULL, 0,
               ":4:25: 'examples' lists image 3 twice (list each id once)");
    expect_err(BASE "methods: [{name: random}]\noutputs: {examples: []}\n", NULL, 0,
               ":4:21: 'examples' must be a list of 1 to 16 image ids, like [0, 17, 42], got a sequence");
    expect_err(BASE "methods: [{name: random}]\noutputs: {examples: 5}\n", NULL, 0,
               ":4:21: 'examples' must be a list of 1 to 16 image ids, like [0, 17, 42], got '5'");
    expect_err(BASE "methods: [{name: random}]\n"
                    "outputs: {examples: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}\n",
               NULL, 0, ":4:21: 'examples' must be a list of 1 to 16 image ids, like [0, 17, 42], got a sequence");
}

static void test_unknown_keys(void **state) {
    (void)state;
    expect_err(BASE "batchsize: 3\n", NULL, 0,
               ":3:1: unknown key 'batchsize' in top level (did you mean 'batch_size'?)");
    expect_err("model:\n  path: m.pt\ndataset:\n  name: mnist\n  pth: /d\n", NULL, 0,
               ":5:3: unknown key 'pth' in 'dataset' (did you mean 'path'?)");
    expect_err(BASE "methods:\n  - {name: random, step: 3}\n", NULL, 0,
               ":4:20: unknown key 'step' in 'methods.0' (did you mean 'steps'?)");
    expect_err(BASE "zzzzzzzzzz: 1\n", NULL, 0, ":3:1: unknown key 'zzzzzzzzzz' in top level");
    expect_err(BASE "methods: [{name: random}]\nmetrics: {difid: {}}\n", NULL, 0,
               ":4:11: unknown key 'difid' in 'metrics' (did you mean 'diffid'?)");
}

static void test_methods_errors(void **state) {
    (void)state;
    expect_err(BASE "methods:\n  - name: ig_unifrom\n", NULL, 0,
               ":4:11: unknown method 'ig_unifrom' (did you mean 'ig_uniform'?)");
    expect_err(BASE "methods:\n  - name: random\n    estimators: [valid_ref]\n", NULL, 0,
               ":5:17: method 'random' supports estimators [vanilla]; valid_ref re-weights the paths of several "
               "references: ig, ig_uniform, ig_sg, ig_sq, eg, agi");
    expect_err(BASE "methods: [{name: ig_uniform, estimators: [vanilla, vanilla]}]\n", NULL, 0,
               ":3:52: duplicate estimator 'vanilla'");
    expect_err(BASE "methods: [{name: ig_uniform, estimators: [vanila]}]\n", NULL, 0,
               ":3:43: 'estimators' must be one of vanilla, valid_ref, valid_ip, idgi, got 'vanila' "
               "(did you mean 'vanilla'?)");
    /* IDGI: IG's ordered paths only */
    expect_err(BASE "methods: [{name: eg, estimators: [idgi]}]\n", NULL, 0,
               ":3:34: method 'eg' supports estimators [vanilla, valid_ref, valid_ip]; idgi splits each step of an "
               "ordered path: ig, ig_uniform, ig_sg, guided_ig, blur_ig; EG's random points and AGI's adversarial "
               "steps have no such order, and IG-SQ's squared sum has no IDGI form");
    /* Guided IG and Blur IG: one path, no valid_ref; their own keys */
    expect_err(BASE "methods: [{name: guided_ig, estimators: [vanilla, valid_ref]}]\n", NULL, 0,
               ":3:41: method 'guided_ig' supports estimators [vanilla, valid_ip, idgi]; valid_ref re-weights the "
               "paths of several references: ig, ig_uniform, ig_sg, ig_sq, eg, agi");
    assert_int_equal(load_text(BASE "methods: [{name: guided_ig, estimators: [vanilla, valid_ip, idgi], max_dist: 0.1, "
                                    "fraction: 0.5, baseline: black}, {name: blur_ig, max_sigma: 20, grad_step: 0.02, "
                                    "sqrt: true, steps: 30}]\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.methods[0].kind, JOB_M_GUIDED_IG);
    assert_int_equal(J.methods[0].steps, 200);
    assert_float_equal(J.methods[0].max_dist, 0.1, 0);
    assert_float_equal(J.methods[0].fraction, 0.5, 0);
    assert_int_equal(J.methods[0].baseline, JOB_BASE_BLACK);
    assert_int_equal(J.methods[1].kind, JOB_M_BLUR_IG);
    assert_int_equal(J.methods[1].steps, 30);
    assert_float_equal(J.methods[1].max_sigma, 20, 0);
    assert_float_equal(J.methods[1].grad_step, 0.02, 0);
    assert_true(J.methods[1].sqrt_sigmas);
    expect_err(BASE "methods: [{name: blur_ig, max_dist: 0.1}]\n", NULL, 0,
               ":3:37: 'max_dist' applies to guided_ig only");
    expect_err(BASE "methods: [{name: guided_ig, fraction: 0}]\n", NULL, 0,
               ":3:39: 'fraction' must be a number in (0, 1], got '0'");
    expect_err(BASE "methods: [{name: blur_ig, max_sigma: -1}]\n", NULL, 0,
               ":3:38: 'max_sigma' must be a number in (0, 1000] (pixels), got '-1'");
    expect_err(BASE "methods: [{name: ig_uniform, estimators: [idgi], reference_compat: true}]\n", NULL, 0,
               ":3:68: reference_compat has no 'idgi' estimator (the reference code has none; drop one)");
    expect_err(BASE "methods: [{name: ig_uniform, steps: 0}]\n", NULL, 0,
               ":3:37: 'steps' must be an integer >= 1, got '0'");
    /* beyond an int: refused as written, not wrapped (job_method_check's range) */
    expect_err(BASE "methods: [{name: ig_uniform, refs: 99999999999}]\n", NULL, 0,
               ":3:36: 'refs' must be an integer between 1 and 1000000, got '99999999999'");
    expect_err(BASE "methods: [{name: ig_uniform, refs: -99999999999}]\n", NULL, 0,
               ":3:36: 'refs' must be an integer >= 1, got '-99999999999'");
    expect_err(BASE "methods: [{name: lime, samples: 2000000}]\n", NULL, 0,
               ":3:33: 'samples' must be an integer between 1 and 1000000, got '2000000'");
    expect_err(BASE "methods: [{name: guided_ig, max_dist: 1.5}]\n", NULL, 0,
               ":3:39: 'max_dist' must be a number in [0, 1] (a share of the path), got '1.5'");
    expect_err(BASE "methods: [{name: eg, alpha_rule: riemann_left}]\n", NULL, 0,
               ":3:34: 'alpha_rule' applies to ig, ig_uniform, ig_sg and ig_sq (eg draws its α or has no path of "
               "straight-line points)");
    expect_err(BASE "methods: [{name: ig, alpha_rule: riemann_left, steps: 1}]\n", NULL, 0,
               ":3:34: alpha_rule riemann_left needs steps >= 2 (as Captum's riemann rules), got 1");
    expect_err(BASE "methods: [{name: smoothgrad, sigma_pixel: 0}]\n", NULL, 0,
               ":3:43: 'sigma_pixel' must be a number > 0 (pixel units: the image in [0, 1]), got '0'");
    expect_err(BASE "methods: [{steps: 2}]\n", NULL, 0, ":3:11: missing required key 'methods.0.name'");
    expect_err(BASE "methods: [random]\n", NULL, 0,
               ":3:11: 'methods.0' must be a mapping such as {name: ig_uniform}, got 'random'");
    expect_err(BASE, NULL, 0, ": 'methods' must list at least one method");
    expect_err(BASE "methods: []\n", NULL, 0, ":3:10: 'methods' must list at least one method");
    expect_err(BASE "methods:\n", NULL, 0, ":3:9: 'methods' must list at least one method");
    expect_err(BASE "methods: [{name: random}, {name: smoothgrad}, {name: smoothgrad, sigma: 0.05}]\n", NULL, 0,
               ":3:47: 'smoothgrad' is listed twice (methods.1 and methods.2): its rows could not be told apart; "
               "give each entry a label: (e.g. {name: smoothgrad, label: smoothgrad_2, ...}), or compare its "
               "settings with a sweep:");
    /* with labels, one method twice is two rows; a label may not repeat a name */
    assert_int_equal(
        load_text(BASE
                  "methods: [{name: smoothgrad, label: sg_a}, {name: smoothgrad, sigma_pixel: 0.1, label: sg_b}]\n",
                  NULL, 0),
        0);
    assert_int_equal(J.n_methods, 2);
    assert_string_equal(job_method_label(&J.methods[1]), "sg_b");
    static const char *const bad[][2] = {
        {BASE "methods: [{name: random}, {name: smoothgrad, label: random}]\n",
         "'random' is listed twice (methods.0 and methods.1)"},
        {BASE "methods: [{name: random, label: 'a b'}]\n",
         "'label' must be a letter, then up to 30 letters, digits or _ . - + = (it names rows and files"},
        {BASE "methods: [{name: random, label: NaN}]\n", "not NA, NaN, null, None or inf"},
        {BASE "methods: [{name: precomputed}]\n", "method precomputed needs 'path'"},
        {BASE "methods: [{name: random, path: x.npy}]\n", "'path' applies to precomputed only"},
        {BASE "metrics: {lipschitz: {}}\nmethods: [{name: precomputed, path: x.npy}]\n",
         "metrics.lipschitz re-attributes other inputs (perturbed copies)"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(load_text(bad[k][0], NULL, 0), -1);
        if (!strstr(ERR, bad[k][1])) fail_msg("want '%s' in: %s", bad[k][1], ERR);
    }
}

/* Per-method keys: defaults, values, and where they are refused. */
static void test_method_keys(void **state) {
    (void)state;
    assert_int_equal(load_text(BASE "methods:\n  - {name: ig}\n  - {name: eg}\n  - {name: agi}\n"
                                    "  - {name: smoothgrad}\n  - {name: ig_sg}\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.methods[0].baseline, JOB_BASE_DATASET_MEAN);
    assert_int_equal(J.methods[0].refs, 1);
    assert_int_equal(J.methods[1].steps, 1); /* EG: one α per reference */
    assert_int_equal(J.methods[1].refs, 10);
    assert_int_equal(J.methods[2].refs, 5); /* AGI: T = 5, K = 10, ε = 0.05 */
    assert_int_equal(J.methods[2].steps, 10);
    assert_float_equal(J.methods[2].epsilon, 0.05, 1e-12);
    assert_int_equal(J.methods[3].samples, 30);
    assert_float_equal(J.methods[3].noise, 0.15, 1e-12);
    assert_float_equal(J.methods[4].sigma, 0.0, 0.0);
    assert_int_equal(load_text(BASE "methods:\n  - {name: ig, baseline: black, steps: 50}\n"
                                    "  - {name: smoothgrad, sigma: 0.03, samples: 7}\n"
                                    "  - {name: agi, epsilon: 0.1}\nchunk_samples: 32\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.methods[0].baseline, JOB_BASE_BLACK);
    assert_int_equal(J.methods[0].steps, 50);
    assert_float_equal(J.methods[1].sigma, 0.03, 1e-12);
    assert_int_equal(J.methods[1].samples, 7);
    assert_float_equal(J.methods[2].epsilon, 0.1, 1e-12);
    assert_int_equal(J.chunk_samples, 32);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nchunk_samples: auto\n", NULL, 0), 0);
    assert_int_equal(J.chunk_samples, -1);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmemory_budget_mb: auto\n", NULL, 0), 0);
    assert_int_equal(J.memory_budget_mb, JOB_MEMORY_AUTO);
    expect_err(BASE "methods: [{name: random}]\nmemory_budget_mb: 0\n", NULL, 0,
               ":4:19: 'memory_budget_mb' must be an integer >= 1, got '0'");
    expect_err(BASE "methods: [{name: random}]\nchunk_samples: big\n", NULL, 0,
               ":4:16: 'chunk_samples' must be an integer >= 0, got 'big'");
    expect_err(BASE "methods: [{name: ig_uniform, baseline: black}]\n", NULL, 0,
               ":3:40: 'baseline' applies to methods ig and guided_ig only");
    expect_err(BASE "methods: [{name: ig, baseline: white}]\n", NULL, 0,
               ":3:32: 'baseline' must be one of dataset_mean, black, blur, uniform, or {path: FILE.npy}, got 'white'");
    expect_err(BASE "methods: [{name: random, noise: 0.1}]\n", NULL, 0,
               ":3:33: 'noise' applies to ig_sg, ig_sq and smoothgrad only");
    expect_err(BASE "methods: [{name: smoothgrad, sigma: -1}]\n", NULL, 0,
               ":3:37: 'sigma' must be a number > 0 (pixel units: the image in [0, 1]), got '-1'");
    expect_err(BASE "methods: [{name: ig, epsilon: 0.1}]\n", NULL, 0, ":3:31: 'epsilon' applies to agi only");
    expect_err(BASE "methods: [{name: agi, samples: 3}]\n", NULL, 0,
               ":3:32: 'samples' applies to smoothgrad, lime and kernel_shap only");
}

/* SmoothGrad's `samples: auto`, Tan & Tian's n(sigma): 10 below 0.01, else
 * sigma/0.01 x 10; it follows a --set (so a sweep) of sigma, whatever the
 * key order. */
static void test_smoothgrad_auto_samples(void **state) {
    (void)state;
    static const char *const cases[] = {
        "{name: smoothgrad, samples: auto, sigma: 0.005}", "{name: smoothgrad, sigma: 0.01, samples: auto}",
        "{name: smoothgrad, sigma: 0.03, samples: AUTO}", "{name: smoothgrad, sigma: 0.1, samples: auto}"};
    static const int want[] = {10, 10, 30, 100};
    for (int c = 0; c < 4; c++) {
        char text[512];
        snprintf(text, sizeof text, BASE "methods:\n  - %s\n", cases[c]);
        assert_int_equal(load_text(text, NULL, 0), 0);
        assert_int_equal(J.methods[0].samples, want[c]);
    }
    const char *sets[] = {"methods.0.sigma=0.05"};
    assert_int_equal(load_text(BASE "methods: [{name: smoothgrad, sigma: 0.03, samples: auto}]\n", sets, 1), 0);
    assert_int_equal(J.methods[0].samples, 50);
    expect_err(BASE "methods: [{name: smoothgrad, samples: auto}]\n", NULL, 0,
               ":3:39: 'samples: auto' (n from sigma, Tan & Tian's rule) needs an absolute 'sigma_pixel', "
               "e.g. {name: smoothgrad, sigma_pixel: 0.03, samples: auto}");
    expect_err(BASE "methods: [{name: lime, samples: auto}]\n", NULL, 0,
               ":3:33: 'samples' must be an integer >= 1, got 'auto'");
}

static void test_metric_sections(void **state) {
    (void)state;
    /* an empty section switches the metric on with the defaults */
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  sensitivity_n: {}\n"
                                    "  lipschitz: {}\n  max_sensitivity: {}\n  infidelity: {}\n  faithfulness: {}\n",
                               NULL, 0),
                     0);
    assert_true(J.sensn.on && J.sensn.n_ratios == 9 && J.sensn.samples == 10);
    assert_true(J.sensn.baseline == JOB_SN_DATASET_MEAN && J.sensn.post_hoc == JOB_PH_SUM);
    assert_true(J.lipschitz.on && J.lipschitz.samples == 50 && J.lipschitz.sigma == 0.03);
    assert_true(J.max_sens.on && J.max_sens.samples == 10 && J.max_sens.radius == 0.02);
    assert_true(J.infidelity.on && J.infidelity.samples == 50 && J.infidelity.sigma == 0.003);
    assert_true(J.faith.on && J.faith.groups == 100 && !J.diffid);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  sensitivity_n: {ratios: [0.1, 0.5], "
                                    "samples: 4, baseline: RAND, post_hoc: abs, images: 100}\n",
                               NULL, 0),
                     0);
    assert_true(J.sensn.n_ratios == 2 && J.sensn.ratios[1] == 0.5 && J.sensn.samples == 4);
    assert_true(J.sensn.baseline == JOB_SN_RAND && J.sensn.post_hoc == JOB_PH_ABS && J.sensn.images == 100);
    assert_true(!J.lipschitz.on && !J.faith.on);
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  sensitivity_n: {baseline: mean}\n", NULL, 0,
               ":5:29: 'baseline' must be one of dataset_mean, rand, zero, got 'mean'");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  lipschitz: {sigma: 0}\n", NULL, 0,
               ":5:22: 'sigma' must be a number > 0 (pixel units: the image in [0, 1]), got '0'");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  lipschitz: {radius: 0.1}\n", NULL, 0,
               ":5:15: unknown key 'radius' in 'metrics.lipschitz' (expected one of: samples, sigma_pixel, "
               "sigma_model, sigma, images)");
    /* roar: defaults, and it turns the rank maps on */
    assert_int_equal(
        load_text(BASE "methods: [{name: random}]\nmetrics:\n  roar: {epochs: 0, milestones: [2]}\n", NULL, 0), 0);
    assert_true(J.roar.on && J.roar.epochs == 0 && J.roar.n_fractions == 5 && J.roar.fractions[4] == 0.9);
    assert_true(J.roar.n_milestones == 1 && J.roar.milestones[0] == 2 && J.roar.lr == 0.01 && J.out_masks);
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  roar: {milestones: [5, 3]}\n", NULL, 0,
               ":5:26: 'milestones' must be strictly increasing, got 3 after 5");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  faithfulnes: {}\n", NULL, 0,
               ":5:3: unknown key 'faithfulnes' in 'metrics' (did you mean 'faithfulness'?)");
    /* the Quantus-defined faithfulness metrics: defaults and keys */
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  faithfulness_correlation: {}\n"
                                    "  faithfulness_estimate: {features_in_step: 28, baseline: zero}\n",
                               NULL, 0),
                     0);
    assert_true(J.fcorr.on && J.fcorr.size == 224 && J.fcorr.runs == 100 && J.fcorr.baseline == JOB_FQ_BLACK);
    assert_true(J.fest.on && J.fest.size == 28 && J.fest.baseline == JOB_FQ_DATASET_MEAN && !J.faith.on);
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  faithfulness_estimate: {runs: 5}\n", NULL, 0,
               ":5:27: unknown key 'runs' in 'metrics.faithfulness_estimate' (expected one of: features_in_step, "
               "baseline, images)");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  faithfulness_correlation: {baseline: white}\n", NULL, 0,
               ":5:40: 'baseline' must be one of black, dataset_mean, zero, got 'white'");
}

/* Every perturbation amount names its space (pixel: the image in [0, 1];
 * model: the normalized input); the bare old keys are documented aliases of
 * the space they always meant; two spellings at once are refused. */
static void test_units(void **state) {
    (void)state;
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  lipschitz: {}\n  max_sensitivity: {}\n"
                                    "  infidelity: {}\n",
                               NULL, 0),
                     0);
    assert_true(J.lipschitz.pixel && !J.max_sens.pixel && !J.infidelity.pixel);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  lipschitz: {sigma_model: 0.1}\n"
                                    "  max_sensitivity: {radius_pixel: 0.01}\n  infidelity: {sigma_pixel: 0.002}\n",
                               NULL, 0),
                     0);
    assert_true(!J.lipschitz.pixel && J.lipschitz.sigma == 0.1);
    assert_true(J.max_sens.pixel && J.max_sens.radius == 0.01);
    assert_true(J.infidelity.pixel && J.infidelity.sigma == 0.002);
    /* old spellings: the space they always meant */
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n  lipschitz: {sigma: 0.05}\n"
                                    "  max_sensitivity: {radius: 0.03}\n  infidelity: {sigma: 0.004}\n",
                               NULL, 0),
                     0);
    assert_true(J.lipschitz.pixel && J.lipschitz.sigma == 0.05);
    assert_true(!J.max_sens.pixel && J.max_sens.radius == 0.03);
    assert_true(!J.infidelity.pixel && J.infidelity.sigma == 0.004);
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  lipschitz: {sigma_pixel: 0.03, sigma_model: 0.1}\n", NULL,
               0, ":5:47: give one of 'sigma_pixel' and 'sigma_model' ('sigma' is the old spelling of 'sigma_pixel')");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  max_sensitivity: {radius: 0.03, radius_pixel: 0.1}\n", NULL,
               0,
               ":5:29: give one of 'radius_pixel' and 'radius_model' ('radius' is the old spelling of 'radius_model')");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  infidelity: {sigma_pixel: -1}\n", NULL, 0,
               ":5:29: 'sigma_pixel' must be a number > 0 (pixel units: the image in [0, 1]), got '-1'");
    expect_err(BASE "methods: [{name: random}]\nmetrics:\n  infidelity: {sigma_modle: 1}\n", NULL, 0,
               ":5:16: unknown key 'sigma_modle' in 'metrics.infidelity' (did you mean 'sigma_model'?)");
    /* methods: sigma_pixel / epsilon_pixel, baselines and fills by name */
    assert_int_equal(load_text(BASE "methods:\n  - {name: smoothgrad, sigma_pixel: 0.02, samples: auto}\n"
                                    "  - {name: agi, epsilon_pixel: 0.1}\n  - {name: ig, baseline: dataset_mean}\n"
                                    "  - {name: lime}\n  - {name: kernel_shap}\n",
                               NULL, 0),
                     0);
    assert_true(J.methods[0].sigma == 0.02 && J.methods[0].samples == 20 && J.methods[1].epsilon == 0.1);
    assert_int_equal(J.methods[2].baseline, JOB_BASE_DATASET_MEAN);
    assert_int_equal(J.methods[3].fill, JOB_FILL_SUPERPIXEL_MEAN);
    assert_int_equal(J.methods[4].fill, JOB_FILL_DATASET_MEAN);
    assert_int_equal(load_text(BASE "methods:\n  - {name: ig, baseline: zero}\n  - {name: lime, fill: zero}\n"
                                    "  - {name: kernel_shap, fill: black}\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.methods[0].baseline, JOB_BASE_DATASET_MEAN);
    assert_int_equal(J.methods[1].fill, JOB_FILL_DATASET_MEAN);
    assert_int_equal(J.methods[2].fill, JOB_FILL_BLACK);
    expect_err(BASE "methods: [{name: smoothgrad, sigma: 0.03, sigma_pixel: 0.03}]\n", NULL, 0,
               ":3:37: give one of 'sigma_pixel' and 'sigma' ('sigma' is the old spelling of 'sigma_pixel')");
    expect_err(BASE "methods: [{name: ig, fill: black}]\n", NULL, 0,
               ":3:28: 'fill' applies to lime and kernel_shap only");
    expect_err(BASE "methods: [{name: lime, fill: mean}]\n", NULL, 0,
               ":3:30: 'fill' must be one of superpixel_mean, dataset_mean, black, zero, got 'mean'");
}

static void test_sweep(void **state) {
    (void)state;
    char sets[JOB_MAX_SWEEP_KEYS][2 * JOB_SWEEP_TEXT + 2];
    assert_int_equal(load_text(BASE "methods: [{name: ig}]\n"
                                    "sweep:\n  seed: [1, 2, 3]\n  methods.0.steps: [5, 10]\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.sweep.n_keys, 2);
    assert_int_equal(J.sweep.n_points, 6);
    /* First key slowest: point 3 = seed's 2nd value, steps' 2nd value. */
    assert_int_equal(job_sweep_point(&J, 3, sets), 0);
    assert_string_equal(sets[0], "seed=2");
    assert_string_equal(sets[1], "methods.0.steps=10");
    assert_int_equal(job_sweep_point(&J, 0, sets), 0);
    assert_string_equal(sets[0], "seed=1");
    assert_string_equal(sets[1], "methods.0.steps=5");
    assert_int_equal(job_sweep_point(&J, 6, sets), -1);
    assert_int_equal(job_sweep_point(&J, -1, sets), -1);
    /* A point is the config plus its overrides: the sweep's own values load. */
    const char *pt[] = {"seed=3", "methods.0.steps=10"};
    assert_int_equal(load_text(BASE "methods: [{name: ig}]\nsweep: {seed: [1, 3]}\n", pt, 2), 0);
    assert_int_equal(J.seed, 3);
    assert_int_equal(J.methods[0].steps, 10);
    assert_int_equal(load_text(BASE "methods: [{name: ig}]\nsweep:\n", NULL, 0), 0);
    assert_int_equal(J.sweep.n_points, 0);

    expect_err(BASE "methods: [{name: ig}]\nsweep: [1, 2]\n", NULL, 0,
               ":4:8: 'sweep' must be a mapping of dotted config paths to lists of values, got a sequence");
    expect_err(BASE "methods: [{name: ig}]\nsweep: {seed: 3}\n", NULL, 0,
               ":4:15: 'seed' must be a non-empty list of values, like [3, 5], got '3'");
    expect_err(BASE "methods: [{name: ig}]\nsweep: {seed: []}\n", NULL, 0,
               ":4:15: sweep key 'seed' has an empty list: give at least one value");
    expect_err(BASE "methods: [{name: ig}]\nsweep: {methods: [[1], [2]]}\n", NULL, 0,
               ":4:19: 'methods' must be a list of plain values (numbers, names, paths), got a sequence");
    expect_err(BASE "methods: [{name: ig}]\nsweep: {sweep.x: [1]}\n", NULL, 0,
               ":4:9: a sweep cannot sweep 'sweep' itself");
}

static void test_type_errors(void **state) {
    (void)state;
    expect_err(BASE "methods: [{name: random}]\nbatch_size: abc\n", NULL, 0,
               ":4:13: 'batch_size' must be an integer >= 1, got 'abc'");
    expect_err(BASE "methods: [{name: random}]\nseed: 12x\n", NULL, 0,
               ":4:7: 'seed' must be an integer >= 0, got '12x'");
    expect_err(BASE "methods: [{name: random}]\ndevice: metal\n", NULL, 0,
               ":4:9: 'device' must be one of auto, cpu, cuda, got 'metal'");
    expect_err(BASE "methods: [{name: random}]\ndevice: cudaa\n", NULL, 0,
               ":4:9: 'device' must be one of auto, cpu, cuda, got 'cudaa' "
               "(did you mean 'cuda'?)");
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nprecision: bf16\n", NULL, 0), 0);
    assert_string_equal(J.precision, "bf16");
    expect_err(BASE "methods: [{name: random}]\nprecision: bf61\n", NULL, 0,
               ":4:12: 'precision' must be one of fp32, tf32, bf16, got 'bf61' (did you mean 'bf16'?)");
    expect_err(BASE "methods: [{name: random}]\nthreads: [1]\n", NULL, 0,
               ":4:10: 'threads' must be an integer >= 0, got a sequence");
    expect_err("model: m.pt\n", NULL, 0, ":1:8: 'model' must be a mapping, got 'm.pt'");
    expect_err(BASE "methods: [{name: random}]\nshard_seconds: -1\n", NULL, 0,
               ":4:16: 'shard_seconds' must be seconds between 0 (off) and 1e6, got '-1'");
    /* the old key still loads: 0 (off) means shards of shard_images, any other value the default sizing */
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nshard_seconds: 0.5\n", NULL, 0), 0);
    assert_int_equal(J.shards_per_rank, 32);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nshard_seconds: 0\n", NULL, 0), 0);
    assert_int_equal(J.shards_per_rank, 0);
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nshard_seconds: 0\nshards_per_rank: 7\n", NULL, 0), 0);
    assert_int_equal(J.shards_per_rank, 7);
    expect_err(BASE "methods: [{name: random}]\nshards_per_rank: -1\n", NULL, 0,
               ":4:18: 'shards_per_rank' must be an integer >= 0, got '-1'");
    expect_err(BASE "methods: [{name: random}]\nwatchdog_seconds: soon\n", NULL, 0,
               ":4:19: 'watchdog_seconds' must be a number, got 'soon'");
    expect_err(BASE "methods: [{name: random}]\nstop_grace_seconds: -5\n", NULL, 0,
               ":4:21: 'stop_grace_seconds' must be seconds between 0 and 1e6, got '-5'");
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nstop_grace_seconds: 0\n", NULL, 0), 0);
    assert_true(J.stop_grace_seconds == 0.0);
    expect_err(BASE "methods: [{name: random}]\nmetrics: {diffid: {ratios: [0.5, 0.2]}}\n", NULL, 0,
               ":4:34: 'ratios' must be strictly increasing, got 0.2 after 0.5");
    expect_err(BASE "methods: [{name: random}]\nmetrics: {diffid: {ratios: [1.0]}}\n", NULL, 0,
               ":4:29: 'ratios' must be a number in (0, 1), got '1.0'");
}

static void test_missing_required(void **state) {
    (void)state;
    expect_err("dataset: {name: mnist, path: /d}\nmethods: [{name: random}]\n", NULL, 0,
               ": missing required key 'model.path'");
    expect_err("model: {}\n", NULL, 0, ":1:8: missing required key 'model.path'");
    expect_err("model: {path: m}\ndataset:\n  name: mnist\n", NULL, 0, ":3:3: missing required key 'dataset.path'");
    expect_err("model: {path: m}\n", NULL, 0, ": missing required key 'dataset.name'");
}

static void test_syntax_and_io(void **state) {
    (void)state;
    expect_err("model: {path: m\n", NULL, 0,
               ":2:1: YAML syntax error: did not find expected ',' or '}' "
               "while parsing a flow mapping");
    expect_err("", NULL, 0, ":1:1: config is empty; expected a mapping of settings");
    expect_err("- a\n- b\n", NULL, 0, ":1:1: 'the top level' must be a mapping of settings, got a sequence");
    expect_err("a: 1\n---\nb: 2\n", NULL, 0, ":3:1: only one YAML document is allowed");
    expect_err("a: 1\na: 2\n", NULL, 0, ":2:1: duplicate key 'a'");
    assert_int_equal(job_load("/nonexistent/x.yaml", NULL, 0, &J, ERR, sizeof ERR), -1);
    assert_string_equal(ERR, "/nonexistent/x.yaml: cannot read: No such file or directory");
    /* A tiny error buffer truncates but never overflows. */
    char small[8];
    assert_int_equal(job_load("/nonexistent/x.yaml", NULL, 0, &J, small, sizeof small), -1);
    assert_string_equal(small, "/nonexi");
}

static void test_set_overrides(void **state) {
    (void)state;
    const char *text = BASE "methods:\n  - {name: ig_uniform, steps: 5}\n  - {name: random}\n"
                            "metrics: {diffid: {}}\n";
    const char *sets[] = {"dataset.limit=256",  "methods.0.steps=3", "metrics.diffid.ratios=[0.5, 0.7]",
                          "train.epochs=1",     "train.out=t.pt",    "methods.1={name: IG_SG, refs: 4}",
                          "name='quoted name'", "outputs.masks=on"};
    int rc = load_text(text, sets, 8);
    if (rc) fail_msg("%s", ERR);
    assert_int_equal(J.limit, 256);
    assert_int_equal(J.methods[0].steps, 3);
    assert_int_equal(J.n_diffid_ratios, 2);
    assert_true(J.diffid_ratios[0] == 0.5 && J.diffid_ratios[1] == 0.7);
    assert_true(J.train.present);
    assert_int_equal(J.train.epochs, 1);
    assert_string_equal(J.train.out, "t.pt");
    assert_int_equal(J.methods[1].kind, JOB_M_IG_SG);
    assert_int_equal(J.methods[1].refs, 4);
    assert_string_equal(J.name, "quoted name");
    assert_true(J.out_masks);

    /* Later --set wins; a --set through an empty value makes a mapping. */
    const char *twice[] = {"seed=1", "seed=2"};
    assert_int_equal(load_text(BASE "methods: [{name: random}]\n", twice, 2), 0);
    assert_true(J.seed == 2);
    const char *deep[] = {"metrics.diffid.ratios=[0.3]"};
    assert_int_equal(load_text(BASE "methods: [{name: random}]\nmetrics:\n", deep, 1), 0);
    assert_true(J.diffid && J.n_diffid_ratios == 1);
}

static void test_set_errors(void **state) {
    (void)state;
    const char *text = BASE "methods: [{name: random}]\n";
    const char *bad_value[] = {"dataset.limit=abc"};
    expect_set_err(text, bad_value, 1, "--set dataset.limit=abc: 'limit' must be an integer >= 0, got 'abc'");
    /* a long --set is cut before the reason, not the reason after it */
    static char longset[3100];
    snprintf(longset, sizeof longset, "dataset.limit=%03000d", 7);
    longset[20] = 'x';
    const char *long_value[] = {longset};
    assert_int_not_equal(load_text(text, long_value, 1), 0);
    assert_non_null(strstr(ERR, "(3014 characters): 'limit' must be an integer >= 0, got '"));
    const char *no_eq[] = {"dataset.limit"};
    expect_set_err(text, no_eq, 1, "--set dataset.limit: expected 'dotted.path=value' (no '=' found)");
    const char *range[] = {"methods.3.steps=2"};
    expect_set_err(text, range, 1, "--set methods.3.steps=2: index 3 out of range for 'methods' (1 items)");
    const char *not_index[] = {"methods.first.steps=2"};
    expect_set_err(text, not_index, 1, "--set methods.first.steps=2: 'methods' is a sequence; 'first' is not an index");
    const char *through_scalar[] = {"model.path.x=1"};
    expect_set_err(text, through_scalar, 1, "--set model.path.x=1: 'path' is a scalar; cannot set 'x' inside it");
    const char *empty_seg[] = {"dataset..limit=1"};
    expect_set_err(text, empty_seg, 1, "--set dataset..limit=1: empty key in the dotted path");
    const char *unknown[] = {"dataset.limt=5"};
    expect_set_err(text, unknown, 1, "--set dataset.limt=5: unknown key 'limt' in 'dataset' (did you mean 'limit'?)");
    const char *syntax[] = {"metrics.diffid.ratios=[0.5"};
    assert_int_equal(load_text(text, syntax, 1), -1);
    assert_non_null(strstr(ERR, "--set metrics.diffid.ratios=[0.5: YAML syntax error: "));
    const char *method[] = {"methods.0.name=gradcm"};
    expect_set_err(text, method, 1, "--set methods.0.name=gradcm: unknown method 'gradcm' (did you mean 'gradcam'?)");
    const char *train[] = {"train.epochs=2"};
    assert_int_equal(load_text(BASE, train, 1), -1);
    assert_string_equal(ERR, "--set train.epochs=2: missing required key 'train.out'");
}

static void test_sha256(void **state) {
    (void)state;
    const char *text = BASE "methods: [{name: random}]\n";
    char a[65], b[65], c[65];
    assert_int_equal(load_text(text, NULL, 0), 0);
    memcpy(a, J.sha256, 65);
    const char *sets[] = {"seed=1", "batch_size=8"};
    assert_int_equal(load_text(text, sets, 2), 0);
    memcpy(b, J.sha256, 65);
    assert_int_equal(load_text(text, sets, 1), 0);
    memcpy(c, J.sha256, 65);
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);
    assert_string_not_equal(a, c);

    /* The documented recipe: file bytes, then "\n--set " + each set. */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s\n--set seed=1\n--set batch_size=8", text);
    unsigned char md[32];
    unsigned mdlen = 0;
    assert_true(EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha256(), NULL));
    char hex[65];
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    assert_string_equal(b, hex);
}

static void test_names_and_suggest(void **state) {
    (void)state;
    assert_string_equal(job_method_name(JOB_M_KERNEL_SHAP), "kernel_shap");
    assert_string_equal(job_method_name(JOB_M_IG_UNIFORM), "ig_uniform");
    assert_string_equal(job_estimator_name(JOB_EST_VALID_IP), "valid_ip");
    assert_string_equal(job_estimator_name(JOB_EST_IDGI), "idgi");
    assert_string_equal(job_objective_name(JOB_OBJ_CONTRAST), "contrast");
    assert_true(job_method_implemented(JOB_M_RANDOM));
    assert_true(job_method_implemented(JOB_M_IG_UNIFORM));
    assert_true(job_method_implemented(JOB_M_EG));
    assert_true(job_method_implemented(JOB_M_AGI));
    assert_true(job_method_implemented(JOB_M_GRADCAM));
    assert_true(job_method_implemented(JOB_M_LIME));
    assert_true(job_method_implemented(JOB_M_KERNEL_SHAP));
    static const char *const c[] = {"batch_size", "seed", "device"};
    assert_string_equal(job_suggest("BATCHSIZE", c, 3), "batch_size");
    assert_string_equal(job_suggest("sed", c, 3), "seed");
    assert_null(job_suggest("completely_else", c, 3));
    assert_null(job_suggest("x", NULL, 0));
}

/* dataset.* options (issue #5): values, defaults, and where they are refused. */
static void test_dataset_options(void **state) {
    (void)state;
#define M "model: {path: m.pt}\nmethods: [{name: random}]\n"
    if (load_text(M "dataset:\n  name: imagenet\n  path: /d\n  resize: 256\n  crop: 224\n"
                    "  on_error: skip\n  mean: [0.5, 0.4, 0.3]\n  std: 0.25\n  threads: 3\n",
                  NULL, 0))
        fail_msg("%s", ERR);
    assert_string_equal(J.split, "val"); /* imagenet's default split */
    assert_int_equal(J.ds_resize, 256);
    assert_int_equal(J.ds_crop, 224);
    assert_true(J.ds_skip_errors);
    assert_int_equal(J.ds_n_mean, 3);
    assert_true(J.ds_mean[2] == 0.3);
    assert_int_equal(J.ds_n_std, 1);
    assert_true(J.ds_std[0] == 0.25);
    assert_int_equal(J.ds_threads, 3);
    if (load_text(M "dataset: {name: cifar100, path: /d, label: coarse}\n", NULL, 0)) fail_msg("%s", ERR);
    assert_true(J.ds_label_coarse);
    assert_false(J.ds_skip_errors);
    assert_string_equal(J.split, "test");
    if (load_text(M "dataset: {name: npy, path: /d, classes: 7}\n", NULL, 0)) fail_msg("%s", ERR);
    assert_int_equal(J.ds_classes, 7);

    expect_err(M "dataset: {name: cifar100, path: /d, label: corse}\n", NULL, 0,
               ":3:44: 'label' must be one of fine, coarse, got 'corse' (did you mean 'coarse'?)");
    expect_err(M "dataset: {name: cifar10, path: /d, label: coarse}\n", NULL, 0,
               ":3:43: 'label' applies to dataset cifar100 only (remove it)");
    expect_err(M "dataset: {name: cifar10, path: /d, resize: 64}\n", NULL, 0,
               ":3:44: 'resize' applies to dataset imagenet only (remove it)");
    expect_err(M "dataset: {name: imagenet, path: /d, crop: 300}\n", NULL, 0,
               ":3:43: 'crop' (300) must not exceed 'resize' (224)");
    expect_err(M "dataset: {name: imagenet, path: /d, split: test}\n", NULL, 0,
               ":3:44: dataset imagenet has no split 'test' (use 'val' or 'train')");
    expect_err(M "dataset: {name: npy, path: /d, std: [1, 0, 1]}\n", NULL, 0,
               ":3:41: 'std' must be a number > 0, got '0'");
    expect_err(M "dataset: {name: npy, path: /d, mean: [1, 2]}\n", NULL, 0,
               ":3:38: 'mean' must be a number or a list of 1 or 3 numbers, got a sequence");
    expect_err(M "dataset: {name: imagenet, path: /d, on_error: ignore}\n", NULL, 0,
               ":3:47: 'on_error' must be one of fail, skip, got 'ignore'");
    expect_err(M "dataset: {name: imagenet, path: /d, resise: 256}\n", NULL, 0,
               ":3:37: unknown key 'resise' in 'dataset' (did you mean 'resize'?)");
#undef M
}

/* ig / guided_ig baselines: names, blur_sigma, {path:}, --set, refusals. */
static void test_baselines(void **state) {
    (void)state;
    assert_int_equal(load_text(BASE "methods:\n  - {name: ig, baseline: blur}\n"
                                    "  - {name: guided_ig, baseline: uniform}\n"
                                    "  - {name: ig, label: ig_file, baseline: {path: base.npy}}\n"
                                    "  - {name: ig, label: ig_b2, blur_sigma: 2.5, baseline: BLUR}\n"
                                    "  - {name: ig, label: ig_zero, baseline: zero}\n",
                               NULL, 0),
                     0);
    assert_int_equal(J.methods[0].baseline, JOB_BASE_BLUR);
    assert_float_equal(J.methods[0].blur_sigma, JOB_BLUR_SIGMA_DEFAULT, 0);
    assert_float_equal(J.methods[0].blur_sigma, 5.0, 0); /* the default docs/methods.md states */
    assert_int_equal(J.methods[1].baseline, JOB_BASE_UNIFORM);
    assert_int_equal(J.methods[2].baseline, JOB_BASE_FILE);
    assert_string_equal(J.methods[2].baseline_path, "base.npy");
    assert_int_equal(J.methods[3].baseline, JOB_BASE_BLUR); /* keys in any order */
    assert_float_equal(J.methods[3].blur_sigma, 2.5, 0);
    assert_int_equal(J.methods[4].baseline, JOB_BASE_DATASET_MEAN);
    assert_string_equal(job_baseline_name(JOB_BASE_FILE), "file");
    assert_string_equal(job_baseline_name(JOB_BASE_UNIFORM), "uniform");
    /* --set: a name, a file mapping, the blur's sigma */
    const char *sets[] = {"methods.0.baseline={path: /b/x.npy}", "methods.1.baseline=blur", "methods.1.blur_sigma=1"};
    assert_int_equal(load_text(BASE "methods: [{name: ig}, {name: guided_ig}]\n", sets, 3), 0);
    assert_int_equal(J.methods[0].baseline, JOB_BASE_FILE);
    assert_string_equal(J.methods[0].baseline_path, "/b/x.npy");
    assert_int_equal(J.methods[1].baseline, JOB_BASE_BLUR);
    assert_float_equal(J.methods[1].blur_sigma, 1.0, 0);
    expect_err(BASE "methods: [{name: ig, baseline: blurr}]\n", NULL, 0,
               ":3:32: 'baseline' must be one of dataset_mean, black, blur, uniform, or {path: FILE.npy}, got "
               "'blurr' (did you mean 'blur'?)");
    expect_err(BASE "methods: [{name: ig, baseline: base.npy}]\n", NULL, 0,
               ":3:32: 'baseline' names a file as a mapping: baseline: {path: base.npy} (a bare word is one of "
               "dataset_mean, black, blur, uniform)");
    expect_err(BASE "methods: [{name: ig, blur_sigma: 3}]\n", NULL, 0,
               ":3:34: 'blur_sigma' applies to baseline: blur only (this entry's baseline is dataset_mean)");
    expect_err(BASE "methods: [{name: ig, baseline: blur, blur_sigma: 0}]\n", NULL, 0,
               ":3:50: 'blur_sigma' must be a number in (0, 1000] (pixels), got '0'");
    static const char *const bad[][2] = {
        {BASE "methods: [{name: ig, baseline: {file: b.npy}}]\n", "unknown key 'file' in 'methods.0.baseline'"},
        {BASE "methods: [{name: ig, baseline: {}}]\n", "a baseline mapping needs 'path': {path: base.npy}"},
        {BASE "methods: [{name: ig, baseline: {path: ''}}]\n", "'path' must be a non-empty string, got ''"},
        {BASE "methods: [{name: ig, baseline: [blur]}]\n", "got a list"},
        {BASE "methods: [{name: ig_uniform, baseline: uniform}]\n",
         "'baseline' applies to methods ig and guided_ig only"},
        {BASE "methods: [{name: blur_ig, blur_sigma: 3}]\n", "'blur_sigma' applies to baseline: blur only"},
        {BASE "methods: [{name: ig, baseline: {path: b.npy}, blur_sigma: 3}]\n",
         "'blur_sigma' applies to baseline: blur only (this entry's baseline is file)"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        assert_int_equal(load_text(bad[k][0], NULL, 0), -1);
        if (!strstr(ERR, bad[k][1])) fail_msg("want '%s' in: %s", bad[k][1], ERR);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baselines),
        cmocka_unit_test(test_full_roundtrip),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_train_only),
        cmocka_unit_test(test_case_insensitive_methods),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_outputs_heatmap),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_methods_errors),
        cmocka_unit_test(test_method_keys),
        cmocka_unit_test(test_smoothgrad_auto_samples),
        cmocka_unit_test(test_metric_sections),
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_syntax_and_io),
        cmocka_unit_test(test_set_overrides),
        cmocka_unit_test(test_set_errors),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_names_and_suggest),
        cmocka_unit_test(test_dataset_options),
        cmocka_unit_test(test_statistics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
