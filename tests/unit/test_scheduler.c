/* Unit tests for the scheduler's pure decisions: next-fire bookkeeping,
 * one fire per due tick across wall-clock jumps, the overlap rule, retry
 * backoff bounded by the next tick, catch-up, and the pool's reconnect backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "medallion/config.h"
#include "medallion/pgpool.h"
#include "medallion/scheduler.h"
#include "medallion/timefmt.h"

static int64_t ts(const char *iso) {
    int64_t t = 0;
    assert_int_equal(md_time_parse_iso8601(iso, &t), 0);
    return t;
}

/* A config where only the named jobs are enabled, with the given schedules
 * (NULL schedule = job default). */
static md_config_t *config_with(const char *const *names, const char *const *schedules, int n) {
    char yaml[4096];
    size_t o = (size_t)snprintf(yaml, sizeof(yaml), "database:\n  url: \"dbname=x\"\njobs:\n");
    for (int j = 0; j < MD_JOB_COUNT; j++) {
        const char *name = md_jobdef_get((md_job_id_t)j)->name;
        int hit = -1;
        for (int i = 0; i < n; i++)
            if (strcmp(names[i], name) == 0)
                hit = i;
        if (hit < 0)
            o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "  %s:\n    enabled: false\n", name);
        else if (schedules[hit] != NULL)
            o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "  %s:\n    schedule: \"%s\"\n", name,
                                  schedules[hit]);
    }
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    int rc = md_config_load_string("test.yaml", yaml, &cfg, &errs);
    if (rc != 0)
        for (int i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.items[i]);
    md_config_errors_clear(&errs);
    assert_int_equal(rc, 0);
    return cfg;
}

static md_config_t *one_job(const char *name, const char *schedule) {
    return config_with(&name, &schedule, 1);
}

static void test_retry_backoff(void **state) {
    (void)state;
    static const struct {
        int attempt;
        int64_t ms;
    } cases[] = {
        {0, 5000},  {1, 5000},   {2, 10000},  {3, 20000},  {4, 40000},
        {5, 80000}, {6, 160000}, {7, 300000}, {8, 300000}, {1000, 300000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(md_sched_retry_backoff_ms(cases[i].attempt), cases[i].ms);
}

static void test_pool_backoff(void **state) {
    (void)state;
    static const struct {
        int failures;
        double jitter;
        int64_t ms;
    } cases[] = {
        {1, 0.0, 500},   {1, 1.0, 1000},  {2, 1.0, 2000},  {3, 0.5, 3000},
        {6, 1.0, 32000}, {7, 1.0, 60000}, {7, 0.0, 30000}, {50, 0.5, 45000},
        {0, 1.0, 1000},  {1, -3.0, 500},  {1, 7.0, 1000},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(md_pgpool_backoff_ms(cases[i].failures, cases[i].jitter), cases[i].ms);
}

static void test_configure_next_fire(void **state) {
    (void)state;
    const char *names[] = {"clean_events", "calculate_daily_metrics"};
    const char *scheds[] = {"*/5 * * * *", "0 1 * * *"};
    md_config_t *cfg = config_with(names, scheds, 2);
    md_sched_t s;
    md_sched_init(&s);
    assert_int_equal(md_sched_configure(&s, cfg, ts("2026-01-01T00:02:30Z")), 2);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T00:05:00Z"));
    assert_int_equal(s.jobs[MD_JOB_CALCULATE_DAILY_METRICS].next_fire, ts("2026-01-01T01:00:00Z"));
    assert_false(s.jobs[MD_JOB_CLEAN_API_LOGS].enabled);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_API_LOGS].next_fire, 0);
    /* exactly on a tick: the next one is strictly after */
    assert_int_equal(md_sched_configure(&s, cfg, ts("2026-01-01T00:05:00Z")), 2);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T00:10:00Z"));
    md_config_free(cfg);
}

static void test_tick_fires_once_then_overlap_skips(void **state) {
    (void)state;
    md_config_t *cfg = one_job("clean_events", "*/5 * * * *");
    md_sched_t s;
    md_sched_init(&s);
    md_sched_configure(&s, cfg, ts("2026-01-01T00:02:30Z"));
    md_sched_action_t a[4];
    int64_t t5 = ts("2026-01-01T00:05:00Z") * 1000;

    assert_int_equal(md_sched_tick(&s, cfg, t5 - 1, 1000, a, 4), 0);
    assert_int_equal(md_sched_tick(&s, cfg, t5, 1000, a, 4), 1);
    assert_int_equal(a[0].kind, MD_SCHED_START);
    assert_int_equal(a[0].job, MD_JOB_CLEAN_EVENTS);
    assert_string_equal(a[0].trigger, "schedule");
    assert_true(s.jobs[MD_JOB_CLEAN_EVENTS].active);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T00:10:00Z"));
    /* a second wake in the same second does not fire again */
    assert_int_equal(md_sched_tick(&s, cfg, t5 + 400, 1400, a, 4), 0);

    /* still running at the next tick: skipped, not started twice */
    int64_t t10 = ts("2026-01-01T00:10:00Z") * 1000;
    assert_int_equal(md_sched_tick(&s, cfg, t10 + 3, 2000, a, 4), 1);
    assert_int_equal(a[0].kind, MD_SCHED_SKIP);
    assert_true(s.jobs[MD_JOB_CLEAN_EVENTS].active);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T00:15:00Z"));

    md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, MD_RUN_SUCCEEDED, t10 + 5000, 7000);
    assert_false(s.jobs[MD_JOB_CLEAN_EVENTS].active);
    int64_t t15 = ts("2026-01-01T00:15:00Z") * 1000;
    assert_int_equal(md_sched_tick(&s, cfg, t15, 9000, a, 4), 1);
    assert_int_equal(a[0].kind, MD_SCHED_START);
    md_config_free(cfg);
}

