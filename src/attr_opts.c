/* src/attr_opts.c — `recal attribute`'s flags and the method they build:
 * the method table's defaults (or --config's entry), then each flag given,
 * then the one check a job's methods: entry has too (job_method_check). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "attr_opts.h"
#include "cli.h"
#include "cores.h"
#include "dataset.h"
#include "fsutil.h"

const char *const ATTR_HELP =
    "usage: recal attribute --model M.pt --input X.npy --method NAME --out A.npy [options]\n"
    "\n"
    "  --input X.npy          N×C×H×W float32, already normalized for the model\n"
    "  --labels L.npy         N labels (int); with --target label (the default when given) the\n"
    "                         explained classes\n"
    "  --target T             label (needs --labels) | predicted | a class index for every image;\n"
    "                         default: label with --labels, else predicted (a job's `target:`)\n"
    "  --method NAME          random | input_grad | input_x_grad | smoothgrad | gradcam | lime |\n"
    "                         kernel_shap | ig | ig_uniform |\n"
    "                         ig_sg | ig_sq | eg | agi | guided_ig | blur_ig (eg needs\n"
    "                         --references: training images)\n"
    "  --estimator E[,E...]   vanilla (default) | valid_ref (ig, ig_uniform, ig_sg, ig_sq, eg, agi) |\n"
    "                         valid_ip (those and guided_ig, blur_ig) | idgi (ig, ig_uniform, ig_sg,\n"
    "                         guided_ig, blur_ig)\n"
    "  --refs R --steps K     references and interpolation steps (default 10 and 5; eg: K = 1)\n"
    "  --baseline B           ig, guided_ig: dataset_mean (default, 0 in model space; old spelling zero) |\n"
    "                         black (pixel 0, normalize(0)) | blur (the image blurred per channel, as\n"
    "                         blur_ig's kernel) | uniform (normalize(U[0,1]), seeded per image) |\n"
    "                         FILE.npy (C×H×W for all images or N×C×H×W, row i = image i, model space)\n"
    "  --blur-sigma S         --baseline blur: the Gaussian's sigma in pixels (default 5)\n"
    "  --alpha-rule A         ig, ig_uniform, ig_sg, ig_sq: the K points and weights of a path:\n"
    "                         endpoints (default: linspace(0, 1, K), weights 1/K) | riemann_left |\n"
    "                         riemann_right | riemann_middle | riemann_trapezoid | gausslegendre\n"
    "                         (Captum's IntegratedGradients method=, point for point)\n"
    "  --noise F | --sigma-pixel S  ig_sg, ig_sq, smoothgrad: sigma = F x the image's pixel range\n"
    "                         (default 0.15), or S in pixel units (--sigma: old spelling)\n"
    "  --fill F               lime, kernel_shap: what a switched-off superpixel shows:\n"
    "                         superpixel_mean (lime's default, as lime_image) | dataset_mean\n"
    "                         (kernel_shap's default, 0 in model space) | black\n"
    "  --samples N            smoothgrad: noisy samples (default 30; auto: n = 10 for sigma < 0.01,\n"
    "                         else sigma/0.01 x 10, needs --sigma); lime, kernel_shap:\n"
    "                         perturbations (default 100)\n"
    "  --segments-out S.npy   lime, kernel_shap: write the N×H×W int32 superpixel labels\n"
    "  --epsilon E            agi: step size in pixel units (default 0.05); --refs = target\n"
    "                         classes (default 5), --steps = steps (default 10)\n"
    "  --max-dist D --fraction F  guided_ig: how far from the straight line the path may go (0.02)\n"
    "                         and the share of features moved per step (0.25); --steps (200)\n"
    "  --max-sigma S --grad-step G --sqrt  blur_ig: the last blur in pixels (50), the sigma finite\n"
    "                         difference (0.01), sqrt-spaced sigmas; --steps (100)\n"
    "  --reference-compat     the reference implementation's reference pairing (docs/methods.md)\n"
    "  --references REFS.npy  explicit references, R×C×H×W (shared) or N×R×C×H×W, in model space\n"
    "  --mean a,b,c --std a,b,c  the model's input normalization (pixel - mean) / std, used by the\n"
    "                         samplers that work in pixel space (default mean 0, std 1)\n"
    "  --objective O          logit (default) | prob | contrast\n"
    "  --seed S               run seed (default 0); image i of the batch uses image id i\n"
    "  --config C.yaml        take the normalization (dataset.mean/std or the dataset's), the\n"
    "                         method's settings (its entry in methods:), the target and the\n"
    "                         seed from a job; flags given override them\n"
    "  --label L              with --config: the methods: entry labelled L (a method listed twice)\n"
    "  --device D             auto (default) | cpu | cuda\n"
    "  --precision P          fp32 (default, exact) | tf32 (CUDA) | bf16 (bfloat16 autocast forwards)\n"
    "  --memory-budget MB     samples per forward+backward follow this budget, as memory_budget_mb\n"
    "                         does in a job (default 2048), whatever refs x steps\n"
    "  --threads T            intra-op threads (default: every usable core: the machine's, or its cgroup's share)\n"
    "  --stats                print what the method cost on stderr, one JSON line: samples through\n"
    "                         the model (forward, backward), bytes host->device and back, and\n"
    "                         syncs (the host's waits for the device: every copy; d2h_syncs: reads)\n"
    "  --out A.npy            N×C×H×W float32 attributions; with several --estimator values (or a\n"
    "                         --config entry with several) N×E×C×H×W, E in the order given, from\n"
    "                         one gradient pass\n";

/* EXIT_USER after saying what `opt` wants. */
static int bad_num(const char *opt, const char *v, const char *want) {
    fprintf(stderr, "recal attribute: %s wants a number %s, got '%s'\n", opt, want, v);
    return EXIT_USER;
}

