/* coordinator/coord_stats.c — see coord_stats.h. */
#include "coord_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "npy.h"
#include "stats_ci.h"

static double cell(const struct coord_pi *pi, long i, int s, int f) {
    return pi->v[((size_t)i * (size_t)pi->n_slots + (size_t)s) * (size_t)pi->lay.n_pi + (size_t)pi->lay.pi_col[f]];
}

int coord_pi_collect(const struct job *job, int n_slots, const double *records, long n_shards, size_t len,
                     struct coord_pi *pi, char *err, size_t errlen) {
    memset(pi, 0, sizeof *pi);
    rec_layout_of(job, n_slots, &pi->lay);
    pi->n_slots = n_slots;
    const struct rec_layout *l = &pi->lay;
    if (!l->n_pi) return 0;
    if (l->len != len) {
        snprintf(err, errlen, "internal: records of %zu doubles, the job's layout has %zu", len, l->len);
        return -1;
    }
    long n = 0;
    for (long s = 0; s < n_shards; s++)
        for (size_t p = 0; p < l->pi_rows; p++) n += records[(size_t)s * len + l->sums + p * l->pi_stride] >= 0;
    const size_t w = (size_t)n_slots * (size_t)l->n_pi;
    pi->ids = malloc((size_t)(n ? n : 1) * sizeof *pi->ids);
    pi->v = malloc((size_t)(n ? n : 1) * w * sizeof *pi->v);
    if (!pi->ids || !pi->v) {
        coord_pi_free(pi);
        snprintf(err, errlen,
                 "out of memory for the per-image values of %ld images (set statistics.resamples: 0 "
                 "and outputs.per_image: false to keep none)",
                 n);
        return -1;
    }
    for (long s = 0; s < n_shards; s++)
        for (size_t p = 0; p < l->pi_rows; p++) {
            const double *row = records + (size_t)s * len + l->sums + p * l->pi_stride;
            if (row[0] < 0) continue;
            pi->ids[pi->n] = (int64_t)row[0];
            memcpy(pi->v + (size_t)pi->n * w, row + REC_PI_FIXED, w * sizeof *pi->v);
            pi->n++;
        }
    return 0;
}

int coord_pi_mean(const struct coord_pi *pi, int s, int f, double *mean, long *images) {
    if (!pi || f < 0 || f >= REC_PI_COUNT || pi->lay.pi_col[f] < 0 || s < 0 || s >= pi->n_slots) return -1;
    double sum = 0;
    long k = 0;
    for (long i = 0; i < pi->n; i++) { /* in id order, as the intervals' means: the same double */
        const double x = cell(pi, i, s, f);
        if (isnan(x)) continue;
        sum += x;
        k++;
    }
    *mean = k ? sum / (double)k : NAN;
    *images = k;
    return 0;
}

void coord_pi_free(struct coord_pi *pi) {
    free(pi->ids);
    free(pi->v);
    free(pi->ci);
    free(pi->pairs);
    memset(pi, 0, sizeof *pi);
}

/* One paired comparison of field f: a − b over the images both define. */
static int pair_stats(const struct job *job, struct coord_pi *pi, struct cs_pair *q, double *d) {
    long m = 0;
    double sum = 0;
    for (long i = 0; i < pi->n; i++) {
        double x = cell(pi, i, q->a, q->field), y = cell(pi, i, q->b, q->field);
        if (isnan(x) || isnan(y)) continue;
        d[m++] = x - y;
        sum += x - y;
    }
    q->images = m;
    q->mean = m ? sum / (double)m : NAN;
    q->lo = q->hi = NAN;
    if (sci_wilcoxon(d, m, &q->stat, &q->p)) return -1;
    return m ? sci_bootstrap_means(d, m, 1, job->seed, job->stats.resamples, job->stats.level, &q->lo, &q->hi) : 0;
}

/* The images where some slot defines field f (a metric's `images:` bound
 * leaves the rest NaN everywhere) into rows; their count. */
static long field_rows(const struct coord_pi *pi, int f, long *rows) {
    long m = 0;
    for (long i = 0; i < pi->n; i++) {
        int any = 0;
        for (int s = 0; s < pi->n_slots; s++) any |= !isnan(cell(pi, i, s, f));
        if (any) rows[m++] = i;
    }
    return m;
}

