/* coordinator/coord_long.c — see coord_long.h. The naming rule lives here,
 * once: a metric is its per-image field's name (rec_pi_name), so the long
 * rows join per_image/<metric>.csv and metrics.json's `ci` on
 * (label, estimator, metric); the two maxima are `<metric>_max`. */
#include "coord_long.h"

#include <math.h>
#include <stdio.h>

/* Field f of slot block q from the record's sums: the mean and the images
 * behind it, as summary.csv forms them. Used when the run kept no per-image
 * values (statistics.resamples: 0 and no outputs.per_image). */
static void sums_value(const struct job *job, const struct rec_layout *l, const double *total, const double *q, int f,
                       double *v, double *n) {
    const int nr = job->n_diffid_ratios, rn = job->road.n_ratios;
    double acc = 0, cn = 0;
    size_t at = 0; /* the (sum, count) pair of the one-pair metrics */
    int sum = 0, cnt = 1;
    *n = 0;
    switch (f) {
    case REC_PI_DIFF_ACC: /* mean over ratios of insertion − deletion */
    case REC_PI_DIFF_LOGIT: {
        const double *d = q + l->diffid + (f == REC_PI_DIFF_ACC ? 0 : 2 * nr);
        for (int i = 0; i < nr; i++) acc += d[nr + i] - d[i];
        *n = total[REC_IMAGES];
        *v = nr && *n > 0 ? acc / nr / *n : NAN;
        return;
    }
    case REC_PI_SENSN: /* mean over ratios of each ratio's mean correlation */
        for (int r = 0; r < job->sensn.n_ratios; r++) {
            const double *s = q + l->sensn + (size_t)r * REC_SN_FIELDS;
            if (s[REC_SN_CORR_N] <= 0) continue;
            acc += s[REC_SN_CORR_SUM] / s[REC_SN_CORR_N];
            cn += 1;
            /* the images that defined some ratio: exact when an image
             * defines all or none, as it does unless a mask size alone
             * leaves its attribution sums constant */
            if (s[REC_SN_CORR_N] > *n) *n = s[REC_SN_CORR_N];
        }
        *v = cn > 0 ? acc / cn : NAN;
        return;
    case REC_PI_ROAD: /* mean over ratios of LeRF − MoRF correct */
        for (int i = 0; i < rn; i++) acc += q[l->road + rn + i] - q[l->road + i];
        *n = q[l->road + 2 * rn];
        *v = rn && *n > 0 ? acc / rn / *n : NAN;
        return;
    case REC_PI_LIPS:
        at = l->lips, sum = REC_ST_SUM, cnt = REC_ST_N;
        break;
    case REC_PI_MAXS:
        at = l->maxs, sum = REC_ST_SUM, cnt = REC_ST_N;
        break;
    case REC_PI_INFID:
        at = l->infid, sum = REC_IF_SUM, cnt = REC_IF_N;
        break;
    case REC_PI_FA_PEARSON:
        at = l->faith, sum = REC_FA_PEARSON, cnt = REC_FA_PEARSON_N;
        break;
    case REC_PI_FA_SPEARMAN:
        at = l->faith, sum = REC_FA_SPEARMAN, cnt = REC_FA_SPEARMAN_N;
        break;
    case REC_PI_FA_INV:
        at = l->faith, sum = REC_FA_INV, cnt = REC_FA_INV_N;
        break;
    case REC_PI_FCORR:
        at = l->fcorr, sum = REC_FQ_SUM, cnt = REC_FQ_N;
        break;
    case REC_PI_FEST:
        at = l->fest, sum = REC_FQ_SUM, cnt = REC_FQ_N;
        break;
    case REC_PI_POINT_HIT:
        at = l->point, sum = REC_PG_HITS, cnt = REC_PG_N;
        break;
    case REC_PI_POINT_ENERGY:
        at = l->point, sum = REC_PG_ENERGY, cnt = REC_PG_ENERGY_N;
        break;
    default:
        *v = NAN;
        return;
    }
    *n = q[at + (size_t)cnt];
    *v = *n > 0 ? q[at + (size_t)sum] / *n : NAN;
}

