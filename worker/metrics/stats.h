/* worker/metrics/stats.h — the correlations the metrics report (Pearson,
 * Spearman with average ranks on ties), in doubles, on host arrays. */
#ifndef RECAL_STATS_H
#define RECAL_STATS_H

/* Pearson correlation of n pairs into *r. Returns 0, or -1 when it is
 * undefined (n < 2 or either side constant) and *r is left alone: callers
 * count such images apart instead of averaging a NaN. */
int stats_pearson(const double *x, const double *y, long n, double *r);

/* Ranks 1..n of v, ties given their average rank (so Spearman is Pearson of
 * ranks). idx is scratch for n longs. */
void stats_ranks(const double *v, long n, double *rank, long *idx);

/* Spearman correlation; scratch must hold 2n doubles, iscratch n longs. */
int stats_spearman(const double *x, const double *y, long n, double *r, double *scratch, long *iscratch);
#endif
