/* test_cifar.c - CIFAR-10/100 binary readers and the npy dataset reader
 * (worker/datasets), on files generated here.
 *
 * The oracle is the published record layout (label byte(s) then 3072 CHW
 * pixel bytes) and the published per-channel mean/std, written out by hand
 * below; damaged copies check that each error names the file, the record
 * and its byte offset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "npy.h"

#define N10 10000 /* records in every CIFAR-10 batch file and CIFAR-100 test.bin */
#define REC10 3073
#define REC100 3074

static char g_root[1024];

static void case_dir(const char *name, char *dir, size_t len) {
    snprintf(dir, len, "%s/%s", g_root, name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", dir, strerror(errno));
}

/* Pixel of record i, channel ch, position k: a pattern anyone can recompute. */
static uint8_t pix(long i, int ch, int k) {
    return (uint8_t)((i * 7 + ch * 101 + k * 13) & 0xff);
}

/* nrec records of record size rec (3073 or 3074) to dir/base, cut to len
 * bytes when len > 0; label bytes (i % 10) or, for CIFAR-100, coarse i % 20
 * and fine i % 100. */
static void write_cifar(const char *dir, const char *base, long nrec, int rec, size_t len) {
    char path[1400];
    size_t total = (size_t)nrec * (size_t)rec, k;
    uint8_t *b = malloc(total);
    long i;
    assert_non_null(b);
    for (i = 0; i < nrec; i++) {
        uint8_t *r = b + (size_t)i * (size_t)rec;
        int nl = rec - 3072, ch;
        if (nl == 1) {
            r[0] = (uint8_t)(i % 10);
        } else {
            r[0] = (uint8_t)(i % 20);
            r[1] = (uint8_t)(i % 100);
        }
        for (ch = 0; ch < 3; ch++)
            for (k = 0; k < 1024; k++) r[nl + ch * 1024 + (int)k] = pix(i, ch, (int)k);
    }
    snprintf(path, sizeof path, "%s/%s", dir, base);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len == 0 || len > total) len = total;
    assert_int_equal(fwrite(b, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(b);
}

static void patch_byte(const char *dir, const char *base, long off, uint8_t v) {
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", dir, base);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    assert_int_equal(fputc(v, f), v);
    assert_int_equal(fclose(f), 0);
}

/* ds_open must fail with a message containing every one of the words. */
static void expect_fail(const char *name, const char *dir, const char *split, const struct ds_options *opt, int nwords,
                        ...) {
    struct ds_dataset ds;
    char err[2048] = "";
    va_list ap;
    int rc = ds_open_opts(name, dir, split, 0, opt, &ds, err, sizeof err);
    if (rc != -1) fail_msg("ds_open(%s, %s) succeeded, expected an error", name, dir);
    assert_null(ds.impl);
    va_start(ap, nwords);
    for (int i = 0; i < nwords; i++) {
        const char *w = va_arg(ap, const char *);
        if (!strstr(err, w)) {
            va_end(ap);
            fail_msg("error does not contain '%s': %s", w, err);
        }
    }
    va_end(ap);
}

static void test_cifar10_valid(void **state) {
    /* CIFAR-10's published normalization (spec/docs/methods.md). */
    static const double mean[3] = {0.4914, 0.4822, 0.4465}, std[3] = {0.2471, 0.2435, 0.2616};
    char dir[1200], err[1024] = "";
    struct ds_dataset ds;
    (void)state;
    case_dir("c10", dir, sizeof dir);
    write_cifar(dir, "test_batch.bin", N10, REC10, 0);
    if (ds_open("cifar10", dir, "test", 0, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.n, N10);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.h, 32);
    assert_int_equal(ds.w, 32);
    assert_int_equal(ds.classes, 10);
    for (int ch = 0; ch < 3; ch++) {
        assert_true(fabs(ds.mean[ch] - mean[ch]) < 1e-6);
        assert_true(fabs(ds.std[ch] - std[ch]) < 1e-6);
    }
    /* Images 9997..9999: the end of the file, where off-by-ones show. */
    float *x = malloc(3 * 3072 * sizeof *x);
    uint8_t *u = malloc(3 * 3072);
    int64_t y[3];
    assert_non_null(x);
    assert_non_null(u);
    assert_int_equal(ds_get(&ds, N10 - 3, 3, x, y, err, sizeof err), 0);
    assert_int_equal(ds_get_u8(&ds, N10 - 3, 3, u, err, sizeof err), 0);
    for (int i = 0; i < 3; i++) {
        long id = N10 - 3 + i;
        assert_int_equal(y[i], id % 10);
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 1024; k += 37) {
                uint8_t p = pix(id, ch, k);
                assert_int_equal(u[i * 3072 + ch * 1024 + k], p);
                double want = (p / 255.0 - mean[ch]) / std[ch];
                assert_true(fabs(x[i * 3072 + ch * 1024 + k] - want) < 1e-5);
            }
    }
    free(x);
    free(u);
    ds_close(&ds);
    /* The train split needs all five batch files: name the first missing. */
    expect_fail("cifar10", dir, "train", NULL, 3, "data_batch_1.bin", "No such file", "cifar-10-binary.tar.gz");
    expect_fail("cifar10", dir, "val", NULL, 2, "'val'", "'train' or 'test'");
}

static void test_cifar10_truncated(void **state) {
    char dir[1200], want[1400];
    (void)state;
    case_dir("c10_trunc", dir, sizeof dir);
    /* Cut mid-record: record 9999 starts at 9999 * 3073 = 30726927. */
    write_cifar(dir, "test_batch.bin", N10, REC10, (size_t)N10 * REC10 - 100);
    snprintf(want, sizeof want, "%s/test_batch.bin", dir);
    expect_fail("cifar10", dir, "test", NULL, 5, want, "truncated", "record 9999", "byte offset 30726927",
                "re-download");
    /* Whole records but too few: record 9990 is missing. */
    write_cifar(dir, "test_batch.bin", 9990, REC10, 0);
    expect_fail("cifar10", dir, "test", NULL, 4, want, "record 9990", "byte offset 30699270", "missing");
    /* One record too many. */
    write_cifar(dir, "test_batch.bin", N10 + 1, REC10, 0);
    expect_fail("cifar10", dir, "test", NULL, 3, want, "10001 records", "expected 10000");
}

static void test_cifar10_bad_label(void **state) {
    char dir[1200], want[1400];
    (void)state;
    case_dir("c10_label", dir, sizeof dir);
    write_cifar(dir, "test_batch.bin", N10, REC10, 0);
    patch_byte(dir, "test_batch.bin", 5L * REC10, 10);
    snprintf(want, sizeof want, "%s/test_batch.bin", dir);
    expect_fail("cifar10", dir, "test", NULL, 4, want, "record 5", "byte offset 15365",
                "label 10 is out of range 0..9");
}

static void test_cifar100(void **state) {
    char dir[1200], err[1024] = "", want[1400];
    struct ds_dataset ds;
    struct ds_options opt = {0};
    int64_t y[2];
    float x[2 * 3072];
    (void)state;
    case_dir("c100", dir, sizeof dir);
    write_cifar(dir, "test.bin", N10, REC100, 0);
    if (ds_open("cifar100", dir, "test", 0, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.classes, 100);
    assert_true(fabs(ds.mean[0] - 0.5071) < 1e-6 && fabs(ds.std[2] - 0.2762) < 1e-6);
    assert_int_equal(ds_get(&ds, 123, 2, x, y, err, sizeof err), 0);
    assert_int_equal(y[0], 123 % 100); /* fine label: the second byte */
    assert_int_equal(y[1], 124 % 100);
    /* pixels start after both label bytes */
    assert_true(fabs(x[3072 + 2 * 1024 + 5] - (pix(124, 2, 5) / 255.0 - 0.4409) / 0.2762) < 1e-5);
    ds_close(&ds);

    opt.label_coarse = 1;
    if (ds_open_opts("cifar100", dir, "test", 10, &opt, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.classes, 20);
    assert_int_equal(ds.n, 10); /* limit */
    assert_int_equal(ds_get(&ds, 7, 1, x, y, err, sizeof err), 0);
    assert_int_equal(y[0], 7 % 20);
    assert_int_equal(ds_get(&ds, 10, 1, x, y, err, sizeof err), -1); /* beyond limit */
    ds_close(&ds);

    /* A fine label of 100 fails either way only when it is the one read. */
    patch_byte(dir, "test.bin", 3L * REC100 + 1, 100);
    snprintf(want, sizeof want, "%s/test.bin", dir);
    expect_fail("cifar100", dir, "test", NULL, 3, want, "record 3", "label 100 is out of range 0..99");
    patch_byte(dir, "test.bin", 3L * REC100 + 1, 3);
    patch_byte(dir, "test.bin", 4L * REC100, 20);
    expect_fail("cifar100", dir, "test", &opt, 4, want, "record 4", "byte offset 12296", "out of range 0..19");
    /* label: coarse is a CIFAR-100 option only. */
    expect_fail("cifar10", dir, "test", &opt, 1, "cifar100 only");
    expect_fail("cifar100", dir, "train", NULL, 2, "train.bin", "cifar-100-binary.tar.gz");
}

static void write_npy(const char *dir, const char *base, enum npy_dtype t, int nd, const int64_t *shape,
                      const void *data) {
    char path[1300], err[1024] = "";
    snprintf(path, sizeof path, "%s/%s", dir, base);
    if (npy_write(path, t, nd, shape, data, err, sizeof err)) fail_msg("%s", err);
}

static void test_npy(void **state) {
    char dir[1200], err[1024] = "";
    struct ds_dataset ds;
    struct ds_options opt = {0};
    uint8_t img[2 * 2 * 3 * 3]; /* N=2, H=2, W=3, C=3 channels-last */
    float fx[2 * 3 * 2 * 3], x[2 * 3 * 2 * 3];
    int64_t y[2], lab[2] = {4, 1}, shape[4] = {2, 2, 3, 3}, fshape[4] = {2, 3, 2, 3}, ls[1] = {2};
    (void)state;
    case_dir("npy", dir, sizeof dir);
    for (int i = 0; i < (int)sizeof img; i++) img[i] = (uint8_t)(i * 9);
    write_npy(dir, "images.npy", NPY_U8, 4, shape, img);
    write_npy(dir, "labels.npy", NPY_I64, 1, ls, lab);
    if (ds_open("npy", dir, "test", 0, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.c, 3);
    assert_int_equal(ds.h, 2);
    assert_int_equal(ds.w, 3);
    assert_int_equal(ds.classes, 5); /* max label + 1 */
    assert_int_equal(ds_get(&ds, 0, 2, x, y, err, sizeof err), 0);
    /* NHWC in the file -> NCHW out, pixel/255 by default */
    for (int n = 0; n < 2; n++)
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 6; k++)
                assert_true(fabs(x[(n * 3 + c) * 6 + k] - img[(n * 6 + k) * 3 + c] / 255.0) < 1e-6);
    assert_int_equal(y[0], 4);
    /* the files --resume fingerprints: labels first, then the pixels; image
     * 1 is record 1 of images.npy */
    assert_non_null(ds_file(&ds, 0));
    assert_non_null(strstr(ds_file(&ds, 0), "/labels.npy"));
    assert_non_null(strstr(ds_file(&ds, 1), "/images.npy"));
    assert_null(ds_file(&ds, 2));
    long rec = -9;
    assert_string_equal(ds_source(&ds, 1, &rec), ds_file(&ds, 1));
    assert_int_equal(rec, 1);
    assert_null(ds_source(&ds, 2, &rec));
    ds_close(&ds);

    opt.n_mean = 3;
    opt.mean[0] = 0.5f, opt.mean[1] = 0.25f, opt.mean[2] = 0.0f;
    opt.n_std = 1;
    opt.std[0] = 0.5f;
    opt.classes = 10;
    if (ds_open_opts("npy", dir, "test", 0, &opt, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.classes, 10);
    assert_int_equal(ds_get(&ds, 1, 1, x, NULL, err, sizeof err), 0);
    assert_true(fabs(x[1 * 6 + 4] - (img[(6 + 4) * 3 + 1] / 255.0 - 0.25) / 0.5) < 1e-6);
    ds_close(&ds);

    /* float32 NCHW is used as stored; there are no uint8 pixels to hand out. */
    for (int i = 0; i < 36; i++) fx[i] = (float)i * 0.5f - 3.0f;
    write_npy(dir, "images-train.npy", NPY_F32, 4, fshape, fx);
    int32_t lab32[2] = {0, 2};
    write_npy(dir, "labels-train.npy", NPY_I32, 1, ls, lab32);
    if (ds_open("npy", dir, "train", 0, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds_get(&ds, 0, 2, x, y, err, sizeof err), 0);
    assert_memory_equal(x, fx, sizeof fx);
    assert_int_equal(y[1], 2);
    uint8_t u[36];
    assert_int_equal(ds_get_u8(&ds, 0, 1, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "float32"));
    ds_close(&ds);

    /* errors: label count, label range with classes, missing files */
    int64_t ls3[1] = {3}, lab3[3] = {0, 1, 2};
    write_npy(dir, "labels.npy", NPY_I64, 1, ls3, lab3);
    expect_fail("npy", dir, "test", NULL, 2, "labels.npy", "3 labels but");
    write_npy(dir, "labels.npy", NPY_I64, 1, ls, lab);
    opt.classes = 3;
    expect_fail("npy", dir, "test", &opt, 3, "labels.npy", "label 4 at index 0", "dataset.classes");
    char empty[1200];
    case_dir("npy_empty", empty, sizeof empty);
    expect_fail("npy", empty, "test", NULL, 2, "images.npy", "numpy.save");
}

/* dataset.path may name the directory the official tarball unpacks into
 * (holding cifar-10-batches-bin/ or cifar-100-binary/), as docs/datasets.md
 * says, or the inner directory itself. */
static void test_cifar_tarball_dir(void **state) {
    char top[1200], inner[1240], err[1024] = "";
    struct ds_dataset ds;
    (void)state;
    case_dir("tar10", top, sizeof top);
    snprintf(inner, sizeof inner, "%s/cifar-10-batches-bin", top);
    if (mkdir(inner, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", inner, strerror(errno));
    write_cifar(inner, "test_batch.bin", N10, REC10, 0);
    const char *paths[2] = {top, inner};
    for (int k = 0; k < 2; k++) {
        if (ds_open("cifar10", paths[k], "test", 0, &ds, err, sizeof err)) fail_msg("%s: %s", paths[k], err);
        assert_int_equal(ds.n, N10);
        ds_close(&ds);
    }
    case_dir("tar100", top, sizeof top);
    snprintf(inner, sizeof inner, "%s/cifar-100-binary", top);
    if (mkdir(inner, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", inner, strerror(errno));
    write_cifar(inner, "test.bin", N10, REC100, 0);
    if (ds_open("cifar100", top, "test", 0, &ds, err, sizeof err)) fail_msg("%s: %s", top, err);
    assert_int_equal(ds.n, N10);
    ds_close(&ds);
    /* neither layout: the message says both */
    expect_fail("cifar10", top, "test", NULL, 3, "test_batch.bin", "unpacks into", "cifar-10-binary.tar.gz");
}

static int setup(void **state) {
    const char *tmp = getenv("RECAL_TEST_TMP");
    (void)state;
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(g_root, sizeof g_root, "%s/test_cifar.%ld", tmp, (long)getpid());
    if (mkdir(g_root, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", g_root, strerror(errno));
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    char cmd[1200];
    (void)state;
    /* generated files are 30 MB each: do not leave them behind */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cifar10_valid),     cmocka_unit_test(test_cifar10_truncated),
        cmocka_unit_test(test_cifar10_bad_label), cmocka_unit_test(test_cifar100),
        cmocka_unit_test(test_cifar_tarball_dir), cmocka_unit_test(test_npy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
