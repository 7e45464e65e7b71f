/* src/run_args.c — see run_args.h. */
#include "run_args.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

enum { O_SET = 256, O_RUN_DIR, O_RANKS, O_LIMIT, O_POINT, O_RESUME, O_SUBMITTED };

/* One flag's value into a: 0, or -1 after the message. */
static int run_flag(int c, const char *v, struct run_args *a) {
    long x = 0;
    switch (c) {
    case O_SET:
        return cli_add_set(v, a->sets, &a->n_sets, JOB_MAX_SETS, "run");
    case O_RUN_DIR:
        /* recal names files under it (RUN_DIR/attributions/shard-…):
         * a longer one was cut silently and the run wrote elsewhere. */
        if (strlen(v) > CLI_RUN_DIR_MAX) {
            fprintf(stderr, "recal run: --run-dir is %zu characters long; at most %d (choose a shorter path)\n",
                    strlen(v), CLI_RUN_DIR_MAX);
            return -1;
        }
        a->run_dir = v;
        return 0;
    case O_RANKS:
        if (cli_long("run", "--ranks", v, 1, &x)) return -1;
        if (x > 100000) {
            fprintf(stderr, "recal run: --ranks %ld: at most 100000\n", x);
            return -1;
        }
        a->ranks = (int)x;
        return 0;
    case O_LIMIT: /* one more --set, in its place: the same config sha256 as --set dataset.limit=N */
        if (cli_long("run", "--limit", v, 0, &x)) return -1;
        snprintf(a->limit_set, sizeof a->limit_set, "dataset.limit=%ld", x);
        return cli_add_set(a->limit_set, a->sets, &a->n_sets, JOB_MAX_SETS, "run");
    case O_POINT:
        return cli_long("run", "--sweep-point", v, 0, &a->point);
    case O_RESUME:
        a->resume = 1;
        return 0;
    case O_SUBMITTED:
        if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64) {
            fprintf(stderr, "recal run: --submitted-sha256 '%s': want the 64 hex digits recal submit printed\n", v);
            return -1;
        }
        a->submitted_sha256 = v;
        return 0;
    default:
        return -1;
    }
}

int run_parse(int argc, char **argv, struct run_args *a) {
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
    a->point = -1;
    cli_start();
    for (int c; (c = cli_next("run", argc, argv, opts)) != -1;) {
        if (c == 'h') {
            fputs(HELP, stdout);
            return 1;
        }
        if (run_flag(c, optarg, a)) return -1;
    }
    const char **operands;
    for (int i = 0, n = cli_operands(&operands); i < n; i++)
        if (cli_operand("run", operands[i], &a->config)) return -1;
    if (!a->config) {
        fputs(HELP, stderr);
        return -1;
    }
    if (a->resume && !a->run_dir) {
        fprintf(stderr, "recal run: --resume needs --run-dir DIR, the run directory to continue\n");
        return -1;
    }
    a->n_user_sets = a->n_sets;
    return 0;
}

int run_load_job(struct run_args *a, struct job *job, char *err, size_t errlen) {
    const char *config = a->config;
    const long point = a->point;
    a->n_sets = a->n_user_sets; /* a second load appends the point's values again */
    if (job_load(config, a->sets, a->n_sets, job, err, errlen)) return -1;
    if (a->submitted_sha256 && strcmp(a->submitted_sha256, job->sha256) != 0) {
        snprintf(err, errlen,
                 "%s changed since `recal submit` validated it (config sha256 %s at submit, %s now: it was "
                 "edited while the job waited). This job would run another job than the one validated: submit "
                 "again, or put the file back",
                 config, a->submitted_sha256, job->sha256);
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
        job_sweep_point(job, point, a->point_sets);
        for (int k = 0; k < job->sweep.n_keys; k++) a->sets[a->n_sets++] = a->point_sets[k];
        if (job_load(config, a->sets, a->n_sets, job, err, errlen)) return -1;
    }
    if (job->n_methods == 0) {
        snprintf(err, errlen, "%s: no methods to evaluate (a train-only config? use recal train)", config);
        return -1;
    }
    if (a->require_roar && !job->roar.on) {
        snprintf(err, errlen, "%s: no metrics.roar section (fractions, epochs, lr, milestones, ...)", config);
        return -1;
    }
    return 0;
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

/* Same config and --set list, hence the same config sha256; `--ranks N`
 * when recal launched the ranks itself (RECAL_LAUNCH_RANKS, set by
 * launch_mpirun). */
void run_resume_hint(FILE *f, const struct run_args *a, const char *dir, int resume) {
    fputs("recal run", f);
    const char *launched = getenv("RECAL_LAUNCH_RANKS");
    if (launched && *launched) fprintf(f, " --ranks %d", atoi(launched));
    put_shell_arg(f, a->config);
    for (int i = 0; i < a->n_user_sets; i++) {
        fputs(" --set", f);
        put_shell_arg(f, a->sets[i]);
    }
    if (a->point >= 0) fprintf(f, " --sweep-point %ld", a->point);
    if (dir) {
        fputs(" --run-dir", f);
        put_shell_arg(f, dir);
    }
    fputs(resume ? " --resume\n" : "\n", f);
}
