/* events transform: every validation code, the quality score ladder, the
 * 24 h / 2000-01-01 boundaries to the microsecond, standardization, and
 * rows that are huge or made of odd bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/events.h"

#define S(lit) ((md_str_t){(lit), sizeof(lit) - 1})
#define ING INT64_C(1709294400000000) /* 2024-03-01T12:00:00Z */
#define DAY INT64_C(86400000000)
#define MAXC 4

static const md_uuid_t USER = {true, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}};
static const md_uuid_t NOUSER = {false, {0}};

static void assert_str(md_str_t got, const char *want, size_t want_len) {
    if (want == NULL) {
        assert_null(got.ptr);
        return;
    }
    assert_non_null(got.ptr);
    assert_int_equal(got.len, want_len);
    assert_memory_equal(got.ptr, want, want_len);
}

static void assert_codes(const md_codes_t *got, const char *const *want) {
    int n = 0;
    while (n < MAXC && want[n] != NULL)
        n++;
    assert_int_equal(got->count, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(got->code[i], want[i]);
}

static md_event_in_t base(void) {
    return (md_event_in_t){
        .id = 7,
        .event_id = {true, {0xaa}},
        .event_type = S("page_view"),
        .user_id = USER,
        .session_id = S("s-1"),
        .properties = S("{\"page\": \"/home\"}"),
        .source = S("web"),
        .created_at = ING - 1000,
        .ingested_at = ING,
    };
}

static void test_validation_table(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        const char *name;
        md_str_t event_type;
        md_uuid_t user;
        md_str_t session;
        md_ts_t created_at;
        md_ts_t ingested_at;
        bool valid;
        int score;
        const char *codes[MAXC];
    } cases[] = {
        {"complete", S("page_view"), USER, S("s"), ING, ING, true, 100, {NULL}},
        {"no user", S("page_view"), NOUSER, S("s"), ING, ING, true, 50, {NULL}},
        {"no user, no session", S("x"), NOUSER, MD_STR_NULL, ING, ING, true, 50, {NULL}},
        {"no session", S("x"), USER, MD_STR_NULL, ING, ING, true, 70, {NULL}},
        {"blank session", S("x"), USER, S(" \t "), ING, ING, true, 70, {NULL}},
        {"empty session", S("x"), USER, S(""), ING, ING, true, 70, {NULL}},
        {"no event_type",
         MD_STR_NULL,
         USER,
         S("s"),
         ING,
         ING,
         false,
         0,
         {"missing_event_type", NULL}},
        {"blank event_type",
         S("  \n"),
         USER,
         S("s"),
         ING,
         ING,
         false,
         0,
         {"missing_event_type", NULL}},
        {"separators only",
         S("-_-"),
         USER,
         S("s"),
         ING,
         ING,
         false,
         0,
         {"missing_event_type", NULL}},
        {"no created_at",
         S("x"),
         USER,
         S("s"),
         MD_TS_NULL,
         ING,
         false,
         0,
         {"missing_created_at", NULL}},
        {"neither",
         MD_STR_NULL,
         NOUSER,
         MD_STR_NULL,
         MD_TS_NULL,
         ING,
         false,
         0,
         {"missing_event_type", "missing_created_at", NULL}},
        {"exactly +24h", S("x"), USER, S("s"), ING + DAY, ING, true, 100, {NULL}},
        {"+24h+1us",
         S("x"),
         USER,
         S("s"),
         ING + DAY + 1,
         ING,
         false,
         0,
         {"future_timestamp", NULL}},
        {"future, no event_type",
         MD_STR_NULL,
         USER,
         S("s"),
         ING + 2 * DAY,
         ING,
         false,
         0,
         {"missing_event_type", "future_timestamp", NULL}},
        {"exactly 2000-01-01", S("x"), USER, S("s"), MD_TS_2000, ING, true, 100, {NULL}},
        {"2000-01-01 minus 1us",
         S("x"),
         USER,
         S("s"),
         MD_TS_2000 - 1,
         ING,
         false,
         0,
         {"timestamp_before_2000", NULL}},
        {"epoch", S("x"), NOUSER, S("s"), 0, ING, false, 0, {"timestamp_before_2000", NULL}},
        {"+infinity",
         S("x"),
         USER,
         S("s"),
         MD_TS_POS_INF,
         ING,
         false,
         0,
         {"future_timestamp", NULL}},
        {"-infinity",
         S("x"),
         USER,
         S("s"),
         MD_TS_NEG_INF,
         ING,
         false,
         0,
         {"timestamp_before_2000", NULL}},
        {"far past created, old ingest",
         S("x"),
         USER,
         S("s"),
         MD_TS_2000 + 5,
         MD_TS_2000,
         true,
         100,
         {NULL}},
        /* Relative to ingestion, never now(): a 2030 row ingested in 2030 is fine. */
        {"ingested in 2030",
         S("x"),
         USER,
         S("s"),
         INT64_C(1893456000000000),
         INT64_C(1893456000000000) - DAY,
         true,
         100,
         {NULL}},
        {"ingested_at near max",
         S("x"),
         USER,
         S("s"),
         INT64_MAX - 5,
         INT64_MAX - 10,
         true,
         100,
         {NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_event_in_t in = base();
        in.event_type = cases[i].event_type;
        in.user_id = cases[i].user;
        in.session_id = cases[i].session;
        in.created_at = cases[i].created_at;
        in.ingested_at = cases[i].ingested_at;
        md_event_out_t out;
        assert_int_equal(md_event_transform(&in, a, &out), 0);
        if (out.is_valid != cases[i].valid || out.quality_score != cases[i].score)
            fail_msg("case '%s': valid=%d score=%d", cases[i].name, out.is_valid,
                     out.quality_score);
        assert_codes(&out.errors, cases[i].codes);
        assert_int_equal(out.is_valid, out.errors.count == 0);
    }
    md_arena_free(a);
}

static void test_standardization(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    struct {
        md_str_t event_type, source, session;
        const char *want_type;
        size_t type_len;
        const char *want_source;
        size_t source_len;
        const char *want_session;
        size_t session_len;
    } cases[] = {
        {S("Page View"), S(" Web "), S(" s-1 "), "page_view", 9, "web", 3, "s-1", 3},
        {S(" PAGE_VIEW "), S("IOS"), S("S-1"), "page_view", 9, "ios", 3, "S-1", 3},
        {S("pageView"), S("  "), S("\t"), "page_view", 9, NULL, 0, NULL, 0},
        {S("form-submit"), MD_STR_NULL, MD_STR_NULL, "form_submit", 11, NULL, 0, NULL, 0},
        {S("Sign.Up"), S("Android App"), S("a b"), "sign_up", 7, "android app", 11, "a b", 3},
        {S("caf\xc3\xa9 Visit"),
         S("W\xc3\x89"
           "B"),
         S("\xff"), "caf\xc3\xa9_visit", 11,
         "w\xc3\x89"
         "b",
         4, "\xff", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_event_in_t in = base();
        in.event_type = cases[i].event_type;
        in.source = cases[i].source;
        in.session_id = cases[i].session;
        md_event_out_t out;
        assert_int_equal(md_event_transform(&in, a, &out), 0);
        assert_str(out.event_type, cases[i].want_type, cases[i].type_len);
        assert_str(out.source, cases[i].want_source, cases[i].source_len);
        assert_str(out.session_id, cases[i].want_session, cases[i].session_len);
    }
    /* Pass-through fields. */
    md_event_in_t in = base();
    md_event_out_t out;
    assert_int_equal(md_event_transform(&in, a, &out), 0);
    assert_int_equal(out.id, 7);
    assert_true(out.event_id.present);
    assert_int_equal(out.event_id.b[0], 0xaa);
    assert_memory_equal(out.user_id.b, USER.b, 16);
    assert_ptr_equal(out.properties.ptr, in.properties.ptr);
    assert_int_equal(out.properties.len, in.properties.len);
    assert_int_equal(out.created_at, ING - 1000);
    assert_int_equal(out.ingested_at, ING);
    in.properties = MD_STR_NULL;
    in.event_id.present = false;
    assert_int_equal(md_event_transform(&in, a, &out), 0);
    assert_null(out.properties.ptr);
    assert_false(out.event_id.present);
    md_arena_free(a);
}

static void test_hostile_bytes(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    const size_t n = 1024 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = "Ab \0\xff"[i % 5];
    md_event_in_t in = base();
    in.event_type = (md_str_t){big, n};
    in.session_id = (md_str_t){big, n};
    in.source = (md_str_t){big, n};
    in.properties = S("[1, \"not an object\"]");
    md_event_out_t out;
    assert_int_equal(md_event_transform(&in, a, &out), 0);
    assert_true(out.is_valid);
    /* "Ab \0\xff" → "ab_\xff" (the ASCII bytes separate, 0xff is kept and
     * is no camelCase boundary), 209715 times, then the last byte 'A'. */
    assert_int_equal(out.event_type.len, 4 * (n / 5) + 1);
    assert_memory_equal(out.event_type.ptr,
                        "ab_\xff"
                        "ab_\xff",
                        8);
    assert_int_equal(out.event_type.ptr[out.event_type.len - 1], 'a');
    /* First and last bytes are 'A': nothing to trim; source lower-cased in a copy. */
    assert_int_equal(out.source.len, n);
    assert_memory_equal(out.source.ptr,
                        "ab \0\xff"
                        "a",
                        6);
    /* A session_id too long to index is dropped with a warning: the row
     * stays valid and scores as having no session. */
    assert_null(out.session_id.ptr);
    assert_int_equal(out.quality_score, 70);
    assert_codes(&out.errors, (const char *const[]){MD_CODE_SESSION_ID_TOO_LONG, NULL});
    /* The boundary, after trimming: MD_TEXT_INDEXED_MAX bytes are kept. */
    memset(big, 's', MD_TEXT_INDEXED_MAX + 3);
    big[0] = ' ';
    in = base();
    in.session_id = (md_str_t){big, MD_TEXT_INDEXED_MAX + 1};
    assert_int_equal(md_event_transform(&in, a, &out), 0);
    assert_int_equal(out.session_id.len, MD_TEXT_INDEXED_MAX);
    assert_int_equal(out.errors.count, 0);
    assert_int_equal(out.quality_score, 100);
    in.session_id = (md_str_t){big, MD_TEXT_INDEXED_MAX + 2};
    assert_int_equal(md_event_transform(&in, a, &out), 0);
    assert_null(out.session_id.ptr);
    assert_true(out.is_valid);
    assert_codes(&out.errors, (const char *const[]){MD_CODE_SESSION_ID_TOO_LONG, NULL});
    /* Invalid for another reason: both codes, the warning last. */
    in.event_type = MD_STR_NULL;
    assert_int_equal(md_event_transform(&in, a, &out), 0);
    assert_false(out.is_valid);
    assert_int_equal(out.quality_score, 0);
    assert_codes(&out.errors, (const char *const[]){MD_CODE_MISSING_EVENT_TYPE,
                                                    MD_CODE_SESSION_ID_TOO_LONG, NULL});
    md_arena_free(a);
    free(big);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_table),
        cmocka_unit_test(test_standardization),
        cmocka_unit_test(test_hostile_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
