/* coordinator/coord_report.c — see coord_report.h. Means are formed only
 * here, once, from global sums and the global image count. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* glob */
#endif
#include "coord_report.h"

#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "coord_long.h"
#include "fsutil.h"
#include "json_buf.h"

struct curves {
    double del_acc[JOB_MAX_RATIOS], ins_acc[JOB_MAX_RATIOS], del_logit[JOB_MAX_RATIOS], ins_logit[JOB_MAX_RATIOS];
};

static void slot_curves(const struct job *job, int n_slots, const double *total, int s, struct curves *c) {
    int nr = job->n_diffid_ratios;
    double n = total[REC_IMAGES] > 0 ? total[REC_IMAGES] : 1;
    struct rec_layout l;
    rec_layout_of(job, n_slots, &l);
    const double *r = total + rec_slot_base(&l, s) + l.diffid;
    for (int i = 0; i < nr; i++) {
        c->del_acc[i] = r[i] / n;
        c->ins_acc[i] = r[nr + i] / n;
        c->del_logit[i] = r[2 * nr + i] / n;
        c->ins_logit[i] = r[3 * nr + i] / n;
    }
}

/* Trapezoidal area over the configured ratio grid. */
static double area(const double *x, const double *y, int n) {
    double a = 0;
    for (int i = 1; i < n; i++) a += 0.5 * (y[i] + y[i - 1]) * (x[i] - x[i - 1]);
    return a;
}

static double mean(const double *y, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += y[i];
    return n ? s / n : 0;
}

/* The files every shard skipped (RUN_DIR/skipped/shard-*.txt, written by
 * the workers before their shard was journaled), in shard order. */
static void sb_skipped_files(struct jbuf *b, const char *run_dir) {
    char pat[4200];
    glob_t g;
    int first = 1;
    snprintf(pat, sizeof pat, "%s/skipped/shard-*.txt", run_dir);
    if (glob(pat, 0, NULL, &g) != 0) return;
    for (size_t f = 0; f < g.gl_pathc; f++) {
        FILE *fp = fs_fopen_read(g.gl_pathv[f]);
        char line[4200];
        while (fp && fgets(line, sizeof line, fp)) {
            line[strcspn(line, "\n")] = '\0';
            if (!line[0]) continue;
            jb_printf(b, "%s", first ? "" : ", ");
            jb_string(b, line);
            first = 0;
        }
        if (fp) fclose(fp);
    }
    globfree(&g);
}

/* sum / n, or JSON null when no image defined the value. */
static void sb_ratio(struct jbuf *b, double sum, double n) {
    if (n > 0) jb_printf(b, "%.10g", sum / n);
    else jb_printf(b, "null");
}

/* Pearson from pooled sums (all image × mask pairs of all ranks). */
static double pooled_pearson(const double *q, int *ok) {
    double n = q[REC_SN_PAIRS], sx = q[REC_SN_SX], sy = q[REC_SN_SY];
    double vx = n * q[REC_SN_SXX] - sx * sx, vy = n * q[REC_SN_SYY] - sy * sy;
    *ok = n > 1 && vx > 0 && vy > 0;
    return *ok ? (n * q[REC_SN_SXY] - sx * sy) / sqrt(vx * vy) : 0.0;
}

