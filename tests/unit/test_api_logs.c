/* API log transform: method, path/route, status, response time, IP
 * anonymization (v4, v6, compressed, IPv4-mapped, garbage), user agent cut,
 * the invalidating/warning split, and hostile inputs. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/api_logs.h"

#define S(lit) ((md_str_t){(lit), sizeof(lit) - 1})
#define ING INT64_C(1709294400000000) /* 2024-03-01T12:00:00Z */
#define DAY INT64_C(86400000000)
#define MAXC 8

static const md_uuid_t USER = {true, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};

/* want == NULL: expect SQL NULL. */
static void assert_str(md_str_t got, const char *want) {
    if (want == NULL) {
        assert_null(got.ptr);
        return;
    }
    assert_non_null(got.ptr);
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
}

static md_api_log_in_t base(void) {
    return (md_api_log_in_t){
        .id = 11,
        .request_id = S("req-1"),
        .method = S("GET"),
        .path = S("/users/123"),
        .status_code_present = true,
        .status_code = 200,
        .response_time_ms = S("12.5"),
        .user_id = USER,
        .ip_address = S("1.2.3.4"),
        .user_agent = S("Mozilla/5.0"),
        .properties = S("{}"),
        .source = S("Gateway"),
        .created_at = ING - 1000,
        .ingested_at = ING,
    };
}

static md_api_log_out_t run(md_arena_t *a, const md_api_log_in_t *in) {
    md_api_log_out_t out;
    memset(&out, 0x5a, sizeof(out));
    assert_int_equal(md_api_log_transform(in, a, &out), 0);
    /* is_valid is exactly "no invalidating code". */
    bool inval = false;
    for (int i = 0; i < out.errors.count; i++)
        inval = inval || md_api_log_code_invalidates(out.errors.code[i]);
    assert_int_equal(out.is_valid, !inval);
    return out;
}

static void assert_codes(const md_api_log_out_t *o, const char *const *want) {
    int n = 0;
    while (n < MAXC && want[n] != NULL)
        n++;
    if (o->errors.count != n)
        fail_msg("%d codes (first %s), want %d (first %s)", o->errors.count,
                 o->errors.count ? o->errors.code[0] : "-", n, n ? want[0] : "-");
    for (int i = 0; i < n; i++)
        assert_string_equal(o->errors.code[i], want[i]);
}

static void test_complete_row(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    md_api_log_in_t in = base();
    md_api_log_out_t o = run(a, &in);
    assert_true(o.is_valid);
    assert_int_equal(o.errors.count, 0);
    assert_int_equal(o.id, 11);
    assert_str(o.request_id, "req-1");
    assert_str(o.method, "GET");
    assert_str(o.path, "/users/123");
    assert_str(o.route, "/users/:id");
    assert_true(o.status_code_present);
    assert_int_equal(o.status_code, 200);
    assert_false(o.is_error);
    assert_str(o.response_time_ms, "12.5");
    assert_true(o.response_time_value == 12.5);
    assert_int_equal(o.ip_family, MD_IP_V4);
    assert_str(o.ip_address, "1.2.3.0");
    assert_str(o.user_agent, "Mozilla/5.0");
    assert_str(o.source, "gateway");
    assert_str(o.properties, "{}");
    assert_memory_equal(o.user_id.b, USER.b, 16);
    assert_int_equal(o.created_at, ING - 1000);
    assert_int_equal(o.ingested_at, ING);
    md_arena_free(a);
}

