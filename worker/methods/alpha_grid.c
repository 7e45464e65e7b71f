/* worker/methods/alpha_grid.c — the α grids of docs/methods.md ("α rules"). */
#include <math.h>

#include "methods.h"

/* Gauss–Legendre on [-1, 1]: the roots of P_K by Newton's method from
 * Tricomi's estimate cos(π(i + 3/4)/(K + 1/2)), weights 2/((1 − x²) P'_K(x)²);
 * nodes ascending, as numpy.polynomial.legendre.leggauss returns them. */
static void gauss_legendre(long K, double *x, double *w) {
    for (long i = 0; i < (K + 1) / 2; i++) {
        double z = cos(M_PI * ((double)i + 0.75) / ((double)K + 0.5)), dp = 1;
        for (int it = 0; it < 100; it++) {
            double p0 = 1, p1 = z; /* P_0, P_1, then up to P_K by Bonnet's recursion */
            for (long n = 2; n <= K; n++) {
                const double p2 = ((2.0 * (double)n - 1) * z * p1 - ((double)n - 1) * p0) / (double)n;
                p0 = p1;
                p1 = p2;
            }
            if (K == 1) p0 = 1, p1 = z;
            dp = (double)K * (z * p1 - p0) / (z * z - 1);
            const double dz = p1 / dp;
            z -= dz;
            if (fabs(dz) < 1e-16) break;
        }
        const double wi = 2 / ((1 - z * z) * dp * dp);
        x[K - 1 - i] = z; /* the largest root first: i-th from the top */
        x[i] = -z;
        w[i] = w[K - 1 - i] = wi;
    }
    if (K % 2) x[K / 2] = 0; /* the middle root of an odd K, exactly */
}

int wk_alpha_grid(enum job_alpha_rule rule, long K, double *alpha, double *weight) {
    if (K < 1 || (rule != JOB_ALPHA_ENDPOINTS && rule != JOB_ALPHA_GAUSSLEGENDRE && K < 2)) return -1;
    for (long k = 0; k < K; k++) weight[k] = 1.0 / (double)K;
    switch (rule) {
    case JOB_ALPHA_ENDPOINTS:
        for (long k = 0; k < K; k++) alpha[k] = K == 1 ? 1.0 : (double)k / (double)(K - 1);
        return 0;
    case JOB_ALPHA_RIEMANN_LEFT: /* linspace(0, 1 − 1/K, K) */
        for (long k = 0; k < K; k++) alpha[k] = (double)k / (double)K;
        return 0;
    case JOB_ALPHA_RIEMANN_RIGHT: /* linspace(1/K, 1, K) */
        for (long k = 0; k < K; k++) alpha[k] = (double)(k + 1) / (double)K;
        return 0;
    case JOB_ALPHA_RIEMANN_MIDDLE: /* linspace(1/(2K), 1 − 1/(2K), K) */
        for (long k = 0; k < K; k++) alpha[k] = ((double)k + 0.5) / (double)K;
        return 0;
    case JOB_ALPHA_RIEMANN_TRAPEZOID: /* linspace(0, 1, K), steps 1/K with both ends halved (Captum's) */
        for (long k = 0; k < K; k++) alpha[k] = (double)k / (double)(K - 1);
        weight[0] /= 2;
        weight[K - 1] /= 2;
        return 0;
    case JOB_ALPHA_GAUSSLEGENDRE:
        gauss_legendre(K, alpha, weight);
        for (long k = 0; k < K; k++) {
            alpha[k] = 0.5 * (1 + alpha[k]);
            weight[k] *= 0.5;
        }
        return 0;
    default:
        return -1;
    }
}