static int want_long(const char *opt, const char *v, long min, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno || x < min) {
        char want[64];
        snprintf(want, sizeof want, "(a whole number >= %ld)", min);
        bad_num(opt, v, want);
        return -1;
    }
    *out = x;
    return 0;
}

/* R, K and N multiply into the points of one image: a million is already
 * hours of work per image; "--steps 99999999999" ran out of host memory and
 * told the user to lower batch_size, which attribute does not have. */
static int too_many(const char *opt, long v) {
    if (v <= 1000000) return 0;
    fprintf(stderr, "recal attribute: %s %ld is over 1,000,000 (points per image multiply with it)\n", opt, v);
    return -1;
}

/* --estimator E[,E...]: the estimators in the order given (one gradient
 * pass serves them all), none twice; whether the method has them is
 * job_method_check's. Their count, or -1 with a message naming the value. */
static int attr_estimators(const char *v, int order[JOB_EST_COUNT]) {
    char buf[256];
    int n = 0;
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int e = -1;
        for (int k = 0; k < JOB_EST_COUNT; k++)
            if (!strcasecmp(tok, job_estimator_name((enum job_estimator)k))) e = k;
        if (e < 0) {
            fprintf(stderr,
                    "recal attribute: --estimator '%s': want vanilla, valid_ref, valid_ip or idgi, or several "
                    "joined by commas (vanilla,valid_ip)\n",
                    tok);
            return -1;
        }
        for (int k = 0; k < n; k++)
            if (order[k] == e) {
                fprintf(stderr, "recal attribute: --estimator %s names %s twice\n", v, tok);
                return -1;
            }
        order[n++] = e;
    }
    if (n == 0) fprintf(stderr, "recal attribute: --estimator '%s': name at least one estimator\n", v);
    return n ? n : -1;
}

/* --config C: load the job, take its entry for the method (its refs,
 * steps, estimators, noise, baseline, α rule, objective ...) and its
 * dataset's normalization (dataset.mean/std, else the dataset's defaults).
 * 0, or -1 with a message naming the config. */
