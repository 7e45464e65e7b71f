/* test_npy.c - .npy reader/writer (worker/io), checked against numpy itself.
 *
 * numpy is the reference: it writes files we must read, reads files we write
 * (also memory-mapped), and its np.save output must equal ours byte for byte.
 * Debian's /usr/bin/python3 is used on purpose: a python3 earlier on PATH
 * (a venv) may lack numpy. */
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

#include "npy.h"

#define PY "/usr/bin/python3"

static char g_root[1024];

static void tpath(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/%s", g_root, name);
}

/* Run a python snippet (written to a file to avoid shell quoting) with
 * g_root as argv[1]; capture stdout into out. Fails the test on error. */
static void run_py(const char *code, char *out, size_t outlen) {
    char script[1200], cmd[2600];
    FILE *f;
    size_t n = 0;
    int rc;

    if (access(PY, X_OK) != 0)
        fail_msg("%s not found: install Debian's python3-numpy (apt-get install python3-numpy)", PY);
    tpath(script, sizeof script, "snippet.py");
    f = fopen(script, "w");
    assert_non_null(f);
    fputs("import sys, zlib\nimport numpy as np\nD = sys.argv[1]\n", f);
    fputs(code, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s '%s' '%s'", PY, script, g_root);
    f = popen(cmd, "r");
    assert_non_null(f);
    if (out && outlen) {
        n = fread(out, 1, outlen - 1, f);
        out[n] = '\0';
    }
    rc = pclose(f);
    if (rc != 0) fail_msg("python snippet failed (status %d): %s", rc, code);
    unlink(script);
}

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    void *b;
    long n;
    if (!f) fail_msg("%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void spit(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* arange(n) in dtype, as np.arange(n).astype(dtype) gives it */
static void *make_arange(enum npy_dtype dt, size_t n) {
    size_t i;
    void *b = malloc(n * npy_itemsize(dt) + 1);
    assert_non_null(b);
    for (i = 0; i < n; i++) {
        switch (dt) {
        case NPY_F32:
            ((float *)b)[i] = (float)i;
            break;
        case NPY_F64:
            ((double *)b)[i] = (double)i;
            break;
        case NPY_I64:
            ((int64_t *)b)[i] = (int64_t)i;
            break;
        case NPY_I32:
            ((int32_t *)b)[i] = (int32_t)i;
            break;
        case NPY_U8:
            ((uint8_t *)b)[i] = (uint8_t)i;
            break;
        case NPY_F16:
            ((uint16_t *)b)[i] = npy_f32_to_f16((float)i);
            break;
        case NPY_U16:
            ((uint16_t *)b)[i] = (uint16_t)i;
            break;
        }
    }
    return b;
}

struct tcase {
    enum npy_dtype dt;
    const char *np; /* numpy dtype name */
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    const char *pyshape;
};

static const struct tcase k_cases[] = {
    {NPY_F32, "float32", 2, {3, 4}, "(3, 4)"},
    {NPY_F64, "float64", 1, {5}, "(5,)"},
    {NPY_I64, "int64", 0, {0}, "()"},
    {NPY_I32, "int32", 3, {2, 3, 4}, "(2, 3, 4)"},
    {NPY_U8, "uint8", 1, {200}, "(200,)"},
    {NPY_F16, "float16", 2, {2, 2}, "(2, 2)"},
    {NPY_U16, "uint16", 2, {3, 300}, "(3, 300)"},
    {NPY_F32, "float32", 2, {0, 3}, "(0, 3)"},
    {NPY_F64, "float64", 2, {1000000, 0}, "(1000000, 0)"},
    {NPY_U8, "uint8", 8, {1, 1, 1, 1, 1, 1, 1, 2}, "(1, 1, 1, 1, 1, 1, 1, 2)"},
};
#define NCASES (sizeof k_cases / sizeof k_cases[0])

static size_t case_count(const struct tcase *c) {
    size_t n = 1;
    int i;
    for (i = 0; i < c->ndim; i++) n *= (size_t)c->shape[i];
    return n;
}

/* ---- tests --------------------------------------------------------------- */

static void test_roundtrip_each_dtype(void **state) {
    size_t k;
    (void)state;
    for (k = 0; k < NCASES; k++) {
        const struct tcase *c = &k_cases[k];
        char path[1200], err[512] = "";
        struct npy_array a;
        size_t n = case_count(c);
        void *d = make_arange(c->dt, n);
        tpath(path, sizeof path, "rt.npy");
        if (npy_write(path, c->dt, c->ndim, c->shape, d, err, sizeof err) != 0) fail_msg("%s", err);
        if (npy_read(path, &a, err, sizeof err) != 0) fail_msg("%s", err);
        assert_int_equal(a.dtype, c->dt);
        assert_int_equal(a.ndim, c->ndim);
        assert_memory_equal(a.shape, c->shape, sizeof(int64_t) * (size_t)c->ndim);
        assert_int_equal(a.nbytes, n * npy_itemsize(c->dt));
        assert_int_equal(npy_count(&a), n);
        if (n) assert_memory_equal(a.data, d, a.nbytes);
        npy_free(&a);
        npy_free(&a); /* idempotent */
        free(d);
        /* no temp file left behind */
        snprintf(path, sizeof path, "%s/rt.npy.tmp.%ld", g_root, (long)getpid());
        assert_int_not_equal(access(path, F_OK), 0);
    }
}

/* Our bytes == np.save's bytes for the same array; and numpy loads ours
 * (plainly and memory-mapped) to the same contents. */
static void test_matches_numpy_bytes(void **state) {
    size_t k;
    (void)state;
    for (k = 0; k < NCASES; k++) {
        const struct tcase *c = &k_cases[k];
        char ours[1200], ref[1200], code[1024], out[512], err[512] = "", want[256];
        size_t n = case_count(c), la, lb;
        void *d = make_arange(c->dt, n), *ba, *bb;
        uLong crc;

        tpath(ours, sizeof ours, "ours.npy");
        tpath(ref, sizeof ref, "ref.npy");
        if (npy_write(ours, c->dt, c->ndim, c->shape, d, err, sizeof err) != 0) fail_msg("%s", err);
        snprintf(code, sizeof code,
                 "a = np.arange(%zu).astype(np.%s).reshape(%s)\n"
                 "np.save(D + '/ref.npy', a)\n"
                 "b = np.load(D + '/ours.npy')\n"
                 "m = np.load(D + '/ours.npy', mmap_mode='r')\n"
                 "assert b.dtype == a.dtype and b.shape == a.shape and (b == a).all()\n"
                 "assert m.dtype == a.dtype and m.shape == a.shape and (np.asarray(m) == a).all()\n"
                 "print(b.dtype.str, b.shape, zlib.crc32(np.ascontiguousarray(m).tobytes()))\n",
                 n, c->np, c->pyshape);
        run_py(code, out, sizeof out);
        crc = crc32(0L, Z_NULL, 0);
        crc = crc32(crc, d, (uInt)(n * npy_itemsize(c->dt)));
        snprintf(want, sizeof want, "%s %s %lu\n",
                 c->dt == NPY_F32   ? "<f4"
                 : c->dt == NPY_F64 ? "<f8"
                 : c->dt == NPY_I64 ? "<i8"
                 : c->dt == NPY_I32 ? "<i4"
                 : c->dt == NPY_U8  ? "|u1"
                 : c->dt == NPY_U16 ? "<u2"
                                    : "<f2",
                 c->pyshape, (unsigned long)crc);
        assert_string_equal(out, want);

        ba = slurp(ours, &la);
        bb = slurp(ref, &lb);
        if (la != lb || memcmp(ba, bb, la) != 0)
            fail_msg("case %zu (%s %s): our file differs from np.save's (%zu vs %zu bytes)\n"
                     "ours:  %.*s\nnumpy: %.*s",
                     k, c->np, c->pyshape, la, lb, (int)(la < 200 ? la : 200) - 10, (char *)ba + 10,
                     (int)(lb < 200 ? lb : 200) - 10, (char *)bb + 10);
        assert_int_equal((la - n * npy_itemsize(c->dt)) % 64, 0);
        free(ba);
        free(bb);
        free(d);
    }
}

static void test_read_numpy_files(void **state) {
    char path[1200], err[512] = "";
    struct npy_array a;
    float *f;
    int64_t *i64;
    int i;
    (void)state;

    run_py("np.save(D + '/a.npy', (np.arange(12, dtype=np.float32) * 0.5 - 1).reshape(3, 4))\n"
           "np.save(D + '/b.npy', np.float64(3.25))\n"
           "np.save(D + '/c.npy', np.array([7, -3, 2**40], dtype=np.int64))\n"
           "np.save(D + '/d.npy', np.array([0, 255, 17], dtype=np.uint8))\n"
           "np.save(D + '/e.npy', np.array([0.5, -2, 65504, 6e-8, np.inf], dtype=np.float16))\n"
           "np.save(D + '/f.npy', np.array([[1, -2], [3, 2**31 - 1]], dtype=np.int32))\n",
           NULL, 0);

    tpath(path, sizeof path, "a.npy");
    if (npy_read(path, &a, err, sizeof err) != 0) fail_msg("%s", err);
    assert_int_equal(a.dtype, NPY_F32);
    assert_int_equal(a.ndim, 2);
    assert_int_equal(a.shape[0], 3);
    assert_int_equal(a.shape[1], 4);
    for (i = 0; i < 12; i++) assert_true(((float *)a.data)[i] == (float)i * 0.5f - 1.0f);
    i64 = npy_to_i64(&a);
    assert_non_null(i64);
    assert_int_equal(i64[0], -1);
    assert_int_equal(i64[11], 4); /* 4.5 truncates */
    free(i64);
    npy_free(&a);

    tpath(path, sizeof path, "b.npy");
    assert_int_equal(npy_read(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, NPY_F64);
    assert_int_equal(a.ndim, 0);
    assert_int_equal(npy_count(&a), 1);
    f = npy_to_f32(&a);
    assert_true(f[0] == 3.25f);
    free(f);
    npy_free(&a);

    tpath(path, sizeof path, "c.npy");
    assert_int_equal(npy_read(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, NPY_I64);
    i64 = npy_to_i64(&a);
    assert_int_equal(i64[0], 7);
    assert_int_equal(i64[1], -3);
    assert_int_equal(i64[2], (int64_t)1 << 40); /* no detour through float */
    free(i64);
    npy_free(&a);

    tpath(path, sizeof path, "d.npy");
    assert_int_equal(npy_read(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, NPY_U8);
    f = npy_to_f32(&a);
    assert_true(f[0] == 0.0f && f[1] == 255.0f && f[2] == 17.0f);
    free(f);
    npy_free(&a);

    tpath(path, sizeof path, "e.npy");
    assert_int_equal(npy_read(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, NPY_F16);
    f = npy_to_f32(&a);
    assert_true(f[0] == 0.5f && f[1] == -2.0f && f[2] == 65504.0f);
    assert_true(f[3] == ldexpf(1.0f, -24)); /* 6e-8 -> the smallest subnormal */
    assert_true(isinf(f[4]) && f[4] > 0);
    free(f);
    npy_free(&a);

    tpath(path, sizeof path, "f.npy");
    assert_int_equal(npy_read(path, &a, err, sizeof err), 0);
    assert_int_equal(a.dtype, NPY_I32);
    i64 = npy_to_i64(&a);
    assert_int_equal(i64[1], -2);
    assert_int_equal(i64[3], 2147483647);
    free(i64);
    npy_free(&a);
}

/* Our float->half rounding agrees with numpy's astype(float16). */
static void test_f16_rounding_matches_numpy(void **state) {
    static const float v[] = {0.0f,    -0.0f,   1.0f,        -1.5f,          0.1f,          1e-3f,    1e-5f, 6e-8f,
                              3e-8f,   2.9e-8f, 1e-9f,       65504.0f,       65519.0f,      65520.0f, 1e6f,  2049.0f,
                              2051.0f, 2050.0f, 3.14159265f, 6.1035156e-05f, 6.097555e-05f, 1.0e-7f};
    char path[1200], err[512] = "", out[4096], *p;
    int64_t n = (int64_t)(sizeof v / sizeof v[0]);
    int i;
    (void)state;

    tpath(path, sizeof path, "h.npy");
    assert_int_equal(npy_write(path, NPY_F32, 1, &n, v, err, sizeof err), 0);
    run_py("with np.errstate(over='ignore'):\n"
           "    a = np.load(D + '/h.npy').astype(np.float16).view(np.uint16)\n"
           "print(' '.join(str(int(x)) for x in a))\n",
           out, sizeof out);
    p = out;
    for (i = 0; i < n; i++) {
        unsigned long want = strtoul(p, &p, 10);
        unsigned got = npy_f32_to_f16(v[i]);
        if (got != want) fail_msg("f16(%.9g): ours 0x%04x, numpy 0x%04lx", (double)v[i], got, want);
        /* and back: half -> float is exact */
        if (!isinf(npy_f16_to_f32((uint16_t)got)) && npy_f32_to_f16(npy_f16_to_f32((uint16_t)got)) != got)
            fail_msg("f16 round trip of 0x%04x", got);
    }
}

/* Header dicts the writer never emits but other writers may. */
static void test_header_variants(void **state) {
    static const struct {
        const char *dict;
        int ndim;
        int64_t d0;
    } v[] = {
        {"{'shape': (5,), 'fortran_order': False, 'descr': '<f4'}", 1, 5},
        {"{ \"descr\" : \"<f4\" , \"fortran_order\":False,\"shape\":( 5 , ) }", 1, 5},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (5L,), }", 1, 5},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, 0},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 5), }", 2, 1},
    };
    char path[1200], err[512] = "";
    unsigned char buf[512];
    float data[5] = {1, 2, 3, 4, 5};
    size_t k;
    (void)state;

    tpath(path, sizeof path, "var.npy");
    for (k = 0; k < sizeof v / sizeof v[0]; k++) {
        struct npy_array a;
        size_t hl = strlen(v[k].dict) + 1, cnt = v[k].ndim ? 5 : 1;
        memcpy(buf, "\x93NUMPY\x01\x00", 8);
        buf[8] = (unsigned char)hl;
        buf[9] = 0;
        memcpy(buf + 10, v[k].dict, hl - 1);
        buf[10 + hl - 1] = '\n';
        memcpy(buf + 10 + hl, data, cnt * 4);
        spit(path, buf, 10 + hl + cnt * 4);
        if (npy_read(path, &a, err, sizeof err) != 0) fail_msg("variant %zu: %s", k, err);
        assert_int_equal(a.ndim, v[k].ndim);
        if (a.ndim) assert_int_equal(a.shape[0], v[k].d0);
        assert_int_equal(npy_count(&a), cnt);
        assert_true(((float *)a.data)[cnt - 1] == data[cnt - 1]);
        npy_free(&a);
    }
}

static void expect_read_fail(const char *name, const char *w1, const char *w2) {
    char path[1200], err[1024] = "";
    struct npy_array a;
    tpath(path, sizeof path, name);
    if (npy_read(path, &a, err, sizeof err) != -1) fail_msg("npy_read(%s) succeeded, expected '%s'", path, w1);
    if (!strstr(err, path)) fail_msg("error does not name %s: %s", path, err);
    if (!strstr(err, w1) || (w2 && !strstr(err, w2))) fail_msg("error lacks '%s'/'%s': %s", w1, w2 ? w2 : "", err);
    assert_null(a.data);
    print_message("  ok: %s\n", err);
}

static void test_read_errors(void **state) {
    char path[1200], p2[1200];
    unsigned char *b;
    size_t len;
    (void)state;

    run_py("a = np.arange(12, dtype=np.float32).reshape(3, 4)\n"
           "np.save(D + '/ok.npy', a)\n"
           "np.save(D + '/fortran.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))\n"
           "np.save(D + '/big.npy', np.arange(4, dtype='>f4'))\n"
           "np.save(D + '/i1.npy', np.arange(4, dtype=np.int8))\n"
           "np.save(D + '/c8.npy', np.arange(4, dtype=np.complex64))\n"
           "np.save(D + '/rec.npy', np.zeros(2, dtype=[('x', '<f4'), ('y', '<i4')]))\n",
           NULL, 0);

    expect_read_fail("nonexistent.npy", "No such file or directory", NULL);
    expect_read_fail("fortran.npy", "fortran_order", "np.ascontiguousarray");
    expect_read_fail("big.npy", "big-endian", "'>f4'");
    expect_read_fail("i1.npy", "unsupported dtype '|i1'", NULL);
    expect_read_fail("c8.npy", "unsupported dtype '<c8'", NULL);
    expect_read_fail("rec.npy", "header parse error", "structured");

    tpath(path, sizeof path, "ok.npy");
    b = slurp(path, &len);

    tpath(p2, sizeof p2, "trunc.npy");
    spit(p2, b, len - 3);
    expect_read_fail("trunc.npy", "truncated", "expected 48 bytes of data, found 45");

    tpath(p2, sizeof p2, "trunchdr.npy");
    spit(p2, b, 40);
    expect_read_fail("trunchdr.npy", "truncated", "header");

    b = realloc(b, len + 5);
    memcpy(b + len, "JUNK!", 5);
    tpath(p2, sizeof p2, "trail.npy");
    spit(p2, b, len + 5);
    expect_read_fail("trail.npy", "5 trailing bytes", NULL);

    b[0] = 'X';
    tpath(p2, sizeof p2, "magic.npy");
    spit(p2, b, len);
    expect_read_fail("magic.npy", "bad magic", NULL);
    b[0] = 0x93;

    b[6] = 9;
    tpath(p2, sizeof p2, "version.npy");
    spit(p2, b, len);
    expect_read_fail("version.npy", "unsupported .npy version 9.0", NULL);
    b[6] = 1;

    memcpy(b + 10, "{'descr'; ", 10);
    tpath(p2, sizeof p2, "parse.npy");
    spit(p2, b, len);
    expect_read_fail("parse.npy", "header parse error", "':'");

    memcpy(b + 10, "{'dtype': ", 10);
    spit(p2, b, len);
    expect_read_fail("parse.npy", "header parse error", "key");
    free(b);
}

static void test_write_errors(void **state) {
    char path[1200], err[1024] = "";
    int64_t shape[1] = {3}, neg[1] = {-1};
    float d[3] = {0};
    (void)state;

    tpath(path, sizeof path, "no-such-dir/x.npy");
    assert_int_equal(npy_write(path, NPY_F32, 1, shape, d, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file or directory"));
    tpath(path, sizeof path, "x.npy");
    assert_int_equal(npy_write(path, NPY_F32, 1, neg, d, err, sizeof err), -1);
    assert_int_equal(npy_write(path, NPY_F32, 9, shape, d, err, sizeof err), -1);
    assert_int_equal(npy_write(path, NPY_F32, 1, shape, NULL, err, sizeof err), -1);
    assert_int_not_equal(access(path, F_OK), 0);

    /* overwriting replaces the file whole */
    assert_int_equal(npy_write(path, NPY_F32, 1, shape, d, err, sizeof err), 0);
    shape[0] = 1;
    assert_int_equal(npy_write(path, NPY_F32, 1, shape, d, err, sizeof err), 0);
    {
        struct npy_array a;
        assert_int_equal(npy_read(path, &a, err, sizeof err), 0);
        assert_int_equal(a.shape[0], 1);
        npy_free(&a);
    }
    unlink(path);
}

/* ---- fixture ------------------------------------------------------------- */

static int setup(void **state) {
    const char *tmp = getenv("RECAL_TEST_TMP");
    (void)state;
    if (!tmp || !*tmp) tmp = "/tmp";
    snprintf(g_root, sizeof g_root, "%s/test_npy.%ld", tmp, (long)getpid());
    if (mkdir(g_root, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "mkdir %s: %s\n", g_root, strerror(errno));
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    char cmd[1200];
    (void)state;
    /* only our own per-pid scratch directory */
    if (strstr(g_root, "/test_npy.")) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
    }
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_each_dtype), cmocka_unit_test(test_matches_numpy_bytes),
        cmocka_unit_test(test_read_numpy_files),     cmocka_unit_test(test_f16_rounding_matches_numpy),
        cmocka_unit_test(test_header_variants),      cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
