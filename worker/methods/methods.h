/* worker/methods/methods.h — attribution methods over a batch of images.
 * Inputs are device tensors (plus a host copy of x for the samplers).
 * wk_method_run_dev hands back device tensors (B×D per estimator: the path
 * methods and the random control never leave the device, issue #21);
 * wk_method_run copies them into host buffers for callers that read maps
 * on the host. */
#ifndef RECAL_METHODS_H
#define RECAL_METHODS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "job.h"
#include "npy.h"
#include "torch_shim.h"

struct wk_batch {
    const ts_tensor *x;    /* B×C×H×W normalized, on device */
    const float *xh;       /* the same on the host */
    const int64_t *labels; /* B explained classes (host) */
    const ts_tensor *y;    /* the same on the device (int64), or NULL: uploaded where needed */
    const int64_t *ids;    /* B image ids (host): seeds come from these */
    long b;                /* images */
    int c, h, w;
    const ts_tensor *logits; /* B×classes of the clean images on the device, or NULL (IDGI's F(x)) */
};

/* A precomputed method's file (methods: {name: precomputed, path: P}),
 * mapped read-only: row i holds image id i's map. */
struct wk_maps {
    const char *path;
    struct npy_array a;
};

/* A baseline file of ig / guided_ig (baseline: {path: P}), mapped
 * read-only: one baseline for every image, or row i for image id i. */
struct wk_base_file {
    const char *path;
    struct npy_array a;
    int per_image; /* N×C×H×W with N > 1; else C×H×W or 1×C×H×W */
};

struct wk_consts; /* dev_consts.h */
struct wk_method_ctx {
    ts_module *model;
    int device;
    uint64_t seed;
    long chunk_samples;    /* max samples per forward+backward */
    float mean[3], std[3]; /* the model's input normalization: x = (pixel − mean) / std */
    /* Explicit references (recal attribute --references): R×D shared by all
     * images, or N×R×D indexed by batch position; NULL = the method's sampler. */
    const float *references;
    int references_per_image;
    long references_r;               /* R of the explicit references */
    const struct ds_dataset *ref_ds; /* Expected Gradients draws references from it */
    int classes;                     /* the model's output classes (AGI picks targets among them) */
    int32_t *segments_out;           /* optional B×H×W: LIME/KernelSHAP superpixel labels
                                      * (recal attribute --segments-out, for oracle tests) */
    int (*abandon)(void);            /* non-zero: give up between chunks (a stop signal's grace has
                                        passed); NULL: never. The method fails with WK_STOP_MSG. */
    const struct wk_maps *maps;      /* the precomputed methods' files (wk_maps_open), n_maps of them */
    int n_maps;
    const struct wk_base_file *base_files; /* the baseline files (wk_base_file_open), n_base_files of them */
    int n_base_files;
    struct wk_consts *consts; /* small tables kept on the device for the engine's life; NULL: uploaded per use */
};

/* Map a baseline file and check it against the images it serves: C×H×W or
 * 1×C×H×W (one for all), or N×C×H×W with N >= n (row i = image id i),
 * float16/32/64. 0, or -1 with a message naming the file, the shape found
 * and the shapes wanted. */
int wk_base_file_open(const char *path, long n, int c, int h, int w, struct wk_base_file *out, char *err,
                      size_t errlen);

/* Map a precomputed method's file and check it against the images it
 * scores: N x C x H x W (C = c or 1) or N x H x W, float16/32/64, at least
 * n rows. 0, or -1 with a message naming the file and what to save. */
int wk_maps_open(const char *path, long n, int c, int h, int w, struct wk_maps *out, char *err, size_t errlen);

/* The batch's maps from its file (rows bt->ids), a 1-channel map repeated
 * over the channels. */
int wk_precomputed(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                   char *err, size_t errlen);

#define WK_STOP_MSG "given up between chunks: the stop signal's grace has passed"

/* Between chunks of samples: -1 with WK_STOP_MSG when ctx->abandon says so.
 * A batch of 100,000 references ran for minutes past the grace when only
 * batches were checked. */
