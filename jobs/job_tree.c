/* jobs/job_tree.c — libyaml document -> owned tree, and --set overrides. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "job_internal.h"

/* Aliases are expanded by copying, so bound the work: a recursive alias or a
 * "billion laughs" file becomes an error instead of a hang. */
#define TREE_MAX_DEPTH 64
#define TREE_MAX_NODES 100000

static int vset(const struct job_err *e, const char *origin, int line, int col, const char *fmt, va_list ap) {
    if (!e->buf || e->len == 0) return -1;
    int w;
    /* A --set is quoted whole only when short: the reason comes after it,
     * and a long value (a pasted list) pushed it past the buffer. */
    if (origin && strlen(origin) > 160)
        w = snprintf(e->buf, e->len, "--set %.120s... (%zu characters): ", origin, strlen(origin));
    else if (origin) w = snprintf(e->buf, e->len, "--set %s: ", origin);
    else if (line > 0) w = snprintf(e->buf, e->len, "%s:%d:%d: ", e->file, line, col);
    else w = snprintf(e->buf, e->len, "%s: ", e->file);
    if (w < 0 || (size_t)w >= e->len) return -1;
    vsnprintf(e->buf + w, e->len - (size_t)w, fmt, ap);
    return -1;
}

int job_errf(const struct job_err *e, const struct job_node *at, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e, at ? at->origin : NULL, at ? at->line : 0, at ? at->col : 0, fmt, ap);
    va_end(ap);
    return -1;
}

static int errf_at(const struct job_err *e, const char *origin, int line, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

static int errf_at(const struct job_err *e, const char *origin, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vset(e, origin, line, col, fmt, ap);
    va_end(ap);
    return -1;
}

static struct job_node *node_new(enum job_node_kind kind, const char *text, size_t len, const char *origin) {
    struct job_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    n->origin = origin;
    n->text = malloc(len + 1);
    if (!n->text) {
        free(n);
        return NULL;
    }
    if (len) memcpy(n->text, text, len);
    n->text[len] = '\0';
    return n;
}

void job_tree_free(struct job_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        job_tree_free(n->kids[i]);
        if (n->keys) job_tree_free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->text);
    free(n);
}

/* Append KID (and KEY for mappings); takes ownership of both on success. */
static int node_push(struct job_node *n, struct job_node *key, struct job_node *kid) {
    if (n->n == n->cap) {
        size_t cap = n->cap ? n->cap * 2 : 4;
        struct job_node **kids = realloc(n->kids, cap * sizeof *kids);
        if (!kids) return -1;
        n->kids = kids;
        if (n->kind == JOB_N_MAP) {
            struct job_node **keys = realloc(n->keys, cap * sizeof *keys);
            if (!keys) return -1;
            n->keys = keys;
        }
        n->cap = cap;
    }
    if (n->kind == JOB_N_MAP) n->keys[n->n] = key;
    n->kids[n->n++] = kid;
    return 0;
}

struct job_node *job_map_get(const struct job_node *map, const char *key, const struct job_node **keynode) {
    if (keynode) *keynode = NULL;
    if (!map || map->kind != JOB_N_MAP) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->keys[i]->text, key) == 0) {
            if (keynode) *keynode = map->keys[i];
            return map->kids[i];
        }
    return NULL;
}

struct conv {
    yaml_document_t *doc;
    const char *origin;
    const struct job_err *e;
    size_t count;
};

/* YAML 1.1 core-schema nulls, but only when unquoted: "null" in quotes is a
 * string the user meant. */
static int scalar_is_null(const yaml_node_t *yn) {
    if (yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *t = (const char *)yn->data.scalar.value;
    return !strcmp(t, "") || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static int convert(struct conv *c, yaml_node_t *yn, int depth, struct job_node **out) {
    int line = (int)yn->start_mark.line + 1, col = (int)yn->start_mark.column + 1;
    *out = NULL;
    if (depth > TREE_MAX_DEPTH || ++c->count > TREE_MAX_NODES)
        return errf_at(c->e, c->origin, line, col, "YAML nested too deeply or too large (recursive alias?)");
    struct job_node *n;
    if (yn->type == YAML_SCALAR_NODE)
        n = node_new(scalar_is_null(yn) ? JOB_N_NULL : JOB_N_SCALAR, (const char *)yn->data.scalar.value,
                     yn->data.scalar.length, c->origin);
    else n = node_new(yn->type == YAML_SEQUENCE_NODE ? JOB_N_SEQ : JOB_N_MAP, "", 0, c->origin);
    if (!n) return errf_at(c->e, c->origin, line, col, "out of memory");
    n->line = line;
    n->col = col;
    if (yn->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = yn->data.sequence.items.start; it < yn->data.sequence.items.top; it++) {
            struct job_node *kid;
            int rc = convert(c, yaml_document_get_node(c->doc, *it), depth + 1, &kid);
            if (!rc && node_push(n, NULL, kid)) rc = errf_at(c->e, c->origin, line, col, "out of memory");
            if (rc) {
                job_tree_free(kid);
                job_tree_free(n);
                return -1;
            }
        }
    } else if (yn->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = yn->data.mapping.pairs.start; p < yn->data.mapping.pairs.top; p++) {
            struct job_node *key = NULL, *val = NULL;
            int rc = convert(c, yaml_document_get_node(c->doc, p->key), depth + 1, &key);
            if (!rc && key->kind != JOB_N_SCALAR) rc = job_errf(c->e, key, "mapping keys must be plain strings");
            if (!rc && job_map_get(n, key->text, NULL)) rc = job_errf(c->e, key, "duplicate key '%.80s'", key->text);
            if (!rc) rc = convert(c, yaml_document_get_node(c->doc, p->value), depth + 1, &val);
            if (!rc && node_push(n, key, val)) rc = errf_at(c->e, c->origin, line, col, "out of memory");
            if (rc) {
                job_tree_free(key);
                job_tree_free(val);
                job_tree_free(n);
                return -1;
            }
        }
    }
    *out = n;
    return 0;
}