/* The metrics of docs/metrics.md (sensitivity-n; robustness and faithfulness) for slot block q (JSON members). */
static void sb_extra_metrics(struct jbuf *b, const struct job *job, const struct rec_layout *l, const double *q) {
    if (job->sensn.on) {
        const struct job_sensn *sn = &job->sensn;
        jb_printf(b, ",\n     \"sensitivity_n\": {");
        jb_array(b, "ratios", sn->ratios, sn->n_ratios);
        jb_printf(b, ", \"correlation\": [");
        for (int r = 0; r < sn->n_ratios; r++) {
            const double *v = q + l->sensn + (size_t)r * REC_SN_FIELDS;
            jb_printf(b, "%s", r ? ", " : "");
            sb_ratio(b, v[REC_SN_CORR_SUM], v[REC_SN_CORR_N]);
        }
        jb_printf(b, "], \"pooled_correlation\": [");
        for (int r = 0; r < sn->n_ratios; r++) {
            int ok;
            double p = pooled_pearson(q + l->sensn + (size_t)r * REC_SN_FIELDS, &ok);
            if (ok) jb_printf(b, "%s%.10g", r ? ", " : "", p);
            else jb_printf(b, "%snull", r ? ", " : "");
        }
        jb_printf(b, "], \"images\": %.0f, \"samples\": %d, \"baseline\": \"%s\", \"post_hoc\": \"%s\"}",
                  q[l->sensn + REC_SN_PAIRS] / sn->samples, sn->samples,
                  sn->baseline == JOB_SN_RAND ? "rand" : "dataset_mean", sn->post_hoc == JOB_PH_ABS ? "abs" : "sum");
    }
    /* each amount under the key that names its space, as in the config */
    const struct {
        const struct job_robust *r;
        const char *name, *amount;
        double value;
        size_t off;
    } st[2] = {{&job->lipschitz, "lipschitz", "sigma", job->lipschitz.sigma, l->lips},
               {&job->max_sens, "max_sensitivity", "radius", job->max_sens.radius, l->maxs}};
    for (int k = 0; k < 2; k++) {
        if (!st[k].r->on) continue;
        const double *v = q + st[k].off;
        jb_printf(b, ",\n     \"%s\": {\"mean\": ", st[k].name);
        sb_ratio(b, v[REC_ST_SUM], v[REC_ST_N]);
        jb_printf(b, ", \"max\": ");
        sb_ratio(b, v[REC_ST_MAX] * v[REC_ST_N], v[REC_ST_N]);
        jb_printf(b, ", \"images\": %.0f, \"samples\": %d, \"%s_%s\": %.10g}", v[REC_ST_N], st[k].r->samples,
                  st[k].amount, st[k].r->pixel ? "pixel" : "model", st[k].value);
    }
    if (job->infidelity.on) {
        const double *v = q + l->infid;
        jb_printf(b, ",\n     \"infidelity\": {\"mean\": ");
        sb_ratio(b, v[REC_IF_SUM], v[REC_IF_N]);
        jb_printf(b, ", \"images\": %.0f, \"samples\": %d, \"sigma_%s\": %.10g}", v[REC_IF_N], job->infidelity.samples,
                  job->infidelity.pixel ? "pixel" : "model", job->infidelity.sigma);
    }
    if (job->faith.on) {
        const double *v = q + l->faith;
        jb_printf(b, ",\n     \"faithfulness\": {\"pearson\": ");
        sb_ratio(b, v[REC_FA_PEARSON], v[REC_FA_PEARSON_N]);
        jb_printf(b, ", \"spearman\": ");
        sb_ratio(b, v[REC_FA_SPEARMAN], v[REC_FA_SPEARMAN_N]);
        jb_printf(b, ", \"inv_distance\": ");
        sb_ratio(b, v[REC_FA_INV], v[REC_FA_INV_N]);
        jb_printf(b, ", \"images\": %.0f, \"groups\": %d}", v[REC_FA_PEARSON_N], job->faith.groups);
    }
    if (job->fcorr.on) {
        const double *v = q + l->fcorr;
        jb_printf(b, ",\n     \"faithfulness_correlation\": {\"pearson\": ");
        sb_ratio(b, v[REC_FQ_SUM], v[REC_FQ_N]);
        jb_printf(b, ", \"images\": %.0f, \"subset_size\": %d, \"runs\": %d, \"baseline\": \"%s\"}", v[REC_FQ_N],
                  job->fcorr.size, job->fcorr.runs,
                  job->fcorr.baseline == JOB_FQ_DATASET_MEAN ? "dataset_mean" : "black");
    }
    if (job->road.on) {
        const struct job_road *rd = &job->road;
        const int nr = rd->n_ratios;
        const double *v = q + l->road, n = v[2 * nr] > 0 ? v[2 * nr] : 1;
        double morf[JOB_MAX_RATIOS], lerf[JOB_MAX_RATIOS], mm = 0, ml = 0;
        for (int r = 0; r < nr; r++) {
            mm += morf[r] = v[r] / n;
            ml += lerf[r] = v[nr + r] / n;
        }
        jb_printf(b, ",\n     \"road\": {");
        jb_array(b, "ratios", rd->ratios, nr);
        jb_printf(b, ", ");
        jb_array(b, "morf_acc", morf, nr);
        jb_printf(b, ", ");
        jb_array(b, "lerf_acc", lerf, nr);
        jb_printf(b,
                  ", \"mean\": {\"morf_acc\": %.10g, \"lerf_acc\": %.10g, \"diff\": %.10g}, \"images\": %.0f, "
                  "\"noise\": %.10g, \"abs\": %s}",
                  mm / nr, ml / nr, (ml - mm) / nr, v[2 * nr], rd->noise, rd->abs_values ? "true" : "false");
    }
    if (job->pointing.on) {
        const double *v = q + l->point;
        jb_printf(b, ",\n     \"pointing_game\": {\"accuracy\": ");
        sb_ratio(b, v[REC_PG_HITS], v[REC_PG_N]);
        jb_printf(b, ", \"energy\": ");
        sb_ratio(b, v[REC_PG_ENERGY], v[REC_PG_ENERGY_N]);
        jb_printf(b, ", \"images\": %.0f, \"tolerance\": %.10g}", v[REC_PG_N], job->pointing.tolerance);
    }
    if (job->fest.on) {
        const double *v = q + l->fest;
        jb_printf(b, ",\n     \"faithfulness_estimate\": {\"pearson\": ");
        sb_ratio(b, v[REC_FQ_SUM], v[REC_FQ_N]);
        jb_printf(b, ", \"images\": %.0f, \"features_in_step\": %d, \"baseline\": \"%s\"}", v[REC_FQ_N], job->fest.size,
                  job->fest.baseline == JOB_FQ_DATASET_MEAN ? "dataset_mean" : "black");
    }
}

