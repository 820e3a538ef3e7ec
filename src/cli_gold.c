/* `medalliond backfill [-c FILE] --from DATE --to DATE [JOB...]`: mark a range
 * of days (and the cohort months they touch) dirty for the named gold jobs,
 * then run those jobs once through the ordinary runner. It never computes gold
 * itself: the jobs recompute exactly what is marked, as on any incremental run. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medallion/cli.h"
#include "medallion/config.h"
#include "medallion/jobdefs.h"
#include "medallion/log.h"
#include "medallion/pg.h"
#include "medallion/runner.h"
#include "medallion/tz.h"

/* 100 years: far more than any real backfill, small enough that a typo such
 * as 0202-01-01 is refused instead of marking 660 000 days. */
#define MAX_RANGE_DAYS 36525

static void backfill_usage(void) {
    fprintf(stderr, "usage: medalliond backfill [-c FILE] --from YYYY-MM-DD --to YYYY-MM-DD "
                    "[JOB...]\n"
                    "  jobs: calculate_daily_metrics calculate_revenue_summary "
                    "calculate_user_cohorts update_kpi_dashboard (default: all four)\n");
}

/* Strict YYYY-MM-DD (a real calendar date) → days since 1970-01-01. */
static int parse_date(const char *s, int64_t *ret_day) {
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -EINVAL;
    int v[3] = {0, 0, 0};
    const int start[3] = {0, 5, 8}, len[3] = {4, 2, 2};
    for (int f = 0; f < 3; f++)
        for (int i = 0; i < len[f]; i++) {
            char c = s[start[f] + i];
            if (c < '0' || c > '9')
                return -EINVAL;
            v[f] = v[f] * 10 + (c - '0');
        }
    if (v[0] < 1 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > md_days_in_month(v[0], v[1]))
        return -EINVAL;
    *ret_day = md_days_from_civil(v[0], v[1], v[2]);
    return 0;
}

static bool marks_days(md_job_id_t j) {
    return j == MD_JOB_CALCULATE_DAILY_METRICS || j == MD_JOB_CALCULATE_REVENUE_SUMMARY;
}

/* Marks for every wanted job in one transaction, so a failure marks nothing. */
static int mark_dirty(PGconn *conn, const md_config_t *cfg, const bool *wanted, const char *from,
                      const char *to, md_error_t *err) {
    const char *zone = md_tz_name(cfg->reporting_tz);
    int rc = md_pg_exec(conn, "BEGIN", err);
    for (int j = 0; j < MD_JOB_COUNT && rc == 0; j++) {
        if (!wanted[j] || !marks_days((md_job_id_t)j))
            continue;
        const char *params[] = {md_jobdef_get((md_job_id_t)j)->name, from, to};
        PGresult *res = md_pg_query(conn,
                                    "INSERT INTO medallion.gold_dirty (target, day) SELECT $1, "
                                    "d::date FROM generate_series($2::date, $3::date, interval "
                                    "'1 day') AS d ON CONFLICT (target, day) DO UPDATE SET "
                                    "marked_at = now()",
                                    3, params, err);
        if (res == NULL)
            rc = err->code;
        else
            fprintf(stderr, "backfill: %s: %s days marked\n", params[0], PQcmdTuples(res));
        PQclear(res);
    }
    if (rc == 0 && wanted[MD_JOB_CALCULATE_USER_COHORTS]) {
        /* Cohorts starting in the range, and the cohorts of every user with
         * activity or a payment in it (their month_N counts and revenue). */
        const char *params[] = {from, to, zone ? zone : "UTC"};
        PGresult *res = md_pg_query(
            conn,
            "WITH r AS (SELECT $1::date::timestamp AT TIME ZONE $3 AS lo, ($2::date + "
            "1)::timestamp AT TIME ZONE $3 AS hi), u AS (SELECT e.user_id FROM "
            "analytics.events_clean e, r WHERE e.is_valid AND e.user_id IS NOT NULL AND "
            "e.created_at >= r.lo AND e.created_at < r.hi UNION SELECT t.user_id FROM "
            "analytics.transactions_validated t, r WHERE t.user_id IS NOT NULL AND t.created_at "
            ">= r.lo AND t.created_at < r.hi) INSERT INTO medallion.cohort_dirty (cohort_month) "
            "SELECT m FROM (SELECT date_trunc('month', d)::date AS m FROM "
            "generate_series(date_trunc('month', $1::date), $2::date, interval '1 month') AS d "
            "UNION SELECT date_trunc('month', f.first_event_at AT TIME ZONE $3)::date FROM "
            "medallion.user_first_seen f JOIN u USING (user_id) WHERE f.first_event_at IS NOT "
            "NULL) x ORDER BY m ON CONFLICT (cohort_month) DO UPDATE SET marked_at = now()",
            3, params, err);
        if (res == NULL)
            rc = err->code;
        else
            fprintf(stderr, "backfill: calculate_user_cohorts: %s cohort months marked\n",
                    PQcmdTuples(res));
        PQclear(res);
    }
    if (rc == 0)
        rc = md_pg_exec(conn, "COMMIT", err);
    if (rc != 0 && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }
    return rc;
}

