/* test_cores.c — the cores and memory a job may use: within what the
 * machine has (sysconf), at least one core, and the thread limit at
 * exactly CORES_THREADS_PER_CORE per usable core, named in the message. */
#define _XOPEN_SOURCE 700
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cores.h"

static void test_cores_within_machine(void **state) {
    (void)state;
    long online = sysconf(_SC_NPROCESSORS_ONLN), n = cores_usable();
    assert_true(n >= 1);
    assert_true(n <= (online > 0 ? online : 1));
}

static void test_memory_within_machine(void **state) {
    (void)state;
    double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE), m = mem_usable_bytes();
    assert_true(m > 0);
    assert_true(m <= ram);
}

static void test_thread_limit(void **state) {
    (void)state;
    char err[256], want[64];
    long n = cores_usable();
    assert_int_equal(cores_check_threads("threads", 0, err, sizeof err), 0);
    assert_int_equal(cores_check_threads("threads", CORES_THREADS_PER_CORE * n, err, sizeof err), 0);
    assert_int_equal(cores_check_threads("threads", CORES_THREADS_PER_CORE * n + 1, err, sizeof err), -1);
    snprintf(want, sizeof want, "with %ld usable cores", n);
    assert_non_null(strstr(err, want));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cores_within_machine),
        cmocka_unit_test(test_memory_within_machine),
        cmocka_unit_test(test_thread_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