static int attr_config_entry(const char *path, enum job_method_kind kind, const char *label, const struct job *job,
                             struct job_method *jm, struct attr_norm *norm) {
    int found = -1, matches = 0;
    for (int k = 0; k < job->n_methods; k++)
        if (job->methods[k].kind == kind && (!label || !strcmp(job_method_label(&job->methods[k]), label))) {
            if (found < 0) found = k;
            matches++;
        }
    if (matches > 1) {
        fprintf(stderr, "recal attribute: --config %s lists %s %d times: choose the entry with --label (its label)\n",
                path, job_method_name(kind), matches);
        return -1;
    }
    if (found < 0) {
        char list[512] = "";
        for (int k = 0, w = 0; k < job->n_methods && w < (int)sizeof list; k++)
            w += snprintf(list + w, sizeof list - (size_t)w, "%s%s", k ? ", " : "", job_method_label(&job->methods[k]));
        fprintf(stderr,
                "recal attribute: --config %s has no method %s (its methods: %s): name one of them with "
                "--method, or add it to the config\n",
                path, job_method_name(kind), list);
        return -1;
    }
    *jm = job->methods[found];
    float dm[3], ds[3];
    const int dn = ds_default_normalization(job->dataset_name, dm, ds);
    norm->n = job->ds_n_mean ? job->ds_n_mean : dn;
    for (int ch = 0; ch < 3; ch++) {
        norm->mean[ch] = job->ds_n_mean ? (float)job->ds_mean[job->ds_n_mean == 1 ? 0 : ch] : dm[dn == 1 ? 0 : ch];
        norm->std[ch] = job->ds_n_std ? (float)job->ds_std[job->ds_n_std == 1 ? 0 : ch] : ds[dn == 1 ? 0 : ch];
    }
    return 0;
}

static int want_positive(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x) || !(x > 0)) {
        bad_num(opt, v, "> 0");
        return -1;
    }
    *out = x;
    return 0;
}

/* --baseline NAME|FILE.npy and --blur-sigma S into jm, over the defaults
 * or --config's entry: a name of job_baseline_names, else a path ending in
 * .npy (which methods take them, and blur_sigma's limit, are
 * job_method_check's). 0, or -1 after one line naming the flag and its value. */
static int attr_baseline(const char *v, const char *blur_s, struct job_method *jm) {
    if (v) {
        int b = -1;
        for (int k = 0; k < JOB_BASELINE_NAMES && b < 0; k++)
            if (!strcasecmp(v, job_baseline_names[k])) b = k;
        const size_t n = strlen(v);
        if (b >= 0) {
            jm->baseline = job_baseline_at(b);
        } else if (n > 4 && !strcasecmp(v + n - 4, ".npy") && n < sizeof jm->baseline_path) {
            jm->baseline = JOB_BASE_FILE;
            memcpy(jm->baseline_path, v, n + 1);
        } else {
            fprintf(stderr,
                    "recal attribute: --baseline '%s': want dataset_mean (0 in model space; old spelling zero), black "
                    "(pixel 0), blur, uniform, or a FILE.npy (a path under %zu characters)\n",
                    v, sizeof jm->baseline_path);
            return -1;
        }
    }
    return blur_s ? want_positive("--blur-sigma", blur_s, &jm->blur_sigma) : 0;
}

/* --alpha-rule: the rule by name (which methods and settings it goes with
 * is job_method_check's, as for a job's alpha_rule). */
static int attr_alpha_rule(const char *v, struct job_method *jm) {
    int r = -1;
    for (int k = 0; k < JOB_ALPHA_COUNT; k++)
        if (!strcasecmp(v, job_alpha_rule_name((enum job_alpha_rule)k))) r = k;
    if (r < 0) {
        fprintf(stderr,
                "recal attribute: --alpha-rule '%s': want endpoints, riemann_left, riemann_right, "
                "riemann_middle, riemann_trapezoid or gausslegendre\n",
                v);
        return -1;
    }
    jm->alpha_rule = (enum job_alpha_rule)r;
    return 0;
}

static int want_seed(const char *v, unsigned long long *out) {
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end || errno || v[0] == '-') {
        bad_num("--seed", v, "(a whole number >= 0)");
        return -1;
    }
    *out = x;
    return 0;
}

/* --config C: load the job and take its entry for the method, its seed and
 * its target (the flags given override them); 0, or -1 after the message. */
