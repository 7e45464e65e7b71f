/* jobs/job_methods.c — the `methods:` list. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "job_internal.h"

/* Methods that average over sampled references default to R = 10. */
static int default_refs(enum job_method_kind k) {
    return (k == JOB_M_IG_UNIFORM || k == JOB_M_IG_SG || k == JOB_M_IG_SQ || k == JOB_M_EG) ? 10 : 1;
}

void job_method_defaults(enum job_method_kind kind, struct job_method *out) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->estimators = 1u << JOB_EST_VANILLA;
    out->refs = default_refs(kind);
    out->steps = 5;
    out->objective = JOB_OBJ_LOGIT;
    out->reference_compat = false;
    out->baseline = JOB_BASE_DATASET_MEAN;
    out->blur_sigma = JOB_BLUR_SIGMA_DEFAULT;
    out->fill = job_default_fill(kind);
    out->noise = 0.15;
    out->sigma = 0;
    out->samples = 30;
    /* LIME / KernelSHAP: 100 perturbations (ICML 2023). */
    if (kind == JOB_M_LIME || kind == JOB_M_KERNEL_SHAP) out->samples = 100;
    /* Expected Gradients: one random α per reference (docs/methods.md table). */
    if (kind == JOB_M_EG) out->steps = 1;
    /* AGI: T = 5 target classes, K = 10 steps of ε = 0.05 (the paper's setting). */
    out->epsilon = 0.05;
    if (kind == JOB_M_AGI) {
        out->refs = 5;
        out->steps = 10;
    }
    /* Guided IG and Blur IG: PAIR's saliency package's defaults */
    out->max_dist = 0.02;
    out->fraction = 0.25;
    out->max_sigma = 50;
    out->grad_step = 0.01;
    if (kind == JOB_M_GUIDED_IG) out->steps = 200;
    if (kind == JOB_M_BLUR_IG) out->steps = 100;
}

static int read_name(const struct job_err *e, const struct job_node *v, enum job_method_kind *out) {
    const char *names[JOB_M_COUNT];
    for (int i = 0; i < JOB_M_COUNT; i++) names[i] = job_method_name((enum job_method_kind)i);
    if (!v || v->kind != JOB_N_SCALAR) return job_bad(e, v, "name", "a method name");
    int k = -1;
    for (int i = 0; i < JOB_M_COUNT && k < 0; i++)
        if (!job_casecmp(v->text, names[i])) k = i;
    if (k < 0) {
        const char *hint = job_suggest(v->text, names, JOB_M_COUNT);
        if (hint) return job_errf(e, v, "unknown method '%.80s' (did you mean '%s'?)", v->text, hint);
        return job_errf(e, v, "unknown method '%.80s'", v->text);
    }
    if (!job_method_implemented((enum job_method_kind)k)) {
        char impl[256] = "";
        for (int i = 0; i < JOB_M_COUNT; i++)
            if (job_method_implemented((enum job_method_kind)i)) {
                if (impl[0]) strncat(impl, ", ", sizeof impl - strlen(impl) - 1);
                strncat(impl, names[i], sizeof impl - strlen(impl) - 1);
            }
        return job_errf(e, v,
                        "method '%s' is not implemented yet in this version of recal "
                        "(implemented: %s)",
                        names[k], impl);
    }
    *out = (enum job_method_kind)k;
    return 0;
}

/* What an estimator needs of a method, for the message that refuses it. */
static const char *estimator_needs(int est) {
    switch (est) {
    case JOB_EST_VALID_REF:
        return "valid_ref re-weights the paths of several references: ig, ig_uniform, ig_sg, ig_sq, eg, agi";
    case JOB_EST_VALID_IP:
        return "valid_ip re-weights the points of a path: ig, ig_uniform, ig_sg, ig_sq, eg, agi, guided_ig, blur_ig";
    case JOB_EST_IDGI:
        return "idgi splits each step of an ordered path: ig, ig_uniform, ig_sg, guided_ig, blur_ig; EG's random "
               "points and AGI's adversarial steps have no such order, and IG-SQ's squared sum has no IDGI form";
    default:
        return "";
    }
}

