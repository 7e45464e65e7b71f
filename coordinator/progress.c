/* coordinator/progress.c — see progress.h. */
#include "progress.h"

#include <stdio.h>

double progress_eta(const struct progress_in *in) {
    if (in->done >= in->total) return 0;
    if (in->fresh <= 0 || in->busy <= 0) return -1;
    const double r = (double)in->fresh / in->busy; /* units per second on one rank */
    double left = (double)(in->total - in->done), tail = 0;
    for (int i = 0; i < in->n_flight; i++) {
        const double u = (double)in->flight_units[i], along = r * in->flight_busy[i];
        left -= along < u ? along : u;
        /* a shard cannot be split: the stage ends no sooner than this one */
        if (u / r - in->flight_busy[i] > tail) tail = u / r - in->flight_busy[i];
    }
    const int ranks = in->ranks > 0 ? in->ranks : 1;
    const double spread = left > 0 ? left / (ranks * r) : 0;
    return spread > tail ? spread : tail;
}

void progress_line(char *buf, size_t n, int stage, int n_stages, const char *name, long done, long total,
                   const char *unit, double rate, double elapsed, double eta) {
    char eta_s[32];
    if (eta < 0) snprintf(eta_s, sizeof eta_s, "estimating");
    else snprintf(eta_s, sizeof eta_s, "%.0fs", eta);
    /* fine-tunes come minutes apart: their rate needs the digits */
    snprintf(buf, n, "stage %d/%d %s: %ld/%ld %s (%.1f%%), %.*f %s/s, elapsed %.0fs, ETA %s", stage, n_stages, name,
             done, total, unit, total > 0 ? 100.0 * (double)done / (double)total : 100.0, rate < 1 ? 4 : 1, rate, unit,
             elapsed, eta_s);
}
