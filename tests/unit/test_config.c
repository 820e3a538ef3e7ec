/* Unit tests for src/config.c: defaults, full files read back, every kind of
 * error with its exact FILE:LINE:COL, env precedence, frozen keys, the shipped
 * example config. No database. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <fcntl.h>

#include "medallion/cli.h"
#include "medallion/config.h"

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

/* Every test starts from an environment that cannot leak into the result. */
static int clean_env(void **state) {
    (void)state;
    unsetenv("MEDALLION_DATABASE_URL");
    unsetenv("POSTGRES_URL");
    unsetenv("MEDALLIOND_CONFIG");
    unsetenv("PGPASSFILE");
    unsetenv("CREDENTIALS_DIRECTORY");
    return 0;
}

static md_config_t *load_ok(const char *yaml) {
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    int r = md_config_load_string("t.yaml", yaml, &cfg, &errs);
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "unexpected: %s\n", errs.items[i]);
    assert_int_equal(r, 0);
    assert_int_equal(errs.count, 0);
    assert_non_null(cfg);
    return cfg;
}

static void assert_defaults_except_url(const md_config_t *cfg) {
    assert_int_equal(cfg->pool_size, 4);
    assert_int_equal(cfg->log_level, MD_LOG_INFO);
    assert_string_equal(cfg->reporting_timezone, "UTC");
    assert_non_null(cfg->reporting_tz);
    assert_string_equal(cfg->base_currency, "USD");
    assert_int_equal(cfg->history_retention_ms, 14 * DAY);
    assert_int_equal(cfg->shutdown_grace_ms, 30000);
    assert_int_equal(cfg->sessions_gap_ms, 30 * MIN);
    assert_int_equal(cfg->sessions_max_length_ms, 24 * HOUR);
    assert_int_equal(cfg->fraud_velocity_count, 5);
    assert_int_equal(cfg->fraud_velocity_window_ms, 10 * MIN);
    assert_true(cfg->fraud_velocity_add == 0.20);
    assert_true(cfg->kpi_flat_band == 1.0);
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        const md_job_config_t *j = &cfg->jobs[i];
        const md_jobdef_t *def = md_jobdef_get((md_job_id_t)i);
        assert_ptr_equal(j->def, def);
        assert_true(j->enabled);
        assert_string_equal(j->schedule, def->default_schedule);
        assert_non_null(j->cron);
        assert_int_equal(j->batch_size, def->layer == MD_LAYER_SESSIONS ? 50000 : 10000);
        /* only clean_events may overlap its pages, and does by default */
        assert_int_equal(j->write_connections, i == MD_JOB_CLEAN_EVENTS ? 2 : 1);
        assert_int_equal(j->timeout_ms, def->layer == MD_LAYER_GOLD ? 30 * MIN : 5 * MIN);
        assert_string_equal(j->timezone, "UTC");
        assert_non_null(j->tz);
    }
}

/* ------------------------------------------------------------ valid files */

static void test_minimal_file(void **state) {
    (void)state;
    md_config_t *cfg = load_ok("database:\n  url: \"postgresql://etl@db/postgres\"\n");
    assert_string_equal(cfg->path, "t.yaml");
    assert_string_equal(cfg->database_url, "postgresql://etl@db/postgres");
    assert_string_equal(cfg->database_url_source, "config");
    assert_defaults_except_url(cfg);
    for (int i = 0; i < MD_JOB_COUNT; i++)
        assert_false(cfg->jobs[i].listed);
    md_config_free(cfg);
}

static void test_empty_documents_are_defaults(void **state) {
    (void)state;
    static const char *const docs[] = {
        "",
        "# only a comment\n\n   # another\n",
        "---\n",
        "---\n...\n",
        "~\n",
        "database:\n",
        "jobs:\n  clean_events:\n",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        md_config_t *cfg = load_ok(docs[i]);
        assert_null(cfg->database_url);
        assert_null(cfg->database_url_source);
        assert_defaults_except_url(cfg);
        md_config_free(cfg);
    }
}

/* The example of product.md §1, verbatim. */
static const char product_example[] =
    "database:\n"
    "  url: \"postgresql://etl@db.example.com:5432/postgres\"   # or MEDALLION_DATABASE_URL\n"
    "  pool_size: 4\n"
    "log_level: info                  # err | warn | info | debug\n"
    "reporting:\n"
    "  timezone: UTC                  # the day boundary for daily gold\n"
    "  base_currency: USD\n"
    "jobs:\n"
    "  clean_events:\n"
    "    schedule: \"*/5 * * * *\"     # cron, 5 or 6 fields, macros, @every 30s\n"
    "    enabled: true\n"
    "    batch_size: 10000\n"
    "    timeout: 5m\n"
    "    timezone: UTC                # optional, IANA name\n"
    "  calculate_daily_metrics:\n"
    "    schedule: \"0 1 * * *\"\n"
    "  # every job not listed keeps its default schedule\n"
    "history:\n"
    "  retention: 14d                 # job_runs older than this are pruned\n"
    "shutdown:\n"
    "  grace: 30s                     # running batches get this long on SIGTERM\n"
    "sessions:\n"
    "  gap: 30m\n"
    "  max_length: 24h\n"
    "fraud:\n"
    "  velocity: {count: 5, window: 10m, add: 0.20}\n"
    "kpi:\n"
    "  flat_band: 1.0                 # |change_percentage| below this is \"flat\"\n";

