/* calculate_daily_metrics: recompute analytics.daily_metrics for exactly the
 * days marked dirty (medallion.gold_dirty), in one transaction that consumes
 * those marks. SQL sends per-user-per-day rows (from medallion.user_days, kept
 * by build_user_sessions); the metric definitions (product.md §4 "Users",
 * "Revenue") are applied here. Never scans all days. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/pg.h"
#include "medallion/transform/decimal.h"

#define TARGET "calculate_daily_metrics"

typedef struct day_metrics {
    char date[16];
    int64_t active, new_users, sessions, duration_sum, events, transactions, paying;
    md_dec_t revenue;
} day_metrics_t;

/* Each day as a local-midnight range: $1 days, $2 zone. */
#define DAYS_CTE                                                                                   \
    "WITH d AS (SELECT day, day::timestamp AT TIME ZONE $2 AS lo, (day + 1)::timestamp AT TIME "   \
    "ZONE $2 AS hi FROM unnest($1::date[]) AS day) "

static int find_day(const day_metrics_t *m, int n, const char *date) {
    for (int lo = 0, hi = n - 1; lo <= hi;) { /* m is sorted by date text */
        int mid = (lo + hi) / 2, c = strcmp(m[mid].date, date);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static int cmp_date(const void *a, const void *b) {
    return strcmp(((const day_metrics_t *)a)->date, ((const day_metrics_t *)b)->date);
}

static PGresult *per_day_query(md_job_ctx_t *ctx, const char *sql, const char *days,
                               const char *zone) {
    const char *params[] = {days, zone};
    return md_pg_query(ctx->conn, sql, 2, params, &ctx->err);
}

static int day_index(md_job_ctx_t *ctx, const day_metrics_t *m, int n, PGresult *res, int r) {
    int i = find_day(m, n, PQgetvalue(res, r, 0));
    if (i < 0)
        md_error_set(&ctx->err, -EPROTO, "daily metrics: unexpected day %s", PQgetvalue(res, r, 0));
    return i;
}

static int64_t ival(PGresult *res, int r, int c) {
    return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

static int gather(md_job_ctx_t *ctx, day_metrics_t *m, int n, const char *days, const char *zone) {
    /* Events of known users: medallion.user_days already holds one row per
     * (user, local day) with a valid event and its count; one row per
     * (day, user) comes back. Anonymous valid events (no user_id) only add to
     * total_events: one count per day, through the (user_id, created_at) index. */
    PGresult *res = per_day_query(ctx,
                                  DAYS_CTE "SELECT d.day::text, u.events FROM d JOIN "
                                           "medallion.user_days u ON u.day = d.day",
                                  days, zone);
    if (res == NULL)
        return ctx->err.code;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = day_index(ctx, m, n, res, r);
        if (i < 0) {
            PQclear(res);
            return ctx->err.code;
        }
        m[i].active++;
        m[i].events += ival(res, r, 1);
        ctx->rows_read += 1;
    }
    PQclear(res);

    res = per_day_query(ctx,
                        DAYS_CTE "SELECT d.day::text, x.n FROM d CROSS JOIN LATERAL (SELECT "
                                 "count(*) AS n FROM analytics.events_clean e WHERE e.user_id IS "
                                 "NULL AND e.created_at >= d.lo AND e.created_at < d.hi AND "
                                 "e.is_valid) x",
                        days, zone);
    if (res == NULL)
        return ctx->err.code;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = day_index(ctx, m, n, res, r);
        if (i < 0) {
            PQclear(res);
            return ctx->err.code;
        }
        m[i].events += ival(res, r, 1);
    }
    PQclear(res);

    res = per_day_query(ctx,
                        DAYS_CTE "SELECT d.day::text, count(*) FROM d JOIN "
                                 "medallion.user_first_seen f ON f.first_event_at >= d.lo AND "
                                 "f.first_event_at < d.hi GROUP BY d.day",
                        days, zone);
    if (res == NULL)
        return ctx->err.code;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = day_index(ctx, m, n, res, r);
        if (i < 0) {
            PQclear(res);
            return ctx->err.code;
        }
        m[i].new_users += ival(res, r, 1);
    }
    PQclear(res);

    /* Per day (LATERAL): an equality join on session_date makes the planner
     * hash-join a scan of every session; started_at drives the index. */
    res = per_day_query(ctx,
                        DAYS_CTE "SELECT d.day::text, x.n, x.dur FROM d CROSS JOIN LATERAL "
                                 "(SELECT count(*) AS n, sum(s.duration_seconds) AS dur FROM "
                                 "analytics.user_sessions s WHERE s.started_at >= d.lo AND "
                                 "s.started_at < d.hi AND s.session_date = d.day) x",
                        days, zone);
    if (res == NULL)
        return ctx->err.code;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = day_index(ctx, m, n, res, r);
        if (i < 0) {
            PQclear(res);
            return ctx->err.code;
        }
        m[i].sessions += ival(res, r, 1);
        m[i].duration_sum += ival(res, r, 2);
    }
    PQclear(res);

    /* Revenue: succeeded, valid, non-duplicate; one row per (day, user). */
    res = per_day_query(
        ctx,
        DAYS_CTE "SELECT d.day::text, t.user_id IS NOT NULL, count(*), sum(t.amount_base) FROM d "
                 "JOIN analytics.transactions_validated t ON t.created_at >= d.lo AND "
                 "t.created_at < d.hi WHERE t.is_valid AND NOT t.is_duplicate AND t.status = "
                 "'succeeded' GROUP BY d.day, t.user_id",
        days, zone);
    if (res == NULL)
        return ctx->err.code;
    for (int r = 0; r < PQntuples(res); r++) {
        int i = day_index(ctx, m, n, res, r);
        if (i < 0) {
            PQclear(res);
            return ctx->err.code;
        }
        if (PQgetvalue(res, r, 1)[0] == 't')
            m[i].paying++;
        m[i].transactions += ival(res, r, 2);
        if (!PQgetisnull(res, r, 3)) {
            md_dec_t v, sum;
            if (md_dec_parse(PQgetvalue(res, r, 3), (size_t)PQgetlength(res, r, 3), &v) != 0 ||
                md_dec_add(&m[i].revenue, &v, &sum) != 0) {
                PQclear(res);
                return md_error_set(&ctx->err, -ERANGE, "revenue of %s out of range", m[i].date);
            }
            m[i].revenue = sum;
        }
    }
    PQclear(res);
    return 0;
}