/* The pairs of field f, whose images are rows[0 … m). Those whose two
 * slots define f on every one of them (the usual case) share one
 * resampling: their images are the same, so are the draws; the others
 * resample their own images one by one (pair_stats). d: scratch of pi->n
 * doubles. */
static int field_pairs(const struct job *job, struct coord_pi *pi, int f, const long *rows, long m, double *d) {
    int n_full = 0, rc = -1;
    int *full = malloc((size_t)(pi->n_pairs ? pi->n_pairs : 1) * sizeof *full);
    double *cols = NULL, *lo = NULL, *hi = NULL;
    if (!full) goto out;
    for (int k = 0; k < pi->n_pairs; k++) {
        const struct cs_pair *q = &pi->pairs[k];
        if (q->field != f) continue;
        int all = m > 0;
        for (long r = 0; r < m && all; r++)
            all = !isnan(cell(pi, rows[r], q->a, f)) && !isnan(cell(pi, rows[r], q->b, f));
        if (all) full[n_full++] = k;
        else if (pair_stats(job, pi, &pi->pairs[k], d)) goto out;
    }
    cols = malloc((size_t)(m ? m : 1) * (size_t)(n_full ? n_full : 1) * sizeof *cols);
    lo = malloc((size_t)(n_full ? n_full : 1) * sizeof *lo);
    hi = malloc((size_t)(n_full ? n_full : 1) * sizeof *hi);
    if (!cols || !lo || !hi) goto out;
    for (int j = 0; j < n_full; j++) {
        struct cs_pair *q = &pi->pairs[full[j]];
        double *c = cols + (size_t)j * (size_t)m, sum = 0;
        for (long r = 0; r < m; r++) sum += c[r] = cell(pi, rows[r], q->a, f) - cell(pi, rows[r], q->b, f);
        q->images = m;
        q->mean = sum / (double)m;
        if (sci_wilcoxon(c, m, &q->stat, &q->p)) goto out;
    }
    if (n_full && sci_bootstrap_means(cols, m, n_full, job->seed, job->stats.resamples, job->stats.level, lo, hi))
        goto out;
    for (int j = 0; j < n_full; j++) {
        pi->pairs[full[j]].lo = lo[j];
        pi->pairs[full[j]].hi = hi[j];
    }
    rc = 0;
out:
    free(full);
    free(cols);
    free(lo);
    free(hi);
    return rc;
}

/* Holm's adjustment over the pairs of field f: one family a metric, so a
 * job's other metrics do not loosen or tighten it. */
static int field_holm(struct coord_pi *pi, int f) {
    double *p = malloc((size_t)(2 * pi->n_pairs + 1) * sizeof *p), *adj = p + pi->n_pairs;
    long n = 0;
    if (!p) return -1;
    for (int k = 0; k < pi->n_pairs; k++)
        if (pi->pairs[k].field == f) p[n++] = pi->pairs[k].p;
    int rc = sci_holm(p, n, adj);
    n = 0;
    for (int k = 0; k < pi->n_pairs && !rc; k++)
        if (pi->pairs[k].field == f) pi->pairs[k].p_holm = adj[n++];
    free(p);
    return rc;
}

