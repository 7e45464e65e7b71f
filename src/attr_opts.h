/* src/attr_opts.h — `recal attribute`'s flags (attr_opts.c) and the method
 * they build, before any file is read; cmd_attribute.c then computes. */
#ifndef RECAL_ATTR_OPTS_H
#define RECAL_ATTR_OPTS_H
#include "job.h"

/* The flags as given; NULL / -1 where a flag was not given. */
struct attr_args {
    const char *model, *input, *labels, *method, *est, *refs_path, *objective, *device_s, *config, *out_path, *mean_s,
        *std_s, *segments_path, *precision, *alpha_rule, *target, *cfg_label, *baseline, *blur_sigma, *fill;
    long refs, steps, samples, budget_mb, threads;
    int stats, sqrt_sigmas, compat, samples_auto, seed_given;
    double noise, sigma, epsilon, max_dist, fraction, max_sigma, grad_step;
    unsigned long long seed;
};

/* --config's normalization: n values (1 or 3) of mean and std. */
struct attr_norm {
    int n;
    float mean[3], std[3];
};

/* What the flags (over the method's defaults, or --config's entry) ask for. */
struct attr_plan {
    struct job_method jm; /* estimators set from est_order when the maps are made */
    int est_order[JOB_EST_COUNT], n_est;
    int by_label;              /* explain --labels' classes */
    long target_class;         /* >= 0: that class for every image */
    struct attr_norm cfg_norm; /* --config's, when given */
    unsigned long long seed;
};

/* The flags into a (getopt_long, numbers in full): 0, 1 after --help was
 * printed, or -1 after one line saying what is wrong. */
int attr_parse(int argc, char **argv, struct attr_args *a);
/* The method, estimators and target the flags ask for, each checked as a
 * job's would be: 0, or -1 after one line naming the flag. */
int attr_plan_build(const struct attr_args *a, struct attr_plan *p);
/* The usage text. */
extern const char *const ATTR_HELP;
#endif
