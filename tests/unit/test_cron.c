/* Unit tests for cron expressions: every syntax form, month ends and leap days,
 * Vixie's day rule, seconds, macros, @every alignment, DST in New York, Berlin
 * and Lord Howe (skip the gap, fire a repeated wall time once), md_cron_prev,
 * the rejection messages, and a brute-force oracle over DST weekends. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/cron.h"
#include "medallion/timefmt.h"
#include "medallion/tz.h"

static int64_t ts(const char *iso) {
    int64_t t = 0;
    if (md_time_parse_iso8601(iso, &t) < 0)
        fail_msg("bad test timestamp %s", iso);
    return t;
}

static md_cron_t *parse(const char *expr) {
    md_cron_t *c = NULL;
    md_error_t err = {0};
    int r = md_cron_parse(expr, &c, &err);
    if (r < 0)
        fail_msg("md_cron_parse(\"%s\") = %d: %s", expr, r, err.msg);
    return c;
}

static md_tz_t *load(const char *zone) {
    if (zone == NULL)
        return NULL;
    md_tz_t *tz = NULL;
    md_error_t err = {0};
    if (md_tz_load(zone, &tz, &err) < 0)
        fail_msg("md_tz_load(%s): %s", zone, err.msg);
    return tz;
}

/* ---- next ----------------------------------------------------------------- */

