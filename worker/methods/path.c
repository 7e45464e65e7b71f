/* worker/methods/path.c — the path engine shared by IG, IG-Uniform, IG-SG,
 * IG-SQ and EG: the three estimators of docs/methods.md from ONE set of R·K
 * gradients.
 *
 * The distinct points of all B images are walked in chunks of whole paths
 * so that one forward+backward serves many images and memory is bounded by
 * the chunk, not by R·K; a path longer than a chunk goes through in pieces,
 * its gradient sum carried from one to the next. Every point carries its own
 * reference row and α (gathered with index_select). Per chunk the estimator
 * terms are folded into per-image device accumulators with index_add_.
 *
 * A point at α = 1 is the image itself on every path (z = r + 1·(x − r)):
 * with α = linspace(0, 1, K) that is R of the R·K points of an image. Its
 * gradient is computed once per image (endpoint_grads) and shared by the
 * paths, and not at all when only valid_ip is asked for: there its term
 * (1 − α)(x − r) ⊙ g / K is exactly 0 and only counts as kept.
 *
 * `reference_compat` walks the reference implementation's points instead
 * (compat_tables, below): not paths but whole images, each with its
 * lcm(R, K) distinct points, the α = 1 ones among them shared the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev_consts.h"
#include "methods.h"
#include "wk_pool.h"

/* What both walks share: the batch, its references and x − r per path, the
 * per-point tables (reference row, image, α, (1 − α)/K, label) and the
 * per-image accumulators of the three estimators. */
struct path_run {
    const struct wk_method_ctx *ctx;
    const struct wk_batch *bt;
    long B, R, K, D;
    long kin, n1; /* per path: points walked (α < 1, or all) and points at α = 1 shared */
    int squared, want_van, want_vr, want_ip, want_idgi;
    const ts_tensor *y; /* B labels on the device */
    ts_tensor *refs, *x2, *dpath, *t_pathimg;
    ts_tensor *gx; /* B×D: the gradient at each image (α = 1), when shared for vanilla/valid_ref */
    ts_tensor *t_pref, *t_pimg, *t_alpha, *t_coef, *t_lab;
    ts_tensor *acc_van, *acc_vr, *cnt_vr, *acc_ip, *cnt_ip, *acc_idgi;
    ts_tensor *f_end; /* B: F at each image (α = 1), for IDGI's last step when that point is shared */
    int objective;
    ts_checks *checks; /* the label and finiteness checks, read once by the caller (ts_checks_read) */
    /* An α rule's weights (docs/methods.md, "α rules") as K·w_k, so that the
     * endpoints rule is 1 everywhere and takes none of this: w1 (K steps,
     * host; NULL for endpoints), t_wwalk (the kin walked steps' on the
     * device), w_end (Σ K·w_k over the shared α = 1 steps; n1 without a rule). */
    const float *w1;
    ts_tensor *t_wwalk;
    double w_end;
};

/* Gradients g (qc×C×H×W) at points q0 … q0+qc−1 and each point's x − r
 * (qc×D), and with IDGI F at each point (qc), into `pool`. */
static int point_grads(const struct path_run *pr, long q0, long qc, struct wk_pool *pool, ts_tensor **g_out,
                       ts_tensor **dp_out, ts_tensor **f_out, char *err, size_t errlen) {
    const struct wk_batch *bt = pr->bt;
    ts_tensor *ir, *ii, *r, *xs, *dp, *al, *ad, *z, *z4, *lab, *g;
    int64_t s_z4[4] = {qc, bt->c, bt->h, bt->w};
    if (wk_method_stop(pr->ctx, err, errlen)) return -1;
    WK_T(pool, ts_narrow(pr->t_pref, 0, q0, qc, &ir), ir);
    WK_T(pool, ts_narrow(pr->t_pimg, 0, q0, qc, &ii), ii);
    WK_T(pool, ts_index_select(pr->refs, 0, ir, &r), r); /* reference of each point */
    WK_T(pool, ts_index_select(pr->x2, 0, ii, &xs), xs); /* its image */
    WK_T(pool, ts_sub(xs, r, &dp), dp);                  /* x − r per point */
    WK_T(pool, ts_narrow(pr->t_alpha, 0, q0, qc, &al), al);
    WK_T(pool, ts_mul(al, dp, &ad), ad);
    WK_T(pool, ts_add(r, ad, &z), z); /* z = r + α (x − r) */
    WK_T(pool, ts_reshape(z, s_z4, 4, &z4), z4);
    WK_T(pool, ts_narrow(pr->t_lab, 0, q0, qc, &lab), lab);
    ts_tensor *f = NULL;
    WK_T(pool, ts_objective_grad(pr->ctx->model, z4, lab, pr->objective, &g, pr->want_idgi ? &f : NULL, pr->checks), g);
    if (f && !wk_pool_add(pool, f)) { /* freed by the pool: do not hand it out */
        snprintf(err, errlen, "internal: tensor pool exhausted at %s:%d", __FILE__, __LINE__);
        goto fail;
    }
    *g_out = g;
    *dp_out = dp;
    if (f_out) *f_out = f;
    return 0;
fail:
    return -1;
}

/* valid_ip's kept terms of points q0 … q0+qc−1 (gradient g2, qc×D):
 * m = (1 − α)(x − r) ⊙ g / K = (x − z) ⊙ g / K; keep = [m ≥ 0]; squared
 * (IG-SQ) keeps m². Returns the kept terms and keep, qc×D, into `pool`. */
static int ip_terms(const struct path_run *pr, ts_tensor *g2, ts_tensor *dp, long q0, long qc, struct wk_pool *pool,
                    ts_tensor **km_out, ts_tensor **kp_out, char *err, size_t errlen) {
    ts_tensor *co, *gc, *mip, *kp, *km;
    WK_T(pool, ts_narrow(pr->t_coef, 0, q0, qc, &co), co);
    WK_T(pool, ts_mul(g2, co, &gc), gc);
    WK_T(pool, ts_mul(gc, dp, &mip), mip);
    WK_T(pool, ts_ge_scalar(mip, 0.0, &kp), kp);
    WK_T(pool, ts_mul(kp, mip, &km), km);
    if (pr->squared) WK_T(pool, ts_mul(km, mip, &km), km);
    *km_out = km;
    *kp_out = kp;
    return 0;
fail:
    return -1;
}

