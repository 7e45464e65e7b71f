/* jobs/job_internal.h — private to jobs/: a small owned YAML tree.
 * We copy libyaml's document into this tree because --set must replace and
 * add nodes, and every node must remember whether it came from the file
 * (report file:line:col) or from a --set (report the --set itself). */
#ifndef RECAL_JOB_INTERNAL_H
#define RECAL_JOB_INTERNAL_H

#include <stddef.h>

#include "job.h"

enum job_node_kind { JOB_N_NULL, JOB_N_SCALAR, JOB_N_SEQ, JOB_N_MAP };

struct job_node {
    enum job_node_kind kind;
    char *text;         /* scalar (or null) text as written */
    int line, col;      /* 1-based; 0 when unknown */
    const char *origin; /* NULL: the config file; else the --set string */
    size_t n, cap;
    struct job_node **kids; /* sequence items, or mapping values */
    struct job_node **keys; /* mapping keys (scalars), parallel to kids */
};

/* Where errors go and how to name the file in them. */
struct job_err {
    const char *file;
    char *buf;
    size_t len;
};

/* Writes "<where>: <message>" to e->buf and returns -1, so callers can
 * `return job_errf(...)`. <where> is "file:line:col", "--set X", or "file"
 * when AT is NULL or has no position. */
int job_errf(const struct job_err *e, const struct job_node *at, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Parse exactly one YAML document from BUF. ORIGIN tags every node (NULL for
 * the file). An empty document yields a JOB_N_NULL root. */
int job_tree_parse(const char *buf, size_t len, const char *origin, const struct job_err *e, struct job_node **root);
void job_tree_free(struct job_node *n);

/* Apply one "dotted.path=value" override to ROOT (a mapping). */
int job_tree_apply_set(struct job_node *root, const char *set, const struct job_err *e);

/* Value of KEY in mapping MAP (NULL when absent); *keynode gets the key. */
struct job_node *job_map_get(const struct job_node *map, const char *key, const struct job_node **keynode);

/* ---- typed reads (jobs/job_values.c). Each returns 0, or -1 with a
 * "'KEY' must be RULE, got 'text'" message positioned at V. ---- */
int job_bad(const struct job_err *e, const struct job_node *v, const char *key, const char *rule);
int job_want_int(const struct job_err *e, const struct job_node *v, const char *key, long long min, long long max,
                 long long *out);
/* An integer whose range job_method_check judges (a method's refs, steps,
 * samples): one that is not is refused as "an integer >= 1"; one beyond an
 * int is kept as INT_MIN or INT_MAX, which the check refuses (the message
 * quotes the text as written). */
int job_want_count(const struct job_err *e, const struct job_node *v, const char *key, int *out);
int job_want_double(const struct job_err *e, const struct job_node *v, const char *key, double *out);
int job_want_bool(const struct job_err *e, const struct job_node *v, const char *key, bool *out);
int job_want_str(const struct job_err *e, const struct job_node *v, const char *key, char *dst, size_t cap);
/* Case-insensitive pick from NAMES; stores the index. */
int job_want_enum(const struct job_err *e, const struct job_node *v, const char *key, const char *const *names, int n,
                  int *out);
/* V must be a mapping or empty (an empty section means "all defaults"). */
int job_want_section(const struct job_err *e, const struct job_node *v, const char *key);
/* Every key of MAP must be in KNOWN; keys in LATER are recognised but refused
 * as "<kind> 'x' is not implemented yet". SECTION names MAP in messages. */
int job_check_keys(const struct job_err *e, const struct job_node *map, const char *const *known, int n_known,
                   const char *const *later, int n_later, const char *kind, const char *section);
int job_casecmp(const char *a, const char *b);

/* ---- sections (jobs/job_methods.c) ---- */
int job_read_methods(const struct job_err *e, const struct job_node *v, struct job *j);
int job_read_metrics(const struct job_err *e, const struct job_node *v, struct job *j);
/* methods.IDX's `baseline` and `blur_sigma` into out (jobs/job_baseline.c),
 * after job_method_defaults. */
int job_read_baseline(const struct job_err *e, const struct job_node *m, int idx, struct job_method *out);
/* ---- sweep: (jobs/job_sweep.c) ---- */
int job_read_sweep(const struct job_err *e, const struct job_node *v, struct job *j);

#endif
