/* JSON written by recal never holds NaN or Infinity: bare non-finite tokens
 * become null, strings and ordinary numbers are left alone. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_finite.h"

static void expect(const char *in, const char *want, long want_count) {
    size_t n;
    long count;
    char *out = json_finite_copy(in, strlen(in), &n, &count);
    assert_non_null(out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(count, want_count);
    free(out);
}

static void test_tokens(void **state) {
    (void)state;
    expect("{\"a\": nan, \"b\": -nan, \"c\": inf, \"d\": -inf}", "{\"a\": null, \"b\": null, \"c\": null, \"d\": null}",
           4);
    expect("[1, NaN, 2.5e-3, Infinity, -Infinity, 0]", "[1, null, 2.5e-3, null, null, 0]", 3);
    expect("[nan,nan,nan]", "[null,null,null]", 3);
}

static void test_left_alone(void **state) {
    (void)state;
    /* names that contain the words, escaped quotes, literals */
    expect("{\"infidelity\": {\"mean\": 0.5}, \"s\": \"nan \\\" inf\", \"t\": true, \"n\": null}",
           "{\"infidelity\": {\"mean\": 0.5}, \"s\": \"nan \\\" inf\", \"t\": true, \"n\": null}", 0);
    expect("{\"x\": 1e+30, \"y\": -0}", "{\"x\": 1e+30, \"y\": -0}", 0);
}

static void test_printf_output(void **state) {
    (void)state;
    char buf[128];
    snprintf(buf, sizeof buf, "{\"v\": [%.10g, %.10g, %.10g]}", NAN, -INFINITY, 1.25);
    expect(buf, "{\"v\": [null, null, 1.25]}", 2);
}

/* The one escaper: quotes, backslashes and control characters escaped as
 * RFC 8259 asks, UTF-8 bytes kept as they are. */
static void test_quote(void **state) {
    (void)state;
    char *q = json_quote("a\"b\\c\x01\n é");
    assert_non_null(q);
    assert_string_equal(q, "\"a\\\"b\\\\c\\u0001\\u000a é\"");
    free(q);
    q = json_quote("");
    assert_string_equal(q, "\"\"");
    free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_left_alone),
        cmocka_unit_test(test_printf_output),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