static void test_product_example(void **state) {
    (void)state;
    md_config_t *cfg = load_ok(product_example);
    assert_string_equal(cfg->database_url, "postgresql://etl@db.example.com:5432/postgres");
    assert_defaults_except_url(cfg);
    assert_true(cfg->jobs[MD_JOB_CLEAN_EVENTS].listed);
    assert_true(cfg->jobs[MD_JOB_CALCULATE_DAILY_METRICS].listed);
    assert_false(cfg->jobs[MD_JOB_CLEAN_API_LOGS].listed);
    assert_string_equal(md_cron_text(cfg->jobs[MD_JOB_CLEAN_EVENTS].cron), "*/5 * * * *");
    md_config_free(cfg);
}

/* Every key set to something other than its default, so each is read back. */
static const char full_custom[] =
    "database:\n"
    "  url: host=/tmp dbname=x\n"
    "  pool_size: 12\n"
    "log_level: debug\n"
    "reporting:\n"
    "  timezone: Europe/Berlin\n"
    "  base_currency: EUR\n"
    "jobs:\n"
    "  clean_events: {schedule: \"@every 30s\", enabled: no, batch_size: 500, timeout: 90s}\n"
    "  clean_api_logs:\n"
    "    timezone: America/New_York\n"
    "    enabled: off\n"
    "  calculate_daily_metrics:\n"
    "    schedule: \"0 30 1 * * *\"\n"
    "    timeout: 1h\n"
    "  update_kpi_dashboard:\n"
    "    timezone: Asia/Tokyo\n"
    "    enabled: On\n"
    "history: {retention: 7d}\n"
    "shutdown:\n"
    "  grace: 1m30s\n"
    "sessions:\n"
    "  gap: 15m\n"
    "  max_length: 12h\n"
    "fraud:\n"
    "  velocity:\n"
    "    count: 3\n"
    "    window: 5m\n"
    "    add: 0.5\n"
    "kpi:\n"
    "  flat_band: 2.5\n";

static void test_full_custom_read_back(void **state) {
    (void)state;
    md_config_t *cfg = load_ok(full_custom);
    assert_string_equal(cfg->database_url, "host=/tmp dbname=x");
    assert_int_equal(cfg->pool_size, 12);
    assert_int_equal(cfg->log_level, MD_LOG_DEBUG);
    assert_string_equal(cfg->reporting_timezone, "Europe/Berlin");
    assert_string_equal(md_tz_name(cfg->reporting_tz), "Europe/Berlin");
    assert_string_equal(cfg->base_currency, "EUR");
    assert_int_equal(cfg->history_retention_ms, 7 * DAY);
    assert_int_equal(cfg->shutdown_grace_ms, 90000);
    assert_int_equal(cfg->sessions_gap_ms, 15 * MIN);
    assert_int_equal(cfg->sessions_max_length_ms, 12 * HOUR);
    assert_int_equal(cfg->fraud_velocity_count, 3);
    assert_int_equal(cfg->fraud_velocity_window_ms, 5 * MIN);
    assert_true(cfg->fraud_velocity_add == 0.5);
    assert_true(cfg->kpi_flat_band == 2.5);

    static const struct {
        md_job_id_t id;
        bool listed, enabled;
        const char *schedule, *tz;
        int batch;
        long long timeout;
    } want[] = {
        {MD_JOB_CLEAN_EVENTS, true, false, "@every 30s", "UTC", 500, 90000},
        {MD_JOB_CLEAN_API_LOGS, true, false, "*/5 * * * *", "America/New_York", 10000, 5 * MIN},
        {MD_JOB_CLEAN_USER_ACTIONS, false, true, "*/5 * * * *", "UTC", 10000, 5 * MIN},
        {MD_JOB_VALIDATE_TRANSACTIONS, false, true, "*/5 * * * *", "UTC", 10000, 5 * MIN},
        {MD_JOB_BUILD_USER_SESSIONS, false, true, "*/10 * * * *", "UTC", 50000, 5 * MIN},
        /* gold jobs follow reporting.timezone unless they name their own */
        {MD_JOB_CALCULATE_DAILY_METRICS, true, true, "0 30 1 * * *", "Europe/Berlin", 10000, HOUR},
        {MD_JOB_CALCULATE_REVENUE_SUMMARY, false, true, "0 * * * *", "Europe/Berlin", 10000,
         30 * MIN},
        {MD_JOB_CALCULATE_USER_COHORTS, false, true, "0 2 * * *", "Europe/Berlin", 10000, 30 * MIN},
        {MD_JOB_UPDATE_KPI_DASHBOARD, true, true, "0 * * * *", "Asia/Tokyo", 10000, 30 * MIN},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const md_job_config_t *j = &cfg->jobs[want[i].id];
        assert_int_equal(j->listed, want[i].listed);
        assert_int_equal(j->enabled, want[i].enabled);
        assert_string_equal(j->schedule, want[i].schedule);
        assert_non_null(j->cron);
        assert_string_equal(j->timezone, want[i].tz);
        assert_string_equal(md_tz_name(j->tz), want[i].tz);
        assert_int_equal(j->batch_size, want[i].batch);
        assert_int_equal(j->timeout_ms, want[i].timeout);
    }
    assert_int_equal(md_cron_every_seconds(cfg->jobs[MD_JOB_CLEAN_EVENTS].cron), 30);
    md_config_free(cfg);
}