static inline int wk_method_stop(const struct wk_method_ctx *ctx, char *err, size_t errlen) {
    if (!ctx->abandon || !ctx->abandon()) return 0;
    snprintf(err, errlen, "%s", WK_STOP_MSG);
    return -1;
}

/* Any implemented method: fills out[e] (B·C·H·W floats) for every estimator
 * e set in m->estimators (methods without estimators use out[vanilla]). */
int wk_method_run(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  float *out[JOB_EST_COUNT], char *err, size_t errlen);
/* The same on the device: out[e] receives a new B×D float32 handle (the
 * caller frees it) for every estimator e of m (vanilla for methods without
 * estimators); methods computed on the host are uploaded. On failure every
 * out[e] is NULL. */
int wk_method_run_dev(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                      ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen);
/* The same, and a method computed on the host writes its maps into keep[e]
 * (B×D floats, for each estimator e it makes; NULL: none given) before they
 * go up: *kept is then 1 and keep[e] holds what out[e] does (a float32 copy
 * either way is exact), so the caller need not download them again. *kept 0:
 * the method ran on the device (keep untouched). */
int wk_method_run_dev_keep(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                           ts_tensor *out[JOB_EST_COUNT], float *const keep[JOB_EST_COUNT], int *kept, char *err,
                           size_t errlen);
/* Whether wk_method_run_dev computes m on the device (no host round trip). */
int wk_method_on_device(const struct job_method *m);
/* Whether m reads the batch's host copy of the images (bt->xh): the host
 * methods, IG-SG / IG-SQ whose σ follows each image's pixel range, and IG
 * from a blur of the image. */
int wk_method_reads_host_x(const struct job_method *m);

/* ---- building blocks (path.c, refs.c, grad_methods.c) ------------------- */

/* The K points of a path under an α rule (job_alpha_rule): alpha[k] in
 * [0, 1] ascending and weight[k], as Captum's IntegratedGradients builds
 * them for its `method=` (riemann_*: step 1/K, the trapezoid's two ends
 * halved; gausslegendre: the Gauss–Legendre nodes and weights mapped to
 * [0, 1]); endpoints: linspace(0, 1, K), weights 1/K. 0, or -1 when the
 * rule needs more steps (riemann: K >= 2). */
int wk_alpha_grid(enum job_alpha_rule rule, long K, double *alpha, double *weight);

/* The path engine behind IG, IG-Uniform, IG-SG, IG-SQ and EG: R references
 * per image (refs: device (B·R)×C×H×W, normalized), K points per path with
 * α per point (alpha: host B·R·K, path-major). One set of gradients feeds
 * every requested estimator (out[e]: new B×D handles). squared: the IG-SQ
 * combination. The label and finiteness checks of every pass go into
 * `checks`: the maps mean nothing until the caller's ts_checks_read says so. */
int wk_path_attribute(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                      const ts_tensor *refs, const float *alpha, int squared, ts_checks *checks,
                      ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen);

/* n floats U[0,1) (gaussian = 0) or N(0,1) from the counter-based stream
 * of key `seed` (util/seed.h), into host dst: the same numbers as
 * wk_draw_dev (normals to float32 rounding), for the samplers on the host. */
int wk_draw(uint64_t seed, long n, int gaussian, float *dst, char *err, size_t errlen);
/* B × n_each draws on the device from the counter-based stream of each
 * image's (run seed, image id, purpose) key (ts_ctr_rand). */
int wk_draw_dev(const struct wk_method_ctx *ctx, const struct wk_batch *bt, uint32_t purpose, long n_each, int gaussian,
                ts_tensor **out, char *err, size_t errlen);

/* Reference samplers: uniform and Gaussian on the device ((B·R)×C×H×W
 * normalized, new handle into *out); baseline and dataset on the host
 * (B·R·D floats into out). */
int wk_refs_uniform(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, ts_tensor **out, char *err,
                    size_t errlen);