static int read_estimators(const struct job_err *e, const struct job_node *v, enum job_method_kind kind,
                           unsigned *out) {
    const char *names[JOB_EST_COUNT];
    for (int i = 0; i < JOB_EST_COUNT; i++) names[i] = job_estimator_name((enum job_estimator)i);
    if (v->kind != JOB_N_SEQ || v->n == 0)
        return job_bad(e, v, "estimators", "a non-empty list of vanilla, valid_ref, valid_ip, idgi");
    unsigned mask = 0;
    for (size_t i = 0; i < v->n; i++) {
        const struct job_node *it = v->kids[i];
        int est;
        if (job_want_enum(e, it, "estimators", names, JOB_EST_COUNT, &est)) return -1;
        if (mask & (1u << est)) return job_errf(e, it, "duplicate estimator '%s'", names[est]);
        mask |= 1u << est;
    }
    /* valid_ref / valid_ip reweight points along an integration path, IDGI
     * splits each step's change of F along an ordered one (docs/methods.md):
     * each method takes the estimators that have something to act on. */
    const unsigned can = job_method_estimators(kind);
    for (int est = 0; est < JOB_EST_COUNT; est++) {
        if (!((mask >> est) & 1) || (can >> est) & 1) continue;
        char list[64] = "";
        for (int k = 0; k < JOB_EST_COUNT; k++)
            if ((can >> k) & 1)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "", names[k]);
        return job_errf(e, v, "method '%s' supports estimators [%s]; %s", job_method_name(kind), list,
                        estimator_needs(est));
    }
    *out = mask;
    return 0;
}

/* KEY (NAME_pixel) or OLD, the bare NAME: its old spelling, always in pixel
 * units; not both. *v is NULL when neither is given. */
static int pixel_key(const struct job_err *e, const struct job_node *m, const char *key, const char *old,
                     const struct job_node **v, const char **used) {
    const struct job_node *vp = job_map_get(m, key, NULL), *va = job_map_get(m, old, NULL);
    if (vp && va)
        return job_errf(e, va, "give one of '%s' and '%s' ('%s' is the old spelling of '%s')", key, old, old, key);
    *v = vp ? vp : va;
    *used = vp ? key : old;
    return 0;
}

/* label: the name the entry's rows carry (metrics.json, CSVs, the report,
 * the paired tests), so one method can be listed with other settings: a
 * file-name-like word. */
