/* src/run_inputs.c — see run_inputs.h. */
#include "run_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "coord_book.h"
#include "cores.h"
#include "engine.h"
#include "fingerprint.h"
#include "fsutil.h"
#include "log.h"
#include "shard_plan.h"

/* Rank 0 picks the run directory, then prepares and locks it. */
int run_dir_make(const struct job *job, const char *given, const char *config, const char *const *sets, int n_sets,
                 int resume, char *dir, size_t n, char *run_id, size_t idn, int *lock_fd, int *restart, char *err,
                 size_t errlen) {
    if (given) {
        snprintf(dir, n, "%s", given);
        size_t len = strlen(dir);
        while (len > 1 && dir[len - 1] == '/') dir[--len] = '\0';
        const char *slash = strrchr(dir, '/');
        snprintf(run_id, idn, "%s", slash && slash[1] ? slash + 1 : dir);
    } else {
        coord_default_run_id(job, run_id, idn);
        snprintf(dir, n, "runs/%s", run_id);
    }
    return coord_rundir_open(dir, config, sets, n_sets, resume, lock_fd, restart, err, errlen);
}

/* RUN_DIR/<name>: a number the run fixes when it starts and --resume reads
 * back (chunk_samples, shard_images). Read: -1 no file, 0 unreadable (v
 * unchanged), 1 read into v. */
