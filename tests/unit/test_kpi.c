/* Unit tests for the KPI arithmetic: period dates around month, year and
 * leap-day ends, the local "today" around DST changes in two zones, exact
 * ratios, and change_percentage/trend on zero and NULL bases and band edges. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/timefmt.h"
#include "medallion/transform/kpi.h"
#include "medallion/tz.h"

static int64_t day_of(const char *date) {
    int y, m, d;
    if (sscanf(date, "%d-%d-%d", &y, &m, &d) != 3)
        fail_msg("bad test date %s", date);
    return md_days_from_civil(y, m, d);
}

static md_dec_t dec(const char *s) {
    md_dec_t v;
    if (md_dec_parse(s, strlen(s), &v) != 0)
        fail_msg("bad test decimal %s", s);
    return v;
}

static void assert_dec_text(const md_dec_t *v, const char *want, const char *what) {
    char buf[MD_DEC_TEXT_MAX];
    if (md_dec_format(v, buf, sizeof(buf)) < 0)
        fail_msg("%s: cannot format", what);
    if (strcmp(buf, want) != 0)
        fail_msg("%s: expected %s, got %s", what, want, buf);
}

/* ---- periods ---------------------------------------------------------------- */

static const struct {
    const char *today;
    md_kpi_period_t period;
    const char *start, *end, *prev_start, *prev_end;
} range_cases[] = {
    {"2026-01-01", MD_KPI_24H, "2025-12-31", "2025-12-31", "2025-12-30", "2025-12-30"},
    {"2026-01-01", MD_KPI_7D, "2025-12-25", "2025-12-31", "2025-12-18", "2025-12-24"},
    {"2026-01-01", MD_KPI_30D, "2025-12-02", "2025-12-31", "2025-11-02", "2025-12-01"},
    {"2026-01-02", MD_KPI_24H, "2026-01-01", "2026-01-01", "2025-12-31", "2025-12-31"},
    {"2024-03-01", MD_KPI_24H, "2024-02-29", "2024-02-29", "2024-02-28", "2024-02-28"},
    {"2023-03-01", MD_KPI_24H, "2023-02-28", "2023-02-28", "2023-02-27", "2023-02-27"},
    {"2024-03-01", MD_KPI_7D, "2024-02-23", "2024-02-29", "2024-02-16", "2024-02-22"},
    {"2024-03-31", MD_KPI_30D, "2024-03-01", "2024-03-30", "2024-01-31", "2024-02-29"},
    {"2025-03-31", MD_KPI_30D, "2025-03-01", "2025-03-30", "2025-01-30", "2025-02-28"},
    {"2026-05-01", MD_KPI_7D, "2026-04-24", "2026-04-30", "2026-04-17", "2026-04-23"},
    /* The week holding the US spring-forward and the EU fall-back days:
     * dates are whole local days whatever their length in hours. */
    {"2026-03-09", MD_KPI_7D, "2026-03-02", "2026-03-08", "2026-02-23", "2026-03-01"},
    {"2026-10-26", MD_KPI_24H, "2026-10-25", "2026-10-25", "2026-10-24", "2026-10-24"},
    {"1970-01-01", MD_KPI_7D, "1969-12-25", "1969-12-31", "1969-12-18", "1969-12-24"},
};

static void test_ranges(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        md_kpi_range_t r;
        assert_int_equal(md_kpi_range(range_cases[i].period, day_of(range_cases[i].today), &r), 0);
        char got[4][MD_KPI_DATE_TEXT];
        md_kpi_day_text(r.start, got[0], sizeof(got[0]));
        md_kpi_day_text(r.end, got[1], sizeof(got[1]));
        md_kpi_day_text(r.prev_start, got[2], sizeof(got[2]));
        md_kpi_day_text(r.prev_end, got[3], sizeof(got[3]));
        const char *want[4] = {range_cases[i].start, range_cases[i].end, range_cases[i].prev_start,
                               range_cases[i].prev_end};
        for (int k = 0; k < 4; k++)
            if (strcmp(got[k], want[k]) != 0)
                fail_msg("case %zu (%s %s) bound %d: expected %s, got %s", i, range_cases[i].today,
                         md_kpi_period_name(range_cases[i].period), k, want[k], got[k]);
        assert_int_equal(r.end - r.start + 1, md_kpi_period_days(range_cases[i].period));
        assert_int_equal(r.prev_end - r.prev_start + 1, md_kpi_period_days(range_cases[i].period));
    }
}

