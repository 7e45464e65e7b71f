/* jobs/job_methods.c — the `methods:` list. */
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

/* The list's syntax: known names, none twice (job_method_check then says
 * whether the method has them). */
static int read_estimators(const struct job_err *e, const struct job_node *v, unsigned *out) {
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

/* The YAML key of each field job_method_check may blame, in enum
 * job_method_field's order; sigma and epsilon as the entry spells them. */
static const char *const FIELD_KEYS[JOB_MF_COUNT] = {
    "estimators", "refs",      "steps", "reference_compat", "path",          "alpha_rule", "baseline",
    "blur_sigma", "fill",      "noise", "sigma_pixel",      "epsilon_pixel", "max_dist",   "fraction",
    "max_sigma",  "grad_step", "sqrt",  "samples"};

/* The keys every method has, and the path ones' (parsed only: their
 * limits are job_method_check's). */
static int read_settings(const struct job_err *e, const struct job_node *m, struct job_method *out) {
    static const char *const objectives[] = {"logit", "prob", "contrast"};
    const struct job_node *v;
    if ((v = job_map_get(m, "estimators", NULL)) && read_estimators(e, v, &out->estimators)) return -1;
    if ((v = job_map_get(m, "refs", NULL)) && job_want_count(e, v, "refs", &out->refs)) return -1;
    if ((v = job_map_get(m, "steps", NULL)) && job_want_count(e, v, "steps", &out->steps)) return -1;
    if ((v = job_map_get(m, "objective", NULL))) {
        int o;
        if (job_want_enum(e, v, "objective", objectives, 3, &o)) return -1;
        out->objective = (enum job_objective)o;
    }
    if ((v = job_map_get(m, "reference_compat", NULL)) &&
        job_want_bool(e, v, "reference_compat", &out->reference_compat))
        return -1;
    if ((v = job_map_get(m, "label", NULL)) && read_label(e, v, out)) return -1;
    if ((v = job_map_get(m, "path", NULL)) && job_want_str(e, v, "path", out->path, sizeof out->path)) return -1;
    if ((v = job_map_get(m, "alpha_rule", NULL))) {
        const char *rules[JOB_ALPHA_COUNT];
        int r;
        for (int k = 0; k < JOB_ALPHA_COUNT; k++) rules[k] = job_alpha_rule_name((enum job_alpha_rule)k);
        if (job_want_enum(e, v, "alpha_rule", rules, JOB_ALPHA_COUNT, &r)) return -1;
        out->alpha_rule = (enum job_alpha_rule)r;
    }
    return 0;
}

/* The keys of some methods only: the baseline, LIME's fill, the noise,
 * AGI's step, Guided IG's and Blur IG's own, the sample count (parsed
 * only; sigma's and epsilon's spellings into keys). */
static int read_amounts(const struct job_err *e, const struct job_node *m, int idx, struct job_method *out,
                        const char **keys) {
    const struct job_node *v;
    if (job_read_baseline(e, m, idx, out)) return -1;
    if ((v = job_map_get(m, "fill", NULL))) {
        int f;
        if (job_want_enum(e, v, "fill", job_fill_names, JOB_FILL_NAMES, &f)) return -1;
        out->fill = job_fill_at(f);
    }
    if ((v = job_map_get(m, "noise", NULL)) && job_want_double(e, v, "noise", &out->noise)) return -1;
    if (pixel_key(e, m, "sigma_pixel", "sigma", &v, &keys[JOB_MF_SIGMA]) ||
        (v && job_want_double(e, v, keys[JOB_MF_SIGMA], &out->sigma)))
        return -1;
    if (pixel_key(e, m, "epsilon_pixel", "epsilon", &v, &keys[JOB_MF_EPSILON]) ||
        (v && job_want_double(e, v, keys[JOB_MF_EPSILON], &out->epsilon)))
        return -1;
    double *const own[] = {&out->max_dist, &out->fraction, &out->max_sigma, &out->grad_step};
    for (int k = 0; k < 4; k++) /* Guided IG's and Blur IG's own keys */
        if ((v = job_map_get(m, keys[JOB_MF_MAX_DIST + k], NULL)) &&
            job_want_double(e, v, keys[JOB_MF_MAX_DIST + k], own[k]))
            return -1;
    if ((v = job_map_get(m, "sqrt", NULL)) && job_want_bool(e, v, "sqrt", &out->sqrt_sigmas)) return -1;
    if (!(v = job_map_get(m, "samples", NULL))) return 0;
    if (out->kind == JOB_M_SMOOTHGRAD && v->kind == JOB_N_SCALAR && v->text && !job_casecmp(v->text, "auto")) {
        /* sigma is read above whatever the key order, so a sweep or --set
         * of sigma moves n with it. */
        if (!(out->sigma > 0))
            return job_errf(e, v,
                            "'samples: auto' (n from sigma, Tan & Tian's rule) needs an absolute 'sigma_pixel', "
                            "e.g. {name: smoothgrad, sigma_pixel: 0.03, samples: auto}");
        out->samples = job_smoothgrad_auto_samples(out->sigma);
        return 0;
    }
    return job_want_count(e, v, "samples", &out->samples);
}

/* job_method_check's problem at the key it names (the entry, where the
 * key is absent: precomputed without its path). */
static int report(const struct job_err *e, const struct job_node *m, const char *const *keys,
                  const struct job_method_problem *p) {
    const char *key = keys[p->field];
    const struct job_node *v = job_map_get(m, key, NULL);
    if (!v) v = m;
    if (p->form == JOB_MP_RULE) return job_bad(e, v, key, p->msg);
    if (p->form == JOB_MP_KEY) return job_errf(e, v, "'%s' %s", key, p->msg);
    return job_errf(e, v, "%s", p->msg);
}

static int read_method(const struct job_err *e, const struct job_node *m, int idx, struct job_method *out) {
    static const char *const known[] = {
        "name",     "steps",      "refs",        "estimators", "objective", "reference_compat",
        "baseline", "noise",      "sigma_pixel", "sigma",      "samples",   "epsilon_pixel",
        "epsilon",  "fill",       "max_dist",    "fraction",   "max_sigma", "grad_step",
        "sqrt",     "alpha_rule", "label",       "path",       "blur_sigma"};
    char where[48];
    snprintf(where, sizeof where, "'methods.%d'", idx);
    if (m->kind != JOB_N_MAP) {
        char what[48];
        snprintf(what, sizeof what, "methods.%d", idx);
        return job_bad(e, m, what, "a mapping such as {name: ig_uniform}");
    }
    if (job_check_keys(e, m, known, (int)(sizeof known / sizeof *known), NULL, 0, "key", where)) return -1;
    const struct job_node *v = job_map_get(m, "name", NULL);
    if (!v) return job_errf(e, m, "missing required key 'methods.%d.name'", idx);
    if (read_name(e, v, &out->kind)) return -1;
    job_method_defaults(out->kind, out);
    const char *keys[JOB_MF_COUNT];
    memcpy(keys, FIELD_KEYS, sizeof keys);
    if (read_settings(e, m, out) || read_amounts(e, m, idx, out, keys)) return -1;
    /* what each key may hold, and for which methods: the same check as
     * recal attribute's flags */
    unsigned given = 0;
    for (int f = 0; f < JOB_MF_COUNT; f++)
        if (job_map_get(m, keys[f], NULL)) given |= JOB_MF_BIT(f);
    struct job_method_problem p;
    return job_method_check(out, given, &p) ? report(e, m, keys, &p) : 0;
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