/* vanilla and valid_ref of slots (path rows) whose mean gradients gbar
 * (n×D) are known: m_j = (x − r_j) ⊙ ḡ_j for the n slots from slot0, folded
 * into their images' rows (idx: n image indices). */
static int slot_terms(const struct path_run *pr, ts_tensor *gbar, long slot0, long n, ts_tensor *idx,
                      struct wk_pool *pool, char *err, size_t errlen) {
    ts_tensor *dc, *mm;
    WK_T(pool, ts_narrow(pr->dpath, 0, slot0, n, &dc), dc);
    WK_T(pool, ts_mul(dc, gbar, &mm), mm); /* m_j = (x − r_j) ⊙ ḡ_j */
    if (pr->want_van) {
        ts_tensor *v = mm;
        if (pr->squared) WK_T(pool, ts_mul(mm, gbar, &v), v); /* (x − r_j) ⊙ ḡ_j² */
        WK_CHECK(ts_index_add_(pr->acc_van, 0, idx, v));
    }
    if (pr->want_vr) {
        ts_tensor *kp, *km;
        WK_T(pool, ts_ge_scalar(mm, 0.0, &kp), kp);
        WK_T(pool, ts_mul(kp, mm, &km), km);
        if (pr->squared) WK_T(pool, ts_mul(km, mm, &km), km);
        WK_CHECK(ts_index_add_(pr->acc_vr, 0, idx, km));
        WK_CHECK(ts_index_add_(pr->cnt_vr, 0, idx, kp));
    }
    return 0;
fail:
    return -1;
}

/* Walked point q of path p = i·R + j (image i, reference j) at step k:
 * reference r_{i,j}, α_{i,j,k}; with skip_ends the α = 1 steps are left
 * out (shared, endpoint_grads), so every path keeps K − n1 points. Returns
 * the number of points. */
static long path_tables(long B, long R, long K, const float *alpha_h, int skip_ends, int64_t *pref, int64_t *pimg,
                        int64_t *palpha) {
    long q = 0;
    for (long p = 0; p < B * R; p++)
        for (long k = 0; k < K; k++) {
            if (skip_ends && alpha_h[p * K + k] == 1.0f) continue;
            pref[q] = p;
            pimg[q] = p / R;
            palpha[q] = p * K + k;
            q++;
        }
    return q;
}

/* Steps at α = 1 per path when every path has the same number of them
 * (linspace: 1; K = 1: the single step), else 0: nothing is shared. EG's
 * U[0, 1) draws never reach 1. */
static long endpoint_count(const float *alpha_h, long paths, long K) {
    long n1 = 0;
    for (long p = 0; p < paths; p++) {
        long c = 0;
        for (long k = 0; k < K; k++) c += alpha_h[p * K + k] == 1.0f;
        if (p == 0) n1 = c;
        else if (c != n1) return 0;
    }
    return n1;
}

/* RECAL_SHARE_ENDPOINTS=0 walks every α = 1 step as a point of its own, as
 * before sharing: the oracles and benchmarks run both ways. */
static int share_endpoints(void) {
    const char *v = getenv("RECAL_SHARE_ENDPOINTS");
    return !v || strcmp(v, "0") != 0;
}

/* The gradient at each image, B×D into pr->gx (owned by `keep`), in chunks
 * of chunk_samples images: the α = 1 point every path of the image ends at,
 * computed at x itself rather than at r + 1·(x − r) (equal up to rounding).
 * The shim pairs a lone image with a copy of itself, so an image's gradient
 * does not depend on how many images share its chunk. */
static int endpoint_grads(struct path_run *pr, struct wk_pool *keep, char *err, size_t errlen) {
    const struct wk_batch *bt = pr->bt;
    const long B = pr->B, per = pr->ctx->chunk_samples > 0 ? pr->ctx->chunk_samples : 1;
    struct wk_pool chunk = {0};
    int rc = -1;
    ts_tensor *t_img;
    int64_t s_bd[2] = {B, pr->D};
    WK_T(keep, ts_arange(B, pr->ctx->device, &t_img), t_img);
    WK_T(keep, ts_zeros(s_bd, 2, pr->ctx->device, &pr->gx), pr->gx);
    for (long i0 = 0, n; i0 < B; i0 += n) {
        n = B - i0 < per ? B - i0 : per;
        ts_tensor *xs, *lab, *ii, *g, *g2;
        int64_t s_nd[2] = {n, pr->D};
        if (wk_method_stop(pr->ctx, err, errlen)) goto fail;
        WK_T(&chunk, ts_narrow(bt->x, 0, i0, n, &xs), xs);
        WK_T(&chunk, ts_narrow(pr->y, 0, i0, n, &lab), lab);
        WK_T(&chunk, ts_narrow(t_img, 0, i0, n, &ii), ii);
        WK_T(&chunk, ts_objective_grad(pr->ctx->model, xs, lab, pr->objective, &g, NULL, pr->checks), g);
        WK_T(&chunk, ts_reshape(g, s_nd, 2, &g2), g2);
        WK_CHECK(ts_index_add_(pr->gx, 0, ii, g2));
        wk_pool_free(&chunk);
    }
    rc = 0;
fail:
    wk_pool_free(&chunk);
    return rc;
}

/* The reference implementation (its IntGradSG, shared by IG-Uniform, IG-SG
 * and IG-SQ) evaluates per image R·K flat points l = 0 … R·K−1: point l
 * has reference r_{l mod R} (references tiled with repeat(1, K, …)) and
 * α = α_{l mod K} (linspace(0, 1, K) repeated). valid_ip pairs each point's
 * gradient with its own x − z_l; vanilla and valid_ref give slot j the mean
 * gradient of points j·K … j·K+K−1 and multiply it by x − r_j. Point l
 * depends only on l mod lcm(R, K) (Chinese remainder theorem), so only
 * L = lcm(R, K) distinct points exist, each evaluated gcd(R, K) times there:
 * recal evaluates each once. valid_ip's kept sum and kept count both scale
 * by gcd, so their ratio is that of the L distinct points; slot j adds
 * point l' once for each k < K with (j·K + k) mod L = l', i.e. point l' goes
 * to slots (l' + c·L) div K, c = 0 … gcd−1. The walked points of an image
 * are lw[0 … Lw−1] (all L, or those below α = 1 when the image's gradient
 * is shared); walked point q = i·Lw + t is l' = lw[t]. */