/* Scalar spellings: every accepted boolean word and the integer/float edges. */
static void test_scalar_spellings(void **state) {
    (void)state;
    static const struct {
        const char *word;
        bool value;
    } bools[] = {{"true", true},   {"True", true},   {"yes", true}, {"on", true},  {"ON", true},
                 {"false", false}, {"FALSE", false}, {"no", false}, {"off", false}};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml), "jobs:\n  clean_events:\n    enabled: %s\n", bools[i].word);
        md_config_t *cfg = load_ok(yaml);
        assert_int_equal(cfg->jobs[MD_JOB_CLEAN_EVENTS].enabled, bools[i].value);
        md_config_free(cfg);
    }
    static const struct {
        const char *yaml;
        int pool;
        int batch;
        double add;
    } nums[] = {
        {"database: {pool_size: 1}\n", 1, 10000, 0.20},
        {"database: {pool_size: 64}\n", 64, 10000, 0.20},
        {"database: {pool_size: +7}\n", 7, 10000, 0.20},
        {"jobs: {clean_events: {batch_size: 1000000}}\n", 4, 1000000, 0.20},
        {"jobs: {clean_events: {batch_size: 1}}\n", 4, 1, 0.20},
        {"jobs: {clean_events: {write_connections: 1}}\n", 4, 10000, 0.20},
        {"jobs: {clean_events: {write_connections: 4}}\n", 4, 10000, 0.20},
        {"fraud: {velocity: {add: 0}}\n", 4, 10000, 0.0},
        {"fraud: {velocity: {add: 1}}\n", 4, 10000, 1.0},
        {"fraud: {velocity: {add: 1.0e-1}}\n", 4, 10000, 0.1},
    };
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        md_config_t *cfg = load_ok(nums[i].yaml);
        assert_int_equal(cfg->pool_size, nums[i].pool);
        assert_int_equal(cfg->jobs[MD_JOB_CLEAN_EVENTS].batch_size, nums[i].batch);
        const char *wc = strstr(nums[i].yaml, "write_connections: ");
        assert_int_equal(cfg->jobs[MD_JOB_CLEAN_EVENTS].write_connections,
                         wc ? atoi(wc + strlen("write_connections: ")) : 2);
        assert_true(cfg->fraud_velocity_add == nums[i].add);
        md_config_free(cfg);
    }
}

/* ------------------------------------------------------------ errors */

typedef struct err_case {
    const char *yaml;
    const char *want;     /* the whole first error message */
    const char *contains; /* when the tail comes from another module: prefix + substring */
} err_case_t;