typedef struct out_arrays {
    md_array_lit_t a[11];
} out_arrays_t;

static int add_num(md_array_lit_t *a, int64_t v) {
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    return md_array_lit_add(a, b, strlen(b));
}

/* ratio rounded half up to `scale` decimals, as text; num, den >= 0, den > 0. */
static void ratio_text(int64_t num, int64_t den, int scale, char *buf, size_t cap) {
    int64_t pow10 = 1;
    for (int i = 0; i < scale; i++)
        pow10 *= 10;
    __int128 q = ((__int128)num * pow10 * 2 + den) / ((__int128)den * 2);
    snprintf(buf, cap, "%" PRId64 ".%0*" PRId64, (int64_t)(q / pow10), scale, (int64_t)(q % pow10));
}

/* Nothing on the day: no valid event, session or succeeded transaction. */
static bool day_empty(const day_metrics_t *d) {
    return d->active == 0 && d->new_users == 0 && d->events == 0 && d->sessions == 0 &&
           d->transactions == 0 && d->paying == 0 && md_dec_sign(&d->revenue) == 0;
}

static int upsert(md_job_ctx_t *ctx, const day_metrics_t *m, int n) {
    out_arrays_t o = {0};
    for (int k = 0; k < 11; k++)
        md_array_lit_begin(&o.a[k]);
    md_array_lit_t empty = {0};
    md_array_lit_begin(&empty);
    int rc = 0, written = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (day_empty(&m[i])) {
            if (md_array_lit_add(&empty, m[i].date, strlen(m[i].date)) != 0)
                rc = -ENOMEM;
            continue;
        }
        written++;
        char avg[48] = "", conv[48] = "", rev[128];
        if (m[i].sessions > 0)
            ratio_text(m[i].duration_sum, m[i].sessions, 2, avg, sizeof(avg));
        if (m[i].active > 0)
            ratio_text(m[i].paying, m[i].active, 4, conv, sizeof(conv));
        if (md_dec_format(&m[i].revenue, rev, sizeof(rev)) < 0)
            rc = -ERANGE;
        /* An empty element stands for NULL: mapped by nullif() in SQL. */
        else if (md_array_lit_add(&o.a[0], m[i].date, strlen(m[i].date)) != 0 ||
                 add_num(&o.a[1], m[i].active) != 0 || add_num(&o.a[2], m[i].new_users) != 0 ||
                 add_num(&o.a[3], m[i].active - m[i].new_users) != 0 ||
                 add_num(&o.a[4], m[i].sessions) != 0 ||
                 md_array_lit_add(&o.a[5], avg, strlen(avg)) != 0 ||
                 add_num(&o.a[6], m[i].events) != 0 ||
                 md_array_lit_add(&o.a[7], rev, strlen(rev)) != 0 ||
                 add_num(&o.a[8], m[i].transactions) != 0 || add_num(&o.a[9], m[i].paying) != 0 ||
                 md_array_lit_add(&o.a[10], conv, strlen(conv)) != 0)
            rc = -ENOMEM;
    }
    const char *params[11];
    for (int k = 0; k < 11; k++)
        params[k] = md_array_lit_end(&o.a[k]);
    PGresult *res = NULL;
    if (rc == 0)
        res = md_pg_query(
            ctx->conn,
            "INSERT INTO analytics.daily_metrics AS m (date, active_users, new_users, "
            "returning_users, total_sessions, avg_session_duration_seconds, total_events, "
            "total_revenue, total_transactions, paying_users, conversion_rate, updated_at) "
            "SELECT d::date, a::int, n::int, r::int, s::int, nullif(avg, '')::numeric, e::bigint, "
            "rev::numeric, t::int, p::int, nullif(c, '')::numeric, now() FROM "
            "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
            "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) AS x(d, a, n, r, s, "
            "avg, e, rev, t, p, c) ON CONFLICT (date) DO UPDATE SET active_users = "
            "excluded.active_users, new_users = excluded.new_users, returning_users = "
            "excluded.returning_users, total_sessions = excluded.total_sessions, "
            "avg_session_duration_seconds = excluded.avg_session_duration_seconds, total_events "
            "= excluded.total_events, total_revenue = excluded.total_revenue, "
            "total_transactions = excluded.total_transactions, paying_users = "
            "excluded.paying_users, conversion_rate = excluded.conversion_rate, updated_at = "
            "now()",
            11, params, &ctx->err);
    for (int k = 0; k < 11; k++)
        md_array_lit_free(&o.a[k]);
    const char *empty_days = md_array_lit_end(&empty);
    if (rc == 0 && empty_days == NULL)
        rc = -ENOMEM;
    if (rc != 0) {
        md_array_lit_free(&empty);
        return md_error_set(&ctx->err, rc, "cannot build the daily_metrics rows");
    }
    if (res == NULL) {
        md_array_lit_free(&empty);
        return ctx->err.code;
    }
    PQclear(res);
    ctx->rows_written += written;
    rc = empty.count > 0 ? md_job_delete_gold_days(ctx, "analytics.daily_metrics", empty_days) : 0;
    md_array_lit_free(&empty);
    return rc;
}

