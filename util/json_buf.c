/* util/json_buf.c — see json_buf.h. */
#include "json_buf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "json_finite.h"

void jb_printf(struct jbuf *b, const char *fmt, ...) {
    va_list ap;
    if (b->lost) return;
    for (;;) {
        va_start(ap, fmt);
        int w = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->lost = 1;
            return;
        }
        if (b->p && b->n + (size_t)w < b->cap) {
            b->n += (size_t)w;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)w;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->lost = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

void jb_string(struct jbuf *b, const char *s) {
    char *q = json_quote(s);
    if (q) jb_printf(b, "%s", q);
    else b->lost = 1;
    free(q);
}

void jb_array(struct jbuf *b, const char *key, const double *v, int n) {
    jb_string(b, key);
    jb_printf(b, ": [");
    for (int i = 0; i < n; i++) jb_printf(b, "%s%.10g", i ? ", " : "", v[i]);
    jb_printf(b, "]");
}

int jb_check(const struct jbuf *b, const char *what, char *err, size_t errlen) {
    if (b->p && !b->lost) return 0;
    snprintf(err, errlen, "out of memory writing %s (nothing written; free memory and run again)", what);
    return -1;
}

int jb_write_json(const struct jbuf *b, const char *path, char *err, size_t errlen) {
    if (jb_check(b, path, err, errlen)) return -1;
    return json_finite_write(path, b->p, b->n, err, errlen);
}

int jb_write_text(const struct jbuf *b, const char *path, char *err, size_t errlen) {
    if (jb_check(b, path, err, errlen)) return -1;
    return fs_write_atomic(path, b->p, b->n, err, errlen);
}

int jb_put_line(const struct jbuf *b, FILE *f) {
    if (!b->p || b->lost) return -1;
    size_t n;
    char *clean = json_finite_copy(b->p, b->n, &n, NULL);
    if (!clean) return -1;
    fwrite(clean, 1, n, f);
    fputc('\n', f);
    fflush(f);
    free(clean);
    return 0;
}

void jb_free(struct jbuf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}
