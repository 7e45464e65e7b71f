/* src/run_args.h — `recal run`'s command line (run_args.c): the flags, the
 * job they name (the config, the --set list, a sweep point) and the exact
 * command that resumes a run. */
#ifndef RECAL_RUN_ARGS_H
#define RECAL_RUN_ARGS_H
#include <stdio.h>

#include "job.h"

struct run_args {
    const char *config, *run_dir;
    /* the user's --set list (n_user_sets), then a sweep point's values
     * (run_load_job appends them) */
    const char *sets[JOB_MAX_SETS + JOB_MAX_SWEEP_KEYS + 1];
    int n_sets, n_user_sets;
    int resume, ranks;
    int require_roar;             /* `recal roar`: the config must have metrics.roar */
    long point;                   /* --sweep-point, -1 none */
    const char *submitted_sha256; /* --submitted-sha256, NULL none */
    char limit_set[64];           /* --limit N as a --set */
    char point_sets[JOB_MAX_SWEEP_KEYS][2 * JOB_SWEEP_TEXT + 2];
};

/* The flags into a (getopt_long): 0, 1 after --help was printed, or -1
 * after one line saying what is wrong. */
int run_parse(int argc, char **argv, struct run_args *a);
/* The job of `recal run`: the config with the user's --set list, and for
 * a sweep point that point's values after them (appended to a->sets, so
 * its sha256 — and so its journal — differs from every other point's; the
 * resume hint gives the user's list and --sweep-point). 0, or -1 with a
 * message. */
int run_load_job(struct run_args *a, struct job *job, char *err, size_t errlen);
/* The exact command that continues the run in dir (resume) or starts it
 * again (dir NULL: in a new directory), on f. */
void run_resume_hint(FILE *f, const struct run_args *a, const char *dir, int resume);
#endif
