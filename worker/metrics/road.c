/* worker/metrics/road.c — see road.h. */
#include "road.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const double *g_road_s;
static int cmp_desc(const void *pa, const void *pb) {
    long a = *(const long *)pa, b = *(const long *)pb;
    if (g_road_s[a] > g_road_s[b]) return -1;
    if (g_road_s[a] < g_road_s[b]) return 1;
    return (a > b) - (a < b);
}

void road_order(const float *a, int c, long hw, int abs_values, long *order, double *s) {
    for (long p = 0; p < hw; p++) {
        double v = 0;
        for (int ch = 0; ch < c; ch++) v += a[ch * hw + p];
        s[p] = abs_values ? fabs(v) : v;
        order[p] = p;
    }
    g_road_s = s; /* qsort has no context argument; the engine calls this from one thread */
    qsort(order, (size_t)hw, sizeof *order, cmp_desc);
}

/* Quantus's neighbourhood: the four sides at 1/6, the four corners at 1/12 */
static const int NB_DR[8] = {1, 0, -1, 1, 0, -1, 1, -1}, NB_DC[8] = {1, 1, 1, -1, -1, -1, 0, 0};
static const double NB_W[8] = {1.0 / 12, 1.0 / 6, 1.0 / 12, 1.0 / 12, 1.0 / 6, 1.0 / 12, 1.0 / 6, 1.0 / 6};

size_t road_scratch_bytes(int c, int h, int w) {
    const size_t hw = (size_t)h * (size_t)w;
    (void)c;
    /* var id per pixel; per unknown: 8 neighbour ids, diag, b, u, r, z, p, q */
    return hw * sizeof(long) + hw * 8 * sizeof(long) + hw * 7 * sizeof(double);
}

int road_impute(const float *x, int c, int h, int w, const long *idx, long n, const float *z, double noise, float *out,
                void *scratch) {
    const long hw = (long)h * w;
    long *var = scratch, *nb = var + hw;
    double *diag = (double *)(nb + 8 * hw), *b = diag + hw, *u = b + hw, *r = u + hw, *zz = r + hw, *p = zz + hw,
           *q = p + hw;
    memcpy(out, x, (size_t)(c * hw) * sizeof *out);
    if (n <= 0) return 0;
    if (n >= hw) return -1; /* no known pixel: any constant solves it */
    for (long k = 0; k < hw; k++) var[k] = -1;
    for (long k = 0; k < n; k++) var[idx[k]] = k;
    /* row k: diag_k u_k − Σ_{imputed nbr j} w u_j = Σ_{known nbr} w x, with
     * diag_k the weights of the in-image neighbours (Quantus's equation ×
     * −1): symmetric, since w is */
    for (long k = 0; k < n; k++) {
        const long pr = idx[k] / w, pc = idx[k] % w;
        diag[k] = 0;
        for (int t = 0; t < 8; t++) {
            const long rr = pr + NB_DR[t], cc = pc + NB_DC[t];
            nb[8 * k + t] = -2; /* outside */
            if (rr < 0 || cc < 0 || rr >= h || cc >= w) continue;
            diag[k] += NB_W[t];
            nb[8 * k + t] = var[rr * w + cc] >= 0 ? var[rr * w + cc] : -1 - (rr * w + cc) - 2; /* ≤ −2: known */
        }
    }
    for (int ch = 0; ch < c; ch++) {
        const float *xc = x + ch * hw;
        double bnorm = 0;
        for (long k = 0; k < n; k++) {
            b[k] = 0;
            for (int t = 0; t < 8; t++) {
                const long j = nb[8 * k + t];
                if (j <= -3) b[k] += NB_W[t] * (double)xc[-(j + 3)];
            }
            bnorm += b[k] * b[k];
            u[k] = 0;
            r[k] = b[k];
        }
        bnorm = sqrt(bnorm);
        int ok = bnorm == 0; /* all known neighbours 0: the solution is 0 */
        double rz = 0, rlast = bnorm;
        for (long k = 0; k < n; k++) {
            zz[k] = diag[k] > 0 ? r[k] / diag[k] : r[k]; /* Jacobi preconditioner */
            p[k] = zz[k];
            rz += r[k] * zz[k];
        }
        for (long it = 0; !ok && it < 2 * n + 100; it++) {
            double pq = 0;
            for (long k = 0; k < n; k++) {
                double v = diag[k] * p[k];
                for (int t = 0; t < 8; t++)
                    if (nb[8 * k + t] >= 0) v -= NB_W[t] * p[nb[8 * k + t]];
                q[k] = v;
                pq += p[k] * v;
            }
            if (!(pq > 0)) break; /* singular: no known pixel left to anchor the values */
            const double alpha = rz / pq;
            double rn = 0;
            for (long k = 0; k < n; k++) {
                u[k] += alpha * p[k];
                r[k] -= alpha * q[k];
                rn += r[k] * r[k];
            }
            rlast = sqrt(rn);
            if (rlast <= 1e-12 * bnorm) {
                ok = 1;
                break;
            }
            double rz2 = 0;
            for (long k = 0; k < n; k++) {
                zz[k] = diag[k] > 0 ? r[k] / diag[k] : r[k];
                rz2 += r[k] * zz[k];
            }
            const double beta = rz2 / rz;
            rz = rz2;
            for (long k = 0; k < n; k++) p[k] = zz[k] + beta * p[k];
        }
        /* rounding can hold the residual above 1e-12 on large systems:
         * 1e-8 is still far below float32's resolution of the values */
        if (!ok && !(rlast <= 1e-8 * bnorm)) return -1;
        for (long k = 0; k < n; k++)
            out[ch * hw + idx[k]] = (float)(u[k] + (z ? noise * (double)z[(long)ch * n + k] : 0.0));
    }
    return 0;
}