static void test_wall_clock_jumps(void **state) {
    (void)state;
    md_config_t *cfg = one_job("clean_events", "*/5 * * * *");
    md_sched_t s;
    md_sched_init(&s);
    md_sched_configure(&s, cfg, ts("2026-01-01T00:02:30Z"));
    md_sched_action_t a[4];

    /* forward 3 hours: one fire, not 36, and the next tick follows the new now */
    int n = md_sched_tick(&s, cfg, ts("2026-01-01T03:00:10Z") * 1000, 5000, a, 4);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, MD_SCHED_START);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T03:05:00Z"));
    md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, MD_RUN_SUCCEEDED, ts("2026-01-01T03:00:11Z") * 1000,
                      6000);

    /* backward 3 hours: no fire now, and no stall until 03:05 either */
    n = md_sched_tick(&s, cfg, ts("2026-01-01T00:01:00Z") * 1000, 7000, a, 4);
    assert_int_equal(n, 0);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T00:05:00Z"));
    assert_int_equal(
        md_sched_wake_delay_ms(&s, ts("2026-01-01T00:01:00Z") * 1000, 7000, MD_SCHED_MAX_SLEEP_MS),
        MD_SCHED_MAX_SLEEP_MS);
    assert_int_equal(
        md_sched_wake_delay_ms(&s, ts("2026-01-01T00:04:58Z") * 1000 + 500, 7000, 600000), 1500);
    md_config_free(cfg);
}

