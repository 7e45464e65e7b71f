/* test_idx.c - Fashion-MNIST / MNIST IDX reader (worker/datasets).
 *
 * Checks the real Debian dataset against facts known independently of our
 * code (first test labels, class balance, pixel mean/std), then feeds the
 * reader damaged copies and checks each error names the file and the fault. */
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
#include <zlib.h>

#include "dataset.h"

#define REAL_DIR "/usr/share/datasets/fashion-mnist"
#define PIX 784
#define SMALL_N 100

static char g_root[1024];            /* per-run scratch dir */
static uint8_t g_pix[SMALL_N * PIX]; /* first SMALL_N real test images */
static uint8_t g_lab[SMALL_N];

static void require_real_data(void) {
    struct stat sb;
    if (stat(REAL_DIR, &sb) != 0 || !S_ISDIR(sb.st_mode))
        fail_msg("%s is missing: install Debian's dataset-fashion-mnist "
                 "(apt-get install dataset-fashion-mnist); these tests need the real data",
                 REAL_DIR);
}

static void open_real(const char *split, long limit, struct ds_dataset *ds) {
    char err[1024] = "";
    require_real_data();
    if (ds_open("fashion-mnist", REAL_DIR, split, limit, ds, err, sizeof err) != 0)
        fail_msg("ds_open(fashion-mnist, %s): %s", split, err);
}

/* ---- real data ----------------------------------------------------------- */

static void test_real_test_split(void **state) {
    struct ds_dataset ds;
    int64_t *y;
    long counts[10] = {0}, i;
    (void)state;

    open_real("test", 0, &ds);
    assert_string_equal(ds.name, "fashion-mnist");
    assert_int_equal(ds.n, 10000);
    assert_int_equal(ds.c, 1);
    assert_int_equal(ds.h, 28);
    assert_int_equal(ds.w, 28);
    assert_int_equal(ds.classes, 10);
    assert_true(fabsf(ds.mean[0] - 0.2860f) < 1e-6f);
    assert_true(fabsf(ds.std[0] - 0.3530f) < 1e-6f);

    y = malloc(sizeof *y * 10000);
    float *x = malloc(sizeof *x * 10000 * PIX);
    assert_non_null(y);
    assert_non_null(x);
    assert_int_equal(ds_get(&ds, 0, 10000, x, y, NULL, 0), 0);
    /* Published facts: test[0] is an ankle boot (9), test[1] a pullover (2),
     * and the test split has exactly 1000 images of each class. */
    assert_int_equal(y[0], 9);
    assert_int_equal(y[1], 2);
    for (i = 0; i < 10000; i++) {
        assert_true(y[i] >= 0 && y[i] < 10);
        counts[y[i]]++;
    }
    for (i = 0; i < 10; i++) assert_int_equal(counts[i], 1000);
    free(x);
    free(y);
    ds_close(&ds);
    ds_close(&ds); /* idempotent */
}

static void test_real_train_stats(void **state) {
    struct ds_dataset ds;
    uint8_t *px;
    double sum = 0.0, sq = 0.0, mean, sd, cnt;
    size_t i, n;
    (void)state;

    open_real("train", 0, &ds);
    assert_int_equal(ds.n, 60000);
    n = (size_t)ds.n * PIX;
    px = malloc(n);
    assert_non_null(px);
    assert_int_equal(ds_get_u8(&ds, 0, ds.n, px, NULL, 0), 0);
    for (i = 0; i < n; i++) {
        double v = px[i] / 255.0;
        sum += v;
        sq += v * v;
    }
    cnt = (double)n;
    mean = sum / cnt;
    sd = sqrt(sq / cnt - mean * mean);
    /* The constants the normalization uses must match the data itself. */
    assert_true(fabs(mean - 0.2860) < 0.0005);
    assert_true(fabs(sd - 0.3530) < 0.0005);
    free(px);
    ds_close(&ds);
}

