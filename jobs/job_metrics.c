/* jobs/job_metrics.c — the `metrics:` section. A metric is on when its key
 * is present (an empty mapping means "all defaults"); each sub-key is
 * checked with the same file:line:col messages as the rest of the job. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "job_internal.h"

static const double default_ratios[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};

static int read_ratios(const struct job_err *e, const struct job_node *v, double *dst, int *n) {
    if (v->kind != JOB_N_SEQ || v->n == 0) return job_bad(e, v, "ratios", "a non-empty list of numbers in (0, 1)");
    if (v->n > JOB_MAX_RATIOS)
        return job_errf(e, v, "'ratios' lists %zu values; at most %d are allowed", v->n, JOB_MAX_RATIOS);
    for (size_t i = 0; i < v->n; i++) {
        double r;
        if (job_want_double(e, v->kids[i], "ratios", &r)) return -1;
        if (!(r > 0.0 && r < 1.0)) return job_bad(e, v->kids[i], "ratios", "a number in (0, 1)");
        if (i > 0 && r <= dst[i - 1])
            return job_errf(e, v->kids[i], "'ratios' must be strictly increasing, got %g after %g", r, dst[i - 1]);
        dst[i] = r;
    }
    *n = (int)v->n;
    return 0;
}

static int opt_int(const struct job_err *e, const struct job_node *map, const char *key, long long min, long long max,
                   long long *dst) {
    const struct job_node *v = job_map_get(map, key, NULL);
    return v ? job_want_int(e, v, key, min, max, dst) : 0;
}

/* A number > 0 (and <= max when max > 0). */
static int opt_pos(const struct job_err *e, const struct job_node *map, const char *key, double max, const char *rule,
                   double *dst) {
    const struct job_node *v = job_map_get(map, key, NULL);
    double x;
    if (!v) return 0;
    if (job_want_double(e, v, key, &x)) return -1;
    if (!(x > 0.0) || (max > 0 && x > max)) return job_bad(e, v, key, rule);
    *dst = x;
    return 0;
}

/* The section of metric NAME: NULL when absent, else checked against KEYS. */
static int section(const struct job_err *e, const struct job_node *metrics, const char *name, const char *const *keys,
                   int n_keys, const struct job_node **out) {
    char where[64];
    *out = job_map_get(metrics, name, NULL);
    if (!*out) return 0;
    snprintf(where, sizeof where, "'metrics.%s'", name);
    if (job_want_section(e, *out, name) || job_check_keys(e, *out, keys, n_keys, NULL, 0, "key", where)) return -1;
    return 0;
}

static int read_sensn(const struct job_err *e, const struct job_node *v, struct job_sensn *s) {
    static const char *const keys[] = {"ratios", "samples", "baseline", "post_hoc", "images"};
    /* "zero" is the old spelling of dataset_mean (0 in model space) */
    static const char *const bases[] = {"dataset_mean", "rand", "zero"};
    static const char *const posts[] = {"sum", "abs"};
    const struct job_node *sec, *x;
    long long n;
    int k;
    if (section(e, v, "sensitivity_n", keys, 5, &sec) || !sec) return sec ? -1 : 0;
    s->on = true;
    s->n_ratios = 9;
    memcpy(s->ratios, default_ratios, sizeof default_ratios);
    s->samples = 10;
    if ((x = job_map_get(sec, "ratios", NULL)) && read_ratios(e, x, s->ratios, &s->n_ratios)) return -1;
    n = s->samples;
    if (opt_int(e, sec, "samples", 2, 100000, &n)) return -1;
    s->samples = (int)n;
    if ((x = job_map_get(sec, "baseline", NULL))) {
        if (job_want_enum(e, x, "baseline", bases, 3, &k)) return -1;
        s->baseline = k == 2 ? JOB_SN_DATASET_MEAN : (enum job_sn_baseline)k;
    }
    if ((x = job_map_get(sec, "post_hoc", NULL))) {
        if (job_want_enum(e, x, "post_hoc", posts, 2, &k)) return -1;
        s->post_hoc = (enum job_post_hoc)k;
    }
    n = 0;
    if (opt_int(e, sec, "images", 0, LONG_MAX, &n)) return -1;
    s->images = (long)n;
    return 0;
}