static void compat_tables(long B, long R, long K, const int64_t *lw, long Lw, int64_t *pref, int64_t *pimg,
                          int64_t *palpha) {
    for (long i = 0; i < B; i++)
        for (long t = 0; t < Lw; t++) {
            const long q = i * Lw + t, l = lw[t];
            pref[q] = i * R + l % R;
            pimg[q] = i;
            palpha[q] = (i * R + l % R) * K + l % K;
        }
}

/* reference_compat's α = 1 points (l mod K = K − 1 with linspace) are the
 * image too: shared like the paths' when α = 1 falls exactly on the last
 * step of every reference and nowhere else. */
static int compat_ends_at_last_step(const float *alpha_h, long paths, long K) {
    for (long p = 0; p < paths; p++)
        for (long k = 0; k < K; k++)
            if ((alpha_h[p * K + k] == 1.0f) != (k == K - 1)) return 0;
    return 1;
}

static long gcd_l(long a, long b) {
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* IDGI (docs/methods.md): step k of a path adds g_k² / Σ g_k² · (F_{k+1} − F_k).
 * One piece of pc paths × kc consecutive points (g: their gradients, f:
 * F at each): the terms whose next point is in the piece, summed over the
 * piece into *sum (pc×D; added to an earlier piece's), and the carried
 * step of the piece before (its last point's weights and F, *cw and *cf),
 * now that its next F is known. The piece's own last point is carried on
 * (owned here: replaced in *cw, *cf). */
struct idgi_carry {
    ts_tensor *sum, *cw, *cf;
};

static void idgi_carry_free(struct idgi_carry *c) {
    ts_tensor_free(c->sum);
    ts_tensor_free(c->cw);
    ts_tensor_free(c->cf);
    c->sum = c->cw = c->cf = NULL;
}

/* *slot += t (t borrowed; *slot owned, NULL = 0) */
static int add_into(ts_tensor **slot, const ts_tensor *t) {
    ts_tensor *s = NULL;
    int rc = *slot ? ts_add(*slot, t, &s) : ts_mul_scalar(t, 1.0, &s);
    if (rc != TS_OK) return rc;
    ts_tensor_free(*slot);
    *slot = s;
    return TS_OK;
}

static int idgi_piece(const ts_tensor *g, const ts_tensor *f, long pc, long kc, long D, struct idgi_carry *c, char *err,
                      size_t errlen) {
    struct wk_pool tmp = {0};
    ts_tensor *g3, *sq, *nrm, *pos, *den, *w, *f2, *fnext, *df, *df3, *wd, *term, *lw, *lw2, *lf;
    int64_t s_pkd[3] = {pc, kc, D}, s_pk[2] = {pc, kc}, s_pk1[3] = {pc, kc, 1}, s_pd[2] = {pc, D};
    WK_T(&tmp, ts_reshape(g, s_pkd, 3, &g3), g3);
    WK_T(&tmp, ts_mul(g3, g3, &sq), sq);
    WK_T(&tmp, ts_sum_dim(sq, 2, 1, &nrm), nrm);
    /* a zero gradient gets no share (0 / 1, not NaN); any other its exact
     * g² / Σ g², however small the sum */
    WK_T(&tmp, ts_ge_scalar(nrm, 1e-45, &pos), pos); /* 1 where Σ g² > 0 (the least float is 1.4e-45) */
    WK_T(&tmp, ts_mul_scalar(pos, -1.0, &den), den);
    WK_T(&tmp, ts_add_scalar(den, 1.0, &den), den);
    WK_T(&tmp, ts_add(nrm, den, &den), den);
    WK_T(&tmp, ts_div(sq, den, &w), w);
    WK_T(&tmp, ts_reshape(f, s_pk, 2, &f2), f2);
    fnext = f2;
    if (kc > 1) { /* F of each point's successor; the last point's own F (a zero step, carried on) */
        ts_tensor *parts[2];
        WK_T(&tmp, ts_narrow(f2, 1, 1, kc - 1, &parts[0]), parts[0]);
        WK_T(&tmp, ts_narrow(f2, 1, kc - 1, 1, &parts[1]), parts[1]);
        WK_T(&tmp, ts_cat((const ts_tensor *const *)parts, 2, 1, &fnext), fnext);
    }
    WK_T(&tmp, ts_sub(fnext, f2, &df), df);
    WK_T(&tmp, ts_reshape(df, s_pk1, 3, &df3), df3);
    WK_T(&tmp, ts_mul(w, df3, &wd), wd);
    WK_T(&tmp, ts_sum_dim(wd, 1, 0, &term), term);
    WK_CHECK(add_into(&c->sum, term));
    if (c->cw) { /* the step from the last point of the piece before */
        ts_tensor *f0, *dd, *ct;
        WK_T(&tmp, ts_narrow(f2, 1, 0, 1, &f0), f0);
        WK_T(&tmp, ts_sub(f0, c->cf, &dd), dd);
        WK_T(&tmp, ts_mul(c->cw, dd, &ct), ct);
        WK_CHECK(add_into(&c->sum, ct));
    }
    WK_T(&tmp, ts_narrow(w, 1, kc - 1, 1, &lw), lw);
    WK_T(&tmp, ts_reshape(lw, s_pd, 2, &lw2), lw2);
    WK_T(&tmp, ts_narrow(f2, 1, kc - 1, 1, &lf), lf);
    ts_tensor_free(c->cw);
    ts_tensor_free(c->cf);
    c->cw = c->cf = NULL;
    WK_CHECK(ts_mul_scalar(lw2, 1.0, &c->cw));
    WK_CHECK(ts_mul_scalar(lf, 1.0, &c->cf));
    wk_pool_free(&tmp);
    return 0;
fail:
    wk_pool_free(&tmp);
    return -1;
}

/* The end of pc paths for IDGI: the carried last walked point steps to the
 * shared α = 1 point (F of the image, f_end) when there is one (else that
 * point was walked: its step is zero), and the paths' sums go into their
 * images' rows. */
static int idgi_path_end(const struct path_run *pr, ts_tensor *idx, long pc, struct idgi_carry *c, char *err,
                         size_t errlen) {
    struct wk_pool tmp = {0};
    if (c->cw && pr->f_end) {
        ts_tensor *fe, *fe2, *dd, *ct;
        int64_t s_p1[2] = {pc, 1};
        WK_T(&tmp, ts_index_select(pr->f_end, 0, idx, &fe), fe);
        WK_T(&tmp, ts_reshape(fe, s_p1, 2, &fe2), fe2);
        WK_T(&tmp, ts_sub(fe2, c->cf, &dd), dd);
        WK_T(&tmp, ts_mul(c->cw, dd, &ct), ct);
        WK_CHECK(add_into(&c->sum, ct));
    }
    if (c->sum) WK_CHECK(ts_index_add_(pr->acc_idgi, 0, idx, c->sum));
    wk_pool_free(&tmp);
    idgi_carry_free(c);
    return 0;
fail:
    wk_pool_free(&tmp);
    idgi_carry_free(c);
    return -1;
}

/* The walk of whole paths (the formulas of docs/methods.md), kin walked
 * points a path. A chunk holds whole paths, per_chunk of them, as long as
 * kin points fit in it; otherwise (split) one path goes through in pieces
 * of about chunk_samples points, its gradient sum carried between them, so
 * that memory follows the budget whatever K. A piece never holds a single
 * point: on the CPU a one-sample forward+backward gave some points other
 * gradients than the same points in larger chunks (up to 6 % of a vanilla
 * map on the demo CNN; ties at max-pooling or ReLU resolved by another
 * kernel, most likely), while pieces of 2 or more agree. A path's gradient
 * sum then takes n1 × the shared gradient at its image (pr->gx) for its
 * α = 1 steps, and ḡ_j is that sum over all K steps / K. */
static int walk_paths(const struct path_run *pr, char *err, size_t errlen) {
    const long R = pr->R, K = pr->kin, D = pr->D, paths = pr->B * R;
    const int slots = pr->want_van || pr->want_vr;
    struct wk_pool walk = {0}, path = {0}, chunk = {0};
    struct idgi_carry ic = {0};
    int rc = -1;
    if (K == 0 && !slots) return 0; /* valid_ip (and IDGI) alone, every step at α = 1: nothing to compute */
    ts_tensor *t_zero;              /* [0] (path 0's image): the row a split path's carried gradient sum adds into */
    WK_T(&walk, ts_narrow(pr->t_pathimg, 0, 0, 1, &t_zero), t_zero);
    const long cs = pr->ctx->chunk_samples;
    const int split = K > cs;
    long per_chunk = K == 0 ? cs : split ? 1 : cs / K, sub = split ? cs : K;
    if (per_chunk < 1) per_chunk = 1;
    if (split && sub < 2) sub = 2;
    for (long p0 = 0; p0 < paths; p0 += per_chunk) {
        const long pc = paths - p0 < per_chunk ? paths - p0 : per_chunk;
        ts_tensor *idx, *gsum = NULL, *gbar = NULL;
        WK_T(&path, ts_narrow(pr->t_pathimg, 0, p0, pc, &idx), idx);
        for (long k0 = 0, kc; k0 < K; k0 += kc) {
            kc = K - k0 < sub ? K - k0 : sub;
            if (K - k0 - kc == 1) kc++; /* no one-point piece last */
            const long q0 = p0 * K + k0, qc = pc * kc;
            ts_tensor *g, *dp, *fv;
            int64_t s_qd[2] = {qc, D}, s_pkd[3] = {pc, kc, D};
            if (point_grads(pr, q0, qc, &chunk, &g, &dp, &fv, err, errlen)) goto fail;
            if (pr->want_idgi && idgi_piece(g, fv, pc, kc, D, &ic, err, errlen)) goto fail;
            if (slots) {
                ts_tensor *g3, *gs;
                WK_T(&chunk, ts_reshape(g, s_pkd, 3, &g3), g3);
                if (pr->t_wwalk) { /* an α rule: each step's gradient times K·w_k before the sum */
                    ts_tensor *wk, *w3;
                    int64_t s_1k1[3] = {1, kc, 1};
                    WK_T(&chunk, ts_narrow(pr->t_wwalk, 0, k0, kc, &wk), wk);
                    WK_T(&chunk, ts_reshape(wk, s_1k1, 3, &w3), w3);
                    WK_T(&chunk, ts_mul(g3, w3, &g3), g3);
                }
                if (gsum) { /* a split path's next piece */
                    WK_T(&chunk, ts_sum_dim(g3, 1, 0, &gs), gs);
                    WK_CHECK(ts_index_add_(gsum, 0, t_zero, gs));
                } else {
                    WK_T(&path, ts_sum_dim(g3, 1, 0, &gsum), gsum);
                }
            }
            if (pr->want_ip) {
                ts_tensor *g2, *km, *kp, *km3, *kp3, *ks, *kcnt;
                WK_T(&chunk, ts_reshape(g, s_qd, 2, &g2), g2);
                if (ip_terms(pr, g2, dp, q0, qc, &chunk, &km, &kp, err, errlen)) goto fail;
                WK_T(&chunk, ts_reshape(km, s_pkd, 3, &km3), km3);
                WK_T(&chunk, ts_reshape(kp, s_pkd, 3, &kp3), kp3);
                WK_T(&chunk, ts_sum_dim(km3, 1, 0, &ks), ks);
                WK_T(&chunk, ts_sum_dim(kp3, 1, 0, &kcnt), kcnt);
                WK_CHECK(ts_index_add_(pr->acc_ip, 0, idx, ks));
                WK_CHECK(ts_index_add_(pr->cnt_ip, 0, idx, kcnt));
            }
            wk_pool_free(&chunk);
        }
        if (pr->want_idgi && idgi_path_end(pr, idx, pc, &ic, err, errlen)) goto fail;
        if (slots) {
            if (pr->gx) { /* the α = 1 steps: n1 × the gradient at the path's image */
                ts_tensor *ge;
                WK_T(&path, ts_index_select(pr->gx, 0, idx, &ge), ge);
                if (pr->w_end != 1.0) WK_T(&path, ts_mul_scalar(ge, pr->w_end, &ge), ge);
                if (gsum) WK_T(&path, ts_add(gsum, ge, &gsum), gsum);
                else gsum = ge;
            }
            WK_T(&path, ts_mul_scalar(gsum, 1.0 / (double)pr->K, &gbar), gbar); /* ḡ_j */
            if (slot_terms(pr, gbar, p0, pc, idx, &path, err, errlen)) goto fail;
        }
        wk_pool_free(&path);
    }
    rc = 0;
fail:
    idgi_carry_free(&ic);
    wk_pool_free(&chunk);
    wk_pool_free(&path);
    wk_pool_free(&walk);
    return rc;
}

/* The reference implementation's walk (compat_tables): groups of whole
 * images, Lw walked points each, as many as a chunk holds (one image in
 * pieces of 2 or more points when Lw does not fit). Each point's gradient
 * goes once into valid_ip and gcd times into its slots' gradient sums, which
 * live for the group (R rows an image); the Le points at α = 1 (le[]) add
 * the image's shared gradient pr->gx to their slots instead. */
static int walk_compat(const struct path_run *pr, long L, const int64_t *lw, long Lw, const int64_t *le, long Le,
                       char *err, size_t errlen) {
    const long B = pr->B, R = pr->R, K = pr->K, D = pr->D, G = R * K / L;
    const int slots = pr->want_van || pr->want_vr;
    struct wk_pool group = {0}, chunk = {0};
    int rc = -1;
    long per = pr->ctx->chunk_samples / Lw, sub = pr->ctx->chunk_samples;
    if (per < 1) per = 1;
    if (sub < 2) sub = 2;
    const long n_end = per * Le * G;
    int64_t *slot = malloc((size_t)(per * Lw * G) * sizeof *slot);
    int64_t *edst = malloc((size_t)(n_end + 1) * sizeof *edst), *esrc = malloc((size_t)(n_end + 1) * sizeof *esrc);
    if (!slot || !edst || !esrc) {
        snprintf(err, errlen, "out of host memory for %ld reference_compat points", per * L);
        goto fail;
    }
    for (long i0 = 0; i0 < B; i0 += per) {
        const long ni = B - i0 < per ? B - i0 : per, gp = ni * Lw;
        ts_tensor *gsum = NULL, *t_slot = NULL;
        if (slots) {
            int64_t s_nrd[2] = {ni * R, D}, s_gl[2] = {G, gp};
            /* row c: the group-local slot of copy c of each point */
            for (long c = 0; c < G; c++)
                for (long q = 0; q < gp; q++) slot[c * gp + q] = (q / Lw) * R + (lw[q % Lw] + c * L) / K;
            WK_T(&group, ts_zeros(s_nrd, 2, pr->ctx->device, &gsum), gsum);
            WK_T(&group, ts_from_i64(slot, s_gl, 2, pr->ctx->device, &t_slot), t_slot);
        }
        for (long o = 0, qc; o < gp; o += qc) {
            qc = gp <= sub ? gp : (gp - o < sub ? gp - o : sub);
            if (gp - o - qc == 1) qc++; /* no one-point piece last */
            const long q0 = i0 * Lw + o;
            ts_tensor *g, *dp, *g2;
            int64_t s_qd[2] = {qc, D};
            if (point_grads(pr, q0, qc, &chunk, &g, &dp, NULL, err, errlen)) goto fail;
            WK_T(&chunk, ts_reshape(g, s_qd, 2, &g2), g2);
            if (slots)
                for (long c = 0; c < G; c++) {
                    ts_tensor *row, *ix;
                    WK_T(&chunk, ts_narrow(t_slot, 0, c, 1, &row), row);
                    WK_T(&chunk, ts_reshape(row, (int64_t[1]){gp}, 1, &ix), ix);
                    WK_T(&chunk, ts_narrow(ix, 0, o, qc, &ix), ix);
                    WK_CHECK(ts_index_add_(gsum, 0, ix, g2));
                }
            if (pr->want_ip) {
                ts_tensor *km, *kp, *ii;
                if (ip_terms(pr, g2, dp, q0, qc, &chunk, &km, &kp, err, errlen)) goto fail;
                WK_T(&chunk, ts_narrow(pr->t_pimg, 0, q0, qc, &ii), ii);
                WK_CHECK(ts_index_add_(pr->acc_ip, 0, ii, km));
                WK_CHECK(ts_index_add_(pr->cnt_ip, 0, ii, kp));
            }
            wk_pool_free(&chunk);
        }
        if (slots && Le) { /* each α = 1 point: the image's gradient, into its gcd slots */
            ts_tensor *t_dst, *t_src, *ge;
            long n = 0;
            for (long il = 0; il < ni; il++)
                for (long e = 0; e < Le; e++)
                    for (long c = 0; c < G; c++) {
                        edst[n] = il * R + (le[e] + c * L) / K;
                        esrc[n++] = i0 + il;
                    }
            int64_t s_n[1] = {n};
            WK_T(&group, ts_from_i64(edst, s_n, 1, pr->ctx->device, &t_dst), t_dst);
            WK_T(&group, ts_from_i64(esrc, s_n, 1, pr->ctx->device, &t_src), t_src);
            WK_T(&group, ts_index_select(pr->gx, 0, t_src, &ge), ge);
            WK_CHECK(ts_index_add_(gsum, 0, t_dst, ge));
        }
        if (slots) {
            ts_tensor *gbar, *idx;
            WK_T(&group, ts_mul_scalar(gsum, 1.0 / (double)K, &gbar), gbar); /* slot j's mean gradient */
            WK_T(&group, ts_narrow(pr->t_pathimg, 0, i0 * R, ni * R, &idx), idx);
            if (slot_terms(pr, gbar, i0 * R, ni * R, idx, &group, err, errlen)) goto fail;
        }
        wk_pool_free(&group);
    }
    rc = 0;
fail:
    wk_pool_free(&chunk);
    wk_pool_free(&group);
    free(slot);
    free(edst);
    free(esrc);
    return rc;
}

/* α rows the same on every path (linspace, whatever the image): the point
 * tables are then made on the device from one path's steps, and only those
 * K numbers cross; EG's per-path draws and reference_compat's tables go up
 * from the host. */
static int alpha_regular(const float *alpha_h, long paths, long K) {
    for (long p = 1; p < paths; p++)
        if (memcmp(alpha_h + p * K, alpha_h, (size_t)K * sizeof *alpha_h)) return 0;
    return 1;
}

/* The point tables of walk_paths on the device: walked point q is step
 * kw[q mod kin] of path q div kin (kw: the steps of a path not shared). */
static int device_tables(struct path_run *pr, const float *alpha_h, long points, struct wk_pool *keep, char *err,
                         size_t errlen) {
    const long K = pr->K;
    struct wk_pool tmp = {0};
    int rc = -1;
    int64_t *kw = malloc((size_t)K * sizeof *kw);
    float *arow = malloc((size_t)K * sizeof *arow), *crow = malloc((size_t)K * sizeof *crow);
    long kin = 0;
    if (!kw || !arow || !crow) {
        snprintf(err, errlen, "out of host memory for %ld steps", K);
        goto fail;
    }
    for (long k = 0; k < K; k++) {
        if (pr->n1 > 0 && alpha_h[k] == 1.0f) continue;
        kw[kin++] = k;
    }
    for (long k = 0; k < K; k++) {
        arow[k] = alpha_h[k];
        crow[k] = (1.0f - alpha_h[k]) / (float)K; /* as the host tables: x − z = (1 − α)(x − r), and valid_ip's 1/K */
        if (pr->w1) crow[k] = (1.0f - alpha_h[k]) * pr->w1[k] / (float)K; /* valid_ip's w_k instead of 1/K */
    }
    ts_tensor *q, *t, *step, *t_kw, *t_arow, *t_crow, *a1, *c1;
    int64_t s_q1[2] = {points, 1};
    WK_T(&tmp, ts_arange(points, pr->ctx->device, &q), q);
    WK_T(keep, ts_idiv_scalar(q, kin, &pr->t_pref), pr->t_pref);
    WK_T(keep, ts_idiv_scalar(pr->t_pref, pr->R, &pr->t_pimg), pr->t_pimg);
    WK_T(&tmp, ts_irem_scalar(q, kin, &t), t);
    /* the same few numbers every batch: uploaded once (dev_consts.h) */
    WK_CHECK(wk_const_i64(pr->ctx->consts, kw, kin, pr->ctx->device, &tmp, &t_kw));
    WK_T(&tmp, ts_index_select(t_kw, 0, t, &step), step);
    WK_CHECK(wk_const_f32(pr->ctx->consts, arow, K, pr->ctx->device, &tmp, &t_arow));
    WK_CHECK(wk_const_f32(pr->ctx->consts, crow, K, pr->ctx->device, &tmp, &t_crow));
    WK_T(&tmp, ts_index_select(t_arow, 0, step, &a1), a1);
    WK_T(&tmp, ts_index_select(t_crow, 0, step, &c1), c1);
    WK_T(keep, ts_reshape(a1, s_q1, 2, &pr->t_alpha), pr->t_alpha);
    WK_T(keep, ts_reshape(c1, s_q1, 2, &pr->t_coef), pr->t_coef);
    WK_T(keep, ts_index_select(pr->y, 0, pr->t_pimg, &pr->t_lab), pr->t_lab);
    rc = 0;
fail:
    wk_pool_free(&tmp);
    free(kw);
    free(arow);
    free(crow);
    return rc;
}

/* How a batch's points are walked: what follows from the method, the batch
 * and its α rows before anything is computed. */
struct path_plan {
    long paths;       /* B·R */
    int compat;       /* reference_compat's lcm(R, K) points (it changes nothing when R = 1 or K = 1) */
    long L;           /* distinct points an image: lcm(R, K) with compat, else R·K */
    int compat_share; /* compat: its points at α = 1 (le, Le of them an image) shared */
    long Le, Lw;      /* compat: shared and walked points an image */
    long n1;          /* α = 1 steps a path, shared (not with compat) */
    long ends_ip;     /* valid_ip's terms at a shared α = 1 point: exactly 0, kept; counted per image */
    long points;      /* points walked in all */
    int regular;      /* α rows the same on every path (alpha_regular) */
    long host_points; /* points whose tables are made on the host: all, or none when made on the device */
    int on_device;
};

static struct path_plan plan_points(const struct job_method *m, long B, const float *alpha_h) {
    const long R = m->refs, K = m->steps;
    struct path_plan pl = {.paths = B * R, .compat = m->reference_compat && R > 1 && K > 1};
    const int share = share_endpoints();
    pl.L = pl.compat ? R / gcd_l(R, K) * K : R * K;
    pl.n1 = pl.compat || !share ? 0 : endpoint_count(alpha_h, pl.paths, K);
    pl.compat_share = pl.compat && share && compat_ends_at_last_step(alpha_h, pl.paths, K);
    pl.Le = pl.compat_share ? pl.L / K : 0;
    pl.Lw = pl.L - pl.Le;
    pl.ends_ip = pl.compat ? pl.Le : pl.n1 * R;
    pl.points = pl.compat ? B * pl.Lw : pl.paths * (K - pl.n1);
    pl.regular = alpha_regular(alpha_h, pl.paths, K);
    pl.on_device = !pl.compat && pl.points > 0 && pl.regular;
    pl.host_points = pl.on_device ? 0 : pl.points;
    return pl;
}

/* An α rule other than endpoints (docs/methods.md, "α rules"): its weights
 * as K·w_k into w1 (pr->w1), and pr->w_end their sum over the shared α = 1
 * steps. Refused with reference_compat or IDGI. */
static int alpha_rule_weights(struct path_run *pr, const struct job_method *m, int compat, const float *alpha_h,
                              float *w1, char *err, size_t errlen) {
    const long K = pr->K;
    double a[JOB_ALPHA_STEPS_MAX], w[JOB_ALPHA_STEPS_MAX];
    if (compat || pr->want_idgi || K > JOB_ALPHA_STEPS_MAX || wk_alpha_grid(m->alpha_rule, K, a, w)) {
        snprintf(err, errlen, "alpha_rule %s: not with reference_compat or idgi, and for 2 to %d steps",
                 job_alpha_rule_name(m->alpha_rule), JOB_ALPHA_STEPS_MAX);
        return -1;
    }
    pr->w_end = 0;
    for (long k = 0; k < K; k++) {
        w1[k] = (float)(w[k] * (double)K);
        if (pr->n1 && alpha_h[k] == 1.0f) pr->w_end += w1[k];
    }
    pr->w1 = w1;
    return 0;
}

/* The point tables made on the host (EG's per-path draws, reference_compat)
 * before they go up, and reference_compat's walked and shared points of an
 * image (lw, le). */
struct host_tables {
    int64_t *pref, *pimg, *palpha, *plab;
    float *alpha, *coef;
    int64_t *lw, *le;
};

static int host_tables_alloc(struct host_tables *ht, const struct path_plan *pl, char *err, size_t errlen) {
    const size_t n = (size_t)pl->host_points + 1; /* + 1: no zero-byte malloc when every step is shared (K = 1) or
                                                     the tables are made on the device */
    ht->pref = malloc(n * sizeof *ht->pref);
    ht->pimg = malloc(n * sizeof *ht->pimg);
    ht->palpha = malloc(n * sizeof *ht->palpha);
    ht->plab = malloc(n * sizeof *ht->plab);
    ht->alpha = malloc(n * sizeof *ht->alpha);
    ht->coef = malloc(n * sizeof *ht->coef);
    ht->lw = pl->compat ? malloc((size_t)pl->L * sizeof *ht->lw) : NULL;
    ht->le = pl->compat ? malloc((size_t)pl->L * sizeof *ht->le) : NULL;
    if (ht->pref && ht->pimg && ht->palpha && ht->plab && ht->alpha && ht->coef && (!pl->compat || (ht->lw && ht->le)))
        return 0;
    snprintf(err, errlen, "out of host memory for %ld path points (lower batch_size)", pl->points);
    return -1;
}

static void host_tables_free(struct host_tables *ht) {
    free(ht->pref);
    free(ht->pimg);
    free(ht->palpha);
    free(ht->plab);
    free(ht->alpha);
    free(ht->coef);
    free(ht->lw);
    free(ht->le);
}

/* The labels on the device (the batch's, or uploaded) and the walked steps'
 * weights of an α rule, in walk order. */
static int labels_and_weights(struct path_run *pr, const float *alpha_h, struct wk_pool *keep, char *err,
                              size_t errlen) {
    const struct wk_method_ctx *ctx = pr->ctx;
    int64_t s_b[1] = {pr->B};
    if (pr->bt->y) {
        pr->y = pr->bt->y;
    } else {
        ts_tensor *y;
        WK_T(keep, ts_from_i64(pr->bt->labels, s_b, 1, ctx->device, &y), y);
        pr->y = y;
    }
    if (pr->w1 && pr->kin > 0) {
        float ww[JOB_ALPHA_STEPS_MAX];
        long n = 0;
        for (long k = 0; k < pr->K; k++)
            if (!(pr->n1 > 0 && alpha_h[k] == 1.0f)) ww[n++] = pr->w1[k];
        WK_CHECK(wk_const_f32(ctx->consts, ww, n, ctx->device, keep, &pr->t_wwalk));
    }
    return 0;
fail:
    return -1;
}

/* reference_compat: an image's L points split into those walked (lw) and
 * those at α = 1, shared (le). */
static void compat_split(const struct path_plan *pl, long K, int64_t *lw, int64_t *le) {
    long nw = 0, ne = 0;
    for (long l = 0; l < pl->L; l++) {
        if (pl->compat_share && l % K == K - 1) le[ne++] = l;
        else lw[nw++] = l;
    }
}

/* The tables of the walked points on the host (reference row, image, α,
 * (1 − α)/K, label), uploaded into pr. */
static int host_point_tables(struct path_run *pr, const struct path_plan *pl, const float *alpha_h,
                             struct host_tables *ht, struct wk_pool *keep, char *err, size_t errlen) {
    const long K = pr->K;
    const int device = pr->ctx->device;
    int64_t s_q1[2] = {pl->host_points, 1}, s_q[1] = {pl->host_points};
    if (pl->compat) compat_tables(pr->B, pr->R, K, ht->lw, pl->Lw, ht->pref, ht->pimg, ht->palpha);
    else path_tables(pr->B, pr->R, K, alpha_h, pl->n1 > 0, ht->pref, ht->pimg, ht->palpha);
    for (long q = 0; q < pl->points; q++) {
        ht->alpha[q] = alpha_h[ht->palpha[q]];
        ht->coef[q] = (1.0f - ht->alpha[q]) / (float)K; /* x − z = (1 − α)(x − r), and the 1/K of valid_ip */
        if (pr->w1) ht->coef[q] = (1.0f - ht->alpha[q]) * pr->w1[ht->palpha[q] % K] / (float)K; /* a rule's w_k */
        ht->plab[q] = pr->bt->labels[ht->pimg[q]];
    }
    WK_T(keep, ts_from_i64(ht->pref, s_q, 1, device, &pr->t_pref), pr->t_pref);
    WK_T(keep, ts_from_i64(ht->pimg, s_q, 1, device, &pr->t_pimg), pr->t_pimg);
    WK_T(keep, ts_from_f32(ht->alpha, s_q1, 2, device, &pr->t_alpha), pr->t_alpha);
    WK_T(keep, ts_from_f32(ht->coef, s_q1, 2, device, &pr->t_coef), pr->t_coef);
    WK_T(keep, ts_from_i64(ht->plab, s_q, 1, device, &pr->t_lab), pr->t_lab);
    return 0;
fail:
    return -1;
}

/* Each point's reference row, image, α, (1 − α)/K and label on the device:
 * made there from one path's steps when the α rows are regular, else from
 * host tables; with reference_compat the split of an image's points too. */
static int point_tables(struct path_run *pr, const struct path_plan *pl, const float *alpha_h, struct host_tables *ht,
                        struct wk_pool *keep, char *err, size_t errlen) {
    if (pl->on_device) return device_tables(pr, alpha_h, pl->points, keep, err, errlen);
    if (pl->compat) compat_split(pl, pr->K, ht->lw, ht->le); /* every point shared: only le[] is read */
    if (pl->points > 0) return host_point_tables(pr, pl, alpha_h, ht, keep, err, errlen);
    return 0;
}

/* Per path x − r (pr->dpath) and its image (pr->t_pathimg); the references
 * (pr->refs) and images (pr->x2) flat, D values a row. */
static int path_inputs(struct path_run *pr, const ts_tensor *refs, struct wk_pool *keep, char *err, size_t errlen) {
    const long B = pr->B, R = pr->R, D = pr->D, paths = B * R;
    int64_t s_pd[2] = {paths, D}, s_bd[2] = {B, D}, s_b1d[3] = {B, 1, D}, s_brd[3] = {B, R, D};
    ts_tensor *x3, *refs3, *dpath3, *pa;
    WK_T(keep, ts_reshape(refs, s_pd, 2, &pr->refs), pr->refs);
    WK_T(keep, ts_reshape(pr->bt->x, s_bd, 2, &pr->x2), pr->x2);
    WK_T(keep, ts_reshape(pr->bt->x, s_b1d, 3, &x3), x3);
    WK_T(keep, ts_reshape(pr->refs, s_brd, 3, &refs3), refs3);
    WK_T(keep, ts_sub(x3, refs3, &dpath3), dpath3);
    WK_T(keep, ts_reshape(dpath3, s_pd, 2, &pr->dpath), pr->dpath); /* x − r_j per path */
    WK_T(keep, ts_arange(paths, pr->ctx->device, &pa), pa);
    WK_T(keep, ts_idiv_scalar(pa, R, &pr->t_pathimg), pr->t_pathimg); /* path p belongs to image p div R */
    return 0;
fail:
    return -1;
}

/* The estimators' per-image accumulators (B×D, zero), and with IDGI F at
 * the shared α = 1 point: from the clean forward's logits when the batch
 * has them (no pass of its own), else one forward. */
static int accumulators(struct path_run *pr, struct wk_pool *keep, char *err, size_t errlen) {
    const int device = pr->ctx->device;
    int64_t s_bd[2] = {pr->B, pr->D};
    if (pr->want_van) WK_T(keep, ts_zeros(s_bd, 2, device, &pr->acc_van), pr->acc_van);
    if (pr->want_vr) {
        WK_T(keep, ts_zeros(s_bd, 2, device, &pr->acc_vr), pr->acc_vr);
        WK_T(keep, ts_zeros(s_bd, 2, device, &pr->cnt_vr), pr->cnt_vr);
    }
    if (pr->want_ip) {
        WK_T(keep, ts_zeros(s_bd, 2, device, &pr->acc_ip), pr->acc_ip);
        WK_T(keep, ts_zeros(s_bd, 2, device, &pr->cnt_ip), pr->cnt_ip);
    }
    if (!pr->want_idgi) return 0;
    WK_T(keep, ts_zeros(s_bd, 2, device, &pr->acc_idgi), pr->acc_idgi);
    if (pr->n1 && pr->bt->logits)
        WK_T(keep, ts_objective_of_logits(pr->bt->logits, pr->y, pr->objective, &pr->f_end, pr->checks), pr->f_end);
    else if (pr->n1)
        WK_T(keep, ts_objective_values(pr->ctx->model, pr->bt->x, pr->y, pr->objective, &pr->f_end, pr->checks),
             pr->f_end);
    return 0;
fail:
    return -1;
}

/* The maps from the accumulators: vanilla = mean over references (IDGI:
 * over paths); re-calibrated = kept sum over max(1, kept count),
 * elementwise; valid_ip's count takes the shared points at α = 1 (ends_ip
 * an image), whose terms are exactly 0 and so always kept. The maps stay on
 * the device. */
static int estimator_maps(const struct path_run *pr, long ends_ip, ts_tensor *out[JOB_EST_COUNT], char *err,
                          size_t errlen) {
    struct wk_pool fin = {0};
    int rc = -1;
    if (pr->want_van) WK_CHECK(ts_mul_scalar(pr->acc_van, 1.0 / (double)pr->R, &out[JOB_EST_VANILLA]));
    if (pr->want_idgi) WK_CHECK(ts_mul_scalar(pr->acc_idgi, 1.0 / (double)pr->R, &out[JOB_EST_IDGI]));
    ts_tensor *accs[2] = {pr->acc_vr, pr->acc_ip}, *cnts[2] = {pr->cnt_vr, pr->cnt_ip};
    const int ests[2] = {JOB_EST_VALID_REF, JOB_EST_VALID_IP};
    for (int e = 0; e < 2; e++) {
        ts_tensor *den, *cnt = cnts[e];
        if (!accs[e]) continue;
        if (ests[e] == JOB_EST_VALID_IP && ends_ip) WK_T(&fin, ts_add_scalar(cnt, (double)ends_ip, &cnt), cnt);
        WK_T(&fin, ts_clamp_min(cnt, 1.0, &den), den);
        WK_CHECK(ts_div(accs[e], den, &out[ests[e]]));
    }
    rc = 0;
fail:
    wk_pool_free(&fin);
    return rc;
}

int wk_path_attribute(const struct wk_method_ctx *ctx, const struct job_method *m, const struct wk_batch *bt,
                      const ts_tensor *refs, const float *alpha_h, int squared, ts_checks *checks,
                      ts_tensor *out[JOB_EST_COUNT], char *err, size_t errlen) {
    const long K = m->steps;
    const struct path_plan pl = plan_points(m, bt->b, alpha_h);
    struct path_run pr = {.ctx = ctx,
                          .bt = bt,
                          .B = bt->b,
                          .R = m->refs,
                          .K = K,
                          .D = (long)bt->c * bt->h * bt->w,
                          .squared = squared,
                          .want_van = (m->estimators >> JOB_EST_VANILLA) & 1,
                          .want_vr = (m->estimators >> JOB_EST_VALID_REF) & 1,
                          .want_ip = (m->estimators >> JOB_EST_VALID_IP) & 1,
                          .want_idgi = (m->estimators >> JOB_EST_IDGI) & 1,
                          .objective = (int)m->objective,
                          .checks = checks,
                          .kin = K - pl.n1,
                          .n1 = pl.n1,
                          .w_end = (double)pl.n1};
    for (int e = 0; e < JOB_EST_COUNT; e++) out[e] = NULL;
    float w1[JOB_ALPHA_STEPS_MAX];
    if (m->alpha_rule != JOB_ALPHA_ENDPOINTS && m->kind != JOB_M_EG &&
        alpha_rule_weights(&pr, m, pl.compat, alpha_h, w1, err, errlen))
        return -1;
    if (pr.want_idgi && (pl.compat || !pl.regular || m->kind == JOB_M_EG)) {
        snprintf(err, errlen,
                 "estimator idgi needs IG's ordered path (linspace steps from the reference to the image): not "
                 "with Expected Gradients' random points or reference_compat");
        return -1;
    }
    struct host_tables ht = {0};
    struct wk_pool keep = {0};
    int rc = -1;
    if (host_tables_alloc(&ht, &pl, err, errlen) || labels_and_weights(&pr, alpha_h, &keep, err, errlen) ||
        point_tables(&pr, &pl, alpha_h, &ht, &keep, err, errlen) || path_inputs(&pr, refs, &keep, err, errlen) ||
        accumulators(&pr, &keep, err, errlen))
        goto fail;
    if ((pl.n1 || pl.Le) && (pr.want_van || pr.want_vr) && endpoint_grads(&pr, &keep, err, errlen)) goto fail;
    if (pl.compat ? walk_compat(&pr, pl.L, ht.lw, pl.Lw, ht.le, pl.Le, err, errlen) : walk_paths(&pr, err, errlen))
        goto fail;
    rc = estimator_maps(&pr, pl.ends_ip, out, err, errlen);
fail:
    if (rc)
        for (int e = 0; e < JOB_EST_COUNT; e++) {
            ts_tensor_free(out[e]);
            out[e] = NULL;
        }
    wk_pool_free(&keep);
    host_tables_free(&ht);
    return rc;
}
