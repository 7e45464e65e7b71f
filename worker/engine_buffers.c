/* worker/engine_buffers.c — see engine_buffers.h. */
#include "engine_buffers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "examples.h"
#include "fault.h"
#include "xfer_buf.h"

int wk_shard_bufs_alloc(struct wk_shard_bufs *sb, const struct wk_engine *e, long first, long count, char *err,
                        size_t errlen) {
    const struct job *job = e->job;
    const long d = (long)e->ds.c * e->ds.h * e->ds.w, bmax = job->batch_size;
    const size_t batch_bytes = (size_t)(bmax * d) * sizeof(float);
    memset(sb, 0, sizeof *sb);
    sb->n_slots = e->n_slots;
    /* Every allocation is tried, in this order, before any is checked:
     * RECAL_FAULT=alloc:N (util/fault.h) counts them. */
    sb->x = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &sb->x_owner);
    sb->xn = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &sb->xn_owner);
    sb->y = fault_malloc((size_t)bmax * sizeof *sb->y);
    sb->yn = fault_malloc((size_t)bmax * sizeof *sb->yn);
    sb->ids = fault_malloc((size_t)bmax * sizeof *sb->ids);
    sb->clean = fault_malloc((size_t)(bmax * e->classes) * sizeof *sb->clean);
    sb->orig = fault_malloc((size_t)bmax * sizeof *sb->orig);
    sb->acc = fault_calloc((size_t)(e->n_slots ? e->n_slots : 1), sizeof *sb->acc);
    if (job->out_attributions) sb->maps = fault_calloc((size_t)(count * e->n_slots * d), sizeof *sb->maps);
    sb->n_ex = wk_examples_in(e->ex_ids, e->n_ex_ids, first, count);
    if (sb->n_ex) sb->ex = fault_calloc((size_t)(sb->n_ex * (1 + e->n_slots) * d), sizeof *sb->ex);
    sb->hw = (long)e->ds.h * e->ds.w;
    if (job->out_masks) {
        sb->ranks = fault_calloc((size_t)(count * e->n_slots * sb->hw), sizeof *sb->ranks);
        sb->rk_order = fault_malloc((size_t)sb->hw * sizeof *sb->rk_order);
        sb->rk_sal = fault_malloc((size_t)sb->hw * sizeof *sb->rk_sal);
    }
    if (e->layout.n_pi && job->diffid) sb->pi_diffid = fault_malloc((size_t)(2 * bmax) * sizeof *sb->pi_diffid);
    int ok = sb->x && sb->xn && sb->y && sb->yn && sb->ids && sb->clean && sb->orig && sb->acc &&
             (sb->maps || !job->out_attributions) && (sb->ex || !sb->n_ex) &&
             (sb->pi_diffid || !e->layout.n_pi || !job->diffid) &&
             (!job->out_masks || (sb->ranks && sb->rk_order && sb->rk_sal));
    for (int s = 0; s < e->n_slots && ok; s++)
        ok = (sb->attr[s] = wk_xfer_alloc(e->device, batch_bytes, fault_malloc, &sb->attr_owner[s])) != NULL;
    if (ok) return 0;
    snprintf(err, errlen, "out of host memory for a batch of %ld images (lower batch_size)", bmax);
    return -1;
}

void wk_shard_bufs_free(struct wk_shard_bufs *sb) {
    wk_xfer_free(sb->x, sb->x_owner);
    wk_xfer_free(sb->xn, sb->xn_owner);
    free(sb->y);
    free(sb->yn);
    free(sb->ids);
    free(sb->clean);
    free(sb->orig);
    free(sb->acc);
    free(sb->pi_diffid);
    free(sb->maps);
    free(sb->ex);
    free(sb->skipped);
    free(sb->ranks);
    free(sb->rk_order);
    free(sb->rk_sal);
    for (int s = 0; s < sb->n_slots; s++) wk_xfer_free(sb->attr[s], sb->attr_owner[s]);
    memset(sb, 0, sizeof *sb);
}