static const err_case_t err_cases[] = {
    /* unknown keys at each level */
    {"databse:\n  url: host=x\n",
     "t.yaml:1:1: unknown key \"databse\" (valid keys: database, log_level, reporting, jobs, "
     "history, shutdown, sessions, fraud, kpi)",
     NULL},
    {"database:\n  url: host=x\n  poolsize: 4\n",
     "t.yaml:3:3: unknown key \"poolsize\" in database (valid keys: url, pool_size)", NULL},
    {"jobs:\n  clean_events:\n    schedul: \"* * * * *\"\n",
     "t.yaml:3:5: unknown key \"schedul\" in jobs.clean_events (valid keys: schedule, enabled, "
     "batch_size, write_connections, timeout, timezone)",
     NULL},
    {"fraud:\n  velocity: {count: 5, windw: 10m}\n",
     "t.yaml:2:24: unknown key \"windw\" in fraud.velocity (valid keys: count, window, add)", NULL},
    {"jobs:\n  clean_event:\n    enabled: false\n",
     "t.yaml:2:3: unknown job \"clean_event\" (valid jobs: clean_events, clean_api_logs, "
     "clean_user_actions, validate_transactions, build_user_sessions, calculate_daily_metrics, "
     "calculate_revenue_summary, calculate_user_cohorts, update_kpi_dashboard)",
     NULL},
    /* wrong types */
    {"database:\n  pool_size: \"four\"\n",
     "t.yaml:2:14: database.pool_size: expected an integer, got the string \"four\"", NULL},
    {"database:\n  pool_size: four\n",
     "t.yaml:2:14: database.pool_size: expected an integer, got \"four\"", NULL},
    {"database:\n  pool_size: 4x\n",
     "t.yaml:2:14: database.pool_size: expected an integer, got \"4x\"", NULL},
    {"database:\n  pool_size: 4.0\n",
     "t.yaml:2:14: database.pool_size: expected an integer, got \"4.0\"", NULL},
    {"database:\n  pool_size: 0\n", "t.yaml:2:14: database.pool_size: 0 is out of range (1..64)",
     NULL},
    {"database:\n  pool_size: 65\n", "t.yaml:2:14: database.pool_size: 65 is out of range (1..64)",
     NULL},
    {"database:\n  pool_size: 99999999999999999999\n",
     "t.yaml:2:14: database.pool_size: expected an integer, got \"99999999999999999999\"", NULL},
    {"database:\n  pool_size:\n",
     "t.yaml:2:3: database.pool_size: missing value (expected an integer)", NULL},
    {"database:\n  pool_size: [1, 2]\n",
     "t.yaml:2:14: database.pool_size: expected an integer, got a list", NULL},
    {"jobs:\n  clean_events:\n    enabled: maybe\n",
     "t.yaml:3:14: jobs.clean_events.enabled: expected a boolean (true/false, yes/no, on/off), got "
     "\"maybe\"",
     NULL},
    {"jobs:\n  clean_events:\n    enabled: \"true\"\n",
     "t.yaml:3:14: jobs.clean_events.enabled: expected a boolean (true/false, yes/no, on/off), got "
     "the string \"true\"",
     NULL},
    {"jobs:\n  clean_events:\n    batch_size: 0\n",
     "t.yaml:3:17: jobs.clean_events.batch_size: 0 is out of range (1..1000000)", NULL},
    {"jobs:\n  clean_events:\n    write_connections: 5\n",
     "t.yaml:3:24: jobs.clean_events.write_connections: 5 is out of range (1..4)", NULL},
    {"jobs:\n  validate_transactions:\n    write_connections: 2\n",
     "t.yaml:3:24: jobs.validate_transactions.write_connections: validate_transactions writes its "
     "pages in order on one connection (only clean_events can use more than 1)",
     NULL},
    {"jobs:\n  clean_events: true\n",
     "t.yaml:2:17: jobs.clean_events: expected a mapping of job settings, got a scalar", NULL},
    {"jobs:\n  - clean_events\n", "t.yaml:2:3: jobs: expected a mapping, got a list", NULL},
    {"database: postgres://x\n", "t.yaml:1:11: database: expected a mapping, got a scalar", NULL},
    {"- a\n- b\n", "t.yaml:1:1: the top level must be a mapping of keys, got a list", NULL},
    {"log_level: verbose\n",
     "t.yaml:1:12: log_level: unknown log level \"verbose\" (valid: err, warn, info, debug)", NULL},
    {"reporting:\n  base_currency: usd\n",
     "t.yaml:2:18: reporting.base_currency: \"usd\" is not an ISO 4217 code (three upper-case "
     "letters, e.g. USD)",
     NULL},
    {"fraud:\n  velocity: {add: 1.5}\n",
     "t.yaml:2:19: fraud.velocity.add: 1.5 is out of range (0..1)", NULL},
    {"fraud:\n  velocity: {add: nan}\n",
     "t.yaml:2:19: fraud.velocity.add: expected a number, got \"nan\"", NULL},
    {"kpi:\n  flat_band: -1\n", "t.yaml:2:14: kpi.flat_band: -1 must be >= 0", NULL},
    /* durations */
    {"history:\n  retention: 14x\n",
     "t.yaml:2:14: history.retention: bad duration \"14x\" (expected a positive number with a unit "
     "ms, s, m, h, d or w, e.g. 30s, 5m, 1h30m)",
     NULL},
    {"shutdown:\n  grace: 30\n",
     "t.yaml:2:10: shutdown.grace: bad duration \"30\" (expected a positive number with a unit ms, "
     "s, m, h, d or w, e.g. 30s, 5m, 1h30m)",
     NULL},
    {"jobs:\n  clean_events:\n    timeout: 0s\n",
     "t.yaml:3:14: jobs.clean_events.timeout: bad duration \"0s\" (expected a positive number with "
     "a unit ms, s, m, h, d or w, e.g. 30s, 5m, 1h30m)",
     NULL},
    /* cron: the message names the field (text from md_cron_parse) */
    {"jobs:\n  clean_events:\n    schedule: \"*/0 * * * *\"\n",
     "t.yaml:3:15: jobs.clean_events.schedule: ", "minute field"},
    /* a URL libpq cannot parse: a config error, and no piece of it shown */
    {"database:\n  url: \"postgresql://u:pw%zz@h/db\"\n",
     "t.yaml:2:8: database.url cannot be parsed: invalid percent-encoded token: \"***\"", NULL},
    /* parses, but no date ever matches: a silently dead job otherwise */
    {"jobs:\n  clean_events:\n    schedule: \"0 0 31 2 *\"\n",
     "t.yaml:3:15: jobs.clean_events.schedule: ", "never fires"},
    {"jobs:\n  calculate_daily_metrics:\n    schedule: \"0 25 * * *\"\n",
     "t.yaml:3:15: jobs.calculate_daily_metrics.schedule: ", "hour field"},
    {"jobs:\n  clean_events:\n    schedule: \"0 0 * 13 *\"\n",
     "t.yaml:3:15: jobs.clean_events.schedule: ", "month field"},
    /* time zones */
    {"reporting:\n  timezone: Mars/Olympus_Mons\n",
     "t.yaml:2:13: reporting.timezone: ", "Mars/Olympus_Mons"},
    {"jobs:\n  clean_events:\n    timezone: ../../etc/passwd\n",
     "t.yaml:3:15: jobs.clean_events.timezone: ", "../../etc/passwd"},
    /* duplicate keys */
    {"database:\n  url: host=a\n  url: host=b\n",
     "t.yaml:3:3: duplicate key \"database.url\" (first defined at line 2, column 3)", NULL},
    {"log_level: info\nlog_level: debug\n",
     "t.yaml:2:1: duplicate key \"log_level\" (first defined at line 1, column 1)", NULL},
    {"jobs:\n  clean_events: {}\n  clean_events: {}\n",
     "t.yaml:3:3: duplicate key \"jobs.clean_events\" (first defined at line 2, column 3)", NULL},
    /* sessions.max_length must exceed sessions.gap */
    {"sessions:\n  gap: 1h\n  max_length: 1h\n",
     "t.yaml:3:15: sessions.max_length (1h) must be greater than sessions.gap (1h)", NULL},
    {"sessions:\n  gap: 2d\n",
     "t.yaml:2:8: sessions.max_length (1d) must be greater than sessions.gap (2d)", NULL},
    /* YAML syntax */
    {"database:\n  url: host=x\n pool_size: 4\n",
     "t.yaml:3:2: YAML syntax error: did not find expected key (while parsing a block mapping at "
     "line 1, column 1)",
     NULL},
    {"database: {url: host=x\n", "t.yaml:2:1: YAML syntax error: ", "flow mapping"},
    {"database:\n\turl: host=x\n",
     "t.yaml:2:1: YAML syntax error: a tab character; indent with spaces", NULL},
    {"a: \xff\n", "t.yaml:1:4: YAML syntax error: invalid leading UTF-8 octet", NULL},
    {"log_level: info\n---\nlog_level: debug\n",
     "t.yaml:3:1: a second YAML document is not allowed (one file, one document)", NULL},
};