static int attr_config(const struct attr_args *a, enum job_method_kind kind, struct attr_plan *p, const char **target,
                       char *cfg_target, size_t cfg_target_len) {
    char err[2048];
    struct job *job = calloc(1, sizeof *job); /* 110 KB: the heap, not a static */
    int rc = -1;
    if (!job) {
        fprintf(stderr, "recal attribute: out of host memory\n");
        return -1;
    }
    if (job_load(a->config, NULL, 0, job, err, sizeof err)) {
        fprintf(stderr, "recal attribute: --config %s\n", err);
        goto out;
    }
    if (attr_config_entry(a->config, kind, a->cfg_label, job, &p->jm, &p->cfg_norm)) goto out;
    if (!a->seed_given) p->seed = job->seed;
    if (!a->target && !a->labels && job->target == JOB_TARGET_LABEL) {
        fprintf(stderr,
                "recal attribute: %s explains the labels (target: label): give --labels L.npy, or --target "
                "predicted | K\n",
                a->config);
        goto out;
    }
    if (!a->target && job->target != JOB_TARGET_LABEL) {
        snprintf(cfg_target, cfg_target_len, "%d", job->target);
        *target = job->target == JOB_TARGET_PREDICTED ? "predicted" : cfg_target;
    }
    rc = 0;
out:
    free(job);
    return rc;
}

/* The flags that take a file name or a word, by where they are kept. */
enum {
    O_MODEL = 256,
    O_INPUT,
    O_LABELS,
    O_METHOD,
    O_ESTIMATOR,
    O_REFERENCES,
    O_OBJECTIVE,
    O_DEVICE,
    O_PRECISION,
    O_OUT,
    O_SEGMENTS_OUT,
    O_MEAN,
    O_STD,
    O_FILL,
    O_BASELINE,
    O_ALPHA_RULE,
    O_TARGET,
    O_CONFIG,
    O_LABEL,
    O_BLUR_SIGMA,
    O_LAST_STRING = O_BLUR_SIGMA,
    O_REFS,
    O_STEPS,
    O_SEED,
    O_SAMPLES,
    O_NOISE,
    O_SIGMA,
    O_SIGMA_PIXEL,
    O_EPSILON,
    O_MEMORY_BUDGET,
    O_THREADS,
    O_REFERENCE_COMPAT,
    O_STATS,
    O_MAX_DIST,
    O_FRACTION,
    O_MAX_SIGMA,
    O_GRAD_STEP,
    O_SQRT
};
static const size_t string_slot[O_LAST_STRING - O_MODEL + 1] = {
    offsetof(struct attr_args, model),         offsetof(struct attr_args, input),
    offsetof(struct attr_args, labels),        offsetof(struct attr_args, method),
    offsetof(struct attr_args, est),           offsetof(struct attr_args, refs_path),
    offsetof(struct attr_args, objective),     offsetof(struct attr_args, device_s),
    offsetof(struct attr_args, precision),     offsetof(struct attr_args, out_path),
    offsetof(struct attr_args, segments_path), offsetof(struct attr_args, mean_s),
    offsetof(struct attr_args, std_s),         offsetof(struct attr_args, fill),
    offsetof(struct attr_args, baseline),      offsetof(struct attr_args, alpha_rule),
    offsetof(struct attr_args, target),        offsetof(struct attr_args, config),
    offsetof(struct attr_args, cfg_label),     offsetof(struct attr_args, blur_sigma),
};
static const struct option attr_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"model", required_argument, NULL, O_MODEL},
    {"input", required_argument, NULL, O_INPUT},
    {"labels", required_argument, NULL, O_LABELS},
    {"method", required_argument, NULL, O_METHOD},
    {"estimator", required_argument, NULL, O_ESTIMATOR},
    {"references", required_argument, NULL, O_REFERENCES},
    {"objective", required_argument, NULL, O_OBJECTIVE},
    {"device", required_argument, NULL, O_DEVICE},
    {"precision", required_argument, NULL, O_PRECISION},
    {"out", required_argument, NULL, O_OUT},
    {"segments-out", required_argument, NULL, O_SEGMENTS_OUT},
    {"mean", required_argument, NULL, O_MEAN},
    {"std", required_argument, NULL, O_STD},
    {"refs", required_argument, NULL, O_REFS},
    {"steps", required_argument, NULL, O_STEPS},
    {"seed", required_argument, NULL, O_SEED},
    {"samples", required_argument, NULL, O_SAMPLES},
    {"noise", required_argument, NULL, O_NOISE},
    {"sigma", required_argument, NULL, O_SIGMA},
    {"sigma-pixel", required_argument, NULL, O_SIGMA_PIXEL},
    {"fill", required_argument, NULL, O_FILL},
    {"epsilon", required_argument, NULL, O_EPSILON},
    {"memory-budget", required_argument, NULL, O_MEMORY_BUDGET},
    {"baseline", required_argument, NULL, O_BASELINE},
    {"alpha-rule", required_argument, NULL, O_ALPHA_RULE},
    {"target", required_argument, NULL, O_TARGET},
    {"config", required_argument, NULL, O_CONFIG},
    {"label", required_argument, NULL, O_LABEL},
    {"threads", required_argument, NULL, O_THREADS},
    {"reference-compat", no_argument, NULL, O_REFERENCE_COMPAT},
    {"stats", no_argument, NULL, O_STATS},
    {"max-dist", required_argument, NULL, O_MAX_DIST},
    {"fraction", required_argument, NULL, O_FRACTION},
    {"max-sigma", required_argument, NULL, O_MAX_SIGMA},
    {"grad-step", required_argument, NULL, O_GRAD_STEP},
    {"sqrt", no_argument, NULL, O_SQRT},
    {"blur-sigma", required_argument, NULL, O_BLUR_SIGMA},
    {NULL, 0, NULL, 0},
};

