/* src/cmd_attribute.c — `recal attribute`: explain a handful of images given
 * as numpy arrays; the way other tools' numbers are reproduced (explicit
 * references) and how the oracle tests drive the engine's methods. */
#include <getopt.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json_buf.h"
#include "cli.h"
#include "fsutil.h"
#include "cores.h"
#include "diffid.h"
#include "engine.h"
#include "job.h"
#include "methods.h"
#include "npy.h"
#include "torch_shim.h"

static const char *HELP =
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
    "                         the model (forward, backward) and bytes host->device and back\n"
    "  --out A.npy            N×C×H×W float32 attributions; with several --estimator values (or a\n"
    "                         --config entry with several) N×E×C×H×W, E in the order given, from\n"
    "                         one gradient pass\n";

static int parse_floats(const char *s, float *v, int max) {
    int n = 0;
    char *end;
    while (*s && n < max) {
        v[n++] = strtof(s, &end);
        if (end == s) return -1;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

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
 * pass serves them all), each one the method has, none twice. Their count,
 * or -1 with a message naming the value. */
static int attr_estimators(const char *v, enum job_method_kind kind, int order[JOB_EST_COUNT]) {
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
        if (!((job_method_estimators(kind) >> e) & 1)) {
            fprintf(stderr,
                    "recal attribute: --estimator %s: method %s has no estimator %s (see --help, "
                    "docs/methods.md)\n",
                    v, job_method_name(kind), tok);
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

/* --config's normalization: n values (1 or 3) of mean and std. */
struct attr_norm {
    int n;
    float mean[3], std[3];
};

/* --config C: load the job, take its entry for the method (its refs,
 * steps, estimators, noise, baseline, α rule, objective ...) and its
 * dataset's normalization (dataset.mean/std, else the dataset's defaults).
 * 0, or -1 with a message naming the config. */
static int attr_config(const char *path, enum job_method_kind kind, const char *label, struct job *job,
                       struct job_method *jm, struct attr_norm *norm) {
    char err[2048];
    if (job_load(path, NULL, 0, job, err, sizeof err)) {
        fprintf(stderr, "recal attribute: --config %s\n", err);
        return -1;
    }
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

/* The methods whose samples are drawn in pixel space (references, noise,
 * steps in pixel units), so that the normalization changes their maps. */
static int attr_pixel_space(const struct job_method *m) {
    const enum job_method_kind k = m->kind;
    return k == JOB_M_IG_UNIFORM || k == JOB_M_IG_SG || k == JOB_M_IG_SQ || k == JOB_M_SMOOTHGRAD || k == JOB_M_AGI ||
           k == JOB_M_LIME || k == JOB_M_KERNEL_SHAP || /* superpixels are found in pixel space */
           (job_method_takes_baseline(k) && (m->baseline == JOB_BASE_BLACK || m->baseline == JOB_BASE_UNIFORM));
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
 * .npy; only for the methods that integrate from a baseline. 0, or -1
 * after one line naming the flag and its value. */
static int attr_baseline(const char *v, const char *blur_s, struct job_method *jm) {
    if ((v || blur_s) && !job_method_takes_baseline(jm->kind)) {
        fprintf(stderr,
                "recal attribute: %s %s: %s has no baseline (--baseline and --blur-sigma apply to ig and "
                "guided_ig)\n",
                v ? "--baseline" : "--blur-sigma", v ? v : blur_s, job_method_name(jm->kind));
        return -1;
    }
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
    if (blur_s) {
        double s;
        if (jm->baseline != JOB_BASE_BLUR) {
            fprintf(stderr, "recal attribute: --blur-sigma %s applies to --baseline blur (the baseline here is %s)\n",
                    blur_s, job_baseline_name(jm->baseline));
            return -1;
        }
        if (want_positive("--blur-sigma", blur_s, &s)) return -1;
        if (s > 1000) {
            fprintf(stderr, "recal attribute: --blur-sigma %s: at most 1000 pixels\n", blur_s);
            return -1;
        }
        jm->blur_sigma = s;
    }
    return 0;
}

/* The maps: N×C×H×W for one estimator, N×E×C×H×W (the --estimator order)
 * for several; a holds estimator k's maps at a + k·N·D. */
static int attr_write(const char *path, const float *a, int n_est, long n, long c, long h, long w, char *err,
                      size_t errlen) {
    int64_t xs[4] = {n, c, h, w}, xe[5] = {n, n_est, c, h, w};
    if (n_est == 1) return npy_write(path, NPY_F32, 4, xs, a, err, errlen);
    const size_t d = (size_t)(c * h * w);
    float *o = malloc((size_t)n * (size_t)n_est * d * sizeof *o + 1);
    if (!o) {
        snprintf(err, errlen, "out of host memory for %ld x %d maps", n, n_est);
        return -1;
    }
    for (long i = 0; i < n; i++)
        for (int k = 0; k < n_est; k++)
            memcpy(o + ((size_t)i * (size_t)n_est + (size_t)k) * d, a + ((size_t)k * (size_t)n + (size_t)i) * d,
                   d * sizeof *o);
    int rc = npy_write(path, NPY_F32, 5, xe, o, err, errlen);
    free(o);
    return rc;
}

/* --alpha-rule: the rule by name, for the path methods, with the same
 * limits as a job's alpha_rule (jobs/job_methods.c). */
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
    if (r != JOB_ALPHA_ENDPOINTS && jm->kind != JOB_M_IG && jm->kind != JOB_M_IG_UNIFORM && jm->kind != JOB_M_IG_SG &&
        jm->kind != JOB_M_IG_SQ) {
        fprintf(stderr, "recal attribute: --alpha-rule %s applies to ig, ig_uniform, ig_sg and ig_sq\n", v);
        return -1;
    }
    if (r != JOB_ALPHA_ENDPOINTS && r != JOB_ALPHA_GAUSSLEGENDRE && jm->steps < 2) {
        fprintf(stderr, "recal attribute: --alpha-rule %s needs --steps >= 2 (got %d)\n", v, jm->steps);
        return -1;
    }
    if (jm->steps > JOB_ALPHA_STEPS_MAX && r != JOB_ALPHA_ENDPOINTS) {
        fprintf(stderr, "recal attribute: --alpha-rule %s takes at most --steps %d\n", v, JOB_ALPHA_STEPS_MAX);
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

int cmd_attribute(int argc, char **argv) {
    const char *model = NULL, *input = NULL, *labels = NULL, *method = NULL, *est = NULL, *refs_path = NULL,
               *objective = NULL, *device_s = "auto", *config = NULL, *out_path = NULL, *mean_s = NULL, *std_s = NULL,
               *segments_path = NULL, *precision = "fp32", *alpha_rule = NULL, *target = NULL, *cfg_label = NULL;
    long refs = -1, steps = -1, samples = -1, budget_mb = 2048, threads = 0;
    int stats = 0;
    double noise = -1, sigma = 0, epsilon = -1; /* -1: the method's default (job_method_defaults) */
    double max_dist = -1, fraction = -1, max_sigma = -1, grad_step = -1;
    int sqrt_sigmas = 0;
    const char *baseline = NULL, *blur_sigma = NULL, *fill = NULL;
    int compat = 0, samples_auto = 0, seed_given = 0;
    unsigned long long seed = 0;
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
        O_REFS,
        O_STEPS,
        O_SEED,
        O_SAMPLES,
        O_NOISE,
        O_SIGMA,
        O_SIGMA_PIXEL,
        O_FILL,
        O_EPSILON,
        O_MEMORY_BUDGET,
        O_BASELINE,
        O_ALPHA_RULE,
        O_TARGET,
        O_CONFIG,
        O_LABEL,
        O_THREADS,
        O_REFERENCE_COMPAT,
        O_STATS,
        O_MAX_DIST,
        O_FRACTION,
        O_MAX_SIGMA,
        O_GRAD_STEP,
        O_SQRT,
        O_BLUR_SIGMA
    };
    static const struct option opts[] = {
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
    cli_start();
    for (int c; (c = cli_next("attribute", argc, argv, opts)) != -1;) {
        /* Numbers in full or not at all: "--refs 2x" or "--steps -1" is
         * an error, never a default. */
        const char *v = optarg;
        switch (c) {
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        case O_MODEL:
            model = v;
            break;
        case O_INPUT:
            input = v;
            break;
        case O_LABELS:
            labels = v;
            break;
        case O_METHOD:
            method = v;
            break;
        case O_ESTIMATOR:
            est = v;
            break;
        case O_REFERENCES:
            refs_path = v;
            break;
        case O_OBJECTIVE:
            objective = v;
            break;
        case O_DEVICE:
            device_s = v;
            break;
        case O_PRECISION:
            precision = v;
            break;
        case O_OUT:
            out_path = v;
            break;
        case O_SEGMENTS_OUT:
            segments_path = v;
            break;
        case O_MEAN:
            mean_s = v;
            break;
        case O_STD:
            std_s = v;
            break;
        case O_REFS:
            if (want_long("--refs", v, 1, &refs) || too_many("--refs", refs)) return EXIT_USER;
            break;
        case O_STEPS:
            if (want_long("--steps", v, 1, &steps) || too_many("--steps", steps)) return EXIT_USER;
            break;
        case O_SEED:
            if (want_seed(v, &seed)) return EXIT_USER;
            seed_given = 1;
            break;
        case O_CONFIG:
            config = v;
            break;
        case O_LABEL:
            cfg_label = v;
            break;
        case O_SAMPLES:
            if (strcasecmp(v, "auto") ? want_long("--samples", v, 1, &samples) || too_many("--samples", samples)
                                      : (samples_auto = 1, 0))
                return EXIT_USER;
            break;
        case O_NOISE:
            if (want_positive("--noise", v, &noise)) return EXIT_USER;
            break;
        case O_SIGMA:
            if (want_positive("--sigma", v, &sigma)) return EXIT_USER;
            break;
        case O_SIGMA_PIXEL:
            if (want_positive("--sigma-pixel", v, &sigma)) return EXIT_USER;
            break;
        case O_FILL:
            fill = v;
            break;
        case O_EPSILON:
            if (want_positive("--epsilon", v, &epsilon)) return EXIT_USER;
            break;
        case O_MEMORY_BUDGET:
            if (want_long("--memory-budget", v, 1, &budget_mb)) return EXIT_USER;
            break;
        case O_BASELINE:
            baseline = v;
            break;
        case O_ALPHA_RULE:
            alpha_rule = v;
            break;
        case O_TARGET:
            target = v;
            break;
        case O_THREADS:
            if (want_long("--threads", v, 1, &threads)) return EXIT_USER;
            {
                char terr[512];
                if (cores_check_threads("recal attribute: --threads", threads, terr, sizeof terr)) {
                    fprintf(stderr, "%s\n", terr);
                    return EXIT_USER;
                }
            }
            break;
        case O_REFERENCE_COMPAT:
            compat = 1;
            break;
        case O_STATS:
            stats = 1;
            break;
        case O_MAX_DIST: /* 0 is a straight line: allowed */
            if (!strcmp(v, "0") ? (max_dist = 0, 0) : want_positive("--max-dist", v, &max_dist)) return EXIT_USER;
            break;
        case O_FRACTION:
            if (want_positive("--fraction", v, &fraction)) return EXIT_USER;
            break;
        case O_MAX_SIGMA:
            if (want_positive("--max-sigma", v, &max_sigma)) return EXIT_USER;
            break;
        case O_GRAD_STEP:
            if (want_positive("--grad-step", v, &grad_step)) return EXIT_USER;
            break;
        case O_SQRT:
            sqrt_sigmas = 1;
            break;
        case O_BLUR_SIGMA:
            blur_sigma = v;
            break;
        default:
            return EXIT_USER;
        }
    }
    const char **operands;
    if (cli_operands(&operands) > 0) {
        fprintf(stderr, "recal attribute: unexpected argument '%s' (see --help)\n", operands[0]);
        return EXIT_USER;
    }
    if (!model || !input || !method || !out_path) {
        fprintf(stderr, "recal attribute: --model, --input, --method and --out are required\n\n%s", HELP);
        return EXIT_USER;
    }
    if (budget_mb <= 0) {
        fprintf(stderr, "recal attribute: --memory-budget wants megabytes > 0\n");
        return EXIT_USER;
    }
    if (samples_auto) {
        if (!(sigma > 0)) {
            fprintf(stderr, "recal attribute: --samples auto (n from sigma, Tan & Tian's rule) needs --sigma-pixel S "
                            "in pixel units\n");
            return EXIT_USER;
        }
        samples = job_smoothgrad_auto_samples(sigma);
    }
    struct job_method jm = {0};
    const char *names[JOB_M_COUNT];
    int kind = -1;
    for (int k = 0; k < JOB_M_COUNT; k++) {
        names[k] = job_method_name((enum job_method_kind)k);
        if (!strcasecmp(method, names[k])) kind = k;
    }
    if (kind == JOB_M_PRECOMPUTED) {
        fprintf(stderr, "recal attribute: precomputed reads maps made elsewhere: it is a job's method, scored by "
                        "recal run (docs/methods.md, \"Maps made elsewhere\")\n");
        return EXIT_USER;
    }
    if (kind < 0 || !job_method_implemented((enum job_method_kind)kind)) {
        const char *s = kind < 0 ? job_suggest(method, names, JOB_M_COUNT) : NULL;
        fprintf(stderr, "recal attribute: method '%s' is %s%s%s%s (see --help)\n", method,
                kind < 0 ? "unknown" : "not implemented yet", s ? " (did you mean '" : "", s ? s : "", s ? "'?)" : "");
        return EXIT_USER;
    }
    /* the job table's defaults (a config's method and this command agree),
     * or --config's entry for the method, then what was given */
    static struct job cfg_job;
    struct attr_norm cfg_norm = {0};
    job_method_defaults((enum job_method_kind)kind, &jm);
    if (cfg_label && !config) {
        fprintf(stderr, "recal attribute: --label picks an entry of --config's methods: give --config\n");
        return EXIT_USER;
    }
    if (config && attr_config(config, (enum job_method_kind)kind, cfg_label, &cfg_job, &jm, &cfg_norm))
        return EXIT_USER;
    if (config && !seed_given) seed = cfg_job.seed;
    if (config && !target && !labels && cfg_job.target == JOB_TARGET_LABEL) {
        fprintf(stderr,
                "recal attribute: %s explains the labels (target: label): give --labels L.npy, or --target "
                "predicted | K\n",
                config);
        return EXIT_USER;
    }
    char cfg_target[32];
    if (config && !target && cfg_job.target != JOB_TARGET_LABEL) {
        snprintf(cfg_target, sizeof cfg_target, "%d", cfg_job.target);
        target = cfg_job.target == JOB_TARGET_PREDICTED ? "predicted" : cfg_target;
    }
    if (!objective) objective = job_objective_name(jm.objective);
    if (samples > 0) jm.samples = (int)samples;
    if (noise > 0) jm.noise = noise;
    if (epsilon > 0) jm.epsilon = epsilon;
    jm.sigma = sigma;
    jm.reference_compat = compat;
    if ((max_dist >= 0 || fraction > 0) && jm.kind != JOB_M_GUIDED_IG) {
        fprintf(stderr, "recal attribute: --max-dist and --fraction apply to guided_ig only\n");
        return EXIT_USER;
    }
    if ((max_sigma > 0 || grad_step > 0 || sqrt_sigmas) && jm.kind != JOB_M_BLUR_IG) {
        fprintf(stderr, "recal attribute: --max-sigma, --grad-step and --sqrt apply to blur_ig only\n");
        return EXIT_USER;
    }
    if (max_sigma > 1000 || grad_step > 1000) {
        fprintf(stderr, "recal attribute: --max-sigma and --grad-step are at most 1000 pixels\n");
        return EXIT_USER;
    }
    if (max_dist > 1 || fraction > 1) {
        fprintf(stderr, "recal attribute: --max-dist and --fraction are shares of the path, at most 1\n");
        return EXIT_USER;
    }
    if (max_dist >= 0) jm.max_dist = max_dist;
    if (fraction > 0) jm.fraction = fraction;
    if (max_sigma > 0) jm.max_sigma = max_sigma;
    if (grad_step > 0) jm.grad_step = grad_step;
    jm.sqrt_sigmas = sqrt_sigmas;
    if (segments_path && jm.kind != JOB_M_LIME && jm.kind != JOB_M_KERNEL_SHAP) {
        fprintf(stderr, "recal attribute: --segments-out applies to lime and kernel_shap only\n");
        return EXIT_USER;
    }
    if (refs > 0) jm.refs = (int)refs;
    if (steps > 0) jm.steps = (int)steps;
    if (attr_baseline(baseline, blur_sigma, &jm)) return EXIT_USER; /* else the default's, or --config's */
    if (refs_path && baseline && jm.kind == JOB_M_IG) {
        fprintf(stderr,
                "recal attribute: --baseline %s and --references: give one (%s's paths start at the "
                "references when given)\n",
                baseline, job_method_name(jm.kind));
        return EXIT_USER;
    }
    if (alpha_rule && attr_alpha_rule(alpha_rule, &jm)) return EXIT_USER;
    /* --target: label (default with --labels), predicted (default without), or class K */
    long target_class = -1;
    const int by_label = target ? !strcasecmp(target, "label") : labels != NULL;
    if (target && !by_label && strcasecmp(target, "predicted") &&
        want_long("--target", target, 0, &target_class)) /* the message names --target and what it takes */
        return EXIT_USER;
    if (by_label && !labels) {
        fprintf(stderr, "recal attribute: --target label needs --labels L.npy (or --target predicted | K)\n");
        return EXIT_USER;
    }
    jm.fill = job_default_fill(jm.kind);
    if (fill) {
        if (jm.kind != JOB_M_LIME && jm.kind != JOB_M_KERNEL_SHAP) {
            fprintf(stderr, "recal attribute: --fill applies to lime and kernel_shap only\n");
            return EXIT_USER;
        }
        int f = -1;
        for (int i = 0; i < JOB_FILL_NAMES && f < 0; i++)
            if (!strcasecmp(fill, job_fill_names[i])) f = i;
        if (f < 0) {
            fprintf(stderr, "recal attribute: --fill is superpixel_mean, dataset_mean or black, got '%s'\n", fill);
            return EXIT_USER;
        }
        jm.fill = job_fill_at(f);
    }
    if (refs_path && (jm.kind == JOB_M_GUIDED_IG || jm.kind == JOB_M_BLUR_IG)) {
        fprintf(stderr,
                "recal attribute: %s takes no --references (its path starts at --baseline, or at the "
                "blurred image)\n",
                jm.kind == JOB_M_GUIDED_IG ? "guided_ig" : "blur_ig");
        return EXIT_USER;
    }
    {
        const char *inputs[5][2] = {{"--input", input},
                                    {"--labels", labels},
                                    {"--references", refs_path},
                                    {"--model", model},
                                    {"--baseline", jm.baseline == JOB_BASE_FILE ? jm.baseline_path : NULL}};
        for (int k = 0; k < 5; k++)
            if (fs_same_file(out_path, inputs[k][1])) {
                fprintf(stderr,
                        "recal attribute: --out %s is the %s file: it would be overwritten; write the "
                        "attributions to another file\n",
                        out_path, inputs[k][0]);
                return EXIT_USER;
            }
    }
    if (jm.kind == JOB_M_EG && !refs_path) {
        fprintf(stderr, "recal attribute: method eg draws references from training images: pass them with "
                        "--references REFS.npy\n");
        return EXIT_USER;
    }
    int est_order[JOB_EST_COUNT];
    char cfg_est[128] = "vanilla";
    if (!est && config) /* the config entry's estimators, in their table order */
        for (int k = 0, w = 0; k < JOB_EST_COUNT; k++)
            if ((jm.estimators >> k) & 1)
                w += snprintf(cfg_est + w, sizeof cfg_est - (size_t)w, "%s%s", w ? "," : "",
                              job_estimator_name((enum job_estimator)k));
    if (!est) est = cfg_est;
    const int n_est = attr_estimators(est, jm.kind, est_order);
    if (n_est < 0) return EXIT_USER;
    if (jm.alpha_rule != JOB_ALPHA_ENDPOINTS) { /* given or from --config: the combinations a job refuses */
        int idgi = 0;
        for (int k = 0; k < n_est; k++) idgi |= est_order[k] == JOB_EST_IDGI;
        const char *why = jm.reference_compat                                        ? "--reference-compat"
                          : idgi                                                     ? "the idgi estimator"
                          : jm.alpha_rule != JOB_ALPHA_GAUSSLEGENDRE && jm.steps < 2 ? "--steps below 2"
                          : jm.steps > JOB_ALPHA_STEPS_MAX                           ? "more steps than 4096"
                                                                                     : NULL;
        if (why) {
            fprintf(stderr, "recal attribute: alpha_rule %s does not go with %s\n", job_alpha_rule_name(jm.alpha_rule),
                    why);
            return EXIT_USER;
        }
    }
    int obj = !strcasecmp(objective, "logit")      ? 0
              : !strcasecmp(objective, "prob")     ? 1
              : !strcasecmp(objective, "contrast") ? 2
                                                   : -1;
    if (obj < 0) {
        fprintf(stderr, "recal attribute: --objective '%s': want logit, prob or contrast\n", objective);
        return EXIT_USER;
    }
    if (jm.refs < 1 || jm.steps < 1 || jm.samples < 1 || !(jm.noise > 0) || jm.sigma < 0 || !(jm.epsilon > 0)) {
        fprintf(stderr, "recal attribute: need --refs >= 1, --steps >= 1, --samples >= 1, --noise > 0, --sigma >= 0 "
                        "and --epsilon > 0\n");
        return EXIT_USER;
    }
    jm.objective = (enum job_objective)obj;

    int code = EXIT_USER, device, ncls = 0;
    char err[2048];
    struct npy_array xa = {0}, la = {0}, ra = {0};
    struct wk_base_file bfile = {0};
    float *x = NULL, *a = NULL, *rf = NULL, *lg = NULL;
    int64_t *y = NULL;
    ts_module *m = NULL;
    ts_tensor *xt = NULL;
    if (ts_device_parse(device_s, &device)) {
        fprintf(stderr, "recal attribute: --device %s: %s\n", device_s, ts_last_error());
        return EXIT_USER;
    }
    if (!job_precision_known(precision)) {
        fprintf(stderr, "recal attribute: --precision is fp32, tf32 or bf16, got '%s'\n", precision);
        return EXIT_USER;
    }
    wk_set_precision(precision, device);
    /* libtorch's own default ran one thread on this 2-core VM (104 % CPU):
     * every core unless told, as `recal run` with one rank a node does. */
    if (threads <= 0) threads = cores_usable();
    ts_set_num_threads((int)(threads > 0 ? threads : 1));
    if (npy_read(input, &xa, err, sizeof err)) {
        fprintf(stderr, "recal attribute: %s\n", err);
        goto out;
    }
    if (xa.ndim != 4 || xa.dtype != NPY_F32) {
        fprintf(stderr, "recal attribute: %s: expected an N×C×H×W float32 array\n", input);
        goto out;
    }
    const long n = (long)xa.shape[0], c = (long)xa.shape[1], h = (long)xa.shape[2], w = (long)xa.shape[3];
    const long d = c * h * w;
    if (c < 1 || c > 3) {
        fprintf(stderr, "recal attribute: %s: images have %ld channels (axis 1); recal takes 1 to 3\n", input, c);
        goto out;
    }
    x = npy_to_f32(&xa);
    y = malloc((size_t)(n ? n : 1) * sizeof *y);
    a = malloc((size_t)(n * d > 0 ? n_est * n * d : 1) * sizeof *a); /* estimator k at a + k·n·d */
    for (long i = 0; x && i < n * d; i++)
        if (x[i] != x[i] || x[i] - x[i] != 0) {
            fprintf(stderr, "recal attribute: %s: element %ld is NaN or Inf\n", input, i);
            goto out;
        }
    if (ts_module_load(model, device, &m)) {
        fprintf(stderr, "recal attribute: %s: %s\n", model, ts_last_error());
        goto out;
    }
    if (jm.kind == JOB_M_GRADCAM) {
        char gerr[512];
        if (wk_gradcam_check_model(m, model, gerr, sizeof gerr)) {
            fprintf(stderr, "recal attribute: %s\n", gerr);
            goto out;
        }
    }
    int64_t xs[4] = {n, c, h, w};
    if (!x || !y || !a || ts_from_f32(x, xs, 4, device, &xt)) {
        fprintf(stderr, "recal attribute: %s\n", ts_last_error());
        goto out;
    }
    /* Labels: given, or the model's prediction. */
    {
        ts_tensor *out = NULL;
        int64_t os[2];
        int nd;
        if (ts_module_forward(m, xt, &out) || ts_shape(out, os, &nd)) {
            if (wk_grad_hint(ts_last_error()))
                fprintf(stderr, "recal attribute: %s: %s (libtorch: %s)\n", model, wk_grad_hint(ts_last_error()),
                        ts_last_error());
            else fprintf(stderr, "recal attribute: %s does not accept %s: %s\n", model, input, ts_last_error());
            ts_tensor_free(out);
            goto out;
        }
        ncls = (int)os[1];
        const char *note = ts_module_freeze_note(m);
        if (note) fprintf(stderr, "recal attribute: %s: %s; it runs as loaded\n", model, note);
        lg = malloc((size_t)(n * os[1] + 1) * sizeof *lg);
        ts_to_f32(out, lg, (size_t)(n * os[1]));
        ts_tensor_free(out);
        if (target_class >= os[1]) {
            fprintf(stderr, "recal attribute: --target %ld: the model has classes 0..%lld\n", target_class,
                    (long long)os[1] - 1);
            goto out;
        }
        if (target_class >= 0) {
            for (long i = 0; i < n; i++) y[i] = target_class;
        } else if (by_label) {
            if (npy_read(labels, &la, err, sizeof err)) {
                fprintf(stderr, "recal attribute: %s\n", err);
                goto out;
            }
            int64_t *ly = npy_to_i64(&la);
            if (!ly || la.ndim != 1 || la.shape[0] != n) {
                fprintf(stderr, "recal attribute: %s: expected %ld labels, one per input image\n", labels, n);
                free(ly);
                goto out;
            }
            memcpy(y, ly, (size_t)n * sizeof *y);
            free(ly);
            for (long i = 0; i < n; i++)
                if (y[i] < 0 || y[i] >= os[1]) {
                    fprintf(stderr,
                            "recal attribute: %s: label %lld of image %ld is outside the model's %lld classes\n",
                            labels, (long long)y[i], i, (long long)os[1]);
                    goto out;
                }
        } else {
            for (long i = 0; i < n; i++) y[i] = diffid_argmax(lg + i * os[1], (int)os[1]);
        }
    }
    /* Chunks from the memory budget, as in a run: a fixed count let R·K
     * samples of 224×224 images through at once (11 GB at R=10, K=20). */
    struct wk_method_ctx ctx = {.model = m,
                                .device = device,
                                .seed = seed,
                                .classes = ncls,
                                .chunk_samples = wk_chunk_samples(device, (int)c, (int)h, (int)w, budget_mb)};
    float mv[3] = {0, 0, 0}, sv[3] = {1, 1, 1};
    if (config) /* the job's dataset.mean/std, or its dataset's defaults; --mean/--std each override theirs */
        for (int ch = 0; ch < 3; ch++) {
            mv[ch] = cfg_norm.mean[cfg_norm.n == 1 ? 0 : ch];
            sv[ch] = cfg_norm.std[cfg_norm.n == 1 ? 0 : ch];
        }
    const int cfg_ok = !config || cfg_norm.n == 1 || cfg_norm.n == c;
    int nm = mean_s   ? parse_floats(mean_s, mv, 3)
             : cfg_ok ? (int)c
                      : -1,
        ns = std_s    ? parse_floats(std_s, sv, 3)
             : cfg_ok ? (int)c
                      : -1;
    if (nm != c || ns != c) {
        fprintf(stderr, "recal attribute: --mean and --std need one value per channel (%ld)\n", c);
        goto out;
    }
    for (int ch = 0; ch < 3; ch++) {
        ctx.mean[ch] = mv[ch];
        ctx.std[ch] = sv[ch];
    }
    /* The same images attributed by a run and by attribute without the
     * run's normalization differed by 38 % (IG-Uniform), silently. */
    if (!mean_s && !std_s && !config && !refs_path && attr_pixel_space(&jm))
        fprintf(stderr,
                "recal attribute: warning: %s draws in pixel space and no --mean/--std were given: assuming mean 0, "
                "std 1; give your model's normalization (as dataset.mean/std) for the maps a run makes\n",
                job_method_name(jm.kind));
    if (refs_path) {
        if (npy_read(refs_path, &ra, err, sizeof err)) {
            fprintf(stderr, "recal attribute: %s\n", err);
            goto out;
        }
        int shared = ra.ndim == 4 && ra.shape[1] == c && ra.shape[2] == h && ra.shape[3] == w;
        int per = ra.ndim == 5 && ra.shape[0] == n && ra.shape[2] == c && ra.shape[3] == h && ra.shape[4] == w;
        if (!shared && !per) {
            fprintf(stderr, "recal attribute: %s: expected R×%ld×%ld×%ld or %ld×R×%ld×%ld×%ld references\n", refs_path,
                    c, h, w, n, c, h, w);
            goto out;
        }
        ctx.references_r = shared ? ra.shape[0] : ra.shape[1];
        /* the file sets R: a different --refs was silently ignored */
        if (refs > 0 && refs != (long)ctx.references_r) {
            fprintf(stderr,
                    "recal attribute: --refs %ld but %s holds %ld references per image: drop --refs (the "
                    "file sets R) or pass a file with %ld\n",
                    refs, refs_path, (long)ctx.references_r, refs);
            goto out;
        }
        rf = npy_to_f32(&ra);
        ctx.references = rf;
        ctx.references_per_image = per;
    }
    if (jm.baseline == JOB_BASE_FILE && job_method_takes_baseline(jm.kind)) { /* checked against the inputs */
        if (wk_base_file_open(jm.baseline_path, n, (int)c, (int)h, (int)w, &bfile, err, sizeof err)) {
            fprintf(stderr, "recal attribute: --baseline %s\n", err);
            goto out;
        }
        ctx.base_files = &bfile;
        ctx.n_base_files = 1;
    }
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    for (long i = 0; ids && i < n; i++) ids[i] = i;
    struct wk_batch bt = {xt, x, y, NULL, ids, n, (int)c, (int)h, (int)w, NULL};
    float *outs[JOB_EST_COUNT] = {0};
    jm.estimators = 0;
    for (int k = 0; k < n_est; k++) {
        outs[est_order[k]] = a + (size_t)k * (size_t)(n * d);
        jm.estimators |= 1u << est_order[k];
    }
    int32_t *segs = segments_path ? malloc((size_t)(n * h * w > 0 ? n * h * w : 1) * sizeof *segs) : NULL;
    ctx.segments_out = segs;
    struct ts_ledger l0, l1;
    ts_ledger_read(&l0);
    int rc = ids && (!segments_path || segs) ? wk_method_run(&ctx, &jm, &bt, outs, err, sizeof err) : -1;
    ts_ledger_read(&l1);
    if (stats && !rc) {
        struct jbuf j = {0};
        jb_printf(&j,
                  "{\"images\": %ld, \"forward_samples\": %llu, \"backward_samples\": %llu, \"h2d_bytes\": %llu, "
                  "\"d2h_bytes\": %llu}",
                  n, (unsigned long long)(l1.fwd_samples - l0.fwd_samples),
                  (unsigned long long)(l1.bwd_samples - l0.bwd_samples),
                  (unsigned long long)(l1.h2d_bytes - l0.h2d_bytes), (unsigned long long)(l1.d2h_bytes - l0.d2h_bytes));
        jb_put_line(&j, stderr);
        jb_free(&j);
    }
    if (!ids || (segments_path && !segs)) snprintf(err, sizeof err, "out of host memory");
    free(ids);
    if (!rc && segs) {
        int64_t ss[3] = {n, h, w};
        rc = npy_write(segments_path, NPY_I32, 3, ss, segs, err, sizeof err);
    }
    free(segs);
    if (rc) {
        fprintf(stderr, "recal attribute: %s\n", err);
        goto out;
    }
    if (attr_write(out_path, a, n_est, n, c, h, w, err, sizeof err)) {
        fprintf(stderr, "recal attribute: %s\n", err);
        goto out;
    }
    code = EXIT_OK;
out:
    npy_free(&xa);
    npy_free(&la);
    npy_free(&ra);
    npy_free(&bfile.a);
    free(x);
    free(y);
    free(a);
    free(rf);
    free(lg);
    ts_tensor_free(xt);
    ts_module_free(m);
    return code;
}
