/* calculate_user_cohorts: recompute analytics.user_cohorts for exactly the
 * cohort months that are dirty — marked by silver batches (medallion.cohort_dirty,
 * consumed in this transaction) or reached by a month rollover since the last
 * successful run — and delete cohorts left empty. SQL sends one row per cohort
 * user (with a mask of its active months, from medallion.user_days) and one
 * revenue sum per paying user; sizes, retention and revenue per user are
 * computed here.
 * Never scans every cohort's history when nothing is dirty.
 *
 * Definitions (product.md §4 "Cohorts"; months are calendar months in
 * reporting.timezone, judged against the transaction's now()):
 * - month_0_users = cohort size (users whose first valid event, from
 *   medallion.user_first_seen, falls in cohort_month); a cohort left with no
 *   user (its users' first events moved earlier) has its row deleted.
 * - month_N_users = cohort users with a valid event in month cohort + N: NULL
 *   before that month starts, then the count so far (partial while it runs).
 *   "Had a valid event on a local day" is read from medallion.user_days.
 * - month_N_retention = month_N_users / month_0_users rounded half up to 4
 *   decimals, NULL until month N has ended.
 * - total_revenue = all-time sum of amount_base of the cohort users' valid,
 *   non-duplicate, succeeded transactions (NULL amount_base skipped);
 *   avg_revenue_per_user = total_revenue / month_0_users, exact, rounded half
 *   away from zero to 4 decimals.
 * Rollover: with no mark, a cohort is still dirty when the start of its month
 * N or N + 1 (N in 1, 2, 3, 6, 12) fell after the month of the last successful
 * run (medallion.job_runs). With no successful run yet, every cohort is. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/pg.h"
#include "medallion/transform/decimal.h"
#include "medallion/tz.h"

#define TARGET "calculate_user_cohorts"
#define NMONTHS 5
/* Fraction digits of the ratios we store: retention and avg_revenue_per_user. */
#define RATIO_SCALE 4

/* The month_N columns of analytics.user_cohorts. */
static const int k_months[NMONTHS] = {1, 2, 3, 6, 12};

typedef struct cohort {
    int32_t idx; /* months since year 0: year * 12 + month - 1 (calendar, reporting tz) */
    int64_t users;
    int64_t month_users[NMONTHS];
    md_dec_t revenue;
} cohort_t;

typedef struct cohort_set {
    cohort_t *v;
    int n, cap;
} cohort_set_t;

static void month_text(int32_t idx, char buf[24]) {
    snprintf(buf, 24, "%04d-%02d-01", (int)(idx / 12), (int)(idx % 12) + 1);
}

/* "YYYY-MM" or "YYYY-MM-DD" → month index; -1 on anything else. */
static int32_t parse_month(const char *s) {
    int y = 0, m = 0;
    if (sscanf(s, "%d-%d", &y, &m) != 2 || y < 1 || y > 9999 || m < 1 || m > 12)
        return -1;
    return (int32_t)(y * 12 + m - 1);
}

static int add_month(md_job_ctx_t *ctx, cohort_set_t *set, const char *text) {
    int32_t idx = parse_month(text);
    if (idx < 0)
        return md_error_set(&ctx->err, -EPROTO, "user cohorts: bad cohort month '%s'", text);
    if (set->n == set->cap) {
        int ncap = set->cap ? 2 * set->cap : 32;
        cohort_t *nv = realloc(set->v, (size_t)ncap * sizeof(*nv));
        if (nv == NULL)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        set->v = nv;
        set->cap = ncap;
    }
    cohort_t *c = &set->v[set->n++];
    memset(c, 0, sizeof(*c));
    c->idx = idx;
    md_dec_from_i64(0, &c->revenue);
    return 0;
}

static int cmp_cohort(const void *a, const void *b) {
    int32_t x = ((const cohort_t *)a)->idx, y = ((const cohort_t *)b)->idx;
    return (x > y) - (x < y);
}

static void sort_unique(cohort_set_t *set) {
    if (set->n == 0)
        return;
    qsort(set->v, (size_t)set->n, sizeof(*set->v), cmp_cohort);
    int m = 1;
    for (int i = 1; i < set->n; i++)
        if (set->v[i].idx != set->v[m - 1].idx)
            set->v[m++] = set->v[i];
    set->n = m;
}

