/* util/json_read.c — see json_read.h. Recursive descent over the text. */
#include "json_read.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

struct parser {
    const char *s, *end, *p;
    char *err;
    size_t errlen;
    int failed;
};

static int fail(struct parser *ps, const char *what) {
    if (!ps->failed) snprintf(ps->err, ps->errlen, "byte %ld: %s", (long)(ps->p - ps->s), what);
    ps->failed = 1;
    return -1;
}

static void skip_ws(struct parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static struct json_value *new_value(struct parser *ps, enum json_kind k) {
    struct json_value *v = calloc(1, sizeof *v);
    if (!v) fail(ps, "out of memory");
    else v->kind = k;
    return v;
}

static int push(struct parser *ps, struct json_value *parent, struct json_value *kid, char *key) {
    struct json_value **kids = realloc(parent->kids, (parent->n + 1) * sizeof *kids);
    if (kids) parent->kids = kids;
    char **keys = parent->kind == JSON_OBJECT ? realloc(parent->keys, (parent->n + 1) * sizeof *keys) : NULL;
    if (keys) parent->keys = keys;
    if (!kids || (parent->kind == JSON_OBJECT && !keys)) {
        json_free(kid);
        free(key);
        return fail(ps, "out of memory");
    }
    kids[parent->n] = kid;
    if (keys) keys[parent->n] = key;
    parent->n++;
    return 0;
}

static int hex4(struct parser *ps, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p < ps->end ? *ps->p++ : 0;
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return fail(ps, "bad \\u escape");
    }
    *out = v;
    return 0;
}

/* A string at ps->p (the opening quote), decoded into a new buffer. */
static char *parse_string(struct parser *ps) {
    ps->p++;
    size_t cap = 16, n = 0;
    char *out = malloc(cap);
    if (!out) {
        fail(ps, "out of memory");
        return NULL;
    }
    for (;;) {
        if (ps->p >= ps->end) {
            fail(ps, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*ps->p++;
        unsigned cp = c;
        if (c == '"') {
            out[n] = '\0';
            return out;
        }
        if (c < 0x20) {
            ps->p--;
            fail(ps, "control character in a string");
            break;
        }
        if (c == '\\') {
            char e = ps->p < ps->end ? *ps->p++ : 0;
            switch (e) {
            case '"':
                cp = '"';
                break;
            case '\\':
                cp = '\\';
                break;
            case '/':
                cp = '/';
                break;
            case 'b':
                cp = '\b';
                break;
            case 'f':
                cp = '\f';
                break;
            case 'n':
                cp = '\n';
                break;
            case 'r':
                cp = '\r';
                break;
            case 't':
                cp = '\t';
                break;
            case 'u':
                if (hex4(ps, &cp)) goto bad;
                if (cp == 0) { /* would end the C string early: "a\u0000b" must not read as "a" */
                    fail(ps, "\\u0000 in a string");
                    goto bad;
                }
                if (cp >= 0xD800 && cp < 0xDC00) { /* a surrogate pair */
                    unsigned lo;
                    if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
                        fail(ps, "lone surrogate in \\u escape");
                        goto bad;
                    }
                    ps->p += 2;
                    if (hex4(ps, &lo)) goto bad;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        fail(ps, "bad surrogate pair");
                        goto bad;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    fail(ps, "lone surrogate in \\u escape");
                    goto bad;
                }
                break;
            default:
                fail(ps, "bad escape in a string");
                goto bad;
            }
        }
        if (n + 5 > cap) {
            cap *= 2;
            char *grown = realloc(out, cap);
            if (!grown) {
                fail(ps, "out of memory");
                break;
            }
            out = grown;
        }
        if (c != '\\' || cp < 0x80) out[n++] = (char)cp; /* raw bytes (UTF-8 included) as they are */
        else if (cp < 0x800) {
            out[n++] = (char)(0xC0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xE0 | (cp >> 12));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | (cp >> 18));
            out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
bad:
    free(out);
    return NULL;
}

static int digits(struct parser *ps) {
    const char *at = ps->p;
    while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
    return ps->p > at ? 0 : fail(ps, "a digit expected");
}

/* JSON's number grammar, then strtod on a bounded copy. */
static int parse_number(struct parser *ps, double *out) {
    const char *at = ps->p;
    if (ps->p < ps->end && *ps->p == '-') ps->p++;
    if (ps->p < ps->end && *ps->p == '0') ps->p++;
    else if (digits(ps)) return -1;
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (digits(ps)) return -1;
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
        if (digits(ps)) return -1;
    }
    char buf[64];
    size_t len = (size_t)(ps->p - at);
    if (len >= sizeof buf) return fail(ps, "number too long");
    memcpy(buf, at, len);
    buf[len] = '\0';
    *out = strtod(buf, NULL);
    return 0;
}

static struct json_value *parse_value(struct parser *ps, int depth);

static struct json_value *parse_container(struct parser *ps, int depth, int object) {
    struct json_value *v = new_value(ps, object ? JSON_OBJECT : JSON_ARRAY);
    if (!v) return NULL;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
        ps->p++;
        return v;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (object) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, "a key (a string) expected");
                break;
            }
            if (!(key = parse_string(ps))) break;
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail(ps, "':' expected after a key");
                break;
            }
            ps->p++;
        }
        struct json_value *kid = parse_value(ps, depth + 1);
        if (!kid) {
            free(key);
            break;
        }
        if (push(ps, v, kid, key)) break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == (object ? '}' : ']')) {
            ps->p++;
            return v;
        }
        fail(ps, object ? "',' or '}' expected" : "',' or ']' expected");
        break;
    }
    json_free(v);
    return NULL;
}