#define MAXN 8
static const struct {
    const char *expr;
    const char *zone; /* NULL = UTC */
    const char *from;
    const char *want[MAXN]; /* consecutive fire times, NULL-terminated */
} next_cases[] = {
    /* syntax forms, UTC; 2026-01-01 is a Thursday */
    {"* * * * *", NULL, "2026-01-01T00:00:00Z", {"2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"}},
    {"*/15 * * * *",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z",
      "2026-01-01T01:00:00Z"}},
    {"1-30/5 * * * *",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:01:00Z", "2026-01-01T00:06:00Z", "2026-01-01T00:11:00Z",
      "2026-01-01T00:16:00Z", "2026-01-01T00:21:00Z", "2026-01-01T00:26:00Z",
      "2026-01-01T01:01:00Z"}},
    {"5/10 * * * *",
     NULL,
     "2026-01-01T00:50:00Z",
     {"2026-01-01T00:55:00Z", "2026-01-01T01:05:00Z", "2026-01-01T01:15:00Z"}},
    {"0,30 9-17 * * MON-FRI",
     NULL,
     "2026-01-02T16:45:00Z",
     {"2026-01-02T17:00:00Z", "2026-01-02T17:30:00Z", "2026-01-05T09:00:00Z",
      "2026-01-05T09:30:00Z"}},
    {"0 12 * JAN,jul *",
     NULL,
     "2026-01-31T12:00:00Z",
     {"2026-07-01T12:00:00Z", "2026-07-02T12:00:00Z"}},
    {"0 0 * feb-Mar sun",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-02-01T00:00:00Z", "2026-02-08T00:00:00Z"}},
    {"10,20-22,40 3 * * *",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-01T03:10:00Z", "2026-01-01T03:20:00Z", "2026-01-01T03:21:00Z",
      "2026-01-01T03:22:00Z", "2026-01-01T03:40:00Z", "2026-01-02T03:10:00Z"}},
    {"0 22/1 * * *",
     NULL,
     "2026-01-01T21:59:59Z",
     {"2026-01-01T22:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T22:00:00Z"}},
    /* month ends: the 31st only in long months, the 30th never in February */
    {"0 0 31 * *",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z",
      "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z",
      "2026-12-31T00:00:00Z", "2027-01-31T00:00:00Z"}},
    {"0 0 30 * *", NULL, "2026-01-30T00:00:00Z", {"2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"}},
    {"59 23 31 12 *", NULL, "2026-12-31T23:59:00Z", {"2027-12-31T23:59:00Z"}},
    /* leap days: 2000 is leap, 2100 is not */
    {"0 0 29 2 *", NULL, "2024-03-01T00:00:00Z", {"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
    {"0 0 29 2 *", NULL, "2000-01-01T00:00:00Z", {"2000-02-29T00:00:00Z", "2004-02-29T00:00:00Z"}},
    {"0 0 29 2 *", NULL, "2096-03-01T00:00:00Z", {"2104-02-29T00:00:00Z"}},
    {"0 0 * 2 *", NULL, "2100-02-27T12:00:00Z", {"2100-02-28T00:00:00Z", "2101-02-01T00:00:00Z"}},
    /* Vixie day rule: both restricted → either; a '*'-led field → both must match */
    {"0 0 13 * FRI",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z",
      "2026-01-16T00:00:00Z", "2026-01-23T00:00:00Z", "2026-01-30T00:00:00Z",
      "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z"}},
    {"0 0 13 * *", NULL, "2026-01-01T00:00:00Z", {"2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"}},
    {"0 0 * * FRI", NULL, "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z"}},
    {"0 0 */2 * FRI",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-09T00:00:00Z", "2026-01-23T00:00:00Z", "2026-02-13T00:00:00Z",
      "2026-02-27T00:00:00Z"}},
    {"0 0 1-7 * */7",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-04T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
    /* Sunday as 0 or 7, and ranges ending on Sunday */
    {"0 0 * * 7", NULL, "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"0 0 * * 0", NULL, "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"0 0 * * 5-7",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
      "2026-01-09T00:00:00Z"}},
    {"0 0 * * FRI-SUN",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
      "2026-01-09T00:00:00Z"}},
    /* "N/step" in day-of-week runs to 7 (Sunday again), as "N-7/step" */
    {"0 0 * * 7/1", NULL, "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"0 0 * * 3/2",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-02T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-07T00:00:00Z",
      "2026-01-09T00:00:00Z"}},
    {"0 0 * * sat/1",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z"}},
    /* seconds field */
    {"*/20 * * * * *",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z"}},
    {"30 0 0 * * *",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:00:30Z", "2026-01-02T00:00:30Z"}},
    {"0 0 12 * * MON", NULL, "2026-01-01T00:00:00Z", {"2026-01-05T12:00:00Z"}},
    /* macros */
    {"@yearly", NULL, "2026-06-01T00:00:00Z", {"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
    {"@annually", NULL, "2026-06-01T00:00:00Z", {"2027-01-01T00:00:00Z"}},
    {"@monthly", NULL, "2026-01-31T12:00:00Z", {"2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"}},
    {"@weekly", NULL, "2026-01-01T00:00:00Z", {"2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"}},
    {"@daily", NULL, "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"}},
    {"@midnight", NULL, "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}},
    {"@hourly", NULL, "2026-01-01T00:59:59Z", {"2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"}},
    {"@DAILY", NULL, "2026-01-01T00:00:00Z", {"2026-01-02T00:00:00Z"}},
    /* @every: whole multiples of the interval since the epoch, whatever the zone */
    {"@every 30s", NULL, "2026-01-01T00:00:10Z", {"2026-01-01T00:00:30Z", "2026-01-01T00:01:00Z"}},
    {"@every 1h30m",
     NULL,
     "2026-01-01T00:00:00Z",
     {"2026-01-01T01:30:00Z", "2026-01-01T03:00:00Z"}},
    {"@every 7m", NULL, "2026-01-01T00:00:00Z", {"2026-01-01T00:07:00Z", "2026-01-01T00:14:00Z"}},
    {"@every 13s",
     "America/New_York",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T00:00:03Z", "2026-01-01T00:00:16Z"}},
    {"@every 1w", NULL, "2026-01-01T00:00:00Z", {"2026-01-08T00:00:00Z", "2026-01-15T00:00:00Z"}},
    {"@every 1d", "Europe/Berlin", "2026-03-28T12:00:00Z", {"2026-03-29T00:00:00Z"}},
    /* New York spring forward, 2026-03-08 02:00 EST → 03:00 EDT */
    {"30 2 * * *",
     "America/New_York",
     "2026-03-07T00:00:00Z",
     {"2026-03-07T07:30:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"}},
    {"0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", {"2026-03-09T06:00:00Z"}},
    {"0 * * * *", /* local 01:00, (02:00 missing), 03:00, 04:00 */
     "America/New_York",
     "2026-03-08T05:30:00Z",
     {"2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"}},
    {"0 0 * * *",
     "America/New_York",
     "2026-03-07T12:00:00Z",
     {"2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"}},
    {"30 2 * * *", "America/New_York", "2080-03-09T12:00:00Z", {"2080-03-11T06:30:00Z"}},
    /* New York fall back, 2026-11-01 02:00 EDT → 01:00 EST */
    {"30 1 * * *",
     "America/New_York",
     "2026-10-31T12:00:00Z",
     {"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
    {"30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", {"2026-11-02T06:30:00Z"}},
    {"30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", {"2026-11-02T06:30:00Z"}},
    {"0 1 * * *",
     "America/New_York",
     "2026-10-31T12:00:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-02T06:00:00Z"}},
    {"0 * * * *", /* the repeated 01:00 fires once */
     "America/New_York",
     "2026-11-01T04:00:00Z",
     {"2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z"}},
    {"*/5 * * * *", /* from inside the repeated hour: its wall times already fired */
     "America/New_York",
     "2026-11-01T06:10:00Z",
     {"2026-11-01T07:00:00Z", "2026-11-01T07:05:00Z"}},
    {"*/5 * * * *",
     "America/New_York",
     "2026-11-01T05:50:00Z",
     {"2026-11-01T05:55:00Z", "2026-11-01T07:00:00Z"}},
    {"*/30 * * * *",
     "America/New_York",
     "2026-11-01T05:00:00Z",
     {"2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z"}},
    {"0 * * * *",
     "America/New_York",
     "2080-11-03T04:30:00Z",
     {"2080-11-03T05:00:00Z", "2080-11-03T07:00:00Z"}},
    /* Berlin: 2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET */
    {"30 2 * * *",
     "Europe/Berlin",
     "2026-03-28T12:00:00Z",
     {"2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
    {"0 * * * *",
     "Europe/Berlin",
     "2026-03-29T00:00:00Z",
     {"2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}},
    {"30 2 * * *",
     "Europe/Berlin",
     "2026-10-24T12:00:00Z",
     {"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
    {"0 * * * *",
     "Europe/Berlin",
     "2026-10-24T23:30:00Z",
     {"2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z", "2026-10-25T03:00:00Z"}},
    {"0 * * * *", "Europe/Berlin", "2026-10-25T01:30:00Z", {"2026-10-25T02:00:00Z"}},
    {"0 9 * * MON-FRI",
     "Europe/Berlin",
     "2026-03-27T09:00:00Z",
     {"2026-03-30T07:00:00Z", "2026-03-31T07:00:00Z"}},
    /* Lord Howe: half-hour DST; gap 02:00-02:30 on 2026-10-04, repeat 01:30-02:00 on 04-05 */
    {"0 2 * * *",
     "Australia/Lord_Howe",
     "2026-10-03T00:00:00Z",
     {"2026-10-04T15:00:00Z", "2026-10-05T15:00:00Z"}},
    {"45 1 * * *",
     "Australia/Lord_Howe",
     "2026-04-04T00:00:00Z",
     {"2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"}},
    {"0 0 * * *",
     "Asia/Kolkata",
     "2026-01-01T00:00:00Z",
     {"2026-01-01T18:30:00Z", "2026-01-02T18:30:00Z"}},
};

static void test_next(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(next_cases) / sizeof(next_cases[0]); i++) {
        md_cron_t *c = parse(next_cases[i].expr);
        md_tz_t *tz = load(next_cases[i].zone);
        int64_t t = ts(next_cases[i].from);
        for (int k = 0; k < MAXN && next_cases[i].want[k] != NULL; k++) {
            int64_t n = 0;
            int r = md_cron_next(c, tz, t, &n);
            char got[21];
            if (r != 0 || n != ts(next_cases[i].want[k]))
                fail_msg("\"%s\" in %s after %s: r=%d got %s, want %s", next_cases[i].expr,
                         next_cases[i].zone ? next_cases[i].zone : "UTC",
                         md_time_format_iso8601(t, got), r, md_time_format_iso8601(n, got),
                         next_cases[i].want[k]);
            t = n;
        }
        md_tz_free(tz);
        md_cron_free(c);
    }
}

static void test_never_fires(void **state) {
    (void)state;
    /* Day fields that match no date in the 400-year Gregorian cycle are a
     * parse error, naming the fields; rare ones are not. */
    const char *never[] = {"0 0 30 2 *", "0 0 31 4 *", "0 0 31 6,9,11 *", "0 0 31 2 */2"};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        md_cron_t *c = NULL;
        md_error_t err = {0};
        assert_int_equal(md_cron_parse(never[i], &c, &err), -EINVAL);
        assert_null(c);
        assert_non_null(strstr(err.msg, "never fires"));
        assert_non_null(strstr(err.msg, "day-of-month"));
    }
    /* February 29 on a Sunday (day-of-week "*" + step: not restricted, so
     * both must hold): 2032, then 2060 and 2088. */
    md_cron_t *rare = parse("0 0 29 2 */7");
    int64_t n = 0;
    assert_int_equal(md_cron_next(rare, NULL, ts("2033-01-01T00:00:00Z"), &n), 0);
    assert_int_equal(n, ts("2060-02-29T00:00:00Z"));
    assert_int_equal(md_cron_prev(rare, NULL, ts("2059-01-01T00:00:00Z"), &n), 0);
    assert_int_equal(n, ts("2032-02-29T00:00:00Z"));
    md_cron_free(rare);
    /* Out of the supported calendar (years 1-9999), and a NULL expression:
     * nothing is made up near the end. */
    md_cron_t *c = parse("* * * * *");
    n = 42;
    assert_int_equal(md_cron_next(c, NULL, INT64_MAX, &n), -ERANGE);
    assert_int_equal(md_cron_prev(c, NULL, INT64_MIN, &n), -ERANGE);
    assert_int_equal(md_cron_next(NULL, NULL, 0, &n), -EINVAL);
    assert_int_equal(n, 42);
    md_cron_free(c);
    const char *late[] = {"0 0 * * *", "0 0 1 1 *", "@every 1h"};
    for (size_t i = 0; i < sizeof(late) / sizeof(late[0]); i++) {
        c = parse(late[i]);
        assert_int_equal(md_cron_next(c, NULL, ts("9999-12-31T23:00:00Z"), &n), -ERANGE);
        assert_int_equal(n, 42);
        md_cron_free(c);
    }
    md_cron_free(NULL);
}

/* ---- prev ----------------------------------------------------------------- */

static const struct {
    const char *expr, *zone, *at, *want;
} prev_cases[] = {
    {"0 0 * * *", NULL, "2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"}, /* at counts */
    {"0 0 * * *", NULL, "2026-01-01T00:00:01Z", "2026-01-01T00:00:00Z"},
    {"0 0 * * *", NULL, "2025-12-31T23:59:59Z", "2025-12-31T00:00:00Z"},
    {"*/15 * * * *", NULL, "2026-01-01T10:44:59Z", "2026-01-01T10:30:00Z"},
    {"0 0 29 2 *", NULL, "2026-06-01T00:00:00Z", "2024-02-29T00:00:00Z"},
    {"0 0 29 2 *", NULL, "2104-01-01T00:00:00Z", "2096-02-29T00:00:00Z"},
    {"0 0 31 * *", NULL, "2026-05-30T00:00:00Z", "2026-03-31T00:00:00Z"},
    {"0 0 13 * FRI", NULL, "2026-01-12T12:00:00Z", "2026-01-09T00:00:00Z"},
    {"0 0 13 * FRI", NULL, "2026-01-14T12:00:00Z", "2026-01-13T00:00:00Z"},
    {"0,30 9-17 * * MON-FRI", NULL, "2026-01-05T08:00:00Z", "2026-01-02T17:30:00Z"},
    {"15 30 12 * * *", NULL, "2026-01-01T12:30:14Z", "2025-12-31T12:30:15Z"},
    {"@monthly", NULL, "2026-03-15T00:00:00Z", "2026-03-01T00:00:00Z"},
    {"@every 30s", NULL, "2026-01-01T00:00:45Z", "2026-01-01T00:00:30Z"},
    {"@every 30s", NULL, "2026-01-01T00:00:30Z", "2026-01-01T00:00:30Z"},
    {"@every 13s", NULL, "2026-01-01T00:00:00Z", "2025-12-31T23:59:50Z"},
    {"30 2 * * *", "America/New_York", "2026-03-08T12:00:00Z", "2026-03-07T07:30:00Z"},
    {"0 * * * *", "America/New_York", "2026-03-08T07:30:00Z", "2026-03-08T07:00:00Z"},
    {"0 * * * *", "America/New_York", "2026-03-08T06:59:59Z", "2026-03-08T06:00:00Z"},
    {"30 1 * * *", "America/New_York", "2026-11-01T06:45:00Z", "2026-11-01T05:30:00Z"},
    {"30 1 * * *", "America/New_York", "2026-11-01T06:31:00Z", "2026-11-01T05:30:00Z"},
    {"45 1 * * *", "America/New_York", "2026-11-01T05:50:00Z", "2026-11-01T05:45:00Z"},
    {"0 * * * *", "America/New_York", "2026-11-01T06:30:00Z", "2026-11-01T05:00:00Z"},
    {"0 * * * *", "America/New_York", "2026-11-01T07:00:00Z", "2026-11-01T07:00:00Z"},
    {"*/5 * * * *", "America/New_York", "2026-11-01T06:10:00Z", "2026-11-01T05:55:00Z"},
    {"* * * * * *", "America/New_York", "2026-11-01T06:10:00Z", "2026-11-01T05:59:59Z"},
    {"30 2 * * *", "Europe/Berlin", "2026-10-25T03:00:00Z", "2026-10-25T00:30:00Z"},
    {"30 2 * * *", "Europe/Berlin", "2026-03-29T12:00:00Z", "2026-03-28T01:30:00Z"},
    {"0 2 * * *", "Australia/Lord_Howe", "2026-10-04T12:00:00Z", "2026-10-02T15:30:00Z"},
    {"0 2 * * *", "Australia/Lord_Howe", "2026-10-05T00:00:00Z", "2026-10-04T15:00:00Z"},
};

static void test_prev(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(prev_cases) / sizeof(prev_cases[0]); i++) {
        md_cron_t *c = parse(prev_cases[i].expr);
        md_tz_t *tz = load(prev_cases[i].zone);
        int64_t p = 0;
        int r = md_cron_prev(c, tz, ts(prev_cases[i].at), &p);
        char got[21];
        if (r != 0 || p != ts(prev_cases[i].want))
            fail_msg("prev \"%s\" in %s at %s: r=%d got %s, want %s", prev_cases[i].expr,
                     prev_cases[i].zone ? prev_cases[i].zone : "UTC", prev_cases[i].at, r,
                     md_time_format_iso8601(p, got), prev_cases[i].want);
        md_tz_free(tz);
        md_cron_free(c);
    }
}

/* ---- rejections ----------------------------------------------------------- */

static const struct {
    const char *expr, *msg;
} bad_cases[] = {
    {"61 * * * *", "minute field \"61\": value 61 out of range 0-59"},
    {"*/61 * * * *", "minute field \"*/61\": step 61 out of range 1-60"},
    /* the step as written, never a truncated number */
    {"*/4294967297 * * * *", "minute field \"*/4294967297\": step 4294967297 out of range 1-60"},
    {"* 24 * * *", "hour field \"24\": value 24 out of range 0-23"},
    {"* * 0 * *", "day-of-month field \"0\": value 0 out of range 1-31"},
    {"* * 32 * *", "day-of-month field \"32\": value 32 out of range 1-31"},
    {"* * * 0 *", "month field \"0\": value 0 out of range 1-12"},
    {"* * * 13 *", "month field \"13\": value 13 out of range 1-12"},
    {"* * * * 8", "day-of-week field \"8\": value 8 out of range 0-7"},
    {"60 * * * * *", "second field \"60\": value 60 out of range 0-59"},
    {"0 1-99 * * *", "hour field \"1-99\": value 99 out of range 0-23"},
    {"99999999999 * * * *", "minute field \"99999999999\": value 99999999999 out of range 0-59"},
    {"*/0 * * * *", "minute field \"*/0\": step must be >= 1"},
    {"* */0 * * *", "hour field \"*/0\": step must be >= 1"},
    {"*/61 * * * *", "minute field \"*/61\": step 61 out of range 1-60"},
    {"*/ * * * *", "minute field \"*/\": missing step"},
    {"*/x * * * *", "minute field \"*/x\": bad step \"x\""},
    {"5-1 * * * *", "minute field \"5-1\": bad range: 5 is after 1"},
    {"0 0 * DEC-JAN *", "month field \"DEC-JAN\": bad range: 12 is after 1"},
    {"0 0 * * FRI-MON", "day-of-week field \"FRI-MON\": bad range: 5 is after 1"},
    {"0 0 * * MON-", "day-of-week field \"MON-\": bad range"},
    {"-5 * * * *", "minute field \"-5\": bad range"},
    {"1-2-3 * * * *", "minute field \"1-2-3\": bad value \"2-3\""},
    {"1,,2 * * * *", "minute field \"1,,2\": empty list item"},
    {"1, * * * *", "minute field \"1,\": empty list item"},
    {"1x * * * *", "minute field \"1x\": bad value \"1x\""},
    {"? * * * *", "minute field \"?\": bad value \"?\""},
    {"** * * * *", "minute field \"**\": bad value \"**\""},
    {"* * * *", "expected 5 or 6 fields, got 4"},
    {"* * * * * * *", "expected 5 or 6 fields, got 7"},
    {"*", "expected 5 or 6 fields, got 1"},
    {"", "empty expression"},
    {"   \t ", "empty expression"},
    {"a b c d e", "minute field \"a\": names are not allowed here, got \"a\""},
    {"0 JAN * * *", "hour field \"JAN\": names are not allowed here, got \"JAN\""},
    {"0 0 MON * *", "day-of-month field \"MON\": names are not allowed here, got \"MON\""},
    {"0 0 * MON *", "month field \"MON\": unknown name \"MON\""},
    {"0 0 * * JAN", "day-of-week field \"JAN\": unknown name \"JAN\""},
    {"0 0 * JAN-FOO *", "month field \"JAN-FOO\": unknown name \"FOO\""},
    {"0 0 * * MONDAY", "day-of-week field \"MONDAY\": unknown name \"MONDAY\""},
    {"@foo", "unknown macro \"@foo\""},
    {"@daily 5", "@daily takes no fields"},
    {"@every", "@every takes exactly one duration, like \"@every 30s\""},
    {"@every 5m 1h", "@every takes exactly one duration, like \"@every 30s\""},
    {"@every 0s", "@every: bad duration \"0s\""},
    {"@every 5", "@every: bad duration \"5\""},
    {"@every -5s", "@every: bad duration \"-5s\""},
    {"@every 500ms", "@every: duration \"500ms\" must be a whole number of seconds"},
    {"@every 1s500ms", "@every: duration \"1s500ms\" must be a whole number of seconds"},
    {"@every 99999999999999w", "@every: duration \"99999999999999w\" is too large"},
};

static void test_rejects(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        md_cron_t *c = (md_cron_t *)0x1;
        md_error_t err = {0};
        int r = md_cron_parse(bad_cases[i].expr, &c, &err);
        char want[1024];
        snprintf(want, sizeof(want), "bad cron expression \"%s\": %s", bad_cases[i].expr,
                 bad_cases[i].msg);
        if (r != -EINVAL || strcmp(err.msg, want) != 0)
            fail_msg("\"%s\": r=%d msg [%s], want [%s]", bad_cases[i].expr, r, err.msg, want);
        assert_int_equal(err.code, -EINVAL);
        assert_ptr_equal(c, (md_cron_t *)0x1); /* untouched on failure */
    }
    md_cron_t *c = NULL;
    assert_int_equal(md_cron_parse(NULL, &c, NULL), -EINVAL);
    assert_int_equal(md_cron_parse("61 * * * *", &c, NULL), -EINVAL); /* NULL err is fine */
    assert_null(c);
}

static void test_accessors(void **state) {
    (void)state;
    static const struct {
        const char *expr;
        int64_t every;
    } cases[] = {
        {"@every 30s", 30}, {"@every 1h30m", 5400}, {"@every 2d", 172800}, {"@hourly", 0},
        {"*/5 * * * *", 0}, {"  0 0 * * *  ", 0},   {"0\t0 * * *\t*", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_cron_t *c = parse(cases[i].expr);
        assert_int_equal(md_cron_every_seconds(c), cases[i].every);
        assert_string_equal(md_cron_text(c), cases[i].expr);
        md_cron_free(c);
    }
    assert_int_equal(md_cron_every_seconds(NULL), 0);
    assert_null(md_cron_text(NULL));
}

/* ---- brute-force oracle ----------------------------------------------------- */

/* Predicates written independently of the parser: a minute-by-minute scan of
 * UTC that fires where the wall time matches and is that wall time's first
 * occurrence must agree with md_cron_next/prev exactly. */
typedef bool (*pred_t)(const md_civil_t *c);
static bool p_quarter(const md_civil_t *c) {
    return c->min % 15 == 0;
}
static bool p_0230(const md_civil_t *c) {
    return c->hour == 2 && c->min == 30;
}
static bool p_hourly(const md_civil_t *c) {
    return c->min == 0;
}
static bool p_half_1to3(const md_civil_t *c) {
    return c->min % 30 == 0 && c->hour >= 1 && c->hour <= 3;
}
static bool p_0115_sun(const md_civil_t *c) {
    return c->hour == 1 && c->min == 15 && c->wday == 0;
}
static bool p_either(const md_civil_t *c) {
    return c->hour == 2 && c->min == 0 && (c->day % 10 == 1 || c->wday == 6);
}
static bool p_both(const md_civil_t *c) {
    return c->hour == 2 && c->min == 0 && c->day % 2 == 1 && c->wday == 0;
}

static void test_oracle(void **state) {
    (void)state;
    static const struct {
        const char *expr;
        pred_t pred;
    } exprs[] = {
        {"*/15 * * * *", p_quarter},  {"30 2 * * *", p_0230},
        {"0 * * * *", p_hourly},      {"0,30 1-3 * * *", p_half_1to3},
        {"15 1 * * SUN", p_0115_sun}, {"0 2 1,11,21,31 * SAT", p_either},
        {"0 2 */2 * SUN", p_both},
    };
    static const struct {
        const char *zone, *from, *to;
    } windows[] = {
        {"America/New_York", "2026-03-06T00:00:00Z", "2026-03-10T00:00:00Z"},
        {"America/New_York", "2026-10-30T00:00:00Z", "2026-11-03T00:00:00Z"},
        {"Europe/Berlin", "2026-03-27T00:00:00Z", "2026-04-01T00:00:00Z"},
        {"Europe/Berlin", "2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"},
        {"Australia/Lord_Howe", "2026-10-01T00:00:00Z", "2026-10-06T00:00:00Z"},
        {"Australia/Lord_Howe", "2026-04-02T00:00:00Z", "2026-04-07T00:00:00Z"},
        {"Europe/Berlin", "2080-10-25T00:00:00Z", "2080-10-29T00:00:00Z"},
    };
    int64_t total = 0;
    for (size_t w = 0; w < sizeof(windows) / sizeof(windows[0]); w++) {
        md_tz_t *tz = load(windows[w].zone);
        int64_t from = ts(windows[w].from), to = ts(windows[w].to);
        for (size_t e = 0; e < sizeof(exprs) / sizeof(exprs[0]); e++) {
            md_cron_t *c = parse(exprs[e].expr);
            int64_t cur = from, fires = 0;
            for (int64_t u = from + 60; u <= to; u += 60) {
                int64_t wall = md_tz_utc_to_local(tz, u), first[2];
                md_civil_t cv;
                md_civil_from_seconds(wall, &cv);
                if (!exprs[e].pred(&cv) || md_tz_local_to_utc(tz, wall, first) < 1 || first[0] != u)
                    continue;
                int64_t n = 0, p = 0;
                char a[21], b[21];
                if (md_cron_next(c, tz, cur, &n) != 0 || n != u)
                    fail_msg("\"%s\" %s after %s: next %s, oracle %s", exprs[e].expr,
                             windows[w].zone, md_time_format_iso8601(cur, a),
                             md_time_format_iso8601(n, b), md_time_format_iso8601(u, a));
                if (cur > from && (md_cron_prev(c, tz, u - 1, &p) != 0 || p != cur))
                    fail_msg("\"%s\" %s prev before %s: %s, oracle %s", exprs[e].expr,
                             windows[w].zone, md_time_format_iso8601(u, a),
                             md_time_format_iso8601(p, b), md_time_format_iso8601(cur, a));
                assert_int_equal(md_cron_prev(c, tz, u, &p), 0);
                assert_int_equal(p, u);
                cur = u;
                fires++;
            }
            /* and nothing the oracle missed between the last fire and the window end */
            int64_t n = 0;
            assert_int_equal(md_cron_next(c, tz, cur, &n), 0);
            assert_true(n > to);
            total += fires;
            md_cron_free(c);
        }
        md_tz_free(tz);
    }
    assert_true(total > 1000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next),      cmocka_unit_test(test_never_fires),
        cmocka_unit_test(test_prev),      cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_accessors), cmocka_unit_test(test_oracle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
