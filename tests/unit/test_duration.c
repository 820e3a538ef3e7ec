/* Unit tests for duration parsing and formatting: every unit, compound forms,
 * the rejections (bare numbers, zero, order, overflow) and round trips. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "medallion/duration.h"

static const struct {
    const char *text;
    int64_t ms;
} good[] = {
    {"250ms", 250},       {"1ms", 1},
    {"30s", 30000},       {"5m", 300000},
    {"1h", 3600000},      {"14d", 1209600000},
    {"2w", 1209600000},   {"1h30m", 5400000},
    {"1d12h", 129600000}, {"1m30s", 90000},
    {"1s500ms", 1500},    {"1w1d1h1m1s1ms", 694861001},
    {"90s", 90000},       {"0h5m", 300000},
    {"007s", 7000},       {"9223372036854775807ms", INT64_MAX},
};

static const struct {
    const char *text;
    int code;
} bad[] = {
    {"", -EINVAL},
    {"5", -EINVAL}, /* a bare number never guesses a unit */
    {"0s", -EINVAL},
    {"0h0m", -EINVAL},
    {"-5s", -EINVAL},
    {"+5s", -EINVAL},
    {"5 s", -EINVAL},
    {" 5s", -EINVAL},
    {"5s ", -EINVAL},
    {"5x", -EINVAL},
    {"5S", -EINVAL},
    {"5sec", -EINVAL},
    {"1.5h", -EINVAL},
    {"h", -EINVAL},
    {"1h30", -EINVAL},
    {"30m1h", -EINVAL}, /* units out of order */
    {"1m1m", -EINVAL},  /* unit repeated */
    {"1ms1s", -EINVAL},
    {"9223372036854775808ms", -ERANGE},
    {"9223372036854775807s", -ERANGE},
    {"15250284453w", -ERANGE},
    {"9223372036854775s808ms", -ERANGE},
};

static void test_parse_good(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t ms = -1;
        int r = md_duration_parse_ms(good[i].text, &ms);
        if (r != 0 || ms != good[i].ms)
            fail_msg("\"%s\": r=%d ms=%lld, want %lld", good[i].text, r, (long long)ms,
                     (long long)good[i].ms);
    }
}

static void test_parse_bad(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t ms = 12345;
        int r = md_duration_parse_ms(bad[i].text, &ms);
        if (r != bad[i].code)
            fail_msg("\"%s\": r=%d, want %d", bad[i].text, r, bad[i].code);
        assert_int_equal(ms, 12345); /* untouched on failure */
    }
    int64_t ms;
    assert_int_equal(md_duration_parse_ms(NULL, &ms), -EINVAL);
}

static const struct {
    int64_t ms;
    const char *text;
} fmt[] = {
    {0, "0s"},          {250, "250ms"},
    {1000, "1s"},       {30000, "30s"},
    {300000, "5m"},     {3600000, "1h"},
    {5400000, "1h30m"}, {1209600000, "14d"},
    {1500, "1s500ms"},  {90061001, "1d1h1m1s1ms"},
    {-90000, "-1m30s"}, {86400000, "1d"},
};

static void test_format(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
        char buf[64];
        md_duration_format(fmt[i].ms, buf, sizeof(buf));
        assert_string_equal(buf, fmt[i].text);
        if (fmt[i].ms > 0) {
            int64_t back = 0;
            assert_int_equal(md_duration_parse_ms(buf, &back), 0);
            assert_int_equal(back, fmt[i].ms);
        }
    }
    /* Truncates rather than overruns a short buffer. */
    char small[4] = "zzz";
    md_duration_format(5400000, small, sizeof(small));
    assert_string_equal(small, "1h3");
    md_duration_format(INT64_MIN, small, sizeof(small));
    assert_string_equal(small, "-10");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
