/* src/cmd_submit.c — `recal submit CONFIG`: validate the job, render the
 * sbatch script from slurm/recal.sbatch.in into RUN_DIR/submit.sbatch and
 * hand it to sbatch; a sweep becomes a job array plus a merge job
 * (slurm/merge.sbatch.in). No MPI here: this runs on a login node. */
#define _GNU_SOURCE /* realpath, readlink; popen/pclose */
#include <getopt.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "coord_book.h"
#include "fsutil.h"
#include "job.h"

static const char *HELP =
    "usage: recal submit CONFIG.yaml [--run-dir DIR] [--dry-run] [--nodes N] [--gpus-per-node G]\n"
    "                    [--ntasks-per-node T] [--time T] [--partition P] [--account A] [--set key=value]...\n"
    "\n"
    "Validate the job as `recal run` would, write the Slurm batch script RUN_DIR/" COORD_SUBMIT_SCRIPT " from\n"
    "the template slurm/recal.sbatch.in and submit it with sbatch; prints the job id on stdout.\n"
    "The job runs `recal run CONFIG --run-dir RUN_DIR` (with --resume once RUN_DIR has a journal)\n"
    "under srun (PMIx or PMI-2, whichever Slurm offers; RECAL_LAUNCHER overrides) or mpirun.\n"
    "SIGUSR1 120 s before the time limit stops it at a shard boundary and requeues it; the next\n"
    "start resumes from the journal. Slurm's output goes to RUN_DIR/logs/slurm-<jobid>.out.\n"
    "\n"
    "A config with a sweep: section becomes a job array, one task per grid point (each point is\n"
    "validated first), each in RUN_DIR/points/<i>/ via recal run --sweep-point i, plus a merge job\n"
    "(afterany) that writes RUN_DIR/sweep.json, sweep.csv and sweep_long.csv (recal sweep-merge);\n"
    "stdout then has two lines: the array job id and the merge job id.\n"
    "\n"
    "  --run-dir DIR          results (default runs/<name>-<date>-<time>-<config hash>, as for run)\n"
    "  --dry-run              write and print the script, do not submit it\n"
    "  --nodes N              nodes (default 1)\n"
    "  --gpus-per-node G      GPUs per node; one rank per GPU (default 0: CPU ranks)\n"
    "  --ntasks-per-node T    ranks per node (default G when G > 0, else 1)\n"
    "  --time T               time limit, as sbatch takes it (default: the partition's)\n"
    "  --partition P, --account A   passed to sbatch\n"
    "  --set key=value        config override, as for run (part of the config hash)\n"
    "\n"
    "The template is looked up in $RECAL_SLURM_DIR, then <dir of recal>/../share/recal/slurm,\n"
    "then the source tree this recal was built from.\n";

/* Paths and sbatch values go into #SBATCH lines, which sbatch does not
 * unquote, and into the script unquoted: keep them to characters that mean
 * nothing to either ('%' and '@' would be Slurm patterns or placeholders). */
static int plain(const char *s) {
    return s[0] && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-+=./,:") == strlen(s);
}

struct submit_opts {
    const char *config, *run_dir, *time, *partition, *account;
    const char *sets[JOB_MAX_SETS];
    int n_sets, dry_run;
    long nodes, gpus, ntasks; /* ntasks 0: not given */
};

static int parse_count(const char *opt, const char *v, long min, long *out) {
    char *end;
    errno = 0;
    long n = v ? strtol(v, &end, 10) : -1;
    if (!v || errno || *end || n < min || n > 100000) {
        fprintf(stderr, "recal submit: %s needs a whole number >= %ld\n", opt, min);
        return -1;
    }
    *out = n;
    return 0;
}

/* --run-dir, --time, --partition, --account: plain() values only. */
static int string_opt(const char *name, const char *v, const char **dst) {
    if (!plain(v)) {
        fprintf(stderr, "recal submit: %s needs a value of letters, digits and _-+=./,: only (got '%s')\n", name, v);
        return -1;
    }
    *dst = v;
    return 0;
}

