/* jobs/job_names.c — the names users type for methods, estimators and
 * objectives, and the "did you mean" helper every unknown-name error uses. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"

static const char *const method_names[JOB_M_COUNT] = {
    [JOB_M_RANDOM] = "random",
    [JOB_M_INPUT_GRAD] = "input_grad",
    [JOB_M_INPUT_X_GRAD] = "input_x_grad",
    [JOB_M_SMOOTHGRAD] = "smoothgrad",
    [JOB_M_IG] = "ig",
    [JOB_M_IG_UNIFORM] = "ig_uniform",
    [JOB_M_IG_SG] = "ig_sg",
    [JOB_M_IG_SQ] = "ig_sq",
    [JOB_M_EG] = "eg",
    [JOB_M_AGI] = "agi",
    [JOB_M_GRADCAM] = "gradcam",
    [JOB_M_PRECOMPUTED] = "precomputed",
    [JOB_M_LIME] = "lime",
    [JOB_M_KERNEL_SHAP] = "kernel_shap",
    [JOB_M_GUIDED_IG] = "guided_ig",
    [JOB_M_BLUR_IG] = "blur_ig",
};

static const char *const estimator_names[JOB_EST_COUNT] = {
    [JOB_EST_VANILLA] = "vanilla",
    [JOB_EST_VALID_REF] = "valid_ref",
    [JOB_EST_VALID_IP] = "valid_ip",
    [JOB_EST_IDGI] = "idgi",
};

static const char *const objective_names[] = {
    [JOB_OBJ_LOGIT] = "logit",
    [JOB_OBJ_PROB] = "prob",
    [JOB_OBJ_CONTRAST] = "contrast",
};

static const char *const alpha_rule_names[JOB_ALPHA_COUNT] = {
    [JOB_ALPHA_ENDPOINTS] = "endpoints",
    [JOB_ALPHA_RIEMANN_LEFT] = "riemann_left",
    [JOB_ALPHA_RIEMANN_RIGHT] = "riemann_right",
    [JOB_ALPHA_RIEMANN_MIDDLE] = "riemann_middle",
    [JOB_ALPHA_RIEMANN_TRAPEZOID] = "riemann_trapezoid",
    [JOB_ALPHA_GAUSSLEGENDRE] = "gausslegendre",
};

const char *job_alpha_rule_name(enum job_alpha_rule r) {
    if ((int)r < 0 || r >= JOB_ALPHA_COUNT) return "unknown";
    return alpha_rule_names[r];
}

const char *const job_baseline_names[JOB_BASELINE_NAMES] = {"dataset_mean", "black", "blur", "uniform", "zero"};

enum job_baseline job_baseline_at(int i) {
    return i >= 0 && i < 4 ? (enum job_baseline)i : JOB_BASE_DATASET_MEAN; /* 4: "zero", dataset_mean's old name */
}

const char *job_baseline_name(enum job_baseline b) {
    return b == JOB_BASE_FILE ? "file" : (int)b >= 0 && (int)b < 4 ? job_baseline_names[b] : "unknown";
}

bool job_method_takes_baseline(enum job_method_kind k) {
    return k == JOB_M_IG || k == JOB_M_GUIDED_IG;
}

const char *job_method_label(const struct job_method *m) {
    return m->label[0] ? m->label : job_method_name(m->kind);
}

const char *job_method_name(enum job_method_kind k) {
    if ((int)k < 0 || k >= JOB_M_COUNT) return "unknown";
    return method_names[k];
}

const char *job_estimator_name(enum job_estimator e) {
    if ((int)e < 0 || e >= JOB_EST_COUNT) return "unknown";
    return estimator_names[e];
}

const char *job_objective_name(enum job_objective o) {
    if ((int)o < 0 || o > JOB_OBJ_CONTRAST) return "unknown";
    return objective_names[o];
}

