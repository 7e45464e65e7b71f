/* test_fingerprint.c — fp_files, the data set by content that --resume
 * compares: each manifest line's sha256 against coreutils' sha256sum (an
 * independent implementation), names relative to the root, a changed byte
 * seen, a FIFO refused at once instead of blocking. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fingerprint.h"

static char g_root[256];

static void write_file(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
}

static void sha256sum(const char *path, char hex[65]) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%64s", hex), 1);
    pclose(p);
}

static void test_manifest(void **state) {
    (void)state;
    char a[400], b[400], hex[65], hex2[65], err[4600], want[65];
    snprintf(a, sizeof a, "%s/sub", g_root);
    mkdir(a, 0755);
    snprintf(a, sizeof a, "%s/sub/a.bin", g_root);
    snprintf(b, sizeof b, "%s/b.bin", g_root);
    static char big[200000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7 + i / 251);
    write_file(a, big, sizeof big); /* several read() calls */
    write_file(b, "", 0);
    const char *const paths[2] = {a, b};
    char *m = NULL;
    assert_int_equal(fp_files(g_root, paths, 2, "n=2", 2, hex, &m, err, sizeof err), 0);
    char line[600];
    sha256sum(a, want);
    snprintf(line, sizeof line, "sub/a.bin\t200000\t%s\n", want);
    assert_non_null(strstr(m, line));
    sha256sum(b, want);
    snprintf(line, sizeof line, "b.bin\t0\t%s\n", want);
    assert_non_null(strstr(m, line));
    assert_true(strncmp(m, "sub/a.bin", 9) == 0); /* the callers' order */
    free(m);
    /* one thread, the same result; another extra, another hash */
    assert_int_equal(fp_files(g_root, paths, 2, "n=2", 1, hex2, &m, err, sizeof err), 0);
    assert_string_equal(hex, hex2);
    free(m);
    assert_int_equal(fp_files(g_root, paths, 2, "n=3", 1, hex2, &m, err, sizeof err), 0);
    assert_string_not_equal(hex, hex2);
    free(m);
    /* one byte changed, same size: another hash */
    big[100000] ^= 1;
    write_file(a, big, sizeof big);
    assert_int_equal(fp_files(g_root, paths, 2, "n=2", 2, hex2, &m, err, sizeof err), 0);
    assert_string_not_equal(hex, hex2);
    free(m);
}

static void test_refusals(void **state) {
    (void)state;
    char fifo[400], gone[400], hex[65], err[4600] = "";
    snprintf(fifo, sizeof fifo, "%s/fifo", g_root);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    const char *const p1[1] = {fifo};
    char *m = (char *)1;
    assert_int_equal(fp_files(g_root, p1, 1, "", 2, hex, &m, err, sizeof err), -1);
    assert_null(m);
    assert_non_null(strstr(err, "fifo: not a regular file"));
    snprintf(gone, sizeof gone, "%s/gone.bin", g_root);
    const char *const p2[1] = {gone};
    assert_int_equal(fp_files(g_root, p2, 1, "", 2, hex, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "gone.bin: No such file"));
    /* no files: the hash of the extra alone, an empty manifest */
    assert_int_equal(fp_files(g_root, NULL, 0, "x", 4, hex, &m, err, sizeof err), 0);
    assert_string_equal(m, "");
    free(m);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/recal-test-fp-%d", (int)getpid());
    return mkdir(g_root, 0755);
}

static int teardown(void **state) {
    char cmd[400];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
