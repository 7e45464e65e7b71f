/* coordinator/progress.h — the rank-0 progress line of a stage and its
 * ETA (docs/outputs.md, "Progress"). Pure C: the coordinator feeds it what
 * it knows of the shards, the unit tests hand-made numbers. */
#ifndef RECAL_PROGRESS_H
#define RECAL_PROGRESS_H
#include <stddef.h>

/* What a stage's ETA is made of, in the stage's units (images, fine-tunes). */
struct progress_in {
    long total;  /* units of the stage */
    long done;   /* finished, journaled ones of an earlier session included */
    long fresh;  /* finished in this session */
    double busy; /* seconds the fresh ones took, summed over their shards */
    int ranks;   /* ranks computing shards */
    int n_flight;
    const long *flight_units;  /* the shards in flight: their units */
    const double *flight_busy; /* and how long each has run */
};

/* Seconds left, or -1 while no shard of this session has finished (no
 * rate yet: "estimating"). One rank's rate r = fresh / busy; a shard in
 * flight is taken to be r·(its time) units along; the rest goes at r per
 * computing rank, and no sooner than the slowest shard in flight ends:
 * max(max_i (u_i/r − t_i), (left − Σ_i min(u_i, r·t_i)) / (ranks·r)). */
double progress_eta(const struct progress_in *in);

/* The line, one format for every stage:
 * "stage S/N NAME: DONE/TOTAL UNIT (P%), R UNIT/s, elapsed Es, ETA Xs"
 * with "ETA estimating" when eta < 0 (docs/outputs.md gives the regex). */
void progress_line(char *buf, size_t n, int stage, int n_stages, const char *name, long done, long total,
                   const char *unit, double rate, double elapsed, double eta);
#endif
