/* worker/examples.c — see examples.h. Every rank plans the same ids from the
 * job and the data set's labels alone, so whichever rank computes a shard
 * keeps that shard's examples without asking rank 0. */
#include "examples.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_long(const void *a, const void *b) {
    const long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* The first image of each class, classes in label order: the first 6 images
 * of a split can all be one class, and a grid of one class hides what a
 * method does with the others. */
static int plan_per_class(const struct ds_dataset *ds, long *ids, int *n, char *err, size_t errlen) {
    const long classes = ds->classes > 0 ? ds->classes : 1;
    long *first = malloc((size_t)classes * sizeof *first);
    if (!first) {
        snprintf(err, errlen, "out of memory for the first image of each of %ld classes", classes);
        return -1;
    }
    for (long c = 0; c < classes; c++) first[c] = -1;
    for (long id = 0, found = 0; id < ds->n && found < classes; id++) {
        const long c = ds_label(ds, id);
        if (c >= 0 && c < classes && first[c] < 0) first[c] = id, found++;
    }
    int k = 0;
    for (long c = 0; c < classes && k < WK_EXAMPLES_DEFAULT; c++)
        if (first[c] >= 0) ids[k++] = first[c];
    /* fewer classes than rows: the next images by id fill the grid */
    for (long id = 0; id < ds->n && k < WK_EXAMPLES_DEFAULT; id++) {
        int have = 0;
        for (int i = 0; i < k && !have; i++) have = ids[i] == id;
        if (!have) ids[k++] = id;
    }
    free(first);
    *n = k;
    return 0;
}

int wk_examples_plan(const struct job *job, const struct ds_dataset *ds, long *ids, int *n, char *err, size_t errlen) {
    *n = 0;
    if (!job->out_figures) return 0;
    if (!job->n_examples) {
        if (plan_per_class(ds, ids, n, err, errlen)) return -1;
    } else {
        for (int i = 0; i < job->n_examples; i++) {
            if (job->examples[i] >= ds->n) {
                snprintf(err, errlen,
                         "%s: outputs.examples: image %ld is not among the run's %ld images of %s/%s (ids 0 to %ld; "
                         "dataset.limit and --limit keep the first ones): pick ids below %ld",
                         job->file, job->examples[i], ds->n, job->dataset_name, job->split, ds->n - 1, ds->n);
                return -1;
            }
            ids[i] = job->examples[i];
        }
        *n = job->n_examples;
    }
    qsort(ids, (size_t)*n, sizeof *ids, cmp_long);
    return 0;
}

long wk_examples_row(const long *ids, int n, long first, long count, long id) {
    long row = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] == id) return id >= first && id < first + count ? row : -1;
        if (ids[i] >= first && ids[i] < first + count) row++;
    }
    return -1;
}

long wk_examples_in(const long *ids, int n, long first, long count) {
    long k = 0;
    for (int i = 0; i < n; i++) k += ids[i] >= first && ids[i] < first + count;
    return k;
}

size_t wk_examples_ids_text(const long *ids, int n, long first, long count, char *text, size_t size) {
    size_t len = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= first && ids[i] < first + count) len += (size_t)snprintf(text + len, size - len, "%ld\n", ids[i]);
    return len;
}