/* An amount given in one of two spaces: NAME_pixel (the image in [0, 1]) or
 * NAME_model (the normalized input the model takes), or the bare NAME: the
 * documented old spelling, read in the space it always meant (ALIAS_PIXEL).
 * At most one of the three; *dst and *pixel keep their defaults when none. */
static int read_amount(const struct job_err *e, const struct job_node *sec, const char *name, bool alias_pixel,
                       double *dst, bool *pixel) {
    char kp[32], km[32];
    snprintf(kp, sizeof kp, "%s_pixel", name);
    snprintf(km, sizeof km, "%s_model", name);
    const struct job_node *vp = job_map_get(sec, kp, NULL), *vm = job_map_get(sec, km, NULL),
                          *va = job_map_get(sec, name, NULL);
    if (!!vp + !!vm + !!va > 1)
        return job_errf(e, vm ? vm : va, "give one of '%s' and '%s' ('%s' is the old spelling of '%s')", kp, km, name,
                        alias_pixel ? kp : km);
    const struct job_node *v = vp ? vp : vm ? vm : va;
    if (!v) return 0;
    bool px = vp || (va && alias_pixel);
    const char *key = vp ? kp : vm ? km : name;
    double x;
    if (job_want_double(e, v, key, &x)) return -1;
    if (!(x > 0.0))
        return job_bad(e, v, key,
                       px ? "a number > 0 (pixel units: the image in [0, 1])"
                          : "a number > 0 (model units: the normalized input)");
    *dst = x;
    *pixel = px;
    return 0;
}

/* lipschitz, max_sensitivity and infidelity share one shape: samples, one
 * amount (sigma or radius) in pixel or model units, images. */
static int read_robust(const struct job_err *e, const struct job_node *v, const char *name, int samples,
                       const char *amount, double value, bool pixel, struct job_robust *r) {
    char keys[5][32] = {"samples", "", "", "", "images"};
    snprintf(keys[1], sizeof keys[1], "%s_pixel", amount);
    snprintf(keys[2], sizeof keys[2], "%s_model", amount);
    snprintf(keys[3], sizeof keys[3], "%s", amount);
    const char *const kp[] = {keys[0], keys[1], keys[2], keys[3], keys[4]};
    const struct job_node *sec;
    long long n;
    if (section(e, v, name, kp, 5, &sec) || !sec) return sec ? -1 : 0;
    r->on = true;
    r->samples = samples;
    r->pixel = pixel;
    double *dst = !strcmp(amount, "radius") ? &r->radius : &r->sigma;
    *dst = value;
    n = samples;
    if (opt_int(e, sec, "samples", 1, 1000000, &n)) return -1;
    r->samples = (int)n;
    /* the bare key keeps the space of the default, which it always meant */
    if (read_amount(e, sec, amount, pixel, dst, &r->pixel)) return -1;
    n = 0;
    if (opt_int(e, sec, "images", 0, LONG_MAX, &n)) return -1;
    r->images = (long)n;
    return 0;
}

static int read_faith(const struct job_err *e, const struct job_node *v, struct job_faith *f) {
    static const char *const keys[] = {"groups", "images"};
    const struct job_node *sec;
    long long n;
    if (section(e, v, "faithfulness", keys, 2, &sec) || !sec) return sec ? -1 : 0;
    f->on = true;
    n = 100;
    if (opt_int(e, sec, "groups", 4, 65536, &n)) return -1;
    f->groups = (int)n;
    n = 0;
    if (opt_int(e, sec, "images", 0, LONG_MAX, &n)) return -1;
    f->images = (long)n;
    return 0;
}

/* faithfulness_correlation {subset_size, runs, baseline, images} and
 * faithfulness_estimate {features_in_step, baseline, images}. */
