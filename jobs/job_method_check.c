/* jobs/job_method_check.c — what a method's settings must be, once parsed:
 * one validator for a job's `methods:` entries (job_methods.c reports its
 * problems at file:line:col) and `recal attribute`'s flags (src/attr_opts.c
 * reports them naming the flag), so the two cannot drift apart. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job.h"

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
problem(struct job_method_problem *p, enum job_method_field f, enum job_problem_form form, const char *fmt, ...) {
    p->field = f;
    p->form = form;
    p->value = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->msg, sizeof p->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* A value outside its rule ("a number > 0 ..."), for "KEY must be RULE, got V". */
static int broken(struct job_method_problem *p, enum job_method_field f, double value, const char *rule) {
    problem(p, f, JOB_MP_RULE, "%s", rule);
    p->value = value;
    return -1;
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

/* valid_ref / valid_ip reweight points along an integration path, IDGI
 * splits each step's change of F along an ordered one (docs/methods.md):
 * each method takes the estimators that have something to act on. */
static int check_estimators(const struct job_method *m, struct job_method_problem *p) {
    const unsigned can = job_method_estimators(m->kind);
    for (int est = 0; est < JOB_EST_COUNT; est++) {
        if (!((m->estimators >> est) & 1) || (can >> est) & 1) continue;
        char list[64] = "";
        for (int k = 0; k < JOB_EST_COUNT; k++)
            if ((can >> k) & 1)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? ", " : "",
                         job_estimator_name((enum job_estimator)k));
        return problem(p, JOB_MF_ESTIMATORS, JOB_MP_TEXT, "method '%s' supports estimators [%s]; %s",
                       job_method_name(m->kind), list, estimator_needs(est));
    }
    if (!m->estimators) return problem(p, JOB_MF_ESTIMATORS, JOB_MP_TEXT, "no estimator: name at least one");
    return 0;
}

/* R, K and N multiply into the points of one image. */
static int check_count(enum job_method_field f, int v, struct job_method_problem *p) {
    if (v < 1) return broken(p, f, v, "an integer >= 1");
    if (v > JOB_METHOD_COUNT_MAX) return broken(p, f, v, "an integer between 1 and 1000000");
    return 0;
}

static bool is_ig_path(enum job_method_kind k) {
    return k == JOB_M_IG || k == JOB_M_IG_UNIFORM || k == JOB_M_IG_SG || k == JOB_M_IG_SQ;
}

static bool is_noisy(enum job_method_kind k) {
    return k == JOB_M_IG_SG || k == JOB_M_IG_SQ || k == JOB_M_SMOOTHGRAD;
}

/* A field given to a method that does not read it: "KEY applies to ...". */
static int applies(unsigned given, enum job_method_field f, bool reads, const char *to, struct job_method_problem *p) {
    if (!(given & JOB_MF_BIT(f)) || reads) return 0;
    return problem(p, f, JOB_MP_KEY, "applies to %s", to);
}

/* The baseline's fields, LIME's fill and the noise of the noisy methods. */
static int check_baseline_noise(const struct job_method *m, unsigned given, struct job_method_problem *p) {
    const enum job_method_kind k = m->kind;
    if (applies(given, JOB_MF_BASELINE, job_method_takes_baseline(k), "methods ig and guided_ig only", p)) return -1;
    if ((given & JOB_MF_BIT(JOB_MF_BLUR_SIGMA)) && m->baseline != JOB_BASE_BLUR)
        return problem(p, JOB_MF_BLUR_SIGMA, JOB_MP_KEY, "applies to baseline: blur only (this entry's baseline is %s)",
                       job_baseline_name(m->baseline));
    if (!(m->blur_sigma > 0 && m->blur_sigma <= 1000))
        return broken(p, JOB_MF_BLUR_SIGMA, m->blur_sigma, "a number in (0, 1000] (pixels)");
    if (applies(given, JOB_MF_FILL, k == JOB_M_LIME || k == JOB_M_KERNEL_SHAP, "lime and kernel_shap only", p) ||
        applies(given, JOB_MF_NOISE, is_noisy(k), "ig_sg, ig_sq and smoothgrad only", p))
        return -1;
    if (!(m->noise > 0)) return broken(p, JOB_MF_NOISE, m->noise, "a number > 0 (fraction of the pixel range)");
    if (applies(given, JOB_MF_SIGMA, is_noisy(k), "ig_sg, ig_sq and smoothgrad only", p)) return -1;
    /* 0 when not given: the noise's fraction holds */
    if (((given & JOB_MF_BIT(JOB_MF_SIGMA)) || m->sigma != 0) && !(m->sigma > 0))
        return broken(p, JOB_MF_SIGMA, m->sigma, "a number > 0 (pixel units: the image in [0, 1])");
    if (applies(given, JOB_MF_EPSILON, k == JOB_M_AGI, "agi only", p)) return -1;
    if (!(m->epsilon > 0))
        return broken(p, JOB_MF_EPSILON, m->epsilon, "a number > 0 (pixel units: the image in [0, 1])");
    return 0;
}