static void test_period_names(void **state) {
    (void)state;
    assert_string_equal(md_kpi_period_name(MD_KPI_24H), "24h");
    assert_string_equal(md_kpi_period_name(MD_KPI_7D), "7d");
    assert_string_equal(md_kpi_period_name(MD_KPI_30D), "30d");
    assert_null(md_kpi_period_name(MD_KPI_PERIOD_COUNT));
    assert_int_equal(md_kpi_period_days(MD_KPI_PERIOD_COUNT), 0);
    md_kpi_range_t r = {.start = 42, .end = 42, .prev_start = 42, .prev_end = 42};
    assert_int_equal(md_kpi_range(MD_KPI_PERIOD_COUNT, 100, &r), -EINVAL);
    assert_int_equal(r.start, 42); /* untouched on failure */
    assert_int_equal(r.prev_end, 42);
}

/* ---- the local day a run sees ------------------------------------------------ */

static const struct {
    const char *zone; /* NULL: UTC */
    const char *utc;
    const char *local_day;
} day_cases[] = {
    {"Europe/Berlin", "2026-03-28T22:59:59Z", "2026-03-28"},
    {"Europe/Berlin", "2026-03-28T23:00:00Z", "2026-03-29"}, /* CET midnight */
    {"Europe/Berlin", "2026-03-29T21:59:59Z", "2026-03-29"}, /* the 23-hour day ends */
    {"Europe/Berlin", "2026-03-29T22:00:00Z", "2026-03-30"}, /* CEST midnight */
    {"Europe/Berlin", "2026-10-24T21:59:59Z", "2026-10-24"},
    {"Europe/Berlin", "2026-10-24T22:00:00Z", "2026-10-25"},
    {"Europe/Berlin", "2026-10-25T22:59:59Z", "2026-10-25"}, /* the 25-hour day ends */
    {"Europe/Berlin", "2026-10-25T23:00:00Z", "2026-10-26"},
    {"America/New_York", "2026-03-08T04:59:59Z", "2026-03-07"},
    {"America/New_York", "2026-03-08T05:00:00Z", "2026-03-08"},
    {"America/New_York", "2026-03-09T03:59:59Z", "2026-03-08"},
    {"America/New_York", "2026-03-09T04:00:00Z", "2026-03-09"},
    {"America/New_York", "2026-11-01T04:00:00Z", "2026-11-01"},
    {"America/New_York", "2026-11-02T04:59:59Z", "2026-11-01"},
    {"America/New_York", "2026-11-02T05:00:00Z", "2026-11-02"},
    {"America/New_York", "2026-01-01T04:59:59Z", "2025-12-31"}, /* year end */
    {"America/New_York", "2026-01-01T05:00:00Z", "2026-01-01"},
    {NULL, "2026-01-01T00:00:00Z", "2026-01-01"},
    {NULL, "2025-12-31T23:59:59Z", "2025-12-31"},
    {NULL, "1969-12-31T23:59:59Z", "1969-12-31"}, /* negative seconds floor down */
};

static void test_local_day(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(day_cases) / sizeof(day_cases[0]); i++) {
        md_tz_t *tz = NULL;
        md_error_t err = {0};
        if (day_cases[i].zone != NULL && md_tz_load(day_cases[i].zone, &tz, &err) != 0)
            fail_msg("cannot load %s: %s", day_cases[i].zone, err.msg);
        int64_t t = 0;
        assert_true(md_time_parse_iso8601(day_cases[i].utc, &t) >= 0);
        char got[MD_KPI_DATE_TEXT];
        md_kpi_day_text(md_kpi_local_day(tz, t), got, sizeof(got));
        if (strcmp(got, day_cases[i].local_day) != 0)
            fail_msg("case %zu (%s at %s): expected %s, got %s", i,
                     day_cases[i].zone ? day_cases[i].zone : "UTC", day_cases[i].utc,
                     day_cases[i].local_day, got);
        md_tz_free(tz);
    }
}

