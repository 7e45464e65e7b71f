/* jobs/job_baseline.c — a method's `baseline:` and `blur_sigma:` (ig and
 * guided_ig, docs/methods.md "Baselines"): a name (dataset_mean, black,
 * blur, uniform) or a file given as {path: base.npy}, parsed; which methods
 * take them and blur_sigma's range are job_method_check's. The file's shape
 * is checked where the images' shape is known (the engine, at load). */
#include <stdio.h>
#include <string.h>

#include "job_internal.h"

/* {path: FILE.npy}: the only key, a non-empty path. */
static int read_file(const struct job_err *e, const struct job_node *v, const char *where, struct job_method *out) {
    static const char *const keys[] = {"path"};
    if (job_check_keys(e, v, keys, 1, NULL, 0, "key", where)) return -1;
    const struct job_node *p = job_map_get(v, "path", NULL);
    if (!p)
        return job_errf(e, v,
                        "a baseline mapping needs 'path': {path: base.npy}, the .npy of one baseline (C x H x W) or "
                        "one per image (N x C x H x W), in the model's normalized input space");
    if (job_want_str(e, p, "path", out->baseline_path, sizeof out->baseline_path)) return -1; /* not empty */
    out->baseline = JOB_BASE_FILE;
    return 0;
}

int job_read_baseline(const struct job_err *e, const struct job_node *m, int idx, struct job_method *out) {
    const struct job_node *v = job_map_get(m, "baseline", NULL);
    if (v) { /* which methods take one, and blur_sigma's limits: job_method_check */
        char where[48];
        snprintf(where, sizeof where, "'methods.%d.baseline'", idx);
        if (v->kind == JOB_N_MAP) {
            if (read_file(e, v, where, out)) return -1;
        } else {
            const size_t n = v->kind == JOB_N_SCALAR && v->text ? strlen(v->text) : 0;
            if (n > 4 && !job_casecmp(v->text + n - 4, ".npy")) /* a file named bare: say how to write it */
                return job_errf(e, v,
                                "'baseline' names a file as a mapping: baseline: {path: %.200s} (a bare word is one "
                                "of dataset_mean, black, blur, uniform)",
                                v->text);
            int b = -1;
            for (int k = 0; k < JOB_BASELINE_NAMES && v->kind == JOB_N_SCALAR && b < 0; k++)
                if (!job_casecmp(v->text, job_baseline_names[k])) b = k;
            if (b < 0) {
                const char *hint = v->kind == JOB_N_SCALAR ? job_suggest(v->text, job_baseline_names, 4) : NULL;
                const int sc = v->kind == JOB_N_SCALAR;
                return job_errf(e, v,
                                "'baseline' must be one of dataset_mean, black, blur, uniform, or {path: FILE.npy}, "
                                "got %s%.80s%s%s%s%s",
                                sc ? "'" : "",
                                sc                     ? v->text
                                : v->kind == JOB_N_SEQ ? "a list"
                                                       : "nothing",
                                sc ? "'" : "", hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
            }
            out->baseline = job_baseline_at(b);
        }
    }
    if ((v = job_map_get(m, "blur_sigma", NULL)) && job_want_double(e, v, "blur_sigma", &out->blur_sigma)) return -1;
    return 0;
}