/* One numeric or switch flag into a: 0, or -1 after the message. Numbers
 * in full or not at all: "--refs 2x" or "--steps -1" is an error, never a
 * default. */
static int attr_number(int c, const char *v, struct attr_args *a) {
    switch (c) {
    case O_REFS:
        return want_long("--refs", v, 1, &a->refs) || too_many("--refs", a->refs) ? -1 : 0;
    case O_STEPS:
        return want_long("--steps", v, 1, &a->steps) || too_many("--steps", a->steps) ? -1 : 0;
    case O_SEED:
        a->seed_given = 1;
        return want_seed(v, &a->seed);
    case O_SAMPLES:
        if (!strcasecmp(v, "auto")) return a->samples_auto = 1, 0;
        return want_long("--samples", v, 1, &a->samples) || too_many("--samples", a->samples) ? -1 : 0;
    case O_NOISE:
        return want_positive("--noise", v, &a->noise);
    case O_SIGMA:
        return want_positive("--sigma", v, &a->sigma);
    case O_SIGMA_PIXEL:
        return want_positive("--sigma-pixel", v, &a->sigma);
    case O_EPSILON:
        return want_positive("--epsilon", v, &a->epsilon);
    case O_MEMORY_BUDGET:
        return want_long("--memory-budget", v, 1, &a->budget_mb);
    case O_THREADS: {
        char terr[512];
        if (want_long("--threads", v, 1, &a->threads)) return -1;
        if (!cores_check_threads("recal attribute: --threads", a->threads, terr, sizeof terr)) return 0;
        fprintf(stderr, "%s\n", terr);
        return -1;
    }
    case O_REFERENCE_COMPAT:
        return a->compat = 1, 0;
    case O_STATS:
        return a->stats = 1, 0;
    case O_MAX_DIST: /* 0 is a straight line: allowed */
        return !strcmp(v, "0") ? (a->max_dist = 0, 0) : want_positive("--max-dist", v, &a->max_dist);
    case O_FRACTION:
        return want_positive("--fraction", v, &a->fraction);
    case O_MAX_SIGMA:
        return want_positive("--max-sigma", v, &a->max_sigma);
    case O_GRAD_STEP:
        return want_positive("--grad-step", v, &a->grad_step);
    case O_SQRT:
        return a->sqrt_sigmas = 1, 0;
    default:
        return -1;
    }
}

int attr_parse(int argc, char **argv, struct attr_args *a) {
    /* -1: the method's default (job_method_defaults) */
    *a = (struct attr_args){.device_s = "auto",
                            .precision = "fp32",
                            .refs = -1,
                            .steps = -1,
                            .samples = -1,
                            .budget_mb = 2048,
                            .noise = -1,
                            .epsilon = -1,
                            .max_dist = -1,
                            .fraction = -1,
                            .max_sigma = -1,
                            .grad_step = -1};
    cli_start();
    for (int c; (c = cli_next("attribute", argc, argv, attr_options)) != -1;) {
        if (c == 'h') {
            fputs(ATTR_HELP, stdout);
            return 1;
        }
        if (c >= O_MODEL && c <= O_LAST_STRING) *(const char **)((char *)a + string_slot[c - O_MODEL]) = optarg;
        else if (attr_number(c, optarg, a)) return -1;
    }
    const char **operands;
    if (cli_operands(&operands) > 0) {
        fprintf(stderr, "recal attribute: unexpected argument '%s' (see --help)\n", operands[0]);
        return -1;
    }
    if (!a->model || !a->input || !a->method || !a->out_path) {
        fprintf(stderr, "recal attribute: --model, --input, --method and --out are required\n\n%s", ATTR_HELP);
        return -1;
    }
    if (a->budget_mb <= 0) {
        fprintf(stderr, "recal attribute: --memory-budget wants megabytes > 0\n");
        return -1;
    }
    if (a->samples_auto) {
        if (!(a->sigma > 0)) {
            fprintf(stderr, "recal attribute: --samples auto (n from sigma, Tan & Tian's rule) needs --sigma-pixel S "
                            "in pixel units\n");
            return -1;
        }
        a->samples = job_smoothgrad_auto_samples(a->sigma);
    }
    return 0;
}

