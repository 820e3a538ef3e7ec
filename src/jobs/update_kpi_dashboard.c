/* update_kpi_dashboard: the KPIs of product.md §4 for 24h / 7d / 30d (whole
 * days in reporting.timezone ending yesterday) and the previous period of each,
 * upserted into analytics.kpi_dashboard in one transaction. SQL sums and counts
 * per period window; ratios, change_percentage and trend are computed here
 * (transform/kpi.c). It never reads silver outside the 60 days it reports on,
 * and reads active users from medallion.user_days rather than raw events.
 *
 * It recomputes everything on every run instead of following dirty marks: the
 * work is fixed (9 metrics × 6 windows) and bounded by 60 days of silver read
 * through the created_at / started_at indexes, the windows themselves move
 * every day, and a full recompute cannot drift from silver. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "medallion/pg.h"
#include "medallion/transform/decimal.h"
#include "medallion/transform/kpi.h"

/* Window k (1-based in SQL) = period (k-1)/2, current when (k-1) is even. */
#define NWIN (MD_KPI_PERIOD_COUNT * 2)

typedef struct win_values {
    int64_t active, new_users, sessions, duration_sum, transactions, paying, api_total, api_errors;
    md_dec_t revenue;
    bool has_p95;
    md_dec_t p95;
} win_values_t;

/* Each window as a local-midnight range: $1 first days, $2 last days, $3 zone. */
#define WIN_CTE                                                                                    \
    "WITH w AS (SELECT k, s, e, s::timestamp AT TIME ZONE $3 AS lo, (e + 1)::timestamp AT TIME "   \
    "ZONE $3 AS hi FROM unnest($1::date[], $2::date[]) WITH ORDINALITY AS x(s, e, k)) "

enum { Q_EVENTS, Q_NEW_USERS, Q_SESSIONS, Q_TRANSACTIONS, Q_API, Q_COUNT };

static const char *const queries[Q_COUNT] = {
    /* Active users: medallion.user_days holds one row per user and local day
     * with a valid event, so the window's distinct users come from an
     * index-only scan of (day, user_id) instead of every raw event. */
    [Q_EVENTS] = WIN_CTE "SELECT w.k, count(DISTINCT d.user_id) FROM w JOIN medallion.user_days d "
                         "ON d.day BETWEEN w.s AND w.e GROUP BY w.k",
    [Q_NEW_USERS] = WIN_CTE "SELECT w.k, count(*) FROM w JOIN medallion.user_first_seen f ON "
                            "f.first_event_at >= w.lo AND f.first_event_at < w.hi GROUP BY w.k",
    /* started_at drives the index; session_date is the definition. */
    [Q_SESSIONS] = WIN_CTE "SELECT w.k, count(*), sum(s.duration_seconds) FROM w JOIN "
                           "analytics.user_sessions s ON s.started_at >= w.lo AND s.started_at < "
                           "w.hi AND s.session_date BETWEEN w.s AND w.e GROUP BY w.k",
    [Q_TRANSACTIONS] =
        WIN_CTE "SELECT w.k, count(*), sum(t.amount_base), count(DISTINCT t.user_id) FROM w JOIN "
                "analytics.transactions_validated t ON t.created_at >= w.lo AND t.created_at < "
                "w.hi WHERE t.is_valid AND NOT t.is_duplicate AND t.status = 'succeeded' GROUP "
                "BY w.k",
    /* percentile_cont works in double precision; its numeric text (15
     * significant digits) is stored rounded to 2 decimals and compared as is. */
    [Q_API] = WIN_CTE "SELECT w.k, count(*), count(*) FILTER (WHERE a.is_error), "
                      "percentile_cont(0.95) WITHIN GROUP (ORDER BY "
                      "a.response_time_ms::float8)::numeric FROM w JOIN "
                      "analytics.api_logs_clean a ON a.created_at >= w.lo AND a.created_at < w.hi "
                      "WHERE a.is_valid GROUP BY w.k",
};

static int64_t ival(PGresult *res, int r, int c) {
    return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

static int dval(md_job_ctx_t *ctx, PGresult *res, int r, int c, md_dec_t *ret) {
    if (md_dec_parse(PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c), ret) != 0)
        return md_error_set(&ctx->err, -EPROTO, "kpi: unreadable numeric %s",
                            PQgetvalue(res, r, c));
    return 0;
}