int coord_pi_stats(const struct job *job, const struct rec_slot *slots, struct coord_pi *pi, char *err, size_t errlen) {
    const int ns = pi->n_slots;
    if (!pi->lay.n_pi || job->stats.resamples <= 0) return 0;
    int n_on = 0;
    for (int f = 0; f < REC_PI_COUNT; f++) n_on += pi->lay.pi_col[f] >= 0;
    pi->ci = calloc((size_t)ns * REC_PI_COUNT, sizeof *pi->ci);
    pi->pairs = calloc((size_t)(2 * ns * n_on + 1), sizeof *pi->pairs);
    long *rows = malloc((size_t)(pi->n ? pi->n : 1) * sizeof *rows);
    double *cols = malloc((size_t)(pi->n ? pi->n : 1) * (size_t)ns * sizeof *cols);
    double *lo = malloc((size_t)ns * sizeof *lo), *hi = malloc((size_t)ns * sizeof *hi);
    int rc = -1;
    if (!pi->ci || !pi->pairs || !rows || !cols || !lo || !hi) goto oom;
    /* the pairs: each estimator against its method's vanilla, each method
     * against the random control */
    int vanilla_of[JOB_MAX_METHODS], random_slot = -1;
    for (int k = 0; k < JOB_MAX_METHODS; k++) vanilla_of[k] = -1;
    for (int s = 0; s < ns; s++) {
        if (job->methods[slots[s].method].kind == JOB_M_RANDOM) random_slot = random_slot < 0 ? s : random_slot;
        else if (slots[s].estimator == JOB_EST_VANILLA) vanilla_of[slots[s].method] = s;
    }
    for (int s = 0; s < ns; s++) {
        if (job->methods[slots[s].method].kind == JOB_M_RANDOM) continue;
        int against[2] = {slots[s].estimator != JOB_EST_VANILLA ? vanilla_of[slots[s].method] : -1, random_slot};
        for (int k = 0; k < 2; k++)
            for (int f = 0; f < REC_PI_COUNT && against[k] >= 0; f++) {
                if (pi->lay.pi_col[f] < 0) continue;
                struct cs_pair *q = &pi->pairs[pi->n_pairs++];
                q->a = s;
                q->b = against[k];
                q->field = f;
            }
    }
    for (int f = 0; f < REC_PI_COUNT; f++) {
        if (pi->lay.pi_col[f] < 0) continue;
        /* every slot over the same images, one resampling for all */
        const long m = field_rows(pi, f, rows);
        for (int s = 0; s < ns; s++)
            for (long r = 0; r < m; r++) cols[(size_t)s * (size_t)m + (size_t)r] = cell(pi, rows[r], s, f);
        if (m && sci_bootstrap_means(cols, m, ns, job->seed, job->stats.resamples, job->stats.level, lo, hi)) goto oom;
        for (int s = 0; s < ns; s++) {
            struct cs_ci *c = &pi->ci[(size_t)s * REC_PI_COUNT + f];
            double sum = 0;
            long k = 0;
            for (long r = 0; r < m; r++) {
                double x = cols[(size_t)s * (size_t)m + (size_t)r];
                if (isnan(x)) continue;
                sum += x;
                k++;
            }
            c->images = k;
            c->mean = k ? sum / (double)k : NAN;
            c->lo = m ? lo[s] : NAN;
            c->hi = m ? hi[s] : NAN;
        }
        if (field_pairs(job, pi, f, rows, m, cols)) goto oom;
        if (field_holm(pi, f)) goto oom;
    }
    rc = 0;
    goto out;
oom:
    snprintf(err, errlen, "out of memory for the statistics of %ld images (lower statistics.resamples, or 0: none)",
             pi->n);
out:
    free(rows);
    free(cols);
    free(lo);
    free(hi);
    return rc;
}

static const char *slot_method(const struct job *job, const struct rec_slot *sl) {
    return job_method_label(&job->methods[sl->method]);
}

static const char *slot_estimator(const struct rec_slot *sl) {
    return job_estimator_name((enum job_estimator)sl->estimator);
}

void coord_pi_json_slot(struct jbuf *b, const struct coord_pi *pi, int s) {
    if (!pi || !pi->ci) return;
    jb_printf(b, ",\n     \"ci\": {");
    int first = 1;
    for (int f = 0; f < REC_PI_COUNT; f++) {
        if (pi->lay.pi_col[f] < 0) continue;
        const struct cs_ci *c = &pi->ci[(size_t)s * REC_PI_COUNT + f];
        jb_printf(b, "%s\"%s\": {\"mean\": %.10g, \"lo\": %.10g, \"hi\": %.10g, \"images\": %ld}",
                  first ? "" : ",\n            ", rec_pi_name(f), c->mean, c->lo, c->hi, c->images);
        first = 0;
    }
    jb_printf(b, "}");
}

