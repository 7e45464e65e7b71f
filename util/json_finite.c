/* util/json_finite.c — see json_finite.h. */
#include "json_finite.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"

static int word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Length of a non-finite token at p (with its sign), or 0. */
static size_t nonfinite_at(const char *p, const char *end) {
    const char *q = p;
    if (q < end && (*q == '-' || *q == '+')) q++;
    static const char *const words[] = {"infinity", "nan", "inf"};
    for (int w = 0; w < 3; w++) {
        size_t k = strlen(words[w]);
        if ((size_t)(end - q) >= k && !strncasecmp(q, words[w], k) && (q + k == end || !word_char(q[k])))
            return (size_t)(q + k - p);
    }
    return 0;
}

char *json_finite_copy(const char *json, size_t n, size_t *out_n, long *replaced) {
    /* "null" is at most one byte longer than the shortest token ("nan"). */
    char *out = malloc(n + n / 3 + 2);
    if (!out) return NULL;
    const char *p = json, *end = json + n;
    size_t o = 0;
    long count = 0;
    int in_str = 0;
    while (p < end) {
        char c = *p;
        if (in_str) {
            out[o++] = c;
            p++;
            if (c == '\\' && p < end) out[o++] = *p++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
            out[o++] = *p++;
            continue;
        }
        size_t k = (p == json || !word_char(p[-1])) ? nonfinite_at(p, end) : 0;
        if (k) {
            memcpy(out + o, "null", 4);
            o += 4;
            p += k;
            count++;
            continue;
        }
        out[o++] = *p++;
    }
    out[o] = '\0';
    *out_n = o;
    if (replaced) *replaced = count;
    return out;
}

int json_finite_write(const char *path, const char *json, size_t n, char *err, size_t errlen) {
    size_t m;
    char *clean = json_finite_copy(json, n, &m, NULL);
    if (!clean) {
        snprintf(err, errlen, "%s: out of memory writing JSON", path);
        return -1;
    }
    int rc = fs_write_atomic(path, clean, m, err, errlen);
    free(clean);
    return rc;
}

char *json_quote(const char *s) {
    size_t n = 3;
    for (const char *p = s; *p; p++) n += (unsigned char)*p < 0x20 ? 6 : (*p == '"' || *p == '\\') ? 2 : 1;
    char *q = malloc(n), *w = q;
    if (!q) return NULL;
    *w++ = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c < 0x20) {
            w += snprintf(w, 7, "\\u%04x", c);
        } else {
            *w++ = (char)c;
        }
    }
    *w++ = '"';
    *w = '\0';
    return q;
}