static int apply_row(md_job_ctx_t *ctx, int q, PGresult *res, int r, win_values_t *v) {
    switch (q) {
    case Q_EVENTS:
        v->active = ival(res, r, 1);
        return 0;
    case Q_NEW_USERS:
        v->new_users = ival(res, r, 1);
        return 0;
    case Q_SESSIONS:
        v->sessions = ival(res, r, 1);
        v->duration_sum = ival(res, r, 2);
        return 0;
    case Q_TRANSACTIONS:
        v->transactions = ival(res, r, 1);
        v->paying = ival(res, r, 3);
        /* sum() is NULL when every amount_base is (fx_rate_missing): 0 revenue. */
        return PQgetisnull(res, r, 2) ? 0 : dval(ctx, res, r, 2, &v->revenue);
    default:
        v->api_total = ival(res, r, 1);
        v->api_errors = ival(res, r, 2);
        v->has_p95 = !PQgetisnull(res, r, 3);
        return v->has_p95 ? dval(ctx, res, r, 3, &v->p95) : 0;
    }
}

static int gather(md_job_ctx_t *ctx, const char *starts, const char *ends, const char *zone,
                  win_values_t *w) {
    const char *params[] = {starts, ends, zone};
    for (int q = 0; q < Q_COUNT; q++) {
        PGresult *res = md_pg_query(ctx->conn, queries[q], 3, params, &ctx->err);
        if (res == NULL)
            return ctx->err.code;
        int rc = 0;
        for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
            int64_t k = ival(res, r, 0);
            if (k < 1 || k > NWIN)
                rc = md_error_set(&ctx->err, -EPROTO, "kpi: unexpected window %" PRId64, k);
            else
                rc = apply_row(ctx, q, res, r, &w[k - 1]);
            ctx->rows_read++;
        }
        PQclear(res);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* A metric value for one window; *ret_null when it is NULL. */
typedef enum metric {
    M_ACTIVE_USERS,
    M_NEW_USERS,
    M_SESSIONS,
    M_AVG_SESSION_DURATION,
    M_REVENUE,
    M_TRANSACTIONS,
    M_CONVERSION_RATE,
    M_API_ERROR_RATE,
    M_P95_RESPONSE_TIME,
    M_COUNT
} metric_t;

static const struct {
    const char *name;
    const char *unit; /* NULL: the base currency */
} metrics[M_COUNT] = {
    [M_ACTIVE_USERS] = {"active_users", "users"},
    [M_NEW_USERS] = {"new_users", "users"},
    [M_SESSIONS] = {"sessions", "sessions"},
    [M_AVG_SESSION_DURATION] = {"avg_session_duration", "seconds"},
    [M_REVENUE] = {"revenue", NULL},
    [M_TRANSACTIONS] = {"transactions", "count"},
    [M_CONVERSION_RATE] = {"conversion_rate", "percent"},
    [M_API_ERROR_RATE] = {"api_error_rate", "percent"},
    [M_P95_RESPONSE_TIME] = {"p95_response_time_ms", "ms"},
};

/* One metric in one window: the value stored (ratios and p95 rounded to 2
 * decimals) and what change_percentage is computed from (the exact fraction
 * for ratios, the unrounded value otherwise), so that rounding never shows
 * up in the change. */
typedef struct mval {
    bool is_null;
    bool is_ratio; /* num × factor / den; den 0 is NULL */
    int64_t num, den;
    md_dec_t stored, exact;
} mval_t;

static int ratio(int64_t num, int64_t den, int64_t factor, mval_t *ret) {
    ret->is_ratio = true;
    ret->num = num;
    ret->den = den;
    int rc = md_kpi_ratio(num, den, factor, 2, &ret->stored);
    if (rc == -EDOM) {
        ret->is_null = true;
        return 0;
    }
    return rc;
}

static int count(int64_t n, mval_t *ret) {
    md_dec_from_i64(n, &ret->stored);
    ret->exact = ret->stored;
    return 0;
}

static int metric_value(metric_t m, const win_values_t *v, mval_t *ret) {
    memset(ret, 0, sizeof(*ret));
    switch (m) {
    case M_ACTIVE_USERS:
        return count(v->active, ret);
    case M_NEW_USERS:
        return count(v->new_users, ret);
    case M_SESSIONS:
        return count(v->sessions, ret);
    case M_AVG_SESSION_DURATION:
        return ratio(v->duration_sum, v->sessions, 1, ret);
    case M_REVENUE:
        ret->stored = ret->exact = v->revenue;
        return 0;
    case M_TRANSACTIONS:
        return count(v->transactions, ret);
    case M_CONVERSION_RATE:
        return ratio(v->paying, v->active, 100, ret);
    case M_API_ERROR_RATE:
        return ratio(v->api_errors, v->api_total, 100, ret);
    default:
        ret->is_null = !v->has_p95;
        if (!v->has_p95)
            return 0;
        ret->exact = v->p95;
        return md_dec_round(&v->p95, 2, &ret->stored);
    }
}

static int compare(const mval_t *cur, const mval_t *prev, const md_dec_t *band,
                   md_kpi_change_t *ret) {
    if (cur->is_ratio)
        return md_kpi_compare_ratio(cur->num, cur->den, prev->num, prev->den, band, ret);
    return md_kpi_compare(cur->is_null ? NULL : &cur->exact, prev->is_null ? NULL : &prev->exact,
                          band, ret);
}

enum { C_NAME, C_PERIOD, C_VALUE, C_UNIT, C_PREV, C_CHANGE, C_TREND, C_START, C_END, C_COUNT };

static int add_text(md_array_lit_t *a, const char *s) {
    return md_array_lit_add(a, s, strlen(s));
}

/* Decimal text, or "" for NULL (mapped back by nullif() in SQL). */
static int add_dec(md_array_lit_t *a, const md_dec_t *v, bool is_null) {
    char buf[MD_DEC_TEXT_MAX] = "";
    if (!is_null && md_dec_format(v, buf, sizeof(buf)) < 0)
        return -ERANGE;
    return add_text(a, buf);
}

typedef struct period_dates {
    char start[MD_KPI_DATE_TEXT], end[MD_KPI_DATE_TEXT];
} period_dates_t;

static int build_rows(md_job_ctx_t *ctx, const win_values_t *w, const period_dates_t *cur,
                      md_array_lit_t *o) {
    md_dec_t band;
    if (md_kpi_flat_band(ctx->cfg->kpi_flat_band, &band) != 0)
        return md_error_set(&ctx->err, -EINVAL, "kpi.flat_band %g is not usable",
                            ctx->cfg->kpi_flat_band);
    const char *currency = ctx->cfg->base_currency ? ctx->cfg->base_currency : "USD";
    for (int p = 0; p < MD_KPI_PERIOD_COUNT; p++) {
        for (int m = 0; m < M_COUNT; m++) {
            mval_t cv, pv;
            md_kpi_change_t ch;
            int rc = metric_value((metric_t)m, &w[2 * p], &cv);
            if (rc == 0)
                rc = metric_value((metric_t)m, &w[2 * p + 1], &pv);
            if (rc == 0)
                rc = compare(&cv, &pv, &band, &ch);
            if (rc != 0)
                return md_error_set(&ctx->err, rc, "kpi %s (%s): value out of range",
                                    metrics[m].name, md_kpi_period_name((md_kpi_period_t)p));
            const char *unit = metrics[m].unit ? metrics[m].unit : currency;
            if (add_text(&o[C_NAME], metrics[m].name) != 0 ||
                add_text(&o[C_PERIOD], md_kpi_period_name((md_kpi_period_t)p)) != 0 ||
                add_dec(&o[C_VALUE], &cv.stored, cv.is_null) != 0 ||
                add_text(&o[C_UNIT], unit) != 0 ||
                add_dec(&o[C_PREV], &pv.stored, pv.is_null) != 0 ||
                add_dec(&o[C_CHANGE], &ch.change, !ch.has_change) != 0 ||
                add_text(&o[C_TREND], md_kpi_trend_name(ch.trend)) != 0 ||
                add_text(&o[C_START], cur[p].start) != 0 || add_text(&o[C_END], cur[p].end) != 0)
                return md_error_set(&ctx->err, -ENOMEM, "cannot build the kpi_dashboard rows");
        }
    }
    return 0;
}

static int upsert(md_job_ctx_t *ctx, md_array_lit_t *o) {
    const char *params[C_COUNT];
    for (int k = 0; k < C_COUNT; k++)
        params[k] = md_array_lit_end(&o[k]);
    PGresult *res = md_pg_query(
        ctx->conn,
        "INSERT INTO analytics.kpi_dashboard AS d (metric_name, time_period, metric_value, "
        "metric_unit, previous_value, change_percentage, trend, period_start, period_end, "
        "computed_at) SELECT n, p, nullif(v, '')::numeric, u, nullif(pv, '')::numeric, "
        "nullif(c, '')::numeric, t, s::date, e::date, now() FROM unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS "
        "x(n, p, v, u, pv, c, t, s, e) ON CONFLICT (metric_name, time_period) DO UPDATE SET "
        "metric_value = excluded.metric_value, metric_unit = excluded.metric_unit, "
        "previous_value = excluded.previous_value, change_percentage = "
        "excluded.change_percentage, trend = excluded.trend, period_start = "
        "excluded.period_start, period_end = excluded.period_end, computed_at = "
        "excluded.computed_at",
        C_COUNT, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    ctx->rows_written += strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

static int run_tx(md_job_ctx_t *ctx, void *arg) {
    int64_t today = *(const int64_t *)arg;
    const char *zone = md_tz_name(ctx->cfg->reporting_tz);
    period_dates_t cur[MD_KPI_PERIOD_COUNT];
    md_array_lit_t starts = {0}, ends = {0}, o[C_COUNT] = {0};
    md_array_lit_begin(&starts);
    md_array_lit_begin(&ends);
    for (int k = 0; k < C_COUNT; k++)
        md_array_lit_begin(&o[k]);
    int rc = 0;
    for (int p = 0; p < MD_KPI_PERIOD_COUNT && rc == 0; p++) {
        md_kpi_range_t r;
        char ps[MD_KPI_DATE_TEXT], pe[MD_KPI_DATE_TEXT];
        rc = md_kpi_range((md_kpi_period_t)p, today, &r);
        if (rc != 0) {
            md_error_set(&ctx->err, rc, "kpi: bad period %d", p);
            break;
        }
        md_kpi_day_text(r.start, cur[p].start, sizeof(cur[p].start));
        md_kpi_day_text(r.end, cur[p].end, sizeof(cur[p].end));
        md_kpi_day_text(r.prev_start, ps, sizeof(ps));
        md_kpi_day_text(r.prev_end, pe, sizeof(pe));
        if (add_text(&starts, cur[p].start) != 0 || add_text(&ends, cur[p].end) != 0 ||
            add_text(&starts, ps) != 0 || add_text(&ends, pe) != 0)
            rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    win_values_t w[NWIN];
    memset(w, 0, sizeof(w));
    for (int k = 0; k < NWIN; k++)
        md_dec_from_i64(0, &w[k].revenue);
    if (rc == 0)
        rc =
            gather(ctx, md_array_lit_end(&starts), md_array_lit_end(&ends), zone ? zone : "UTC", w);
    if (rc == 0)
        rc = build_rows(ctx, w, cur, o);
    if (rc == 0)
        rc = upsert(ctx, o);
    md_array_lit_free(&starts);
    md_array_lit_free(&ends);
    for (int k = 0; k < C_COUNT; k++)
        md_array_lit_free(&o[k]);
    return rc;
}

/* Everything stored by local day must be keyed to the reporting zone before
 * it is read; the re-keying (rarely needed: see migration 010) runs in its own
 * READ COMMITTED statement, never inside the REPEATABLE READ transaction
 * below. */
int md_job_update_kpi_dashboard(md_job_ctx_t *ctx) {
    /* "Today" comes from the daemon's clock in reporting.timezone; the run's
     * statements share one snapshot so every KPI sees the same silver. */
    int64_t today = md_kpi_local_day(ctx->cfg->reporting_tz, (int64_t)time(NULL));
    int rc = md_job_ensure_reporting_zone(ctx);
    if (rc != 0)
        return rc;
    return md_job_transaction(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ", run_tx, &today);
}
