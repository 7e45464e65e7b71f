/* The launcher of `recal run --ranks N`: it reads the rank, host and signal
 * from Open MPI's own line (the exact text mpirun 4.1 prints), passes the
 * launcher's exit status back (a stand-in launcher, RECAL_MPIRUN, that
 * prints that line and exits 137 as mpirun does after a SIGKILL), and says
 * when the launcher cannot be started. The real mpirun runs in
 * integration/killed_rank. */
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

#include "launch.h"

static void test_parse_open_mpi_line(void **state) {
    (void)state;
    static const struct {
        const char *line;
        int rank, signal;
        const char *host;
    } good[] = {
        {"mpirun noticed that process rank 2 with PID 0 on node vm exited on signal 9 (Killed).", 2, 9, "vm"},
        {"mpirun noticed that process rank 13 with PID 4711 on node gpu-a17.cluster exited on signal 11 "
         "(Segmentation fault).",
         13, 11, "gpu-a17.cluster"},
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct launch_result r = {.rank = -1};
        assert_int_equal(launch_parse_line(good[i].line, &r), 1);
        assert_int_equal(r.rank, good[i].rank);
        assert_int_equal(r.signal, good[i].signal);
        assert_string_equal(r.host, good[i].host);
    }
    static const char *const bad[] = {
        "Primary job  terminated normally, but 1 process returned",
        "process rank x with PID 1 on node h exited on signal 9",
        "process rank 1 with PID 1 on node  exited on signal 9",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct launch_result none = {.rank = -1};
        assert_int_equal(launch_parse_line(bad[i], &none), 0);
        assert_int_equal(none.rank, -1);
    }
}

/* A stand-in for mpirun: a shell script that checks its arguments, prints
 * mpirun's line about a killed rank among other output, and exits 137. */
static void test_status_and_line(void **state) {
    (void)state;
    const char *dir = getenv("RECAL_TEST_TMP");
    char script[512], err[512];
    snprintf(script, sizeof script, "%s/fake-mpirun-%ld.sh", dir ? dir : "/tmp", (long)getpid());
    FILE *f = fopen(script, "w");
    assert_non_null(f);
    fputs("#!/bin/sh\n"
          "[ \"$1 $2 $3\" = \"--tag -n 3\" ] || { echo \"bad args: $*\" >&2; exit 9; }\n"
          "[ \"$5 $6\" = \"run a.yaml\" ] || { echo \"bad args: $*\" >&2; exit 9; }\n"
          "[ \"$RECAL_LAUNCH_RANKS\" = 3 ] || exit 8\n"
          "echo 'some output' >&2\n"
          "printf 'mpirun noticed that process rank 1 with PID 0 on node n042 exited on signal 9 (Killed).' >&2\n"
          "exit 137\n",
          f);
    fclose(f);
    chmod(script, 0755);
    setenv("RECAL_MPIRUN", script, 1);
    setenv("RECAL_MPIRUN_ARGS", " --tag ", 1);
    char *args[] = {"run", "a.yaml", NULL};
    struct launch_result r;
    assert_int_equal(launch_mpirun(3, args, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 137);
    assert_int_equal(r.rank, 1); /* the last line, without its newline */
    assert_int_equal(r.signal, 9);
    assert_string_equal(r.host, "n042");

    /* A launcher that cannot be started: exit 127 with a message, no rank. */
    setenv("RECAL_MPIRUN", "/nonexistent/mpirun", 1);
    assert_int_equal(launch_mpirun(3, args, &r, err, sizeof err), 0);
    assert_int_equal(r.status, 127);
    assert_int_equal(r.rank, -1);
    unsetenv("RECAL_MPIRUN");
    unsetenv("RECAL_MPIRUN_ARGS");
    unlink(script);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_open_mpi_line),
        cmocka_unit_test(test_status_and_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