static void test_retry_backoff_before_next_tick(void **state) {
    (void)state;
    md_config_t *cfg = one_job("clean_events", "*/5 * * * *");
    md_sched_t s;
    md_sched_init(&s);
    md_sched_configure(&s, cfg, ts("2026-01-01T00:02:30Z"));
    md_sched_action_t a[4];
    int64_t t5 = ts("2026-01-01T00:05:00Z") * 1000;
    int64_t mono = 100000;

    assert_int_equal(md_sched_tick(&s, cfg, t5, mono, a, 4), 1);
    /* failure 1 → retry 5 s later, failure 2 → 10 s, failure 3 → 20 s */
    static const int64_t delays[] = {5000, 10000, 20000};
    int64_t wall = t5;
    for (int i = 0; i < 3; i++) {
        md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, MD_RUN_FAILED, wall, mono);
        assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].attempt, i + 1);
        assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].retry_at_mono, mono + delays[i]);
        assert_int_equal(md_sched_wake_delay_ms(&s, wall, mono, MD_SCHED_MAX_SLEEP_MS), delays[i]);
        assert_int_equal(md_sched_tick(&s, cfg, wall + delays[i] - 1, mono + delays[i] - 1, a, 4),
                         0);
        wall += delays[i];
        mono += delays[i];
        assert_int_equal(md_sched_tick(&s, cfg, wall, mono, a, 4), 1);
        assert_int_equal(a[0].kind, MD_SCHED_START);
        assert_string_equal(a[0].trigger, "retry");
    }
    /* 35 s after 00:05: another failure, 40 s backoff still before 00:10 */
    md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, MD_RUN_FAILED, wall, mono);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].retry_at_mono, mono + 40000);
    assert_int_equal(md_sched_tick(&s, cfg, wall + 40000, mono + 40000, a, 4), 1);
    /* a failure at 00:09:58 would retry past 00:10: the tick does it instead */
    int64_t late = ts("2026-01-01T00:09:58Z") * 1000;
    md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, MD_RUN_FAILED, late, mono + 50000);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].retry_at_mono, 0);
    /* the regular tick resets the backoff */
    assert_int_equal(md_sched_tick(&s, cfg, late + 2000, mono + 52000, a, 4), 1);
    assert_string_equal(a[0].trigger, "schedule");
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].attempt, 0);
    md_config_free(cfg);
}

static void test_no_retry_after_skip_or_timeout(void **state) {
    (void)state;
    md_config_t *cfg = one_job("clean_events", "*/5 * * * *");
    static const md_run_status_t statuses[] = {MD_RUN_SUCCEEDED, MD_RUN_SKIPPED, MD_RUN_TIMED_OUT};
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        md_sched_t s;
        md_sched_init(&s);
        md_sched_configure(&s, cfg, ts("2026-01-01T00:02:30Z"));
        md_sched_action_t a[4];
        assert_int_equal(md_sched_tick(&s, cfg, ts("2026-01-01T00:05:00Z") * 1000, 0, a, 4), 1);
        md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, statuses[i], ts("2026-01-01T00:05:01Z") * 1000,
                          1000);
        assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].retry_at_mono, 0);
        assert_false(s.jobs[MD_JOB_CLEAN_EVENTS].active);
        assert_int_equal(md_sched_tick(&s, cfg, ts("2026-01-01T00:06:00Z") * 1000, 60000, a, 4), 0);
    }
    md_config_free(cfg);
}

static void test_reconfigure_keeps_running_and_disables(void **state) {
    (void)state;
    md_config_t *cfg = one_job("clean_events", "*/5 * * * *");
    md_sched_t s;
    md_sched_init(&s);
    md_sched_configure(&s, cfg, ts("2026-01-01T00:02:30Z"));
    md_sched_action_t a[4];
    assert_int_equal(md_sched_tick(&s, cfg, ts("2026-01-01T00:05:00Z") * 1000, 0, a, 4), 1);

    /* new schedule: re-armed from now, the running run stays active */
    md_config_t *c2 = one_job("clean_events", "*/2 * * * *");
    assert_int_equal(md_sched_configure(&s, c2, ts("2026-01-01T00:05:30Z")), 1);
    assert_true(s.jobs[MD_JOB_CLEAN_EVENTS].active);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].next_fire, ts("2026-01-01T00:06:00Z"));

    /* disabled: no tick, no retry, even after a failure */
    md_config_t *c3 = one_job("clean_api_logs", NULL);
    assert_int_equal(md_sched_configure(&s, c3, ts("2026-01-01T00:05:40Z")), 1);
    md_sched_finished(&s, MD_JOB_CLEAN_EVENTS, MD_RUN_FAILED, ts("2026-01-01T00:05:41Z") * 1000, 0);
    assert_int_equal(s.jobs[MD_JOB_CLEAN_EVENTS].retry_at_mono, 0);
    int n = md_sched_tick(&s, c3, ts("2026-01-01T00:10:00Z") * 1000, 300000, a, 4);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].job, MD_JOB_CLEAN_API_LOGS);
    md_config_free(cfg);
    md_config_free(c2);
    md_config_free(c3);
}