/* Just after midnight local time on the day after spring-forward, "24h" is
 * the short day itself. */
static void test_range_from_instant_in_zone(void **state) {
    (void)state;
    md_tz_t *tz = NULL;
    md_error_t err = {0};
    assert_int_equal(md_tz_load("America/New_York", &tz, &err), 0);
    int64_t t = 0;
    assert_true(md_time_parse_iso8601("2026-03-09T04:30:00Z", &t) >= 0);
    md_kpi_range_t r;
    assert_int_equal(md_kpi_range(MD_KPI_24H, md_kpi_local_day(tz, t), &r), 0);
    char got[MD_KPI_DATE_TEXT];
    md_kpi_day_text(r.start, got, sizeof(got));
    assert_string_equal(got, "2026-03-08");
    md_kpi_day_text(r.prev_start, got, sizeof(got));
    assert_string_equal(got, "2026-03-07");
    md_tz_free(tz);
}

/* ---- ratios ------------------------------------------------------------------ */

static const struct {
    int64_t num, den, factor;
    int scale;
    int rc;
    const char *want;
} ratio_cases[] = {
    {1, 3, 100, 2, 0, "33.33"},
    {2, 3, 100, 2, 0, "66.67"},
    {1, 8, 1, 2, 0, "0.13"}, /* 0.125: half away from zero */
    {-1, 8, 1, 2, 0, "-0.13"},
    {1, -8, 1, 2, 0, "-0.13"},
    {3, 8, 1, 2, 0, "0.38"},
    {0, 5, 100, 2, 0, "0.00"},
    {7, 2, 1, 0, 0, "4"},
    {5, 5, 100, 2, 0, "100.00"},
    {12345, 1000, 1, 2, 0, "12.35"},
    {INT64_MAX, 1, 1000000, 6, 0, "9223372036854775807000000.000000"},
    {1, 0, 100, 2, -EDOM, NULL},
    {1, 3, 100, 7, -EINVAL, NULL},
    {1, 3, 100, -1, -EINVAL, NULL},
    {1, 3, 0, 2, -EINVAL, NULL},
};

static void test_ratio(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(ratio_cases) / sizeof(ratio_cases[0]); i++) {
        md_dec_t v = dec("424242");
        int rc = md_kpi_ratio(ratio_cases[i].num, ratio_cases[i].den, ratio_cases[i].factor,
                              ratio_cases[i].scale, &v);
        if (rc != ratio_cases[i].rc)
            fail_msg("ratio case %zu: rc %d, expected %d", i, rc, ratio_cases[i].rc);
        char what[32];
        snprintf(what, sizeof(what), "ratio case %zu", i);
        assert_dec_text(&v, ratio_cases[i].want ? ratio_cases[i].want : "424242", what);
    }
}