static int read_faith_q(const struct job_err *e, const struct job_node *v, const char *name, int estimate,
                        struct job_faith_q *f) {
    static const char *const corr_keys[] = {"subset_size", "runs", "baseline", "images"};
    static const char *const est_keys[] = {"features_in_step", "baseline", "images"};
    static const char *const baselines[] = {"black", "dataset_mean", "zero"}; /* zero: old dataset_mean */
    const struct job_node *sec, *x;
    long long n;
    if (section(e, v, name, estimate ? est_keys : corr_keys, estimate ? 3 : 4, &sec) || !sec) return sec ? -1 : 0;
    f->on = true;
    n = 224;
    if (opt_int(e, sec, estimate ? "features_in_step" : "subset_size", 1, INT_MAX, &n)) return -1;
    f->size = (int)n;
    n = 100;
    if (!estimate && opt_int(e, sec, "runs", 2, 1000000, &n)) return -1;
    f->runs = estimate ? 0 : (int)n;
    f->baseline = JOB_FQ_BLACK;
    if ((x = job_map_get(sec, "baseline", NULL))) {
        int b;
        if (job_want_enum(e, x, "baseline", baselines, 3, &b)) return -1;
        f->baseline = b == 2 ? JOB_FQ_DATASET_MEAN : (enum job_fq_baseline)b;
    }
    n = 0;
    if (opt_int(e, sec, "images", 0, LONG_MAX, &n)) return -1;
    f->images = (long)n;
    return 0;
}

