/* test_imagenet.c - ImageNet reader (worker/datasets/imagenet.c,
 * image_decode.c, resize.c) on tiny files written here, under the
 * sanitizers: the resize filter against weights derived by hand, decode of
 * JPEG and PNG of known constant colours, the thread pool, on_error, and
 * the listing recal run sends from rank 0 (ds_list).
 * (The PIL/torch comparison on real-looking photos is oracle/datasets.) */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "dataset.h"
#include "ds_image.h"

static char g_root[1024];

static void mkdir_p(const char *fmt, ...) {
    char p[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p, sizeof p, fmt, ap);
    va_end(ap);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", p, strerror(errno));
}

/* A w x h JPEG (quality 100, 4:4:4) of one colour; cut to keep bytes if > 0. */
static void write_jpeg(const char *path, int w, int h, const uint8_t rgb[3], size_t keep) {
    tjhandle tj = tjInitCompress();
    uint8_t *px = malloc((size_t)w * h * 3), *jpg = NULL;
    unsigned long len = 0;
    assert_non_null(px);
    for (int i = 0; i < w * h; i++) memcpy(px + 3 * i, rgb, 3);
    assert_int_equal(tjCompress2(tj, px, w, 0, h, TJPF_RGB, &jpg, &len, TJSAMP_444, 100, 0), 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (keep && keep < len) len = keep;
    assert_int_equal(fwrite(jpg, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    tjFree(jpg);
    tjDestroy(tj);
    free(px);
}

static void write_png(const char *path, int w, int h, const uint8_t rgb[3]) {
    png_image im;
    uint8_t *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int i = 0; i < w * h; i++) memcpy(px + 3 * i, rgb, 3);
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = (png_uint_32)w;
    im.height = (png_uint_32)h;
    im.format = PNG_FORMAT_RGB;
    assert_true(png_image_write_to_file(&im, path, 0, px, 0, NULL));
    free(px);
}

/* Hand-derived: shrinking 4 -> 2 stretches the triangle to half-width 2;
 * output 0 sits at input 1.0 and weighs inputs 0,1,2 by 0.75, 0.75, 0.25
 * (sum 1.75); output 1 at 3.0 weighs inputs 1,2,3 by 0.25, 0.75, 0.75.
 * Enlarging 2 -> 4 is plain bilinear with clamped edges. */
static void test_resize_weights(void **state) {
    uint8_t px[4 * 3] = {0, 0, 0, 100, 0, 0, 200, 0, 0, 40, 0, 0};
    struct ds_rgb in = {4, 1, px};
    float out[3 * 4];
    (void)state;
    assert_int_equal(ds_resize_rgb(&in, 1, 2, 0, 0, 1, 2, out), 0);
    assert_true(fabs(out[0] - (0.75 * 0 + 0.75 * 100 + 0.25 * 200) / 1.75) < 1e-4);
    assert_true(fabs(out[1] - (0.25 * 100 + 0.75 * 200 + 0.75 * 40) / 1.75) < 1e-4);
    assert_true(out[2] == 0.0f && out[5] == 0.0f); /* G and B planes */
    /* window: only output column 1 */
    assert_int_equal(ds_resize_rgb(&in, 1, 2, 0, 1, 1, 1, out), 0);
    assert_true(fabs(out[0] - (0.25 * 100 + 0.75 * 200 + 0.75 * 40) / 1.75) < 1e-4);

    uint8_t up[2 * 3] = {10, 0, 0, 90, 0, 0};
    struct ds_rgb in2 = {2, 1, up};
    assert_int_equal(ds_resize_rgb(&in2, 1, 4, 0, 0, 1, 4, out), 0);
    assert_true(fabs(out[0] - 10) < 1e-4);
    assert_true(fabs(out[1] - (0.75 * 10 + 0.25 * 90)) < 1e-4);
    assert_true(fabs(out[2] - (0.25 * 10 + 0.75 * 90)) < 1e-4);
    assert_true(fabs(out[3] - 90) < 1e-4);
}

static const uint8_t k_colours[3][3] = {{200, 100, 50}, {20, 240, 130}, {128, 128, 128}};

/* <root>/folder/val/<wnid>/: 3 classes, 7 images of 3 sizes, one PNG. */
static void make_folder(char *root, size_t len) {
    static const char *const wnids[] = {"n02", "n01", "n03"}; /* sorted: n01, n02, n03 */
    char p[1400];
    snprintf(root, len, "%s/folder", g_root);
    mkdir_p("%s", root);
    mkdir_p("%s/val", root);
    for (int c = 0; c < 3; c++) mkdir_p("%s/val/%s", root, wnids[c]);
    for (int k = 0; k < 7; k++) {
        int c = k % 3;                                               /* index into wnids: n02, n01, n03 */
        const uint8_t *col = k_colours[c == 0 ? 1 : c == 1 ? 0 : 2]; /* colour of the sorted class */
        snprintf(p, sizeof p, "%s/val/%s/img%d.JPEG", root, wnids[c], k);
        if (k == 4) write_png(p, 40, 30, col); /* a PNG named .JPEG */
        else write_jpeg(p, 24 + 16 * k, 48 - 3 * k, col, 0);
    }
}

static void test_folder_decode(void **state) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    char root[1200], err[1024] = "";
    struct ds_dataset ds;
    struct ds_options opt = {0};
    (void)state;
    make_folder(root, sizeof root);
    opt.resize = 16;
    opt.threads = 3;
    if (ds_open_opts("imagenet", root, "val", 0, &opt, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.n, 7);
    assert_int_equal(ds.classes, 3);
    assert_int_equal(ds.h, 16);
    assert_int_equal(ds.w, 16);
    float *x = malloc((size_t)7 * 3 * 256 * sizeof *x);
    int64_t y[7];
    assert_non_null(x);
    assert_int_equal(ds_get(&ds, 0, 7, x, y, err, sizeof err), 0);
    /* ids: n01 (img1, img4.png), n02 (img0, img3, img6), n03 (img2, img5) */
    static const int64_t want_y[7] = {0, 0, 1, 1, 1, 2, 2};
    for (int i = 0; i < 7; i++) {
        assert_int_equal(y[i], want_y[i]);
        for (int c = 0; c < 3; c++) {
            /* a constant image resizes to the same constant; JPEG q100 4:4:4
             * keeps it within 1 level */
            double want = (k_colours[want_y[i]][c] / 255.0 - mean[c]) / sd[c];
            for (int k = 0; k < 256; k += 17) assert_true(fabs(x[(i * 3 + c) * 256 + k] - want) < 1.01 / 255 / sd[c]);
        }
    }
    uint8_t u[3];
    assert_int_equal(ds_get_u8(&ds, 0, 1, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "ds_get"));
    assert_int_equal(ds_skipped(&ds), 0);
    ds_close(&ds);

    /* resize 20 + crop 12 keeps the geometry's output size */
    opt.resize = 20;
    opt.crop = 12;
    if (ds_open_opts("imagenet", root, "val", 3, &opt, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.n, 3);
    /* what --resume fingerprints: the 3 images of the run, in id order, no
     * label file in this layout; each image is its own file */
    static const char *const want_src[3] = {"/val/n01/img1.JPEG", "/val/n01/img4.JPEG", "/val/n02/img0.JPEG"};
    long record = 7;
    for (int i = 0; i < 3; i++) {
        const char *f = ds_file(&ds, i), *s = ds_source(&ds, i, &record);
        assert_non_null(f);
        assert_non_null(strstr(f, want_src[i]));
        assert_string_equal(f, s);
        assert_int_equal(record, -1);
    }
    assert_null(ds_file(&ds, 3));
    assert_null(ds_source(&ds, 3, NULL));
    assert_int_equal(ds.h, 12);
    assert_int_equal(ds_get(&ds, 0, 3, x, y, err, sizeof err), 0);
    assert_true(fabs(x[0] - (k_colours[0][0] / 255.0 - mean[0]) / sd[0]) < 1.01 / 255 / sd[0]);
    ds_close(&ds);
    free(x);
}

static void test_on_error(void **state) {
    char root[1200], p[1400], err[1024] = "";
    struct ds_dataset ds;
    struct ds_options opt = {0};
    float *x = malloc((size_t)5 * 3 * 64 * sizeof *x);
    int64_t y[5];
    (void)state;
    assert_non_null(x);
    snprintf(root, sizeof root, "%s/bad", g_root);
    mkdir_p("%s", root);
    mkdir_p("%s/train", root);
    mkdir_p("%s/train/n01", root);
    for (int k = 0; k < 5; k++) {
        snprintf(p, sizeof p, "%s/train/n01/%d.JPEG", root, k);
        write_jpeg(p, 30, 20, k_colours[0], k == 3 ? 200 : 0);
    }
    snprintf(p, sizeof p, "%s/train/n01/3.JPEG", root);
    opt.resize = 8;
    opt.threads = 2;
    if (ds_open_opts("imagenet", root, "train", 0, &opt, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds_get(&ds, 0, 3, x, y, err, sizeof err), 0); /* before the bad one */
    assert_int_equal(ds_get(&ds, 1, 4, x, y, err, sizeof err), -1);
    if (!strstr(err, p) || !strstr(err, "JPEG") || !strstr(err, "on_error: skip"))
        fail_msg("unexpected message: %s", err);
    ds_close(&ds);

    opt.on_error = DS_ON_ERROR_SKIP;
    if (ds_open_opts("imagenet", root, "train", 0, &opt, &ds, err, sizeof err)) fail_msg("%s", err);
    for (int rep = 0; rep < 2; rep++) { /* counted once however often it is read */
        assert_int_equal(ds_get(&ds, 0, 5, x, y, err, sizeof err), 0);
        assert_int_equal(y[3], -1);
        assert_int_equal(y[4], 0);
        for (int k = 0; k < 3 * 64; k++) assert_true(x[3 * 3 * 64 + k] == 0.0f);
        assert_true(x[4 * 3 * 64] != 0.0f);
    }
    assert_int_equal(ds_skipped(&ds), 1);
    assert_string_equal(ds_skipped_name(&ds, 0), p);
    assert_null(ds_skipped_name(&ds, 1));
    ds_close(&ds);
    free(x);
}

static void expect_open_fail(const char *root, const char *split, const struct ds_options *opt, const char *w1,
                             const char *w2) {
    struct ds_dataset ds;
    char err[1024] = "";
    assert_int_equal(ds_open_opts("imagenet", root, split, 0, opt, &ds, err, sizeof err), -1);
    if (!strstr(err, w1) || !strstr(err, w2)) fail_msg("expected '%s' and '%s' in: %s", w1, w2, err);
    assert_null(ds.impl);
}

static void test_layout_errors(void **state) {
    char root[1200], p[1400];
    struct ds_options opt = {0};
    (void)state;
    snprintf(root, sizeof root, "%s/flat", g_root);
    mkdir_p("%s", root);
    expect_open_fail(root, "val", NULL, "/flat/val", "No such file");
    expect_open_fail(root, "test", NULL, "'test'", "'val' or 'train'");
    mkdir_p("%s/val", root);
    snprintf(p, sizeof p, "%s/val/ILSVRC2012_val_00000001.JPEG", root);
    write_jpeg(p, 8, 8, k_colours[2], 0);
    expect_open_fail(root, "val", NULL, "LOC_val_solution.csv", "<wnid>");
    snprintf(p, sizeof p, "%s/LOC_val_solution.csv", root);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("ImageId,PredictionString\nILSVRC2012_val_00000002,n01 1 2 3 4\n", f);
    fclose(f);
    expect_open_fail(root, "val", NULL, "ILSVRC2012_val_00000001", "no line");
    opt.resize = 10;
    opt.crop = 11;
    expect_open_fail(root, "val", &opt, "crop 11", "resize 10");
}

/* Boxes that cannot be used (NaN, 3 numbers, xmax < xmin, 1e20) are left
 * out and counted, the first named with its line; good boxes beside them
 * are kept, and the images still open (they had been dropped silently). */
static void test_bad_boxes(void **state) {
    char root[1200], p[1400], err[1024] = "";
    struct ds_dataset ds;
    (void)state;
    snprintf(root, sizeof root, "%s/boxes", g_root);
    mkdir_p("%s", root);
    mkdir_p("%s/val", root);
    for (int i = 1; i <= 5; i++) {
        snprintf(p, sizeof p, "%s/val/ILSVRC2012_val_%08d.JPEG", root, i);
        write_jpeg(p, 40, 30, k_colours[0], 0);
    }
    snprintf(p, sizeof p, "%s/LOC_val_solution.csv", root);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs("ImageId,PredictionString\n"
          "ILSVRC2012_val_00000001,n01 1 2 10 12 \t\n"            /* good; a trailing tab ends it */
          "ILSVRC2012_val_00000002,n01 nan 2 10 12 n01 3 4 5 6\n" /* NaN, then a good one */
          "ILSVRC2012_val_00000003,n01 1 2 10\n"                  /* 3 numbers */
          "ILSVRC2012_val_00000004,n01 10 2 1 12\n"               /* xmax < xmin */
          "ILSVRC2012_val_00000005,n01 1e20 2 1e21 12\n",         /* beyond any image */
          f);
    fclose(f);
    if (ds_open("imagenet", root, "val", 0, &ds, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(ds.n, 5);
    const char *first = NULL;
    assert_int_equal(ds_bad_boxes(&ds, &first), 4);
    assert_non_null(strstr(first, "LOC_val_solution.csv:3: image ILSVRC2012_val_00000002: a box with a coordinate"));
    float *x = malloc((size_t)5 * 3 * 224 * 224 * sizeof *x);
    assert_non_null(x);
    assert_int_equal(ds_get(&ds, 0, 5, x, NULL, err, sizeof err), 0);
    free(x);
    struct ds_box b[4];
    static const int want[5] = {1, 1, 0, 0, 0};
    for (int i = 0; i < 5; i++) assert_int_equal(ds_boxes(&ds, i, b, 4), want[i]);
    ds_close(&ds);
}

/* The listing (ds_list): what ds_open reads from the directories, in one
 * buffer that recal run makes on rank 0 and sends to the others. Opened
 * from it, the reader gives the ids of a reader that listed for itself, by
 * hand: hidden entries, sub-folders and sockets left out, a link to an image
 * and a dangling link kept (d_type says DT_LNK: they are stat'ed); a cut
 * buffer or another split's listing is refused, and a dataset of fixed file
 * names has nothing to list. */
static void test_listing(void **state) {
    char root[1200], p[1400], t[1400], err[1024] = "";
    struct ds_dataset a, b;
    struct ds_options opt = {0};
    struct ds_listing l;
    (void)state;
    snprintf(root, sizeof root, "%s/listed", g_root);
    mkdir_p("%s", root);
    mkdir_p("%s/val", root);
    mkdir_p("%s/val/n02", root);
    mkdir_p("%s/val/n01", root);
    mkdir_p("%s/val/n01/sub", root); /* a folder among the images: not one */
    mkdir_p("%s/val/.n00", root);    /* a hidden folder: not a class */
    static const char *const names[] = {"n01/b.JPEG", "n01/a.JPEG", "n02/c.JPEG", "n01/.hidden.JPEG"};
    for (int k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "%s/val/%s", root, names[k]);
        write_jpeg(p, 8, 8, k_colours[k % 3], 0);
    }
    snprintf(p, sizeof p, "%s/val/n02/d_link.JPEG", root);
    snprintf(t, sizeof t, "%s/val/n01/a.JPEG", root);
    assert_int_equal(symlink(t, p), 0);
    snprintf(p, sizeof p, "%s/val/n02/e_dangling.JPEG", root);
    assert_int_equal(symlink("/nonexistent/recal-test", p), 0);
    opt.resize = 8;
    if (ds_list("imagenet", root, "val", &l, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(l.files, 5);
    assert_true(l.len > 0);
    if (ds_open_opts("imagenet", root, "val", 0, &opt, &a, err, sizeof err)) fail_msg("%s", err);
    opt.listing = &l;
    if (ds_open_opts("imagenet", root, "val", 0, &opt, &b, err, sizeof err)) fail_msg("%s", err);
    static const char *const want[5] = {"n01/a.JPEG", "n01/b.JPEG", "n02/c.JPEG", "n02/d_link.JPEG",
                                        "n02/e_dangling.JPEG"};
    static const long want_label[5] = {0, 0, 1, 1, 1};
    assert_int_equal(a.n, 5);
    assert_int_equal(b.n, 5);
    assert_int_equal(b.classes, 2);
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/val/%s", root, want[i]);
        assert_string_equal(ds_source(&a, i, NULL), p);
        assert_string_equal(ds_source(&b, i, NULL), p);
        assert_int_equal(ds_label(&b, i), want_label[i]);
    }
    ds_close(&a);
    ds_close(&b);
    /* a cut buffer, and the listing of val for the train split */
    const size_t full = l.len;
    l.len = full - 1;
    expect_open_fail(root, "val", &opt, "listing given is damaged or cut", "/listed/val");
    l.len = full;
    mkdir_p("%s/train", root);
    expect_open_fail(root, "train", &opt, "the listing given is of", "/listed/val");
    ds_listing_free(&l);
    assert_null(l.buf);
    /* nothing to list: a dataset of fixed names, an unknown split */
    assert_int_equal(ds_list("cifar10", root, "test", &l, err, sizeof err), 0);
    assert_int_equal(l.len, 0);
    assert_int_equal(ds_list("imagenet", root, "test", &l, err, sizeof err), 0);
    assert_int_equal(l.len, 0);
    /* a missing split: the reader's own message */
    assert_int_equal(ds_list("imagenet", g_root, "val", &l, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    assert_null(l.buf);
}

static int setup(void **state) {
    const char *tmp = getenv("RECAL_TEST_TMP");
    (void)state;
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(g_root, sizeof g_root, "%s/test_imagenet.%ld", tmp, (long)getpid());
    if (mkdir(g_root, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

static int teardown(void **state) {
    char cmd[1200];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_weights), cmocka_unit_test(test_folder_decode), cmocka_unit_test(test_on_error),
        cmocka_unit_test(test_layout_errors),  cmocka_unit_test(test_bad_boxes),     cmocka_unit_test(test_listing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
