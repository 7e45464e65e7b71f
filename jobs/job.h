/* jobs/job.h — a validated job: what a YAML config (plus --set overrides)
 * means, in plain C types. Everything downstream reads this struct, never
 * the YAML, so validation happens once, with file:line:col in every error. */
#ifndef RECAL_JOB_H
#define RECAL_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* memory_budget_mb: auto — the engine sizes it from the free device memory
 * on CUDA (the CPU's default elsewhere); 0 is not a budget a user can give. */
#define JOB_MEMORY_AUTO 0L
#define JOB_MEMORY_DEFAULT_MB 2048L
#define JOB_PATH_MAX 1024
#define JOB_NAME_MAX 128
#define JOB_MAX_METHODS 32
#define JOB_MAX_RATIOS 32
#define JOB_MAX_SETS 64
#define JOB_MAX_EXAMPLES 16 /* outputs.examples: rows of the report's heatmap grid */
#define JOB_MAX_SWEEP_KEYS 8
#define JOB_MAX_SWEEP_VALUES 32
#define JOB_MAX_SWEEP_POINTS 1000 /* one Slurm array task each; MaxArraySize is 1001 by default */
#define JOB_SWEEP_TEXT 128

enum job_method_kind {
    JOB_M_RANDOM = 0,
    JOB_M_INPUT_GRAD,
    JOB_M_INPUT_X_GRAD,
    JOB_M_SMOOTHGRAD,
    JOB_M_IG,
    JOB_M_IG_UNIFORM,
    JOB_M_IG_SG,
    JOB_M_IG_SQ,
    JOB_M_EG,
    JOB_M_AGI,
    JOB_M_GRADCAM,
    JOB_M_LIME,
    JOB_M_KERNEL_SHAP,
    JOB_M_GUIDED_IG,
    JOB_M_BLUR_IG,
    JOB_M_PRECOMPUTED, /* maps made elsewhere, read from `path` (docs/methods.md) */
    JOB_M_COUNT
};

enum job_estimator {
    JOB_EST_VANILLA = 0,
    JOB_EST_VALID_REF = 1,
    JOB_EST_VALID_IP = 2,
    JOB_EST_IDGI = 3,
    JOB_EST_COUNT
};

enum job_objective { JOB_OBJ_LOGIT = 0, JOB_OBJ_PROB = 1, JOB_OBJ_CONTRAST = 2 };

/* The fixed baseline of ig and guided_ig (docs/methods.md, "Baselines"), in
 * the model's (normalized) space: dataset_mean is 0 there, the dataset's
 * mean colour; black is pixel 0, i.e. normalize(0); blur the image itself
 * blurred per channel with σ = blur_sigma pixels (Blur IG's kernel);
 * uniform normalize(U[0,1]) drawn per image from (seed, image id); file an
 * array the user saved (baseline_path), one for all images or one each. */
enum job_baseline {
    JOB_BASE_DATASET_MEAN = 0,
    JOB_BASE_BLACK = 1,
    JOB_BASE_BLUR = 2,
    JOB_BASE_UNIFORM = 3,
    JOB_BASE_FILE = 4
};
#define JOB_BLUR_SIGMA_DEFAULT 5.0 /* pixels (docs/methods.md says why) */
/* The α grid and weights of a path's K points (docs/methods.md, "α
 * rules"): endpoints = linspace(0, 1, K) with weights 1/K (the papers'
 * and recal's default); the others are Captum's IntegratedGradients
 * `method=` rules, point for point. */
#define JOB_TARGET_LABEL (-1)
#define JOB_TARGET_PREDICTED (-2)
#define JOB_ALPHA_STEPS_MAX 4096 /* steps under an α rule other than endpoints */
enum job_alpha_rule {
    JOB_ALPHA_ENDPOINTS = 0,
    JOB_ALPHA_RIEMANN_LEFT,
    JOB_ALPHA_RIEMANN_RIGHT,
    JOB_ALPHA_RIEMANN_MIDDLE,
    JOB_ALPHA_RIEMANN_TRAPEZOID,
    JOB_ALPHA_GAUSSLEGENDRE,
    JOB_ALPHA_COUNT
};

/* What LIME and KernelSHAP put where a superpixel is switched off:
 * superpixel_mean (lime_image: the superpixel's own mean colour),
 * dataset_mean (0 in model space, Captum's default baseline) or black. */
/* outputs.heatmap: how the report draws the example maps */
enum job_heatmap { JOB_HEATMAP_ABS = 0, JOB_HEATMAP_SIGNED = 1 };

enum job_fill { JOB_FILL_SUPERPIXEL_MEAN = 0, JOB_FILL_DATASET_MEAN = 1, JOB_FILL_BLACK = 2 };

struct job_method {
    enum job_method_kind kind;
    unsigned estimators;            /* bit mask of (1u << enum job_estimator) */
    int refs;                       /* R; default 10 for path methods, 1 otherwise */
    int steps;                      /* K; default 5 */
    enum job_objective objective;   /* default logit */
    bool reference_compat;          /* default false */
    enum job_baseline baseline;     /* ig, guided_ig: dataset_mean (default; old spelling zero) | black |
                                       blur | uniform | file */
    double blur_sigma;              /* baseline blur: σ in pixels (JOB_BLUR_SIGMA_DEFAULT) */
    enum job_alpha_rule alpha_rule; /* ig, ig_uniform, ig_sg, ig_sq: default endpoints */
    char label[32];                 /* the rows' name in every output (default: the method's name) */
    char path[JOB_PATH_MAX];        /* precomputed: the .npy of the split's maps */
    enum job_fill fill;             /* lime (default superpixel_mean), kernel_shap (default dataset_mean) */
    double noise;                   /* ig_sg, ig_sq, smoothgrad: σ as a fraction of the
                                       image's pixel range (default 0.15) */
    double sigma;                   /* sigma_pixel (old spelling sigma): absolute, in [0,1] pixel
                                       units; > 0 overrides noise */
    int samples;                    /* smoothgrad: N noisy samples (default 30) */
    double epsilon;                 /* agi: step size in pixel units (default 0.05) */
    double max_dist, fraction;      /* guided_ig: how far from the straight line (0.02), the share of
                                       features moved per step (0.25) */
    double max_sigma, grad_step;    /* blur_ig: the last blur (50 pixels), the σ finite difference (0.01) */
    bool sqrt_sigmas;               /* blur_ig `sqrt`: σ_i = √(i·max_sigma/steps) (default false: linear) */
    /* baseline file: the .npy (C×H×W or N×C×H×W, in model space) */
    char baseline_path[JOB_PATH_MAX];
};

/* The settings of a method a user gives (a job's `methods:` entry, or
 * `recal attribute`'s flags), as job_method_check names the one at fault;
 * JOB_MF_BIT(f) marks field f as given. */
enum job_method_field {
    JOB_MF_ESTIMATORS = 0,
    JOB_MF_REFS,
    JOB_MF_STEPS,
    JOB_MF_REFERENCE_COMPAT,
    JOB_MF_PATH,
    JOB_MF_ALPHA_RULE,
    JOB_MF_BASELINE,
    JOB_MF_BLUR_SIGMA,
    JOB_MF_FILL,
    JOB_MF_NOISE,
    JOB_MF_SIGMA,
    JOB_MF_EPSILON,
    JOB_MF_MAX_DIST,
    JOB_MF_FRACTION,
    JOB_MF_MAX_SIGMA,
    JOB_MF_GRAD_STEP,
    JOB_MF_SQRT,
    JOB_MF_SAMPLES,
    JOB_MF_COUNT
};
#define JOB_MF_BIT(f) (1u << (f))
#define JOB_METHOD_COUNT_MAX 1000000 /* refs, steps, samples: a million is hours of work an image already */

/* How a problem's msg reads, so that each caller can name the field its
 * own way (a YAML key at file:line:col, a --flag):
 * RULE: the value breaks a rule: "KEY must be <msg>, got <value>";
 * KEY:  "KEY <msg>" ("applies to agi only");
 * TEXT: <msg> alone (it says what it is about). */
enum job_problem_form { JOB_MP_RULE = 0, JOB_MP_KEY, JOB_MP_TEXT };
struct job_method_problem {
    enum job_method_field field; /* the setting at fault */
    enum job_problem_form form;
    double value; /* JOB_MP_RULE: the value that breaks it */
    char msg[320];
};

/* What a method's settings must be, whatever gave them (the YAML reader's
 * job_read_methods and `recal attribute` both call it, after the values
 * are parsed): the estimators the kind has, the counts' and amounts'
 * ranges, each given field only for the methods that read it (given: the
 * JOB_MF_BIT of each field the user set; the others hold defaults), an α
 * rule's and reference_compat's combinations, precomputed's path. 0, or
 * -1 with *p saying which field is wrong and why: the first problem, the
 * fields taken in enum order, except that the α rule's combinations (steps,
 * reference_compat, idgi) come last, once every other field is known. */
int job_method_check(const struct job_method *m, unsigned given, struct job_method_problem *p);

/* metrics.sensitivity_n (docs/metrics.md (sensitivity-n)). */
enum job_sn_baseline { JOB_SN_DATASET_MEAN = 0, JOB_SN_RAND = 1 };
enum job_post_hoc { JOB_PH_SUM = 0, JOB_PH_ABS = 1 };
struct job_sensn {
    bool on;
    int n_ratios;
    double ratios[JOB_MAX_RATIOS]; /* default 0.1..0.9 */
    int samples;                   /* S random masks per ratio; default 10 */
    enum job_sn_baseline baseline; /* dataset_mean (default; old spelling zero): 0 in model space;
                                      rand: normalize(U[0,1]), uniform pixels */
    enum job_post_hoc post_hoc;    /* sum (default) | abs */
    long images;                   /* images: N, spread over the split (job_subset_has; 0 = all) */
};

/* metrics.lipschitz / max_sensitivity / infidelity (docs/metrics.md (robustness and faithfulness)). */
struct job_robust {
    bool on;
    int samples;   /* lipschitz 50, max_sensitivity 10, infidelity 50 */
    double sigma;  /* lipschitz: sigma_pixel 0.03; infidelity: sigma_model 0.003 */
    double radius; /* max_sensitivity: L-inf ball radius, radius_model 0.02 */
    bool pixel;    /* sigma / radius is in pixel units (the image in [0, 1]);
                      else in the model's normalized input space */
    long images;   /* images: N, spread over the split (job_subset_has; 0 = all) */
};

/* metrics.faithfulness (docs/metrics.md (robustness and faithfulness)). */
struct job_faith {
    bool on;
    int groups; /* pixel groups on a grid, default 100 (10×10) */
    long images;
};

/* metrics.faithfulness_correlation (Bhatt et al. 2020) and
 * metrics.faithfulness_estimate (Alvarez-Melis & Jaakkola 2018), each as
 * Quantus computes it (docs/fidelity.md). */
enum job_fq_baseline { JOB_FQ_BLACK = 0, JOB_FQ_DATASET_MEAN = 1 };
struct job_faith_q {
    bool on;
    int size;                      /* correlation: subset_size (224); estimate: features_in_step (224) */
    int runs;                      /* correlation: runs (100) */
    enum job_fq_baseline baseline; /* black (default, Quantus): the image's minimum; dataset_mean
                                      (old spelling zero): 0 in model space */
    long images;
};

/* metrics.road (docs/metrics.md (ROAD)): Rong et al. (ICML 2022), as
 * Quantus computes it, MoRF and LeRF. */
struct job_road {
    bool on;
    int n_ratios;
    double ratios[JOB_MAX_RATIOS]; /* shares of the H·W pixels imputed (default 0.1 … 0.9) */
    double noise;                  /* std of the imputation's noise, model space (0.01) */
    bool abs_values;               /* rank by |Σ_c a| instead of Σ_c a (default false, Quantus's) */
    long images;
};

/* metrics.pointing_game (docs/metrics.md (pointing game)): the map's
 * maximum in the label's bounding boxes (Zhang et al. 2016), and the share
 * of its mass there (the energy-based game, Wang et al. 2020). */
struct job_pointing {
    bool on;
    double tolerance; /* a hit within this many model-input pixels of a box (15) */
    long images;
};

/* metrics.roar (docs/metrics.md (ROAR)): `recal run` writes the rank maps of
 * the evaluation split (implies outputs.masks) and of the train split, then
 * fine-tunes on the masked data, all in one run directory. */
#define JOB_MAX_MILESTONES 8
struct job_roar {
    bool on;
    int n_fractions;
    double fractions[JOB_MAX_RATIOS]; /* default 0.1, 0.3, 0.5, 0.7, 0.9 */
    int epochs;                       /* default 10; 0 = evaluate the unchanged model on masked data */
    double lr;                        /* default 0.01, divided by 10 at each milestone epoch */
    int n_milestones;
    int milestones[JOB_MAX_MILESTONES]; /* default 5, 7 */
    double momentum;                    /* default 0.9 */
    double weight_decay;                /* default 5e-4 */
    int batch_size;                     /* default 64 */
    bool data_parallel;                 /* each fine-tune over all ranks (default false: one per rank) */
};

struct job_train {
    bool present;           /* a `train:` section was given */
    int epochs;             /* default 3 */
    double lr;              /* default 0.05 */
    double momentum;        /* default 0.9 */
    double weight_decay;    /* default 0 */
    int batch_size;         /* default 64 */
    char out[JOB_PATH_MAX]; /* where the trained TorchScript goes; required */
};

/* `sweep:` — dotted config paths, each with a list of scalar values; the
 * grid is their cartesian product, first key slowest. A point is run as the
 * same config plus one "path=value" --set per key (job_sweep_point). */
struct job_sweep {
    int n_keys;
    char key[JOB_MAX_SWEEP_KEYS][JOB_SWEEP_TEXT];
    int n_values[JOB_MAX_SWEEP_KEYS];
    char value[JOB_MAX_SWEEP_KEYS][JOB_MAX_SWEEP_VALUES][JOB_SWEEP_TEXT];
    long n_points; /* product of n_values; 0 without a sweep */
};

/* statistics: bootstrap confidence intervals and paired tests over the
 * per-image metric values (docs/statistics.md). */
struct job_stats {
    int resamples; /* bootstrap resamples; 0 = no intervals (default 1000) */
    double level;  /* two-sided interval level, in (0, 1) (default 0.95) */
};

/* shards_per_rank's default: the last shard is ~1/32 of a rank's work, a
 * simulated 64-rank tail under 5 % of the run (docs/performance.md, "The
 * tail"). */
enum { JOB_SHARDS_PER_RANK = 32 };

struct job {
    char file[JOB_PATH_MAX];       /* the config path as given */
    char name[JOB_NAME_MAX];       /* default "recal" */
    uint64_t seed;                 /* default 0 */
    char device[16];               /* auto | cpu | cuda; default auto */
    char precision[8];             /* fp32 (default, exact) | tf32 (CUDA convolutions and matmuls)
                                      | bf16 (autocast forwards, CPU and CUDA) */
    int threads;                   /* intra-op threads per rank; 0 = auto */
    char model_path[JOB_PATH_MAX]; /* model.path, required */
    char dataset_name[32];         /* fashion-mnist | mnist | cifar10 | cifar100 | imagenet | npy */
    char dataset_path[JOB_PATH_MAX];
    char split[16]; /* test | train | val; default test */
    long limit;     /* 0 = all */
    /* dataset.* options, passed to ds_open_opts (worker/datasets/dataset.h) */
    int ds_resize;           /* dataset.resize; 0 = the dataset's default (imagenet 224) */
    bool ds_dct_scaling;     /* dataset.dct_scaling (imagenet): reduced-size JPEG decode */
    int ds_crop;             /* dataset.crop; 0 = none */
    bool ds_label_coarse;    /* dataset.label: fine (default) | coarse (cifar100) */
    bool ds_skip_errors;     /* dataset.on_error: fail (default) | skip */
    int ds_n_mean, ds_n_std; /* values given in dataset.mean / dataset.std (0, 1 or 3) */
    double ds_mean[3], ds_std[3];
    int ds_classes;            /* dataset.classes (npy); 0 = max label + 1 */
    int ds_threads;            /* dataset.threads: decode threads; 0 = threads, else 2 */
    int batch_size;            /* default 64 */
    long memory_budget_mb;     /* default 2048; JOB_MEMORY_AUTO: from the device's free memory (engine open) */
    int shard_images;          /* default 256; the largest shard when shards_per_rank > 0 */
    int shards_per_rank;       /* shards each computing rank gets at least (shard_plan_auto; default
                                  JOB_SHARDS_PER_RANK);
                                  0 = every shard shard_images (the old shard_seconds: 0 says the same) */
    double stop_grace_seconds; /* after a stop signal, how long shards in flight may still run
                                  before they are abandoned between batches or chunks (default 60) */
    double watchdog_seconds;   /* once a shard has finished, a rank silent in one shard for longer than
                                  max(this, 20 × the longest shard) stops the run resumably, naming it
                                  (default 600; 0 = off) */
    bool coordinator_computes; /* rank 0 computes shards besides handing them out (default true) */
    int target;                /* the class every method and metric explains: JOB_TARGET_LABEL (default),
                                  JOB_TARGET_PREDICTED, or a class index >= 0 */
    long chunk_samples;        /* samples per forward+backward: N; 0 = from memory_budget_mb
                                  (default); -1 = measured at start ("auto") */
    int n_methods;
    struct job_method methods[JOB_MAX_METHODS];
    bool diffid; /* metrics.diffid present */
    int n_diffid_ratios;
    double diffid_ratios[JOB_MAX_RATIOS]; /* default 0.1..0.9 */
    struct job_sensn sensn;
    struct job_robust lipschitz, max_sens, infidelity;
    struct job_faith faith;
    struct job_faith_q fcorr, fest;
    struct job_road road;
    struct job_pointing pointing;
    struct job_roar roar;
    bool out_attributions, out_masks, out_figures; /* outputs.*; default false,false,true */
    bool out_per_image;                            /* outputs.per_image: RUN_DIR/per_image/ (default false) */
    enum job_heatmap out_heatmap;                  /* outputs.heatmap: abs (default) | signed */
    int n_examples;                                /* outputs.examples: 0 = one image per class */
    long examples[JOB_MAX_EXAMPLES];               /* the image ids kept for the heatmaps, as listed */
    struct job_stats stats;
    struct job_train train;
    struct job_sweep sweep;
    char sha256[65]; /* of the file bytes and the --set list, hex */
};

/* Load and validate CONFIG with --set overrides ("a.b.c=value", applied in
 * order, value parsed as a YAML scalar or flow sequence). On error returns
 * -1 and writes one message "file:line:col: what (did you mean 'x'?)" to
 * err. 0 on success. */
int job_load(const char *path, const char *const *sets, int n_sets, struct job *out, char *err, size_t errlen);

/* Grid point I (0 <= I < sweep.n_points) as "path=value" overrides, one per
 * sweep key, in key order, into sets[0..n_keys-1]. 0, or -1 when I is out of
 * range. */
int job_sweep_point(const struct job *j, long i, char (*sets)[2 * JOB_SWEEP_TEXT + 2]);

/* The job of a Diff-ROAR run's train stage: j over the train split with
 * only what the fine-tunes need (rank maps, and the attributions when j
 * saves them); no metrics, no figures. */
void job_roar_train_view(const struct job *j, struct job *t);

/* A metric's `images: n` over a split of `total` images (0 or n >= total:
 * every image): the ids ⌊k·total/n⌋, k = 0 … n−1, spread over the split
 * (docs/metrics.md): whether id is one of them (ids outside the split never). */
bool job_subset_has(long n, long total, long id);

/* `precision`'s values: fp32 | tf32 | bf16 (job YAML, and the --precision
 * flags of attribute and bench). */
bool job_precision_known(const char *name);

const char *job_method_name(enum job_method_kind k);
/* SmoothGrad's `samples: auto`: n from sigma (pixel units), Tan & Tian's rule. */
int job_smoothgrad_auto_samples(double sigma);
/* LIME / KernelSHAP `fill` names, in job_want_enum's order: superpixel_mean,
 * dataset_mean, black, then "zero" (the old spelling of dataset_mean).
 * job_fill_at maps an index of it to the fill; job_default_fill is each
 * method's default (job YAML and `recal attribute` alike). */
#define JOB_FILL_NAMES 4
extern const char *const job_fill_names[JOB_FILL_NAMES];
enum job_fill job_fill_at(int i);
enum job_fill job_default_fill(enum job_method_kind k);
/* `baseline` names, in job_want_enum's order: dataset_mean, black, blur,
 * uniform, then "zero" (the old spelling of dataset_mean); job_baseline_at
 * maps an index of it to the baseline (a file is named by its path, not
 * here). job_baseline_name: the name, "file" for a file. Methods that
 * integrate from a fixed baseline: ig and guided_ig. */
#define JOB_BASELINE_NAMES 5
extern const char *const job_baseline_names[JOB_BASELINE_NAMES];
enum job_baseline job_baseline_at(int i);
const char *job_baseline_name(enum job_baseline b);
bool job_method_takes_baseline(enum job_method_kind k);
/* Every key of a method at its default (the docs/methods.md table: R, K,
 * samples, noise, ε, fill, ...), estimators vanilla: the one table the job
 * YAML and `recal attribute` start from. */
void job_method_defaults(enum job_method_kind kind, struct job_method *out);
const char *job_estimator_name(enum job_estimator e);
const char *job_objective_name(enum job_objective o);
/* The name a method's rows carry in every output: its label, else its
 * method name. */
const char *job_method_label(const struct job_method *m);
/* "endpoints", "riemann_left", ..., "gausslegendre"; "unknown" out of range. */
const char *job_alpha_rule_name(enum job_alpha_rule r);

/* true when the method is implemented in this build (others are refused
 * at load with a message that says so). */
bool job_method_implemented(enum job_method_kind k);
/* The estimators a method can compute (bit mask of 1u << enum job_estimator). */
unsigned job_method_estimators(enum job_method_kind k);

/* Levenshtein-closest of candidates to s, or NULL when nothing is close
 * (distance > max(2, strlen(s)/3)). Case-insensitive. */
const char *job_suggest(const char *s, const char *const *candidates, int n);

#endif