static int read_label(const struct job_err *e, const struct job_node *v, struct job_method *out) {
    if (job_want_str(e, v, "label", out->label, sizeof out->label)) return -1;
    static const char *const na[] = {"na", "nan", "null", "none", "inf", "infinity"}; /* pandas reads them as numbers */
    const size_t n = strlen(out->label);
    int bad = n == 0 || !((out->label[0] | 0x20) >= 'a' && (out->label[0] | 0x20) <= 'z') ||
              strspn(out->label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-+=") != n;
    for (size_t k = 0; !bad && k < sizeof na / sizeof *na; k++) bad = !job_casecmp(out->label, na[k]);
    if (bad)
        return job_bad(e, v, "label",
                       "a letter, then up to 30 letters, digits or _ . - + = (it names rows and files; not NA, NaN, "
                       "null, None or inf, which pandas reads as missing or a number)");
    return 0;
}

/* What an α rule cannot be combined with, once every key is read. */
static int check_alpha_rule(const struct job_err *e, const struct job_node *m, const struct job_method *out) {
    const struct job_node *v = job_map_get(m, "alpha_rule", NULL);
    const enum job_alpha_rule r = out->alpha_rule;
    if (r == JOB_ALPHA_ENDPOINTS) return 0;
    if (out->reference_compat)
        return job_errf(e, v,
                        "alpha_rule %s with reference_compat: the reference code walks linspace(0, 1, K) "
                        "only (drop one)",
                        job_alpha_rule_name(r));
    if ((out->estimators >> JOB_EST_IDGI) & 1)
        return job_errf(e, v,
                        "alpha_rule %s with the 'idgi' estimator: IDGI weighs its steps by the model's "
                        "change between them, not by a rule (drop one)",
                        job_alpha_rule_name(r));
    if (out->steps > JOB_ALPHA_STEPS_MAX)
        return job_errf(e, v, "alpha_rule %s takes at most %d steps, got %d", job_alpha_rule_name(r),
                        JOB_ALPHA_STEPS_MAX, out->steps);
    if (r != JOB_ALPHA_GAUSSLEGENDRE && out->steps < 2)
        return job_errf(e, v, "alpha_rule %s needs steps >= 2 (as Captum's riemann rules), got %d",
                        job_alpha_rule_name(r), out->steps);
    return 0;
}

static int read_method(const struct job_err *e, const struct job_node *m, int idx, struct job_method *out) {
    static const char *const keys[] = {
        "name",     "steps",      "refs",        "estimators", "objective", "reference_compat",
        "baseline", "noise",      "sigma_pixel", "sigma",      "samples",   "epsilon_pixel",
        "epsilon",  "fill",       "max_dist",    "fraction",   "max_sigma", "grad_step",
        "sqrt",     "alpha_rule", "label",       "path",       "blur_sigma"};
    static const char *const objectives[] = {"logit", "prob", "contrast"};
    char where[48];
    snprintf(where, sizeof where, "'methods.%d'", idx);
    if (m->kind != JOB_N_MAP) {
        char what[48];
        snprintf(what, sizeof what, "methods.%d", idx);
        return job_bad(e, m, what, "a mapping such as {name: ig_uniform}");
    }
    if (job_check_keys(e, m, keys, (int)(sizeof keys / sizeof *keys), NULL, 0, "key", where)) return -1;
    const struct job_node *v = job_map_get(m, "name", NULL);
    if (!v) return job_errf(e, m, "missing required key 'methods.%d.name'", idx);
    if (read_name(e, v, &out->kind)) return -1;
    job_method_defaults(out->kind, out);

    long long x;
    if ((v = job_map_get(m, "estimators", NULL)) && read_estimators(e, v, out->kind, &out->estimators)) return -1;
    if ((v = job_map_get(m, "refs", NULL))) {
        /* as recal attribute: a million is hours of work an image already */
        if (job_want_int(e, v, "refs", 1, 1000000, &x)) return -1;
        out->refs = (int)x;
    }
    if ((v = job_map_get(m, "steps", NULL))) {
        if (job_want_int(e, v, "steps", 1, 1000000, &x)) return -1;
        out->steps = (int)x;
    }
    if ((v = job_map_get(m, "objective", NULL))) {
        int o;
        if (job_want_enum(e, v, "objective", objectives, 3, &o)) return -1;
        out->objective = (enum job_objective)o;
    }
    if ((v = job_map_get(m, "reference_compat", NULL)) &&
        job_want_bool(e, v, "reference_compat", &out->reference_compat))
        return -1;
    if (out->reference_compat && (out->estimators >> JOB_EST_IDGI) & 1)
        return job_errf(e, v, "reference_compat has no 'idgi' estimator (the reference code has none; drop one)");
    if ((v = job_map_get(m, "label", NULL)) && read_label(e, v, out)) return -1;
    if ((v = job_map_get(m, "path", NULL))) {
        if (out->kind != JOB_M_PRECOMPUTED) return job_errf(e, v, "'path' applies to precomputed only");
        if (job_want_str(e, v, "path", out->path, sizeof out->path)) return -1;
    }
    if (out->kind == JOB_M_PRECOMPUTED && !out->path[0])
        return job_errf(e, m,
                        "method precomputed needs 'path': the .npy of the split's maps (N x C x H x W or N x H "
                        "x W, float16/32/64, row i = image id i)");
    if ((v = job_map_get(m, "alpha_rule", NULL))) {
        const char *rules[JOB_ALPHA_COUNT];
        int r;
        for (int k = 0; k < JOB_ALPHA_COUNT; k++) rules[k] = job_alpha_rule_name((enum job_alpha_rule)k);
        if (out->kind != JOB_M_IG && out->kind != JOB_M_IG_UNIFORM && out->kind != JOB_M_IG_SG &&
            out->kind != JOB_M_IG_SQ)
            return job_errf(e, v,
                            "'alpha_rule' applies to ig, ig_uniform, ig_sg and ig_sq (%s draws its α or has "
                            "no path of straight-line points)",
                            job_method_name(out->kind));
        if (job_want_enum(e, v, "alpha_rule", rules, JOB_ALPHA_COUNT, &r)) return -1;
        out->alpha_rule = (enum job_alpha_rule)r;
    }
    if (job_read_baseline(e, m, idx, out)) return -1;
    if ((v = job_map_get(m, "fill", NULL))) {
        int f;
        if (out->kind != JOB_M_LIME && out->kind != JOB_M_KERNEL_SHAP)
            return job_errf(e, v, "'fill' applies to lime and kernel_shap only");
        if (job_want_enum(e, v, "fill", job_fill_names, JOB_FILL_NAMES, &f)) return -1;
        out->fill = job_fill_at(f);
    }
    bool noisy = out->kind == JOB_M_IG_SG || out->kind == JOB_M_IG_SQ || out->kind == JOB_M_SMOOTHGRAD;
    if ((v = job_map_get(m, "noise", NULL))) {
        if (!noisy) return job_errf(e, v, "'noise' applies to ig_sg, ig_sq and smoothgrad only");
        if (job_want_double(e, v, "noise", &out->noise)) return -1;
        if (!(out->noise > 0)) return job_bad(e, v, "noise", "a number > 0 (fraction of the pixel range)");
    }
    const char *key;
    if (pixel_key(e, m, "sigma_pixel", "sigma", &v, &key)) return -1;
    if (v) {
        if (!noisy) return job_errf(e, v, "'%s' applies to ig_sg, ig_sq and smoothgrad only", key);
        if (job_want_double(e, v, key, &out->sigma)) return -1;
        if (!(out->sigma > 0)) return job_bad(e, v, key, "a number > 0 (pixel units: the image in [0, 1])");
    }
    if (pixel_key(e, m, "epsilon_pixel", "epsilon", &v, &key)) return -1;
    if (v) {
        if (out->kind != JOB_M_AGI) return job_errf(e, v, "'%s' applies to agi only", key);
        if (job_want_double(e, v, key, &out->epsilon)) return -1;
        if (!(out->epsilon > 0)) return job_bad(e, v, key, "a number > 0 (pixel units: the image in [0, 1])");
    }
    /* Guided IG and Blur IG's own keys */
    const struct {
        const char *key;
        enum job_method_kind kind;
        double lo, hi;
        bool lo_open;
        double *dst;
        const char *rule;
    } own[] = {{"max_dist", JOB_M_GUIDED_IG, 0, 1, false, &out->max_dist, "a number in [0, 1] (a share of the path)"},
               {"fraction", JOB_M_GUIDED_IG, 0, 1, true, &out->fraction, "a number in (0, 1]"},
               {"max_sigma", JOB_M_BLUR_IG, 0, 1000, true, &out->max_sigma, "a number in (0, 1000] (pixels)"},
               {"grad_step", JOB_M_BLUR_IG, 0, 1000, true, &out->grad_step, "a number in (0, 1000] (pixels)"}};
    for (size_t k = 0; k < sizeof own / sizeof *own; k++) {
        if (!(v = job_map_get(m, own[k].key, NULL))) continue;
        if (out->kind != own[k].kind)
            return job_errf(e, v, "'%s' applies to %s only", own[k].key, job_method_name(own[k].kind));
        double d;
        if (job_want_double(e, v, own[k].key, &d)) return -1;
        if (d < own[k].lo || d > own[k].hi || (own[k].lo_open && d == own[k].lo))
            return job_bad(e, v, own[k].key, own[k].rule);
        *own[k].dst = d;
    }
    if ((v = job_map_get(m, "sqrt", NULL))) {
        if (out->kind != JOB_M_BLUR_IG) return job_errf(e, v, "'sqrt' applies to blur_ig only");
        if (job_want_bool(e, v, "sqrt", &out->sqrt_sigmas)) return -1;
    }
    if ((v = job_map_get(m, "samples", NULL))) {
        if (out->kind != JOB_M_SMOOTHGRAD && out->kind != JOB_M_LIME && out->kind != JOB_M_KERNEL_SHAP)
            return job_errf(e, v, "'samples' applies to smoothgrad, lime and kernel_shap only");
        if (out->kind == JOB_M_SMOOTHGRAD && v->kind == JOB_N_SCALAR && v->text && !job_casecmp(v->text, "auto")) {
            /* sigma is read above whatever the key order, so a sweep or
             * --set of sigma moves n with it. */
            if (!(out->sigma > 0))
                return job_errf(e, v,
                                "'samples: auto' (n from sigma, Tan & Tian's rule) needs an absolute "
                                "'sigma_pixel', e.g. {name: smoothgrad, sigma_pixel: 0.03, samples: auto}");
            out->samples = job_smoothgrad_auto_samples(out->sigma);
        } else {
            if (job_want_int(e, v, "samples", 1, INT_MAX, &x)) return -1;
            out->samples = (int)x;
        }
    }
    return check_alpha_rule(e, m, out);
}

int job_read_methods(const struct job_err *e, const struct job_node *v, struct job *j) {
    j->n_methods = 0;
    if (v->kind != JOB_N_SEQ) return job_bad(e, v, "methods", "a list of methods");
    if (v->n > JOB_MAX_METHODS)
        return job_errf(e, v, "'methods' lists %zu methods; at most %d are allowed", v->n, JOB_MAX_METHODS);
    for (size_t i = 0; i < v->n; i++) {
        if (read_method(e, v->kids[i], (int)i, &j->methods[i])) return -1;
        /* Results are keyed by (method, estimator): a second entry of the
         * same method gave rows nobody could tell apart. */
        for (size_t k = 0; k < i; k++)
            if (!strcmp(job_method_label(&j->methods[k]), job_method_label(&j->methods[i])))
                return job_errf(e, v->kids[i],
                                "'%s' is listed twice (methods.%zu and methods.%zu): its rows could not be told "
                                "apart; give each entry a label: (e.g. {name: %s, label: %s_2, ...}), or compare "
                                "its settings with a sweep:",
                                job_method_label(&j->methods[i]), k, i, job_method_name(j->methods[i].kind),
                                job_method_name(j->methods[i].kind));
    }
    j->n_methods = (int)v->n;
    return 0;
}