static int run_value_read(const char *dir, const char *name, long *v) {
    char path[2200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fs_fopen_read(path);
    if (!f) return -1;
    long x = 0;
    int ok = fscanf(f, "%ld", &x) == 1 && x > 0;
    fclose(f);
    if (ok) *v = x;
    return ok;
}

static int run_value_write(const char *dir, const char *name, long v, char *err, size_t errlen) {
    char path[2200], buf[32];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int n = snprintf(buf, sizeof buf, "%ld\n", v);
    return fs_write_atomic(path, buf, (size_t)n, err, errlen);
}

/* The chunk of a run: written when the run starts, read back by --resume
 * (when present). */
int run_keep_chunk(const char *dir, int resume, long *chunk, char *err, size_t errlen) {
    if (resume && run_value_read(dir, "chunk_samples", chunk) >= 0) return 0;
    return run_value_write(dir, "chunk_samples", *chunk, err, errlen);
}

/* The files the run reads besides the model: the data set's (ds_file),
 * then each precomputed method's maps and each baseline file (the config
 * names them; their content is not in its sha256). Pointers into the
 * dataset's and the job's own strings. */
static const char **data_files(const struct ds_dataset *ds, const struct job *job, size_t *n) {
    size_t cap = 64 + JOB_MAX_METHODS;
    const char **v = malloc(cap * sizeof *v);
    *n = 0;
    for (const char *f; v && (f = ds_file(ds, (long)*n));) {
        if (*n + JOB_MAX_METHODS == cap) {
            const char **nv = realloc(v, 2 * cap * sizeof *v);
            if (!nv) {
                free(v);
                return NULL;
            }
            v = nv;
            cap *= 2;
        }
        v[(*n)++] = f;
    }
    for (int k = 0; v && k < job->n_methods; k++) /* room was kept for these */
        if (job->methods[k].kind == JOB_M_PRECOMPUTED) v[(*n)++] = job->methods[k].path;
        else if (job_method_takes_baseline(job->methods[k].kind) && job->methods[k].baseline == JOB_BASE_FILE)
            v[(*n)++] = job->methods[k].baseline_path; /* one file a method at most: the room suffices */
    return v;
}

/* A manifest line's name (up to the tab), for messages. */
static void manifest_name(const char *line, char *out, size_t len) {
    size_t k = strcspn(line, "\t\n");
    snprintf(out, len, "%.*s", (int)(k < len ? k : len - 1), line);
}

/* Name what changed between two manifests (RUN_DIR/data_files), in the
 * reader's order: "3 of 16 files differ in content or size; the first is
 * val/n01/x.JPEG", or the two counts when files were added or removed. */
static void manifest_diff(const char *was, const char *now, char *out, size_t len) {
    long differ = 0, files = 0, n_was = 0, n_now = 0;
    char first[512] = "";
    for (const char *p = was; *p; p++) n_was += *p == '\n';
    for (const char *p = now; *p; p++) n_now += *p == '\n';
    const char *a = was, *b = now;
    while (*a || *b) {
        size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
        files++;
        if ((la != lb || memcmp(a, b, la) != 0) && !differ++) manifest_name(*a ? a : b, first, sizeof first);
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    if (n_was != n_now)
        snprintf(out, len, "it read %ld files then and would read %ld now; the first that differs is %s", n_was, n_now,
                 first);
    else snprintf(out, len, "%ld of %ld files differ in content, size or name; the first is %s", differ, files, first);
}

/* RUN_DIR/inputs's value of `key` (64 hex digits) into out, "" when absent. */
static void inputs_value(const char *text, const char *key, char out[65]) {
    const char *p = text ? strstr(text, key) : NULL;
    out[0] = '\0';
    if (p) sscanf(p + strlen(key), "%64s", out);
}

/* The refusal of a resume whose data set changed, naming what changed. */
static void data_changed(const struct job *job, const char *dir, const char *mpath, const char *manifest, char *err,
                         size_t errlen) {
    char what[1024] = "its files are the same, but the image count, shape or classes differ";
    char *was = NULL, ignored[256];
    size_t wn = 0;
    if (!fs_exists(mpath) || fs_read_all(mpath, &was, &wn, ignored, sizeof ignored))
        snprintf(what, sizeof what, "the content of its files or its shape (RUN_DIR/data_files, the list, is gone)");
    else if (strcmp(was, manifest) != 0) manifest_diff(was, manifest, what, sizeof what);
    free(was);
    snprintf(err, errlen,
             "%s: --resume refused: the data set %s changed since this run started: %s (RUN_DIR/data_files lists "
             "what the run read). Resume with the original data, or start a new --run-dir",
             dir, job->dataset_path, what);
}

/* The run's inputs, RUN_DIR/inputs: the model file's sha256 and the data
 * set's by content (the sha256 of every file the run reads — the data
 * set's, any precomputed maps and baseline files — listed in
 * RUN_DIR/data_files, and the
 * reader's image count, shape and classes). Written when the run starts; a
 * resume that finds either changed is refused before any finished shard is
 * reused, since shards of one model or data set and new ones of another
 * would be reduced into one table. A run started before data_sha256
 * existed is checked by its files' names and sizes (data_fingerprint) and
 * not read whole; one started before `inputs` resumes unchecked. */
int run_keep_inputs(const struct job *job, const struct wk_engine *e, const char *dir, int resume, char *err,
                    size_t errlen) {
    char model[65], data[65], extra[256], path[2200], mpath[2200];
    char was_model[65] = "", was_data[65] = "", was_names[65] = "";
    snprintf(extra, sizeof extra, "%s %s n=%ld %dx%dx%d classes=%d", job->dataset_name, job->split, e->ds.n, e->ds.c,
             e->ds.h, e->ds.w, e->ds.classes);
    snprintf(path, sizeof path, "%s/inputs", dir);
    snprintf(mpath, sizeof mpath, "%s/data_files", dir);
    const int check = resume && fs_exists(path);
    if (check) {
        char *old = NULL;
        size_t n = 0;
        if (fs_read_all(path, &old, &n, err, errlen)) return -1;
        inputs_value(old, "model_sha256 ", was_model);
        inputs_value(old, "data_sha256 ", was_data);
        inputs_value(old, "data_fingerprint ", was_names);
        free(old);
    }
    if (fp_file_sha256(job->model_path, model, err, errlen)) return -1;
    if (check && strcmp(was_model, model) != 0) {
        snprintf(err, errlen,
                 "%s: --resume refused: the model file %s changed since this run started (sha256 %s then, %s "
                 "now); its finished shards come from the other model. Resume with the original file, or start "
                 "a new --run-dir",
                 dir, job->model_path, was_model, model);
        return -1;
    }
    if (check && !was_data[0]) { /* a run from before data_sha256: names and sizes, as then */
        char names[65];
        if (!was_names[0]) return 0;
        if (fp_tree(job->dataset_path, extra, names, err, errlen)) return -1;
        if (strcmp(was_names, names) == 0) return 0;
        snprintf(err, errlen,
                 "%s: --resume refused: the data set %s changed since this run started (fingerprint of its files "
                 "and shape %s then, %s now). Resume with the original data, or start a new --run-dir",
                 dir, job->dataset_path, was_names, names);
        return -1;
    }
    size_t nf = 0;
    const char **files = data_files(&e->ds, job, &nf);
    if (!files) {
        snprintf(err, errlen, "%s: out of memory listing the data set's files", job->dataset_path);
        return -1;
    }
    long cores = cores_usable();
    char *manifest = NULL;
    double t0 = clock_now_s();
    int rc = fp_files(job->dataset_path, files, nf, extra, (int)(cores < 8 ? (cores < 1 ? 1 : cores) : 8), data,
                      &manifest, err, errlen);
    free(files);
    if (rc) return -1;
    double dt = clock_now_s() - t0;
    if (dt > 10) log_printf("fingerprinted the data set's %zu files by content in %.0f s (for --resume)", nf, dt);
    if (check) {
        rc = strcmp(was_data, data) == 0 ? 0 : -1;
        if (rc) data_changed(job, dir, mpath, manifest, err, errlen);
    } else {
        char buf[8500];
        int k = snprintf(buf, sizeof buf, "model_path %s\nmodel_sha256 %s\ndata_path %s\ndata_sha256 %s\n",
                         job->model_path, model, job->dataset_path, data);
        rc = fs_write_atomic(mpath, manifest, strlen(manifest), err, errlen) ||
                     fs_write_atomic(path, buf, (size_t)(k < (int)sizeof buf ? k : (int)sizeof buf - 1), err, errlen)
                 ? -1
                 : 0;
    }
    free(manifest);
    return rc;
}

/* The run's shard size, with no probe (one once idled every other rank
 * while rank 0 timed a batch): shards_per_rank (default 32) shards a
 * computing rank at least, of whole batches (shard_plan_auto), at most
 * shard_images — so the last shard is a small share of the run (docs/
 * performance.md, "The tail"). The plan is fixed for the run (the journal
 * is keyed by it): a resumed run keeps the size its first invocation chose
 * (RUN_DIR/shard_images; without that file, the configured one), whatever
 * its rank count now. */
int run_keep_shard_size(const struct wk_engine *e, const struct job *job, const char *dir, int resume, int ranks,
                        long *shard, char *err, size_t errlen) {
    if (resume) {
        run_value_read(dir, "shard_images", shard);
        return 0;
    }
    *shard = shard_plan_auto(e->ds.n, job->batch_size, ranks, job->shards_per_rank, job->shard_images);
    if (*shard != job->shard_images)
        log_printf("shard size %ld images: %ld images, at least %d shards each for %d computing rank(s), batches of "
                   "%d, at most shard_images %d",
                   *shard, e->ds.n, job->shards_per_rank, ranks, job->batch_size, job->shard_images);
    return run_value_write(dir, "shard_images", *shard, err, errlen);
}
