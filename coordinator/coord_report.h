/* coordinator/coord_report.h — turn the reduced record into metrics.json,
 * metrics.csv and the printed table (docs/outputs.md, metrics.json). */
#ifndef RECAL_COORD_REPORT_H
#define RECAL_COORD_REPORT_H
#include <stdio.h>

#include "coord_stats.h"
#include "record.h"

struct coord_run_info {
    const char *run_id;
    const char *run_dir;
    int ranks;
    const char *device;
    const char *libtorch;
    double wall_seconds;        /* of this invocation */
    long images_computed;       /* by this invocation (a resume skips journaled shards) */
    long resumed_shards;        /* taken from the journal */
    long images_planned;        /* images of the split after limit; those not evaluated were
                                   skipped under dataset.on_error: skip */
    double coordinator_seconds; /* rank 0's dispatch bookkeeping (coord_book.coord_seconds) */
    long image_bytes;           /* one model input, C·H·W float32: the unit of the transfer ledger */
    const double *roar_acc;     /* Diff-ROAR's fine-tune accuracies (per slot, per fraction, bottom then
                                   top), or NULL: results[].roar, roar.json and roar.csv */
    const struct coord_pi *pi;  /* the per-image values and their statistics, or NULL */
};

int coord_write_metrics(const struct job *job, const struct rec_slot *slots, int n_slots, const double *total,
                        const struct coord_run_info *info, char *err, size_t errlen);
/* The Diff-ROAR table (info.roar_acc's values) on f. */
void coord_print_roar(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots, const double *acc);
void coord_print_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots, const double *total);
#endif
