/* train/train_loop.c — see train_loop.h. */
#include "train_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seed.h"

int tl_buf_alloc(struct tl_buf *b, long batch, long image_floats, long n_order, char *err, size_t errlen) {
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->x = malloc((size_t)(batch * image_floats) * sizeof *b->x);
    b->y = malloc((size_t)batch * sizeof *b->y);
    b->ids = malloc((size_t)batch * sizeof *b->ids);
    b->order = malloc((size_t)(n_order > 0 ? n_order : 1) * sizeof *b->order);
    if (b->x && b->y && b->ids && b->order) return 0;
    tl_buf_free(b);
    snprintf(err, errlen, "out of memory for a batch of %ld images (lower the batch size)", batch);
    return -1;
}

void tl_buf_free(struct tl_buf *b) {
    free(b->x);
    free(b->y);
    free(b->order);
    free(b->ids);
    free(b->logits);
    memset(b, 0, sizeof *b);
}

double tl_lr_at(double lr, const int *milestones, int n_milestones, int epoch) {
    for (int i = 0; i < n_milestones; i++)
        if (epoch >= milestones[i]) lr /= 10;
    return lr;
}

/* One step on this rank alone. */
static int local_step(ts_module *m, ts_sgd *opt, int device, const struct tl_data *d, const struct tl_buf *b, long n,
                      double *loss, long *correct, char *err, size_t errlen) {
    ts_tensor *xt = NULL, *yt = NULL;
    int64_t shape[4] = {n, d->c, d->h, d->w}, ys[1] = {n}, c = 0;
    double l = 0;
    int bad = ts_from_f32(b->x, shape, 4, device, &xt) || ts_from_i64(b->y, ys, 1, device, &yt) ||
              ts_train_step(m, opt, xt, yt, &l, &c);
    ts_tensor_free(xt);
    ts_tensor_free(yt);
    if (bad) {
        snprintf(err, errlen, "training step failed: %s", ts_last_error());
        return -1;
    }
    *loss += l;
    *correct += (long)c;
    return 0;
}

int tl_epoch(ts_module *m, ts_sgd *opt, struct dp_ctx *dp, int device, const struct tl_data *d, struct tl_buf *b,
             uint64_t seed, int epoch, int purpose, int (*stop)(void), double *loss, long *correct, char *err,
             size_t errlen) {
    double loss_sum = 0;
    long hits = 0;
    seed_shuffle(b->order, d->n, seed_for(seed, (uint64_t)epoch, purpose));
    for (long b0 = 0; b0 < d->n; b0 += b->batch) {
        const long n = d->n - b0 < b->batch ? d->n - b0 : b->batch;
        if (!dp) {
            if (stop && stop()) return 1;
            if (d->fill(d->ctx, b->order + b0, n, b->x, b->y, err, errlen) ||
                local_step(m, opt, device, d, b, n, &loss_sum, &hits, err, errlen))
                return -1;
            continue;
        }
        /* this rank's slice of the global batch, one step together; a rank
         * whose data failed still joins the step's collectives (as -1
         * images) so that the others stop instead of waiting, and keeps its
         * own message */
        long lo, hi, c = 0;
        double l = 0;
        char step_err[512];
        dp_slice(n, dp->rank, dp->size, &lo, &hi);
        const int bad = d->fill(d->ctx, b->order + b0 + lo, hi - lo, b->x, b->y, err, errlen) != 0;
        const int rc = dp_step(dp, m, opt, device, b->x, b->y, bad ? -1 : hi - lo, n, d->c, d->h, d->w, &l, &c,
                               step_err, sizeof step_err);
        if (!bad && rc) snprintf(err, errlen, "%s", step_err);
        if (bad || rc) return -1;
        loss_sum += l;
        hits += c;
    }
    if (loss) *loss = loss_sum;
    if (correct) *correct = hits;
    return 0;
}

int tl_count_correct(ts_module *m, int device, const struct tl_data *d, struct tl_buf *b, long lo, long hi, long *hits,
                     char *err, size_t errlen) {
    long correct = 0;
    for (long b0 = lo; b0 < hi; b0 += b->batch) {
        const long n = hi - b0 < b->batch ? hi - b0 : b->batch;
        for (long i = 0; i < n; i++) b->ids[i] = b0 + i;
        if (d->fill(d->ctx, b->ids, n, b->x, b->y, err, errlen)) return -1;
        ts_tensor *xt = NULL, *out = NULL;
        int64_t shape[4] = {n, d->c, d->h, d->w}, os[2] = {0, 0};
        int nd = 0;
        int bad = ts_from_f32(b->x, shape, 4, device, &xt) || ts_module_forward(m, xt, &out) ||
                  ts_shape(out, os, &nd) || nd != 2;
        if (!bad && b->batch * os[1] > b->logits_cap) {
            float *grown = realloc(b->logits, (size_t)(b->batch * os[1]) * sizeof *grown);
            if (grown) {
                b->logits = grown;
                b->logits_cap = b->batch * os[1];
            }
            bad = !grown;
        }
        if (!bad) bad = ts_to_f32(out, b->logits, (size_t)(n * os[1]));
        ts_tensor_free(xt);
        ts_tensor_free(out);
        if (bad) {
            snprintf(err, errlen, "evaluation forward failed: %s",
                     nd != 2 && nd ? "the model's output is not N x classes" : ts_last_error());
            return -1;
        }
        for (long i = 0; i < n; i++) {
            const float *r = b->logits + i * os[1];
            long best = 0; /* the first maximum, as torch.argmax */
            for (long c = 1; c < os[1]; c++)
                if (r[c] > r[best]) best = c;
            correct += best == b->y[i];
        }
    }
    *hits = correct;
    return 0;
}

int tl_score(ts_module *m, int device, const struct tl_data *d, struct tl_buf *b, MPI_Comm comm, double *acc, char *err,
             size_t errlen) {
    int rank = 0, size = 1;
    long lo = 0, hi = d->n, correct = 0;
    if (comm != MPI_COMM_NULL) {
        MPI_Comm_rank(comm, &rank);
        MPI_Comm_size(comm, &size);
        dp_slice(d->n, rank, size, &lo, &hi);
    }
    int bad = tl_count_correct(m, device, d, b, lo, hi, &correct, err, errlen) != 0;
    if (comm != MPI_COMM_NULL) {
        long v[2] = {correct, bad};
        MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_LONG, MPI_SUM, comm);
        correct = v[0];
        if (v[1] && !bad) snprintf(err, errlen, "another rank failed to score (see its log)");
        bad = v[1] != 0;
    }
    if (bad) return -1;
    *acc = d->n ? (double)correct / (double)d->n : 0;
    return 0;
}