/* A rollover changes a cohort's row when the start of month N (month_N_users
 * turns from NULL to a count) or of month N + 1 (month_N_retention turns from
 * NULL to a ratio) falls after the last successful run's month and no later
 * than this run's month. */
static bool rolled_over(int32_t cohort, int32_t last, int32_t today) {
    for (int j = 0; j < NMONTHS; j++)
        for (int e = 0; e <= 1; e++) {
            int32_t start = cohort + k_months[j] + e;
            if (last < start && start <= today)
                return true;
        }
    return false;
}

static PGresult *query(md_job_ctx_t *ctx, const char *sql, int n, const char *const *params) {
    return md_pg_query(ctx->conn, sql, n, params, &ctx->err);
}

/* Collect the dirty set: consumed marks plus rollover cohorts. ret_today is
 * the month of now() in the reporting zone, which decides every NULL below. */
static int dirty_cohorts(md_job_ctx_t *ctx, const char *zone, cohort_set_t *set,
                         int32_t *ret_today) {
    const char *p2[] = {zone, TARGET};
    PGresult *res = query(ctx,
                          "SELECT to_char(now() AT TIME ZONE $1, 'YYYY-MM'), (SELECT "
                          "to_char(max(started_at) AT TIME ZONE $1, 'YYYY-MM') FROM "
                          "medallion.job_runs WHERE job_name = $2 AND status = 'succeeded')",
                          2, p2);
    if (res == NULL)
        return ctx->err.code;
    int32_t today = parse_month(PQgetvalue(res, 0, 0));
    bool ever = !PQgetisnull(res, 0, 1);
    int32_t last = ever ? parse_month(PQgetvalue(res, 0, 1)) : -1;
    PQclear(res);
    if (today < 0 || (ever && last < 0))
        return md_error_set(&ctx->err, -EPROTO, "user cohorts: cannot read the current month");

    /* Marks committed after this statement's snapshot are not deleted: they
     * survive to the next run. */
    res = query(ctx,
                "DELETE FROM medallion.cohort_dirty c USING (SELECT cohort_month FROM "
                "medallion.cohort_dirty ORDER BY 1 FOR UPDATE) x WHERE c.cohort_month = "
                "x.cohort_month RETURNING c.cohort_month::text",
                0, NULL); /* locked in order, as the writers take them (no deadlock) */
    if (res == NULL)
        return ctx->err.code;
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++)
        rc = add_month(ctx, set, PQgetvalue(res, i, 0));
    PQclear(res);
    if (rc != 0)
        return rc;

    /* Never succeeded (first run, or cohorts first seen before this job
     * existed): every cohort is dirty, and every stored row is re-checked. */
    const char *p1[] = {zone};
    res = query(ctx,
                ever ? "SELECT cohort_month::text FROM analytics.user_cohorts"
                     : "SELECT cohort_month::text FROM analytics.user_cohorts UNION SELECT "
                       "DISTINCT date_trunc('month', first_event_at AT TIME ZONE $1)::date::text "
                       "FROM medallion.user_first_seen WHERE first_event_at IS NOT NULL",
                ever ? 0 : 1, p1);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *m = PQgetvalue(res, i, 0);
        int32_t idx = parse_month(m);
        if (!ever || (idx >= 0 && rolled_over(idx, last, today)))
            rc = add_month(ctx, set, m);
    }
    PQclear(res);
    if (rc == 0) {
        sort_unique(set);
        *ret_today = today;
    }
    return rc;
}

/* Every dirty cohort's users: $1 cohort months, $2 zone. */
#define COHORT_CTE                                                                                 \
    "WITH c AS (SELECT m, m::timestamp AT TIME ZONE $2 AS lo, (m + interval '1 month') AT TIME "   \
    "ZONE $2 AS hi FROM unnest($1::date[]) AS m), u AS (SELECT c.m, f.user_id FROM c JOIN "        \
    "medallion.user_first_seen f ON f.first_event_at >= c.lo AND f.first_event_at < c.hi) "
#define MONTH_IDX(d) "(extract(year FROM " d ")::int * 12 + extract(month FROM " d ")::int)"

