/* src/cmd_sweep_merge.c — `recal sweep-merge CONFIG --run-dir DIR`: the
 * table of a sweep, one row per grid point, from DIR/points/<i>/. Run by the
 * merge job `recal submit` queues after the array (afterany, so it also runs
 * when points failed); by hand it re-creates the table. No MPI. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "coord_long.h"
#include "fsutil.h"
#include "json_buf.h"
#include "json_read.h"
#include "job.h"

static const char *HELP = "usage: recal sweep-merge CONFIG.yaml --run-dir DIR [--set key=value]...\n"
                          "\n"
                          "Write DIR/sweep.json and DIR/sweep.csv for the config's sweep: one row per grid point with\n"
                          "its swept values, status (done: DIR/points/<i>/metrics.json exists; failed otherwise),\n"
                          "images, accuracy, and per method/estimator the DiffID means over the ratios (diff_acc,\n"
                          "diff_logit, as recal run's table prints them). CONFIG and --set as given to recal submit.\n"
                          "And DIR/sweep_long.csv: every done point's summary_long.csv (every metric, its interval\n"
                          "and image count), each row after the point's index and swept values.\n"
                          "Exit 0 when every point is done, 3 when some are not (the tables list them; resubmit\n"
                          "point i with: sbatch --array=i DIR/submit.sbatch, then run this again).\n";

#define MERGE_MAX_COLS 64

struct merge_cols {
    int n;
    char name[MERGE_MAX_COLS][96]; /* "method/estimator" */
};

struct point_row {
    int done;
    double images, accuracy;
    double acc[MERGE_MAX_COLS], logit[MERGE_MAX_COLS];
    int have[MERGE_MAX_COLS];
};

static int col_index(struct merge_cols *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return i;
    if (c->n == MERGE_MAX_COLS) return -1;
    snprintf(c->name[c->n], sizeof c->name[0], "%s", name);
    return c->n++;
}

/* A point's row from its metrics.json, read as JSON (util/json_read.h):
 * images, accuracy, and per result its DiffID means over the ratios (the
 * numbers recal run's table prints). 0, or -1 with a message. */
static int read_point(const char *path, struct merge_cols *c, struct point_row *r, char *err, size_t errlen) {
    char *text, why[512];
    size_t n;
    struct json_value *doc = NULL;
    if (fs_read_all(path, &text, &n, err, errlen)) return -1;
    int rc = json_parse(text, n, &doc, why, sizeof why);
    free(text);
    if (rc) {
        snprintf(err, errlen, "%s: not JSON (%.200s)", path, why);
        return -1;
    }
    r->images = json_num(json_get(doc, "images"));
    r->accuracy = json_num(json_get(doc, "accuracy"));
    const struct json_value *res = json_get(doc, "results");
    if (isnan(r->images) || isnan(r->accuracy) || !res || res->kind != JSON_ARRAY) {
        snprintf(err, errlen, "%s: no images, accuracy or results", path);
        json_free(doc);
        return -1;
    }
    for (size_t i = 0; i < res->n; i++) {
        const char *m = json_str(json_get(res->kids[i], "method")), *e = json_str(json_get(res->kids[i], "estimator"));
        double acc = json_num(json_path(res->kids[i], "diffid.mean.diff_acc"));
        double logit = json_num(json_path(res->kids[i], "diffid.mean.diff_logit"));
        if (!m || !e || isnan(acc) || isnan(logit)) continue; /* no DiffID, or undefined: not a 0 */
        /* the same method twice (other refs, steps or objective): its
         * second result is column "method/estimator#2", and so on */
        char name[96];
        int ci = -1;
        for (int k = 1; k < 100; k++) {
            if (k == 1) snprintf(name, sizeof name, "%.40s/%.40s", m, e);
            else snprintf(name, sizeof name, "%.40s/%.40s#%d", m, e, k);
            ci = col_index(c, name);
            if (ci < 0 || !r->have[ci]) break;
        }
        if (ci < 0) continue;
        r->acc[ci] = acc;
        r->logit[ci] = logit;
        r->have[ci] = 1;
    }
    json_free(doc);
    return 0;
}

/* A swept value keeps its YAML type in sweep.json: a number as a JSON number
 * (written as given when it already is JSON's grammar, else by %.15g: ".5",
 * "+3", "1." are YAML numbers but not JSON ones), true/false as booleans,
 * anything else as a string. */