static void run_plain(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                      void *arg, md_run_result_t *ret) {
    (void)arg;
    md_runner_run(cfg, job, conn, lock_conn, "manual", NULL, ret);
}

/* Arguments → wanted jobs and the range; MD_EXIT_OK or MD_EXIT_USAGE. */
static int parse_args(int argc, char **argv, const char **ret_cfg_path, bool *wanted, char *from,
                      char *to) {
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"to", required_argument, NULL, 't'},
                                         {0}};
    const char *from_s = NULL, *to_s = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
        if (c == 'c')
            *ret_cfg_path = optarg;
        else if (c == 'f')
            from_s = optarg;
        else if (c == 't')
            to_s = optarg;
        else
            return MD_EXIT_USAGE;
    }
    int64_t d0, d1;
    if (from_s == NULL || to_s == NULL) {
        fprintf(stderr, "medalliond backfill: --from and --to are required\n");
        return MD_EXIT_USAGE;
    }
    if (parse_date(from_s, &d0) != 0 || parse_date(to_s, &d1) != 0) {
        fprintf(stderr, "medalliond backfill: '%s' is not a date (YYYY-MM-DD)\n",
                parse_date(from_s, &d0) != 0 ? from_s : to_s);
        return MD_EXIT_USAGE;
    }
    if (d0 > d1) {
        fprintf(stderr, "medalliond backfill: --from %s is after --to %s\n", from_s, to_s);
        return MD_EXIT_USAGE;
    }
    if (d1 - d0 >= MAX_RANGE_DAYS) {
        fprintf(stderr, "medalliond backfill: range longer than %d days\n", MAX_RANGE_DAYS);
        return MD_EXIT_USAGE;
    }
    snprintf(from, 16, "%s", from_s);
    snprintf(to, 16, "%s", to_s);
    int named = 0;
    for (int i = optind; i < argc; i++, named++) {
        int id = md_jobdef_find(argv[i]);
        if (id < 0 || md_jobdef_get((md_job_id_t)id)->layer != MD_LAYER_GOLD) {
            fprintf(stderr, "medalliond backfill: '%s' is %s; gold jobs are:", argv[i],
                    id < 0 ? "not a job" : "not a gold job");
            for (int j = 0; j < MD_JOB_COUNT; j++)
                if (md_jobdef_get((md_job_id_t)j)->layer == MD_LAYER_GOLD)
                    fprintf(stderr, " %s", md_jobdef_get((md_job_id_t)j)->name);
            fputc('\n', stderr);
            return MD_EXIT_USAGE;
        }
        wanted[id] = true;
    }
    if (named == 0)
        for (int j = 0; j < MD_JOB_COUNT; j++)
            wanted[j] = md_jobdef_get((md_job_id_t)j)->layer == MD_LAYER_GOLD;
    return MD_EXIT_OK;
}

int md_cli_backfill(int argc, char **argv) {
    const char *cfg_path = NULL;
    bool wanted[MD_JOB_COUNT] = {false};
    char from[16], to[16];
    if (parse_args(argc, argv, &cfg_path, wanted, from, to) != MD_EXIT_OK) {
        backfill_usage();
        return MD_EXIT_USAGE;
    }
    md_config_t *cfg;
    if (md_cli_load_config(cfg_path, &cfg) != 0)
        return MD_EXIT_USAGE;
    md_log_set_level(cfg->log_level);
    PGconn *conn, *lock_conn;
    if (md_cli_open_checked("backfill", cfg, &conn, &lock_conn) != MD_EXIT_OK) {
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }
    md_error_t err = {0};
    int code = MD_EXIT_OK;
    if (mark_dirty(conn, cfg, wanted, from, to, &err) != 0) {
        fprintf(stderr, "medalliond backfill: %s\n", err.msg);
        PQfinish(conn);
        PQfinish(lock_conn);
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }
    /* Same order and failure rule as `run`: a later gold job would read the
     * stale output of a failed earlier one. No per-job timeout here: an
     * operator asked for this range, however long it takes (Ctrl-C rolls the
     * running job back). Marks a job did not consume stay for its next run. */
    code = md_cli_run_sequence("backfill", cfg, wanted, conn, lock_conn, run_plain, NULL);
    PQfinish(conn);
    PQfinish(lock_conn);
    md_config_free(cfg);
    return code;
}
