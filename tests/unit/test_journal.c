/* The journal: what is appended comes back bit for bit; a torn last record
 * (a crash mid-append) is dropped and cut off the file; a damaged record
 * with data after it, a foreign header or another config is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "shard_plan.h"

#define LEN 5
#define IMAGES 1000
#define SHARD 256 /* 4 shards, the last of 232 images */

static const char *SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

static void meta(struct journal_meta *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->sha256, sizeof m->sha256, "%s", SHA);
    m->n_images = IMAGES;
    m->shard_images = SHARD;
    m->n_shards = shard_plan_count(IMAGES, SHARD);
    m->record_len = LEN;
}

static void tmp_path(char *p, size_t n, const char *name) {
    const char *dir = getenv("RECAL_TEST_TMP");
    snprintf(p, n, "%s/journal-%s-%ld", dir ? dir : "/tmp", name, (long)getpid());
    unlink(p);
}

static void record_of(long s, double *rec) {
    for (int i = 0; i < LEN; i++) rec[i] = (double)s * 1000.0 + i + 0.125 + 1e-13 * (double)i;
}

/* A fresh journal holding the given shards, in that order. */
static void write_journal(const char *path, const long *shards, int n) {
    struct journal_meta m;
    struct journal j;
    char err[1024];
    meta(&m);
    unlink(path);
    assert_int_equal(journal_create(&j, path, &m, err, sizeof err), 0);
    for (int i = 0; i < n; i++) {
        struct shard sh;
        double rec[LEN];
        shard_plan_get(IMAGES, SHARD, shards[i], &sh);
        record_of(shards[i], rec);
        assert_int_equal(journal_append(&j, sh.index, sh.first, sh.count, rec, err, sizeof err), 0);
    }
    assert_int_equal(j.n_records, n);
    journal_close(&j);
}

static long file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (long)st.st_size;
}

static int load(const char *path, const struct journal_meta *m, double *records, unsigned char *done, long *n_done,
                char *err, size_t errlen, struct journal *out) {
    struct journal j;
    memset(records, 0, sizeof(double) * 4 * LEN);
    memset(done, 0, 4);
    int rc = journal_resume(&j, path, m, records, done, n_done, err, errlen);
    if (out) *out = j;
    else if (!rc) journal_close(&j);
    return rc;
}

static void test_round_trip(void **state) {
    (void)state;
    char path[512], err[1024];
    tmp_path(path, sizeof path, "rt");
    const long order[] = {2, 0, 3};
    write_journal(path, order, 3);
    assert_int_equal(file_size(path), JOURNAL_HEADER_BYTES + 3 * JOURNAL_RECORD_BYTES(LEN));
    struct journal_meta m;
    meta(&m);
    double records[4 * LEN], want[LEN];
    unsigned char done[4];
    long n_done = -1;
    struct journal j;
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, &j), 0);
    assert_int_equal(n_done, 3);
    assert_int_equal(j.dropped_bytes, 0);
    assert_int_equal(done[0] + done[1] * 2 + done[2] * 4 + done[3] * 8, 1 + 4 + 8);
    for (long s = 0; s < 4; s++) {
        if (!done[s]) continue;
        record_of(s, want);
        assert_memory_equal(records + s * LEN, want, sizeof want); /* bit for bit */
    }
    /* A resumed journal takes more appends after the old ones. */
    struct shard sh;
    shard_plan_get(IMAGES, SHARD, 1, &sh);
    record_of(1, want);
    assert_int_equal(journal_append(&j, 1, sh.first, sh.count, want, err, sizeof err), 0);
    journal_close(&j);
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), 0);
    assert_int_equal(n_done, 4);
    assert_memory_equal(records + LEN, want, sizeof want);
    unlink(path);
}

static void test_torn_tail_dropped(void **state) {
    (void)state;
    char path[512], err[1024];
    tmp_path(path, sizeof path, "torn");
    const long order[] = {0, 1, 2};
    write_journal(path, order, 3);
    long full = file_size(path), two = (long)(JOURNAL_HEADER_BYTES + 2 * JOURNAL_RECORD_BYTES(LEN));
    struct journal_meta m;
    meta(&m);
    double records[4 * LEN];
    unsigned char done[4];
    long n_done;
    for (long cut = 1; cut < full - two; cut += 7) { /* every kind of short last record */
        write_journal(path, order, 3);
        assert_int_equal(truncate(path, full - cut), 0);
        struct journal j;
        assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, &j), 0);
        assert_int_equal(n_done, 2);
        assert_int_equal(done[2], 0);
        assert_int_equal(j.dropped_bytes, full - cut - two);
        journal_close(&j);
        assert_int_equal(file_size(path), two); /* cut off, so appends follow whole records */
    }
    /* A full-length last record with a bad checksum is a torn write too. */
    write_journal(path, order, 3);
    FILE *f = fopen(path, "r+b");
    fseek(f, full - 3, SEEK_SET);
    fputc(0x5a, f);
    fclose(f);
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), 0);
    assert_int_equal(n_done, 2);
    unlink(path);
}

