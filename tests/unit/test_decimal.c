/* Exact decimal arithmetic: parse/format, rounding half away from zero,
 * multiplication, sums, comparison. Expected values were computed with
 * Python's decimal module (ROUND_HALF_UP, 200 digits of precision). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "medallion/transform/decimal.h"

static md_dec_t dec(const char *s) {
    md_dec_t v;
    int rc = md_dec_parse(s, strlen(s), &v);
    if (rc != 0)
        fail_msg("parse \"%s\" failed: %d", s, rc);
    return v;
}

static void assert_text(const md_dec_t *v, const char *want, const char *ctx) {
    char buf[MD_DEC_TEXT_MAX];
    int n = md_dec_format(v, buf, sizeof(buf));
    if (n < 0 || strcmp(buf, want) != 0 || (size_t)n != strlen(want))
        fail_msg("%s: got \"%s\" (%d), want \"%s\"", ctx, n < 0 ? "" : buf, n, want);
}

static void test_parse_format(void **state) {
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"12.345", "12.345"},
        {"-0.5", "-0.5"},
        {"+7", "7"},
        {"007.50", "7.50"},
        {".5", "0.5"},
        {"5.", "5"},
        {"0", "0"},
        {"-0", "0"},
        {"-0.00", "0.00"},
        {"0.000", "0.000"},
        {"  12  ", "12"},
        {"\t-3.10\n", "-3.10"},
        {"1.5e3", "1500"},
        {"1e-3", "0.001"},
        {"1.23E+2", "123"},
        {"-12.5e-1", "-1.25"},
        {"0e5", "0"},
        {"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"},
        {"00000000000000000000000000000000000000000000001", "1"},
        {"0.1234567890123456789012345678901234567890",
         "0.1234567890123456789012345678901234567890"},
        /* Longer fractions keep 40 digits (the rest is guard/inexact). */
        {"0.12345678901234567890123456789012345678901234",
         "0.1234567890123456789012345678901234567890"},
        {"NaN", "NaN"},
        {"nan", "NaN"},
        {"Infinity", "Infinity"},
        {"+Infinity", "Infinity"},
        {"-Infinity", "-Infinity"},
        {"inf", "Infinity"},
        {"-INF", "-Infinity"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t v = dec(cases[i].in);
        assert_text(&v, cases[i].out, cases[i].in);
    }
}