static void test_real_normalization(void **state) {
    struct ds_dataset ds;
    uint8_t raw[3 * PIX];
    float x[3 * PIX];
    int64_t y[3];
    int i;
    (void)state;

    open_real("test", 0, &ds);
    assert_int_equal(ds_get_u8(&ds, 1, 3, raw, NULL, 0), 0);
    assert_int_equal(ds_get(&ds, 1, 3, x, y, NULL, 0), 0);
    assert_int_equal(y[0], 2);
    for (i = 0; i < 3 * PIX; i++) {
        float want = ((float)raw[i] / 255.0f - 0.2860f) / 0.3530f;
        assert_true(fabsf(x[i] - want) < 1e-5f);
    }
    /* y may be NULL */
    assert_int_equal(ds_get(&ds, 0, 1, x, NULL, NULL, 0), 0);
    ds_close(&ds);
}

static void test_limit_and_range(void **state) {
    struct ds_dataset ds;
    char err[512] = "";
    float x[PIX];
    uint8_t u[PIX];
    (void)state;

    open_real("test", 5, &ds);
    assert_int_equal(ds.n, 5);
    assert_int_equal(ds_get(&ds, 4, 1, x, NULL, err, sizeof err), 0);
    assert_int_equal(ds_get(&ds, 5, 1, x, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "range"));
    assert_int_equal(ds_get(&ds, -1, 1, x, NULL, err, sizeof err), -1);
    assert_int_equal(ds_get_u8(&ds, 0, 6, u, err, sizeof err), -1);
    assert_int_equal(ds_get(&ds, 5, 0, x, NULL, err, sizeof err), 0);
    ds_close(&ds);

    open_real("test", 20000, &ds);
    assert_int_equal(ds.n, 10000);
    ds_close(&ds);

    assert_int_equal(ds_open("fashion-mnist", REAL_DIR, "test", -3, &ds, err, sizeof err), -1);
    assert_null(ds.impl);
    ds_close(&ds);
}

static void test_bad_name_and_split(void **state) {
    struct ds_dataset ds;
    char err[512] = "";
    (void)state;

    assert_int_equal(ds_open("svhn", REAL_DIR, "test", 0, &ds, err, sizeof err), -1);
    assert_non_null(strstr(err, "svhn"));
    assert_non_null(strstr(err, "not supported"));
    assert_non_null(strstr(err, "cifar10")); /* the message lists what is supported */
    assert_int_equal(ds_open("fashion-mnist", REAL_DIR, "val", 0, &ds, err, sizeof err), -1);
    assert_non_null(strstr(err, "'val'"));
    assert_null(ds.impl);
}

/* ---- damaged copies ------------------------------------------------------ */

static const char *const k_files[] = {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void case_dir(const char *name, char *dir, size_t len) {
    snprintf(dir, len, "%s/%s", g_root, name);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", dir, strerror(errno));
}

static void write_bytes(const char *dir, const char *base, int gz, const uint8_t *buf, size_t len) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s%s", dir, base, gz ? ".gz" : "");
    if (gz) {
        gzFile f = gzopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, buf, (unsigned)len), (int)len);
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        assert_int_equal(fclose(f), 0);
    }
}

/* Image file: header declaring `declared` images, followed by `actual` real
 * images and `extra` garbage bytes. */
static void write_images(const char *dir, int gz, uint32_t magic, uint32_t declared, uint32_t actual, size_t extra) {
    size_t len = 16 + (size_t)actual * PIX + extra;
    uint8_t *b = calloc(1, len);
    assert_non_null(b);
    put_be32(b, magic);
    put_be32(b + 4, declared);
    put_be32(b + 8, 28);
    put_be32(b + 12, 28);
    memcpy(b + 16, g_pix, (size_t)actual * PIX);
    memset(b + 16 + (size_t)actual * PIX, 0xAB, extra);
    write_bytes(dir, k_files[0], gz, b, len);
    free(b);
}

static void write_labels(const char *dir, int gz, uint32_t magic, uint32_t count, int bad_index) {
    uint8_t b[8 + SMALL_N];
    put_be32(b, magic);
    put_be32(b + 4, count);
    memcpy(b + 8, g_lab, count);
    if (bad_index >= 0) b[8 + bad_index] = 10;
    write_bytes(dir, k_files[1], gz, b, 8 + count);
}

