/* jobs/record.c — see record.h. */
#include "record.h"

#include <math.h>
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

int rec_pi_on(const struct job *job, int field) {
    const bool on[REC_PI_COUNT] = {job->diffid,      job->diffid,        job->sensn.on, job->lipschitz.on,
                                   job->max_sens.on, job->infidelity.on, job->faith.on, job->faith.on,
                                   job->faith.on,    job->fcorr.on,      job->fest.on,  job->road.on,
                                   job->pointing.on, job->pointing.on};
    return field >= 0 && field < REC_PI_COUNT && on[field];
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
    l->road = o;
    if (job->road.on) o += 2 * (size_t)job->road.n_ratios + 1;
    l->point = o;
    if (job->pointing.on) o += REC_PG_FIELDS;
    l->per_slot = o;
    l->sums = REC_HEADER + (size_t)n_slots * o;
    /* per-image rows when something reads them: the intervals or the files */
    const bool want = job->stats.resamples > 0 || job->out_per_image;
    l->n_pi = 0;
    for (int f = 0; f < REC_PI_COUNT; f++) l->pi_col[f] = want && rec_pi_on(job, f) ? l->n_pi++ : -1;
    l->pi_rows = (size_t)job->shard_images; /* images.csv reads the fixed columns of every run */
    l->pi_stride = REC_PI_FIXED + (size_t)n_slots * (size_t)l->n_pi;
    l->len = l->sums + l->pi_rows * l->pi_stride;
}

const char *rec_pi_name(int field) {
    /* designated: a field added to the enum without a name reads "?" */
    static const char *const names[REC_PI_COUNT] = {
        [REC_PI_DIFF_ACC] = "diffid_diff_acc",
        [REC_PI_DIFF_LOGIT] = "diffid_diff_logit",
        [REC_PI_SENSN] = "sensitivity_n_correlation",
        [REC_PI_LIPS] = "lipschitz",
        [REC_PI_MAXS] = "max_sensitivity",
        [REC_PI_INFID] = "infidelity",
        [REC_PI_FA_PEARSON] = "faithfulness_pearson",
        [REC_PI_FA_SPEARMAN] = "faithfulness_spearman",
        [REC_PI_FA_INV] = "faithfulness_inv_distance",
        [REC_PI_FCORR] = "faithfulness_correlation",
        [REC_PI_FEST] = "faithfulness_estimate",
        [REC_PI_ROAD] = "road_diff",
        [REC_PI_POINT_HIT] = "pointing_game_hit",
        [REC_PI_POINT_ENERGY] = "pointing_game_energy",
    };
    return field >= 0 && field < REC_PI_COUNT && names[field] ? names[field] : "?";
}

void rec_pi_clear(const struct rec_layout *l, double *rec) {
    for (size_t p = 0; p < l->pi_rows; p++) {
        double *row = rec + l->sums + p * l->pi_stride;
        row[0] = -1;
        for (size_t k = 1; k < l->pi_stride; k++) row[k] = NAN;
    }
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
    for (size_t i = 0; i < l.sums; i++) total[i] += rec[i];
    for (int s = 0; s < n_slots; s++)
        for (int k = 0; k < 2; k++)
            if (on[k]) total[rec_slot_base(&l, s) + off[k] + REC_ST_MAX] = maxima[s][k];
}
