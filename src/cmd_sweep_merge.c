/* src/cmd_sweep_merge.c — `recal sweep-merge CONFIG --run-dir DIR`: the
 * table of a sweep, one row per grid point, from DIR/points/<i>/. Run by the
 * merge job `recal submit` queues after the array (afterany, so it also runs
 * when points failed); by hand it re-creates the table. No MPI. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fsutil.h"
#include "json_finite.h"
#include "job.h"

static const char *HELP = "usage: recal sweep-merge CONFIG.yaml --run-dir DIR [--set key=value]...\n"
                          "\n"
                          "Write DIR/sweep.json and DIR/sweep.csv for the config's sweep: one row per grid point with\n"
                          "its swept values, status (done: DIR/points/<i>/metrics.json exists; failed otherwise),\n"
                          "images, accuracy, and per method/estimator the DiffID means over the ratios (diff_acc,\n"
                          "diff_logit, as recal run's table prints them). CONFIG and --set as given to recal submit.\n"
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

/* A top-level number of a metrics.json that recal wrote ("images": N comes
 * before "results", so the first match is the top-level one). */
static int json_number(const char *text, const char *key, double *out) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(text, pat);
    if (!p) return -1;
    char *end;
    *out = strtod(p + strlen(pat), &end);
    return end == p + strlen(pat) ? -1 : 0;
}

static int col_index(struct merge_cols *c, const char *name) {
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->name[i], name)) return i;
    if (c->n == MERGE_MAX_COLS) return -1;
    snprintf(c->name[c->n], sizeof c->name[0], "%s", name);
    return c->n++;
}

/* Split one CSV line in place into at most max fields (RFC 4180, as the
 * project writes and pandas reads: a field in double quotes may hold commas,
 * and "" stands for one quote; an empty field is a field). Returns the
 * count; the trailing newline ends the last field. strtok dropped empty
 * fields, shifting every column after them. */
static int csv_fields(char *line, char **field, int max) {
    int n = 0;
    char *r = line, *w;
    for (;;) {
        if (n == max) return n;
        field[n++] = w = r;
        if (*r == '"') { /* quoted: copy down, "" → " */
            r++;
            for (;;) {
                if (*r == '\0') break;
                if (*r == '"') {
                    if (r[1] == '"') {
                        *w++ = '"';
                        r += 2;
                        continue;
                    }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
        }
        while (*r && *r != ',' && *r != '\n' && *r != '\r') *w++ = *r++;
        const char end = *r;
        *w = '\0';
        if (end != ',') return n;
        r++;
    }
}

/* Means over the ratio rows of metrics.csv, per method/estimator. The
 * columns are found by their header names. */
static int read_csv(const char *path, struct merge_cols *c, struct point_row *r, char *err, size_t errlen) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read", path);
        return -1;
    }
    char line[4096];
    int i_method = -1, i_est = -1, i_acc = -1, i_logit = -1, count[MERGE_MAX_COLS] = {0};
    if (fgets(line, sizeof line, f)) {
        char *head[32];
        int nh = csv_fields(line, head, 32);
        for (int k = 0; k < nh; k++) {
            if (!strcmp(head[k], "method")) i_method = k;
            if (!strcmp(head[k], "estimator")) i_est = k;
            if (!strcmp(head[k], "diff_acc")) i_acc = k;
            if (!strcmp(head[k], "diff_logit")) i_logit = k;
        }
    }
    if (i_method < 0 || i_est < 0 || i_acc < 0 || i_logit < 0) {
        fclose(f);
        snprintf(err, errlen, "%s: no method, estimator, diff_acc, diff_logit columns", path);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *field[32] = {0};
        int k = csv_fields(line, field, 32);
        if (k <= i_method || k <= i_est || k <= i_acc || k <= i_logit) continue;
        if (!*field[i_acc] || !*field[i_logit]) continue; /* an undefined value: not a 0 */
        char name[96];
        snprintf(name, sizeof name, "%.40s/%.40s", field[i_method], field[i_est]);
        int ci = col_index(c, name);
        if (ci < 0) continue;
        r->acc[ci] += atof(field[i_acc]);
        r->logit[ci] += atof(field[i_logit]);
        count[ci]++;
        r->have[ci] = 1;
    }
    fclose(f);
    for (int i = 0; i < MERGE_MAX_COLS; i++)
        if (count[i]) {
            r->acc[i] /= count[i];
            r->logit[i] /= count[i];
        }
    return 0;
}