/* 0 parsed, 1 --help shown, -1 error shown. */
static int parse_args(int argc, char **argv, struct submit_opts *o) {
    memset(o, 0, sizeof *o);
    o->nodes = 1;
    enum { O_DRY = 256, O_SET, O_NODES, O_GPUS, O_NTASKS, O_RUN_DIR, O_TIME, O_PARTITION, O_ACCOUNT };
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"dry-run", no_argument, NULL, O_DRY},
        {"set", required_argument, NULL, O_SET},
        {"nodes", required_argument, NULL, O_NODES},
        {"gpus-per-node", required_argument, NULL, O_GPUS},
        {"ntasks-per-node", required_argument, NULL, O_NTASKS},
        {"run-dir", required_argument, NULL, O_RUN_DIR},
        {"time", required_argument, NULL, O_TIME},
        {"partition", required_argument, NULL, O_PARTITION},
        {"account", required_argument, NULL, O_ACCOUNT},
        {NULL, 0, NULL, 0},
    };
    cli_start();
    for (int c; (c = cli_next("submit", argc, argv, opts)) != -1;) {
        const char *v = optarg;
        int bad = 0;
        switch (c) {
        case 'h':
            fputs(HELP, stdout);
            return 1;
        case O_DRY:
            o->dry_run = 1;
            break;
        case O_SET:
            bad = cli_add_set(v, o->sets, &o->n_sets, JOB_MAX_SETS, "submit");
            break;
        case O_NODES:
            bad = parse_count("--nodes", v, 1, &o->nodes);
            break;
        case O_GPUS:
            bad = parse_count("--gpus-per-node", v, 0, &o->gpus);
            break;
        case O_NTASKS:
            bad = parse_count("--ntasks-per-node", v, 1, &o->ntasks);
            break;
        case O_RUN_DIR:
            bad = string_opt("--run-dir", v, &o->run_dir);
            break;
        case O_TIME:
            bad = string_opt("--time", v, &o->time);
            break;
        case O_PARTITION:
            bad = string_opt("--partition", v, &o->partition);
            break;
        case O_ACCOUNT:
            bad = string_opt("--account", v, &o->account);
            break;
        default:
            return -1;
        }
        if (bad) return -1;
    }
    const char **operands;
    for (int i = 0, n = cli_operands(&operands); i < n; i++)
        if (cli_operand("submit", operands[i], &o->config)) return -1;
    if (!o->config) {
        fputs(HELP, stderr);
        return -1;
    }
    if (o->gpus > 0 && o->ntasks && o->ntasks != o->gpus) {
        fprintf(stderr,
                "recal submit: recal runs one rank per GPU: leave out --ntasks-per-node or make it %ld "
                "(= --gpus-per-node)\n",
                o->gpus);
        return -1;
    }
    if (!o->ntasks) o->ntasks = o->gpus > 0 ? o->gpus : 1;
    return 0;
}

/* The templates' directory: $RECAL_SLURM_DIR, next to an installed recal,
 * or the source tree of this build (RECAL_SLURM_DIR, set by CMake). */
