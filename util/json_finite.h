/* util/json_finite.h — JSON has no NaN or Infinity: recal's writers format
 * numbers with printf, which prints "nan" and "inf", and Python's json
 * module then rejects the whole file. Every JSON recal writes goes through
 * json_finite_write, which turns those bare tokens into null. */
#ifndef RECAL_JSON_FINITE_H
#define RECAL_JSON_FINITE_H
#include <stddef.h>

/* A copy of json[0..n) with every nan, -nan, inf, -inf, infinity (any case)
 * outside strings replaced by null; its length in *out_n. NULL when out of
 * memory. *replaced (may be NULL) counts the replacements. Caller frees. */
char *json_finite_copy(const char *json, size_t n, size_t *out_n, long *replaced);

/* s as one JSON string, quotes included: \" \\ and control characters
 * escaped (\u00XX); other bytes, UTF-8 included, as they are. The one
 * escaper of every JSON recal writes. Caller frees; NULL when out of memory. */
char *json_quote(const char *s);

/* fs_write_atomic of that copy. */
int json_finite_write(const char *path, const char *json, size_t n, char *err, size_t errlen);
#endif
