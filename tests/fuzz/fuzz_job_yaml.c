/* fuzz_job_yaml.c - job_load (YAML parse, tree walk, validation, sweeps) on
 * arbitrary bytes. job_load reads a path, so the input is a file. The input's
 * last line, when it starts with "#set ", is also passed as one --set
 * override, so the override parser is fuzzed too. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct job j; /* large; static keeps it off the stack */
    char err[1024], set[512];
    const char *sets[1] = {set};
    int n_sets = 0;
    const char *path = fz_put(0, "job.yaml", data, size);
    const uint8_t *last = data;
    size_t k;

    for (k = size; k > 0; k--) {
        if (data[k - 1] == '\n' && k != size) {
            last = data + k;
            break;
        }
    }
    if (size - (size_t)(last - data) > 5 && memcmp(last, "#set ", 5) == 0) {
        size_t n = size - (size_t)(last - data) - 5;
        if (n >= sizeof set) n = sizeof set - 1;
        memcpy(set, last + 5, n);
        set[n] = '\0';
        if (n && set[n - 1] == '\n') set[n - 1] = '\0';
        n_sets = 1;
    }
    memset(&j, 0, sizeof j);
    err[0] = '\0';
    if (job_load(path, sets, n_sets, &j, err, sizeof err) != 0 && !err[0])
        abort(); /* the contract: every failure says why */
    if (j.sweep.n_points > 0) {
        char pt[JOB_MAX_SWEEP_KEYS][2 * JOB_SWEEP_TEXT + 2];
        (void)job_sweep_point(&j, 0, pt);
        (void)job_sweep_point(&j, j.sweep.n_points - 1, pt);
    }
    return 0;
}
