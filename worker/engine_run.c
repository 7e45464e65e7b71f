/* worker/engine_run.c — wk_engine_run (engine.h): a shard's batches in
 * turn, each read while the one before computes (prefetch.h), the shard's
 * first batch read ahead while the last shard ended (the carry), then the
 * shard's artefacts and the record's sums. The batch itself is
 * engine_batch.c's, the buffers engine_buffers.c's, the files
 * engine_artefacts.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "engine_artefacts.h"
#include "engine_batch.h"
#include "engine_buffers.h"
#include "fault.h"
#include "prefetch.h"
#include "xfer_buf.h"

/* The shard's last batch is read: ask for the next shard and read its first
 * batch into the carry buffer while this one computes (the dataset reads
 * one batch at a time: no read of this shard is running now). Without a
 * look-ahead, or without memory for the buffer, the next shard reads its
 * first batch itself, as before. */
static void carry_start(struct wk_engine *e, size_t batch_bytes) {
    long f = 0, c = 0;
    if (!e->next_shard || e->next_shard(e->next_arg, &f, &c) != 1 || c <= 0) return;
    if (!e->carry_x) e->carry_x = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &e->carry_owner);
    if (!e->carry_y) e->carry_y = fault_malloc((size_t)e->job->batch_size * sizeof *e->carry_y);
    if (!e->carry_x || !e->carry_y) return;
    e->carry_first = f;
    e->carry_count = c < e->job->batch_size ? c : e->job->batch_size;
    e->carry_skipped0 = ds_skipped(&e->ds);
    wk_prefetch_start(&e->carry, &e->ds, f, e->carry_count, e->carry_x, e->carry_y);
}

/* The shard's first batch, when it was read ahead (carry_start): into x, y;
 * *skipped0 the dataset's skipped count before that read. 1 taken, 0 none
 * (the caller reads it), -1 its read failed (message in err). */
static int carry_take(struct wk_engine *e, long first, long count, float *x, int64_t *y, long *skipped0, char *err,
                      size_t errlen) {
    const long n = e->carry_count, d = (long)e->ds.c * e->ds.h * e->ds.w;
    if (n == 0) return 0;
    e->carry_count = 0;
    char why[1024];
    const int rc = wk_prefetch_wait(&e->carry, why, sizeof why);
    if (e->carry_first != first || n != (count < e->job->batch_size ? count : e->job->batch_size))
        return 0; /* another shard than the one asked for (not in a run: the coordinator keeps the order) */
    if (rc) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    memcpy(x, e->carry_x, (size_t)(n * d) * sizeof *x);
    memcpy(y, e->carry_y, (size_t)n * sizeof *y);
    *skipped0 = e->carry_skipped0;
    e->n_carried++;
    return 1;
}

/* The files the reader skipped since *before (dataset.on_error: skip),
 * appended to the shard's list, one a line. */
static int list_skipped(struct wk_engine *e, struct wk_shard_bufs *sb, long *before, char *err, size_t errlen) {
    for (long k = *before; k < ds_skipped(&e->ds); k++) {
        const char *name = ds_skipped_name(&e->ds, k);
        size_t n = strlen(name ? name : "?");
        char *grown = realloc(sb->skipped, sb->skipped_len + n + 2);
        if (!grown) {
            snprintf(err, errlen, "out of memory listing skipped images");
            return -1;
        }
        sb->skipped = grown;
        memcpy(sb->skipped + sb->skipped_len, name ? name : "?", n);
        sb->skipped_len += n;
        sb->skipped[sb->skipped_len++] = '\n';
        sb->skipped[sb->skipped_len] = '\0';
    }
    *before = ds_skipped(&e->ds);
    return 0;
}

/* dataset.on_error: skip hands back label -1 for an unreadable image: leave
 * it out of the batch of b images from b0, so it reaches neither the model
 * nor the accuracies (its attribution map, if written, stays 0). The ids of
 * those kept into sb->ids; their count. */
static long drop_unread(struct wk_shard_bufs *sb, long b0, long b, long d) {
    long kept = 0;
    for (long i = 0; i < b; i++) {
        if (sb->y[i] < 0) continue;
        if (kept != i) memcpy(sb->x + kept * d, sb->x + i * d, (size_t)d * sizeof *sb->x);
        sb->y[kept] = sb->y[i];
        sb->ids[kept++] = b0 + i;
    }
    return kept;
}

/* The shard's DiffID sums and what crossed between host and device since
 * led0, into the record. */