static int json_number_text(const char *v) {
    const char *p = v;
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9') p++;
    else return 0;
    if (*p == '.') {
        if (!(*++p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!(*p >= '0' && *p <= '9')) return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == '\0';
}

static void json_value(struct jbuf *j, const char *v) {
    char *end;
    double d = strtod(v, &end);
    if (json_number_text(v)) jb_printf(j, "%s", v);
    else if (*v && !*end && isfinite(d) && !strpbrk(v, "xXpP")) jb_printf(j, "%.15g", d);
    else if (!strcmp(v, "true") || !strcmp(v, "false")) jb_printf(j, "%s", v);
    else jb_string(j, v);
}

/* CSV field (RFC 4180): quoted when it holds a comma, quote or space. */
static void csv_str(struct jbuf *c, const char *s) {
    if (!strpbrk(s, ",\" \n")) {
        jb_printf(c, "%s", s);
        return;
    }
    jb_printf(c, "\"");
    for (; *s; s++) *s == '"' ? jb_printf(c, "\"\"") : jb_printf(c, "%c", *s);
    jb_printf(c, "\"");
}

/* One done point's rows of DIR/sweep_long.csv: its summary_long.csv's rows,
 * each after "point,<swept values>". 0; 1 when the point has no such file
 * (written by an older recal: left out, said on stderr); -1 with a message. */
static int long_point(struct jbuf *c, const struct job *job, const char *dir, long p,
                      char (*pt)[2 * JOB_SWEEP_TEXT + 2], char *err, size_t errlen) {
    char path[4200], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/points/%ld/summary_long.csv", dir, p);
    const size_t hl = strlen(COORD_LONG_HEADER);
    if (!fs_exists(path)) return 1;
    if (fs_read_all(path, &text, &n, err, errlen)) return -1;
    if (n < hl + 1 || memcmp(text, COORD_LONG_HEADER "\n", hl + 1)) {
        free(text);
        return 1;
    }
    job_sweep_point(job, p, pt);
    for (char *line = text + hl + 1; *line;) {
        const char *end = strchr(line, '\n');
        const size_t len = end ? (size_t)(end - line) : strlen(line); /* the last line may lack its newline */
        if (len) {
            jb_printf(c, "%ld", p);
            for (int k = 0; k < job->sweep.n_keys; k++) {
                jb_printf(c, ",");
                csv_str(c, strchr(pt[k], '=') + 1);
            }
            jb_printf(c, ",%.*s\n", (int)len, line);
        }
        line += len + (end != NULL);
    }
    free(text);
    return 0;
}

/* DIR/sweep_long.csv from the done points. 0, or -1 with a message. */
static int write_sweep_long(const struct job *job, const char *dir, const struct point_row *rows, char *err,
                            size_t errlen) {
    const struct job_sweep *sw = &job->sweep;
    char(*pt)[2 * JOB_SWEEP_TEXT + 2] = calloc(JOB_MAX_SWEEP_KEYS, sizeof *pt);
    struct jbuf c = {0};
    int rc = -1;
    if (!pt) {
        snprintf(err, errlen, "out of memory for sweep_long.csv");
        return -1;
    }
    jb_printf(&c, "point");
    for (int k = 0; k < sw->n_keys; k++) {
        jb_printf(&c, ",");
        csv_str(&c, sw->key[k]);
    }
    jb_printf(&c, ",%s\n", COORD_LONG_HEADER);
    for (long p = 0; p < sw->n_points; p++) {
        if (!rows[p].done) continue;
        const int r = long_point(&c, job, dir, p, pt, err, errlen);
        if (r < 0) goto out;
        if (r > 0)
            fprintf(stderr,
                    "recal sweep-merge: point %ld has no summary_long.csv of this recal's form (made by another "
                    "recal version): it is in sweep.csv but not in sweep_long.csv; run the point again to include it\n",
                    p);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/sweep_long.csv", dir);
    rc = jb_check(&c, "sweep_long.csv", err, errlen) || jb_write_text(&c, path, err, errlen) ? -1 : 0;
out:
    jb_free(&c);
    free(pt);
    return rc;
}

/* What sweep-merge holds: the sweep's job, the DiffID columns met in the
 * points' metrics.json, one row per point. */
struct merge {
    struct job job;
    struct merge_cols cols;
    struct point_row *rows;
    long n_done;
};

/* Every point's metrics.json read into mg->rows (a point without one, or
 * with one that does not read, counts as failed). */
static int merge_read_points(struct merge *mg, const char *dir, char *err, size_t errlen) {
    const struct job_sweep *sw = &mg->job.sweep;
    char path[4200];
    if (!(mg->rows = calloc((size_t)sw->n_points, sizeof *mg->rows))) {
        snprintf(err, errlen, "out of memory for %ld points", sw->n_points);
        return -1;
    }
    for (long p = 0; p < sw->n_points; p++) {
        snprintf(path, sizeof path, "%s/points/%ld/metrics.json", dir, p);
        if (!fs_exists(path)) continue; /* no metrics: a failed point */
        if (read_point(path, &mg->cols, &mg->rows[p], err, errlen)) {
            fprintf(stderr, "recal sweep-merge: %s; point %ld counted as failed\n", err, p);
            continue;
        }
        mg->rows[p].done = 1;
        mg->n_done++;
    }
    return 0;
}

/* Point p's row of sweep.csv (c) and of sweep.json's rows (j); pt holds its key=value texts. */
static void merge_point_row(const struct merge *mg, long p, char (*pt)[2 * JOB_SWEEP_TEXT + 2], struct jbuf *c,
                            struct jbuf *j) {
    const struct job_sweep *sw = &mg->job.sweep;
    const struct merge_cols *cols = &mg->cols;
    const struct point_row *r = &mg->rows[p];
    jb_printf(c, "%ld", p);
    jb_printf(j, "    {\"point\": %ld, \"run_dir\": \"points/%ld\", \"values\": {", p, p);
    for (int k = 0; k < sw->n_keys; k++) {
        const char *val = strchr(pt[k], '=') + 1;
        jb_printf(c, ",");
        csv_str(c, val);
        jb_printf(j, "%s", k ? ", " : "");
        jb_string(j, sw->key[k]);
        jb_printf(j, ": ");
        json_value(j, val);
    }
    jb_printf(j, "}, \"status\": \"%s\"", r->done ? "done" : "failed");
    if (!r->done) {
        jb_printf(c, ",failed,,");
        for (int i = 0; i < cols->n; i++) jb_printf(c, ",,");
        jb_printf(j, "}");
    } else {
        jb_printf(c, ",done,%.0f,%.10g", r->images, r->accuracy);
        jb_printf(j, ", \"images\": %.0f, \"accuracy\": %.10g, \"diffid_mean\": {", r->images, r->accuracy);
        int first = 1;
        for (int i = 0; i < cols->n; i++) {
            if (!r->have[i]) {
                jb_printf(c, ",,");
                continue;
            }
            jb_printf(c, ",%.10g,%.10g", r->acc[i], r->logit[i]);
            jb_printf(j, "%s", first ? "" : ", ");
            jb_string(j, cols->name[i]);
            jb_printf(j, ": {\"diff_acc\": %.10g, \"diff_logit\": %.10g}", r->acc[i], r->logit[i]);
            first = 0;
        }
        jb_printf(j, "}}");
    }
    jb_printf(c, "\n");
    jb_printf(j, "%s", p + 1 < sw->n_points ? ",\n" : "\n");
}

/* sweep.csv and sweep.json (the wide tables) in memory. */
static int merge_tables(const struct merge *mg, const char *config, struct jbuf *c, struct jbuf *j, char *err,
                        size_t errlen) {
    const struct job_sweep *sw = &mg->job.sweep;
    char(*pt)[2 * JOB_SWEEP_TEXT + 2] = calloc(JOB_MAX_SWEEP_KEYS, sizeof *pt);
    if (!pt) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    jb_printf(c, "point");
    for (int k = 0; k < sw->n_keys; k++) {
        jb_printf(c, ",");
        csv_str(c, sw->key[k]);
    }
    jb_printf(c, ",status,images,accuracy");
    for (int i = 0; i < mg->cols.n; i++) jb_printf(c, ",%s diff_acc,%s diff_logit", mg->cols.name[i], mg->cols.name[i]);
    jb_printf(c, "\n");
    jb_printf(j, "{\n  \"config\": ");
    jb_string(j, config);
    jb_printf(j, ",\n  \"config_sha256\": \"%s\",\n  \"points\": %ld,\n  \"done\": %ld,\n  \"keys\": [", mg->job.sha256,
              sw->n_points, mg->n_done);
    for (int k = 0; k < sw->n_keys; k++) {
        jb_printf(j, "%s", k ? ", " : "");
        jb_string(j, sw->key[k]);
    }
    jb_printf(j, "],\n  \"rows\": [\n");
    for (long p = 0; p < sw->n_points; p++) {
        job_sweep_point(&mg->job, p, pt);
        merge_point_row(mg, p, pt, c, j);
    }
    jb_printf(j, "  ]\n}\n");
    free(pt);
    return 0;
}

/* Load the sweep, read its points, write the three tables: an EXIT_* code. */
static int merge_run(struct merge *mg, const char *config, const char *dir, const char **sets, int n_sets, char *err,
                     size_t errlen) {
    if (job_load(config, sets, n_sets, &mg->job, err, errlen)) {
        fprintf(stderr, "recal sweep-merge: %s\n", err);
        return EXIT_USER;
    }
    const struct job_sweep *sw = &mg->job.sweep;
    if (sw->n_points == 0) {
        fprintf(stderr, "recal sweep-merge: %s has no sweep: section, so nothing to merge\n", config);
        return EXIT_USER;
    }
    if (merge_read_points(mg, dir, err, errlen)) {
        fprintf(stderr, "recal sweep-merge: %s\n", err);
        return EXIT_INTERNAL;
    }
    char csv_path[4200], json_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/sweep.csv", dir);
    snprintf(json_path, sizeof json_path, "%s/sweep.json", dir);
    struct jbuf c = {0}, j = {0};
    if (merge_tables(mg, config, &c, &j, err, errlen)) {
        fprintf(stderr, "recal sweep-merge: %s\n", err);
        return EXIT_INTERNAL;
    }
    int rc = jb_write_text(&c, csv_path, err, errlen) || jb_write_json(&j, json_path, err, errlen) ||
             write_sweep_long(&mg->job, dir, mg->rows, err, errlen);
    jb_free(&c);
    jb_free(&j);
    if (rc) {
        fprintf(stderr, "recal sweep-merge: %s\n", err);
        return EXIT_USER;
    }
    printf("wrote %s, sweep.csv and sweep_long.csv: %ld of %ld points done\n", json_path, mg->n_done, sw->n_points);
    if (mg->n_done < sw->n_points) {
        fprintf(stderr,
                "recal sweep-merge: %ld point(s) not done (status failed in the table): resubmit point i with "
                "sbatch --array=i %s/submit.sbatch, then run recal sweep-merge again\n",
                sw->n_points - mg->n_done, dir);
        return EXIT_RESUMABLE;
    }
    return EXIT_OK;
}

int cmd_sweep_merge(int argc, char **argv) {
    const char *config = NULL, *dir = NULL, *sets[JOB_MAX_SETS];
    int n_sets = 0;
    enum { O_RUN_DIR = 256, O_SET };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"set", required_argument, NULL, O_SET},
        {NULL, 0, NULL, 0},
    };
    cli_start();
    for (int c; (c = cli_next("sweep-merge", argc, argv, opts)) != -1;) {
        switch (c) {
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        case O_RUN_DIR:
            dir = optarg;
            break;
        case O_SET:
            if (cli_add_set(optarg, sets, &n_sets, JOB_MAX_SETS, "sweep-merge")) return EXIT_USER;
            break;
        default:
            return EXIT_USER;
        }
    }
    const char **operands;
    for (int i = 0, n = cli_operands(&operands); i < n; i++)
        if (cli_operand("sweep-merge", operands[i], &config)) return EXIT_USER;
    if (!config || !dir) {
        fputs(HELP, stderr);
        return EXIT_USER;
    }
    struct merge *mg = calloc(1, sizeof *mg); /* a job is 110 KB: the heap, not function-level statics */
    char err[4600];
    if (!mg) {
        fprintf(stderr, "recal sweep-merge: out of host memory\n");
        return EXIT_INTERNAL;
    }
    int code = merge_run(mg, config, dir, sets, n_sets, err, sizeof err);
    free(mg->rows);
    free(mg);
    return code;
}