/* --method NAME: the kind, or -1 after naming it (with a suggestion). */
static int attr_kind(const char *method) {
    const char *names[JOB_M_COUNT];
    int kind = -1;
    for (int k = 0; k < JOB_M_COUNT; k++) {
        names[k] = job_method_name((enum job_method_kind)k);
        if (!strcasecmp(method, names[k])) kind = k;
    }
    if (kind == JOB_M_PRECOMPUTED) {
        fprintf(stderr, "recal attribute: precomputed reads maps made elsewhere: it is a job's method, scored by "
                        "recal run (docs/methods.md, \"Maps made elsewhere\")\n");
        return -1;
    }
    if (kind < 0 || !job_method_implemented((enum job_method_kind)kind)) {
        const char *s = kind < 0 ? job_suggest(method, names, JOB_M_COUNT) : NULL;
        fprintf(stderr, "recal attribute: method '%s' is %s%s%s%s (see --help)\n", method,
                kind < 0 ? "unknown" : "not implemented yet", s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        return -1;
    }
    return kind;
}

/* The method's flags given, over its defaults or --config's entry (what
 * each may hold, and for which methods: job_method_check, in attr_check). */
static int attr_method_flags(const struct attr_args *a, struct job_method *jm) {
    if (a->refs > 0) jm->refs = (int)a->refs;
    if (a->steps > 0) jm->steps = (int)a->steps;
    if (a->samples > 0) jm->samples = (int)a->samples;
    if (a->noise > 0) jm->noise = a->noise;
    if (a->sigma > 0) jm->sigma = a->sigma;
    if (a->epsilon > 0) jm->epsilon = a->epsilon;
    if (a->compat) jm->reference_compat = true;
    if (a->max_dist >= 0) jm->max_dist = a->max_dist;
    if (a->fraction > 0) jm->fraction = a->fraction;
    if (a->max_sigma > 0) jm->max_sigma = a->max_sigma;
    if (a->grad_step > 0) jm->grad_step = a->grad_step;
    if (a->sqrt_sigmas) jm->sqrt_sigmas = true;
    if (a->segments_path && jm->kind != JOB_M_LIME && jm->kind != JOB_M_KERNEL_SHAP) {
        fprintf(stderr, "recal attribute: --segments-out applies to lime and kernel_shap only\n");
        return -1;
    }
    if (attr_baseline(a->baseline, a->blur_sigma, jm)) return -1; /* else the default's, or --config's */
    if (a->refs_path && a->baseline && jm->kind == JOB_M_IG) {
        fprintf(stderr,
                "recal attribute: --baseline %s and --references: give one (%s's paths start at the "
                "references when given)\n",
                a->baseline, job_method_name(jm->kind));
        return -1;
    }
    return a->alpha_rule && attr_alpha_rule(a->alpha_rule, jm) ? -1 : 0;
}

/* --fill by name (lime's and kernel_shap's default, or --config's, otherwise). */
static int attr_fill(const char *fill, struct job_method *jm) {
    if (!fill) return 0;
    int f = -1;
    for (int i = 0; i < JOB_FILL_NAMES && f < 0; i++)
        if (!strcasecmp(fill, job_fill_names[i])) f = i;
    if (f < 0) {
        fprintf(stderr, "recal attribute: --fill is superpixel_mean, dataset_mean or black, got '%s'\n", fill);
        return -1;
    }
    jm->fill = job_fill_at(f);
    return 0;
}

/* --target: label (default with --labels), predicted (default without), or class K. */
static int attr_target(const struct attr_args *a, const char *target, struct attr_plan *p) {
    p->target_class = -1;
    p->by_label = target ? !strcasecmp(target, "label") : a->labels != NULL;
    if (target && !p->by_label && strcasecmp(target, "predicted") &&
        want_long("--target", target, 0, &p->target_class)) /* the message names --target and what it takes */
        return -1;
    if (p->by_label && !a->labels) {
        fprintf(stderr, "recal attribute: --target label needs --labels L.npy (or --target predicted | K)\n");
        return -1;
    }
    return 0;
}

/* The files the method reads: what each method needs, and --out none of them. */
static int attr_files(const struct attr_args *a, const struct job_method *jm) {
    if (a->refs_path && (jm->kind == JOB_M_GUIDED_IG || jm->kind == JOB_M_BLUR_IG)) {
        fprintf(stderr,
                "recal attribute: %s takes no --references (its path starts at --baseline, or at the "
                "blurred image)\n",
                jm->kind == JOB_M_GUIDED_IG ? "guided_ig" : "blur_ig");
        return -1;
    }
    const char *inputs[5][2] = {{"--input", a->input},
                                {"--labels", a->labels},
                                {"--references", a->refs_path},
                                {"--model", a->model},
                                {"--baseline", jm->baseline == JOB_BASE_FILE ? jm->baseline_path : NULL}};
    for (int k = 0; k < 5; k++)
        if (fs_same_file(a->out_path, inputs[k][1])) {
            fprintf(stderr,
                    "recal attribute: --out %s is the %s file: it would be overwritten; write the "
                    "attributions to another file\n",
                    a->out_path, inputs[k][0]);
            return -1;
        }
    /* refused before the work, not after it */
    char out_err[1200];
    if (fs_output_ok(a->out_path, out_err, sizeof out_err) ||
        (a->segments_path && fs_output_ok(a->segments_path, out_err, sizeof out_err))) {
        fprintf(stderr, "recal attribute: %s\n", out_err);
        return -1;
    }
    if (jm->kind == JOB_M_EG && !a->refs_path) {
        fprintf(stderr, "recal attribute: method eg draws references from training images: pass them with "
                        "--references REFS.npy\n");
        return -1;
    }
    return 0;
}

/* --estimator (or --config's) into the plan's order and jm's mask, and
 * --objective (or --config's). */
static int attr_estimators_objective(const struct attr_args *a, struct attr_plan *p) {
    struct job_method *jm = &p->jm;
    char cfg_est[128] = "vanilla";
    if (!a->est && a->config) /* the config entry's estimators, in their table order */
        for (int k = 0, w = 0; k < JOB_EST_COUNT; k++)
            if ((jm->estimators >> k) & 1)
                w += snprintf(cfg_est + w, sizeof cfg_est - (size_t)w, "%s%s", w ? "," : "",
                              job_estimator_name((enum job_estimator)k));
    p->n_est = attr_estimators(a->est ? a->est : cfg_est, p->est_order);
    if (p->n_est < 0) return -1;
    jm->estimators = 0;
    for (int k = 0; k < p->n_est; k++) jm->estimators |= 1u << p->est_order[k];
    const char *objective = a->objective ? a->objective : job_objective_name(jm->objective);
    int obj = !strcasecmp(objective, "logit")      ? 0
              : !strcasecmp(objective, "prob")     ? 1
              : !strcasecmp(objective, "contrast") ? 2
                                                   : -1;
    if (obj < 0) {
        fprintf(stderr, "recal attribute: --objective '%s': want logit, prob or contrast\n", objective);
        return -1;
    }
    jm->objective = (enum job_objective)obj;
    return 0;
}

/* The flag of each field job_method_check may blame (enum job_method_field's order). */
static const char *const FIELD_FLAGS[JOB_MF_COUNT] = {"--estimator",
                                                      "--refs",
                                                      "--steps",
                                                      "--reference-compat",
                                                      "--method precomputed",
                                                      "--alpha-rule",
                                                      "--baseline",
                                                      "--blur-sigma",
                                                      "--fill",
                                                      "--noise",
                                                      "--sigma-pixel",
                                                      "--epsilon",
                                                      "--max-dist",
                                                      "--fraction",
                                                      "--max-sigma",
                                                      "--grad-step",
                                                      "--sqrt",
                                                      "--samples"};

/* The method's settings, checked as a job's methods: entry is
 * (job_method_check): 0, or -1 after one line naming the flag, or the
 * --config whose entry holds the value at fault. */
static int attr_check(const struct attr_args *a, const struct job_method *jm) {
    const int given_flag[JOB_MF_COUNT] = {[JOB_MF_ESTIMATORS] = a->est != NULL,
                                          [JOB_MF_REFS] = a->refs > 0,
                                          [JOB_MF_STEPS] = a->steps > 0,
                                          [JOB_MF_REFERENCE_COMPAT] = a->compat,
                                          [JOB_MF_ALPHA_RULE] = a->alpha_rule != NULL,
                                          [JOB_MF_BASELINE] = a->baseline != NULL,
                                          [JOB_MF_BLUR_SIGMA] = a->blur_sigma != NULL,
                                          [JOB_MF_FILL] = a->fill != NULL,
                                          [JOB_MF_NOISE] = a->noise > 0,
                                          [JOB_MF_SIGMA] = a->sigma > 0,
                                          [JOB_MF_EPSILON] = a->epsilon > 0,
                                          [JOB_MF_MAX_DIST] = a->max_dist >= 0,
                                          [JOB_MF_FRACTION] = a->fraction > 0,
                                          [JOB_MF_MAX_SIGMA] = a->max_sigma > 0,
                                          [JOB_MF_GRAD_STEP] = a->grad_step > 0,
                                          [JOB_MF_SQRT] = a->sqrt_sigmas,
                                          [JOB_MF_SAMPLES] = a->samples > 0};
    unsigned given = 0;
    for (int f = 0; f < JOB_MF_COUNT; f++)
        if (given_flag[f]) given |= JOB_MF_BIT(f);
    struct job_method_problem p;
    if (!job_method_check(jm, given, &p)) return 0;
    /* the words given, where the message does not quote the value */
    const char *text[JOB_MF_COUNT] = {[JOB_MF_ESTIMATORS] = a->est,
                                      [JOB_MF_ALPHA_RULE] = a->alpha_rule,
                                      [JOB_MF_BASELINE] = a->baseline,
                                      [JOB_MF_BLUR_SIGMA] = a->blur_sigma,
                                      [JOB_MF_FILL] = a->fill};
    char who[1200];
    if (given_flag[p.field] || !a->config)
        snprintf(who, sizeof who, "%s%s%.200s", FIELD_FLAGS[p.field], text[p.field] && p.form != JOB_MP_RULE ? " " : "",
                 text[p.field] && p.form != JOB_MP_RULE ? text[p.field] : "");
    else snprintf(who, sizeof who, "--config %s (its %s entry)", a->config, job_method_label(jm));
    if (p.form == JOB_MP_RULE) fprintf(stderr, "recal attribute: %s wants %s, got %g\n", who, p.msg, p.value);
    else if (p.form == JOB_MP_KEY) fprintf(stderr, "recal attribute: %s %s\n", who, p.msg);
    else fprintf(stderr, "recal attribute: %s: %s\n", who, p.msg);
    return -1;
}

int attr_plan_build(const struct attr_args *a, struct attr_plan *p) {
    memset(p, 0, sizeof *p);
    p->seed = a->seed;
    const int kind = attr_kind(a->method);
    if (kind < 0) return -1;
    /* the job table's defaults (a config's method and this command agree),
     * or --config's entry for the method, then what was given */
    job_method_defaults((enum job_method_kind)kind, &p->jm);
    if (a->cfg_label && !a->config) {
        fprintf(stderr, "recal attribute: --label picks an entry of --config's methods: give --config\n");
        return -1;
    }
    const char *target = a->target;
    char cfg_target[32];
    if (a->config && attr_config(a, (enum job_method_kind)kind, p, &target, cfg_target, sizeof cfg_target)) return -1;
    return attr_method_flags(a, &p->jm) || attr_fill(a->fill, &p->jm) || attr_estimators_objective(a, p) ||
                   attr_check(a, &p->jm) || attr_target(a, target, p) || attr_files(a, &p->jm)
               ? -1
               : 0;
}
