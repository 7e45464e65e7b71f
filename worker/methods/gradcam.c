/* worker/methods/gradcam.c — GradCAM (Selvaraju et al. 2017) for models
 * exported with a features(x) / classifier(a) split (docs/methods.md, GradCAM).
 * Map = ReLU(Σ_k α_k A_k), α_k = mean over h×w of ∂F/∂A_k, upsampled
 * bilinearly (align_corners false, as Captum) to H×W and repeated over the
 * C input channels so that every metric reads it like a pixel attribution. */
#include <stdio.h>
#include <string.h>

#include "methods.h"
#include "wk_pool.h"

int wk_gradcam_check_model(ts_module *model, const char *path, char *err, size_t errlen) {
    int f = 0, c = 0;
    if (ts_module_has_method(model, "features", &f) || ts_module_has_method(model, "classifier", &c)) {
        snprintf(err, errlen, "%s", ts_last_error());
        return -1;
    }
    if (!f || !c) {
        snprintf(err, errlen,
                 "method gradcam needs a model that exposes features(x) and classifier(a) "
                 "(forward(x) == classifier(features(x))); '%s' lacks %s. Export it with "
                 "@torch.jit.export methods as tools/export_fashion_cnn.py and tools/export_models.py do",
                 path ? path : "the model", !f ? "features" : "classifier");
        return -1;
    }
    return 0;
}

/* Maps of n images starting at host point xh (normalized), into out (n·C·H·W). */
static int cam_chunk(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                     const float *xh, const int64_t *lab, long n, float *out, char *err, size_t errlen) {
    struct wk_pool pool = {0};
    int rc = -1;
    const long hw = (long)bt->h * bt->w;
    ts_tensor *x, *l, *a, *g, *g1, *alpha, *wa, *cam, *pos, *up;
    int64_t s_x[4] = {n, bt->c, bt->h, bt->w}, s_l[1] = {n};
    WK_T(&pool, ts_from_f32(xh, s_x, 4, ctx->device, &x), x);
    WK_T(&pool, ts_from_i64(lab, s_l, 1, ctx->device, &l), l);
    a = NULL;
    g = NULL;
    if (ts_feature_grad(ctx->model, x, l, (int)m->objective, &a, &g) != TS_OK) {
        snprintf(err, errlen, "%s", ts_last_error());
        goto fail;
    }
    wk_pool_add(&pool, a);
    wk_pool_add(&pool, g);
    WK_T(&pool, ts_mean_dim(g, 3, 1, &g1), g1);
    WK_T(&pool, ts_mean_dim(g1, 2, 1, &alpha), alpha); /* N×K×1×1 */
    WK_T(&pool, ts_mul(alpha, a, &wa), wa);
    WK_T(&pool, ts_sum_dim(wa, 1, 1, &cam), cam); /* N×1×h×w */
    WK_T(&pool, ts_clamp_min(cam, 0.0, &pos), pos);
    WK_T(&pool, ts_interpolate_bilinear(pos, bt->h, bt->w, &up), up);
    /* One channel comes back into the first n·H·W floats of out; spreading
     * it from the last image backwards never overwrites a map not yet copied. */
    WK_CHECK(ts_to_f32(up, out, (size_t)(n * hw)));
    for (long i = n - 1; i >= 0; i--)
        for (int ch = bt->c - 1; ch >= 0; ch--)
            memmove(out + (i * bt->c + ch) * hw, out + i * hw, (size_t)hw * sizeof *out);
    rc = 0;
fail:
    wk_pool_free(&pool);
    return rc;
}

int wk_gradcam(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt, float *out,
               char *err, size_t errlen) {
    const long d = (long)bt->c * bt->h * bt->w;
    long per = ctx->chunk_samples < 1 ? 1 : ctx->chunk_samples;
    for (long i0 = 0; i0 < bt->b; i0 += per) {
        long n = bt->b - i0 < per ? bt->b - i0 : per;
        if (cam_chunk(ctx, m, bt, bt->xh + i0 * d, bt->labels + i0, n, out + i0 * d, err, errlen)) return -1;
    }
    return 0;
}