void coord_pi_json_top(struct jbuf *b, const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi) {
    if (!pi || !pi->ci) return;
    jb_printf(b,
              ",\n  \"statistics\": {\"resamples\": %d, \"level\": %.10g, \"seed\": %llu, \"interval\": "
              "\"percentile bootstrap over images, paired across slots\", \"test\": \"wilcoxon signed-rank, "
              "two-sided\"},\n  \"paired\": [",
              job->stats.resamples, job->stats.level, (unsigned long long)job->seed);
    for (int k = 0; k < pi->n_pairs; k++) {
        const struct cs_pair *q = &pi->pairs[k];
        jb_printf(b,
                  "%s\n    {\"metric\": \"%s\", \"method\": \"%s\", \"estimator\": \"%s\", \"vs_method\": \"%s\", "
                  "\"vs_estimator\": \"%s\", \"images\": %ld, \"mean_diff\": %.10g, \"lo\": %.10g, \"hi\": %.10g, "
                  "\"wilcoxon_stat\": %.10g, \"p_value\": %.10g, \"p_holm\": %.10g}",
                  k ? "," : "", rec_pi_name(q->field), slot_method(job, &slots[q->a]), slot_estimator(&slots[q->a]),
                  slot_method(job, &slots[q->b]), slot_estimator(&slots[q->b]), q->images, q->mean, q->lo, q->hi,
                  q->stat, q->p, q->p_holm);
    }
    jb_printf(b, "\n  ]");
}

void coord_pi_csv_header(struct jbuf *b) {
    for (int f = 0; f < REC_PI_COUNT; f++) jb_printf(b, ",%s_lo,%s_hi", rec_pi_name(f), rec_pi_name(f));
}

/* an empty cell for NaN: pandas reads it as NaN */
static void csv_num(struct jbuf *b, double v) {
    if (isfinite(v)) jb_printf(b, ",%.10g", v);
    else jb_printf(b, ",");
}

void coord_pi_csv_slot(struct jbuf *b, const struct coord_pi *pi, int s) {
    for (int f = 0; f < REC_PI_COUNT; f++) {
        const struct cs_ci *c = pi && pi->ci && pi->lay.pi_col[f] >= 0 ? &pi->ci[(size_t)s * REC_PI_COUNT + f] : NULL;
        csv_num(b, c ? c->lo : NAN);
        csv_num(b, c ? c->hi : NAN);
    }
}

static int write_per_image(const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi,
                           const char *run_dir, char *err, size_t errlen) {
    char path[4200];
    const int ns = pi->n_slots;
    int rc = -1;
    double *col = malloc((size_t)(pi->n ? pi->n : 1) * (size_t)ns * sizeof *col);
    struct jbuf slots_csv = {0};
    if (!col) {
        snprintf(err, errlen, "out of memory writing per_image/ (set outputs.per_image: false)");
        return -1;
    }
    snprintf(path, sizeof path, "%s/per_image", run_dir);
    if (fs_mkdir_own(path, err, errlen)) goto out;
    int64_t shape[2] = {pi->n, ns};
    snprintf(path, sizeof path, "%s/per_image/image_ids.npy", run_dir);
    if (npy_write(path, NPY_I64, 1, shape, pi->ids, err, errlen)) goto out;
    jb_printf(&slots_csv, "column,method,estimator\n");
    for (int s = 0; s < ns; s++)
        jb_printf(&slots_csv, "%d,%s,%s\n", s, slot_method(job, &slots[s]), slot_estimator(&slots[s]));
    snprintf(path, sizeof path, "%s/per_image/slots.csv", run_dir);
    if (jb_check(&slots_csv, "per_image/slots.csv", err, errlen) || jb_write_text(&slots_csv, path, err, errlen))
        goto out;
    for (int f = 0; f < REC_PI_COUNT; f++) {
        if (pi->lay.pi_col[f] < 0) continue;
        struct jbuf csv = {0};
        jb_printf(&csv, "image_id,method,estimator,value\n");
        for (long i = 0; i < pi->n; i++)
            for (int s = 0; s < ns; s++) {
                double x = cell(pi, i, s, f);
                col[(size_t)i * (size_t)ns + (size_t)s] = x;
                jb_printf(&csv, "%lld,%s,%s", (long long)pi->ids[i], slot_method(job, &slots[s]),
                          slot_estimator(&slots[s]));
                csv_num(&csv, x);
                jb_printf(&csv, "\n");
            }
        snprintf(path, sizeof path, "%s/per_image/%s.npy", run_dir, rec_pi_name(f));
        int frc = npy_write(path, NPY_F64, 2, shape, col, err, errlen);
        snprintf(path, sizeof path, "%s/per_image/%s.csv", run_dir, rec_pi_name(f));
        if (!frc) frc = jb_check(&csv, "per_image CSV", err, errlen) || jb_write_text(&csv, path, err, errlen);
        jb_free(&csv);
        if (frc) goto out;
    }
    rc = 0;
out:
    free(col);
    jb_free(&slots_csv);
    return rc;
}