static void test_parse_errors(void **state) {
    (void)state;
    static const struct {
        const char *in;
        int rc;
    } cases[] = {
        {"", -EINVAL},
        {"   ", -EINVAL},
        {"abc", -EINVAL},
        {"1.2.3", -EINVAL},
        {"--1", -EINVAL},
        {"+-1", -EINVAL},
        {"1e", -EINVAL},
        {"1e+", -EINVAL},
        {"e5", -EINVAL},
        {".", -EINVAL},
        {"-", -EINVAL},
        {"1 2", -EINVAL},
        {"12a", -EINVAL},
        {"-NaN", -EINVAL},
        {"Infinit", -EINVAL},
        {"US$12", -EINVAL},
        {"1,5", -EINVAL},
        /* 41 integer digits do not fit. */
        {"12345678901234567890123456789012345678901", -ERANGE},
        {"-99999999999999999999999999999999999999999.5", -ERANGE},
        {"1e40", -ERANGE},
        {"1e99999999999", -ERANGE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t v;
        memset(&v, 0xAB, sizeof(v));
        int rc = md_dec_parse(cases[i].in, strlen(cases[i].in), &v);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, want %d", cases[i].in, rc, cases[i].rc);
        /* ret untouched on failure */
        assert_int_equal(v.kind, 0xAB);
    }
    md_dec_t v;
    assert_int_equal(md_dec_parse(NULL, 0, &v), -EINVAL);
    /* Length bounds the parse: no terminator needed. */
    assert_int_equal(md_dec_parse("12.5xyz", 4, &v), 0);
    assert_text(&v, "12.5", "len-bounded");
    /* Tiny exponents drop everything: a non-zero value that printed zero. */
    assert_int_equal(md_dec_parse("1e-99999999999", 14, &v), 0);
    assert_true(v.inexact);
    assert_int_equal(md_dec_sign(&v), 1);
}

static void test_kinds_and_sign(void **state) {
    (void)state;
    static const struct {
        const char *in;
        int kind, sign;
    } cases[] = {
        {"NaN", MD_DEC_NAN, 0},
        {"Infinity", MD_DEC_POS_INF, 1},
        {"-Infinity", MD_DEC_NEG_INF, -1},
        {"0", MD_DEC_FINITE, 0},
        {"-0.000", MD_DEC_FINITE, 0},
        {"0.0000000001", MD_DEC_FINITE, 1},
        {"-0.0000000001", MD_DEC_FINITE, -1},
        /* Only the 41st fraction digit is non-zero: still not zero. */
        {"0.00000000000000000000000000000000000000001", MD_DEC_FINITE, 1},
        {"-0.00000000000000000000000000000000000000001", MD_DEC_FINITE, -1},
        {"0.00000000000000000000000000000000000000000", MD_DEC_FINITE, 0},
        {"42", MD_DEC_FINITE, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t v = dec(cases[i].in);
        if (v.kind != cases[i].kind || md_dec_sign(&v) != cases[i].sign)
            fail_msg("\"%s\": kind %d sign %d", cases[i].in, v.kind, md_dec_sign(&v));
        assert_int_equal(md_dec_is_finite(&v), cases[i].kind == MD_DEC_FINITE);
    }
}

static void test_int_digits(void **state) {
    (void)state;
    static const struct {
        const char *in;
        int digits;
    } cases[] = {
        {"0", 0},
        {"0.5", 0},
        {"-0.999", 0},
        {"1", 1},
        {"12.3", 2},
        {"-12.3", 2},
        {"999999999999999999.99", 18},
        {"100000000000000000", 18},
        {"1000000000000000000", 19},
        {"-1000000000000000000.5", 19},
        {"1e18", 19},
        {"9999999999999999999999999999999999999999", 40},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t v = dec(cases[i].in);
        if (md_dec_int_digits(&v) != cases[i].digits)
            fail_msg("\"%s\": %d digits, want %d", cases[i].in, md_dec_int_digits(&v),
                     cases[i].digits);
    }
}

static void test_round(void **state) {
    (void)state;
    static const struct {
        const char *in;
        int digits;
        const char *out;
    } cases[] = {
        {"2.345", 2, "2.35"},
        {"-2.345", 2, "-2.35"},
        {"2.344", 2, "2.34"},
        {"-2.344", 2, "-2.34"},
        {"2.3449999", 2, "2.34"},
        {"0.005", 2, "0.01"},
        {"-0.005", 2, "-0.01"},
        {"0.004", 2, "0.00"},
        {"-0.004", 2, "0.00"}, /* no negative zero */
        {"1234.5", 0, "1235"}, /* JPY */
        {"1234.4999", 0, "1234"},
        {"-1234.5", 0, "-1235"},
        {"0.5", 0, "1"},
        {"-0.5", 0, "-1"},
        {"0.49", 0, "0"},
        {"2.5", 0, "3"},
        {"1.0005", 3, "1.001"}, /* BHD/KWD */
        {"1.00049", 3, "1.000"},
        {"0.5", 3, "0.500"},
        {"12.3", 3, "12.300"},
        {"1.23455", 4, "1.2346"}, /* CLF */
        {"9.995", 2, "10.00"},
        {"-9.995", 2, "-10.00"},
        {"0.99995", 4, "1.0000"},
        {"999999999999999999.995", 2, "1000000000000000000.00"},
        {"999999999999999999.994", 2, "999999999999999999.99"},
        {"12", 2, "12.00"},
        {"1.5e3", 2, "1500.00"},
        /* Long fractions: only the digit after the cut decides. */
        {"0.00499999999999999999999999999999999999999999999", 2, "0.00"},
        {"0.00500000000000000000000000000000000000000000000", 2, "0.01"},
        {"1.123456789012345678901234567890123456789049", 40,
         "1.1234567890123456789012345678901234567890"},
        {"1.123456789012345678901234567890123456789050", 40,
         "1.1234567890123456789012345678901234567891"},
        {"-0.00000000000000000000000000000000000000005", 40,
         "-0.0000000000000000000000000000000000000001"},
        {"0.00000000000000000000000000000000000000004", 40,
         "0.0000000000000000000000000000000000000000"},
        {"123.456", 40, "123.4560000000000000000000000000000000000000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t v = dec(cases[i].in), r;
        int rc = md_dec_round(&v, cases[i].digits, &r);
        if (rc != 0)
            fail_msg("round \"%s\" %d: rc %d", cases[i].in, cases[i].digits, rc);
        assert_text(&r, cases[i].out, cases[i].in);
        assert_int_equal(r.scale, cases[i].digits);
        /* In-place rounding gives the same answer. */
        assert_int_equal(md_dec_round(&v, cases[i].digits, &v), 0);
        assert_text(&v, cases[i].out, cases[i].in);
    }
}

static void test_round_errors(void **state) {
    (void)state;
    md_dec_t v = dec("9999999999999999999999999999999999999999.5"), r;
    memset(&r, 0x5A, sizeof(r));
    assert_int_equal(md_dec_round(&v, 0, &r), -ERANGE);
    assert_int_equal(r.kind, 0x5A);
    assert_int_equal(md_dec_round(&v, 1, &r), 0);
    assert_text(&r, "9999999999999999999999999999999999999999.5", "no carry");

    v = dec("1.5");
    assert_int_equal(md_dec_round(&v, -1, &r), -EINVAL);
    assert_int_equal(md_dec_round(&v, MD_DEC_MAX_SCALE + 1, &r), -EINVAL);
    const char *specials[] = {"NaN", "Infinity", "-Infinity"};
    for (size_t i = 0; i < 3; i++) {
        v = dec(specials[i]);
        assert_int_equal(md_dec_round(&v, 2, &r), -EINVAL);
    }
}

static void test_mul_round(void **state) {
    (void)state;
    static const struct {
        const char *a, *b;
        int digits;
        const char *out;
    } cases[] = {
        {"123456789012345678.99", "1.0823", 2, "133617282748061728.37"},
        {"-123456789012345678.99", "1.0823", 2, "-133617282748061728.37"},
        {"123456789012345678.99", "-1.0823", 2, "-133617282748061728.37"},
        {"-123456789012345678.99", "-1.0823", 2, "133617282748061728.37"},
        {"1234", "0.0067123456789", 2, "8.28"},
        {"0.005", "1", 2, "0.01"},
        {"1.005", "0.5", 2, "0.50"},
        {"1.005", "-0.5", 2, "-0.50"},
        {"0.01", "0.4", 2, "0.00"},
        {"-0.01", "0.4", 2, "0.00"},
        {"0.01", "0.5", 2, "0.01"},
        {"-0.01", "0.5", 2, "-0.01"},
        {"2.5", "0.2", 0, "1"},
        {"0.333", "3", 2, "1.00"},
        {"19.99", "0.9", 2, "17.99"},
        {"5000", "1", 2, "5000.00"},
        {"1.1", "1.1", 1, "1.2"},
        {"0", "1.2345", 2, "0.00"},
        {"999999999999999999.99", "150.123456", 2, "150123455999999999998.50"},
        {"12345.678", "0.00000000123456789012345678901234567890", 40,
         "0.0000152415776406035777640603577763907942"},
        {"1", "0.0000000000000000000000000000000000000015", 40,
         "0.0000000000000000000000000000000000000015"},
        {"0.1", "0.0000000000000000000000000000000000000015", 40,
         "0.0000000000000000000000000000000000000002"},
        {"99999999999999999999", "99999999999999999999", 0,
         "9999999999999999999800000000000000000001"},
        {"1234.5", "1", 0, "1235"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t a = dec(cases[i].a), b = dec(cases[i].b), r;
        int rc = md_dec_mul_round(&a, &b, cases[i].digits, &r);
        if (rc != 0)
            fail_msg("%s × %s: rc %d", cases[i].a, cases[i].b, rc);
        assert_text(&r, cases[i].out, cases[i].a);
        /* Commutative, and aliasing the output is allowed. */
        assert_int_equal(md_dec_mul_round(&b, &a, cases[i].digits, &b), 0);
        assert_text(&b, cases[i].out, cases[i].b);
    }
}

static void test_mul_errors(void **state) {
    (void)state;
    md_dec_t a = dec("100000000000000000000"), b = dec("100000000000000000000"), r;
    memset(&r, 0x33, sizeof(r));
    assert_int_equal(md_dec_mul_round(&a, &b, 0, &r), -ERANGE); /* 10^40 */
    assert_int_equal(r.kind, 0x33);
    a = dec("9999999999999999999999999999999999999999");
    b = dec("1.00000000000000000000000000000000000000001");
    /* b keeps 40 fraction digits (the 41st is dropped), so the product is a. */
    assert_int_equal(md_dec_mul_round(&a, &b, 0, &r), 0);
    assert_text(&r, "9999999999999999999999999999999999999999", "no carry");
    b = dec("0.99999999999999999999999999999999999999995");
    assert_int_equal(md_dec_mul_round(&a, &b, 0, &r), 0);
    a = dec("9999999999999999999999999999999999999999.6");
    b = dec("1");
    assert_int_equal(md_dec_mul_round(&a, &b, 0, &r), -ERANGE);
    a = dec("NaN");
    assert_int_equal(md_dec_mul_round(&a, &b, 2, &r), -EINVAL);
    a = dec("1");
    b = dec("Infinity");
    assert_int_equal(md_dec_mul_round(&a, &b, 2, &r), -EINVAL);
    b = dec("2");
    assert_int_equal(md_dec_mul_round(&a, &b, -1, &r), -EINVAL);
    assert_int_equal(md_dec_mul_round(&a, &b, 41, &r), -EINVAL);
}

static void test_add(void **state) {
    (void)state;
    static const struct {
        const char *a, *b, *out;
    } cases[] = {
        {"1.5", "2.25", "3.75"},
        {"-1.5", "1.5", "0.0"},
        {"1.5", "-1.50", "0.00"},
        {"0.1", "-0.35", "-0.25"},
        {"-0.1", "-0.35", "-0.45"},
        {"-5", "3", "-2"},
        {"5", "-3", "2"},
        {"0.999", "0.001", "1.000"},
        {"999999999999999999.99", "999999999999999999.99", "1999999999999999999.98"},
        {"9999999999999999999999999999999999999998", "1",
         "9999999999999999999999999999999999999999"},
        {"0", "0", "0"},
        {"-9999999999999999999999999999999999999999", "-0.1",
         "-9999999999999999999999999999999999999999.1"},
        {"10000", "0.01", "10000.01"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t a = dec(cases[i].a), b = dec(cases[i].b), r;
        assert_int_equal(md_dec_add(&a, &b, &r), 0);
        assert_text(&r, cases[i].out, cases[i].a);
        assert_int_equal(md_dec_add(&b, &a, &a), 0);
        assert_text(&a, cases[i].out, cases[i].b);
    }
    md_dec_t a = dec("9999999999999999999999999999999999999999"), b = dec("1"), r;
    memset(&r, 0x44, sizeof(r));
    assert_int_equal(md_dec_add(&a, &b, &r), -ERANGE);
    assert_int_equal(r.kind, 0x44);
    a = dec("-9999999999999999999999999999999999999999");
    b = dec("-1");
    assert_int_equal(md_dec_add(&a, &b, &r), -ERANGE);
    b = dec("NaN");
    assert_int_equal(md_dec_add(&a, &b, &r), -EINVAL);
    b = dec("-Infinity");
    assert_int_equal(md_dec_add(&b, &a, &r), -EINVAL);

    /* A running sum of cents stays exact (0.1 * 10 is exactly 1). */
    md_dec_t sum, tenth = dec("0.10");
    md_dec_from_i64(0, &sum);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(md_dec_add(&sum, &tenth, &sum), 0);
    assert_text(&sum, "100.00", "sum");
}

static void test_cmp(void **state) {
    (void)state;
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"1.5", "1.50", 0},
        {"0", "-0.00", 0},
        {"5000.00", "5000", 0},
        {"5000.01", "5000", 1},
        {"4999.99", "5000", -1},
        {"10000.00", "10000", 0},
        {"10000.01", "10000", 1},
        {"-1", "1", -1},
        {"-2", "-1", -1},
        {"-0.001", "0", -1},
        {"0.00000000000000000000000000000000000000001", "0", 1},
        {"0.00000000000000000000000000000000000000001",
         "0.00000000000000000000000000000000000000002", -1},
        {"1000000000000000000", "999999999999999999.99", 1},
        {"-Infinity", "-9999999999999999999999999999999999999999", -1},
        {"Infinity", "9999999999999999999999999999999999999999", 1},
        {"NaN", "Infinity", 1},
        {"NaN", "NaN", 0},
        {"Infinity", "Infinity", 0},
        {"-Infinity", "Infinity", -1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t a = dec(cases[i].a), b = dec(cases[i].b);
        if (md_dec_cmp(&a, &b) != cases[i].want || md_dec_cmp(&b, &a) != -cases[i].want)
            fail_msg("cmp(%s, %s) = %d, want %d", cases[i].a, cases[i].b, md_dec_cmp(&a, &b),
                     cases[i].want);
    }
}

static void test_from_i64_strip(void **state) {
    (void)state;
    static const struct {
        int64_t v;
        const char *out;
    } ints[] = {
        {0, "0"},
        {10000, "10000"},
        {-5000, "-5000"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        md_dec_t v;
        md_dec_from_i64(ints[i].v, &v);
        assert_text(&v, ints[i].out, ints[i].out);
    }
    static const struct {
        const char *in, *out;
    } strips[] = {
        {"12.500", "12.5"}, {"3.00", "3"},    {"0.000", "0"}, {"-1.10", "-1.1"},
        {"100", "100"},     {"0.05", "0.05"}, {"NaN", "NaN"},
    };
    for (size_t i = 0; i < sizeof(strips) / sizeof(strips[0]); i++) {
        md_dec_t v = dec(strips[i].in);
        md_dec_strip(&v);
        assert_text(&v, strips[i].out, strips[i].in);
    }
}

static void test_format_space(void **state) {
    (void)state;
    md_dec_t v = dec("-12.50");
    char buf[8];
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(md_dec_format(&v, buf, 6), -ENOSPC); /* needs 7 with NUL */
    assert_int_equal(md_dec_format(&v, buf, 7), 6);
    assert_string_equal(buf, "-12.50");
    v = dec("-Infinity");
    assert_int_equal(md_dec_format(&v, buf, 8), -ENOSPC);
    /* The longest value fits MD_DEC_TEXT_MAX. */
    v = dec("-9999999999999999999999999999999999999999."
            "9999999999999999999999999999999999999999");
    char big[MD_DEC_TEXT_MAX];
    assert_int_equal(md_dec_format(&v, big, sizeof(big)), 82);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_kinds_and_sign),
        cmocka_unit_test(test_int_digits),
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_round_errors),
        cmocka_unit_test(test_mul_round),
        cmocka_unit_test(test_mul_errors),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_cmp),
        cmocka_unit_test(test_from_i64_strip),
        cmocka_unit_test(test_format_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
