/* src/cmd_run.c — `recal run CONFIG`: one job under the current MPI world. */
#include <getopt.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cores.h"
#include "clock.h"
#include "cli.h"
#include "coord.h"
#include "coord_report.h"
#include "engine.h"
#include "fingerprint.h"
#include "fsutil.h"
#include "log.h"
#include "journal.h"
#include "mpi_util.h"
#include "launch.h"
#include "run_images.h"
#include "run_listing.h"
#include "run_stages.h"
#include "run_startup.h"
#include "shard_plan.h"

/* The longest --run-dir: file names under it must fit recal's path buffers. */

/* --submitted-sha256: the config sha256 recal submit validated, or NULL. */
static const char *g_submitted_sha256;

static const char *HELP =
    "usage: recal run CONFIG.yaml [--set key=value]... [--run-dir DIR] [--resume] [--limit N]\n"
    "                 [--sweep-point I] [--ranks N]\n"
    "\n"
    "Evaluate the job's methods and metrics over its dataset under the current MPI world\n"
    "(mpirun -n N recal run ...). Rank 0 hands out shards and computes too; results are\n"
    "written to the run directory: metrics.json, metrics.csv, summary.csv, summary_long.csv\n"
    "(one row per method entry, estimator and metric, for pandas), logs/rank-<r>.log;\n"
    "every mean with a bootstrap interval and the paired tests of each estimator against\n"
    "vanilla and random in paired.csv (statistics: {resamples: 1000, level: 0.95}; 0 = off),\n"
    "every image's value in per_image/ with outputs: {per_image: true}.\n"
    "A config with metrics.roar runs Diff-ROAR as two more stages of the same run: the train\n"
    "split's rank maps (RUN_DIR/train), then every fine-tune (roar.json, roar.csv).\n"
    "\n"
    "  --set key=value  override a config key by dotted path (dataset.limit=256, methods.0.steps=3)\n"
    "  --run-dir DIR    where results go (default runs/<name>-<date>-<time>-<config hash>)\n"
    "  --limit N        evaluate only the first N images (same as --set dataset.limit=N)\n"
    "  --resume         continue the run in --run-dir: shards in its journal are not computed again\n"
    "  --sweep-point I  run grid point I (from 0) of the config's sweep: section: the config plus\n"
    "                   that point's values as --set overrides (recal submit runs each point so)\n"
    "  --ranks N        recal starts `mpirun -n N` of this command itself and speaks for it: a rank\n"
    "                   killed by a signal gives exit 3 (not mpirun's 137) naming the rank and\n"
    "                   host, with the command that resumes; the first Ctrl-C/SIGTERM stops\n"
    "                   gracefully (as SIGUSR1), a second aborts. $RECAL_MPIRUN (default mpirun)\n"
    "                   and the words of $RECAL_MPIRUN_ARGS (e.g. --hostfile H) are used\n"
    "  --submitted-sha256 HEX  refuse to start unless the config and --set list still have the\n"
    "                   sha256 `recal submit` validated (its batch script passes it)\n"
    "\n"
    "Every finished shard is appended to RUN_DIR/journal before it counts. SIGTERM, SIGINT or\n"
    "SIGUSR1 stop the hand-out of shards; those in flight finish and are journaled, and the run\n"
    "exits 3 with the command that resumes it. Under mpirun prefer SIGUSR1 (forwarded as-is);\n"
    "on SIGTERM/SIGINT mpirun kills the ranks after odls_base_sigkill_timeout (1 s by default).\n";

