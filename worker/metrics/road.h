/* worker/metrics/road.h — ROAD (Rong et al., ICML 2022, "A Consistent and
 * Efficient Evaluation Strategy for Attribution Methods"; docs/metrics.md
 * (ROAD)): pixels are not deleted but imputed from their neighbours, so a
 * model cannot tell where they were from the fill alone. The pixel order
 * and the noisy linear imputation as Quantus 0.5.3 computes them
 * (`ROAD`, `noisy_linear_imputation`); plain C, checked against Quantus in
 * tests/oracle/check_quantus.py and by hand in tests/unit/test_road.c. */
#ifndef RECAL_ROAD_H
#define RECAL_ROAD_H
#include <stddef.h>

/* The h·w pixels by saliency s = Σ_c a (|Σ_c a| with abs_values), most
 * salient first, ties in pixel order; a is C×HW. s: scratch of hw doubles. */
void road_order(const float *a, int c, long hw, int abs_values, long *order, double *s);

/* Bytes of scratch road_impute needs for an h×w image of c channels. */
size_t road_scratch_bytes(int c, int h, int w);

/* out = x (C×H×W) with the n pixels idx (flat in H×W, all channels)
 * replaced by the solution of Quantus's linear system: each imputed value
 * is the weighted mean of its in-image 8-neighbours (1/6 side, 1/12
 * diagonal), known ones fixed; then + noise · z[c·n + k] when z is not
 * NULL. Solved per channel by conjugate gradients in float64 (the system is
 * symmetric positive definite while a known pixel remains). 0, or -1 when
 * it does not converge (every pixel imputed). */
int road_impute(const float *x, int c, int h, int w, const long *idx, long n, const float *z, double noise, float *out,
                void *scratch);
#endif
