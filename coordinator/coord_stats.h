/* coordinator/coord_stats.h — the per-image values of a run (the records'
 * per-image rows, jobs/record.h) and what the report makes of them: a
 * bootstrap interval for every per-image mean, the paired comparisons
 * (each estimator against vanilla, each method against random) and the
 * RUN_DIR/per_image/ files (docs/statistics.md). Rank 0 only. */
#ifndef RECAL_COORD_STATS_H
#define RECAL_COORD_STATS_H
#include <stddef.h>
#include <stdint.h>

#include "json_buf.h"
#include "record.h"

/* One mean with its interval (NaN where undefined). */
struct cs_ci {
    double mean, lo, hi;
    long images; /* images whose value is defined */
};

struct cs_pair {
    int a, b;  /* slots: a − b */
    int field; /* REC_PI_* */
    long images;
    double mean, lo, hi; /* of the differences, over the images both define */
    double stat, p;      /* Wilcoxon signed-rank: min(R+, R−) and the two-sided p */
    double p_holm;       /* p adjusted (Holm) over the pairs of the same metric */
};

struct coord_pi {
    struct rec_layout lay;
    int n_slots;
    long n;           /* images with a row (evaluated), in id order */
    int64_t *ids;     /* n */
    double *v;        /* n × slots × lay.n_pi, as in the rows */
    struct cs_ci *ci; /* slots × REC_PI_COUNT, after coord_pi_stats (NULL without intervals) */
    struct cs_pair *pairs;
    int n_pairs;
};

/* The rows of n_shards records (len doubles each, shard order) into pi
 * (zeroed first; lay.n_pi == 0 leaves it empty). 0, or -1 with a message. */
int coord_pi_collect(const struct job *job, int n_slots, const double *records, long n_shards, size_t len,
                     struct coord_pi *pi, char *err, size_t errlen);
/* The intervals and paired tests, when job->stats.resamples > 0. 0, or -1
 * with a message. */
int coord_pi_stats(const struct job *job, const struct rec_slot *slots, struct coord_pi *pi, char *err, size_t errlen);
void coord_pi_free(struct coord_pi *pi);

/* The mean of field f's per-image values of slot s over the images that
 * define it (NaN when none does) and their count: 0, or -1 when the run
 * kept no per-image values of f. */
int coord_pi_mean(const struct coord_pi *pi, int s, int f, double *mean, long *images);

/* metrics.json pieces: the `"ci": {...}` member of slot s's result (after a
 * comma), and the top-level `"statistics"` and `"paired"` members. */
void coord_pi_json_slot(struct jbuf *b, const struct coord_pi *pi, int s);
void coord_pi_json_top(struct jbuf *b, const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi);
/* summary.csv: the header's interval columns, and slot s's values. */
void coord_pi_csv_header(struct jbuf *b);
void coord_pi_csv_slot(struct jbuf *b, const struct coord_pi *pi, int s);
/* RUN_DIR/paired.csv, and with outputs.per_image RUN_DIR/per_image/. */
int coord_pi_write_files(const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi,
                         const char *run_dir, char *err, size_t errlen);
/* The paired table on f (nothing when there is none). */
void coord_pi_print(FILE *f, const struct job *job, const struct rec_slot *slots, const struct coord_pi *pi);
#endif