static void test_manual_start_respects_active(void **state) {
    (void)state;
    md_sched_t s;
    md_sched_init(&s);
    assert_true(md_sched_start_manual(&s, MD_JOB_UPDATE_KPI_DASHBOARD));
    assert_false(md_sched_start_manual(&s, MD_JOB_UPDATE_KPI_DASHBOARD));
    md_sched_finished(&s, MD_JOB_UPDATE_KPI_DASHBOARD, MD_RUN_SUCCEEDED, 0, 0);
    assert_true(md_sched_start_manual(&s, MD_JOB_UPDATE_KPI_DASHBOARD));
}

static void test_catchup_rule(void **state) {
    (void)state;
    const char *names[] = {"clean_events", "calculate_daily_metrics", "calculate_revenue_summary"};
    const char *scheds[] = {"*/5 * * * *", "0 1 * * *", "0 * * * *"};
    md_config_t *cfg = config_with(names, scheds, 3);
    int64_t now = ts("2026-03-10T12:30:00Z");
    static const struct {
        md_job_id_t job;
        const char *last; /* NULL = never succeeded */
        bool due;
    } cases[] = {
        {MD_JOB_CALCULATE_DAILY_METRICS, "2026-03-10T01:00:05Z", false},
        {MD_JOB_CALCULATE_DAILY_METRICS, "2026-03-10T01:00:00Z", false},
        {MD_JOB_CALCULATE_DAILY_METRICS, "2026-03-10T00:59:59Z", true},
        {MD_JOB_CALCULATE_DAILY_METRICS, "2026-03-09T01:00:00Z", true},
        {MD_JOB_CALCULATE_DAILY_METRICS, NULL, true},
        {MD_JOB_CALCULATE_REVENUE_SUMMARY, "2026-03-10T12:00:01Z", false},
        {MD_JOB_CALCULATE_REVENUE_SUMMARY, "2026-03-10T11:59:00Z", true},
        /* silver jobs are never replayed */
        {MD_JOB_CLEAN_EVENTS, NULL, false},
        {MD_JOB_CLEAN_EVENTS, "2026-03-01T00:00:00Z", false},
        /* a disabled gold job is not caught up */
        {MD_JOB_CALCULATE_USER_COHORTS, NULL, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t last = cases[i].last ? ts(cases[i].last) : 0;
        bool due = md_sched_catchup_due(&cfg->jobs[cases[i].job], last, now);
        if (due != cases[i].due)
            fail_msg("case %zu (%s, %s): expected %d", i, md_jobdef_get(cases[i].job)->name,
                     cases[i].last ? cases[i].last : "never", cases[i].due);
    }
    md_config_free(cfg);
}

static void test_timezone_schedule(void **state) {
    (void)state;
    const char *yaml = "database:\n  url: \"dbname=x\"\njobs:\n"
                       "  calculate_daily_metrics:\n    schedule: \"0 1 * * *\"\n"
                       "    timezone: Europe/Berlin\n";
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    assert_int_equal(md_config_load_string("tz.yaml", yaml, &cfg, &errs), 0);
    md_sched_t s;
    md_sched_init(&s);
    md_sched_configure(&s, cfg, ts("2026-01-15T12:00:00Z"));
    /* 01:00 in Berlin (CET, UTC+1) is 00:00 UTC */
    assert_int_equal(s.jobs[MD_JOB_CALCULATE_DAILY_METRICS].next_fire, ts("2026-01-16T00:00:00Z"));
    md_sched_configure(&s, cfg, ts("2026-07-15T12:00:00Z"));
    assert_int_equal(s.jobs[MD_JOB_CALCULATE_DAILY_METRICS].next_fire, ts("2026-07-15T23:00:00Z"));
    md_config_free(cfg);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_backoff),
        cmocka_unit_test(test_pool_backoff),
        cmocka_unit_test(test_configure_next_fire),
        cmocka_unit_test(test_tick_fires_once_then_overlap_skips),
        cmocka_unit_test(test_wall_clock_jumps),
        cmocka_unit_test(test_retry_backoff_before_next_tick),
        cmocka_unit_test(test_no_retry_after_skip_or_timeout),
        cmocka_unit_test(test_reconfigure_keeps_running_and_disables),
        cmocka_unit_test(test_manual_start_respects_active),
        cmocka_unit_test(test_catchup_rule),
        cmocka_unit_test(test_timezone_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
