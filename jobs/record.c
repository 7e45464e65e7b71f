/* jobs/record.c — see record.h. */
#include "record.h"

#include <stdbool.h>

int rec_plan_slots(const struct job *job, struct rec_slot *slots) {
    int n = 0;
    for (int i = 0; i < job->n_methods; i++) {
        const struct job_method *m = &job->methods[i];
        for (int e = 0; e < JOB_EST_COUNT; e++) {
            if (!((m->estimators >> e) & 1)) continue;
            slots[n].method = i;
            slots[n].estimator = e;
            n++;
        }
    }
    return n;
}

void rec_layout_of(const struct job *job, int n_slots, struct rec_layout *l) {
    size_t o = 0;
    l->diffid = o;
    if (job->diffid) o += 4 * (size_t)job->n_diffid_ratios;
    l->sensn = o;
    if (job->sensn.on) o += REC_SN_FIELDS * (size_t)job->sensn.n_ratios;
    l->lips = o;
    if (job->lipschitz.on) o += REC_ST_FIELDS;
    l->maxs = o;
    if (job->max_sens.on) o += REC_ST_FIELDS;
    l->infid = o;
    if (job->infidelity.on) o += REC_IF_FIELDS;
    l->faith = o;
    if (job->faith.on) o += REC_FA_FIELDS;
    l->fcorr = o;
    if (job->fcorr.on) o += REC_FQ_FIELDS;
    l->fest = o;
    if (job->fest.on) o += REC_FQ_FIELDS;
    l->per_slot = o;
    l->len = REC_HEADER + (size_t)n_slots * o;
}

void rec_fold(const struct job *job, int n_slots, double *total, const double *rec) {
    struct rec_layout l;
    rec_layout_of(job, n_slots, &l);
    /* The Lipschitz / max-sensitivity maxima reduce by max: take them before
     * the sums run over them (adding and subtracting back is not exact). */
    const size_t off[2] = {l.lips, l.maxs};
    const bool on[2] = {job->lipschitz.on, job->max_sens.on};
    double maxima[REC_MAX_SLOTS][2];
    for (int s = 0; s < n_slots; s++)
        for (int k = 0; k < 2; k++) {
            size_t i = rec_slot_base(&l, s) + off[k] + REC_ST_MAX;
            if (on[k]) maxima[s][k] = rec[i] > total[i] ? rec[i] : total[i];
        }
    for (size_t i = 0; i < l.len; i++) total[i] += rec[i];
    for (int s = 0; s < n_slots; s++)
        for (int k = 0; k < 2; k++)
            if (on[k]) total[rec_slot_base(&l, s) + off[k] + REC_ST_MAX] = maxima[s][k];
}