static struct json_value *parse_value(struct parser *ps, int depth) {
    if (depth >= JSON_MAX_DEPTH) {
        fail(ps, "nested too deeply");
        return NULL;
    }
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail(ps, "a value expected");
        return NULL;
    }
    char c = *ps->p;
    if (c == '{' || c == '[') return parse_container(ps, depth, c == '{');
    struct json_value *v = NULL;
    if (c == '"') {
        char *s = parse_string(ps);
        if (s && (v = new_value(ps, JSON_STRING))) v->str = s;
        else free(s);
        return v;
    }
    static const struct {
        const char *word;
        enum json_kind kind;
        double num;
    } words[] = {{"true", JSON_BOOL, 1}, {"false", JSON_BOOL, 0}, {"null", JSON_NULL, 0}};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) {
        size_t k = strlen(words[i].word);
        if ((size_t)(ps->end - ps->p) >= k && !memcmp(ps->p, words[i].word, k)) {
            ps->p += k;
            if ((v = new_value(ps, words[i].kind))) v->num = words[i].num;
            return v;
        }
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        double d;
        if (parse_number(ps, &d)) return NULL;
        if ((v = new_value(ps, JSON_NUMBER))) v->num = d;
        return v;
    }
    fail(ps, "a value expected");
    return NULL;
}

int json_parse(const char *text, size_t n, struct json_value **out, char *err, size_t errlen) {
    struct parser ps = {text, text + n, text, err, errlen, 0};
    *out = parse_value(&ps, 0);
    if (*out) {
        skip_ws(&ps);
        if (ps.p < ps.end) {
            fail(&ps, "text after the value");
            json_free(*out);
            *out = NULL;
        }
    }
    return *out ? 0 : -1;
}

void json_free(struct json_value *v) {
    if (!v) return;
    for (size_t i = 0; i < v->n; i++) {
        json_free(v->kids[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->kids);
    free(v->keys);
    free(v->str);
    free(v);
}

const struct json_value *json_get(const struct json_value *obj, const char *key) {
    if (!obj || obj->kind != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key)) return obj->kids[i];
    return NULL;
}

const struct json_value *json_path(const struct json_value *obj, const char *path) {
    char key[256];
    while (obj && *path) {
        size_t k = strcspn(path, ".");
        if (k >= sizeof key) return NULL;
        memcpy(key, path, k);
        key[k] = '\0';
        obj = json_get(obj, key);
        path += k + (path[k] == '.');
    }
    return obj;
}

double json_num(const struct json_value *v) {
    return v && v->kind == JSON_NUMBER ? v->num : NAN;
}

const char *json_str(const struct json_value *v) {
    return v && v->kind == JSON_STRING ? v->str : NULL;
}