static cohort_t *find_cohort(md_job_ctx_t *ctx, cohort_set_t *set, const char *month) {
    int32_t idx = parse_month(month);
    for (int lo = 0, hi = set->n - 1; lo <= hi;) { /* set is sorted by idx */
        int mid = (lo + hi) / 2;
        if (set->v[mid].idx == idx)
            return &set->v[mid];
        if (set->v[mid].idx < idx)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    md_error_set(&ctx->err, -EPROTO, "user cohorts: unexpected cohort month '%s'", month);
    return NULL;
}

/* All dirty cohorts in two statements, each one pass over its table. SQL sends
 * one row per cohort user: a bit mask of the months after the cohort month
 * (bit N: month cohort + N, N in 1..12) in which the user had a valid event,
 * read from medallion.user_days (local days with a valid event, kept by
 * build_user_sessions), never from raw events; then one revenue sum per
 * paying user. Sizes, month_N counts and revenue are added up here. */
static int gather(md_job_ctx_t *ctx, const char *zone, cohort_set_t *set) {
    md_array_lit_t months = {0};
    md_array_lit_begin(&months);
    for (int i = 0; i < set->n; i++) {
        char m[24];
        month_text(set->v[i].idx, m);
        if (md_array_lit_add(&months, m, strlen(m)) != 0) {
            md_array_lit_free(&months);
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        }
    }
    const char *params[] = {md_array_lit_end(&months), zone};
    PGresult *res = NULL;
    if (params[0] == NULL)
        md_error_set(&ctx->err, -ENOMEM, "out of memory");
    else
        res = query(ctx,
                    COHORT_CTE "SELECT u.m::text, coalesce(bit_or(1 << (" MONTH_IDX(
                        "d.day") " - " MONTH_IDX("u.m") ")), 0) FROM u LEFT JOIN "
                                                        "medallion.user_days d ON d.user_id = "
                                                        "u.user_id AND d.day >= (u.m + interval "
                                                        "'1 month')::date AND d.day < (u.m + "
                                                        "interval '13 months')::date GROUP BY "
                                                        "u.m, u.user_id",
                    2, params);
    int rc = res == NULL ? ctx->err.code : 0;
    for (int r = 0; res != NULL && r < PQntuples(res) && rc == 0; r++) {
        cohort_t *c = find_cohort(ctx, set, PQgetvalue(res, r, 0));
        if (c == NULL) {
            rc = ctx->err.code;
            break;
        }
        int64_t mask = strtoll(PQgetvalue(res, r, 1), NULL, 10);
        c->users++;
        for (int j = 0; j < NMONTHS; j++)
            if (mask & ((int64_t)1 << k_months[j]))
                c->month_users[j]++;
        ctx->rows_read++;
    }
    PQclear(res);
    res = NULL;

    /* Revenue: valid, non-duplicate, succeeded, all time; one sum per user. */
    if (rc == 0 && (res = query(ctx,
                                COHORT_CTE "SELECT u.m::text, sum(t.amount_base)::text FROM u JOIN "
                                           "analytics.transactions_validated t ON t.user_id = "
                                           "u.user_id WHERE t.is_valid AND NOT t.is_duplicate AND "
                                           "t.status = 'succeeded' AND t.amount_base IS NOT NULL "
                                           "GROUP BY u.m, u.user_id",
                                2, params)) == NULL)
        rc = ctx->err.code;
    for (int r = 0; res != NULL && r < PQntuples(res) && rc == 0; r++) {
        cohort_t *c = find_cohort(ctx, set, PQgetvalue(res, r, 0));
        if (c == NULL) {
            rc = ctx->err.code;
            break;
        }
        md_dec_t v, sum;
        ctx->rows_read++;
        if (md_dec_parse(PQgetvalue(res, r, 1), (size_t)PQgetlength(res, r, 1), &v) != 0 ||
            md_dec_add(&c->revenue, &v, &sum) != 0)
            rc = md_error_set(&ctx->err, -ERANGE, "revenue of cohort %s out of range",
                              PQgetvalue(res, r, 0));
        else
            c->revenue = sum;
    }
    PQclear(res);
    md_array_lit_free(&months);
    return rc;
}

/* num / den (num >= 0, den > 0) rounded half up to RATIO_SCALE decimals. */
static void ratio_text(int64_t num, int64_t den, char *buf, size_t cap) {
    int64_t pow10 = 1;
    for (int i = 0; i < RATIO_SCALE; i++)
        pow10 *= 10;
    __int128 q = ((__int128)num * pow10 * 2 + den) / ((__int128)den * 2);
    snprintf(buf, cap, "%" PRId64 ".%0*" PRId64, (int64_t)(q / pow10), RATIO_SCALE,
             (int64_t)(q % pow10));
}

/* v / den (den > 0) rounded half away from zero to RATIO_SCALE decimals, as
 * text. Long division of |v| truncated to RATIO_SCALE + 1 fraction digits:
 * floor(floor(x) / den) = floor(x / den) for an integer den, so the truncated
 * quotient still carries the exact rounding digit. */
static int dec_div_text(const md_dec_t *v, int64_t den, char *buf, size_t cap) {
    enum { FD = RATIO_SCALE + 1 };
    char t[MD_DEC_TEXT_MAX], x[MD_DEC_TEXT_MAX + FD], q[MD_DEC_TEXT_MAX + FD + 4];
    if (!md_dec_is_finite(v) || den <= 0 || md_dec_format(v, t, sizeof(t)) < 0)
        return -ERANGE;
    bool neg = t[0] == '-';
    const char *digits = t + neg, *point = strchr(digits, '.');
    size_t ni = point ? (size_t)(point - digits) : strlen(digits), nx = ni;
    memcpy(x, digits, ni); /* x = |v| * 10^FD, truncated, as digits */
    for (size_t i = 0; i < FD; i++)
        x[nx++] = point && i < strlen(point + 1) ? point[1 + i] : '0';
    size_t nq = 0;
    int64_t rem = 0;
    for (size_t i = 0; i < nx; i++) {
        rem = rem * 10 + (x[i] - '0');
        q[nq++] = (char)('0' + rem / den);
        rem %= den;
    }
    /* q has at least FD + 1 digits (ni >= 1: "0.5" formats with its "0"). */
    char text[sizeof(q) + 2];
    size_t len = 0;
    if (neg)
        text[len++] = '-';
    memcpy(text + len, q, nq - FD);
    len += nq - FD;
    text[len++] = '.';
    memcpy(text + len, q + nq - FD, FD);
    len += FD;
    md_dec_t r;
    if (md_dec_parse(text, len, &r) != 0 || md_dec_round(&r, RATIO_SCALE, &r) != 0 ||
        md_dec_format(&r, buf, cap) < 0)
        return -ERANGE;
    return 0;
}

#define NCOLS (3 + 2 * NMONTHS + 1)

static int add_num(md_array_lit_t *a, int64_t v) {
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    return md_array_lit_add(a, b, strlen(b));
}

static int add_row(md_array_lit_t *o, const cohort_t *c, int32_t today) {
    char month[24], rev[MD_DEC_TEXT_MAX], avg[MD_DEC_TEXT_MAX];
    month_text(c->idx, month);
    if (md_dec_format(&c->revenue, rev, sizeof(rev)) < 0 ||
        dec_div_text(&c->revenue, c->users, avg, sizeof(avg)) != 0)
        return -ERANGE;
    if (md_array_lit_add(&o[0], month, strlen(month)) != 0 || add_num(&o[1], c->users) != 0 ||
        md_array_lit_add(&o[2], rev, strlen(rev)) != 0 ||
        md_array_lit_add(&o[3], avg, strlen(avg)) != 0)
        return -ENOMEM;
    for (int j = 0; j < NMONTHS; j++) {
        int32_t m = c->idx + k_months[j];
        char users[24] = "", ret[32] = ""; /* empty stands for NULL (nullif in SQL) */
        if (m <= today)                    /* month N has started: the count so far */
            snprintf(users, sizeof(users), "%" PRId64, c->month_users[j]);
        if (m < today) /* month N has ended: retention is final */
            ratio_text(c->month_users[j], c->users, ret, sizeof(ret));
        if (md_array_lit_add(&o[4 + j], users, strlen(users)) != 0 ||
            md_array_lit_add(&o[4 + NMONTHS + j], ret, strlen(ret)) != 0)
            return -ENOMEM;
    }
    return 0;
}

static int write_rows(md_job_ctx_t *ctx, const cohort_set_t *set, int32_t today) {
    md_array_lit_t o[NCOLS] = {0}, gone = {0};
    for (int k = 0; k < NCOLS; k++)
        md_array_lit_begin(&o[k]);
    md_array_lit_begin(&gone);
    int rc = 0, kept = 0;
    for (int i = 0; i < set->n && rc == 0; i++) {
        const cohort_t *c = &set->v[i];
        if (c->users > 0) {
            rc = add_row(o, c, today);
            kept++;
        } else { /* its users moved to an earlier cohort: the row goes */
            char month[24];
            month_text(c->idx, month);
            rc = md_array_lit_add(&gone, month, strlen(month)) != 0 ? -ENOMEM : 0;
        }
    }
    const char *params[NCOLS];
    for (int k = 0; k < NCOLS; k++)
        params[k] = md_array_lit_end(&o[k]);
    const char *gparams[] = {md_array_lit_end(&gone)};
    PGresult *res = NULL, *del = NULL;
    if (rc != 0) {
        md_error_set(&ctx->err, rc, "cannot build the user_cohorts rows");
    } else if (kept > 0 &&
               (res = md_pg_query(
                    ctx->conn,
                    "INSERT INTO analytics.user_cohorts AS c (cohort_month, month_0_users, "
                    "total_revenue, avg_revenue_per_user, month_1_users, month_2_users, "
                    "month_3_users, month_6_users, month_12_users, month_1_retention, "
                    "month_2_retention, month_3_retention, month_6_retention, "
                    "month_12_retention, updated_at) SELECT m::date, n::int, rev::numeric, "
                    "avg::numeric, nullif(u1, '')::int, nullif(u2, '')::int, nullif(u3, '')::int, "
                    "nullif(u6, '')::int, nullif(u12, '')::int, nullif(r1, '')::numeric, "
                    "nullif(r2, '')::numeric, nullif(r3, '')::numeric, nullif(r6, '')::numeric, "
                    "nullif(r12, '')::numeric, now() FROM unnest($1::text[], $2::text[], "
                    "$3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
                    "$9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[]) "
                    "AS x(m, n, rev, avg, u1, u2, u3, u6, u12, r1, r2, r3, r6, r12) ON CONFLICT "
                    "(cohort_month) DO UPDATE SET month_0_users = excluded.month_0_users, "
                    "total_revenue = excluded.total_revenue, avg_revenue_per_user = "
                    "excluded.avg_revenue_per_user, month_1_users = excluded.month_1_users, "
                    "month_2_users = excluded.month_2_users, month_3_users = "
                    "excluded.month_3_users, month_6_users = excluded.month_6_users, "
                    "month_12_users = excluded.month_12_users, month_1_retention = "
                    "excluded.month_1_retention, month_2_retention = excluded.month_2_retention, "
                    "month_3_retention = excluded.month_3_retention, month_6_retention = "
                    "excluded.month_6_retention, month_12_retention = "
                    "excluded.month_12_retention, updated_at = now()",
                    NCOLS, params, &ctx->err)) == NULL) {
        rc = ctx->err.code;
    } else if (gone.count > 0 &&
               (del = md_pg_query(ctx->conn,
                                  "DELETE FROM analytics.user_cohorts WHERE cohort_month = "
                                  "ANY($1::date[])",
                                  1, gparams, &ctx->err)) == NULL) {
        rc = ctx->err.code;
    }
    if (rc == 0)
        ctx->rows_written += kept + (del ? strtoll(PQcmdTuples(del), NULL, 10) : 0);
    PQclear(res);
    PQclear(del);
    for (int k = 0; k < NCOLS; k++)
        md_array_lit_free(&o[k]);
    md_array_lit_free(&gone);
    return rc;
}

static int run_tx(md_job_ctx_t *ctx, void *arg) {
    (void)arg;
    const char *tz = md_tz_name(ctx->cfg->reporting_tz);
    const char *zone = tz ? tz : "UTC";
    cohort_set_t set = {0};
    int32_t today = 0;
    int rc = dirty_cohorts(ctx, zone, &set, &today);
    if (rc == 0 && set.n > 0)
        rc = md_job_cancelled(ctx) ? md_error_set(&ctx->err, -ECANCELED, "cancelled")
                                   : gather(ctx, zone, &set);
    if (rc == 0 && set.n > 0)
        rc = write_rows(ctx, &set, today);
    free(set.v);
    return rc;
}

/* Everything stored by local day must be keyed to the reporting zone before
 * it is read (migration 010); the re-keying, rarely needed, commits on its
 * own. */
int md_job_calculate_user_cohorts(md_job_ctx_t *ctx) {
    int rc = md_job_ensure_reporting_zone(ctx);
    if (rc != 0)
        return rc;
    return md_job_transaction(ctx, "BEGIN", run_tx, NULL);
}