/* ",x" or "," for a non-finite x (pandas reads an empty cell as NaN). */
static void cell(struct jbuf *b, double x) {
    if (isfinite(x)) jb_printf(b, ",%.10g", x);
    else jb_printf(b, ",");
}

/* The settings a method uses, blank where it has none: R for the methods
 * that draw references (ig's one baseline is not a setting) and AGI's
 * target classes, K for every path and AGI's steps, the objective for every
 * method that asks the model (random and precomputed do not). */
static void settings(struct jbuf *b, const struct job_method *m) {
    const enum job_method_kind k = m->kind;
    const int refs = k == JOB_M_IG_UNIFORM || k == JOB_M_IG_SG || k == JOB_M_IG_SQ || k == JOB_M_EG || k == JOB_M_AGI;
    const int steps = refs || k == JOB_M_IG || k == JOB_M_GUIDED_IG || k == JOB_M_BLUR_IG;
    const int objective = k != JOB_M_RANDOM && k != JOB_M_PRECOMPUTED;
    if (refs) jb_printf(b, ",%d", m->refs);
    else jb_printf(b, ",");
    if (steps) jb_printf(b, ",%d", m->steps);
    else jb_printf(b, ",");
    jb_printf(b, ",%s\n", objective ? job_objective_name(m->objective) : "");
}

/* One row: the keys, then value, lo, hi, n, then the settings. */
static void row(struct jbuf *b, const struct job *job, const struct rec_slot *sl, const char *metric, double v,
                double lo, double hi, double n) {
    const struct job_method *m = &job->methods[sl->method];
    jb_printf(b, "%s,%s,%s,%s", job_method_name(m->kind), job_method_label(m),
              job_estimator_name((enum job_estimator)sl->estimator), metric);
    cell(b, v);
    cell(b, lo);
    cell(b, hi);
    jb_printf(b, ",%.0f", n);
    settings(b, m);
}

void coord_long_rows(struct jbuf *b, const struct job *job, const struct rec_slot *slots, int n_slots,
                     const double *total, const struct coord_pi *pi) {
    struct rec_layout l;
    rec_layout_of(job, n_slots, &l);
    jb_printf(b, "%s\n", COORD_LONG_HEADER);
    for (int s = 0; s < n_slots; s++) {
        const double *q = total + rec_slot_base(&l, s);
        for (int f = 0; f < REC_PI_COUNT; f++) {
            if (!rec_pi_on(job, f)) continue;
            double v, n, lo = NAN, hi = NAN;
            long k;
            /* the per-image mean where the values were kept: the number
             * the interval is about (metrics.json's ci.mean) */
            if (!coord_pi_mean(pi, s, f, &v, &k)) {
                n = (double)k;
                if (pi->ci) {
                    lo = pi->ci[(size_t)s * REC_PI_COUNT + f].lo;
                    hi = pi->ci[(size_t)s * REC_PI_COUNT + f].hi;
                }
            } else sums_value(job, &l, total, q, f, &v, &n);
            row(b, job, &slots[s], rec_pi_name(f), v, lo, hi, n);
            /* the robustness metrics' maxima over the images, no interval */
            if (f == REC_PI_LIPS || f == REC_PI_MAXS) {
                const double *st = q + (f == REC_PI_LIPS ? l.lips : l.maxs);
                char name[64];
                snprintf(name, sizeof name, "%s_max", rec_pi_name(f));
                row(b, job, &slots[s], name, st[REC_ST_N] > 0 ? st[REC_ST_MAX] : NAN, NAN, NAN, st[REC_ST_N]);
            }
        }
    }
}

int coord_long_write(const struct job *job, const struct rec_slot *slots, int n_slots, const double *total,
                     const struct coord_pi *pi, const char *run_dir, char *err, size_t errlen) {
    struct jbuf b = {0};
    char path[4200];
    coord_long_rows(&b, job, slots, n_slots, total, pi);
    snprintf(path, sizeof path, "%s/summary_long.csv", run_dir);
    const int rc = jb_check(&b, "summary_long.csv", err, errlen) || jb_write_text(&b, path, err, errlen) ? -1 : 0;
    jb_free(&b);
    return rc;
}