static void test_corrupt_middle_rejected(void **state) {
    (void)state;
    char path[512], err[1024];
    tmp_path(path, sizeof path, "mid");
    const long order[] = {0, 1, 2};
    write_journal(path, order, 3);
    long off = (long)(JOURNAL_HEADER_BYTES + JOURNAL_RECORD_BYTES(LEN)) + 50; /* inside record 2's doubles */
    FILE *f = fopen(path, "r+b");
    fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    struct journal_meta m;
    meta(&m);
    double records[4 * LEN];
    unsigned char done[4];
    long n_done;
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), -1);
    char want[128];
    snprintf(want, sizeof want, "journal corrupt at record 2 (byte offset %u)",
             (unsigned)(JOURNAL_HEADER_BYTES + JOURNAL_RECORD_BYTES(LEN)));
    assert_non_null(strstr(err, want));
    unlink(path);
}

static void test_header_mismatch_rejected(void **state) {
    (void)state;
    char path[512], err[1024];
    tmp_path(path, sizeof path, "hdr");
    const long order[] = {0};
    write_journal(path, order, 1);
    struct journal_meta m;
    double records[4 * LEN];
    unsigned char done[4];
    long n_done;
    meta(&m);
    m.sha256[0] = 'f';
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "was made by config sha256 0123456789abcdef"));
    assert_non_null(strstr(err, "this config is f123456789abcdef"));
    assert_non_null(strstr(err, "use a new --run-dir"));
    meta(&m);
    m.shard_images = 128;
    m.n_shards = shard_plan_count(IMAGES, 128);
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "use a new --run-dir"));
    meta(&m);
    FILE *f = fopen(path, "r+b"); /* a flipped byte in the header */
    fseek(f, 20, SEEK_SET);
    fputc('x', f);
    fclose(f);
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "journal corrupt at its header"));
    f = fopen(path, "wb"); /* not a journal at all */
    for (int i = 0; i < 20; i++) fputs("not a journal, ", f);
    fclose(f);
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "not a version-2 recal journal"));
    unlink(path);
    assert_int_equal(load(path, &m, records, done, &n_done, err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "cannot open the journal"));
}

