/* The JSON reader against hand-written documents (RFC 8259's grammar, the
 * escapes, errors with their byte offset) and against the writer: what
 * jb_* writes, json_parse reads back. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_buf.h"
#include "json_read.h"

static struct json_value *parse_ok(const char *text) {
    struct json_value *v = NULL;
    char err[256] = "";
    int rc = json_parse(text, strlen(text), &v, err, sizeof err);
    if (rc) fprintf(stderr, "parse failed: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(v);
    return v;
}

static void parse_bad(const char *text, const char *want) {
    struct json_value *v = NULL;
    char err[256] = "";
    assert_int_equal(json_parse(text, strlen(text), &v, err, sizeof err), -1);
    assert_null(v);
    if (!strstr(err, want)) fprintf(stderr, "'%s': got '%s', want '%s'\n", text, err, want);
    assert_non_null(strstr(err, want));
}

static void test_values(void **state) {
    (void)state;
    struct json_value *v =
        parse_ok(" {\"images\": 128, \"accuracy\": 0.9140625, \"neg\": -2.5e-3, \"zero\": -0,"
                 " \"t\": true, \"f\": false, \"n\": null, \"a\": [1, [2, {}], []],"
                 " \"results\": [{\"method\": \"ig\", \"diffid\": {\"mean\": {\"diff_acc\": 0.25}}}]}\n");
    assert_int_equal(v->kind, JSON_OBJECT);
    assert_true(json_num(json_get(v, "images")) == 128);
    assert_true(json_num(json_get(v, "accuracy")) == 0.9140625);
    assert_true(json_num(json_get(v, "neg")) == -2.5e-3);
    assert_int_equal(json_get(v, "t")->kind, JSON_BOOL);
    assert_true(json_get(v, "t")->num == 1 && json_get(v, "f")->num == 0);
    assert_int_equal(json_get(v, "n")->kind, JSON_NULL);
    assert_true(isnan(json_num(json_get(v, "n"))));
    assert_null(json_get(v, "missing"));
    const struct json_value *a = json_get(v, "a");
    assert_int_equal(a->n, 3);
    assert_int_equal(a->kids[1]->kids[1]->kind, JSON_OBJECT);
    const struct json_value *r = json_get(v, "results")->kids[0];
    assert_string_equal(json_str(json_get(r, "method")), "ig");
    assert_true(json_num(json_path(r, "diffid.mean.diff_acc")) == 0.25);
    assert_null(json_path(r, "diffid.mean.nope"));
    json_free(v);
}

static void test_strings(void **state) {
    (void)state;
    struct json_value *v =
        parse_ok("[\"a\\\"b\\\\c\\/d\\n\\t\", \"\\u00e9\\u20ac\", \"\\ud83d\\ude00\", \"caf\xc3\xa9\"]");
    assert_string_equal(v->kids[0]->str, "a\"b\\c/d\n\t");
    assert_string_equal(v->kids[1]->str, "\xc3\xa9\xe2\x82\xac");
    assert_string_equal(v->kids[2]->str, "\xf0\x9f\x98\x80");
    assert_string_equal(v->kids[3]->str, "caf\xc3\xa9");
    json_free(v);
}

static void test_errors(void **state) {
    (void)state;
    parse_bad("", "byte 0: a value expected");
    parse_bad("{\"a\": 1,}", "byte 8: a key");
    parse_bad("[1, 2", "',' or ']' expected");
    parse_bad("{\"a\" 1}", "':' expected");
    parse_bad("[01]", "',' or ']' expected");
    parse_bad("[1.]", "a digit expected");
    parse_bad("[nan]", "a value expected");
    parse_bad("\"abc", "unterminated string");
    parse_bad("\"a\tb\"", "control character");
    parse_bad("\"\\x\"", "bad escape");
    parse_bad("\"\\ud83d\"", "lone surrogate");
    parse_bad("{\"a\\u0000b\": 1}", "\\u0000 in a string");
    parse_bad("{} {}", "byte 3: text after the value");
    char deep[200];
    memset(deep, '[', 100);
    deep[100] = '\0';
    parse_bad(deep, "nested too deeply");
    /* 64 levels are read, 65 are not */
    char ok[200];
    memset(ok, '[', 64);
    memset(ok + 64, ']', 64);
    ok[128] = '\0';
    json_free(parse_ok(ok));
    memset(deep, '[', 65);
    memset(deep + 65, ']', 65);
    deep[130] = '\0';
    parse_bad(deep, "nested too deeply");
}

/* The writer's output parses back to what was written. */
static void test_round_trip(void **state) {
    (void)state;
    struct jbuf b = {0};
    const double v[3] = {0.1, -2.5e-300, 12345678.9};
    jb_printf(&b, "{");
    jb_string(&b, "we\"ird\\ key\n\x01");
    jb_printf(&b, ": 1, ");
    jb_array(&b, "xs", v, 3);
    jb_printf(&b, "}");
    char err[128];
    assert_int_equal(jb_check(&b, "t", err, sizeof err), 0);
    struct json_value *doc = parse_ok(b.p);
    assert_int_equal(doc->n, 2);
    assert_string_equal(doc->keys[0], "we\"ird\\ key\n\x01");
    const struct json_value *xs = json_get(doc, "xs");
    assert_int_equal(xs->n, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs(xs->kids[i]->num - v[i]) <= 1e-9 * fabs(v[i]));
    json_free(doc);
    jb_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