static void test_method(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        md_str_t in;
        md_str_t want; /* MD_STR_NULL: expect NULL */
        const char *code;
    } cases[] = {
        {S("GET"), S("GET"), NULL},
        {S("get"), S("GET"), NULL},
        {S(" Post "), S("POST"), NULL},
        {S("head"), S("HEAD"), NULL},
        {S("put"), S("PUT"), NULL},
        {S("PATCH"), S("PATCH"), NULL},
        {S("delete"), S("DELETE"), NULL},
        {S("options"), S("OPTIONS"), NULL},
        {S("trace"), S("TRACE"), NULL},
        {S("connect"), S("CONNECT"), NULL},
        {S("FETCH"), S("FETCH"), "method_invalid"},
        {S("G ET"), S("G ET"), "method_invalid"},
        {S("GETS"), S("GETS"), "method_invalid"},
        {S("GE"), S("GE"), "method_invalid"},
        {S("get\0"), S("GET\0"), "method_invalid"},
        {S("\tg\xc3\xa9t"), S("G\xc3\xa9T"), "method_invalid"},
        {S(""), MD_STR_NULL, "method_missing"},
        {S(" \r\n"), MD_STR_NULL, "method_missing"},
        {MD_STR_NULL, MD_STR_NULL, "method_missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.method = cases[i].in;
        md_api_log_out_t o = run(a, &in);
        if (cases[i].want.ptr == NULL) {
            assert_null(o.method.ptr);
        } else {
            assert_non_null(o.method.ptr);
            assert_int_equal(o.method.len, cases[i].want.len);
            assert_memory_equal(o.method.ptr, cases[i].want.ptr, cases[i].want.len);
        }
        const char *want[2] = {cases[i].code, NULL};
        assert_codes(&o, want);
        assert_int_equal(o.is_valid, cases[i].code == NULL);
    }
    md_arena_free(a);
}

static void test_path_route(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        md_str_t in;
        const char *path, *route, *code;
    } cases[] = {
        {S("/users/123/orders/9f1c0e2a-1111-4222-8333-444455556666"),
         "/users/123/orders/9f1c0e2a-1111-4222-8333-444455556666", "/users/:id/orders/:id", NULL},
        {S("/a/b?x=1#f"), "/a/b", "/a/b", NULL},
        {S("/a/b#frag?x"), "/a/b", "/a/b", NULL},
        {S("/a//b///c/"), "/a/b/c", "/a/b/c", NULL},
        {S("/"), "/", "/", NULL},
        {S("//"), "/", "/", NULL},
        {S("/?q=1"), "/", "/", NULL},
        {S("/users/42/"), "/users/42", "/users/:id", NULL},
        {S("  /x  "), "/x", "/x", NULL},
        {S("/x ?a=b"), "/x", "/x", NULL},
        {S("/7"), "/7", "/:id", NULL},
        {S("/v1/items/9f1c0e2a7b3d4c5e"), "/v1/items/9f1c0e2a7b3d4c5e", "/v1/items/:id", NULL},
        {S("/v1/items/9f1c0e2a7b3d4c5"), "/v1/items/9f1c0e2a7b3d4c5", "/v1/items/9f1c0e2a7b3d4c5",
         NULL},
        {S("/v2/abc"), "/v2/abc", "/v2/abc", NULL},
        {S("/f/ABCDEF0123456789ABCD"), "/f/ABCDEF0123456789ABCD", "/f/:id", NULL},
        {S("/u/9F1C0E2A-1111-4222-8333-444455556666/x"),
         "/u/9F1C0E2A-1111-4222-8333-444455556666/x", "/u/:id/x", NULL},
        {S("/u/9f1c0e2a-1111-4222-8333-44445555666"), "/u/9f1c0e2a-1111-4222-8333-44445555666",
         "/u/9f1c0e2a-1111-4222-8333-44445555666", NULL},
        {S("/u/9f1c0e2a_1111-4222-8333-444455556666"), "/u/9f1c0e2a_1111-4222-8333-444455556666",
         "/u/9f1c0e2a_1111-4222-8333-444455556666", NULL},
        {S("/1/2/3"), "/1/2/3", "/:id/:id/:id", NULL},
        {S("/u/9f1c0e2a-1111-4222-8333-444455556666x"), "/u/9f1c0e2a-1111-4222-8333-444455556666x",
         "/u/9f1c0e2a-1111-4222-8333-444455556666x", NULL},
        {S("/caf\xc3\xa9/1"), "/caf\xc3\xa9/1", "/caf\xc3\xa9/:id", NULL},
        {S("/Users/ABC"), "/Users/ABC", "/Users/ABC", NULL},
        {MD_STR_NULL, NULL, NULL, "path_missing"},
        {S(""), NULL, NULL, "path_missing"},
        {S(" \t "), NULL, NULL, "path_missing"},
        {S("users/1"), "users/1", NULL, "path_invalid"},
        {S("?q=1"), NULL, NULL, "path_invalid"},
        {S("#top"), NULL, NULL, "path_invalid"},
        {S("https://x.example/a?token=secret"), "https://x.example/a", NULL, "path_invalid"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.path = cases[i].in;
        md_api_log_out_t o = run(a, &in);
        assert_str(o.path, cases[i].path);
        assert_str(o.route, cases[i].route);
        const char *want[2] = {cases[i].code, NULL};
        assert_codes(&o, want);
    }
    md_arena_free(a);
}

