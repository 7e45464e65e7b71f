/* worker/examples.h — which images keep their maps for the report's heatmap
 * grid (outputs.figures), and where they sit in a shard's figures file. */
#ifndef RECAL_EXAMPLES_H
#define RECAL_EXAMPLES_H
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "job.h"

/* Rows of the default grid: one image per class, as many classes as fit. */
#define WK_EXAMPLES_DEFAULT 10

/* The example ids, ascending, into ids (JOB_MAX_EXAMPLES): outputs.examples
 * when given (each must be below ds->n), else the first image of each class
 * in label order (WK_EXAMPLES_DEFAULT at most), then the next images by id
 * when the data set has fewer classes. 0, or -1 with a message naming the
 * key and what to do. */
int wk_examples_plan(const struct job *job, const struct ds_dataset *ds, long *ids, int *n, char *err, size_t errlen);

/* The row of image id in its shard's examples file (the ids of [first,
 * first+count) in ascending order), or -1 when id is not an example. */
long wk_examples_row(const long *ids, int n, long first, long count, long id);

/* How many example ids lie in [first, first+count). */
long wk_examples_in(const long *ids, int n, long first, long count);

/* The text of a shard's figures/examples-<first>.txt (engine_artefacts.c):
 * the example ids in [first, first+count), one a line, the report's row
 * labels; its length. text holds WK_EXAMPLES_TEXT_MAX bytes. */
#define WK_EXAMPLES_TEXT_MAX (JOB_MAX_EXAMPLES * 24 + 1)
size_t wk_examples_ids_text(const long *ids, int n, long first, long count, char *text, size_t size);
#endif
