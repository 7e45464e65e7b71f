/* train/roar_stage.h — the fine-tunes of Diff-ROAR (docs/metrics.md (ROAR)),
 * the last stage of a `recal run` whose config has metrics.roar. For every
 * (result slot, fraction k, kept = top or bottom) the classifier is
 * fine-tuned on train images that keep only that part of their pixels (the
 * rest set to 0, the per-channel dataset mean in the model's input space)
 * and scored on the test images masked the same way; diff_roar(k) =
 * top_acc(k) − bottom_acc(k). A fine-tune is one task of the coordinator's
 * farm: its record is [1, accuracy], journaled like any shard. The rank maps
 * come from the run's earlier stages: RUN_DIR/masks (the evaluation split)
 * and RUN_DIR/train/masks (the train split). */
#ifndef RECAL_ROAR_STAGE_H
#define RECAL_ROAR_STAGE_H
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "job.h"
#include "record.h"

/* Doubles per fine-tune record: [REC_IMAGES = 1, accuracy]. */
#define ROAR_RECORD_LEN 2
#define ROAR_ACC 1

/* All rank maps of one split: n × slots × hw uint16, in image-id order. */
struct roar_maps {
    uint16_t *r;
    long n;
    int slots;
    long hw;
};

struct roar_stage {
    const struct job *job;
    int device;
    struct rec_slot slots[REC_MAX_SLOTS];
    int n_slots;
    int n_tasks; /* n_slots × fractions × 2 */
    int rank;    /* in MPI_COMM_WORLD, read on the main thread (tasks run on rank 0's second thread too) */
    struct ds_dataset train, test;
    struct roar_maps mtr, mte;
    int (*abandon)(void); /* non-zero between steps: give the fine-tune up (NULL: never; recal run's stop grace) */
};

/* Fine-tune t's place: slot t / (2·nf), fraction (t / 2) mod nf, top when
 * t is odd (the order of metrics.json's accuracies). */
struct roar_task {
    int slot, frac, top;
};
struct roar_task roar_task_of(int t, int n_fractions);

/* "method/estimator k=0.1 top kept": fine-tune t, for messages. */
void roar_task_label(const struct roar_stage *r, int t, char *buf, size_t n);

/* Open both splits and load their rank maps (train_dir/masks,
 * test_dir/masks). 0, or -1 with a message; roar_stage_close either way. */
int roar_stage_open(struct roar_stage *r, const struct job *job, int device, const char *train_dir,
                    const char *test_dir, char *err, size_t errlen);
void roar_stage_close(struct roar_stage *r);

/* roar_stage_task's result for a fine-tune r->abandon gave up. */
enum { ROAR_ABANDONED = 1 };

/* A task in the coordinator's shape (coord_shard_fn): fine-tune `first`
 * (count 1) on this rank alone; rec = [1, accuracy]. ROAR_ABANDONED when
 * r->abandon gave it up between steps (a stop signal's grace passed). */
int roar_stage_task(void *ctx, long first, long count, double *rec, char *err, size_t errlen);

/* Fine-tune t data-parallel over every rank of comm (each calls this);
 * the accuracy on every rank. 0, or -1 with a message. */
int roar_stage_task_dp(struct roar_stage *r, int t, MPI_Comm comm, double *acc, char *err, size_t errlen);
#endif