static void test_status(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        bool present;
        int32_t code;
        bool is_error;
        const char *err;
    } cases[] = {
        {true, 100, false, NULL},
        {true, 200, false, NULL},
        {true, 499, false, NULL},
        {true, 500, true, NULL},
        {true, 503, true, NULL},
        {true, 599, true, NULL},
        {true, 99, false, "status_code_out_of_range"},
        {true, 600, false, "status_code_out_of_range"},
        {true, 0, false, "status_code_out_of_range"},
        {true, -500, false, "status_code_out_of_range"},
        {true, INT32_MAX, false, "status_code_out_of_range"},
        {true, INT32_MIN, false, "status_code_out_of_range"},
        {false, 0, false, "status_code_missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.status_code_present = cases[i].present;
        in.status_code = cases[i].code;
        md_api_log_out_t o = run(a, &in);
        assert_int_equal(o.is_error, cases[i].is_error);
        assert_int_equal(o.status_code_present, cases[i].present);
        if (cases[i].present)
            assert_int_equal(o.status_code, cases[i].code);
        const char *want[2] = {cases[i].err, NULL};
        assert_codes(&o, want);
    }
    md_arena_free(a);
}

static void test_response_time(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    const double NA = -12345; /* "value not checked" marker: NaN expected → use isnan */
    struct {
        md_str_t in;
        const char *text; /* output text */
        double value;     /* NAN: isnan expected; NA: unchecked */
        const char *code;
    } cases[] = {
        {S("12.5"), "12.5", 12.5, NULL},
        {S(" 0 "), "0", 0, NULL},
        {S("-0"), "-0", 0, NULL},
        {S("-0.000"), "-0.000", 0, NULL},
        {S("+7"), "+7", 7, NULL},
        {S("5."), "5.", 5, NULL},
        {S(".5"), ".5", 0.5, NULL},
        {S("3600000"), "3600000", 3600000, NULL},
        {S("3600000.000"), "3600000.000", 3600000, NULL},
        {S("003600000"), "003600000", 3600000, NULL},
        {S("3599999.9999999999999"), "3599999.9999999999999", NA, NULL},
        {S("1e3"), "1e3", 1000, NULL},
        {S("3.6E6"), "3.6E6", 3600000, NULL},
        {S("1e-99999"), "1e-99999", 0, NULL},
        {S("-1"), "-1", -1, "response_time_negative"},
        {S("-0.001"), "-0.001", -0.001, "response_time_negative"},
        {S("-1e-9"), "-1e-9", NA, "response_time_negative"},
        {S("-Infinity"), "-Infinity", -INFINITY, "response_time_negative"},
        {S("3600000.0000000001"), "3600000.0000000001", NA, "response_time_out_of_range"},
        {S("3600001"), "3600001", 3600001, "response_time_out_of_range"},
        {S("99999999999999999999999"), "99999999999999999999999", NA, "response_time_out_of_range"},
        {S("3.6000001e6"), "3.6000001e6", NA, "response_time_out_of_range"},
        {S("1e999"), "1e999", NA, "response_time_out_of_range"},
        {S("NaN"), "NaN", NAN, "response_time_out_of_range"},
        {S("nan"), "nan", NAN, "response_time_out_of_range"},
        {S("Infinity"), "Infinity", INFINITY, "response_time_out_of_range"},
        {S("+Infinity"), "+Infinity", INFINITY, "response_time_out_of_range"},
        {S("abc"), NULL, NAN, "response_time_out_of_range"},
        {S("1.2.3"), NULL, NAN, "response_time_out_of_range"},
        {S("."), NULL, NAN, "response_time_out_of_range"},
        {S("1e"), NULL, NAN, "response_time_out_of_range"},
        {S("12 ms"), NULL, NAN, "response_time_out_of_range"},
        {S("1\0"), NULL, NAN, "response_time_out_of_range"},
        {S(""), NULL, NAN, "response_time_missing"},
        {S("  "), NULL, NAN, "response_time_missing"},
        {MD_STR_NULL, NULL, NAN, "response_time_missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.response_time_ms = cases[i].in;
        md_api_log_out_t o = run(a, &in);
        assert_str(o.response_time_ms, cases[i].text);
        if (isnan(cases[i].value))
            assert_true(isnan(o.response_time_value));
        else if (cases[i].value != NA && o.response_time_value != cases[i].value)
            fail_msg("case %zu: value %g, want %g", i, o.response_time_value, cases[i].value);
        const char *want[2] = {cases[i].code, NULL};
        assert_codes(&o, want);
    }
    /* A 1 MB number: exact comparison, no stack copy. */
    size_t n = 1024 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '0', n);
    big[n - 1] = '1';
    md_api_log_in_t in = base();
    in.response_time_ms = (md_str_t){big, n};
    md_api_log_out_t o = run(a, &in);
    assert_int_equal(o.errors.count, 0);
    assert_true(o.response_time_value == 1);
    big[0] = '1';
    o = run(a, &in);
    const char *want[2] = {"response_time_out_of_range", NULL};
    assert_codes(&o, want);
    free(big);
    md_arena_free(a);
}