/* Rank 0 picks the run directory, then prepares and locks it. */
static int make_run_dir(const struct job *job, const char *given, const char *config, const char *const *sets,
                        int n_sets, int resume, char *dir, size_t n, char *run_id, size_t idn, int *lock_fd,
                        int *restart, char *err, size_t errlen) {
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
static int keep_chunk(const char *dir, int resume, long *chunk, char *err, size_t errlen) {
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
static int keep_inputs(const struct job *job, const struct wk_engine *e, const char *dir, int resume, char *err,
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
static int keep_shard_size(const struct wk_engine *e, const struct job *job, const char *dir, int resume, int ranks,
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

/* One argument, quoted for a POSIX shell when it needs it. */
static void put_shell_arg(FILE *f, const char *a) {
    if (a[0] && strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=./,:@%") == strlen(a)) {
        fprintf(f, " %s", a);
        return;
    }
    fputs(" '", f);
    for (; *a; a++) *a == '\'' ? fputs("'\\''", f) : fputc(*a, f);
    fputc('\'', f);
}

/* The exact command that continues this run: same config and --set list,
 * hence the same config sha256 (without resume: the command that starts it
 * again); `--ranks N` when recal launched the ranks itself
 * (RECAL_LAUNCH_RANKS, set by launch_mpirun). */
static void print_resume_hint(FILE *f, const char *config, const char *const *sets, int n_sets, long point,
                              const char *dir, int resume) {
    fputs("recal run", f);
    const char *launched = getenv("RECAL_LAUNCH_RANKS");
    if (launched && *launched) fprintf(f, " --ranks %d", atoi(launched));
    put_shell_arg(f, config);
    for (int i = 0; i < n_sets; i++) {
        fputs(" --set", f);
        put_shell_arg(f, sets[i]);
    }
    if (point >= 0) fprintf(f, " --sweep-point %ld", point);
    if (dir) {
        fputs(" --run-dir", f);
        put_shell_arg(f, dir);
    }
    fputs(resume ? " --resume\n" : "\n", f);
}

/* The job of `recal run`: the config with the user's --set list, and for
 * a sweep point that point's values after them (appended to sets, so its
 * sha256 — and so its journal — differs from every other point's; the
 * resume hint gives the user's list and --sweep-point). 0, or -1 with a
 * message. */
static int load_run_job(const char *config, const char **sets, int *n_sets, long point,
                        char (*point_sets)[2 * JOB_SWEEP_TEXT + 2], struct job *job, char *err, size_t errlen) {
    if (job_load(config, sets, *n_sets, job, err, errlen)) return -1;
    if (g_submitted_sha256 && strcmp(g_submitted_sha256, job->sha256) != 0) {
        snprintf(err, errlen,
                 "%s changed since `recal submit` validated it (config sha256 %s at submit, %s now: it was "
                 "edited while the job waited). This job would run another job than the one validated: submit "
                 "again, or put the file back",
                 config, g_submitted_sha256, job->sha256);
        return -1;
    }
    if (job->sweep.n_points > 0 && point < 0) {
        snprintf(err, errlen,
                 "%s has a sweep: of %ld points: run one with --sweep-point I (0..%ld), or all of them with "
                 "recal submit",
                 config, job->sweep.n_points, job->sweep.n_points - 1);
        return -1;
    }
    if (point >= 0 && point >= job->sweep.n_points) {
        if (job->sweep.n_points == 0)
            snprintf(err, errlen, "--sweep-point %ld: %s has no sweep: section", point, config);
        else
            snprintf(err, errlen, "--sweep-point %ld: %s's sweep has points 0..%ld only", point, config,
                     job->sweep.n_points - 1);
        return -1;
    }
    if (point >= 0) {
        job_sweep_point(job, point, point_sets);
        for (int k = 0; k < job->sweep.n_keys; k++) sets[(*n_sets)++] = point_sets[k];
        if (job_load(config, sets, *n_sets, job, err, errlen)) return -1;
    }
    if (job->n_methods == 0) {
        snprintf(err, errlen, "%s: no methods to evaluate (a train-only config? use recal train)", config);
        return -1;
    }
    return 0;
}

/* `recal run --ranks N`: start mpirun with N ranks of this command and
 * speak for them afterwards. A rank killed by a signal takes the job down,
 * rank 0 included, and mpirun exits 128 + signal; the run directory keeps
 * every journaled shard, so the launcher names the rank and host (from
 * mpirun's own line) and exits 3 with the command that resumes. pass holds
 * the ranks' arguments ("run" first, no --ranks/--run-dir), with room for
 * two more and the NULL. */
static int launch_ranks(int ranks, const char *config, const char **sets, int n_sets, long point,
                        char (*point_sets)[2 * JOB_SWEEP_TEXT + 2], const char *run_dir_opt, char **pass, int n_pass) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK")) {
        fprintf(stderr, "recal run: --ranks starts mpirun itself, so it cannot run under mpirun or srun: drop "
                        "--ranks there (the launcher already set the rank count)\n");
        return EXIT_USER;
    }
    static char dir[2048], err[2048];
    if (run_dir_opt) {
        snprintf(dir, sizeof dir, "%s", run_dir_opt);
    } else {
        /* Fixed here, so the ranks use it and the message below can name it. */
        static struct job job;
        int n = n_sets;
        if (load_run_job(config, sets, &n, point, point_sets, &job, err, sizeof err)) {
            fprintf(stderr, "recal run: %s\n", err);
            return EXIT_USER;
        }
        char id[512];
        coord_default_run_id(&job, id, sizeof id);
        snprintf(dir, sizeof dir, "runs/%s", id);
    }
    pass[n_pass++] = "--run-dir";
    pass[n_pass++] = dir;
    pass[n_pass] = NULL;
    /* Containers run as root, and Open MPI's mpirun refuses root with a
     * banner unless both variables are set: the user asked recal to start it,
     * so recal sets them (and says so) rather than failing. */
    if (geteuid() == 0 && !(getenv("OMPI_ALLOW_RUN_AS_ROOT") && getenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"))) {
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        fprintf(stderr, "recal run: running as root: OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                        "set for the mpirun recal starts (Open MPI refuses root without them)\n");
    }
    struct launch_result r;
    launch_expect_exit(dir);
    if (launch_mpirun(ranks, pass, &r, err, sizeof err)) {
        fprintf(stderr, "recal run --ranks: %s\n", err);
        return EXIT_INTERNAL;
    }
    const int own = launch_take_exit();
    /* only Open MPI's generic 1 with no rank named: a status that says more is kept */
    if (own >= EXIT_OK && own <= EXIT_RESUMABLE && r.rank < 0 && r.status == 1 && own != 1) {
        fprintf(stderr,
                "recal run: the ranks ended with exit %d; mpirun's status %d came after, at its shutdown (Open "
                "MPI's lines above, if any): recal exits %d\n",
                own, r.status, own);
        return own;
    }
    if (r.status >= EXIT_OK && r.status <= EXIT_RESUMABLE) return r.status; /* recal's own, already explained */
    if (r.status == 127 && r.rank < 0) return EXIT_USER; /* no launcher or no executable: its message is above */
    fputs("recal run: ", stderr);
    if (r.rank >= 0)
        fprintf(stderr, "rank %d on %s was killed by signal %d (%s), so mpirun ended the run (status %d)", r.rank,
                r.host, r.signal, strsignal(r.signal), r.status);
    else fprintf(stderr, "mpirun ended with status %d (see its lines above)", r.status);
    char path[2200];
    long done = 0, total = 0;
    snprintf(path, sizeof path, "%s/journal", dir);
    int journaled = journal_peek(path, &total, &done) == 0;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    const int started = fs_exists(path), again = journaled || started; /* --resume takes the dir */
    if (journaled) fprintf(stderr, "; %ld of %ld shards are journaled in %s.\nresume with: ", done, total, dir);
    else if (started) fprintf(stderr, "; no shard was finished yet.\nstart it again in %s with: ", dir);
    else fprintf(stderr, "; nothing was written yet.\nstart it again with: ");
    print_resume_hint(stderr, config, sets, n_sets, point, again || run_dir_opt ? dir : NULL, again);
    return EXIT_RESUMABLE;
}

/* rc of a stage that did not complete (coord_run's or run_roar_stages'):
 * say where it stopped and how to resume; the exit code. COORD_HUNG does
 * not return: a rank that never answers would block any collective, so
 * rank 0 aborts the job once the journal is closed. */
static int stage_stopped(int rc, int rank, const char *stage, const char *unit, struct coord_book *book,
                         const char *config, const char *const *sets, int n_sets, long point, const char *run_dir,
                         int lock_fd) {
    if (rc < 0) return EXIT_USER;
    if (rank != 0) return EXIT_RESUMABLE;
    const char *why = rc == COORD_HUNG ? "interrupted by the watchdog" : "interrupted";
    log_printf("%s%s: %ld of %ld %s done", why, stage, book->n_done, book->n_shards, unit);
    fprintf(stderr, "interrupted%s: %ld of %ld %s done; resume with: ", stage, book->n_done, book->n_shards, unit);
    print_resume_hint(stderr, config, sets, n_sets, point, run_dir, 1);
    if (rc == COORD_HUNG) {
        fflush(stderr);
        coord_book_close(book); /* every journaled shard is on disk */
        log_close();
        if (lock_fd >= 0) close(lock_fd);
        MPI_Abort(MPI_COMM_WORLD, EXIT_RESUMABLE); /* takes the silent rank down too */
    }
    return EXIT_RESUMABLE;
}

/* `recal roar CONFIG ...`: recal run of a config that must have metrics.roar. */
static int g_require_roar;

int cmd_roar(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--train-run") || !strcmp(argv[i], "--test-run") || !strcmp(argv[i], "--out") ||
            !strcmp(argv[i], "--data-parallel")) {
            fprintf(stderr,
                    "recal roar: %s is gone: `recal run CONFIG` of a config with metrics.roar now runs all of "
                    "Diff-ROAR in one run directory (evaluation, train rank maps, fine-tunes; "
                    "metrics.roar.data_parallel: true for data-parallel fine-tunes). See recal roar --help\n",
                    argv[i]);
            return EXIT_USER;
        }
        if (cli_is_help(argv[i])) {
            fputs("usage: recal roar CONFIG.yaml [recal run options]\n"
                  "\n"
                  "The same as `recal run`, for a config that must have metrics.roar: one run directory holds\n"
                  "the evaluation of the config's split (its metrics and ROAR rank maps), the train split's\n"
                  "rank maps (RUN_DIR/train) and every fine-tune (method x estimator x fraction x top/bottom),\n"
                  "one journal for all three stages, so --resume continues whichever stage was stopped. Diff-ROAR\n"
                  "lands in metrics.json (results[].roar), roar.json and roar.csv. See recal run --help.\n",
                  stdout);
            return EXIT_OK;
        }
    }
    g_require_roar = 1;
    return cmd_run(argc, argv);
}

int cmd_run(int argc, char **argv) {
    const char *config = NULL, *run_dir_opt = NULL;
    const char *sets[JOB_MAX_SETS + JOB_MAX_SWEEP_KEYS + 1];
    int n_sets = 0, resume = 0, ranks = 0;
    long point = -1;
    char limit_set[64];
    static char point_sets[JOB_MAX_SWEEP_KEYS][2 * JOB_SWEEP_TEXT + 2];
    enum { O_SET = 256, O_RUN_DIR, O_RANKS, O_LIMIT, O_POINT, O_RESUME, O_SUBMITTED };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"set", required_argument, NULL, O_SET},
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"ranks", required_argument, NULL, O_RANKS},
        {"limit", required_argument, NULL, O_LIMIT},
        {"sweep-point", required_argument, NULL, O_POINT},
        {"resume", no_argument, NULL, O_RESUME},
        {"submitted-sha256", required_argument, NULL, O_SUBMITTED},
        {NULL, 0, NULL, 0},
    };
    cli_start();
    for (int c; (c = cli_next("run", argc, argv, opts)) != -1;) {
        const char *v = optarg;
        long x = 0;
        switch (c) {
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        case O_SET:
            if (cli_add_set(v, sets, &n_sets, JOB_MAX_SETS, "run")) return EXIT_USER;
            break;
        case O_RUN_DIR:
            /* recal names files under it (RUN_DIR/attributions/shard-…):
             * a longer one was cut silently and the run wrote elsewhere. */
            if (strlen(v) > CLI_RUN_DIR_MAX) {
                fprintf(stderr, "recal run: --run-dir is %zu characters long; at most %d (choose a shorter path)\n",
                        strlen(v), CLI_RUN_DIR_MAX);
                return EXIT_USER;
            }
            run_dir_opt = v;
            break;
        case O_RANKS:
            if (cli_long("run", "--ranks", v, 1, &x)) return EXIT_USER;
            if (x > 100000) {
                fprintf(stderr, "recal run: --ranks %ld: at most 100000\n", x);
                return EXIT_USER;
            }
            ranks = (int)x;
            break;
        case O_LIMIT: /* one more --set, in its place: the same config sha256 as --set dataset.limit=N */
            if (cli_long("run", "--limit", v, 0, &x)) return EXIT_USER;
            snprintf(limit_set, sizeof limit_set, "dataset.limit=%ld", x);
            if (cli_add_set(limit_set, sets, &n_sets, JOB_MAX_SETS, "run")) return EXIT_USER;
            break;
        case O_POINT:
            if (cli_long("run", "--sweep-point", v, 0, &point)) return EXIT_USER;
            break;
        case O_RESUME:
            resume = 1;
            break;
        case O_SUBMITTED:
            if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64) {
                fprintf(stderr, "recal run: --submitted-sha256 '%s': want the 64 hex digits recal submit printed\n", v);
                return EXIT_USER;
            }
            g_submitted_sha256 = v;
            break;
        default:
            return EXIT_USER;
        }
    }
    const char **operands;
    for (int i = 0, n = cli_operands(&operands); i < n; i++)
        if (cli_operand("run", operands[i], &config)) return EXIT_USER;
    if (!config) {
        fputs(HELP, stderr);
        return EXIT_USER;
    }
    if (resume && !run_dir_opt) {
        fprintf(stderr, "recal run: --resume needs --run-dir DIR, the run directory to continue\n");
        return EXIT_USER;
    }
    if (ranks > 0) {
        /* What the launched ranks get: this command but --ranks and --run-dir
         * (the launcher fixes the directory, so it can speak of it afterwards),
         * with room for those two and the NULL. */
        static char *pass[8 + 2 * JOB_MAX_SETS];
        static char point_s[32];
        int n_pass = 0;
        pass[n_pass++] = g_require_roar ? "roar" : "run";
        pass[n_pass++] = (char *)config;
        for (int k = 0; k < n_sets; k++) {
            pass[n_pass++] = "--set";
            pass[n_pass++] = (char *)sets[k];
        }
        if (point >= 0) {
            snprintf(point_s, sizeof point_s, "%ld", point);
            pass[n_pass++] = "--sweep-point";
            pass[n_pass++] = point_s;
        }
        if (resume) pass[n_pass++] = "--resume";
        if (g_submitted_sha256) {
            pass[n_pass++] = "--submitted-sha256";
            pass[n_pass++] = (char *)g_submitted_sha256;
        }
        pass[n_pass] = NULL;
        return launch_ranks(ranks, config, sets, n_sets, point, point_sets, run_dir_opt, pass, n_pass);
    }

    int provided = 0, rank = 0, size = 1;
    struct run_startup su = {.exec_s = clock_since_exec_s(), .t0 = clock_now_s()};
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    su.mpi_init_s = clock_now_s() - su.t0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* After MPI_Init, so ours are the handlers in place; every rank, since
     * mpirun and srun signal each of them. */
    coord_catch_signals();
    double t0 = clock_now_s();
    int code = EXIT_USER, failed = 0;
    char err[2048] = "";
    static struct job job;
    static struct wk_engine eng;
    int eng_open = 0, lock_fd = -1;
    double *total = NULL, *roar_acc = NULL;
    struct coord_book book;
    memset(&book, 0, sizeof book);
    book.jn.fd = -1;
    struct coord_pi pi; /* rank 0: the per-image values, for the report */
    memset(&pi, 0, sizeof pi);

    /* Every rank parses the config itself (cheap, and identical), so only
     * rank 0 needs to speak. */
    int n_user_sets = n_sets;
    failed = load_run_job(config, sets, &n_sets, point, point_sets, &job, err, sizeof err) != 0;
    if (!failed && g_require_roar && !job.roar.on) {
        snprintf(err, sizeof err, "%s: no metrics.roar section (fractions, epochs, lr, milestones, ...)", config);
        failed = 1;
    }
    const char *ntasks = getenv("SLURM_NTASKS");
    if (!failed && ntasks && atoi(ntasks) != size) {
        snprintf(err, sizeof err,
                 "MPI world has %d ranks but SLURM_NTASKS=%s: launch with srun or mpirun -n %s inside the allocation",
                 size, ntasks, ntasks);
        failed = 1;
    }
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;

    char run_dir[2048] = "", run_id[512] = "";
    int restart = 0;
    if (rank == 0)
        failed = make_run_dir(&job, run_dir_opt, config, sets, n_sets, resume, run_dir, sizeof run_dir, run_id,
                              sizeof run_id, &lock_fd, &restart, err, sizeof err) != 0;
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    /* Only rank 0 reads `resume` from here on (chunk, shard size, journal). */
    if (restart) {
        fprintf(stderr,
                "recal: %s has no journal yet (its first start ended before planning its shards): "
                "starting the run in it\n",
                run_dir);
        resume = 0;
    }
    MPI_Bcast(run_dir, (int)sizeof run_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    MPI_Bcast(run_id, (int)sizeof run_id, MPI_CHAR, 0, MPI_COMM_WORLD);

    char logpath[2200];
    snprintf(logpath, sizeof logpath, "%s/logs/rank-%d.log", run_dir, rank);
    failed = log_open(logpath, rank, err, sizeof err) != 0;
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;

    /* Split the node's cores between its ranks unless the job says. */
    int local_rank, local_size;
    mpi_node_local(MPI_COMM_WORLD, &local_rank, &local_size);
    if (job.threads == 0) {
        long cores = cores_usable();
        job.threads = (int)(cores / local_size > 0 ? cores / local_size : 1);
    }
    /* before wk_engine_open, whose device check is libtorch's first CUDA call */
    const char *gpu = NULL;
    failed = mpi_pick_gpu(local_rank, local_size, job.device, &gpu, err, sizeof err) != 0;
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    char host[256] = "?";
    gethostname(host, sizeof host);
    if (gpu) log_printf("CUDA_VISIBLE_DEVICES=%s (one GPU per rank, from local rank %d)", gpu, local_rank);
    log_printf("recal run %s on %s (local rank %d of %d), %d threads, config sha256 %s", config, host, local_rank,
               local_size, job.threads, job.sha256);

    /* Listed once, on rank 0: every rank's reader opens from its bytes. */
    struct ds_listing lists[2];
    run_share_listings(&job, MPI_COMM_WORLD, lists, &su.listing_s);
    const struct ds_listing *const listed[2] = {&lists[0], &lists[1]};
    failed = wk_engine_open_listed(&eng, &job, listed, err, sizeof err) != 0;
    run_listings_free(lists);
    snprintf(eng.run_dir, sizeof eng.run_dir, "%s", run_dir);
    eng_open = !failed;
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    /* Every rank takes rank 0's measured chunk, and a resumed run the chunk
     * its first invocation measured: the chunk decides float summation
     * order, so one run uses one. */
    long chunk = eng.chunk_samples;
    double t_step = clock_now_s();
    if (rank == 0)
        failed = keep_inputs(&job, &eng, run_dir, resume, err, sizeof err) != 0 ||
                 keep_chunk(run_dir, resume, &chunk, err, sizeof err) != 0;
    if (rank == 0) su.fingerprint_s = clock_now_s() - t_step;
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    MPI_Bcast(&chunk, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    wk_engine_set_chunk(&eng, chunk);
    log_printf("engine: %ld images, model %d classes, device %s, chunk %ld samples", eng.ds.n, eng.classes,
               ts_device_name(eng.device), eng.chunk_samples);
    const char *bad_box;
    const long bad_boxes = ds_bad_boxes(&eng.ds, &bad_box);
    if (bad_boxes && rank == 0) /* the pointing game scored 7 of 8 images without a word */
        fprintf(stderr,
                "recal: %ld bounding box(es) of the data set's box file cannot be used and are left out (an image "
                "without a box of its class is not scored by pointing_game); the first: %s\n",
                bad_boxes, bad_box);
    if (bad_boxes) log_printf("%ld unusable bounding box(es) left out; the first: %s", bad_boxes, bad_box);
    long shard = job.shard_images;
    const int computing = size > 1 && !job.coordinator_computes ? size - 1 : size; /* ranks that compute shards */
    t_step = clock_now_s();
    if (rank == 0) failed = keep_shard_size(&eng, &job, run_dir, resume, computing, &shard, err, sizeof err) != 0;
    if (rank == 0) su.plan_s = clock_now_s() - t_step;
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    MPI_Bcast(&shard, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    /* a shard is never longer than the split: the same one-shard plan, and
     * records without per-image rows for images that do not exist */
    if (eng.ds.n > 0 && shard > eng.ds.n) shard = eng.ds.n;
    job.shard_images = (int)shard;
    wk_engine_relayout(&eng); /* the record keeps a row per image of a shard */
    if (wk_record_len(&eng) > JOURNAL_MAX_RECORD) {
        /* every rank computes the same layout: all fail alike */
        snprintf(err, sizeof err,
                 "%s: shard_images %d with every image's values kept (statistics, outputs.per_image) makes "
                 "records of %zu doubles, more than a journal holds (%llu): lower shard_images",
                 job.file, job.shard_images, wk_record_len(&eng), (unsigned long long)JOURNAL_MAX_RECORD);
        goto out;
    }
    coord_set_stop_grace(job.stop_grace_seconds);
    eng.abandon = coord_stop_overdue;
    if (rank == 0) {
        struct journal_meta jm = {"", eng.ds.n, shard_plan_count(eng.ds.n, job.shard_images), job.shard_images,
                                  wk_record_len(&eng)};
        snprintf(jm.sha256, sizeof jm.sha256, "%s", job.sha256);
        failed = coord_book_open(&book, run_dir, 0, resume, &jm, err, sizeof err) != 0;
    }
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    if (rank == 0) {
        fprintf(stderr, "recal: %s, %ld images of %s/%s on %d rank(s), device %s -> %s\n", job.name, eng.ds.n,
                job.dataset_name, job.split, size, ts_device_name(eng.device), run_dir);
        if (book.jn.dropped_bytes)
            fprintf(stderr, "recal: dropped a torn last journal record (%ld bytes); that shard is computed again\n",
                    book.jn.dropped_bytes);
        if (resume) {
            run_recheck_outputs(&book, &job, run_dir, eng.ds.n);
            fprintf(stderr, "recal: resuming: %ld of %ld shards already done (journal), %ld to compute\n",
                    book.n_resumed, book.n_shards, book.n_shards - book.n_resumed);
        }
    }

    total = calloc(wk_record_len(&eng), sizeof *total);
    failed = total == NULL;
    if (failed) snprintf(err, sizeof err, "rank %d: out of memory for the run's totals", rank);
    if (mpi_any_failed(failed, err, sizeof err, MPI_COMM_WORLD)) goto out;
    /* coordinator_computes: false leaves rank 0's cores (and GPU) to the
     * dispatch alone; with one rank it must compute or nothing would. */
    struct coord_opts co = {.n_images = eng.ds.n,
                            .shard_images = job.shard_images,
                            .progress_tty = rank == 0 && isatty(2),
                            .log_every_s = 10.0,
                            .stage_name = "evaluation",
                            .stage_no = 1,
                            .n_stages = job.roar.on ? 3 : 1,
                            .book = rank == 0 ? &book : NULL,
                            .shard_fn = run_engine_shard,
                            .shard_ctx = &eng,
                            .bind_ahead = run_engine_bind,
                            .record_len = wk_record_len(&eng),
                            .fold = run_engine_fold,
                            .fold_ctx = &eng,
                            .no_local_worker = !job.coordinator_computes && size > 1,
                            /* a Diff-ROAR run resumed past this stage: shards recomputed for lost
                             * files are counted, not journaled again (their records are there) */
                            .no_journal = rank == 0 && book.jn.sealed,
                            .watchdog_s = job.watchdog_seconds};
    if (rank == 0 && !job.coordinator_computes && size == 1)
        fprintf(stderr, "recal: coordinator_computes: false needs a second rank; the only rank computes\n");
    run_startup_log(&su, &eng);
    int rc = coord_run(&co, MPI_COMM_WORLD, total, err, sizeof err);
    log_printf("read ahead: the first batch of %ld shard(s), while the shard before ended", eng.n_carried);
    const char *stage0 = job.roar.on ? " in Diff-ROAR stage 1 of 3 (the evaluation)" : "";
    if (rc) {
        code = stage_stopped(rc, rank, stage0, "shards", &book, config, sets, n_user_sets, point, run_dir, lock_fd);
        goto out;
    }
    if (rank == 0 && resume)
        log_printf("resume: %ld shards from the journal, %ld computed now", book.n_resumed,
                   book.n_done - book.n_resumed);
    /* the per-image rows of every shard, before a Diff-ROAR stage reuses
     * the book; the statistics over them */
    const double t_stats = clock_now_s();
    if (rank == 0 &&
        (run_write_images(run_dir, &eng.ds, &eng.layout, book.records, book.n_shards, book.len, err, sizeof err) ||
         coord_pi_collect(&job, eng.n_slots, book.records, book.n_shards, book.len, &pi, err, sizeof err) ||
         coord_pi_stats(&job, eng.slots, &pi, err, sizeof err))) {
        fprintf(stderr, "recal run: %s; the evaluation is in the journal: run again with --resume\n", err);
        code = EXIT_USER;
        err[0] = '\0';
        failed = 1;
    }
    if (rank == 0 && pi.ci)
        log_printf("statistics: %ld images, %d resamples, %d paired comparisons: %.2f s", pi.n, job.stats.resamples,
                   pi.n_pairs, clock_now_s() - t_stats);
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) goto out;
    /* Diff-ROAR: the train split's rank maps, then the fine-tunes, in this
     * run directory and journal; the evaluation's engine is done. */
    /* what the report needs of the evaluation, before its engine and book go */
    static struct rec_slot slots[REC_MAX_SLOTS];
    const int n_slots = eng.n_slots;
    memcpy(slots, eng.slots, sizeof slots);
    const char *device_name = ts_device_name(eng.device);
    const long n_images = eng.ds.n, image_bytes = (long)eng.ds.c * eng.ds.h * eng.ds.w * (long)sizeof(float);
    const long resumed0 = book.n_resumed, shards0 = book.n_shards, images_resumed0 = book.images_resumed;
    double coord_s = book.coord_seconds;
    if (job.roar.on) {
        wk_engine_close(&eng);
        eng_open = 0;
        struct run_roar_in ri = {&job, run_dir, resume, chunk, rank == 0 && isatty(2), &book, &coord_s};
        int stage = 1;
        rc = run_roar_stages(&ri, &roar_acc, &stage, err, sizeof err);
        if (rc) {
            code = stage_stopped(
                rc, rank,
                stage == 1 ? " in Diff-ROAR stage 2 of 3 (train rank maps)" : " in Diff-ROAR stage 3 of 3 (fine-tunes)",
                stage == 1 ? "shards" : "fine-tunes", &book, config, sets, n_user_sets, point, run_dir, lock_fd);
            goto out;
        }
        coord_s += book.coord_seconds;
    }
    if (rank == 0) {
        struct coord_run_info info = {run_id,
                                      run_dir,
                                      size,
                                      device_name,
                                      ts_version(),
                                      clock_now_s() - t0,
                                      (long)total[REC_IMAGES] - images_resumed0,
                                      resumed0,
                                      n_images,
                                      coord_s,
                                      image_bytes,
                                      roar_acc,
                                      &pi};
        if (coord_write_metrics(&job, slots, n_slots, total, &info, err, sizeof err)) {
            fprintf(stderr, "recal run: %s\n", err);
            code = EXIT_USER;
        } else {
            coord_print_table(stdout, &job, slots, n_slots, total);
            coord_pi_print(stdout, &job, slots, &pi);
            if (roar_acc) coord_print_roar(stdout, &job, slots, n_slots, roar_acc);
            printf("\nwrote %s/metrics.json, metrics.csv, summary.csv and summary_long.csv%s (%.1f s", run_dir,
                   roar_acc ? ", roar.json and roar.csv" : "", info.wall_seconds);
            if (resume) printf("; %ld of %ld evaluation shards from the journal", resumed0, shards0);
            printf(")\n");
            code = EXIT_OK;
            /* Figures are a convenience: a missing matplotlib costs the
             * pictures, never the run (metrics.json is already written). */
            if (job.out_figures) {
                fflush(stdout);
                if (report_render(run_dir) != EXIT_OK)
                    fprintf(stderr,
                            "recal run: figures skipped (see the message above); the metrics are complete — "
                            "run `recal report %s` after installing python3-matplotlib\n",
                            run_dir);
            }
        }
    } else {
        code = EXIT_OK;
    }
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    err[0] = '\0';
out:
    if (err[0]) {
        log_printf("error: %s", err);
        if (rank == 0) fprintf(stderr, "recal run: %s\n", err);
    }
    free(total);
    free(roar_acc);
    coord_pi_free(&pi);
    coord_book_close(&book);
    if (eng_open) wk_engine_close(&eng);
    log_close();
    if (lock_fd >= 0) close(lock_fd); /* the run is over: the next may start */
    if (rank == 0) launch_note_exit(code);
    MPI_Finalize();
    return code;
}