static int find_templates(const char *exe, char *tdir, size_t n) {
    const char *env = getenv("RECAL_SLURM_DIR");
    char dir[PATH_MAX], path[PATH_MAX + 64];
    snprintf(dir, sizeof dir, "%s", exe);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    const char *cands[3] = {env, NULL, NULL};
    char installed[PATH_MAX + 32];
    snprintf(installed, sizeof installed, "%s/../share/recal/slurm", dir);
    cands[1] = installed;
#ifdef RECAL_SLURM_DIR
    cands[2] = RECAL_SLURM_DIR;
#endif
    for (int i = 0; i < 3; i++) {
        if (!cands[i]) continue;
        snprintf(path, sizeof path, "%s/recal.sbatch.in", cands[i]);
        if (fs_exists(path)) {
            if (!realpath(cands[i], tdir) || strlen(tdir) >= n) snprintf(tdir, n, "%s", cands[i]);
            return 0;
        }
        if (i == 0) {
            fprintf(stderr, "recal submit: RECAL_SLURM_DIR=%s has no recal.sbatch.in: fix or unset it\n", env);
            return -1;
        }
    }
    fprintf(stderr,
            "recal submit: slurm/recal.sbatch.in not found (looked in %s and the source tree): set "
            "RECAL_SLURM_DIR to the directory that holds it\n",
            installed);
    return -1;
}

/* --set values may hold spaces and brackets: quoted for bash. */
/* Appends a single-quoted a to out: 0, or -1 when it does not fit (out is
 * then left as it was: a value cut short would be another job's, and it was:
 * dataset.limit=000…016 became dataset.limit=000…0, all 10,000 images). */
static int quote_into(char *out, size_t n, const char *a) {
    size_t at = strlen(out), start = at;
    if (at + 2 >= n) return -1;
    out[at++] = '\'';
    for (; *a; a++) {
        if (at + 6 >= n) {
            out[start] = '\0';
            return -1;
        }
        if (*a == '\'') {
            memcpy(out + at, "'\\''", 4);
            at += 4;
        } else {
            out[at++] = *a;
        }
    }
    out[at++] = '\'';
    out[at] = '\0';
    return 0;
}

struct subst {
    const char *name, *value;
};

static const char *lookup(const struct subst *s, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(s[i].name) == len && !strncmp(s[i].name, name, len)) return s[i].value;
    return NULL;
}

static int is_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Replace @NAME@ (upper case, digits, _) by its value, line by line. An
 * #SBATCH line with a placeholder left empty is dropped, so optional
 * directives (--partition, --gpus-per-task, ...) need no template logic.
 * An unknown @NAME@ is an error: a template out of step with this recal. */
static int render(const char *tpl, const char *tpl_path, const struct subst *s, int n, FILE *out) {
    int line_no = 0, rc = 0;
    for (const char *p = tpl; *p && !rc;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
        line_no++;
        char *line = NULL;
        size_t line_len = 0;
        FILE *lf = open_memstream(&line, &line_len);
        if (!lf) return -1;
        int dropped = 0;
        for (size_t i = 0; i < len;) {
            size_t k = i + 1;
            while (k < len && is_name_char(p[k])) k++;
            if (p[i] != '@' || k == i + 1 || k >= len || p[k] != '@') {
                fputc(p[i++], lf);
                continue;
            }
            const char *v = lookup(s, n, p + i + 1, k - i - 1);
            if (!v) {
                fprintf(stderr, "recal submit: %s:%d: unknown placeholder @%.*s@ (a template newer than this recal?)\n",
                        tpl_path, line_no, (int)(k - i - 1), p + i + 1);
                rc = -1;
                break;
            }
            if (!v[0] && !strncmp(p, "#SBATCH", 7)) dropped = 1;
            fputs(v, lf);
            i = k + 1;
        }
        fclose(lf);
        if (!rc && !dropped) fwrite(line, 1, line_len, out);
        free(line);
        p += len;
    }
    return rc;
}

/* Absolute form of a path that may not exist yet: cwd + path. 0, or -1
 * when it does not fit. */
static int absolute(const char *cwd, const char *path, char *out, size_t n) {
    int w = path[0] == '/' ? snprintf(out, n, "%s", path) : snprintf(out, n, "%s/%s", cwd, path);
    if (w < 0 || (size_t)w >= n) {
        fprintf(stderr, "recal submit: path too long: %s\n", path);
        return -1;
    }
    size_t len = strlen(out);
    while (len > 1 && out[len - 1] == '/') out[--len] = '\0';
    return 0;
}