static void test_ip(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        md_str_t in;
        int family;
        const char *text;
    } cases[] = {
        {S("1.2.3.4"), MD_IP_V4, "1.2.3.0"},
        {S(" 10.0.0.255 "), MD_IP_V4, "10.0.0.0"},
        {S("255.255.255.255"), MD_IP_V4, "255.255.255.0"},
        {S("0.0.0.0"), MD_IP_V4, "0.0.0.0"},
        {S("2001:db8:1:2:3:4:5:6"), MD_IP_V6, "2001:db8:1::"},
        {S("2001:0DB8:0001:ffff::1"), MD_IP_V6, "2001:db8:1::"},
        {S("2001:db8:abcd:12:ffff:ffff:ffff:ffff"), MD_IP_V6, "2001:db8:abcd::"},
        {S("::1"), MD_IP_V6, "::"},
        {S("::"), MD_IP_V6, "::"},
        {S("fe80::1"), MD_IP_V6, "fe80::"},
        {S("2001:db8::1.2.3.4"), MD_IP_V6, "2001:db8::"},
        {S("::ffff:1.2.3.4"), MD_IP_V4, "1.2.3.0"},
        {S("::FFFF:192.168.1.77"), MD_IP_V4, "192.168.1.0"},
        {S("::ffff:c0a8:14d"), MD_IP_V4, "192.168.1.0"},
        {S("0:0:0:0:0:ffff:102:304"), MD_IP_V4, "1.2.3.0"},
        {S("1.2.3"), -1, NULL},
        {S("1.2.3.256"), -1, NULL},
        {S("01.2.3.4"), -1, NULL},
        {S("1.2.3.4:80"), -1, NULL},
        {S("1.2.3.4, 5.6.7.8"), -1, NULL},
        {S("[::1]"), -1, NULL},
        {S("fe80::1%eth0"), -1, NULL},
        {S("2001:db8::g"), -1, NULL},
        {S("1::2::3"), -1, NULL},
        {S("1.2.3.4\0"), -1, NULL},
        {S("\xff\xfe"), -1, NULL},
        {S("localhost"), -1, NULL},
        {S("1111:2222:3333:4444:5555:6666:7777:8888:9999"), -1, NULL},
        {S(""), MD_IP_NONE, NULL},
        {S("   "), MD_IP_NONE, NULL},
        {MD_STR_NULL, MD_IP_NONE, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.ip_address = cases[i].in;
        md_api_log_out_t o = run(a, &in);
        assert_true(o.is_valid); /* an IP never invalidates a row */
        if (cases[i].family < 0) {
            assert_int_equal(o.ip_family, MD_IP_NONE);
            assert_null(o.ip_address.ptr);
            const char *want[2] = {"ip_address_invalid", NULL};
            assert_codes(&o, want);
            continue;
        }
        assert_int_equal(o.errors.count, 0);
        assert_int_equal(o.ip_family, cases[i].family);
        assert_str(o.ip_address, cases[i].text);
        if (o.ip_address.ptr != NULL) /* never a pointer into the raw value */
            assert_true(o.ip_address.ptr < in.ip_address.ptr ||
                        o.ip_address.ptr >= in.ip_address.ptr + in.ip_address.len);
    }

    /* Binary form for COPY. */
    uint8_t b[16];
    char text[46];
    assert_int_equal(md_api_ip_anonymize("::ffff:9.8.7.6", 14, b, text), MD_IP_V4);
    uint8_t want4[4] = {9, 8, 7, 0};
    assert_memory_equal(b, want4, 4);
    assert_string_equal(text, "9.8.7.0");
    assert_int_equal(md_api_ip_anonymize("2001:db8:1:2::ff", 16, b, text), MD_IP_V6);
    uint8_t want6[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01};
    assert_memory_equal(b, want6, 16);

    /* Huge garbage. */
    size_t n = 256 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '1', n);
    assert_int_equal(md_api_ip_anonymize(big, n, b, text), -EINVAL);
    free(big);
    md_arena_free(a);
}