static void test_flat_band(void **state) {
    (void)state;
    static const struct {
        double band;
        int rc;
        const char *want;
    } cases[] = {
        {1.0, 0, "1"},
        {0.1, 0, "0.1"},
        {0.0, 0, "0"},
        {2.5, 0, "2.5"},
        {-1, -EINVAL, "7"},
        {NAN, -EINVAL, "7"},
        {INFINITY, -EINVAL, "7"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_dec_t v = dec("7");
        assert_int_equal(md_kpi_flat_band(cases[i].band, &v), cases[i].rc);
        char what[32];
        snprintf(what, sizeof(what), "band case %zu", i);
        assert_dec_text(&v, cases[i].want, what);
    }
}

/* ---- change_percentage and trend -------------------------------------------- */

static const struct {
    const char *cur, *prev; /* NULL: SQL NULL */
    const char *band;
    int rc;
    const char *change; /* NULL: no change (NULL in the table) */
    const char *trend;
} change_cases[] = {
    {"110", "100", "1", 0, "10.00", "up"},
    {"90", "100", "1", 0, "-10.00", "down"},
    {"0", "100", "1", 0, "-100.00", "down"},
    {"250", "100", "1", 0, "150.00", "up"},
    /* band edges: a change exactly equal to the band is not flat */
    {"101", "100", "1", 0, "1.00", "up"},
    {"99", "100", "1", 0, "-1.00", "down"},
    {"100.99", "100", "1", 0, "0.99", "flat"},
    {"99.01", "100", "1", 0, "-0.99", "flat"},
    {"100", "100", "1", 0, "0.00", "flat"},
    {"100", "100", "0", 0, "0.00", "flat"}, /* band 0: no change is still flat */
    {"100.01", "100", "0", 0, "0.01", "up"},
    {"102.5", "100", "2.5", 0, "2.50", "up"},
    {"102.49", "100", "2.5", 0, "2.49", "flat"},
    /* rounding half away from zero at 2 decimals, then the band applies */
    {"100.005", "100", "0", 0, "0.01", "up"},
    {"99.995", "100", "0", 0, "-0.01", "down"},
    {"100.004", "100", "0", 0, "0.00", "flat"},
    {"1", "3", "1", 0, "-66.67", "down"},
    {"2", "3", "1", 0, "-33.33", "down"},
    {"4", "3", "1", 0, "33.33", "up"},
    {"12.5", "10", "1", 0, "25.00", "up"}, /* mixed scales */
    {"33.33", "33.3", "1", 0, "0.09", "flat"},
    /* the formula as written: a negative base flips the sign */
    {"-50", "-100", "1", 0, "-50.00", "down"},
    /* zero and NULL bases: no change; direction when both values exist */
    {"5", "0", "1", 0, NULL, "up"},
    {"-3", "0", "1", 0, NULL, "down"},
    {"0", "0", "1", 0, NULL, "flat"},
    {"0.00", "0.0", "1", 0, NULL, "flat"},
    {NULL, "5", "1", 0, NULL, "flat"},
    {"5", NULL, "1", 0, NULL, "flat"},
    {NULL, NULL, "1", 0, NULL, "flat"},
    {NULL, "0", "1", 0, NULL, "flat"},
    /* capacity: 27 integer digits fit, 28 do not */
    {"200000000000000000000000000", "100000000000000000000000000", "1", 0, "100.00", "up"},
    {"2000000000000000000000000000", "1", "1", -ERANGE, NULL, NULL},
    {"NaN", "1", "1", -EINVAL, NULL, NULL},
    {"1", "Infinity", "1", -EINVAL, NULL, NULL},
};

static void test_compare(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(change_cases) / sizeof(change_cases[0]); i++) {
        md_dec_t cur, prev, band = dec(change_cases[i].band);
        if (change_cases[i].cur)
            cur = dec(change_cases[i].cur);
        if (change_cases[i].prev)
            prev = dec(change_cases[i].prev);
        md_kpi_change_t out;
        memset(&out, 0x5a, sizeof(out));
        md_kpi_change_t before = out;
        int rc = md_kpi_compare(change_cases[i].cur ? &cur : NULL,
                                change_cases[i].prev ? &prev : NULL, &band, &out);
        if (rc != change_cases[i].rc)
            fail_msg("change case %zu (%s vs %s): rc %d, expected %d", i,
                     change_cases[i].cur ? change_cases[i].cur : "NULL",
                     change_cases[i].prev ? change_cases[i].prev : "NULL", rc, change_cases[i].rc);
        if (rc != 0) {
            assert_memory_equal(&out, &before, sizeof(out)); /* untouched */
            continue;
        }
        char what[48];
        snprintf(what, sizeof(what), "change case %zu", i);
        if (change_cases[i].change == NULL) {
            if (out.has_change)
                fail_msg("%s: expected no change", what);
        } else {
            if (!out.has_change)
                fail_msg("%s: expected a change of %s", what, change_cases[i].change);
            assert_dec_text(&out.change, change_cases[i].change, what);
        }
        if (strcmp(md_kpi_trend_name(out.trend), change_cases[i].trend) != 0)
            fail_msg("%s: trend %s, expected %s", what, md_kpi_trend_name(out.trend),
                     change_cases[i].trend);
    }
}

