/* util/json_read.h — a small JSON reader for what recal reads back of its
 * own outputs (sweep-merge reads each point's metrics.json): the text
 * becomes a tree; members are found by key, never by searching the text.
 * RFC 8259's grammar, with these limits: nesting at most 64 deep, numbers
 * at most 63 characters, no \u0000 in strings (they are C strings), and
 * bytes >= 0x80 taken as they are (not checked as UTF-8). Every error names
 * the byte offset. */
#ifndef RECAL_JSON_READ_H
#define RECAL_JSON_READ_H
#include <stddef.h>

enum json_kind { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_kind kind;
    double num;               /* JSON_NUMBER; JSON_BOOL: 0 or 1 */
    char *str;                /* JSON_STRING (UTF-8, NUL-terminated) */
    size_t n;                 /* JSON_ARRAY, JSON_OBJECT: elements */
    struct json_value **kids; /* the elements; an object's are its values */
    char **keys;              /* JSON_OBJECT: the keys, in order */
};

/* Parse text[0..n) (one value, surrounded by whitespace only). 0 with *out
 * (free with json_free), or -1 with "byte O: what". */
int json_parse(const char *text, size_t n, struct json_value **out, char *err, size_t errlen);
void json_free(struct json_value *v);
/* The member `key` of an object (the first, if repeated), or NULL. */
const struct json_value *json_get(const struct json_value *obj, const char *key);
/* The member at a dotted path ("diffid.mean.diff_acc"), or NULL. */
const struct json_value *json_path(const struct json_value *obj, const char *path);
/* Its number when v is a number, else NAN; its string when v is a string, else NULL. */
double json_num(const struct json_value *v);
const char *json_str(const struct json_value *v);
#endif