static void test_user_agent(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    char buf[2048];
    memset(buf, 'a', sizeof(buf));
    struct {
        md_str_t in;
        size_t want_len; /* (size_t)-1: NULL */
        bool truncated;
    } cases[] = {
        {{buf, 1024}, 1024, false},       {{buf, 1025}, 1024, true},  {{buf, 2048}, 1024, true},
        {{buf, 1023}, 1023, false},       {S(""), (size_t)-1, false}, {S(" \t"), (size_t)-1, false},
        {MD_STR_NULL, (size_t)-1, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.user_agent = cases[i].in;
        md_api_log_out_t o = run(a, &in);
        if (cases[i].want_len == (size_t)-1)
            assert_null(o.user_agent.ptr);
        else
            assert_int_equal(o.user_agent.len, cases[i].want_len);
        const char *want[2] = {cases[i].truncated ? "user_agent_truncated" : NULL, NULL};
        assert_codes(&o, want);
        assert_true(o.is_valid);
    }
    /* 1023 ASCII bytes + "é": the cut may not split é. */
    memcpy(buf + 1023, "\xc3\xa9", 2);
    md_api_log_in_t in = base();
    in.user_agent = (md_str_t){buf, 1025};
    md_api_log_out_t o = run(a, &in);
    assert_int_equal(o.user_agent.len, 1023);
    /* Surrounding whitespace is trimmed before measuring. */
    memset(buf, ' ', 10);
    memset(buf + 10, 'b', 1024);
    memset(buf + 1034, ' ', 10);
    in.user_agent = (md_str_t){buf, 1044};
    o = run(a, &in);
    assert_int_equal(o.user_agent.len, 1024);
    assert_int_equal(o.user_agent.ptr[0], 'b');
    assert_int_equal(o.errors.count, 0);
    md_arena_free(a);
}

static void test_created_at(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        md_ts_t created_at;
        const char *code;
    } cases[] = {
        {ING, NULL},
        {ING + DAY, NULL},
        {ING + DAY + 1, "future_timestamp"},
        {MD_TS_POS_INF, "future_timestamp"},
        {MD_TS_NULL, "missing_created_at"},
        {INT64_C(631152000000000), NULL}, /* 1990: API logs have no 2000 floor */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_api_log_in_t in = base();
        in.created_at = cases[i].created_at;
        md_api_log_out_t o = run(a, &in);
        const char *want[2] = {cases[i].code, NULL};
        assert_codes(&o, want);
        assert_int_equal(o.is_valid, cases[i].code == NULL);
    }
    md_arena_free(a);
}

