/* train/train_loop.h — the one SGD loop of recal: `recal train` and the
 * Diff-ROAR fine-tunes of `recal run` (train/roar_stage.c) both train and
 * score through it. Data come through a fill callback, so the caller
 * decides what an image is (the data set's, or a ROAR-masked copy); the
 * order of an epoch is seed_shuffle(seed_for(seed, epoch, purpose)), so it
 * depends on neither the rank count nor the task's place in a run. */
#ifndef RECAL_TRAIN_LOOP_H
#define RECAL_TRAIN_LOOP_H
#include <stddef.h>
#include <stdint.h>

#include "dp_train.h"
#include "torch_shim.h"

/* Images ids[0..n) into x (n × c·h·w floats) and y. 0, or -1 with a message. */
typedef int (*tl_fill_fn)(void *ctx, const long *ids, long n, float *x, int64_t *y, char *err, size_t errlen);

struct tl_data {
    tl_fill_fn fill;
    void *ctx;
    long n; /* images, ids 0..n-1 */
    int c, h, w;
};

/* A batch's host buffers and an epoch's order; owned, tl_buf_free. */
struct tl_buf {
    long batch;
    float *x;
    int64_t *y;
    long *order, *ids; /* order: n_order ids; ids: a batch's */
    float *logits;     /* batch × classes, for scoring (grown on use) */
    long logits_cap;
};
int tl_buf_alloc(struct tl_buf *b, long batch, long image_floats, long n_order, char *err, size_t errlen);
void tl_buf_free(struct tl_buf *b);

/* PyTorch's MultiStepLR (gamma 0.1): lr / 10 per milestone reached. */
double tl_lr_at(double lr, const int *milestones, int n_milestones, int epoch);

/* One epoch of cross-entropy SGD over d in batches of b->batch. dp NULL:
 * this rank alone, with stop (may be NULL) asked between steps — non-zero
 * gives up the epoch and returns 1; else data-parallel over dp's ranks,
 * every one of which calls this with the same arguments (each fills only
 * its slice of each batch; steps are collective, so stop is not asked).
 * loss and correct (may be NULL) get the epoch's sums. 0, 1, or -1 with a
 * message (on every rank of dp). */
int tl_epoch(ts_module *m, ts_sgd *opt, struct dp_ctx *dp, int device, const struct tl_data *d, struct tl_buf *b,
             uint64_t seed, int epoch, int purpose, int (*stop)(void), double *loss, long *correct, char *err,
             size_t errlen);

/* Top-1 hits of m (in eval mode) on images [lo, hi) of d in id order. 0,
 * or -1 with a message. */
int tl_count_correct(ts_module *m, int device, const struct tl_data *d, struct tl_buf *b, long lo, long hi, long *hits,
                     char *err, size_t errlen);
/* The top-1 accuracy of m (in eval mode) on all of d: each rank of comm
 * scores its slice (dp_slice) and the hits are summed, or this rank scores
 * all of d when comm is MPI_COMM_NULL. Collective over comm. 0, or -1 with
 * a message on every rank ("another rank failed to score (see its log)"
 * where this one did not fail). */
int tl_score(ts_module *m, int device, const struct tl_data *d, struct tl_buf *b, MPI_Comm comm, double *acc, char *err,
             size_t errlen);
#endif
