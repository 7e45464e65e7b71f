/* jobs/job_sweep.c — the `sweep:` section: dotted paths with lists of
 * values, and the grid points they span. Only the shape is checked here; a
 * point's values are checked by loading the config with that point's
 * overrides (recal submit does so for every point before submitting). */
#include <stdio.h>
#include <string.h>

#include "job_internal.h"

int job_read_sweep(const struct job_err *e, const struct job_node *v, struct job *j) {
    struct job_sweep *sw = &j->sweep;
    memset(sw, 0, sizeof *sw);
    if (v->kind == JOB_N_NULL) return 0; /* `sweep:` left empty: no sweep */
    if (v->kind != JOB_N_MAP) return job_bad(e, v, "sweep", "a mapping of dotted config paths to lists of values");
    if (v->n > JOB_MAX_SWEEP_KEYS)
        return job_errf(e, v, "'sweep' has %zu keys; at most %d are supported", v->n, JOB_MAX_SWEEP_KEYS);
    long points = 1;
    for (size_t i = 0; i < v->n; i++) {
        const struct job_node *k = v->keys[i], *list = v->kids[i];
        if (!k->text || !k->text[0] || strlen(k->text) >= JOB_SWEEP_TEXT)
            return job_errf(e, k, "sweep key must be a dotted config path shorter than %d characters", JOB_SWEEP_TEXT);
        if (!strncmp(k->text, "sweep", 5) && (k->text[5] == '\0' || k->text[5] == '.'))
            return job_errf(e, k, "a sweep cannot sweep 'sweep' itself");
        for (size_t m = 0; m < i; m++)
            if (!strcmp(sw->key[m], k->text)) return job_errf(e, k, "sweep key '%s' is given twice", k->text);
        if (list->kind != JOB_N_SEQ) return job_bad(e, list, k->text, "a non-empty list of values, like [3, 5]");
        if (list->n == 0)
            return job_errf(e, list, "sweep key '%s' has an empty list: give at least one value", k->text);
        if (list->n > JOB_MAX_SWEEP_VALUES)
            return job_errf(e, list, "sweep key '%s' has %zu values; at most %d are supported", k->text, list->n,
                            JOB_MAX_SWEEP_VALUES);
        snprintf(sw->key[i], JOB_SWEEP_TEXT, "%s", k->text);
        for (size_t n = 0; n < list->n; n++) {
            const struct job_node *x = list->kids[n];
            /* A point becomes "path=value" and is parsed again as YAML:
             * plain scalars survive that; mappings and lists would need
             * re-serialising, which this version does not do. */
            if (x->kind != JOB_N_SCALAR || !x->text || strlen(x->text) >= JOB_SWEEP_TEXT)
                return job_bad(e, x, k->text, "a list of plain values (numbers, names, paths)");
            snprintf(sw->value[i][n], JOB_SWEEP_TEXT, "%s", x->text);
        }
        sw->n_values[i] = (int)list->n;
        points *= (long)list->n;
        if (points > JOB_MAX_SWEEP_POINTS)
            return job_errf(e, v, "'sweep' spans more than %d points (one Slurm array task each)",
                            JOB_MAX_SWEEP_POINTS);
    }
    sw->n_keys = (int)v->n;
    sw->n_points = sw->n_keys ? points : 0;
    return 0;
}

int job_sweep_point(const struct job *j, long i, char (*sets)[2 * JOB_SWEEP_TEXT + 2]) {
    const struct job_sweep *sw = &j->sweep;
    if (i < 0 || i >= sw->n_points) return -1;
    for (int k = sw->n_keys - 1; k >= 0; k--) { /* the last key changes fastest */
        long idx = i % sw->n_values[k];
        i /= sw->n_values[k];
        snprintf(sets[k], 2 * JOB_SWEEP_TEXT + 2, "%s=%s", sw->key[k], sw->value[k][idx]);
    }
    return 0;
}