/* Ratios compare exactly, not through their rounded stored values. */
static const struct {
    int64_t cn, cd, pn, pd;
    const char *band;
    int rc;
    const char *change; /* NULL: no change */
    const char *trend;
} ratio_change_cases[] = {
    /* 2/3 against 1/3: the stored 66.67 and 33.33 would give 100.03 */
    {2, 3, 1, 3, "1", 0, "100.00", "up"},
    /* 1/3 against 1/2: the stored 33.33 and 50.00 would give -33.34 */
    {1, 3, 1, 2, "1", 0, "-33.33", "down"},
    {1, 3, 2, 6, "1", 0, "0.00", "flat"},
    /* 1001/1000 against 1: exactly 0.10, at the band: not flat */
    {1001, 1000, 1, 1, "0.1", 0, "0.10", "up"},
    {10009, 10000, 1, 1, "0.1", 0, "0.09", "flat"},
    /* half away from zero on the change: 1/8 → 12.5 % of 1 */
    {9, 8, 1, 1, "1", 0, "12.50", "up"},
    {200001, 200000, 1, 1, "0", 0, "0.00", "flat"}, /* 0.0005 % rounds to 0.00 */
    {200001, 100000, 1, 1, "0", 0, "100.00", "up"}, /* 100.001 % */
    /* zero numerator before: no change, direction shown */
    {1, 4, 0, 5, "1", 0, NULL, "up"},
    {0, 4, 0, 5, "1", 0, NULL, "flat"},
    /* a zero denominator is a NULL value */
    {1, 0, 1, 2, "1", 0, NULL, "flat"},
    {1, 2, 1, 0, "1", 0, NULL, "flat"},
    {0, 0, 0, 0, "1", 0, NULL, "flat"},
    {1, -1, 1, 2, "1", -EINVAL, NULL, NULL},
    {100000000000000LL, 1, 1, 1, "1", -ERANGE, NULL, NULL},
    /* the largest terms: 100 × (1 − 1/N) / (1/N) = 100 × (N − 1) */
    {99999999999999LL, 99999999999999LL, 1, 99999999999999LL, "1", 0, "9999999999999800.00", "up"},
};

static void test_compare_ratio(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(ratio_change_cases) / sizeof(ratio_change_cases[0]); i++) {
        md_dec_t band = dec(ratio_change_cases[i].band);
        md_kpi_change_t out;
        memset(&out, 0x5a, sizeof(out));
        md_kpi_change_t before = out;
        int rc =
            md_kpi_compare_ratio(ratio_change_cases[i].cn, ratio_change_cases[i].cd,
                                 ratio_change_cases[i].pn, ratio_change_cases[i].pd, &band, &out);
        if (rc != ratio_change_cases[i].rc)
            fail_msg("ratio case %zu: rc %d, expected %d", i, rc, ratio_change_cases[i].rc);
        if (rc != 0) {
            assert_memory_equal(&out, &before, sizeof(out));
            continue;
        }
        char what[48];
        snprintf(what, sizeof(what), "ratio case %zu", i);
        if (ratio_change_cases[i].change == NULL) {
            if (out.has_change)
                fail_msg("%s: expected no change", what);
        } else {
            if (!out.has_change)
                fail_msg("%s: expected a change of %s", what, ratio_change_cases[i].change);
            assert_dec_text(&out.change, ratio_change_cases[i].change, what);
        }
        if (strcmp(md_kpi_trend_name(out.trend), ratio_change_cases[i].trend) != 0)
            fail_msg("%s: trend %s, expected %s", what, md_kpi_trend_name(out.trend),
                     ratio_change_cases[i].trend);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ranges),    cmocka_unit_test(test_period_names),
        cmocka_unit_test(test_local_day), cmocka_unit_test(test_range_from_instant_in_zone),
        cmocka_unit_test(test_ratio),     cmocka_unit_test(test_flat_band),
        cmocka_unit_test(test_compare),   cmocka_unit_test(test_compare_ratio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
