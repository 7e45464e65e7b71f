/* src/cmd_attribute.c — `recal attribute`: explain a handful of images given
 * as numpy arrays; the way other tools' numbers are reproduced (explicit
 * references) and how the oracle tests drive the engine's methods. The flags
 * and the method they build are attr_opts.c's; this file reads the arrays,
 * runs the method and writes the maps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attr_opts.h"
#include "cli.h"
#include "cores.h"
#include "diffid.h"
#include "engine.h"
#include "job.h"
#include "json_buf.h"
#include "methods.h"
#include "npy.h"
#include "torch_shim.h"

/* What the command holds while it runs: every buffer and handle, freed by
 * attr_state_free whatever step failed. */
struct attr_state {
    struct npy_array xa, la, ra;
    struct wk_base_file bfile;
    float *x, *a, *rf, *lg; /* a: estimator k's maps at a + k·n·d */
    int64_t *y;
    ts_module *m;
    ts_tensor *xt, *yt;
    struct wk_consts consts; /* the channel vectors and step tables, uploaded once for every group */
    int device, ncls;
    long n, c, h, w, d;
};

static void attr_state_free(struct attr_state *s) {
    npy_free(&s->xa);
    npy_free(&s->la);
    npy_free(&s->ra);
    npy_free(&s->bfile.a);
    free(s->x);
    free(s->y);
    free(s->a);
    free(s->rf);
    free(s->lg);
    ts_tensor_free(s->xt);
    ts_tensor_free(s->yt);
    wk_consts_free(&s->consts);
    ts_module_free(s->m);
}

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

/* The methods whose samples are drawn in pixel space (references, noise,
 * steps in pixel units), so that the normalization changes their maps. */