static void write_valid(const char *dir, int gz) {
    write_images(dir, gz, 0x803, SMALL_N, SMALL_N, 0);
    write_labels(dir, gz, 0x801, SMALL_N, -1);
}

/* ds_open must fail with a message naming `file` (relative to dir, or "" for
 * the dir itself) and containing `word`. */
static void expect_fail(const char *dir, const char *file, const char *word) {
    struct ds_dataset ds;
    char err[1024] = "", want[1200];
    int rc = ds_open("fashion-mnist", dir, "test", 0, &ds, err, sizeof err);
    if (rc != -1) fail_msg("ds_open(%s) succeeded, expected an error with '%s'", dir, word);
    snprintf(want, sizeof want, "%s%s%s", dir, *file ? "/" : "", file);
    if (!strstr(err, want)) fail_msg("error does not name %s: %s", want, err);
    if (!strstr(err, word)) fail_msg("error lacks '%s': %s", word, err);
    assert_null(ds.impl);
    print_message("  ok: %s\n", err);
}

static void cleanup_dir(const char *dir) {
    char path[1200];
    int i;
    for (i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, k_files[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.gz", dir, k_files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void test_small_copy_valid(void **state) {
    char dir[1100];
    int gz;
    (void)state;
    for (gz = 0; gz < 2; gz++) {
        struct ds_dataset ds;
        char err[1024] = "";
        uint8_t px[SMALL_N * PIX];
        float x[PIX];
        int64_t y[SMALL_N];
        case_dir(gz ? "valid_gz" : "valid_plain", dir, sizeof dir);
        write_valid(dir, gz);
        if (ds_open("fashion-mnist", dir, "test", 0, &ds, err, sizeof err) != 0) fail_msg("%s", err);
        assert_int_equal(ds.n, SMALL_N);
        assert_int_equal(ds_get_u8(&ds, 0, SMALL_N, px, NULL, 0), 0);
        assert_memory_equal(px, g_pix, sizeof px);
        assert_int_equal(ds_get(&ds, SMALL_N - 1, 1, x, y, NULL, 0), 0);
        assert_int_equal(y[0], g_lab[SMALL_N - 1]);
        ds_close(&ds);
        /* the train files are absent here: the message names the .gz it wanted */
        assert_int_equal(ds_open("fashion-mnist", dir, "train", 0, &ds, err, sizeof err), -1);
        assert_non_null(strstr(err, "train-images-idx3-ubyte.gz"));
        assert_non_null(strstr(err, "No such file or directory"));
        cleanup_dir(dir);
    }
}

static void test_truncated(void **state) {
    char dir[1100], path[1200];
    uint8_t *buf;
    long len;
    FILE *f;
    int gz;
    (void)state;

    /* header promises 100 images, body holds 50: plain and gzip'd */
    for (gz = 0; gz < 2; gz++) {
        case_dir(gz ? "trunc_body_gz" : "trunc_body_plain", dir, sizeof dir);
        write_images(dir, gz, 0x803, SMALL_N, 50, 0);
        write_labels(dir, gz, 0x801, SMALL_N, -1);
        expect_fail(dir, gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte",
                    "truncated: expected 78416 bytes, file ends after 39216");
        cleanup_dir(dir);
    }

    /* a valid .gz cut in half: the compressed stream itself ends early */
    case_dir("trunc_stream_gz", dir, sizeof dir);
    write_valid(dir, 1);
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", dir);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    buf = malloc((size_t)len);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)len / 2, f), (size_t)len / 2);
    fclose(f);
    expect_fail(dir, "t10k-images-idx3-ubyte.gz", "truncated");

    /* same file with a damaged CRC: all bytes there but unverifiable */
    buf[len - 6] ^= 0xFF;
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    expect_fail(dir, "t10k-images-idx3-ubyte.gz", "corrupt gzip");
    free(buf);

    /* header itself cut short */
    {
        uint8_t hdr[10] = {0, 0, 8, 3, 0, 0, 0, 100, 0, 0};
        write_bytes(dir, k_files[0], 1, hdr, sizeof hdr);
        expect_fail(dir, "t10k-images-idx3-ubyte.gz", "truncated");
    }
    cleanup_dir(dir);
}

static void test_bad_magic(void **state) {
    char dir[1100];
    int gz;
    (void)state;
    for (gz = 0; gz < 2; gz++) {
        case_dir(gz ? "magic_gz" : "magic_plain", dir, sizeof dir);
        write_images(dir, gz, 0x804, SMALL_N, SMALL_N, 0);
        write_labels(dir, gz, 0x801, SMALL_N, -1);
        expect_fail(dir, gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte", "bad magic number 0x00000804");
        /* labels file swapped in as images, and vice versa */
        write_images(dir, gz, 0x803, SMALL_N, SMALL_N, 0);
        write_labels(dir, gz, 0x803, SMALL_N, -1);
        expect_fail(dir, gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte", "expected 0x00000801");
        cleanup_dir(dir);
    }
}

static void test_bad_labels_and_counts(void **state) {
    char dir[1100];
    int gz;
    (void)state;
    for (gz = 0; gz < 2; gz++) {
        const char *lab = gz ? "t10k-labels-idx1-ubyte.gz" : "t10k-labels-idx1-ubyte";
        case_dir(gz ? "labels_gz" : "labels_plain", dir, sizeof dir);
        write_images(dir, gz, 0x803, SMALL_N, SMALL_N, 0);
        write_labels(dir, gz, 0x801, SMALL_N, 37);
        expect_fail(dir, lab, "label 10 at index 37 is out of range");

        write_labels(dir, gz, 0x801, SMALL_N - 1, -1);
        expect_fail(dir, lab, "count mismatch");

        write_labels(dir, gz, 0x801, SMALL_N, -1);
        write_images(dir, gz, 0x803, SMALL_N, SMALL_N, 7);
        expect_fail(dir, gz ? "t10k-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte", "trailing garbage");
        cleanup_dir(dir);
    }
}

static void test_missing(void **state) {
    char dir[1100];
    (void)state;
    snprintf(dir, sizeof dir, "%s/no-such-dir", g_root);
    expect_fail(dir, "", "No such file or directory");
    expect_fail(dir, "", "dataset-fashion-mnist");

    case_dir("missing_labels", dir, sizeof dir);
    write_images(dir, 1, 0x803, SMALL_N, SMALL_N, 0);
    expect_fail(dir, "t10k-labels-idx1-ubyte.gz", "No such file or directory");
    expect_fail(dir, "t10k-labels-idx1-ubyte.gz", "dataset-fashion-mnist");
    cleanup_dir(dir);
}

/* ---- fixture ------------------------------------------------------------- */

static int setup(void **state) {
    const char *tmp = getenv("RECAL_TEST_TMP");
    struct ds_dataset ds;
    int64_t y[SMALL_N];
    float x[PIX];
    char err[1024] = "";
    int i;
    (void)state;

    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(g_root, sizeof g_root, "%s/test_idx.%ld", tmp, (long)getpid());
    if (mkdir(g_root, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", g_root, strerror(errno));
        return -1;
    }
    /* The damaged copies are built from real images; without the dataset the
     * tests fail loudly in require_real_data instead of being skipped. */
    if (ds_open("fashion-mnist", REAL_DIR, "test", SMALL_N, &ds, err, sizeof err) == 0) {
        ds_get_u8(&ds, 0, SMALL_N, g_pix, NULL, 0);
        for (i = 0; i < SMALL_N; i++) {
            ds_get(&ds, i, 1, x, y + i, NULL, 0);
            g_lab[i] = (uint8_t)y[i];
        }
        ds_close(&ds);
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rmdir(g_root);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_test_split),
        cmocka_unit_test(test_real_train_stats),
        cmocka_unit_test(test_real_normalization),
        cmocka_unit_test(test_limit_and_range),
        cmocka_unit_test(test_bad_name_and_split),
        cmocka_unit_test(test_small_copy_valid),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_bad_labels_and_counts),
        cmocka_unit_test(test_missing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