/* sbatch --parsable [EXTRA] SCRIPT; the job id, or -1 with a message. */
static long run_sbatch(const char *extra, const char *script) {
    char cmd[2 * PATH_MAX];
    /* script and extra are plain(): no quoting needed */
    snprintf(cmd, sizeof cmd, "sbatch --parsable %s %s", extra, script);
    FILE *p = popen(cmd, "r");
    if (!p) {
        fprintf(stderr, "recal submit: cannot run sbatch: %s\n", strerror(errno));
        return -1;
    }
    char out[256] = "";
    if (!fgets(out, sizeof out, p)) out[0] = '\0';
    int st = pclose(p);
    long id = strtol(out, NULL, 10);
    if (st != 0 || id <= 0) {
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (code == 127)
            fprintf(stderr, "recal submit: sbatch not found: submit from a Slurm login node, or use --dry-run "
                            "and sbatch the script yourself\n");
        else
            fprintf(stderr, "recal submit: sbatch failed (exit %d; its message is above); the script is %s\n", code,
                    script);
        return -1;
    }
    return id;
}

/* Render TDIR/NAME.in into PATH (and print it on a dry run). */
static int write_script(const char *tdir, const char *name, const char *path, const struct subst *s, int n, int print) {
    char tpl_path[PATH_MAX + 64];
    snprintf(tpl_path, sizeof tpl_path, "%s/%s.in", tdir, name);
    char *tpl, err[PATH_MAX + 256];
    size_t tpl_len;
    if (fs_read_all(tpl_path, &tpl, &tpl_len, err, sizeof err)) {
        fprintf(stderr, "recal submit: %s\n", err);
        return -1;
    }
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    int rc = mem ? render(tpl, tpl_path, s, n, mem) : -1;
    if (mem) fclose(mem);
    free(tpl);
    if (!rc && text && fs_write_atomic(path, text, text_len, err, sizeof err)) {
        fprintf(stderr, "recal submit: %s\n", err);
        rc = -1;
    }
    if (!rc && text && print) fwrite(text, 1, text_len, stdout);
    free(text);
    return rc || !text ? -1 : 0;
}

/* Every grid point must load: a typo in the sweep fails here, not in an
 * array task hours later. */
static int check_points(const struct submit_opts *o, const struct job *job) {
    struct job *pj = calloc(1, sizeof *pj); /* ~110 KB each: the heap, not the stack or a static */
    char pt[JOB_MAX_SWEEP_KEYS][2 * JOB_SWEEP_TEXT + 2];
    const char *sets[JOB_MAX_SETS + JOB_MAX_SWEEP_KEYS];
    char err[2048];
    int rc = 0;
    if (!pj) {
        fprintf(stderr, "recal submit: out of host memory checking the sweep's points\n");
        return -1;
    }
    for (long p = 0; p < job->sweep.n_points && !rc; p++) {
        int n = o->n_sets;
        memcpy(sets, o->sets, sizeof *sets * (size_t)n);
        job_sweep_point(job, p, pt);
        for (int k = 0; k < job->sweep.n_keys; k++) sets[n++] = pt[k];
        if (job_load(o->config, sets, n, pj, err, sizeof err)) {
            fprintf(stderr, "recal submit: sweep point %ld:", p);
            for (int k = 0; k < job->sweep.n_keys; k++) fprintf(stderr, " %s", pt[k]);
            fprintf(stderr, ": %s\n", err);
            rc = -1;
        } else if (pj->n_methods == 0) {
            fprintf(stderr, "recal submit: sweep point %ld: no methods to evaluate\n", p);
            rc = -1;
        }
    }
    free(pj);
    return rc;
}

/* A sweep's directory: new, or an earlier submission of it (its points/). */
static int sweep_dir_ok(const char *dir) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/points", dir);
    return fs_exists(path) || coord_rundir_fresh(dir);
}