/* One JSON string (util/json_finite.h's escaper); out of memory marks the
 * text lost, and then it is never written. */
static int g_json_lost;
static void json_str(FILE *f, const char *s) {
    char *q = json_quote(s);
    if (q) fputs(q, f);
    else g_json_lost = 1;
    free(q);
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

static void json_value(FILE *f, const char *v) {
    char *end;
    double d = strtod(v, &end);
    if (json_number_text(v)) fputs(v, f);
    else if (*v && !*end && isfinite(d) && !strpbrk(v, "xXpP")) fprintf(f, "%.15g", d);
    else if (!strcmp(v, "true") || !strcmp(v, "false")) fputs(v, f);
    else json_str(f, v);
}

/* CSV field: quoted when it holds a comma, quote or space. */
static void csv_str(FILE *f, const char *s) {
    if (!strpbrk(s, ",\" \n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) *s == '"' ? fputs("\"\"", f) : fputc(*s, f);
    fputc('"', f);
}

int cmd_sweep_merge(int argc, char **argv) {
    const char *config = NULL, *dir = NULL, *sets[JOB_MAX_SETS];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        int missing = 0, taken;
        const char *v;
        if (cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return EXIT_OK;
        } else if ((taken = cli_take_set(argc, argv, &i, sets, &n_sets, JOB_MAX_SETS, "sweep-merge"))) {
            if (taken < 0) return EXIT_USER;
        } else if ((v = cli_opt(argc, argv, &i, "--run-dir", &missing)) || missing) {
            if (missing) {
                fprintf(stderr, "recal sweep-merge: --run-dir needs the sweep's directory\n");
                return EXIT_USER;
            }
            dir = v;
        } else if (argv[i][0] == '-' || config) {
            fprintf(stderr, "recal sweep-merge: unexpected argument '%s' (see recal sweep-merge --help)\n", argv[i]);
            return EXIT_USER;
        } else {
            config = argv[i];
        }
    }
    if (!config || !dir) {
        fputs(HELP, stderr);
        return EXIT_USER;
    }
    static struct job job;
    char err[4600];
    if (job_load(config, sets, n_sets, &job, err, sizeof err)) {
        fprintf(stderr, "recal sweep-merge: %s\n", err);
        return EXIT_USER;
    }
    const struct job_sweep *sw = &job.sweep;
    if (sw->n_points == 0) {
        fprintf(stderr, "recal sweep-merge: %s has no sweep: section, so nothing to merge\n", config);
        return EXIT_USER;
    }
    static struct merge_cols cols;
    struct point_row *rows = calloc((size_t)sw->n_points, sizeof *rows);
    if (!rows) {
        fprintf(stderr, "recal sweep-merge: out of memory for %ld points\n", sw->n_points);
        return EXIT_INTERNAL;
    }
    long n_done = 0;
    char path[4200];
    for (long p = 0; p < sw->n_points; p++) {
        snprintf(path, sizeof path, "%s/points/%ld/metrics.json", dir, p);
        char *js, ignore[256];
        size_t js_len;
        if (fs_read_all(path, &js, &js_len, ignore, sizeof ignore)) continue; /* no metrics: a failed point */
        struct point_row *r = &rows[p];
        if (json_number(js, "images", &r->images) || json_number(js, "accuracy", &r->accuracy)) {
            fprintf(stderr, "recal sweep-merge: %s: no images/accuracy; point %ld counted as failed\n", path, p);
            free(js);
            continue;
        }
        free(js);
        snprintf(path, sizeof path, "%s/points/%ld/metrics.csv", dir, p);
        if (read_csv(path, &cols, r, err, sizeof err)) {
            fprintf(stderr, "recal sweep-merge: %s; point %ld counted as failed\n", err, p);
            continue;
        }
        r->done = 1;
        n_done++;
    }

    char(*pt)[2 * JOB_SWEEP_TEXT + 2] = calloc(JOB_MAX_SWEEP_KEYS, sizeof *pt);
    char csv_path[4200], json_path[4200];
    snprintf(csv_path, sizeof csv_path, "%s/sweep.csv", dir);
    snprintf(json_path, sizeof json_path, "%s/sweep.json", dir);
    char *cbuf = NULL, *jbuf = NULL;
    size_t clen = 0, jlen = 0;
    FILE *c = open_memstream(&cbuf, &clen), *j = open_memstream(&jbuf, &jlen);
    if (!pt || !c || !j) {
        fprintf(stderr, "recal sweep-merge: out of memory\n");
        return EXIT_INTERNAL;
    }
    fputs("point", c);
    for (int k = 0; k < sw->n_keys; k++) {
        fputc(',', c);
        csv_str(c, sw->key[k]);
    }
    fputs(",status,images,accuracy", c);
    for (int i = 0; i < cols.n; i++) fprintf(c, ",%s diff_acc,%s diff_logit", cols.name[i], cols.name[i]);
    fputc('\n', c);
    fputs("{\n  \"config\": ", j);
    json_str(j, config);
    fprintf(j, ",\n  \"config_sha256\": \"%s\",\n  \"points\": %ld,\n  \"done\": %ld,\n  \"keys\": [", job.sha256,
            sw->n_points, n_done);
    for (int k = 0; k < sw->n_keys; k++) {
        fputs(k ? ", " : "", j);
        json_str(j, sw->key[k]);
    }
    fputs("],\n  \"rows\": [\n", j);
    for (long p = 0; p < sw->n_points; p++) {
        const struct point_row *r = &rows[p];
        job_sweep_point(&job, p, pt);
        fprintf(c, "%ld", p);
        fprintf(j, "    {\"point\": %ld, \"run_dir\": \"points/%ld\", \"values\": {", p, p);
        for (int k = 0; k < sw->n_keys; k++) {
            const char *val = strchr(pt[k], '=') + 1;
            fputc(',', c);
            csv_str(c, val);
            fputs(k ? ", " : "", j);
            json_str(j, sw->key[k]);
            fputs(": ", j);
            json_value(j, val);
        }
        fprintf(j, "}, \"status\": \"%s\"", r->done ? "done" : "failed");
        if (!r->done) {
            fprintf(c, ",failed,,");
            for (int i = 0; i < cols.n; i++) fputs(",,", c);
            fputs("}", j);
        } else {
            fprintf(c, ",done,%.0f,%.10g", r->images, r->accuracy);
            fprintf(j, ", \"images\": %.0f, \"accuracy\": %.10g, \"diffid_mean\": {", r->images, r->accuracy);
            int first = 1;
            for (int i = 0; i < cols.n; i++) {
                if (!r->have[i]) {
                    fputs(",,", c);
                    continue;
                }
                fprintf(c, ",%.10g,%.10g", r->acc[i], r->logit[i]);
                fprintf(j, "%s\"%s\": {\"diff_acc\": %.10g, \"diff_logit\": %.10g}", first ? "" : ", ", cols.name[i],
                        r->acc[i], r->logit[i]);
                first = 0;
            }
            fputs("}}", j);
        }
        fputc('\n', c);
        fputs(p + 1 < sw->n_points ? ",\n" : "\n", j);
    }
    fputs("  ]\n}\n", j);
    fclose(c);
    fclose(j);
    if (g_json_lost || !cbuf || !jbuf) {
        fprintf(stderr, "recal sweep-merge: out of memory writing the tables\n");
        free(cbuf);
        free(jbuf);
        free(pt);
        free(rows);
        return EXIT_INTERNAL;
    }
    int rc = fs_write_atomic(csv_path, cbuf, clen, err, sizeof err) ||
             json_finite_write(json_path, jbuf, jlen, err, sizeof err);
    free(cbuf);
    free(jbuf);
    free(pt);
    free(rows);
    if (rc) {
        fprintf(stderr, "recal sweep-merge: %s\n", err);
        return EXIT_USER;
    }
    printf("wrote %s and sweep.csv: %ld of %ld points done\n", json_path, n_done, sw->n_points);
    if (n_done < sw->n_points) {
        fprintf(stderr,
                "recal sweep-merge: %ld point(s) not done (status failed in the table): resubmit point i with "
                "sbatch --array=i %s/submit.sbatch, then run recal sweep-merge again\n",
                sw->n_points - n_done, dir);
        return EXIT_RESUMABLE;
    }
    return EXIT_OK;
}