/* road {ratios, noise, abs, images} */
static int read_road(const struct job_err *e, const struct job_node *v, struct job_road *r) {
    static const double dflt[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
    static const char *const keys[] = {"ratios", "noise", "abs", "images"};
    const struct job_node *sec, *x;
    long long n = 0;
    if (section(e, v, "road", keys, 4, &sec) || !sec) return sec ? -1 : 0;
    r->on = true;
    r->n_ratios = 9;
    memcpy(r->ratios, dflt, sizeof dflt);
    r->noise = 0.01;
    if ((x = job_map_get(sec, "ratios", NULL)) && read_ratios(e, x, r->ratios, &r->n_ratios)) return -1;
    if ((x = job_map_get(sec, "noise", NULL))) {
        if (job_want_double(e, x, "noise", &r->noise)) return -1;
        if (!(r->noise >= 0)) return job_bad(e, x, "noise", "a number >= 0 (the std of the imputation noise)");
    }
    if ((x = job_map_get(sec, "abs", NULL)) && job_want_bool(e, x, "abs", &r->abs_values)) return -1;
    if (opt_int(e, sec, "images", 0, LONG_MAX, &n)) return -1;
    r->images = (long)n;
    return 0;
}

/* pointing_game {tolerance, images} */
static int read_pointing(const struct job_err *e, const struct job_node *v, struct job_pointing *p) {
    static const char *const keys[] = {"tolerance", "images"};
    const struct job_node *sec, *x;
    long long n = 0;
    if (section(e, v, "pointing_game", keys, 2, &sec) || !sec) return sec ? -1 : 0;
    p->on = true;
    p->tolerance = 15;
    if ((x = job_map_get(sec, "tolerance", NULL))) {
        if (job_want_double(e, x, "tolerance", &p->tolerance)) return -1;
        if (!(p->tolerance >= 0)) return job_bad(e, x, "tolerance", "a number of pixels >= 0");
    }
    if (opt_int(e, sec, "images", 0, LONG_MAX, &n)) return -1;
    p->images = (long)n;
    return 0;
}

static int read_roar(const struct job_err *e, const struct job_node *v, struct job_roar *r) {
    static const double fr[] = {0.1, 0.3, 0.5, 0.7, 0.9};
    static const char *const keys[] = {"fractions", "epochs",       "lr",         "milestones",
                                       "momentum",  "weight_decay", "batch_size", "data_parallel"};
    const struct job_node *sec, *x;
    long long n;
    if (section(e, v, "roar", keys, 8, &sec) || !sec) return sec ? -1 : 0;
    r->on = true;
    r->n_fractions = 5;
    memcpy(r->fractions, fr, sizeof fr);
    r->epochs = 10;
    r->lr = 0.01;
    r->n_milestones = 2;
    r->milestones[0] = 5;
    r->milestones[1] = 7;
    r->momentum = 0.9;
    r->weight_decay = 5e-4;
    r->batch_size = 64;
    if ((x = job_map_get(sec, "fractions", NULL)) && read_ratios(e, x, r->fractions, &r->n_fractions)) return -1;
    n = r->epochs;
    if (opt_int(e, sec, "epochs", 0, 100000, &n)) return -1;
    r->epochs = (int)n;
    n = r->batch_size;
    if (opt_int(e, sec, "batch_size", 1, 1 << 20, &n)) return -1;
    r->batch_size = (int)n;
    if (opt_pos(e, sec, "lr", 0, "a number > 0", &r->lr)) return -1;
    if ((x = job_map_get(sec, "data_parallel", NULL)) && job_want_bool(e, x, "data_parallel", &r->data_parallel))
        return -1;
    if ((x = job_map_get(sec, "momentum", NULL))) {
        if (job_want_double(e, x, "momentum", &r->momentum)) return -1;
        if (!(r->momentum >= 0 && r->momentum < 1)) return job_bad(e, x, "momentum", "a number in [0, 1)");
    }
    if ((x = job_map_get(sec, "weight_decay", NULL))) {
        if (job_want_double(e, x, "weight_decay", &r->weight_decay)) return -1;
        if (!(r->weight_decay >= 0)) return job_bad(e, x, "weight_decay", "a number >= 0");
    }
    if ((x = job_map_get(sec, "milestones", NULL))) {
        if (x->kind != JOB_N_SEQ || x->n > JOB_MAX_MILESTONES)
            return job_bad(e, x, "milestones", "a list of at most 8 increasing epoch numbers");
        for (size_t i = 0; i < x->n; i++) {
            if (job_want_int(e, x->kids[i], "milestones", 1, 100000, &n)) return -1;
            if (i > 0 && n <= r->milestones[i - 1])
                return job_errf(e, x->kids[i], "'milestones' must be strictly increasing, got %lld after %d", n,
                                r->milestones[i - 1]);
            r->milestones[i] = (int)n;
        }
        r->n_milestones = (int)x->n;
    }
    return 0;
}

int job_read_metrics(const struct job_err *e, const struct job_node *v, struct job *j) {
    static const char *const known[] = {"diffid",
                                        "sensitivity_n",
                                        "lipschitz",
                                        "infidelity",
                                        "max_sensitivity",
                                        "faithfulness",
                                        "faithfulness_correlation",
                                        "faithfulness_estimate",
                                        "roar",
                                        "road",
                                        "pointing_game"};
    static const char *const diffid_keys[] = {"ratios"};
    if (job_want_section(e, v, "metrics") || job_check_keys(e, v, known, 11, NULL, 0, "metric", "'metrics'")) return -1;
    if (read_faith_q(e, v, "faithfulness_correlation", 0, &j->fcorr) ||
        read_faith_q(e, v, "faithfulness_estimate", 1, &j->fest))
        return -1;
    if (read_sensn(e, v, &j->sensn) ||
        /* Tan & Tian: σ = 0.03 on unnormalized images; Captum's defaults for the other two */
        read_robust(e, v, "lipschitz", 50, "sigma", 0.03, true, &j->lipschitz) ||
        read_robust(e, v, "max_sensitivity", 10, "radius", 0.02, false, &j->max_sens) ||
        read_robust(e, v, "infidelity", 50, "sigma", 0.003, false, &j->infidelity) || read_faith(e, v, &j->faith) ||
        read_roar(e, v, &j->roar) || read_road(e, v, &j->road) || read_pointing(e, v, &j->pointing))
        return -1;
    /* the ROAR step reads the rank maps of this run */
    if (j->roar.on) j->out_masks = true;
    const struct job_node *d = job_map_get(v, "diffid", NULL);
    if (!d) return 0;
    if (job_want_section(e, d, "diffid") || job_check_keys(e, d, diffid_keys, 1, NULL, 0, "key", "'metrics.diffid'"))
        return -1;
    j->diffid = true;
    const struct job_node *r = job_map_get(d, "ratios", NULL);
    return r ? read_ratios(e, r, j->diffid_ratios, &j->n_diffid_ratios) : 0;
}

void job_roar_train_view(const struct job *j, struct job *t) {
    *t = *j;
    snprintf(t->split, sizeof t->split, "train");
    t->diffid = false;
    t->sensn.on = false;
    t->lipschitz.on = t->max_sens.on = t->infidelity.on = false;
    t->faith.on = t->fcorr.on = t->fest.on = t->road.on = t->pointing.on = false;
    t->out_figures = false;
    t->out_per_image = false;
    t->out_masks = true;
}