static int attr_pixel_space(const struct job_method *m) {
    const enum job_method_kind k = m->kind;
    return k == JOB_M_IG_UNIFORM || k == JOB_M_IG_SG || k == JOB_M_IG_SQ || k == JOB_M_SMOOTHGRAD || k == JOB_M_AGI ||
           k == JOB_M_LIME || k == JOB_M_KERNEL_SHAP || /* superpixels are found in pixel space */
           (job_method_takes_baseline(k) && (m->baseline == JOB_BASE_BLACK || m->baseline == JOB_BASE_UNIFORM));
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

/* --input: N×C×H×W float32, finite; the label and map buffers beside it. */
static int attr_load_input(const struct attr_args *a, int n_est, struct attr_state *s) {
    char err[2048];
    if (npy_read(a->input, &s->xa, err, sizeof err)) {
        fprintf(stderr, "recal attribute: %s\n", err);
        return -1;
    }
    if (s->xa.ndim != 4 || s->xa.dtype != NPY_F32) {
        fprintf(stderr, "recal attribute: %s: expected an N×C×H×W float32 array\n", a->input);
        return -1;
    }
    s->n = (long)s->xa.shape[0], s->c = (long)s->xa.shape[1], s->h = (long)s->xa.shape[2];
    s->w = (long)s->xa.shape[3];
    s->d = s->c * s->h * s->w;
    if (s->c < 1 || s->c > 3) {
        fprintf(stderr, "recal attribute: %s: images have %ld channels (axis 1); recal takes 1 to 3\n", a->input, s->c);
        return -1;
    }
    const long n = s->n, d = s->d;
    s->x = npy_to_f32(&s->xa);
    s->y = malloc((size_t)(n ? n : 1) * sizeof *s->y);
    s->a = malloc((size_t)(n * d > 0 ? n_est * n * d : 1) * sizeof *s->a);
    for (long i = 0; s->x && i < n * d; i++)
        if (s->x[i] != s->x[i] || s->x[i] - s->x[i] != 0) {
            fprintf(stderr, "recal attribute: %s: element %ld is NaN or Inf\n", a->input, i);
            return -1;
        }
    return 0;
}

/* --model on the device, and the images there. */
static int attr_load_model(const struct attr_args *a, const struct job_method *jm, struct attr_state *s) {
    if (ts_module_load(a->model, s->device, &s->m)) {
        fprintf(stderr, "recal attribute: %s: %s\n", a->model, ts_last_error());
        return -1;
    }
    if (jm->kind == JOB_M_GRADCAM) {
        char gerr[512];
        if (wk_gradcam_check_model(s->m, a->model, gerr, sizeof gerr)) {
            fprintf(stderr, "recal attribute: %s\n", gerr);
            return -1;
        }
    }
    int64_t xs[4] = {s->n, s->c, s->h, s->w};
    if (!s->x || !s->y || !s->a || ts_from_f32(s->x, xs, 4, s->device, &s->xt)) {
        fprintf(stderr, "recal attribute: %s\n", ts_last_error());
        return -1;
    }
    return 0;
}

/* --labels, checked against the model's classes, into s->y. */
static int attr_read_labels(const char *labels, long classes, struct attr_state *s) {
    char err[2048];
    if (npy_read(labels, &s->la, err, sizeof err)) {
        fprintf(stderr, "recal attribute: %s\n", err);
        return -1;
    }
    int64_t *ly = npy_to_i64(&s->la);
    if (!ly || s->la.ndim != 1 || s->la.shape[0] != s->n) {
        fprintf(stderr, "recal attribute: %s: expected %ld labels, one per input image\n", labels, s->n);
        free(ly);
        return -1;
    }
    memcpy(s->y, ly, (size_t)s->n * sizeof *s->y);
    free(ly);
    for (long i = 0; i < s->n; i++)
        if (s->y[i] < 0 || s->y[i] >= classes) {
            fprintf(stderr, "recal attribute: %s: label %lld of image %ld is outside the model's %lld classes\n",
                    labels, (long long)s->y[i], i, (long long)classes);
            return -1;
        }
    return 0;
}

/* The explained classes: given (--labels, --target K), or the model's prediction. */
static int attr_targets(const struct attr_args *a, const struct attr_plan *p, struct attr_state *s) {
    ts_tensor *out = NULL;
    int64_t os[2];
    int nd;
    if (ts_module_forward(s->m, s->xt, &out) || ts_shape(out, os, &nd)) {
        if (wk_grad_hint(ts_last_error()))
            fprintf(stderr, "recal attribute: %s: %s (libtorch: %s)\n", a->model, wk_grad_hint(ts_last_error()),
                    ts_last_error());
        else fprintf(stderr, "recal attribute: %s does not accept %s: %s\n", a->model, a->input, ts_last_error());
        ts_tensor_free(out);
        return -1;
    }
    s->ncls = (int)os[1];
    const char *note = ts_module_freeze_note(s->m);
    if (note) fprintf(stderr, "recal attribute: %s: %s; it runs as loaded\n", a->model, note);
    s->lg = malloc((size_t)(s->n * os[1] + 1) * sizeof *s->lg);
    ts_to_f32(out, s->lg, (size_t)(s->n * os[1]));
    ts_tensor_free(out);
    if (p->target_class >= os[1]) {
        fprintf(stderr, "recal attribute: --target %ld: the model has classes 0..%lld\n", p->target_class,
                (long long)os[1] - 1);
        return -1;
    }
    if (p->target_class >= 0) {
        for (long i = 0; i < s->n; i++) s->y[i] = p->target_class;
    } else if (p->by_label) {
        return attr_read_labels(a->labels, (long)os[1], s);
    } else {
        for (long i = 0; i < s->n; i++) s->y[i] = diffid_argmax(s->lg + i * os[1], (int)os[1]);
    }
    return 0;
}

/* The model's normalization into ctx: --config's (dataset.mean/std or its
 * dataset's defaults), each of --mean/--std overriding its own. */
static int attr_normalization(const struct attr_args *a, const struct attr_plan *p, long c, struct wk_method_ctx *ctx) {
    const struct attr_norm *cn = &p->cfg_norm;
    float mv[3] = {0, 0, 0}, sv[3] = {1, 1, 1};
    if (a->config)
        for (int ch = 0; ch < 3; ch++) {
            mv[ch] = cn->mean[cn->n == 1 ? 0 : ch];
            sv[ch] = cn->std[cn->n == 1 ? 0 : ch];
        }
    const int cfg_ok = !a->config || cn->n == 1 || cn->n == c;
    int nm = a->mean_s ? parse_floats(a->mean_s, mv, 3) : cfg_ok ? (int)c : -1;
    int ns = a->std_s ? parse_floats(a->std_s, sv, 3) : cfg_ok ? (int)c : -1;
    if (nm != c || ns != c) {
        fprintf(stderr, "recal attribute: --mean and --std need one value per channel (%ld)\n", c);
        return -1;
    }
    for (int ch = 0; ch < 3; ch++) {
        ctx->mean[ch] = mv[ch];
        ctx->std[ch] = sv[ch];
    }
    /* The same images attributed by a run and by attribute without the
     * run's normalization differed by 38 % (IG-Uniform), silently. */
    if (!a->mean_s && !a->std_s && !a->config && !a->refs_path && attr_pixel_space(&p->jm))
        fprintf(stderr,
                "recal attribute: warning: %s draws in pixel space and no --mean/--std were given: assuming mean 0, "
                "std 1; give your model's normalization (as dataset.mean/std) for the maps a run makes\n",
                job_method_name(p->jm.kind));
    return 0;
}

/* --references (shared R×C×H×W or per image N×R×C×H×W) and a --baseline
 * file, checked against the inputs' shape. */
static int attr_references(const struct attr_args *a, const struct job_method *jm, struct attr_state *s,
                           struct wk_method_ctx *ctx) {
    char err[2048];
    const long n = s->n, c = s->c, h = s->h, w = s->w;
    if (a->refs_path) {
        if (npy_read(a->refs_path, &s->ra, err, sizeof err)) {
            fprintf(stderr, "recal attribute: %s\n", err);
            return -1;
        }
        const struct npy_array *ra = &s->ra;
        int shared = ra->ndim == 4 && ra->shape[1] == c && ra->shape[2] == h && ra->shape[3] == w;
        int per = ra->ndim == 5 && ra->shape[0] == n && ra->shape[2] == c && ra->shape[3] == h && ra->shape[4] == w;
        if (!shared && !per) {
            fprintf(stderr, "recal attribute: %s: expected R×%ld×%ld×%ld or %ld×R×%ld×%ld×%ld references\n",
                    a->refs_path, c, h, w, n, c, h, w);
            return -1;
        }
        ctx->references_r = shared ? ra->shape[0] : ra->shape[1];
        /* the file sets R: a different --refs was silently ignored */
        if (a->refs > 0 && a->refs != (long)ctx->references_r) {
            fprintf(stderr,
                    "recal attribute: --refs %ld but %s holds %ld references per image: drop --refs (the "
                    "file sets R) or pass a file with %ld\n",
                    a->refs, a->refs_path, (long)ctx->references_r, a->refs);
            return -1;
        }
        s->rf = npy_to_f32(&s->ra);
        ctx->references = s->rf;
        ctx->references_per_image = per;
    }
    if (jm->baseline == JOB_BASE_FILE && job_method_takes_baseline(jm->kind)) { /* checked against the inputs */
        if (wk_base_file_open(jm->baseline_path, n, (int)c, (int)h, (int)w, &s->bfile, err, sizeof err)) {
            fprintf(stderr, "recal attribute: --baseline %s\n", err);
            return -1;
        }
        ctx->base_files = &s->bfile;
        ctx->n_base_files = 1;
    }
    return 0;
}

/* --stats: what the method cost, one JSON line on stderr. */
static void attr_print_stats(long n, const struct ts_ledger *l0, const struct ts_ledger *l1) {
    struct jbuf j = {0};
    jb_printf(&j,
              "{\"images\": %ld, \"forward_samples\": %llu, \"backward_samples\": %llu, \"h2d_bytes\": %llu, "
              "\"d2h_bytes\": %llu, \"syncs\": %llu, \"d2h_syncs\": %llu}",
              n, (unsigned long long)(l1->fwd_samples - l0->fwd_samples),
              (unsigned long long)(l1->bwd_samples - l0->bwd_samples),
              (unsigned long long)(l1->h2d_bytes - l0->h2d_bytes), (unsigned long long)(l1->d2h_bytes - l0->d2h_bytes),
              (unsigned long long)(l1->syncs - l0->syncs), (unsigned long long)(l1->d2h_syncs - l0->d2h_syncs));
    jb_put_line(&j, stderr);
    jb_free(&j);
}

/* The method over the batch, its estimators in the order given; the maps
 * (and lime's segments) written. */
static int attr_compute(const struct attr_args *a, struct attr_plan *p, struct attr_state *s,
                        struct wk_method_ctx *ctx) {
    char err[2048];
    const long n = s->n, h = s->h, w = s->w;
    /* the labels go up once, as the images did (a run's batch has both) */
    int64_t s_n[1] = {n};
    if (ts_from_i64(s->y, s_n, 1, s->device, &s->yt) != TS_OK) {
        fprintf(stderr, "recal attribute: uploading labels: %s\n", ts_last_error());
        return -1;
    }
    ctx->consts = &s->consts;
    int64_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    for (long i = 0; ids && i < n; i++) ids[i] = i;
    struct wk_batch bt = {s->xt, s->x, s->y, s->yt, ids, n, (int)s->c, (int)h, (int)w, NULL};
    float *outs[JOB_EST_COUNT] = {0};
    p->jm.estimators = 0;
    for (int k = 0; k < p->n_est; k++) {
        outs[p->est_order[k]] = s->a + (size_t)k * (size_t)(n * s->d);
        p->jm.estimators |= 1u << p->est_order[k];
    }
    int32_t *segs = a->segments_path ? malloc((size_t)(n * h * w > 0 ? n * h * w : 1) * sizeof *segs) : NULL;
    ctx->segments_out = segs;
    struct ts_ledger l0, l1;
    ts_ledger_read(&l0);
    int rc = ids && (!a->segments_path || segs) ? wk_method_run(ctx, &p->jm, &bt, outs, err, sizeof err) : -1;
    ts_ledger_read(&l1);
    if (a->stats && !rc) attr_print_stats(n, &l0, &l1);
    if (!ids || (a->segments_path && !segs)) snprintf(err, sizeof err, "out of host memory");
    free(ids);
    if (!rc && segs) {
        int64_t ss[3] = {n, h, w};
        rc = npy_write(a->segments_path, NPY_I32, 3, ss, segs, err, sizeof err);
    }
    free(segs);
    if (rc || attr_write(a->out_path, s->a, p->n_est, n, s->c, h, w, err, sizeof err)) {
        fprintf(stderr, "recal attribute: %s\n", err);
        return -1;
    }
    return 0;
}

int cmd_attribute(int argc, char **argv) {
    struct attr_args a;
    struct attr_plan p;
    const int parsed = attr_parse(argc, argv, &a);
    if (parsed) return parsed > 0 ? EXIT_OK : EXIT_USER;
    if (attr_plan_build(&a, &p)) return EXIT_USER;
    struct attr_state s = {0};
    if (ts_device_parse(a.device_s, &s.device)) {
        fprintf(stderr, "recal attribute: --device %s: %s\n", a.device_s, ts_last_error());
        return EXIT_USER;
    }
    if (!job_precision_known(a.precision)) {
        fprintf(stderr, "recal attribute: --precision is fp32, tf32 or bf16, got '%s'\n", a.precision);
        return EXIT_USER;
    }
    wk_set_precision(a.precision, s.device);
    /* libtorch's own default ran one thread on this 2-core VM (104 % CPU):
     * every core unless told, as `recal run` with one rank a node does. */
    long threads = a.threads > 0 ? a.threads : cores_usable();
    ts_set_num_threads((int)(threads > 0 ? threads : 1));
    int code = EXIT_USER;
    if (attr_load_input(&a, p.n_est, &s) || attr_load_model(&a, &p.jm, &s) || attr_targets(&a, &p, &s)) goto out;
    /* Chunks from the memory budget, as in a run: a fixed count let R·K
     * samples of 224×224 images through at once (11 GB at R=10, K=20). */
    struct wk_method_ctx ctx = {.model = s.m,
                                .device = s.device,
                                .seed = p.seed,
                                .classes = s.ncls,
                                .chunk_samples = wk_chunk_samples(s.device, (int)s.c, (int)s.h, (int)s.w, a.budget_mb)};
    if (attr_normalization(&a, &p, s.c, &ctx) || attr_references(&a, &p.jm, &s, &ctx) || attr_compute(&a, &p, &s, &ctx))
        goto out;
    code = EXIT_OK;
out:
    attr_state_free(&s);
    return code;
}
