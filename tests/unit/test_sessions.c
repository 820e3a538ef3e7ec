/* Session state machine (transform/sessions.c): the 30-minute gap boundary
 * (>= starts a new session), the 24 h cap, single events, anonymous keys,
 * unsorted input refused (the caller sorts), and deterministic ids. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/sessions.h"
#include "medallion/transform/sha256.h"

#define SEC INT64_C(1000000)
#define MIN (60 * SEC)
#define HOUR (60 * MIN)
#define T0 INT64_C(1700000000000000) /* 2023-11-14T22:13:20Z */
#define MAXEV 64

static const md_session_rules_t RULES = {30 * MIN, 24 * HOUR};
static const char *USER = "0b7e6f4e-8d1c-4c53-9f0e-2f2b8f4a1c11";

static md_str_t S(const char *s) {
    return s ? (md_str_t){s, strlen(s)} : MD_STR_NULL;
}

typedef struct expect {
    int64_t start_off, end_off; /* relative to T0 */
    int64_t duration;
    int32_t count;
} expect_t;

typedef struct sess_case {
    const char *name;
    int64_t offs[MAXEV]; /* created_at - T0 for each event, sorted */
    int n;
    int nexp;
    expect_t exp[8];
} sess_case_t;

static const sess_case_t CASES[] = {
    {"single event", {0}, 1, 1, {{0, 0, 0, 1}}},
    {"gap just under 30 min joins", {0, 30 * MIN - 1}, 2, 1, {{0, 30 * MIN - 1, 1799, 2}}},
    {"gap exactly 30 min splits", {0, 30 * MIN}, 2, 2, {{0, 0, 0, 1}, {30 * MIN, 30 * MIN, 0, 1}}},
    {"gap is measured from the previous event, not the start",
     {0, 20 * MIN, 40 * MIN, 60 * MIN},
     4,
     1,
     {{0, 60 * MIN, 3600, 4}}},
    {"duration floors sub-second remainders", {0, 1500000, 2999999}, 3, 1, {{0, 2999999, 2, 3}}},
    {"same timestamp twice", {5 * SEC, 5 * SEC}, 2, 1, {{5 * SEC, 5 * SEC, 0, 2}}},
    /* One event every 20 minutes for 25 h: the event at exactly 24 h after the
     * start opens a new session (>= max_length). */
    {"24 h cap",
     {0},
     -1,
     2,
     {{0, 24 * HOUR - 20 * MIN, 86400 - 1200, 72}, {24 * HOUR, 25 * HOUR, 3600, 4}}},
};

static void fill(const sess_case_t *c, md_session_event_t *ev, int *ret_n) {
    int n = c->n;
    if (n < 0) { /* generated: every 20 min from 0 to 25 h inclusive */
        n = 0;
        for (int64_t t = 0; t <= 25 * HOUR; t += 20 * MIN)
            ev[n++] = (md_session_event_t){n + 1, T0 + t, S("page_view"), S("/home")};
    } else {
        for (int i = 0; i < n; i++)
            ev[i] = (md_session_event_t){i + 1, T0 + c->offs[i], S("page_view"), S("/p")};
    }
    *ret_n = n;
}

static void test_cases(void **state) {
    (void)state;
    md_session_event_t ev[128];
    md_session_t out[128];
    for (size_t k = 0; k < sizeof(CASES) / sizeof(CASES[0]); k++) {
        const sess_case_t *c = &CASES[k];
        int n;
        fill(c, ev, &n);
        size_t count = 999;
        int rc =
            md_sessionize(MD_SESSION_KEY_USER, S(USER), ev, (size_t)n, &RULES, out, 128, &count);
        if (rc != 0 || count != (size_t)c->nexp)
            fail_msg("%s: rc %d count %zu, want %d", c->name, rc, count, c->nexp);
        for (int i = 0; i < c->nexp; i++) {
            const expect_t *x = &c->exp[i];
            if (out[i].started_at != T0 + x->start_off || out[i].ended_at != T0 + x->end_off ||
                out[i].duration_seconds != x->duration || out[i].event_count != x->count)
                fail_msg("%s: session %d = [%lld, %lld] %lld s %d events", c->name, i,
                         (long long)(out[i].started_at - T0), (long long)(out[i].ended_at - T0),
                         (long long)out[i].duration_seconds, out[i].event_count);
        }
    }
}

static void test_entry_exit(void **state) {
    (void)state;
    md_session_event_t ev[] = {
        {10, T0, S("landing"), S("/a")},
        {11, T0 + MIN, S("click"), MD_STR_NULL},
        {12, T0 + 2 * MIN, S("checkout"), S("/c")},
        {13, T0 + 3 * HOUR, S("login"), MD_STR_NULL},
    };
    md_session_t out[4];
    size_t count = 0;
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), ev, 4, &RULES, out, 4, &count), 0);
    assert_int_equal(count, 2);
    assert_memory_equal(out[0].entry_event_type.ptr, "landing", 7);
    assert_memory_equal(out[0].exit_event_type.ptr, "checkout", 8);
    assert_memory_equal(out[0].entry_page.ptr, "/a", 2);
    assert_memory_equal(out[0].exit_page.ptr, "/c", 2);
    assert_int_equal(out[0].duration_seconds, 120);
    assert_null(out[1].entry_page.ptr);
    assert_null(out[1].exit_page.ptr);
    assert_memory_equal(out[1].entry_event_type.ptr, "login", 5);
    assert_int_equal(out[1].event_count, 1);
}