static void test_create_refuses_existing(void **state) {
    (void)state;
    char path[512], err[1024];
    tmp_path(path, sizeof path, "excl");
    const long order[] = {0};
    write_journal(path, order, 1);
    struct journal_meta m;
    struct journal j;
    meta(&m);
    assert_int_equal(journal_create(&j, path, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot create the journal"));
    unlink(path);
}

/* journal_peek, for the launcher's message after a run died: the plan's
 * shard count and the whole records, a torn tail not counted; a missing
 * file or a damaged header is -1. */
static void test_peek(void **state) {
    (void)state;
    char path[512];
    tmp_path(path, sizeof path, "peek");
    long shards = -1, records = -1;
    assert_int_equal(journal_peek(path, &shards, &records), -1);
    const long order[] = {3, 0};
    write_journal(path, order, 2);
    assert_int_equal(journal_peek(path, &shards, &records), 0);
    assert_int_equal(shards, 4);
    assert_int_equal(records, 2);
    assert_int_equal(truncate(path, file_size(path) - 1), 0);
    assert_int_equal(journal_peek(path, &shards, &records), 0);
    assert_int_equal(records, 1);
    FILE *f = fopen(path, "r+b");
    fseek(f, 10, SEEK_SET); /* inside the config sha256: the header's checksum fails */
    fputc('x', f);
    fclose(f);
    assert_int_equal(journal_peek(path, &shards, &records), -1);
    assert_int_equal(truncate(path, 50), 0);
    assert_int_equal(journal_peek(path, &shards, &records), -1);
    unlink(path);
}

/* Stages: a later stage begins its own section (another plan and record
 * length) after the first; each stage loads only its own records; a torn
 * stage header at the end is dropped and written again; an earlier stage
 * that a later one follows is sealed; peek counts every section. */
static void test_stages(void **state) {
    (void)state;
    char path[512], err[1024];
    tmp_path(path, sizeof path, "stages");
    const long order[] = {0, 1, 2, 3};
    write_journal(path, order, 4);
    const long one_stage = file_size(path);
    struct journal_meta m0, m1;
    meta(&m0);
    m1 = m0;
    m1.n_images = m1.n_shards = 3; /* three tasks of one, two doubles each */
    m1.shard_images = 1;
    m1.record_len = 2;
    double rec1[3 * 2] = {0}, rec0[4 * LEN];
    unsigned char done1[3] = {0}, done0[4] = {0};
    long n_done = -1;
    struct journal j;
    assert_int_equal(journal_open_stage(&j, path, 1, &m1, rec1, done1, &n_done, err, sizeof err), 0);
    assert_int_equal(n_done, 0);
    assert_int_equal(file_size(path), one_stage + JOURNAL_HEADER_BYTES); /* its header, nothing else */
    const double task2[2] = {1, 0.8125};
    assert_int_equal(journal_append(&j, 2, 2, 1, task2, err, sizeof err), 0);
    journal_close(&j);
    /* stage 1 again: its one record, none of stage 0's */
    memset(done1, 0, sizeof done1);
    assert_int_equal(journal_open_stage(&j, path, 1, &m1, rec1, done1, &n_done, err, sizeof err), 0);
    assert_int_equal(n_done, 1);
    assert_true(done1[2] && !done1[0] && !done1[1]);
    assert_memory_equal(rec1 + 4, task2, sizeof task2);
    assert_int_equal(j.sealed, 0);
    journal_close(&j);
    /* stage 0: all four, sealed (stage 1 follows it) */
    assert_int_equal(journal_open_stage(&j, path, 0, &m0, rec0, done0, &n_done, err, sizeof err), 0);
    assert_int_equal(n_done, 4);
    assert_int_equal(j.sealed, 1);
    assert_int_equal(journal_append(&j, 0, 0, SHARD, rec0, err, sizeof err), -1);
    journal_close(&j);
    long shards = -1, records = -1;
    assert_int_equal(journal_peek(path, &shards, &records), 0);
    assert_int_equal(shards, 4 + 3);
    assert_int_equal(records, 4 + 1);
    /* another plan for stage 1 is refused and names the stage */
    m1.n_shards = 4;
    m1.n_images = 4;
    assert_int_equal(journal_open_stage(&j, path, 1, &m1, rec1, done1, &n_done, err, sizeof err), -1);
    assert_non_null(strstr(err, "stage 1 was planned as 3 images"));
    m1.n_shards = m1.n_images = 3;
    /* stage 2 cannot begin before stage 1 ... is there: it is, so it begins;
     * a crash while writing its header leaves a torn one, dropped on open */
    struct journal_meta m2 = m1;
    double rec2[3 * 2];
    unsigned char done2[3] = {0};
    const long before2 = file_size(path);
    assert_int_equal(journal_open_stage(&j, path, 2, &m2, rec2, done2, &n_done, err, sizeof err), 0);
    journal_close(&j);
    assert_int_equal(truncate(path, before2 + JOURNAL_HEADER_BYTES / 2), 0);
    memset(done1, 0, sizeof done1);
    assert_int_equal(journal_open_stage(&j, path, 1, &m1, rec1, done1, &n_done, err, sizeof err), 0);
    assert_int_equal(n_done, 1);
    assert_int_equal(j.dropped_bytes, JOURNAL_HEADER_BYTES / 2);
    journal_close(&j);
    assert_int_equal(file_size(path), before2);
    /* stage 3 cannot begin after stage 1 */
    assert_int_equal(journal_open_stage(&j, path, 3, &m2, rec2, done2, &n_done, err, sizeof err), -1);
    /* an incomplete stage that a later one follows is corruption */
    assert_int_equal(journal_open_stage(&j, path, 2, &m2, rec2, done2, &n_done, err, sizeof err), 0);
    journal_close(&j);
    memset(done1, 0, sizeof done1);
    assert_int_equal(journal_open_stage(&j, path, 1, &m1, rec1, done1, &n_done, err, sizeof err), -1);
    assert_non_null(strstr(err, "a later stage has begun"));
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_torn_tail_dropped),
        cmocka_unit_test(test_corrupt_middle_rejected),
        cmocka_unit_test(test_header_mismatch_rejected),
        cmocka_unit_test(test_create_refuses_existing),
        cmocka_unit_test(test_peek),
        cmocka_unit_test(test_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