static int run_tx(md_job_ctx_t *ctx, void *arg) {
    (void)arg;
    PGresult *res = md_job_take_dirty_days(ctx, TARGET);
    if (res == NULL)
        return ctx->err.code;
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        return 0;
    }
    day_metrics_t *m = calloc((size_t)n, sizeof(*m));
    md_array_lit_t days = {0};
    md_array_lit_begin(&days);
    int rc = 0;
    if (m == NULL)
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    for (int i = 0; i < n && rc == 0; i++) {
        snprintf(m[i].date, sizeof(m[i].date), "%s", PQgetvalue(res, i, 0));
        md_dec_from_i64(0, &m[i].revenue);
    }
    PQclear(res);
    if (rc == 0) {
        qsort(m, (size_t)n, sizeof(*m), cmp_date);
        for (int i = 0; i < n && rc == 0; i++)
            if (md_array_lit_add(&days, m[i].date, strlen(m[i].date)) != 0)
                rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    const char *zone = md_tz_name(ctx->cfg->reporting_tz);
    if (rc == 0)
        rc = gather(ctx, m, n, md_array_lit_end(&days), zone ? zone : "UTC");
    if (rc == 0)
        rc = upsert(ctx, m, n);
    md_array_lit_free(&days);
    free(m);
    return rc;
}

/* Everything stored by local day must be keyed to the reporting zone before
 * it is read (migration 010); the re-keying, rarely needed, commits on its
 * own. */
int md_job_calculate_daily_metrics(md_job_ctx_t *ctx) {
    int rc = md_job_ensure_reporting_zone(ctx);
    if (rc != 0)
        return rc;
    return md_job_transaction(ctx, "BEGIN", run_tx, NULL);
}
