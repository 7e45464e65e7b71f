/* coordinator/coord_long.h — RUN_DIR/summary_long.csv: a run's headline
 * numbers in long form, one row per (methods entry, estimator, metric),
 * each metric named as its per-image values are (per_image/<metric>.csv),
 * with its interval and image count (docs/outputs.md). A notebook reads it
 * with one pd.read_csv; `recal sweep-merge` joins the points' files into
 * sweep_long.csv. */
#ifndef RECAL_COORD_LONG_H
#define RECAL_COORD_LONG_H
#include <stddef.h>

#include "coord_stats.h"
#include "record.h"

/* The header, which sweep-merge also checks a point's file against (a point
 * written by another recal version is left out rather than misread). */
#define COORD_LONG_HEADER "method,label,estimator,metric,value,lo,hi,n,refs,steps,objective"

/* The rows (header first) into b. pi: the per-image values and their
 * intervals, or NULL; without per-image values a value is the mean formed
 * from the record's sums (summary.csv's) and lo/hi are blank. */
void coord_long_rows(struct jbuf *b, const struct job *job, const struct rec_slot *slots, int n_slots,
                     const double *total, const struct coord_pi *pi);
/* RUN_DIR/summary_long.csv, written whole (temp + fsync + rename). 0, or -1
 * with a message. */
int coord_long_write(const struct job *job, const struct rec_slot *slots, int n_slots, const double *total,
                     const struct coord_pi *pi, const char *run_dir, char *err, size_t errlen);
#endif
