/* worker/methods/guided_ig.c — Guided Integrated Gradients (Kapishnikov et
 * al., CVPR 2021) as PAIR's `saliency` package computes it (guided_ig.py,
 * docs/methods.md): from a baseline to the image in `steps` steps; each
 * step takes the gradient at its start, then moves the features whose
 * |gradient| is in the lowest `fraction` (those already at the step's
 * bound excluded) until the L1 distance to the image has shrunk by
 * 1/steps of the total, never letting a feature fall more than `max_dist`
 * of the path behind or run ahead of the straight line. All in float64 on
 * the host, the model fed float32 as PAIR's callers do; the images of a
 * batch advance together, one gradient call per step. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"

#define GIG_EPSILON 1e-9 /* PAIR's EPSILON: math.isclose's rel_tol and abs_tol */

/* The k-th smallest of v[0..n) (v is reordered): numpy's partition. */
static double kth_smallest(double *v, long n, long k) {
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        const double pivot = v[lo + (hi - lo) / 2];
        long i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    return v[k];
}

static int isclose(double a, double b) {
    const double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= (GIG_EPSILON * m > GIG_EPSILON ? GIG_EPSILON * m : GIG_EPSILON);
}

/* One step of one image (guided_ig_impl's loop body): x moves in place;
 * g is the gradient at the step's start; scratch: 2·d doubles. */
static void gig_step(const double *in, const double *base, double *x, const float *g, long d, long step, long steps,
                     double fraction, double max_dist, double l1_total, double *scratch) {
    double *grad = scratch, *absg = scratch + d;
    const double alpha = (step + 1.0) / (double)steps;
    const double amin = alpha - max_dist > 0 ? alpha - max_dist : 0.0,
                 amax = alpha + max_dist < 1 ? alpha + max_dist : 1;
    const double l1_target = l1_total * (1 - (double)(step + 1) / (double)steps);
    for (long k = 0; k < d; k++) grad[k] = g[k];
    /* PAIR loops while gamma > 1; a step that can move nothing more would
     * loop for ever there: at most d + 2 rounds here */
    for (long round = 0; round < d + 2; round++) {
        for (long k = 0; k < d; k++) {
            const double diff = in[k] - base[k];
            const double xa = diff != 0 ? (x[k] - base[k]) / diff : amax; /* NaN → alpha_max */
            if (xa < amin) x[k] = base[k] + diff * amin;
        }
        double l1_cur = 0;
        for (long k = 0; k < d; k++) l1_cur += fabs(x[k] - in[k]);
        if (isclose(l1_target, l1_cur)) return;
        for (long k = 0; k < d; k++)
            if (x[k] == base[k] + (in[k] - base[k]) * amax) grad[k] = INFINITY;
        for (long k = 0; k < d; k++) absg[k] = fabs(grad[k]);
        /* np.quantile(|grad|, fraction, method="lower") */
        const double thr = kth_smallest(absg, d, (long)floor((double)(d - 1) * fraction));
        double l1_s = 0;
        for (long k = 0; k < d; k++)
            if (fabs(grad[k]) <= thr && grad[k] != INFINITY) l1_s += fabs(x[k] - (base[k] + (in[k] - base[k]) * amax));
        const double gamma = l1_s > 0 ? (l1_cur - l1_target) / l1_s : INFINITY;
        if (!(gamma > 0)) return; /* PAIR asserts gamma > 0 */
        for (long k = 0; k < d; k++) {
            if (!(fabs(grad[k]) <= thr && grad[k] != INFINITY)) continue;
            const double xmax = base[k] + (in[k] - base[k]) * amax;
            x[k] = gamma > 1.0 ? xmax : x[k] + (xmax - x[k]) * gamma;
        }
        if (gamma <= 1.0) return;
    }
}

int wk_guided_ig(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                 float *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const long B = bt->b, hw = (long)bt->h * bt->w, d = bt->c * hw, S = m->steps;
    const int idgi = out[JOB_EST_IDGI] != NULL;
    int rc = -1;
    struct wk_step_acc acc = {0};
    double *in = malloc((size_t)(B * d) * sizeof *in), *base = malloc((size_t)(B * d) * sizeof *base);
    double *x = malloc((size_t)(B * d) * sizeof *x), *delta = malloc((size_t)(B * d) * sizeof *delta);
    double *l1 = malloc((size_t)B * sizeof *l1), *scratch = malloc((size_t)(2 * d) * sizeof *scratch);
    float *pts = malloc((size_t)(B * d) * sizeof *pts), *g = malloc((size_t)(B * d) * sizeof *g);
    float *gprev = malloc((size_t)(B * d) * sizeof *gprev), *f = malloc((size_t)B * sizeof *f);
    float *fprev = malloc((size_t)B * sizeof *fprev), *bl = malloc((size_t)(B * d) * sizeof *bl);
    if (!in || !base || !x || !delta || !l1 || !scratch || !pts || !g || !gprev || !f || !fprev || !bl) {
        snprintf(err, errlen, "out of host memory for Guided IG paths (lower batch_size)");
        goto out;
    }
    unsigned est = 0;
    for (int e = 0; e < JOB_EST_COUNT; e++) est |= out[e] ? 1u << e : 0;
    if (wk_step_acc_init(&acc, B, d, est, err, errlen)) goto out;
    if (wk_refs_baseline(ctx, m, bt, bl, err, errlen)) goto out;
    for (long q = 0; q < B * d; q++) {
        in[q] = bt->xh[q];
        x[q] = base[q] = bl[q];
    }
    for (long i = 0; i < B; i++) {
        l1[i] = 0;
        for (long k = 0; k < d; k++) l1[i] += fabs(in[i * d + k] - base[i * d + k]);
    }
    for (long step = 0; step <= S; step++) {
        /* the gradient (and F) at each path's current point; after the last
         * step, F at the image alone (IDGI's last change of F) */
        if (step < S || idgi) {
            for (long q = 0; q < B * d; q++) pts[q] = (float)x[q];
            if (wk_grads_host(ctx, (int)m->objective, pts, bt->labels, B, bt->c, bt->h, bt->w, g, idgi ? f : NULL, err,
                              errlen))
                goto out;
        }
        if (step > 0) /* the previous step, now that F at its end is known */
            for (long i = 0; i < B; i++)
                wk_step_acc_add(&acc, i, gprev + i * d, delta + i * d, idgi ? (double)f[i] - fprev[i] : 0);
        if (step == S) break;
        for (long i = 0; i < B; i++) {
            double *xi = x + i * d;
            for (long k = 0; k < d; k++) delta[i * d + k] = xi[k];
            if (l1[i] > 0) /* an image equal to its baseline: 0, as PAIR */
                gig_step(in + i * d, base + i * d, xi, g + i * d, d, step, S, m->fraction, m->max_dist, l1[i], scratch);
            for (long k = 0; k < d; k++) delta[i * d + k] = xi[k] - delta[i * d + k];
        }
        float *t = gprev;
        gprev = g;
        g = t;
        t = fprev;
        fprev = f;
        f = t;
    }
    wk_step_acc_out(&acc, out);
    rc = 0;
out:
    wk_step_acc_free(&acc);
    free(in);
    free(base);
    free(x);
    free(delta);
    free(l1);
    free(scratch);
    free(pts);
    free(g);
    free(gprev);
    free(f);
    free(fprev);
    free(bl);
    return rc;
}