bool job_method_implemented(enum job_method_kind k) {
    /* Grows as worker/methods/ gains kernels; the loader refuses the rest so
     * a long run never dies halfway on a method that does not exist. */
    return k == JOB_M_RANDOM || k == JOB_M_INPUT_GRAD || k == JOB_M_INPUT_X_GRAD || k == JOB_M_SMOOTHGRAD ||
           k == JOB_M_IG || k == JOB_M_IG_UNIFORM || k == JOB_M_IG_SG || k == JOB_M_IG_SQ || k == JOB_M_EG ||
           k == JOB_M_AGI || k == JOB_M_GRADCAM || k == JOB_M_PRECOMPUTED || k == JOB_M_LIME ||
           k == JOB_M_KERNEL_SHAP || k == JOB_M_GUIDED_IG || k == JOB_M_BLUR_IG;
}

unsigned job_method_estimators(enum job_method_kind k) {
    const unsigned v = 1u << JOB_EST_VANILLA, ref = 1u << JOB_EST_VALID_REF, ip = 1u << JOB_EST_VALID_IP,
                   idgi = 1u << JOB_EST_IDGI;
    switch (k) {
    case JOB_M_IG:
    case JOB_M_IG_UNIFORM:
    case JOB_M_IG_SG:
        return v | ref | ip | idgi;
    case JOB_M_IG_SQ: /* its squared sum has no IDGI form */
    case JOB_M_EG:    /* random α: no order along the path for IDGI */
    case JOB_M_AGI:   /* adversarial steps: none either */
        return v | ref | ip;
    case JOB_M_GUIDED_IG: /* one path from one baseline: nothing for valid_ref to re-weight */
    case JOB_M_BLUR_IG:
        return v | ip | idgi;
    default:
        return v;
    }
}

static int lower(int ch) {
    return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

/* Case-insensitive Levenshtein distance; two rolling rows keep it O(|b|). */
static size_t distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    size_t *prev = malloc((lb + 1) * sizeof *prev);
    size_t *cur = malloc((lb + 1) * sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return (size_t)-1;
    }
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
            if (prev[j - 1] + cost < best) best = prev[j - 1] + cost;
            cur[j] = best;
        }
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    size_t d = prev[lb];
    free(prev);
    free(cur);
    return d;
}

const char *job_suggest(const char *s, const char *const *candidates, int n) {
    if (!s || !candidates || n <= 0) return NULL;
    size_t limit = strlen(s) / 3;
    if (limit < 2) limit = 2;
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (int i = 0; i < n; i++) {
        if (!candidates[i]) continue;
        size_t d = distance(s, candidates[i]);
        if (d < best_d) { /* strict: ties keep the earlier candidate */
            best_d = d;
            best = candidates[i];
        }
    }
    return best_d <= limit ? best : NULL;
}

/* Tan & Tian (ICML 2023): n = 10 for sigma < 0.01, else sigma / 0.01 x 10
 * (sigma in pixel units), rounded to the nearest whole sample: 0.03 gives
 * 30, 0.05 50, 0.1 100. */
int job_smoothgrad_auto_samples(double sigma) {
    if (!(sigma >= 0.01)) return 10;
    double n = sigma * 1000.0 + 0.5;
    return n >= (double)INT_MAX ? INT_MAX : (int)n;
}

const char *const job_fill_names[JOB_FILL_NAMES] = {"superpixel_mean", "dataset_mean", "black", "zero"};

enum job_fill job_fill_at(int i) {
    return i == 3 ? JOB_FILL_DATASET_MEAN : (enum job_fill)i;
}

/* LIME as lime_image (hide_color None: each superpixel's mean colour);
 * KernelSHAP as Captum (baseline 0 in model space). */
enum job_fill job_default_fill(enum job_method_kind k) {
    return k == JOB_M_LIME ? JOB_FILL_SUPERPIXEL_MEAN : JOB_FILL_DATASET_MEAN;
}