/* Guided IG's and Blur IG's own fields, and the sample counts. */
static int check_own(const struct job_method *m, unsigned given, struct job_method_problem *p) {
    const struct {
        enum job_method_field f;
        enum job_method_kind kind;
        double v, lo, hi;
        bool lo_open;
        const char *rule;
    } own[] = {{JOB_MF_MAX_DIST, JOB_M_GUIDED_IG, m->max_dist, 0, 1, false, "a number in [0, 1] (a share of the path)"},
               {JOB_MF_FRACTION, JOB_M_GUIDED_IG, m->fraction, 0, 1, true, "a number in (0, 1]"},
               {JOB_MF_MAX_SIGMA, JOB_M_BLUR_IG, m->max_sigma, 0, 1000, true, "a number in (0, 1000] (pixels)"},
               {JOB_MF_GRAD_STEP, JOB_M_BLUR_IG, m->grad_step, 0, 1000, true, "a number in (0, 1000] (pixels)"}};
    for (size_t k = 0; k < sizeof own / sizeof *own; k++) {
        const char *to = own[k].kind == JOB_M_GUIDED_IG ? "guided_ig only" : "blur_ig only";
        if (applies(given, own[k].f, m->kind == own[k].kind, to, p)) return -1;
        const double d = own[k].v;
        if (!(d >= own[k].lo && d <= own[k].hi) || (own[k].lo_open && d == own[k].lo))
            return broken(p, own[k].f, d, own[k].rule);
    }
    if (applies(given, JOB_MF_SQRT, m->kind == JOB_M_BLUR_IG, "blur_ig only", p)) return -1;
    const bool sampled = m->kind == JOB_M_SMOOTHGRAD || m->kind == JOB_M_LIME || m->kind == JOB_M_KERNEL_SHAP;
    if (applies(given, JOB_MF_SAMPLES, sampled, "smoothgrad, lime and kernel_shap only", p)) return -1;
    return check_count(JOB_MF_SAMPLES, m->samples, p);
}

/* What an α rule cannot be combined with, once every field is known. */
static int check_alpha_rule(const struct job_method *m, struct job_method_problem *p) {
    const enum job_alpha_rule r = m->alpha_rule;
    const char *name = job_alpha_rule_name(r);
    if (r == JOB_ALPHA_ENDPOINTS) return 0;
    if (m->reference_compat)
        return problem(p, JOB_MF_ALPHA_RULE, JOB_MP_TEXT,
                       "alpha_rule %s with reference_compat: the reference code walks linspace(0, 1, K) only (drop "
                       "one)",
                       name);
    if ((m->estimators >> JOB_EST_IDGI) & 1)
        return problem(p, JOB_MF_ALPHA_RULE, JOB_MP_TEXT,
                       "alpha_rule %s with the 'idgi' estimator: IDGI weighs its steps by the model's change between "
                       "them, not by a rule (drop one)",
                       name);
    if (m->steps > JOB_ALPHA_STEPS_MAX)
        return problem(p, JOB_MF_ALPHA_RULE, JOB_MP_TEXT, "alpha_rule %s takes at most %d steps, got %d", name,
                       JOB_ALPHA_STEPS_MAX, m->steps);
    if (r != JOB_ALPHA_GAUSSLEGENDRE && m->steps < 2)
        return problem(p, JOB_MF_ALPHA_RULE, JOB_MP_TEXT,
                       "alpha_rule %s needs steps >= 2 (as Captum's riemann rules), got %d", name, m->steps);
    return 0;
}

int job_method_check(const struct job_method *m, unsigned given, struct job_method_problem *p) {
    memset(p, 0, sizeof *p);
    if (check_estimators(m, p) || check_count(JOB_MF_REFS, m->refs, p) || check_count(JOB_MF_STEPS, m->steps, p))
        return -1;
    if (m->reference_compat && (m->estimators >> JOB_EST_IDGI) & 1)
        return problem(p, JOB_MF_REFERENCE_COMPAT, JOB_MP_TEXT,
                       "reference_compat has no 'idgi' estimator (the reference code has none; drop one)");
    if (applies(given, JOB_MF_PATH, m->kind == JOB_M_PRECOMPUTED, "precomputed only", p)) return -1;
    if (m->kind == JOB_M_PRECOMPUTED && !m->path[0])
        return problem(p, JOB_MF_PATH, JOB_MP_TEXT,
                       "method precomputed needs 'path': the .npy of the split's maps (N x C x H x W or N x H x W, "
                       "float16/32/64, row i = image id i)");
    /* given endpoints too: the rule is a path's, whatever its value */
    if (((given & JOB_MF_BIT(JOB_MF_ALPHA_RULE)) || m->alpha_rule != JOB_ALPHA_ENDPOINTS) && !is_ig_path(m->kind))
        return problem(p, JOB_MF_ALPHA_RULE, JOB_MP_KEY,
                       "applies to ig, ig_uniform, ig_sg and ig_sq (%s draws its α or has no path of straight-line "
                       "points)",
                       job_method_name(m->kind));
    if (check_baseline_noise(m, given, p) || check_own(m, given, p)) return -1;
    return check_alpha_rule(m, p);
}