static void test_error_cases(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case_t *c = &err_cases[i];
        md_config_t *cfg = (md_config_t *)0x1; /* must stay untouched */
        md_config_errors_t errs = {0};
        int r = md_config_load_string("t.yaml", c->yaml, &cfg, &errs);
        if (r != -EINVAL || errs.count < 1)
            fail_msg("case %zu: r=%d count=%d for:\n%s", i, r, errs.count, c->yaml);
        assert_ptr_equal(cfg, (md_config_t *)0x1);
        if (c->contains == NULL) {
            if (strcmp(errs.items[0], c->want) != 0)
                fail_msg("case %zu:\n got: %s\nwant: %s", i, errs.items[0], c->want);
        } else {
            if (strncmp(errs.items[0], c->want, strlen(c->want)) != 0 ||
                strstr(errs.items[0] + strlen(c->want), c->contains) == NULL)
                fail_msg("case %zu:\n got: %s\nwant: %s...%s...", i, errs.items[0], c->want,
                         c->contains);
        }
        /* One problem, one message (and nothing else drowned in noise). */
        if (errs.count != 1)
            fail_msg("case %zu: %d errors, first: %s, second: %s", i, errs.count, errs.items[0],
                     errs.items[1]);
        md_config_errors_clear(&errs);
        assert_null(errs.items);
        assert_int_equal(errs.count, 0);
    }
}

static void test_errors_reported_together(void **state) {
    (void)state;
    static const char yaml[] = "database:\n"
                               "  pool_size: many\n"
                               "colour: blue\n"
                               "jobs:\n"
                               "  clean_events:\n"
                               "    schedule: \"61 * * * *\"\n"
                               "    enabled: maybe\n"
                               "  nightly_report: {}\n"
                               "sessions:\n"
                               "  gap: 2h\n"
                               "  max_length: 1h\n"
                               "kpi: {flat_band: \"1\"}\n";
    static const char *const want_prefix[] = {
        "t.yaml:2:14: database.pool_size: expected an integer",
        "t.yaml:3:1: unknown key \"colour\"",
        "t.yaml:6:15: jobs.clean_events.schedule: ",
        "t.yaml:7:14: jobs.clean_events.enabled: expected a boolean",
        "t.yaml:8:3: unknown job \"nightly_report\"",
        "t.yaml:11:15: sessions.max_length (1h) must be greater than sessions.gap (2h)",
        "t.yaml:12:18: kpi.flat_band: expected a number, got the string \"1\"",
    };
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    assert_int_equal(md_config_load_string("t.yaml", yaml, &cfg, &errs), -EINVAL);
    assert_null(cfg);
    assert_int_equal(errs.count, (int)(sizeof(want_prefix) / sizeof(want_prefix[0])));
    for (int i = 0; i < errs.count; i++)
        if (strncmp(errs.items[i], want_prefix[i], strlen(want_prefix[i])) != 0)
            fail_msg("error %d:\n got: %s\nwant: %s...", i, errs.items[i], want_prefix[i]);
    assert_non_null(strstr(errs.items[2], "minute field"));
    md_config_errors_clear(&errs);
}

/* A database.url with a password must never be echoed, even when it is wrong. */
static void test_url_never_echoed(void **state) {
    (void)state;
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    assert_int_equal(md_config_load_string("t.yaml",
                                           "database:\n  url:\n    postgresql://u:s3cret@h/db: 1\n"
                                           "  url: postgresql://u:s3cret@h/db\n",
                                           &cfg, &errs),
                     -EINVAL);
    assert_int_equal(errs.count, 2);
    for (int i = 0; i < errs.count; i++)
        assert_null(strstr(errs.items[i], "s3cret"));
    md_config_errors_clear(&errs);
}

/* ------------------------------------------------------------ environment */

