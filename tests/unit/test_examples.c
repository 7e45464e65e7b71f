/* tests/unit/test_examples.c — the report's example images (worker/examples.c,
 * compiled in here: it needs no libtorch): the first image of each class in
 * label order, the grid filled by id when the classes are fewer than its rows,
 * outputs.examples refused beyond the data set, each shard's rows and the
 * text of its examples-<first>.txt.
 * Expected ids worked out by hand from the labels below. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../worker/examples.c"
#include "npy.h"

static struct job J;

/* An npy data set of n 1×1×1 images with these labels in $RECAL_TEST_TMP. */
static void open_npy(const char *name, const int64_t *labels, int64_t n, struct ds_dataset *ds) {
    char dir[1024], path[1100], err[1024] = "";
    const char *tmp = getenv("RECAL_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/examples_%s", tmp && *tmp ? tmp : "/tmp", name);
    mkdir(dir, 0755);
    uint8_t px[64] = {0};
    int64_t shape[4] = {n, 1, 1, 1}, ls[1] = {n};
    snprintf(path, sizeof path, "%s/images.npy", dir);
    if (npy_write(path, NPY_U8, 4, shape, px, err, sizeof err)) fail_msg("%s", err);
    snprintf(path, sizeof path, "%s/labels.npy", dir);
    if (npy_write(path, NPY_I64, 1, ls, labels, err, sizeof err)) fail_msg("%s", err);
    if (ds_open("npy", dir, "test", 0, ds, err, sizeof err)) fail_msg("%s", err);
}

static void test_one_per_class(void **state) {
    (void)state;
    /* 14 images of 3 classes: class 0 first at 2, class 1 at 4, class 2 at 0 */
    const int64_t lab[14] = {2, 2, 0, 2, 1, 0, 0, 1, 2, 2, 1, 0, 1, 1};
    struct ds_dataset ds;
    long ids[JOB_MAX_EXAMPLES];
    int n = -1;
    char err[512] = "";
    open_npy("fill", lab, 14, &ds);
    memset(&J, 0, sizeof J);
    J.out_figures = true;
    assert_int_equal(wk_examples_plan(&J, &ds, ids, &n, err, sizeof err), 0);
    /* {2, 4, 0} by label, then ids 1, 3, 5, 6, 7, 8, 9 up to 10 rows; ascending */
    const long want[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    assert_int_equal(n, 10);
    assert_memory_equal(ids, want, sizeof want);
    J.out_figures = false; /* no figures: nothing kept */
    assert_int_equal(wk_examples_plan(&J, &ds, ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    ds_close(&ds);

    /* 12 classes: the first 10 labels' first images, not the first 10 ids */
    int64_t many[24];
    for (int i = 0; i < 24; i++) many[i] = (i * 5) % 12; /* 0 5 10 3 8 1 6 11 4 9 2 7 ... */
    open_npy("many", many, 24, &ds);
    J.out_figures = true;
    assert_int_equal(wk_examples_plan(&J, &ds, ids, &n, err, sizeof err), 0);
    /* label c first at i with 5i = c mod 12: c0 0, c1 5, c2 10, c3 3, c4 8, c5 1,
     * c6 6, c7 11, c8 4, c9 9 */
    const long want12[10] = {0, 1, 3, 4, 5, 6, 8, 9, 10, 11};
    assert_int_equal(n, 10);
    assert_memory_equal(ids, want12, sizeof want12);
    ds_close(&ds);
}

static void test_listed(void **state) {
    (void)state;
    const int64_t lab[6] = {0, 1, 0, 1, 0, 1};
    struct ds_dataset ds;
    long ids[JOB_MAX_EXAMPLES];
    int n = -1;
    char err[512] = "";
    open_npy("listed", lab, 6, &ds);
    memset(&J, 0, sizeof J);
    snprintf(J.file, sizeof J.file, "c.yaml");
    snprintf(J.dataset_name, sizeof J.dataset_name, "npy");
    snprintf(J.split, sizeof J.split, "test");
    J.out_figures = true;
    J.n_examples = 3;
    J.examples[0] = 5, J.examples[1] = 0, J.examples[2] = 3;
    assert_int_equal(wk_examples_plan(&J, &ds, ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_true(ids[0] == 0 && ids[1] == 3 && ids[2] == 5); /* ascending: a shard's rows in id order */
    /* shards of 2 images: [0,2) holds 0, [2,4) holds 3 (row 0), [4,6) holds 5 */
    assert_int_equal(wk_examples_in(ids, n, 0, 2), 1);
    assert_int_equal(wk_examples_in(ids, n, 2, 2), 1);
    assert_int_equal(wk_examples_row(ids, n, 2, 2, 3), 0);
    assert_int_equal(wk_examples_row(ids, n, 2, 2, 2), -1);
    assert_int_equal(wk_examples_row(ids, n, 0, 6, 5), 2);
    assert_int_equal(wk_examples_row(ids, n, 0, 4, 5), -1); /* not in the shard */
    J.examples[1] = 6;
    assert_int_equal(wk_examples_plan(&J, &ds, ids, &n, err, sizeof err), -1);
    assert_string_equal(err, "c.yaml: outputs.examples: image 6 is not among the run's 6 images of npy/test (ids 0 to "
                             "5; dataset.limit and --limit keep the first ones): pick ids below 6");
    ds_close(&ds);
}

static void test_ids_text(void **state) {
    (void)state;
    const long ids[4] = {0, 3, 5, 17}; /* ascending, as planned */
    char text[WK_EXAMPLES_TEXT_MAX];
    /* the shard [2, 12) holds 3 and 5: one id a line */
    assert_int_equal(wk_examples_ids_text(ids, 4, 2, 10, text, sizeof text), 4);
    assert_memory_equal(text, "3\n5\n", 4);
    assert_int_equal(wk_examples_ids_text(ids, 4, 6, 10, text, sizeof text), 0); /* none in [6, 16) */
    assert_int_equal(wk_examples_ids_text(ids, 4, 0, 18, text, sizeof text), 9); /* 2 + 2 + 2 + 3 bytes */
    assert_memory_equal(text, "0\n3\n5\n17\n", 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_per_class),
        cmocka_unit_test(test_listed),
        cmocka_unit_test(test_ids_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
