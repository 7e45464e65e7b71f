/* coordinator/stats_ci.h — the statistics over per-image metric values
 * (issue #23, docs/statistics.md): bootstrap percentile intervals of means,
 * paired (every column of a resample sees the same images), and the
 * Wilcoxon signed-rank test as SciPy 1.10's wilcoxon(d) computes it by
 * default. Pure C: the coordinator calls it with the rows of all shards,
 * the unit tests with hand-made ones. */
#ifndef RECAL_STATS_CI_H
#define RECAL_STATS_CI_H
#include <stdint.h>

/* counts[i] (n of them) = how often position i is drawn in resample b:
 * draw j (0 ≤ j < n) is ((seed_ctr_bits(key, j) >> 32) · n) >> 32 with
 * key = seed_for(seed, b, SEED_BOOTSTRAP) — integer arithmetic that numpy
 * repeats exactly, and the same whatever ranks or batches made the values.
 * n < 2^32. */
void sci_resample_counts(uint64_t seed, long b, long n, uint32_t *counts);

/* numpy.percentile(v, 100·q) with numpy's default ("linear"): v sorted
 * ascending, n ≥ 1, 0 ≤ q ≤ 1. */
double sci_percentile_sorted(const double *v, long n, double q);

/* The bootstrap interval of the mean of each of k columns of n values
 * (column c at v + c·n; NaN = undefined, left out of that column's mean)
 * from B resamples of the n rows (sci_resample_counts): lo[c], hi[c] the
 * (1 − level)/2 and (1 + level)/2 percentiles of the resample means that
 * are defined (NaN when none is). 0, or -1 when out of memory. */
int sci_bootstrap_means(const double *v, long n, int k, uint64_t seed, int B, double level, double *lo, double *hi);

/* *p = the two-sided p-value of the Wilcoxon signed-rank test of the n
 * differences d (none NaN), as scipy.stats.wilcoxon(d) (zero_method
 * "wilcox", correction False, method "auto"): exact for n ≤ 50 without
 * zeros, else the normal approximation over the non-zero differences with
 * the tie correction. *stat = min(R+, R−). Both NaN when undefined (n = 0,
 * or every difference 0). 0, or -1 when out of memory. */
int sci_wilcoxon(const double *d, long n, double *stat, double *p);

/* Holm's step-down adjustment of the n p-values p (one family): sorted
 * ascending, the i-th smallest (from 0) becomes the running maximum of
 * min(1, (m − j)·p_(j)) over j ≤ i, m the number of p that are not NaN;
 * NaN stays NaN and does not count. Ties keep their order (as
 * statsmodels' multipletests(method="holm")). adj may be p. 0, or -1 when
 * out of memory. */
int sci_holm(const double *p, long n, double *adj);
#endif
