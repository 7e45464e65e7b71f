/* util/json_buf.h — the one way recal writes JSON (metrics.json, roar.json,
 * sweep.json, the bench and --stats lines) and the CSV files beside it: a
 * growing text buffer built in memory and written in one go, so that a
 * reader never sees half a file. Strings go through json_quote (the one
 * escaper); non-finite numbers become null when the text is written
 * (json_finite_write). Out of memory marks the buffer lost: it is then
 * never written. */
#ifndef RECAL_JSON_BUF_H
#define RECAL_JSON_BUF_H
#include <stddef.h>
#include <stdio.h>

struct jbuf {
    char *p; /* NUL-terminated text, or NULL before the first piece */
    size_t n, cap;
    int lost; /* a piece did not fit (out of memory): the text is incomplete */
};

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void jb_printf(struct jbuf *b, const char *fmt, ...);
/* s as a JSON string, quotes included. */
void jb_string(struct jbuf *b, const char *s);
/* "key": [v0, v1, ...] (%.10g each). */
void jb_array(struct jbuf *b, const char *key, const double *v, int n);
/* 0 when the text is whole; -1 with "out of memory writing WHAT" otherwise. */
int jb_check(const struct jbuf *b, const char *what, char *err, size_t errlen);
/* The text as one JSON document at path (non-finite numbers as null,
 * temp + fsync + rename). 0, or -1 with a message. */
int jb_write_json(const struct jbuf *b, const char *path, char *err, size_t errlen);
/* The text as it is at path (CSV), atomically. */
int jb_write_text(const struct jbuf *b, const char *path, char *err, size_t errlen);
/* One line of JSON on f (non-finite numbers as null): the bench and --stats lines. */
int jb_put_line(const struct jbuf *b, FILE *f);
void jb_free(struct jbuf *b);
#endif