int coord_pi_write_files(const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi,
                         const char *run_dir, char *err, size_t errlen) {
    char path[4200];
    if (!pi || !pi->lay.n_pi) return 0;
    if (pi->ci) {
        struct jbuf csv = {0};
        jb_printf(
            &csv,
            "metric,method,estimator,vs_method,vs_estimator,images,mean_diff,lo,hi,wilcoxon_stat,p_value,p_holm\n");
        for (int k = 0; k < pi->n_pairs; k++) {
            const struct cs_pair *q = &pi->pairs[k];
            jb_printf(&csv, "%s,%s,%s,%s,%s,%ld", rec_pi_name(q->field), slot_method(job, &slots[q->a]),
                      slot_estimator(&slots[q->a]), slot_method(job, &slots[q->b]), slot_estimator(&slots[q->b]),
                      q->images);
            csv_num(&csv, q->mean);
            csv_num(&csv, q->lo);
            csv_num(&csv, q->hi);
            csv_num(&csv, q->stat);
            csv_num(&csv, q->p);
            csv_num(&csv, q->p_holm);
            jb_printf(&csv, "\n");
        }
        snprintf(path, sizeof path, "%s/paired.csv", run_dir);
        int rc = jb_check(&csv, "paired.csv", err, errlen) || jb_write_text(&csv, path, err, errlen) ? -1 : 0;
        jb_free(&csv);
        if (rc) return -1;
    }
    return job->out_per_image ? write_per_image(job, slots, pi, run_dir, err, errlen) : 0;
}

/* A p for the printed table; one below double's range underflows to 0
 * (SciPy's too). */
static void p_text(char *buf, size_t n, double p) {
    if (p == 0) snprintf(buf, n, "<1e-300");
    else snprintf(buf, n, "%.3g", p);
}

void coord_pi_print(FILE *f, const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi) {
    if (!pi || !pi->ci || !pi->n_pairs) return;
    /* the first per-image metric only (DiffID's accuracy when it is on);
     * every metric is in paired.csv */
    const int field = pi->pairs[0].field;
    fprintf(f,
            "\nPaired comparisons on %s (a - b over the same images; %.0f%% bootstrap CI; Wilcoxon p, and Holm's "
            "over the metric's comparisons)\n",
            rec_pi_name(field), 100 * job->stats.level);
    fprintf(f, "%-12s %-10s   %-18s %7s %10s %22s %10s %10s\n", "method", "estimator", "vs", "images", "mean_diff",
            "CI", "p", "p (Holm)");
    for (int k = 0; k < pi->n_pairs; k++) {
        const struct cs_pair *q = &pi->pairs[k];
        if (q->field != field) continue;
        char vs[64], ci[64];
        snprintf(vs, sizeof vs, "%s/%s", slot_method(job, &slots[q->b]),
                 job->methods[slots[q->b].method].kind == JOB_M_RANDOM ? "-" : slot_estimator(&slots[q->b]));
        snprintf(ci, sizeof ci, "[%.4f, %.4f]", q->lo, q->hi);
        char pv[32], ph[32];
        p_text(pv, sizeof pv, q->p);
        p_text(ph, sizeof ph, q->p_holm);
        fprintf(f, "%-12s %-10s - %-18s %7ld %10.4f %22s %10s %10s\n", slot_method(job, &slots[q->a]),
                slot_estimator(&slots[q->a]), vs, q->images, q->mean, ci, pv, ph);
    }
    fprintf(f, "(every metric: paired.csv and metrics.json \"paired\")\n");
}
