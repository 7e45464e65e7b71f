/* The record of finished Diff-ROAR fine-tunes: an accuracy comes back bit
 * for bit; a missing file is "not finished"; a record of another config, of
 * another task, with an accuracy outside [0, 1], cut short or full of
 * garbage is refused with a message naming the file; temporary files of an
 * interrupted write are not counted. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "roar_tasks.h"

static const char *SHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
static const char *OTHER = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

static void out_dir(char *p, size_t n, const char *name) {
    const char *dir = getenv("RECAL_TEST_TMP");
    snprintf(p, n, "%s/roar-tasks-%s-%ld", dir ? dir : "/tmp", name, (long)getpid());
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
}

static void write_file(const char *out, int task, const char *text) {
    char path[4300];
    snprintf(path, sizeof path, "%s/roar-tasks/task-%05d.txt", out, task);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_roundtrip(void **state) {
    (void)state;
    char out[4096], err[1024];
    out_dir(out, sizeof out, "rt");
    struct roar_task_id a = {7, "ig_uniform", "valid_ip", 0.3, 1}, b = {8, "ig_uniform", "valid_ip", 0.3, 0};
    double acc = -1;
    assert_int_equal(roar_tasks_count(out), 0); /* no directory yet */
    assert_int_equal(roar_task_load(out, SHA, &a, &acc, err, sizeof err), 0);
    const double want = 0.1 + 0.2; /* not exactly representable in decimal */
    assert_int_equal(roar_task_save(out, SHA, &a, want, err, sizeof err), 0);
    assert_int_equal(roar_task_save(out, SHA, &b, 1.0, err, sizeof err), 0);
    assert_int_equal(roar_tasks_count(out), 2);
    assert_int_equal(roar_task_load(out, SHA, &a, &acc, err, sizeof err), 1);
    assert_memory_equal(&acc, &want, sizeof acc);
    assert_int_equal(roar_task_load(out, SHA, &b, &acc, err, sizeof err), 1);
    assert_true(acc == 1.0);
    /* a temporary file of a write that was cut off does not count */
    write_file(out, 9, "");
    char tmp[4400], real[4300];
    snprintf(real, sizeof real, "%s/roar-tasks/task-00009.txt", out);
    snprintf(tmp, sizeof tmp, "%s.tmp.123", real);
    assert_int_equal(rename(real, tmp), 0);
    assert_int_equal(roar_tasks_count(out), 2);
}

static void test_refusals(void **state) {
    (void)state;
    char out[4096], err[1024];
    out_dir(out, sizeof out, "bad");
    struct roar_task_id id = {3, "input_grad", "vanilla", 0.5, 1};
    double acc;
    assert_int_equal(roar_task_save(out, OTHER, &id, 0.5, err, sizeof err), 0);
    assert_int_equal(roar_task_load(out, SHA, &id, &acc, err, sizeof err), -1);
    assert_non_null(strstr(err, "another config"));
    assert_non_null(strstr(err, "task-00003.txt"));
    /* the same config, but the file says another task (a hand copy) */
    struct roar_task_id other = {3, "input_grad", "vanilla", 0.5, 0};
    assert_int_equal(roar_task_save(out, SHA, &other, 0.5, err, sizeof err), 0);
    assert_int_equal(roar_task_load(out, SHA, &id, &acc, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a finished fine-tune of this task"));
    const char *bad[] = {
        "recal-roar-task 1 config=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef task=3 "
        "method=input_grad estimator=vanilla fraction=0.5 kept=top acc=1.5\n", /* not an accuracy */
        "recal-roar-task 1 config=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef task=3 "
        "method=input_grad estimator=vanilla fraction=0.5 kept=top acc=0.2", /* cut short: no newline */
        "recal-roar-task 1 config=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef task=3 "
        "method=input_grad estimator=vanilla fraction=0.5 kept=top acc=\n", /* no number */
        "\x01\x02garbage",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        write_file(out, 3, bad[i]);
        err[0] = '\0';
        assert_int_equal(roar_task_load(out, SHA, &id, &acc, err, sizeof err), -1);
        assert_non_null(strstr(err, "task-00003.txt"));
    }
    /* and the well-formed line is taken */
    write_file(out, 3,
               "recal-roar-task 1 config=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef "
               "task=3 method=input_grad estimator=vanilla fraction=0.5 kept=top acc=0.25\n");
    assert_int_equal(roar_task_load(out, SHA, &id, &acc, err, sizeof err), 1);
    assert_true(acc == 0.25);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