/* What the scripts are made of, once the job is known to load. */
struct submit_plan {
    char cwd[PATH_MAX], exe[PATH_MAX], config[PATH_MAX], run_dir[PATH_MAX], tdir[PATH_MAX];
    char sets[8192]; /* the --set values as the batch script passes them on */
    char script[PATH_MAX + 32], merge[PATH_MAX + 32];
    long points;   /* the sweep's grid points; 0 without a sweep */
    int continues; /* RUN_DIR holds a started run: the job resumes it */
};

/* The job as `recal run` would load it (and every sweep point): an EXIT_* code. */
static int submit_job(const struct submit_opts *o, struct job *job) {
    char err[2048];
    if (job_load(o->config, o->sets, o->n_sets, job, err, sizeof err)) {
        fprintf(stderr, "recal submit: %s\n", err);
        return EXIT_USER;
    }
    if (job->n_methods == 0) {
        fprintf(stderr, "recal submit: %s: no methods to evaluate (a train-only config? use recal train)\n", o->config);
        return EXIT_USER;
    }
    if (!strcmp(job->device, "cuda") && o->gpus == 0) {
        fprintf(stderr, "recal submit: %s asks for device: cuda; give --gpus-per-node G (one rank per GPU)\n",
                o->config);
        return EXIT_USER;
    }
    return job->sweep.n_points > 0 && check_points(o, job) ? EXIT_USER : EXIT_OK;
}

/* The --set values as the batch script passes them on, before anything is
 * written: refused whole when they do not fit, never cut. */
static int submit_sets(const struct submit_opts *o, char *sets, size_t n) {
    sets[0] = '\0';
    for (int i = 0; i < o->n_sets; i++) {
        const char *flag = i ? " --set " : "--set ";
        int fits = strlen(sets) + strlen(flag) + 2 < n;
        if (fits) {
            strcat(sets, flag);
            fits = quote_into(sets, n, o->sets[i]) == 0;
        }
        if (!fits) {
            fprintf(stderr,
                    "recal submit: the --set values take more than the %zu bytes the batch script holds for them "
                    "(at --set %.40s%s): put them in the config file instead\n",
                    n, o->sets[i], strlen(o->sets[i]) > 40 ? "..." : "");
            return EXIT_USER;
        }
    }
    return EXIT_OK;
}

/* The working directory, this executable, the config and the run directory
 * as absolute paths #SBATCH lines can carry, and the templates: an EXIT_* code. */
