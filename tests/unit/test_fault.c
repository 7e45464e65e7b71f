/* RECAL_FAULT (util/fault.c): the Nth write fails with ENOSPC and every
 * later one with "+"; the writers built on it (fs_write_atomic, npy_write,
 * journal_append) then report the file and leave no partial target behind
 * (the old file stays, no temporary is left), and a journal append that
 * failed leaves the journal as it was. The variable is read once per
 * process, so main sets it before the first I/O. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "journal.h"
#include "npy.h"
#include "shard_plan.h"

static char dir[512];

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) ? -1 : (long)st.st_size;
}

static int tmp_files_left(void) {
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        if (strstr(de->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* Calls in order: write #1 ok (a.txt), #2 fails (b.txt, keeps its old
 * content), #3.. fail (npy, journal). */
static void test_nth_write_and_after(void **state) {
    (void)state;
    char a[600], b[600], n[600], j[600], err[1024];
    snprintf(a, sizeof a, "%s/a.txt", dir);
    snprintf(b, sizeof b, "%s/b.txt", dir);
    snprintf(n, sizeof n, "%s/c.npy", dir);
    snprintf(j, sizeof j, "%s/journal", dir);
    FILE *f = fopen(b, "w"); /* stdio: not counted */
    assert_non_null(f);
    fputs("old\n", f);
    fclose(f);

    assert_int_equal(fs_write_atomic(a, "hello\n", 6, err, sizeof err), 0);
    assert_int_equal(file_size(a), 6);

    assert_int_equal(fs_write_atomic(b, "new contents\n", 13, err, sizeof err), -1);
    assert_non_null(strstr(err, "b.txt"));
    assert_non_null(strstr(err, "No space left on device"));
    assert_non_null(strstr(err, "free disk space"));
    assert_int_equal(file_size(b), 4);

    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t shape[2] = {2, 3};
    assert_int_equal(npy_write(n, NPY_F32, 2, shape, x, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.npy: write failed: No space left on device"));
    assert_int_equal(file_size(n), -1);

    struct journal jn;
    struct journal_meta m = {"", 100, 0, 50, 3};
    m.n_shards = shard_plan_count(100, 50);
    snprintf(m.sha256, sizeof m.sha256, "%064d", 0);
    assert_int_equal(journal_create(&jn, j, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "journal"));
    assert_non_null(strstr(err, "No space left on device"));
    assert_int_equal(file_size(j), -1);
    assert_int_equal(tmp_files_left(), 0);
}

int main(void) {
    const char *t = getenv("RECAL_TEST_TMP");
    snprintf(dir, sizeof dir, "%s/fault-%ld", t ? t : "/tmp", (long)getpid());
    if (mkdir(dir, 0777)) return 1;
    setenv("RECAL_FAULT", "write:2+", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nth_write_and_after),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