static void record_totals(const struct wk_engine *e, const struct wk_shard_bufs *sb, const struct ts_ledger *led0,
                          double *record) {
    const int nr = e->job->n_diffid_ratios;
    for (int s = 0; s < e->n_slots && e->job->diffid; s++) {
        double *r = record + rec_slot_base(&e->layout, s) + e->layout.diffid;
        memcpy(r, sb->acc[s].del_correct, (size_t)nr * sizeof *r);
        memcpy(r + nr, sb->acc[s].ins_correct, (size_t)nr * sizeof *r);
        memcpy(r + 2 * nr, sb->acc[s].del_logit, (size_t)nr * sizeof *r);
        memcpy(r + 3 * nr, sb->acc[s].ins_logit, (size_t)nr * sizeof *r);
    }
    struct ts_ledger led1;
    ts_ledger_read(&led1);
    record[REC_H2D] = (double)(led1.h2d_bytes - led0->h2d_bytes);
    record[REC_D2H] = (double)(led1.d2h_bytes - led0->d2h_bytes);
    record[REC_FWD] = (double)(led1.fwd_samples - led0->fwd_samples);
    record[REC_BWD] = (double)(led1.bwd_samples - led0->bwd_samples);
    record[REC_SYNCS] = (double)(led1.syncs - led0->syncs);
    record[REC_D2H_SYNCS] = (double)(led1.d2h_syncs - led0->d2h_syncs);
}

int wk_engine_run(struct wk_engine *e, long first, long count, double *record, char *err, size_t errlen) {
    const struct job *job = e->job;
    e->mctx.abandon = e->abandon; /* the methods look between chunks too */
    const long d = (long)e->ds.c * e->ds.h * e->ds.w, bmax = job->batch_size;
    const size_t batch_bytes = (size_t)(bmax * d) * sizeof(float);
    int rc = -1;
    memset(record, 0, wk_record_len(e) * sizeof *record);
    rec_pi_clear(&e->layout, record);
    e->shard_first = first;
    struct ts_ledger led0;
    ts_ledger_read(&led0);
    struct wk_prefetch pf = {0};
    struct wk_shard_bufs sb;
    long skipped_before = 0; /* read once no read ahead runs (carry_take) */
    if (wk_shard_bufs_alloc(&sb, e, first, count, err, errlen)) goto fail;
    /* the first batch: read ahead while the last shard ended (carry_start), or now */
    const int carried = carry_take(e, first, count, sb.xn, sb.yn, &skipped_before, err, errlen);
    if (carried < 0) goto fail;
    if (!carried) skipped_before = ds_skipped(&e->ds);
    if (!carried && count > 0) wk_prefetch_start(&pf, &e->ds, first, count < bmax ? count : bmax, sb.xn, sb.yn);
    for (long b0 = first; b0 < first + count; b0 += bmax) {
        const long b = first + count - b0 < bmax ? first + count - b0 : bmax;
        /* Before any artefact is written (they follow the last batch). */
        if (e->abandon && e->abandon()) {
            snprintf(err, errlen, "shard of images %ld..%ld abandoned", first, first + count - 1);
            rc = WK_ABANDONED;
            goto fail;
        }
        if (wk_prefetch_wait(&pf, err, errlen) || list_skipped(e, &sb, &skipped_before, err, errlen)) goto fail;
        float *tx = sb.x; /* the read batch becomes the current one */
        int64_t *ty = sb.y;
        sb.x = sb.xn, sb.y = sb.yn, sb.xn = tx, sb.yn = ty;
        ts_tensor *towner = sb.x_owner;
        sb.x_owner = sb.xn_owner, sb.xn_owner = towner;
        const long nb0 = b0 + bmax;
        if (nb0 < first + count)
            wk_prefetch_start(&pf, &e->ds, nb0, first + count - nb0 < bmax ? first + count - nb0 : bmax, sb.xn, sb.yn);
        else carry_start(e, batch_bytes);
        const long kept = drop_unread(&sb, b0, b, d);
        if (kept > 0 && wk_engine_batch(e, &sb, first, count, kept, record, err, errlen)) goto fail;
    }
    if (wk_shard_artefacts_write(e, &sb, first, count, err, errlen)) goto fail;
    record_totals(e, &sb, &led0, record);
    rc = 0;
fail:
    /* a method that gave up between chunks (WK_STOP_MSG) abandons the shard */
    if (rc < 0 && e->abandon && e->abandon()) {
        snprintf(err, errlen, "shard of images %ld..%ld abandoned", first, first + count - 1);
        rc = WK_ABANDONED;
    }
    /* a read still running writes into xn/yn: let it finish first */
    if (pf.running) {
        char ignored[8];
        wk_prefetch_wait(&pf, ignored, sizeof ignored);
    }
    wk_shard_bufs_free(&sb);
    return rc;
}
