/* Text helpers: trim, case, snake_case (every example of the spec and the
 * awkward bytes: NULs, invalid UTF-8, 1 MB inputs), UTF-8-safe cut. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/transform/text.h"

#define S(lit) ((md_str_t){(lit), sizeof(lit) - 1})

static void assert_str(md_str_t got, const char *want, size_t want_len) {
    if (want == NULL) {
        assert_null(got.ptr);
        return;
    }
    assert_non_null(got.ptr);
    assert_int_equal(got.len, want_len);
    assert_memory_equal(got.ptr, want, want_len);
}
#define ASSERT_STR(got, lit) assert_str((got), (lit), sizeof(lit) - 1)

static void test_trim(void **state) {
    (void)state;
    struct {
        md_str_t in;
        const char *want; /* NULL: expect NULL */
        size_t want_len;
    } cases[] = {
        {S("  abc  "), "abc", 3},
        {S("\t\r\n\v\fabc \t"), "abc", 3},
        {S("a b"), "a b", 3},
        {S("   "), "", 0},
        {S(""), "", 0},
        {MD_STR_NULL, NULL, 0},
        {S(" a\0b "), "a\0b", 3},
        {S("\xc2\xa0x"), "\xc2\xa0x", 3}, /* NBSP is not ASCII whitespace */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_str(md_text_trim(cases[i].in), cases[i].want, cases[i].want_len);
    assert_null(md_text_nullif_empty(S("")).ptr);
    assert_null(md_text_nullif_empty(MD_STR_NULL).ptr);
    ASSERT_STR(md_text_nullif_empty(S(" ")), " ");
}

static void test_case(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(0);
    md_str_t out;
    md_str_t in = S("already lower 123");
    assert_int_equal(md_text_lower(a, in, &out), 0);
    assert_ptr_equal(out.ptr, in.ptr); /* borrowed: nothing to change */
    assert_int_equal(md_text_lower(a, S("MiXeD\xc3\x89Z"), &out), 0);
    ASSERT_STR(out, "mixed\xc3\x89z");
    assert_int_equal(md_text_upper(a, S("get\0x"), &out), 0);
    ASSERT_STR(out, "GET\0X");
    assert_int_equal(md_text_upper(a, MD_STR_NULL, &out), 0);
    assert_null(out.ptr);

    struct {
        md_str_t in;
        const char *want;
        size_t want_len;
    } clean[] = {
        {S("  Web "), "web", 3}, {S("IOS"), "ios", 3},   {S(" \t "), NULL, 0},
        {S(""), NULL, 0},        {MD_STR_NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(clean) / sizeof(clean[0]); i++) {
        assert_int_equal(md_text_clean_lower(a, clean[i].in, &out), 0);
        assert_str(out, clean[i].want, clean[i].want_len);
    }
    md_arena_free(a);
}

static void test_snake_case_table(void **state) {
    (void)state;
    md_arena_t *a = md_arena_new(16);
    struct {
        md_str_t in;
        const char *want; /* NULL: standardizes to NULL */
        size_t want_len;
    } cases[] = {
        {S("Page View"), "page_view", 9},
        {S(" PAGE_VIEW "), "page_view", 9},
        {S("pageView"), "page_view", 9},
        {S("form-submit"), "form_submit", 11},
        {S("Sign.Up"), "sign_up", 7},
        {S("page_view"), "page_view", 9},
        {S("a  --  b"), "a_b", 3},
        {S("__a__"), "a", 1},
        {S("--Add To--Cart!!"), "add_to_cart", 11},
        {S("HTTPServer"), "httpserver", 10},
        {S("page2View"), "page2_view", 10},
        {S("userID"), "user_id", 7},
        {S("abc123Def"), "abc123_def", 10},
        {S("123"), "123", 3},
        {S("\tCheckout\r\n"), "checkout", 8},
        {S("a/b:c@d"), "a_b_c_d", 7},
        {S("caf\xc3\xa9 Visit"), "caf\xc3\xa9_visit", 11},
        {S("\xc3\x89v\xc3\xa9nementX"), "\xc3\x89v\xc3\xa9nement_x", 13},
        {S("\xff\xfeX"), "\xff\xfex", 3}, /* invalid UTF-8 kept byte for byte */
        {S("a\0b"), "a_b", 3},            /* embedded NUL is a separator */
        {S("---"), NULL, 0},
        {S("   "), NULL, 0},
        {S(""), NULL, 0},
        {MD_STR_NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_str_t out = {(const char *)1, 99};
        assert_int_equal(md_text_snake_case_dup(a, cases[i].in, &out), 0);
        assert_str(out, cases[i].want, cases[i].want_len);
        if (cases[i].in.ptr != NULL)
            assert_int_equal(md_text_snake_case(cases[i].in.ptr, cases[i].in.len, NULL),
                             cases[i].want_len);
    }
    /* Canonical input is borrowed, not copied. */
    md_str_t in = S("page_view"), out;
    assert_int_equal(md_text_snake_case_dup(a, in, &out), 0);
    assert_ptr_equal(out.ptr, in.ptr);
    md_arena_free(a);
}

static void test_snake_case_huge(void **state) {
    (void)state;
    const size_t n = 1024 * 1024;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i += 2) {
        s[i] = 'a';
        s[i + 1] = 'B';
    }
    md_arena_t *a = md_arena_new(0);
    md_str_t out;
    assert_int_equal(md_text_snake_case_dup(a, (md_str_t){s, n}, &out), 0);
    assert_int_equal(out.len, n / 2 * 3); /* every "aB" → "a_b" */
    assert_memory_equal(out.ptr, "a_ba_b", 6);
    assert_memory_equal(out.ptr + out.len - 3, "a_b", 3);
    /* Every byte 0..255 once: no crash, ASCII non-alnum collapse, high bytes kept. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    assert_int_equal(md_text_snake_case_dup(a, (md_str_t){all, 256}, &out), 0);
    const char want_ascii[] = "0123456789_abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz_";
    assert_int_equal(out.len, sizeof(want_ascii) - 1 + 128);
    assert_memory_equal(out.ptr, want_ascii, sizeof(want_ascii) - 1);
    assert_memory_equal(out.ptr + sizeof(want_ascii) - 1, all + 128, 128);
    md_arena_free(a);
    free(s);
}

static void test_utf8_cut(void **state) {
    (void)state;
    /* "aé€😀" = 61 | c3 a9 | e2 82 ac | f0 9f 98 80 (10 bytes) */
    const char s[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
    struct {
        size_t max, want;
    } cases[] = {
        {10, 10}, {20, 10}, {9, 6}, {8, 6}, {7, 6}, {6, 6},
        {5, 3},   {4, 3},   {3, 3}, {2, 1}, {1, 1}, {0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(md_text_utf8_cut(s, 10, cases[i].max), cases[i].want);
    /* A run of stray continuation bytes: cut where asked, not at 0. */
    const char bad[] = "\x80\x80\x80\x80\x80\x80\x80\x80";
    assert_int_equal(md_text_utf8_cut(bad, 8, 6), 6);
    /* Back-off stops after 3 bytes (the longest tail of a 4-byte sequence). */
    assert_int_equal(md_text_utf8_cut("ab\x80\x80\x80\x80", 6, 5), 5);
    assert_int_equal(md_text_utf8_cut("ab\xf0\x80\x80\x80", 6, 5), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_case),
        cmocka_unit_test(test_snake_case_table),
        cmocka_unit_test(test_snake_case_huge),
        cmocka_unit_test(test_utf8_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