/* One value of summary.csv: empty when undefined (pandas reads NaN). */
static void csv_ratio(struct jbuf *b, double sum, double n) {
    if (n > 0) jb_printf(b, ",%.10g", sum / n);
    else jb_printf(b, ",");
}

/* Slot s's Diff-ROAR from the fine-tunes' accuracies (roar_task_of order:
 * per slot, per fraction, bottom then top). */
static void slot_roar(const struct job *job, const double *acc, int s, double *top, double *bot, double *diff) {
    const int nf = job->roar.n_fractions;
    for (int f = 0; f < nf; f++) {
        bot[f] = acc[((size_t)s * nf + f) * 2];
        top[f] = acc[((size_t)s * nf + f) * 2 + 1];
        diff[f] = top[f] - bot[f];
    }
}

static void sb_roar(struct jbuf *b, const struct job *job, const double *acc, int s) {
    const int nf = job->roar.n_fractions;
    double top[JOB_MAX_RATIOS], bot[JOB_MAX_RATIOS], diff[JOB_MAX_RATIOS];
    slot_roar(job, acc, s, top, bot, diff);
    jb_printf(b, "\"roar\": {");
    jb_array(b, "fractions", job->roar.fractions, nf);
    jb_printf(b, ", ");
    jb_array(b, "top_acc", top, nf);
    jb_printf(b, ", ");
    jb_array(b, "bottom_acc", bot, nf);
    jb_printf(b, ", ");
    jb_array(b, "diff_roar", diff, nf);
    jb_printf(b, "}");
}