/* The fixed baseline of ig / guided_ig (m->baseline, baseline.c), B·D
 * floats in model space into out: dataset_mean, black, the image blurred
 * (m->blur_sigma), normalize(U[0,1]) from the image's (seed, id) stream, or
 * the file's row. A perturbed copy (Lipschitz, max-sensitivity) gets its
 * image's draw and row, its own blur. 0, or -1 with a message. */
int wk_refs_baseline(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                     char *err, size_t errlen);
/* The Gaussian blur of Blur IG and the blur baseline (blur.c): x (C×H×W,
 * model space) blurred by σ pixels along H then W per channel, zero padding,
 * truncated at 4σ, as scipy.ndimage.gaussian_filter; tmp: C·H·W doubles,
 * kern: 2·wk_blur_radius(σ) + 1 doubles. */
long wk_blur_radius(double sigma);
void wk_blur(const double *x, int c, int h, int w, double sigma, double *out, double *tmp, double *kern);
int wk_refs_gaussian(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, long r,
                     ts_tensor **out, char *err, size_t errlen);
int wk_refs_dataset(const struct wk_method_ctx *ctx, const struct wk_batch *bt, long r, float *out, char *err,
                    size_t errlen);
/* σ in pixel units for image i: m->sigma, or m->noise × its pixel range. */
float wk_noise_sigma(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, long i);

/* Gradient methods: InputGrad (times_input 0), Input×Gradient (1), SmoothGrad. */
int wk_input_grad(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                  int times_input, float *out, char *err, size_t errlen);
int wk_smoothgrad(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                  char *err, size_t errlen);

/* AGI: T = m->refs target classes, K = m->steps signed steps of m->epsilon. */
int wk_agi(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
           float *out[JOB_EST_COUNT], char *err, size_t errlen);

/* GradCAM (gradcam.c): the model must expose features(x) and classifier(a);
 * wk_gradcam_check_model says so at load, naming `path` and the export recipe. */
int wk_gradcam_check_model(ts_module *model, const char *path, char *err, size_t errlen);
int wk_gradcam(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
               char *err, size_t errlen);

/* LIME and KernelSHAP on quickshift superpixels (surrogate.c): m->samples
 * perturbations per image; segments_out (optional, B·H·W) gets the labels. */
int wk_surrogate(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
                 int32_t *segments_out, char *err, size_t errlen);

/* The random-attribution control: U[0,1) per element from the image's
 * counter-based stream, drawn on the device (B×D, new handle). */
/* Guided IG (Kapishnikov et al., CVPR 2021) and Blur IG (Xu et al., CVPR
 * 2020) as PAIR's `saliency` package computes them (docs/methods.md): one
 * path per image, walked on the host; out[vanilla], out[valid_ip] and
 * out[idgi] as asked (B·C·H·W floats each). */
int wk_guided_ig(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                 float *out[JOB_EST_COUNT], char *err, size_t errlen);
int wk_blur_ig(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
               float *out[JOB_EST_COUNT], char *err, size_t errlen);

/* The estimators of a one-path method, in float64 (step_acc.c): per step of
 * image i, the gradient g at its start (D floats), the move delta it made
 * (D doubles) and the change of F over it. */
struct wk_step_acc {
    long b, d;
    double *van, *ip, *ip_n, *idgi; /* ip, ip_n, idgi NULL when not asked */
};
int wk_step_acc_init(struct wk_step_acc *a, long b, long d, unsigned estimators, char *err, size_t errlen);
void wk_step_acc_add(struct wk_step_acc *a, long i, const float *g, const double *delta, double df);
void wk_step_acc_out(const struct wk_step_acc *a, float *out[JOB_EST_COUNT]);
void wk_step_acc_free(struct wk_step_acc *a);
/* Gradients of `objective` at n host points (model space) for labels lab,
 * chunked; F per point into f_out when it is not NULL. */
int wk_grads_host(const struct wk_method_ctx *ctx, int objective, const float *pts, const int64_t *lab, long n, int c,
                  int h, int w, float *g_out, float *f_out, char *err, size_t errlen);

int wk_random_attr(const struct wk_method_ctx *ctx, const struct wk_batch *bt, ts_tensor **out, char *err,
                   size_t errlen);
#endif
