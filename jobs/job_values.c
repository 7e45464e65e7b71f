/* jobs/job_values.c — typed reads of tree nodes with one message style:
 * "'batch_size' must be an integer >= 1, got 'abc'". */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"

int job_casecmp(const char *a, const char *b) {
    /* Own ASCII fold: strcasecmp is POSIX, not C11, and locale-dependent. */
    for (;; a++, b++) {
        int ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca >= 'A' && ca <= 'Z') ca += 'a' - 'A';
        if (cb >= 'A' && cb <= 'Z') cb += 'a' - 'A';
        if (ca != cb || !ca) return ca - cb;
    }
}

static void describe(const struct job_node *v, char *buf, size_t cap) {
    if (!v) snprintf(buf, cap, "nothing");
    else if (v->kind == JOB_N_SEQ) snprintf(buf, cap, "a sequence");
    else if (v->kind == JOB_N_MAP) snprintf(buf, cap, "a mapping");
    else if (v->kind == JOB_N_NULL && !v->text[0]) snprintf(buf, cap, "an empty value");
    else snprintf(buf, cap, "'%.80s%s'", v->text, strlen(v->text) > 80 ? "..." : "");
}

int job_bad(const struct job_err *e, const struct job_node *v, const char *key, const char *rule) {
    char got[96];
    describe(v, got, sizeof got);
    return job_errf(e, v, "'%s' must be %s, got %s", key, rule, got);
}

/* Whole-string parses only: "12abc", " 12" and "" are not integers. */
static int scalar_ll(const struct job_node *v, long long *out) {
    if (!v || v->kind != JOB_N_SCALAR) return -1;
    const char *s = v->text;
    if (!((*s >= '0' && *s <= '9') || *s == '-' || *s == '+')) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = x;
    return 0;
}

int job_want_int(const struct job_err *e, const struct job_node *v, const char *key, long long min, long long max,
                 long long *out) {
    char rule[96];
    long long x;
    snprintf(rule, sizeof rule, "an integer >= %lld", min);
    if (scalar_ll(v, &x) || x < min) return job_bad(e, v, key, rule);
    if (x > max) {
        snprintf(rule, sizeof rule, "an integer between %lld and %lld", min, max);
        return job_bad(e, v, key, rule);
    }
    *out = x;
    return 0;
}

int job_want_count(const struct job_err *e, const struct job_node *v, const char *key, int *out) {
    long long x;
    if (scalar_ll(v, &x)) return job_bad(e, v, key, "an integer >= 1");
    *out = x > INT_MAX ? INT_MAX : x < INT_MIN ? INT_MIN : (int)x;
    return 0;
}

int job_want_double(const struct job_err *e, const struct job_node *v, const char *key, double *out) {
    if (v && v->kind == JOB_N_SCALAR) {
        const char *s = v->text;
        char *end;
        errno = 0;
        double x = strtod(s, &end);
        /* isfinite: "nan"/"inf" parse, but no setting means them. */
        if (*s && *s != ' ' && *s != '\t' && end != s && !*end && errno != ERANGE && isfinite(x)) {
            *out = x;
            return 0;
        }
    }
    return job_bad(e, v, key, "a number");
}

int job_want_bool(const struct job_err *e, const struct job_node *v, const char *key, bool *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    if (v && v->kind == JOB_N_SCALAR)
        for (int i = 0; i < 3; i++) {
            if (!job_casecmp(v->text, yes[i])) return *out = true, 0;
            if (!job_casecmp(v->text, no[i])) return *out = false, 0;
        }
    return job_bad(e, v, key, "a boolean (true/false)");
}

int job_want_str(const struct job_err *e, const struct job_node *v, const char *key, char *dst, size_t cap) {
    if (!v || v->kind != JOB_N_SCALAR || !v->text[0]) return job_bad(e, v, key, "a non-empty string");
    size_t len = strlen(v->text);
    if (len >= cap) return job_errf(e, v, "'%s' is too long (%zu bytes, at most %zu)", key, len, cap - 1);
    memcpy(dst, v->text, len + 1);
    return 0;
}

int job_want_enum(const struct job_err *e, const struct job_node *v, const char *key, const char *const *names, int n,
                  int *out) {
    if (v && v->kind == JOB_N_SCALAR)
        for (int i = 0; i < n; i++)
            if (!job_casecmp(v->text, names[i])) return *out = i, 0;
    char rule[256] = "one of ";
    for (int i = 0; i < n; i++) {
        strncat(rule, names[i], sizeof rule - strlen(rule) - 1);
        if (i + 1 < n) strncat(rule, ", ", sizeof rule - strlen(rule) - 1);
    }
    const char *hint = v && v->kind == JOB_N_SCALAR ? job_suggest(v->text, names, n) : NULL;
    if (!hint) return job_bad(e, v, key, rule);
    char got[96];
    describe(v, got, sizeof got);
    return job_errf(e, v, "'%s' must be %s, got %s (did you mean '%s'?)", key, rule, got, hint);
}

int job_want_section(const struct job_err *e, const struct job_node *v, const char *key) {
    if (v && (v->kind == JOB_N_MAP || v->kind == JOB_N_NULL)) return 0;
    return job_bad(e, v, key, "a mapping");
}

int job_check_keys(const struct job_err *e, const struct job_node *map, const char *const *known, int n_known,
                   const char *const *later, int n_later, const char *kind, const char *section) {
    if (!map || map->kind != JOB_N_MAP) return 0;
    for (size_t i = 0; i < map->n; i++) {
        const struct job_node *k = map->keys[i];
        int ok = 0;
        for (int j = 0; j < n_known && !ok; j++) ok = !strcmp(k->text, known[j]);
        if (ok) continue;
        if (!strcmp(k->text, "<<"))
            return job_errf(e, k,
                            "YAML merge keys ('<<: *anchor') are not supported in %s: write the keys out (an "
                            "anchor and alias '*name' for a whole value work), or give the differences with --set",
                            section);
        for (int j = 0; j < n_later; j++)
            if (!strcmp(k->text, later[j]))
                return job_errf(e, k,
                                "%s '%s' is not implemented yet in this version of recal; "
                                "remove it from the config",
                                kind, later[j]);
        /* Suggest among everything recognised, implemented or not. */
        const char *all[64] = {0};
        int n = 0;
        for (int j = 0; j < n_known && n < 64; j++) all[n++] = known[j];
        for (int j = 0; j < n_later && n < 64; j++) all[n++] = later[j];
        const char *hint = job_suggest(k->text, all, n);
        if (hint) return job_errf(e, k, "unknown key '%.80s' in %s (did you mean '%s'?)", k->text, section, hint);
        /* No close name: list what the section takes, when that is short. */
        if (n_known <= 12) {
            char list[512];
            size_t w = 0;
            list[0] = '\0';
            for (int j = 0; j < n_known && w < sizeof list; j++)
                w += (size_t)snprintf(list + w, sizeof list - w, "%s%s", j ? ", " : "", known[j]);
            return job_errf(e, k, "unknown key '%.80s' in %s (expected one of: %s)", k->text, section, list);
        }
        return job_errf(e, k, "unknown key '%.80s' in %s", k->text, section);
    }
    return 0;
}