static int parser_error(const yaml_parser_t *p, const char *origin, const struct job_err *e) {
    if (p->error == YAML_MEMORY_ERROR) return errf_at(e, origin, 0, 0, "out of memory while parsing YAML");
    if (p->error == YAML_READER_ERROR) /* bad encoding: only a byte offset */
        return errf_at(e, origin, 0, 0, "YAML syntax error: %s at byte %zu",
                       p->problem ? p->problem : "unreadable input", p->problem_offset);
    return errf_at(e, origin, (int)p->problem_mark.line + 1, (int)p->problem_mark.column + 1,
                   "YAML syntax error: %s%s%s", p->problem ? p->problem : "invalid YAML", p->context ? " " : "",
                   p->context ? p->context : "");
}

int job_tree_parse(const char *buf, size_t len, const char *origin, const struct job_err *e, struct job_node **root) {
    yaml_parser_t parser;
    yaml_document_t doc;
    *root = NULL;
    if (!yaml_parser_initialize(&parser)) return errf_at(e, origin, 0, 0, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        parser_error(&parser, origin, e);
        yaml_parser_delete(&parser);
        return -1;
    }
    int rc = 0;
    yaml_node_t *top = yaml_document_get_root_node(&doc);
    if (top) {
        struct conv c = {&doc, origin, e, 0};
        rc = convert(&c, top, 0, root);
    } else {
        *root = node_new(JOB_N_NULL, "", 0, origin);
        if (!*root) rc = errf_at(e, origin, 0, 0, "out of memory");
        else (*root)->line = (*root)->col = 1;
    }
    yaml_document_delete(&doc);

    /* A second document would be silently ignored; say so instead. */
    if (!rc && top) {
        if (!yaml_parser_load(&parser, &doc)) {
            rc = parser_error(&parser, origin, e);
        } else {
            yaml_node_t *extra = yaml_document_get_root_node(&doc);
            if (extra)
                rc = errf_at(e, origin, (int)extra->start_mark.line + 1, (int)extra->start_mark.column + 1,
                             "only one YAML document is allowed");
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    if (rc) {
        job_tree_free(*root);
        *root = NULL;
    }
    return rc;
}

/* Index segment of a dotted path: digits only, so "1e3" or "-1" are refused. */
static int parse_index(const char *s, size_t *out) {
    size_t v = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000) return -1;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int apply_path(struct job_node *root, char *path, struct job_node *value, const char *set,
                      const struct job_err *e) {
    struct job_node *cur = root;
    const char *parent = "top level";
    char *seg = path;
    for (;;) {
        char *dot = strchr(seg, '.');
        int last = dot == NULL;
        if (dot) *dot = '\0';
        if (!*seg) return errf_at(e, set, 0, 0, "empty key in the dotted path");
        struct job_node **slot = NULL;
        if (cur->kind == JOB_N_MAP) {
            for (size_t i = 0; i < cur->n; i++)
                if (!strcmp(cur->keys[i]->text, seg)) slot = &cur->kids[i];
            if (!slot) { /* a new key: created empty, filled below */
                struct job_node *key = node_new(JOB_N_SCALAR, seg, strlen(seg), set);
                struct job_node *kid = node_new(JOB_N_MAP, "", 0, set);
                if (!key || !kid || node_push(cur, key, kid)) {
                    job_tree_free(key);
                    job_tree_free(kid);
                    return errf_at(e, set, 0, 0, "out of memory");
                }
                slot = &cur->kids[cur->n - 1];
            }
        } else if (cur->kind == JOB_N_SEQ) {
            size_t idx;
            if (parse_index(seg, &idx))
                return errf_at(e, set, 0, 0, "'%s' is a sequence; '%s' is not an index", parent, seg);
            if (idx >= cur->n)
                return errf_at(e, set, 0, 0, "index %zu out of range for '%s' (%zu items)", idx, parent, cur->n);
            slot = &cur->kids[idx];
        } else {
            return errf_at(e, set, 0, 0, "'%s' is a scalar; cannot set '%s' inside it", parent, seg);
        }
        if (last) {
            job_tree_free(*slot);
            *slot = value;
            return 0;
        }
        /* Descending through an empty value (e.g. `metrics:`) makes it a
         * mapping, the same as descending through a missing key. */
        if ((*slot)->kind == JOB_N_NULL) {
            struct job_node *m = node_new(JOB_N_MAP, "", 0, set);
            if (!m) return errf_at(e, set, 0, 0, "out of memory");
            job_tree_free(*slot);
            *slot = m;
        }
        cur = *slot;
        parent = seg;
        seg = dot + 1;
    }
}

int job_tree_apply_set(struct job_node *root, const char *set, const struct job_err *e) {
    const char *eq = strchr(set, '=');
    if (!eq) return errf_at(e, set, 0, 0, "expected 'dotted.path=value' (no '=' found)");
    if (eq == set) return errf_at(e, set, 0, 0, "empty path before '='");
    size_t plen = (size_t)(eq - set);
    char *path = malloc(plen + 1);
    if (!path) return errf_at(e, set, 0, 0, "out of memory");
    memcpy(path, set, plen);
    path[plen] = '\0';

    struct job_node *value = NULL;
    int rc = job_tree_parse(eq + 1, strlen(eq + 1), set, e, &value);
    if (!rc) {
        rc = apply_path(root, path, value, set, e);
        if (rc) job_tree_free(value);
    }
    free(path);
    return rc;
}