static void test_database_url_precedence(void **state) {
    (void)state;
    static const struct {
        const char *env_medallion, *file_url, *env_postgres;
        const char *want_url, *want_source;
    } cases[] = {
        {"postgresql://env-m/db", "postgresql://file/db", "postgresql://env-p/db",
         "postgresql://env-m/db", "MEDALLION_DATABASE_URL"},
        {"postgresql://env-m/db", NULL, NULL, "postgresql://env-m/db", "MEDALLION_DATABASE_URL"},
        {NULL, "postgresql://file/db", "postgresql://env-p/db", "postgresql://file/db", "config"},
        {"", "postgresql://file/db", NULL, "postgresql://file/db", "config"},
        {NULL, NULL, "postgresql://env-p/db", "postgresql://env-p/db", "POSTGRES_URL"},
        {"", NULL, "postgresql://env-p/db", "postgresql://env-p/db", "POSTGRES_URL"},
        {NULL, NULL, NULL, NULL, NULL},
        {NULL, NULL, "", NULL, NULL},
        {NULL, "", "postgresql://env-p/db", "postgresql://env-p/db", "POSTGRES_URL"},
        {NULL, "", NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        clean_env(NULL);
        if (cases[i].env_medallion)
            setenv("MEDALLION_DATABASE_URL", cases[i].env_medallion, 1);
        if (cases[i].env_postgres)
            setenv("POSTGRES_URL", cases[i].env_postgres, 1);
        char yaml[256] = "log_level: info\n";
        if (cases[i].file_url)
            snprintf(yaml, sizeof(yaml), "database:\n  url: \"%s\"\n", cases[i].file_url);
        md_config_t *cfg = load_ok(yaml);
        if (cases[i].want_url == NULL) {
            assert_null(cfg->database_url);
            assert_null(cfg->database_url_source);
        } else {
            assert_string_equal(cfg->database_url, cases[i].want_url);
            assert_string_equal(cfg->database_url_source, cases[i].want_source);
        }
        md_config_free(cfg);
    }
    clean_env(NULL);
}

static void test_config_path(void **state) {
    (void)state;
    bool explicit_path = true;
    assert_string_equal(md_config_path(NULL, &explicit_path), MD_CONFIG_DEFAULT_PATH);
    assert_false(explicit_path);
    setenv("MEDALLIOND_CONFIG", "/srv/m.yaml", 1);
    explicit_path = false;
    assert_string_equal(md_config_path(NULL, &explicit_path), "/srv/m.yaml");
    assert_true(explicit_path);
    explicit_path = false;
    assert_string_equal(md_config_path("/opt/c.yaml", &explicit_path), "/opt/c.yaml");
    assert_true(explicit_path);
    setenv("MEDALLIOND_CONFIG", "", 1);
    assert_string_equal(md_config_path(NULL, &explicit_path), MD_CONFIG_DEFAULT_PATH);
    assert_false(explicit_path);
    assert_string_equal(md_config_path("/opt/c.yaml", NULL), "/opt/c.yaml");
    unsetenv("MEDALLIOND_CONFIG");
}

/* ------------------------------------------------------------ files */

static void test_load_files(void **state) {
    (void)state;
    char dir[] = "/tmp/md-config-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char missing[256], file[256];
    snprintf(missing, sizeof(missing), "%s/missing.yaml", dir);
    snprintf(file, sizeof(file), "%s/m.yaml", dir);

    /* missing + optional: defaults, no path */
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    assert_int_equal(md_config_load(missing, false, &cfg, &errs), 0);
    assert_non_null(cfg);
    assert_null(cfg->path);
    assert_defaults_except_url(cfg);
    md_config_free(cfg);
    assert_int_equal(errs.count, 0);

    /* missing + required: the OS reason */
    cfg = NULL;
    assert_int_equal(md_config_load(missing, true, &cfg, &errs), -ENOENT);
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    char want[512];
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", missing);
    assert_string_equal(errs.items[0], want);
    md_config_errors_clear(&errs);

    /* a directory is not a config file, even when optional */
    assert_int_equal(md_config_load(dir, false, &cfg, &errs), -EISDIR);
    assert_int_equal(errs.count, 1);
    snprintf(want, sizeof(want), "%s: cannot read: Is a directory", dir);
    assert_string_equal(errs.items[0], want);
    md_config_errors_clear(&errs);

    /* a real file: positions carry its path */
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("database:\n  url: \"host=/tmp\"\n  pool_size: 9\n", f);
    fclose(f);
    assert_int_equal(md_config_load(file, true, &cfg, &errs), 0);
    assert_string_equal(cfg->path, file);
    assert_int_equal(cfg->pool_size, 9);
    md_config_free(cfg);

    f = fopen(file, "w");
    assert_non_null(f);
    fputs("database:\n  pool_size: 0\n", f);
    fclose(f);
    cfg = NULL;
    assert_int_equal(md_config_load(file, true, &cfg, &errs), -EINVAL);
    assert_null(cfg);
    assert_int_equal(errs.count, 1);
    snprintf(want, sizeof(want), "%s:2:14: database.pool_size: 0 is out of range (1..64)", file);
    assert_string_equal(errs.items[0], want);
    md_config_errors_clear(&errs);

    unlink(file);
    rmdir(dir);
}

/* config/medalliond.yaml, as shipped: valid, and every value is the default. */
static void test_repo_example_config(void **state) {
    (void)state;
    const char *src = getenv("MEDALLION_SOURCE_DIR");
    if (src == NULL)
        fail_msg("MEDALLION_SOURCE_DIR is not set (ctest sets it)");
    char path[1024];
    snprintf(path, sizeof(path), "%s/config/medalliond.yaml", src);
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    int r = md_config_load(path, true, &cfg, &errs);
    for (int i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    assert_int_equal(r, 0);
    assert_defaults_except_url(cfg);
    assert_string_equal(cfg->database_url,
                        "postgresql://medalliond@/postgres?host=/var/run/postgresql");
    assert_string_equal(cfg->database_url_source, "config");
    for (int i = 0; i < MD_JOB_COUNT; i++)
        assert_true(cfg->jobs[i].listed); /* the example documents every job */
    md_config_free(cfg);
}

static void test_frozen_changes(void **state) {
    (void)state;
    static const struct {
        const char *a, *b;
        int count;
        const char *names;
    } cases[] = {
        {"database: {url: host=x}\n",
         "database: {url: host=x}\nlog_level: debug\nshutdown: {grace: 1m}\n", 0, ""},
        {"database: {url: host=x}\n", "database: {url: host=y}\n", 1, "database.url"},
        {"database: {url: host=x}\n", "log_level: info\n", 1, "database.url"},
        {"", "database: {pool_size: 8}\n", 1, "database.pool_size"},
        {"", "reporting: {timezone: Europe/Berlin, base_currency: EUR}\n", 2,
         "reporting.timezone, reporting.base_currency"},
        {"database: {url: host=x}\n",
         "database: {url: host=y, pool_size: 2}\nreporting: {timezone: Asia/Tokyo, base_currency: "
         "JPY}\n",
         4, "database.url, database.pool_size, reporting.timezone, reporting.base_currency"},
        /* jobs are not frozen: a schedule change applies on reload */
        {"", "jobs: {clean_events: {schedule: \"* * * * *\"}}\n", 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_config_t *a = load_ok(cases[i].a), *b = load_ok(cases[i].b);
        char buf[256];
        memset(buf, 'Z', sizeof(buf));
        assert_int_equal(md_config_frozen_changes(a, b, buf, sizeof(buf)), cases[i].count);
        assert_string_equal(buf, cases[i].names);
        md_config_free(a);
        md_config_free(b);
    }
    /* a short buffer is truncated but terminated, and the count stays right */
    md_config_t *a = load_ok("database: {url: host=x}\n"),
                *b = load_ok("database: {pool_size: 3}\n");
    char small[8];
    assert_int_equal(md_config_frozen_changes(a, b, small, sizeof(small)), 2);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(md_config_frozen_changes(a, b, NULL, 0), 2);
    md_config_free(a);
    md_config_free(b);
}

static void test_credentials_pgpass(void **state) {
    (void)state;
    char dir[] = "/tmp/md-cred-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[256];
    snprintf(file, sizeof(file), "%s/pgpass", dir);

    /* no CREDENTIALS_DIRECTORY: nothing happens */
    assert_int_equal(md_config_use_credential_pgpass(), 0);
    assert_null(getenv("PGPASSFILE"));

    /* directory without a pgpass credential: nothing happens */
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    assert_int_equal(md_config_use_credential_pgpass(), 0);
    assert_null(getenv("PGPASSFILE"));

    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("*:*:*:*:secret\n", f);
    fclose(f);
    assert_int_equal(md_config_use_credential_pgpass(), 1);
    assert_string_equal(getenv("PGPASSFILE"), file);

    /* an operator's own PGPASSFILE wins */
    setenv("PGPASSFILE", "/home/op/.pgpass", 1);
    assert_int_equal(md_config_use_credential_pgpass(), 0);
    assert_string_equal(getenv("PGPASSFILE"), "/home/op/.pgpass");

    /* md_config_load applies it */
    unsetenv("PGPASSFILE");
    md_config_t *cfg = NULL;
    md_config_errors_t errs = {0};
    assert_int_equal(md_config_load("/nonexistent/medalliond.yaml", false, &cfg, &errs), 0);
    assert_string_equal(getenv("PGPASSFILE"), file);
    md_config_free(cfg);

    unlink(file);
    rmdir(dir);
    clean_env(NULL);
}

/* ------------------------------------------------------------ CLI */

typedef struct captured {
    int rc;
    char out[4096];
    char err[4096];
} captured_t;

static void slurp(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
}

/* Run a subcommand with stdout and stderr sent to files, then read them back. */
static void run_cli(int (*fn)(int, char **), int argc, char **argv, captured_t *ret) {
    char out_path[] = "/tmp/md-cli-out-XXXXXX", err_path[] = "/tmp/md-cli-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    assert_true(out_fd >= 0 && err_fd >= 0);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    ret->rc = fn(argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    close(out_fd);
    close(err_fd);
    slurp(out_path, ret->out, sizeof(ret->out));
    slurp(err_path, ret->err, sizeof(ret->err));
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_cli_check_config(void **state) {
    (void)state;
    char path[] = "/tmp/md-check-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char want[1024];
    captured_t cap;

    /* valid: OK + one summary line, password redacted */
    write_file(path, "database:\n  url: \"postgresql://etl:hunter2@db/postgres\"\n"
                     "jobs:\n  clean_events: {enabled: false}\n");
    char *ok_argv[] = {"check-config", "-c", path, NULL};
    run_cli(md_cli_check_config, 3, ok_argv, &cap);
    assert_int_equal(cap.rc, 0);
    snprintf(want, sizeof(want),
             "%s: OK\n9 jobs, 8 enabled; log_level info; reporting.timezone UTC; base_currency "
             "USD; database postgresql://etl:***@db/postgres (from config)\n",
             path);
    assert_string_equal(cap.out, want);
    assert_string_equal(cap.err, "");
    assert_null(strstr(cap.out, "hunter2"));

    /* invalid: every error on stderr, exit 1 */
    write_file(path, "database:\n  pool_size: 0\nlog_level: loud\n");
    char *bad_argv[] = {"check-config", "--config", path, NULL};
    run_cli(md_cli_check_config, 3, bad_argv, &cap);
    assert_int_equal(cap.rc, 1);
    assert_string_equal(cap.out, "");
    snprintf(want, sizeof(want),
             "%s:2:14: database.pool_size: 0 is out of range (1..64)\n"
             "%s:3:12: log_level: unknown log level \"loud\" (valid: err, warn, info, debug)\n"
             "%s: invalid (2 errors)\n",
             path, path, path);
    assert_string_equal(cap.err, want);

    /* a named file that is missing is an error */
    unlink(path);
    run_cli(md_cli_check_config, 3, ok_argv, &cap);
    assert_int_equal(cap.rc, 1);
    snprintf(want, sizeof(want), "%s: cannot read: No such file or directory\n", path);
    assert_string_equal(cap.err, want);

    /* bad usage */
    char *usage_argv[] = {"check-config", "--frobnicate", NULL};
    run_cli(md_cli_check_config, 2, usage_argv, &cap);
    assert_int_equal(cap.rc, 2);
    assert_non_null(strstr(cap.err, "bad option \"--frobnicate\""));
    char *extra_argv[] = {"check-config", "extra", NULL};
    run_cli(md_cli_check_config, 2, extra_argv, &cap);
    assert_int_equal(cap.rc, 2);
}

static void test_cli_jobs(void **state) {
    (void)state;
    char path[] = "/tmp/md-jobs-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "reporting: {timezone: Europe/Berlin}\n"
                     "jobs:\n"
                     "  clean_api_logs: {enabled: false}\n"
                     "  clean_events: {schedule: \"@every 30s\"}\n");
    char *argv[] = {"jobs", "-c", path, "--from", "2026-01-15T10:00:00Z", NULL};
    captured_t cap;
    run_cli(md_cli_jobs, 5, argv, &cap);
    assert_int_equal(cap.rc, 0);
    /* Berlin is UTC+1 in January: gold's 01:00 local is 00:00Z. */
    static const char want[] =
        "NAME                       SCHEDULE      TIMEZONE       ENABLED  NEXT (UTC)\n"
        "clean_events               @every 30s    UTC            yes      2026-01-15T10:00:30Z  "
        "2026-01-15T10:01:00Z  2026-01-15T10:01:30Z\n"
        "clean_api_logs             */5 * * * *   UTC            no       -\n"
        "clean_user_actions         */5 * * * *   UTC            yes      2026-01-15T10:05:00Z  "
        "2026-01-15T10:10:00Z  2026-01-15T10:15:00Z\n"
        "validate_transactions      */5 * * * *   UTC            yes      2026-01-15T10:05:00Z  "
        "2026-01-15T10:10:00Z  2026-01-15T10:15:00Z\n"
        "build_user_sessions        */10 * * * *  UTC            yes      2026-01-15T10:10:00Z  "
        "2026-01-15T10:20:00Z  2026-01-15T10:30:00Z\n"
        "calculate_daily_metrics    0 1 * * *     Europe/Berlin  yes      2026-01-16T00:00:00Z  "
        "2026-01-17T00:00:00Z  2026-01-18T00:00:00Z\n"
        "calculate_revenue_summary  0 * * * *     Europe/Berlin  yes      2026-01-15T11:00:00Z  "
        "2026-01-15T12:00:00Z  2026-01-15T13:00:00Z\n"
        "calculate_user_cohorts     0 2 * * *     Europe/Berlin  yes      2026-01-16T01:00:00Z  "
        "2026-01-17T01:00:00Z  2026-01-18T01:00:00Z\n"
        "update_kpi_dashboard       0 * * * *     Europe/Berlin  yes      2026-01-15T11:00:00Z  "
        "2026-01-15T12:00:00Z  2026-01-15T13:00:00Z\n";
    assert_string_equal(cap.out, want);
    assert_string_equal(cap.err, "");

    /* config errors → 2, bad input (only check-config answers 1) */
    write_file(path, "jobs:\n  clean_events: {schedule: \"0 0 32 * *\"}\n");
    run_cli(md_cli_jobs, 5, argv, &cap);
    assert_int_equal(cap.rc, 2);
    assert_string_equal(cap.out, "");
    char prefix[512];
    snprintf(prefix, sizeof(prefix), "%s:2:28: jobs.clean_events.schedule: ", path);
    assert_int_equal(strncmp(cap.err, prefix, strlen(prefix)), 0);

    /* bad --from → usage error */
    char *bad_from[] = {"jobs", "-c", path, "--from", "yesterday", NULL};
    run_cli(md_cli_jobs, 5, bad_from, &cap);
    assert_int_equal(cap.rc, 2);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_minimal_file, clean_env),
        cmocka_unit_test_setup(test_empty_documents_are_defaults, clean_env),
        cmocka_unit_test_setup(test_product_example, clean_env),
        cmocka_unit_test_setup(test_full_custom_read_back, clean_env),
        cmocka_unit_test_setup(test_scalar_spellings, clean_env),
        cmocka_unit_test_setup(test_error_cases, clean_env),
        cmocka_unit_test_setup(test_errors_reported_together, clean_env),
        cmocka_unit_test_setup(test_url_never_echoed, clean_env),
        cmocka_unit_test_setup(test_database_url_precedence, clean_env),
        cmocka_unit_test_setup(test_config_path, clean_env),
        cmocka_unit_test_setup(test_load_files, clean_env),
        cmocka_unit_test_setup(test_repo_example_config, clean_env),
        cmocka_unit_test_setup(test_frozen_changes, clean_env),
        cmocka_unit_test_setup(test_credentials_pgpass, clean_env),
        cmocka_unit_test_setup(test_cli_check_config, clean_env),
        cmocka_unit_test_setup(test_cli_jobs, clean_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
