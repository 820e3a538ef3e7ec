/* Unit tests for ISO-8601 parsing/formatting and for `medalliond cron-next`
 * (md_cli_cron_next), whose stdout/stderr are captured into temp files. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "medallion/cli.h"
#include "medallion/timefmt.h"

static const struct {
    const char *text;
    int64_t t;
} good[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"1970-01-01", 0},
    {"1969-12-31T23:59:59Z", -1},
    {"2026-03-08T07:00:00Z", 1772953200},
    {"2026-03-08t07:00:00z", 1772953200},
    {"2026-03-08 07:00:00", 1772953200},
    {"2026-03-08T07:00:00", 1772953200},
    {"2026-03-08T02:00:00-05:00", 1772953200},
    {"2026-03-08T08:00:00+01:00", 1772953200},
    {"2026-03-08T08:00:00+0100", 1772953200},
    {"2026-03-08T08:00:00+01", 1772953200},
    {"2026-03-08T12:30:00+05:30", 1772953200},
    {"2026-03-08 07:00:00.999+00", 1772953200}, /* PostgreSQL's text form */
    {"2026-03-08", 1772928000},
    {"2000-02-29", 951782400},
    {"2026-12-31T23:59:59Z", 1798761599},
    {"2026-03-08T07:00", 1772953200}, /* hh:mm */
    {"2026-03-08T07:00Z", 1772953200},
    {"2026-03-08T08:00+01:00", 1772953200},
    {"0001-01-01T00:00:00Z", -62135596800},
};

static const char *const bad[] = {
    "",
    "2026",
    "2026-3-8",
    "2026-03-08T",
    "2026-03-08T07:",
    "2026-03-08T07:00:",
    "2026-03-08T07:00.5Z",
    "0000-12-31",
    "2026-03-08T07:00:00ZZ",
    "2026-03-08T24:00:00Z",
    "2026-03-08T23:60:00Z",
    "2026-03-08T23:59:60Z",
    "2026-02-29",
    "2100-02-29",
    "2026-04-31",
    "2026-13-01",
    "2026-00-10",
    "2026-03-00",
    "2026-03-08X07:00:00Z",
    "2026-03-08T07:00:00+1",
    "2026-03-08T07:00:00+24:00",
    "2026-03-08T07:00:00.Z",
    " 2026-03-08",
    "yesterday",
};

static void test_parse(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        int64_t t = 0;
        int r = md_time_parse_iso8601(good[i].text, &t);
        if (r != 0 || t != good[i].t)
            fail_msg("\"%s\": r=%d t=%lld, want %lld", good[i].text, r, (long long)t,
                     (long long)good[i].t);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 77;
        if (md_time_parse_iso8601(bad[i], &t) != -EINVAL)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(t, 77);
    }
    int64_t t;
    assert_int_equal(md_time_parse_iso8601(NULL, &t), -EINVAL);
}