static void test_codes_and_combination(void **state) {
    (void)state;
    struct {
        const char *code;
        bool invalidates;
    } cases[] = {
        {"method_missing", true},
        {"method_invalid", true},
        {"path_missing", true},
        {"path_invalid", true},
        {"status_code_missing", true},
        {"status_code_out_of_range", true},
        {"response_time_missing", true},
        {"response_time_negative", true},
        {"response_time_out_of_range", true},
        {"missing_created_at", true},
        {"future_timestamp", true},
        {"ip_address_invalid", false},
        {"user_agent_truncated", false},
        {"timestamp_before_2000", false},
        {"bogus", false},
        {"", false},
        {NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(md_api_log_code_invalidates(cases[i].code), cases[i].invalidates);

    md_arena_t *a = md_arena_new(0);
    char ua[1500];
    memset(ua, 'x', sizeof(ua));
    md_api_log_in_t in = {
        .method = MD_STR_NULL,
        .path = MD_STR_NULL,
        .status_code_present = false,
        .response_time_ms = MD_STR_NULL,
        .ip_address = S("999.1.1.1"),
        .user_agent = {ua, sizeof(ua)},
        .created_at = MD_TS_NULL,
        .ingested_at = ING,
    };
    md_api_log_out_t o = run(a, &in);
    const char *want[] = {
        "method_missing",     "path_missing",       "status_code_missing",  "response_time_missing",
        "missing_created_at", "ip_address_invalid", "user_agent_truncated", NULL};
    assert_codes(&o, want);
    assert_false(o.is_valid);
    assert_false(o.is_error);
    assert_null(o.source.ptr);
    assert_null(o.request_id.ptr);

    /* Only warnings: valid. */
    in = base();
    in.ip_address = S("nope");
    in.user_agent = (md_str_t){ua, sizeof(ua)};
    o = run(a, &in);
    const char *warn[] = {"ip_address_invalid", "user_agent_truncated", NULL};
    assert_codes(&o, warn);
    assert_true(o.is_valid);
    md_arena_free(a);
}

static void test_hostile(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    const size_t n = 1024 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 97 + 13);
    big[0] = '/';
    md_api_log_in_t in = base();
    in.method = (md_str_t){big, n};
    in.path = (md_str_t){big, n};
    in.response_time_ms = (md_str_t){big, n};
    in.ip_address = (md_str_t){big, n};
    in.user_agent = (md_str_t){big, n};
    in.source = (md_str_t){big, n};
    in.request_id = (md_str_t){big, n};
    md_api_log_out_t o = run(a, &in);
    assert_false(o.is_valid);
    assert_true(o.errors.count >= 3);
    assert_non_null(o.path.ptr);
    assert_true(o.user_agent.len <= 1024);

    /* A path of 1 MB of slashes and digits. */
    for (size_t i = 0; i < n; i++)
        big[i] = (i % 3 == 0) ? '/' : '5';
    in = base();
    in.path = (md_str_t){big, n};
    o = run(a, &in);
    assert_true(o.is_valid);
    assert_int_equal(o.path.len, n - (n % 3 == 1 ? 1 : 0));
    assert_memory_equal(o.route.ptr, "/:id/:id", 8);
    assert_int_equal(o.route.len, (n / 3) * 4); /* n / 3 segments "/55" → "/:id" */
    free(big);
    md_arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_complete_row),
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_path_route),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_response_time),
        cmocka_unit_test(test_ip),
        cmocka_unit_test(test_user_agent),
        cmocka_unit_test(test_created_at),
        cmocka_unit_test(test_codes_and_combination),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