static int submit_paths(const struct submit_opts *o, const struct job *job, struct submit_plan *p) {
    if (!getcwd(p->cwd, sizeof p->cwd)) {
        fprintf(stderr, "recal submit: cannot read the working directory: %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    ssize_t el = readlink("/proc/self/exe", p->exe, sizeof p->exe - 1);
    if (el <= 0) {
        fprintf(stderr, "recal submit: cannot find this executable (/proc/self/exe): %s\n", strerror(errno));
        return EXIT_INTERNAL;
    }
    p->exe[el] = '\0';
    if (!realpath(o->config, p->config)) {
        fprintf(stderr, "recal submit: %s: %s\n", o->config, strerror(errno));
        return EXIT_USER;
    }
    char id[512], rel[600] = "";
    if (!o->run_dir) {
        coord_default_run_id(job, id, sizeof id);
        snprintf(rel, sizeof rel, "runs/%s", id);
    }
    if (absolute(p->cwd, o->run_dir ? o->run_dir : rel, p->run_dir, sizeof p->run_dir)) return EXIT_USER;
    /* the job's recal run takes at most CLI_RUN_DIR_MAX characters (a sweep's
     * point adds /points/<i>): a longer one was queued, and failed at start */
    const size_t dir_len = strlen(p->run_dir) + (p->points ? strlen("/points/") + 20 : 0);
    if (dir_len > CLI_RUN_DIR_MAX) {
        fprintf(stderr,
                "recal submit: the run directory %.60s... is %zu characters long%s; recal run takes at most %d: "
                "choose a shorter --run-dir (or submit from a shorter working directory)\n",
                p->run_dir, strlen(p->run_dir), p->points ? " before /points/<i>" : "", CLI_RUN_DIR_MAX);
        return EXIT_USER;
    }
    const char *what[] = {"the working directory", "the recal executable", "the config path", "the run directory"};
    const char *paths[] = {p->cwd, p->exe, p->config, p->run_dir};
    for (int i = 0; i < 4; i++)
        if (!plain(paths[i])) {
            fprintf(stderr,
                    "recal submit: %s '%s' has characters that #SBATCH lines cannot carry (spaces, quotes, %% "
                    "or @): use a path of letters, digits and _-+=./,:\n",
                    what[i], paths[i]);
            return EXIT_USER;
        }
    if (find_templates(p->exe, p->tdir, sizeof p->tdir)) return EXIT_USER;
    snprintf(p->script, sizeof p->script, "%s/%s", p->run_dir, COORD_SUBMIT_SCRIPT);
    snprintf(p->merge, sizeof p->merge, "%s/merge.sbatch", p->run_dir);
    return EXIT_OK;
}

/* A run dir that recal started (a journal, or config.yaml of a start that
 * died before its journal) is continued by the job (a resubmission; recal
 * checks it is this job's config); anything else in it must be what an
 * earlier submit left. Makes RUN_DIR and RUN_DIR/logs: an EXIT_* code. */
static int submit_run_dir(struct submit_plan *p) {
    char path[PATH_MAX + 64], copy[PATH_MAX + 64], err[2048];
    snprintf(path, sizeof path, "%s/journal", p->run_dir);
    snprintf(copy, sizeof copy, "%s/config.yaml", p->run_dir);
    p->continues = p->points ? 0 : fs_exists(path) || fs_exists(copy);
    if (p->points ? !sweep_dir_ok(p->run_dir) : !p->continues && !coord_rundir_fresh(p->run_dir)) {
        fprintf(stderr,
                "recal submit: %s holds files of another run but no %s, so the job could neither start "
                "nor resume there: pass a new --run-dir\n",
                p->run_dir, p->points ? "points/ of this sweep" : "journal");
        return EXIT_USER;
    }
    snprintf(path, sizeof path, "%s/logs", p->run_dir);
    if (fs_mkdirs(p->run_dir, err, sizeof err) || fs_mkdir_own(path, err, sizeof err)) {
        fprintf(stderr, "recal submit: %s\n", err);
        return EXIT_USER;
    }
    return EXIT_OK;
}

/* RUN_DIR/submit.sbatch (and a sweep's merge.sbatch) from the templates,
 * printed on a dry run: an EXIT_* code. */
static int submit_scripts(const struct submit_opts *o, const struct job *job, const struct submit_plan *p) {
    char nodes[32], ntasks[32], gen[2 * PATH_MAX], array[64] = "", npoints[32];
    snprintf(nodes, sizeof nodes, "%ld", o->nodes);
    snprintf(ntasks, sizeof ntasks, "%ld", o->ntasks);
    snprintf(npoints, sizeof npoints, "%ld", p->points);
    if (p->points) snprintf(array, sizeof array, "0-%ld", p->points - 1);
    (void)!snprintf(gen, sizeof gen, "Written by `recal submit` from %s/ (config sha256 %s).", p->tdir, job->sha256);
    const struct subst s[] = {
        {"GENERATED_BY", gen},
        {"SCRIPT", p->script},
        {"JOB_NAME", plain(job->name) ? job->name : "recal"},
        {"NODES", nodes},
        {"NTASKS_PER_NODE", ntasks},
        {"GPUS_PER_TASK", o->gpus > 0 ? "1" : ""},
        {"TIME", o->time ? o->time : ""},
        {"PARTITION", o->partition ? o->partition : ""},
        {"ACCOUNT", o->account ? o->account : ""},
        {"WORK_DIR", p->cwd},
        {"RUN_DIR", p->run_dir},
        {"RECAL", p->exe},
        {"CONFIG", p->config},
        {"SETS", p->sets},
        {"ARRAY", array},
        {"LOG_NAME", p->points ? "%A_%a" : "%j"},
        {"SWEEP_POINTS", npoints},
        {"CONFIG_SHA256", job->sha256},
    };
    int ns = (int)(sizeof s / sizeof *s);
    if (write_script(p->tdir, "recal.sbatch", p->script, s, ns, o->dry_run)) return EXIT_USER;
    if (p->points && write_script(p->tdir, "merge.sbatch", p->merge, s, ns, o->dry_run)) return EXIT_USER;
    return EXIT_OK;
}

/* sbatch the script (a sweep: the array, then its merge job after it) and
 * say where the logs and results go: an EXIT_* code. */
static int submit_queue(const struct submit_plan *p) {
    if (p->continues) fprintf(stderr, "recal submit: %s holds a started run: the job resumes it\n", p->run_dir);
    long id = run_sbatch("", p->script);
    if (id < 0) return EXIT_USER;
    printf("%ld\n", id);
    if (!p->points) {
        fprintf(stderr, "recal submit: job %ld queued; log %s/logs/slurm-%ld.out; results in %s\n", id, p->run_dir, id,
                p->run_dir);
        return EXIT_OK;
    }
    char dep[64];
    snprintf(dep, sizeof dep, "--dependency=afterany:%ld", id);
    long mid = run_sbatch(dep, p->merge);
    if (mid < 0) {
        fprintf(stderr,
                "recal submit: the array job %ld is queued, its merge job is not: after it, run recal "
                "sweep-merge (see %s)\n",
                id, p->merge);
        return EXIT_USER;
    }
    printf("%ld\n", mid);
    fprintf(stderr,
            "recal submit: sweep of %ld points queued as array job %ld (logs %s/logs/slurm-%ld_<i>.out, results "
            "in %s/points/<i>/), merge job %ld after it (%s/sweep.json, sweep.csv, sweep_long.csv)\n",
            p->points, id, p->run_dir, id, p->run_dir, mid, p->run_dir);
    return EXIT_OK;
}

/* parse -> the job -> the paths and the run directory -> the scripts ->
 * sbatch (or, on a dry run, what was written). */
static int submit(const struct submit_opts *o, struct job *job, struct submit_plan *p) {
    int rc = submit_job(o, job);
    p->points = job->sweep.n_points;
    if (rc || (rc = submit_sets(o, p->sets, sizeof p->sets)) || (rc = submit_paths(o, job, p)) ||
        (rc = submit_run_dir(p)) || (rc = submit_scripts(o, job, p)))
        return rc;
    if (!o->dry_run) return submit_queue(p);
    fprintf(stderr, "recal submit: wrote %s%s%s (dry run: not submitted)%s\n", p->script, p->points ? " and " : "",
            p->points ? p->merge : "", p->continues ? "; the job will resume the run started there" : "");
    return EXIT_OK;
}

int cmd_submit(int argc, char **argv) {
    struct submit_opts o;
    int prc = parse_args(argc, argv, &o);
    if (prc) return prc > 0 ? EXIT_OK : EXIT_USER;
    /* struct job is ~110 KB and the plan ~30 KB: the heap, so that no
     * static state is left between calls */
    struct job *job = calloc(1, sizeof *job);
    struct submit_plan *plan = calloc(1, sizeof *plan);
    int rc = EXIT_INTERNAL;
    if (!job || !plan) fprintf(stderr, "recal submit: out of host memory\n");
    else rc = submit(&o, job, plan);
    free(job);
    free(plan);
    return rc;
}