static void test_format(void **state) {
    (void)state;
    static const struct {
        int64_t t;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00Z"},          {-1, "1969-12-31T23:59:59Z"},
        {1772953200, "2026-03-08T07:00:00Z"}, {951782400, "2000-02-29T00:00:00Z"},
        {4107542400, "2100-03-01T00:00:00Z"}, {INT64_MAX, "9999-12-31T23:59:59Z"},
        {INT64_MIN, "0000-01-01T00:00:00Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[21];
        assert_ptr_equal(md_time_format_iso8601(cases[i].t, buf), buf);
        assert_string_equal(buf, cases[i].text);
    }
}

/* ---- cron-next ------------------------------------------------------------ */

/* Runs md_cli_cron_next with stdout and stderr sent to files; returns its code. */
static int run_cli(const char *const *args, char *out, size_t outlen, char *err, size_t errlen) {
    char *argv[16];
    int argc = 0;
    for (; args[argc] != NULL; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;

    FILE *fo = tmpfile(), *fe = tmpfile();
    assert_non_null(fo);
    assert_non_null(fe);
    fflush(stdout);
    fflush(stderr);
    int so = dup(1), se = dup(2);
    dup2(fileno(fo), 1);
    dup2(fileno(fe), 2);
    int rc = md_cli_cron_next(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    close(so);
    close(se);

    rewind(fo);
    rewind(fe);
    size_t n = fread(out, 1, outlen - 1, fo);
    out[n] = '\0';
    n = fread(err, 1, errlen - 1, fe);
    err[n] = '\0';
    fclose(fo);
    fclose(fe);
    return rc;
}

static void test_cron_next_cli(void **state) {
    (void)state;
    static const struct {
        const char *args[10];
        int rc;
        const char *out; /* exact stdout */
        const char *err; /* substring of stderr, or NULL for empty */
    } cases[] = {
        {{"cron-next", "*/15 * * * *", "--from", "2026-01-01T00:00:00Z", NULL},
         0,
         "2026-01-01T00:15:00Z\n2026-01-01T00:30:00Z\n2026-01-01T00:45:00Z\n"
         "2026-01-01T01:00:00Z\n2026-01-01T01:15:00Z\n",
         NULL},
        {{"cron-next", "30 2 * * *", "--from", "2026-03-07 12:00:00", "--count", "2", "--tz",
          "America/New_York", NULL},
         0,
         "2026-03-09T06:30:00Z\n2026-03-10T06:30:00Z\n",
         NULL},
        {{"cron-next", "--count=3", "--tz=Europe/Berlin", "--from=2026-10-24T23:30:00Z",
          "0 * * * *", NULL},
         0,
         "2026-10-25T00:00:00Z\n2026-10-25T02:00:00Z\n2026-10-25T03:00:00Z\n",
         NULL},
        {{"cron-next", "@daily", "--from", "2026-01-01", "--count", "1", NULL},
         0,
         "2026-01-02T00:00:00Z\n",
         NULL},
        {{"cron-next", "0 9 * * *", "--from", "2026-01-01T09:00:00+01:00", "--count", "1", NULL},
         0,
         "2026-01-01T09:00:00Z\n",
         NULL},
        {{"cron-next", "*/0 * * * *", NULL},
         2,
         "",
         "bad cron expression \"*/0 * * * *\": minute field \"*/0\": step must be >= 1"},
        {{"cron-next", "0 0 * * MON-", NULL}, 2, "", "day-of-week field \"MON-\": bad range"},
        {{"cron-next", "* * * *", NULL}, 2, "", "expected 5 or 6 fields, got 4"},
        {{"cron-next", "0 0 30 2 *", "--from", "2026-01-01", NULL},
         2,
         "",
         "\"0 0 30 2 *\": it never fires: no date matches its day-of-month"},
        /* rare, not never: February 29 on a Sunday */
        {{"cron-next", "0 0 29 2 */7", "--from", "2033-01-01", "--count", "2", NULL},
         0,
         "2060-02-29T00:00:00Z\n2088-02-29T00:00:00Z\n",
         NULL},
        /* the end of the calendar: what fires is printed, nothing is made up */
        {{"cron-next", "0 0 * * *", "--from", "9999-12-29T12:00:00Z", "--count", "5", NULL},
         0,
         "9999-12-30T00:00:00Z\n9999-12-31T00:00:00Z\n",
         "before the end of year 9999"},
        {{"cron-next", "0 0 * * *", "--from", "9999-12-31T00:00:00Z", NULL},
         2,
         "",
         "before the end of year 9999"},
        {{"cron-next", NULL}, 2, "", "usage:"},
        {{"cron-next", "* * * * *", "extra", NULL}, 2, "", "unexpected argument \"extra\""},
        {{"cron-next", "* * * * *", "--from", "yesterday", NULL}, 2, "", "bad --from"},
        {{"cron-next", "* * * * *", "--from", NULL}, 2, "", "--from needs a value"},
        {{"cron-next", "* * * * *", "--count", "0", NULL}, 2, "", "--count must be"},
        {{"cron-next", "* * * * *", "--count", "5x", NULL}, 2, "", "--count must be"},
        {{"cron-next", "* * * * *", "--tz", "../etc/passwd", NULL}, 2, "", "bad time zone"},
        {{"cron-next", "* * * * *", "--tz", "Mars/Olympus", NULL}, 2, "", "unknown time zone"},
        {{"cron-next", "* * * * *", "--bogus", NULL}, 2, "", "bad option \"--bogus\""},
        {{"cron-next", "--help", NULL}, 0, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[4096], err[4096];
        int rc = run_cli(cases[i].args, out, sizeof(out), err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, want %d; stderr: %s", i, cases[i].args[1], rc,
                     cases[i].rc, err);
        if (cases[i].out != NULL)
            assert_string_equal(out, cases[i].out);
        else
            assert_non_null(strstr(out, "usage:"));
        if (cases[i].err != NULL) {
            if (strstr(err, cases[i].err) == NULL)
                fail_msg("case %zu: stderr [%s] lacks [%s]", i, err, cases[i].err);
        } else {
            assert_string_equal(err, "");
        }
    }

    /* Without --from it counts from now: five lines, strictly in the future. */
    char out[4096], err[4096];
    const char *const args[] = {"cron-next", "@every 1s", NULL};
    int64_t before = (int64_t)time(NULL);
    assert_int_equal(run_cli(args, out, sizeof(out), err, sizeof(err)), 0);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n"), lines++) {
        int64_t t;
        assert_int_equal(md_time_parse_iso8601(line, &t), 0);
        assert_true(t > before);
    }
    assert_int_equal(lines, 5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_cron_next_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