/* The id is recomputed here from the documented byte layout. */
static void expected_id(char kind, const char *key, int64_t ts, char out[33]) {
    uint8_t buf[256], d[32];
    size_t len = strlen(key), p = 0;
    buf[p++] = (uint8_t)kind;
    buf[p++] = (uint8_t)(len >> 24);
    buf[p++] = (uint8_t)(len >> 16);
    buf[p++] = (uint8_t)(len >> 8);
    buf[p++] = (uint8_t)len;
    memcpy(buf + p, key, len);
    p += len;
    for (int i = 7; i >= 0; i--)
        buf[p++] = (uint8_t)((uint64_t)ts >> (8 * i));
    md_sha256(buf, p, d);
    char hex[65];
    md_sha256_hex(d, hex);
    memcpy(out, hex, 32);
    out[32] = '\0';
}

static void test_ids(void **state) {
    (void)state;
    md_session_event_t ev[] = {{1, T0, S("a"), MD_STR_NULL}, {2, T0 + HOUR, S("b"), MD_STR_NULL}};
    md_session_t a[2], b[2], c[2];
    size_t na = 0, nb = 0, nc = 0;
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), ev, 2, &RULES, a, 2, &na), 0);
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), ev, 2, &RULES, b, 2, &nb), 0);
    /* Anonymous key: same text as a user id must still give another id. */
    assert_int_equal(md_sessionize(MD_SESSION_KEY_CLIENT, S(USER), ev, 2, &RULES, c, 2, &nc), 0);
    assert_int_equal(na, 2);
    assert_int_equal(nc, 2);
    char want[33];
    expected_id('u', USER, T0, want);
    assert_string_equal(a[0].session_id, want);
    expected_id('u', USER, T0 + HOUR, want);
    assert_string_equal(a[1].session_id, want);
    expected_id('c', USER, T0, want);
    assert_string_equal(c[0].session_id, want);
    assert_string_equal(a[0].session_id, b[0].session_id);
    assert_string_equal(a[1].session_id, b[1].session_id);
    assert_string_not_equal(a[0].session_id, c[0].session_id);
    assert_string_not_equal(a[0].session_id, a[1].session_id);
    assert_int_equal(strlen(a[0].session_id), 32);
}

static void test_anonymous_key(void **state) {
    (void)state;
    md_session_event_t ev[] = {{5, T0, S("view"), S("/x")}, {6, T0 + 10 * MIN, S("view"), S("/y")}};
    md_session_t out[2];
    size_t n = 0;
    assert_int_equal(
        md_sessionize(MD_SESSION_KEY_CLIENT, S("client-abc"), ev, 2, &RULES, out, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].duration_seconds, 600);
    assert_int_equal(out[0].event_count, 2);
}

/* The caller sorts by (created_at, id); anything else is refused, not re-sorted. */
static void test_rejects(void **state) {
    (void)state;
    md_session_event_t unsorted[] = {{1, T0 + MIN, S("a"), MD_STR_NULL},
                                     {2, T0, S("b"), MD_STR_NULL}};
    md_session_event_t tie_wrong[] = {{2, T0, S("a"), MD_STR_NULL}, {1, T0, S("b"), MD_STR_NULL}};
    md_session_event_t null_ts[] = {{1, MD_TS_NULL, S("a"), MD_STR_NULL}};
    md_session_event_t two_apart[] = {{1, T0, S("a"), MD_STR_NULL},
                                      {2, T0 + HOUR, S("b"), MD_STR_NULL}};
    md_session_rules_t zero = {0, 24 * HOUR};
    md_session_t out[2];
    size_t n = 77;
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), unsorted, 2, &RULES, out, 2, &n),
                     -EINVAL);
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), tie_wrong, 2, &RULES, out, 2, &n),
                     -EINVAL);
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), null_ts, 1, &RULES, out, 2, &n),
                     -EINVAL);
    assert_int_equal(
        md_sessionize(MD_SESSION_KEY_USER, MD_STR_NULL, two_apart, 2, &RULES, out, 2, &n), -EINVAL);
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), two_apart, 2, &zero, out, 2, &n),
                     -EINVAL);
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), two_apart, 2, &RULES, out, 1, &n),
                     -ENOSPC);
    assert_int_equal(n, 77); /* untouched on failure */
    assert_int_equal(md_sessionize(MD_SESSION_KEY_USER, S(USER), two_apart, 0, &RULES, out, 0, &n),
                     0);
    assert_int_equal(n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),   cmocka_unit_test(test_entry_exit),
        cmocka_unit_test(test_ids),     cmocka_unit_test(test_anonymous_key),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