/* roar.json and roar.csv: the Diff-ROAR table alone, for scripts and the report. */
static int write_roar(const struct job *job, const struct rec_slot *slots, int n_slots, const double *acc,
                      const char *run_dir, char *err, size_t errlen) {
    struct jbuf js = {0}, csv = {0};
    char path[4200];
    int rc = -1;
    jb_printf(&js, "{\n  \"config_sha256\": \"%s\", \"epochs\": %d, \"lr\": %.10g,\n  \"results\": [", job->sha256,
              job->roar.epochs, job->roar.lr);
    jb_printf(&csv, "method,estimator,fraction,top_acc,bottom_acc,diff_roar\n");
    for (int s = 0; s < n_slots; s++) {
        const char *mn = job_method_label(&job->methods[slots[s].method]);
        const char *en = job_estimator_name((enum job_estimator)slots[s].estimator);
        jb_printf(&js, "%s\n    {\"method\": ", s ? "," : "");
        jb_string(&js, mn); /* a method's label is the user's text */
        jb_printf(&js, ", \"estimator\": \"%s\", ", en);
        sb_roar(&js, job, acc, s);
        jb_printf(&js, "}");
        double top[JOB_MAX_RATIOS], bot[JOB_MAX_RATIOS], diff[JOB_MAX_RATIOS];
        slot_roar(job, acc, s, top, bot, diff);
        for (int f = 0; f < job->roar.n_fractions; f++)
            jb_printf(&csv, "%s,%s,%.10g,%.10g,%.10g,%.10g\n", mn, en, job->roar.fractions[f], top[f], bot[f], diff[f]);
    }
    jb_printf(&js, "\n  ]\n}\n");
    if (jb_check(&js, "roar.json", err, errlen) || jb_check(&csv, "roar.csv", err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/roar.json", run_dir);
    if (jb_write_json(&js, path, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/roar.csv", run_dir);
    if (jb_write_text(&csv, path, err, errlen)) goto out;
    rc = 0;
out:
    free(js.p);
    free(csv.p);
    return rc;
}

void coord_print_roar(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots, const double *acc) {
    const int nf = job->roar.n_fractions;
    fprintf(f, "\nDiff-ROAR = top-k kept accuracy - bottom-k kept accuracy (higher is better)\n%-12s %-10s", "method",
            "estimator");
    for (int k = 0; k < nf; k++) fprintf(f, "   k=%-5g", job->roar.fractions[k]);
    fprintf(f, "\n");
    for (int s = 0; s < n_slots; s++) {
        double top[JOB_MAX_RATIOS], bot[JOB_MAX_RATIOS], diff[JOB_MAX_RATIOS];
        slot_roar(job, acc, s, top, bot, diff);
        const struct job_method *m = &job->methods[slots[s].method];
        fprintf(f, "%-12s %-10s", job_method_label(m),
                m->kind == JOB_M_RANDOM ? "-" : job_estimator_name((enum job_estimator)slots[s].estimator));
        for (int k = 0; k < nf; k++) fprintf(f, " %9.4f", diff[k]);
        fprintf(f, "\n");
    }
}

/* What the report draws the example maps with: outputs.heatmap and the ids
 * of outputs.examples in the order listed (absent: one image per class). */
static void outputs_json(struct jbuf *b, const struct job *job) {
    jb_printf(b, "  \"outputs\": {\"heatmap\": \"%s\"", job->out_heatmap == JOB_HEATMAP_SIGNED ? "signed" : "abs");
    if (job->n_examples) {
        jb_printf(b, ", \"examples\": [");
        for (int i = 0; i < job->n_examples; i++) jb_printf(b, "%s%ld", i ? ", " : "", job->examples[i]);
        jb_printf(b, "]");
    }
    jb_printf(b, "},\n");
}

/* metrics.json's run-level keys, up to the opening of "results". */
static void metrics_head_json(struct jbuf *b, const struct job *job, const double *total,
                              const struct coord_run_info *info) {
    const double n = total[REC_IMAGES];
    jb_printf(b, "{\n  \"run_id\": ");
    jb_string(b, info->run_id);
    jb_printf(b, ",\n  \"config\": ");
    jb_string(b, job->file);
    jb_printf(b, ",\n  \"config_sha256\": \"%s\",\n  \"images\": %.0f,\n  \"ranks\": %d,\n", job->sha256, n,
              info->ranks);
    jb_printf(b, "  \"accuracy\": %.10g,\n  \"device\": ", n > 0 ? total[REC_CORRECT] / n : 0.0);
    jb_string(b, info->device);
    jb_printf(b, ",\n  \"precision\": ");
    jb_string(b, job->precision);
    jb_printf(b, ",\n  \"libtorch\": ");
    jb_string(b, info->libtorch);
    jb_printf(b, ",\n");
    jb_printf(b, "  \"wall_seconds\": %.3f,\n  \"images_per_second\": %.3f,\n  \"resumed_shards\": %ld,\n",
              info->wall_seconds, info->wall_seconds > 0 ? (double)info->images_computed / info->wall_seconds : 0.0,
              info->resumed_shards);
    /* The dispatch overhead of this invocation (issue #6: under 1% of wall). */
    jb_printf(b, "  \"coordinator_seconds\": %.3f,\n", info->coordinator_seconds);
    /* What each image cost, from the shim's ledger (docs/outputs.md): copies
     * between host and device, and samples through the model. */
    {
        const double per = n > 0 ? 1.0 / n : 0.0;
        jb_printf(b,
                  "  \"transfer\": {\"h2d_bytes_per_image\": %.1f, \"d2h_bytes_per_image\": %.1f, "
                  "\"image_bytes\": %ld, \"syncs_per_image\": %.3f, \"d2h_syncs_per_image\": %.3f},\n",
                  total[REC_H2D] * per, total[REC_D2H] * per, info->image_bytes, total[REC_SYNCS] * per,
                  total[REC_D2H_SYNCS] * per);
        jb_printf(b, "  \"passes\": {\"forward_samples_per_image\": %.3f, \"backward_samples_per_image\": %.3f},\n",
                  total[REC_FWD] * per, total[REC_BWD] * per);
    }
    jb_printf(b, "  \"dataset\": {\"name\": ");
    jb_string(b, job->dataset_name);
    jb_printf(b, ", \"split\": ");
    jb_string(b, job->split); /* the user's text */
    jb_printf(b, "},\n");
    outputs_json(b, job);
    /* Only under on_error: skip, so other runs' metrics.json keep their keys. */
    if (job->ds_skip_errors) {
        jb_printf(b, "  \"skipped_images\": %.0f,\n  \"skipped_files\": [", (double)info->images_planned - n);
        sb_skipped_files(b, info->run_dir);
        jb_printf(b, "],\n");
    }
    jb_printf(b, "  \"model\": ");
    jb_string(b, job->model_path);
    jb_printf(b, ",\n  \"seed\": %llu,\n  \"results\": [", (unsigned long long)job->seed);
}

/* A slot's "diffid" object in metrics.json and its rows of metrics.csv. */
static void slot_diffid_out(struct jbuf *b, struct jbuf *csv, const struct job *job, const struct job_method *m,
                            const char *mn, const char *en, const struct curves *cv, const double *diff_acc,
                            const double *diff_logit) {
    const int nr = job->n_diffid_ratios;
    jb_printf(b, ",\n     \"diffid\": {");
    jb_array(b, "ratios", job->diffid_ratios, nr);
    jb_printf(b, ",\n        ");
    jb_array(b, "deletion_acc", cv->del_acc, nr);
    jb_printf(b, ",\n        ");
    jb_array(b, "insertion_acc", cv->ins_acc, nr);
    jb_printf(b, ",\n        ");
    jb_array(b, "diff_acc", diff_acc, nr);
    jb_printf(b, ",\n        ");
    jb_array(b, "deletion_logit", cv->del_logit, nr);
    jb_printf(b, ",\n        ");
    jb_array(b, "insertion_logit", cv->ins_logit, nr);
    jb_printf(b, ",\n        ");
    jb_array(b, "diff_logit", diff_logit, nr);
    jb_printf(b,
              ",\n        \"auc\": {\"deletion_acc\": %.10g, \"insertion_acc\": %.10g, \"diff_acc\": %.10g, "
              "\"deletion_logit\": %.10g, \"insertion_logit\": %.10g, \"diff_logit\": %.10g},",
              area(job->diffid_ratios, cv->del_acc, nr), area(job->diffid_ratios, cv->ins_acc, nr),
              area(job->diffid_ratios, diff_acc, nr), area(job->diffid_ratios, cv->del_logit, nr),
              area(job->diffid_ratios, cv->ins_logit, nr), area(job->diffid_ratios, diff_logit, nr));
    jb_printf(b, "\n        \"mean\": {\"diff_acc\": %.10g, \"diff_logit\": %.10g}}", mean(diff_acc, nr),
              mean(diff_logit, nr));
    for (int i = 0; i < nr; i++)
        jb_printf(csv, "%s,%s,%d,%d,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", mn, en, m->refs, m->steps,
                  job_objective_name(m->objective), job->diffid_ratios[i], cv->del_acc[i], cv->ins_acc[i], diff_acc[i],
                  cv->del_logit[i], cv->ins_logit[i], diff_logit[i]);
}

/* summary.csv: one row per (method, estimator), every metric's headline
 * (the intervals' columns follow, from coord_pi_csv_slot). */
static void summary_row(struct jbuf *sum, const struct job *job, const struct rec_layout *lay, const double *q,
                        const struct job_method *m, const char *mn, const char *en, const double *diff_acc,
                        const double *diff_logit) {
    const int nr = job->n_diffid_ratios;
    jb_printf(sum, "%s,%s,%d,%d,%s", mn, en, m->refs, m->steps, job_objective_name(m->objective));
    if (job->diffid) jb_printf(sum, ",%.10g,%.10g", mean(diff_acc, nr), mean(diff_logit, nr));
    else jb_printf(sum, ",,");
    double cs = 0, cn = 0;
    for (int r = 0; job->sensn.on && r < job->sensn.n_ratios; r++) {
        const double *v = q + lay->sensn + (size_t)r * REC_SN_FIELDS;
        if (v[REC_SN_CORR_N] > 0) {
            cs += v[REC_SN_CORR_SUM] / v[REC_SN_CORR_N];
            cn += 1;
        }
    }
    csv_ratio(sum, cs, cn);
    const double *lp = q + lay->lips, *ms = q + lay->maxs, *inf = q + lay->infid, *fa = q + lay->faith;
    csv_ratio(sum, job->lipschitz.on ? lp[REC_ST_SUM] : 0, job->lipschitz.on ? lp[REC_ST_N] : 0);
    csv_ratio(sum, job->lipschitz.on ? lp[REC_ST_MAX] : 0, job->lipschitz.on && lp[REC_ST_N] > 0);
    csv_ratio(sum, job->max_sens.on ? ms[REC_ST_SUM] : 0, job->max_sens.on ? ms[REC_ST_N] : 0);
    csv_ratio(sum, job->max_sens.on ? ms[REC_ST_MAX] : 0, job->max_sens.on && ms[REC_ST_N] > 0);
    csv_ratio(sum, job->infidelity.on ? inf[REC_IF_SUM] : 0, job->infidelity.on ? inf[REC_IF_N] : 0);
    csv_ratio(sum, job->faith.on ? fa[REC_FA_PEARSON] : 0, job->faith.on ? fa[REC_FA_PEARSON_N] : 0);
    csv_ratio(sum, job->faith.on ? fa[REC_FA_SPEARMAN] : 0, job->faith.on ? fa[REC_FA_SPEARMAN_N] : 0);
    const double *fc = q + lay->fcorr, *fe = q + lay->fest;
    csv_ratio(sum, job->fcorr.on ? fc[REC_FQ_SUM] : 0, job->fcorr.on ? fc[REC_FQ_N] : 0);
    csv_ratio(sum, job->fest.on ? fe[REC_FQ_SUM] : 0, job->fest.on ? fe[REC_FQ_N] : 0);
    double road_diff = 0, road_n = 0;
    for (int r = 0; job->road.on && r < job->road.n_ratios; r++)
        road_diff += (q[lay->road + job->road.n_ratios + r] - q[lay->road + r]) / job->road.n_ratios;
    if (job->road.on) road_n = q[lay->road + 2 * job->road.n_ratios];
    csv_ratio(sum, road_diff, road_n);
    const double *pg = q + lay->point;
    csv_ratio(sum, job->pointing.on ? pg[REC_PG_HITS] : 0, job->pointing.on ? pg[REC_PG_N] : 0);
    csv_ratio(sum, job->pointing.on ? pg[REC_PG_ENERGY] : 0, job->pointing.on ? pg[REC_PG_ENERGY_N] : 0);
}

int coord_write_metrics(const struct job *job, const struct rec_slot *slots, int n_slots, const double *total,
                        const struct coord_run_info *info, char *err, size_t errlen) {
    int nr = job->n_diffid_ratios;
    struct jbuf b = {0}, csv = {0}, sum = {0};
    struct rec_layout lay;
    rec_layout_of(job, n_slots, &lay);
    jb_printf(&sum, "method,estimator,refs,steps,objective,diffid_diff_acc,diffid_diff_logit,"
                    "sensitivity_n_correlation,lipschitz_mean,lipschitz_max,max_sensitivity_mean,"
                    "max_sensitivity_max,infidelity_mean,faithfulness_pearson,faithfulness_spearman,"
                    "faithfulness_correlation,faithfulness_estimate,road_diff,pointing_game_accuracy,"
                    "pointing_game_energy");
    coord_pi_csv_header(&sum); /* the intervals, empty where there are none */
    jb_printf(&sum, "\n");
    metrics_head_json(&b, job, total, info);
    jb_printf(&csv, "method,estimator,refs,steps,objective,ratio,deletion_acc,insertion_acc,diff_acc,"
                    "deletion_logit,insertion_logit,diff_logit\n");
    for (int s = 0; s < n_slots; s++) {
        const struct job_method *m = &job->methods[slots[s].method];
        struct curves c;
        slot_curves(job, n_slots, total, s, &c);
        double diff_acc[JOB_MAX_RATIOS], diff_logit[JOB_MAX_RATIOS];
        for (int i = 0; i < nr; i++) {
            diff_acc[i] = c.ins_acc[i] - c.del_acc[i];
            diff_logit[i] = c.ins_logit[i] - c.del_logit[i];
        }
        const char *mn = job_method_label(m), *en = job_estimator_name((enum job_estimator)slots[s].estimator);
        jb_printf(&b, "%s\n    {\"method\": ", s ? "," : "");
        jb_string(&b, mn); /* a method's label is the user's text */
        jb_printf(&b, ", \"estimator\": \"%s\", \"refs\": %d, \"steps\": %d, \"objective\": \"%s\"", en, m->refs,
                  m->steps, job_objective_name(m->objective));
        if (job->diffid) slot_diffid_out(&b, &csv, job, m, mn, en, &c, diff_acc, diff_logit);
        const double *q = total + rec_slot_base(&lay, s);
        sb_extra_metrics(&b, job, &lay, q);
        if (info->roar_acc) {
            jb_printf(&b, ",\n     ");
            sb_roar(&b, job, info->roar_acc, s);
        }
        coord_pi_json_slot(&b, info->pi, s);
        jb_printf(&b, "}");
        summary_row(&sum, job, &lay, q, m, mn, en, diff_acc, diff_logit);
        coord_pi_csv_slot(&sum, info->pi, s);
        jb_printf(&sum, "\n");
    }
    jb_printf(&b, "\n  ]");
    coord_pi_json_top(&b, job, slots, info->pi);
    jb_printf(&b, "\n}\n");
    int rc = -1;
    char path[4096];
    if (!b.p || !csv.p || !sum.p || b.lost || csv.lost || sum.lost) {
        snprintf(err, errlen, "out of memory writing metrics (nothing written; free memory and run again)");
        goto out;
    }
    snprintf(path, sizeof path, "%s/metrics.json", info->run_dir);
    if (jb_write_json(&b, path, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/metrics.csv", info->run_dir);
    if (jb_write_text(&csv, path, err, errlen)) goto out;
    snprintf(path, sizeof path, "%s/summary.csv", info->run_dir);
    if (jb_write_text(&sum, path, err, errlen)) goto out;
    if (coord_long_write(job, slots, n_slots, total, info->pi, info->run_dir, err, errlen)) goto out;
    if (info->roar_acc && write_roar(job, slots, n_slots, info->roar_acc, info->run_dir, err, errlen)) goto out;
    if (coord_pi_write_files(job, slots, info->pi, info->run_dir, err, errlen)) goto out;
    rc = 0;
out:
    free(b.p);
    free(csv.p);
    free(sum.p);
    return rc;
}

static void pr_ratio(FILE *f, double sum, double n) {
    if (n > 0) fprintf(f, " %11.4g", sum / n);
    else fprintf(f, " %11s", "-");
}

/* The robustness / faithfulness metrics, one row per slot (means over the
 * images each metric covered; sensitivity-n averaged over its ratios). */
static void print_extra_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots,
                              const double *total) {
    struct rec_layout l;
    rec_layout_of(job, n_slots, &l);
    if (!job->sensn.on && !job->lipschitz.on && !job->max_sens.on && !job->infidelity.on && !job->faith.on) return;
    fprintf(f, "Robustness and faithfulness (lower is more robust; higher correlation is more faithful)\n");
    fprintf(f, "%-12s %-10s %11s %11s %11s %11s %11s %11s\n", "method", "estimator", "sens_n_corr", "lipschitz",
            "max_sens", "infidelity", "faith_pear", "faith_spear");
    for (int s = 0; s < n_slots; s++) {
        const struct job_method *m = &job->methods[slots[s].method];
        const double *q = total + rec_slot_base(&l, s);
        fprintf(f, "%-12s %-10s", job_method_label(m),
                m->kind == JOB_M_RANDOM ? "-" : job_estimator_name((enum job_estimator)slots[s].estimator));
        double cs = 0, cn = 0;
        for (int r = 0; job->sensn.on && r < job->sensn.n_ratios; r++) {
            const double *v = q + l.sensn + (size_t)r * REC_SN_FIELDS;
            if (v[REC_SN_CORR_N] > 0) {
                cs += v[REC_SN_CORR_SUM] / v[REC_SN_CORR_N];
                cn += 1;
            }
        }
        pr_ratio(f, cs, cn);
        pr_ratio(f, job->lipschitz.on ? q[l.lips + REC_ST_SUM] : 0, job->lipschitz.on ? q[l.lips + REC_ST_N] : 0);
        pr_ratio(f, job->max_sens.on ? q[l.maxs + REC_ST_SUM] : 0, job->max_sens.on ? q[l.maxs + REC_ST_N] : 0);
        pr_ratio(f, job->infidelity.on ? q[l.infid + REC_IF_SUM] : 0, job->infidelity.on ? q[l.infid + REC_IF_N] : 0);
        pr_ratio(f, job->faith.on ? q[l.faith + REC_FA_PEARSON] : 0, job->faith.on ? q[l.faith + REC_FA_PEARSON_N] : 0);
        pr_ratio(f, job->faith.on ? q[l.faith + REC_FA_SPEARMAN] : 0,
                 job->faith.on ? q[l.faith + REC_FA_SPEARMAN_N] : 0);
        fprintf(f, "\n");
    }
}

static void print_diffid_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots,
                               const double *total);

/* ROAD: mean over ratios of the MoRF and LeRF accuracies, and LeRF − MoRF */
static void print_road_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots,
                             const double *total) {
    struct rec_layout l;
    rec_layout_of(job, n_slots, &l);
    const int nr = job->road.n_ratios;
    fprintf(f, "ROAD (mean over %d ratios; Diff = LeRF - MoRF accuracy, higher is better)\n", nr);
    fprintf(f, "%-12s %-10s %9s %9s %9s\n", "method", "estimator", "MoRF_acc", "LeRF_acc", "Diff");
    for (int s = 0; s < n_slots; s++) {
        const struct job_method *m = &job->methods[slots[s].method];
        const double *v = total + rec_slot_base(&l, s) + l.road, n = v[2 * nr] > 0 ? v[2 * nr] : 1;
        double mo = 0, le = 0;
        for (int r = 0; r < nr; r++) {
            mo += v[r] / n / nr;
            le += v[nr + r] / n / nr;
        }
        fprintf(f, "%-12s %-10s %9.4f %9.4f %9.4f\n", job_method_label(m),
                m->kind == JOB_M_RANDOM ? "-" : job_estimator_name((enum job_estimator)slots[s].estimator), mo, le,
                le - mo);
    }
}

static void print_pointing_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots,
                                 const double *total) {
    struct rec_layout l;
    rec_layout_of(job, n_slots, &l);
    fprintf(f, "Pointing game (maximum within %g px of a box of the label; energy = share of sum|A| inside)\n",
            job->pointing.tolerance);
    fprintf(f, "%-12s %-10s %9s %9s %7s\n", "method", "estimator", "accuracy", "energy", "images");
    for (int s = 0; s < n_slots; s++) {
        const struct job_method *m = &job->methods[slots[s].method];
        const double *v = total + rec_slot_base(&l, s) + l.point;
        fprintf(f, "%-12s %-10s", job_method_label(m),
                m->kind == JOB_M_RANDOM ? "-" : job_estimator_name((enum job_estimator)slots[s].estimator));
        pr_ratio(f, v[REC_PG_HITS], v[REC_PG_N]);
        pr_ratio(f, v[REC_PG_ENERGY], v[REC_PG_ENERGY_N]);
        fprintf(f, " %7.0f\n", v[REC_PG_N]);
    }
}

void coord_print_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots, const double *total) {
    double n = total[REC_IMAGES];
    fprintf(f, "\n%.0f images, clean accuracy %.4f\n", n, n > 0 ? total[REC_CORRECT] / n : 0.0);
    if (job->diffid) print_diffid_table(f, job, slots, n_slots, total);
    print_extra_table(f, job, slots, n_slots, total);
    if (job->road.on) print_road_table(f, job, slots, n_slots, total);
    if (job->pointing.on) print_pointing_table(f, job, slots, n_slots, total);
}

static void print_diffid_table(FILE *f, const struct job *job, const struct rec_slot *slots, int n_slots,
                               const double *total) {
    int nr = job->n_diffid_ratios;
    fprintf(f, "DiffID (mean over %d ratios; Diff = insertion - deletion, higher is better)\n", nr);
    fprintf(f, "%-12s %-10s %9s %9s %9s %11s %11s %11s\n", "method", "estimator", "del_acc", "ins_acc", "Diff_acc",
            "del_logit", "ins_logit", "Diff_logit");
    for (int s = 0; s < n_slots; s++) {
        const struct job_method *m = &job->methods[slots[s].method];
        struct curves c;
        slot_curves(job, n_slots, total, s, &c);
        double da = mean(c.del_acc, nr), ia = mean(c.ins_acc, nr), dl = mean(c.del_logit, nr),
               il = mean(c.ins_logit, nr);
        fprintf(f, "%-12s %-10s %9.4f %9.4f %9.4f %11.4f %11.4f %11.4f\n", job_method_label(m),
                m->kind == JOB_M_RANDOM ? "-" : job_estimator_name((enum job_estimator)slots[s].estimator), da, ia,
                ia - da, dl, il, il - dl);
    }
}
