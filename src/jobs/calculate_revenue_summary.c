/* calculate_revenue_summary: recompute analytics.revenue_summary for exactly
 * the days marked dirty (medallion.gold_dirty), in one transaction that
 * consumes those marks. SQL sends one row per (day, status, currency, payment
 * method); which rows count, the net, the average and every rounding are
 * decided here, in exact decimal (product.md §4 "Revenue"). Never scans all
 * days and never sums money in floating point. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/pg.h"
#include "medallion/transform/decimal.h"
#include "medallion/tz.h"

#define TARGET "calculate_revenue_summary"
/* JSON key for rows without a payment method (or currency). */
#define NO_KEY "unknown"

/* Pre-aggregated row columns. */
enum { R_DAY, R_STATUS, R_CURRENCY, R_METHOD, R_COUNT, R_AMOUNT, R_BASE, R_NBASE, R_MINOR };

/* One succeeded (day, currency, method) group, for the JSON breakdowns. */
typedef struct part {
    int day;                       /* index into the sorted days */
    const char *currency, *method; /* NUL-terminated, owned by the PGresult */
    int minor;                     /* the currency's minor unit; -1 unknown */
    int64_t count;
    md_dec_t amount, base;
} part_t;

typedef struct day_rev {
    char date[16];
    int64_t total, succeeded, failed, refunded;
    int64_t with_base; /* succeeded rows with an amount_base: the average's divisor */
    md_dec_t revenue, refunded_amount;
} day_rev_t;

typedef struct rev_state {
    day_rev_t *days;
    int ndays;
    part_t *parts;
    int nparts;
    int base_minor;
} rev_state_t;

/* Each day as a local-midnight range: $1 days, $2 zone (as calculate_daily_metrics). */
#define DAYS_CTE                                                                                   \
    "WITH d AS (SELECT day, day::timestamp AT TIME ZONE $2 AS lo, (day + 1)::timestamp AT TIME "   \
    "ZONE $2 AS hi FROM unnest($1::date[]) AS day) "

static int cmp_date(const void *a, const void *b) {
    return strcmp(((const day_rev_t *)a)->date, ((const day_rev_t *)b)->date);
}

static int find_day(const rev_state_t *st, const char *date) {
    for (int lo = 0, hi = st->ndays - 1; lo <= hi;) {
        int mid = (lo + hi) / 2, c = strcmp(st->days[mid].date, date);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static int cmp_str(const char *a, const char *b) {
    return strcmp(a ? a : NO_KEY, b ? b : NO_KEY);
}

static int cmp_part_currency(const void *a, const void *b) {
    const part_t *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return cmp_str(x->currency, y->currency);
}

static int cmp_part_method(const void *a, const void *b) {
    const part_t *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return cmp_str(x->method, y->method);
}

static int dec_of(PGresult *res, int r, int c, md_dec_t *ret) {
    if (PQgetisnull(res, r, c)) {
        md_dec_from_i64(0, ret);
        return 0;
    }
    return md_dec_parse(PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c), ret);
}

static int dec_acc(md_dec_t *acc, const md_dec_t *v) {
    return md_dec_add(acc, v, acc);
}

/* num / den rounded half away from zero to `digits` fraction digits, exactly:
 * long division over every kept digit, so the rounding digit is the true one
 * (the truncated tail can only add to it, never cross the half). den > 0. */
static int dec_div_round(const md_dec_t *num, int64_t den, int digits, md_dec_t *ret) {
    if (!md_dec_is_finite(num) || den <= 0)
        return -EINVAL;
    md_dec_t q = *num;
    unsigned __int128 r = 0;
    for (int i = 0; i < MD_DEC_DIGITS; i++) {
        r = r * 10 + num->d[i];
        q.d[i] = (uint8_t)(r / (unsigned __int128)den);
        r %= (unsigned __int128)den;
    }
    q.scale = MD_DEC_MAX_SCALE;
    q.guard = (uint8_t)((r * 10) / (unsigned __int128)den);
    q.inexact = false;
    return md_dec_round(&q, digits, ret);
}

/* Canonical text with at least `minor` fraction digits; never drops a digit. */
static int dec_text(const md_dec_t *v, int minor, char *buf, size_t cap) {
    md_dec_t t;
    int digits = v->scale > minor ? v->scale : minor;
    if (md_dec_round(v, digits, &t) != 0)
        return -ERANGE;
    return md_dec_format(&t, buf, cap) < 0 ? -ERANGE : 0;
}

static int load_base_minor(md_job_ctx_t *ctx, rev_state_t *st) {
    const char *params[] = {ctx->cfg->base_currency};
    PGresult *res =
        md_pg_query(ctx->conn, "SELECT minor_unit FROM analytics.currencies WHERE code = $1", 1,
                    params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    int rc = 0;
    if (PQntuples(res) != 1)
        rc = md_error_set(&ctx->err, -EINVAL,
                          "reporting.base_currency %s is not in analytics.currencies",
                          ctx->cfg->base_currency);
    else
        st->base_minor = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return rc;
}

static bool is_status(PGresult *res, int r, const char *status) {
    return !PQgetisnull(res, r, R_STATUS) && strcmp(PQgetvalue(res, r, R_STATUS), status) == 0;
}

/* Fold one pre-aggregated row into its day (and its breakdown part). */
static int add_row(md_job_ctx_t *ctx, rev_state_t *st, PGresult *res, int r) {
    int i = find_day(st, PQgetvalue(res, r, R_DAY));
    if (i < 0)
        return md_error_set(&ctx->err, -EPROTO, "revenue summary: unexpected day %s",
                            PQgetvalue(res, r, R_DAY));
    day_rev_t *d = &st->days[i];
    int64_t count = strtoll(PQgetvalue(res, r, R_COUNT), NULL, 10);
    d->total += count;
    md_dec_t amount, base;
    if (dec_of(res, r, R_AMOUNT, &amount) != 0 || dec_of(res, r, R_BASE, &base) != 0 ||
        !md_dec_is_finite(&amount) || !md_dec_is_finite(&base))
        return md_error_set(&ctx->err, -ERANGE, "revenue of %s: amount not a finite number",
                            d->date);
    if (is_status(res, r, "succeeded")) {
        d->succeeded += count;
        d->with_base += strtoll(PQgetvalue(res, r, R_NBASE), NULL, 10);
        part_t *p = &st->parts[st->nparts++];
        *p = (part_t){
            .day = i,
            .currency = PQgetisnull(res, r, R_CURRENCY) ? NULL : PQgetvalue(res, r, R_CURRENCY),
            .method = PQgetisnull(res, r, R_METHOD) ? NULL : PQgetvalue(res, r, R_METHOD),
            .minor = PQgetisnull(res, r, R_MINOR) ? -1 : atoi(PQgetvalue(res, r, R_MINOR)),
            .count = count,
            .amount = amount,
            .base = base,
        };
        if (dec_acc(&d->revenue, &base) != 0)
            return md_error_set(&ctx->err, -ERANGE, "revenue of %s out of range", d->date);
    } else if (is_status(res, r, "failed")) {
        d->failed += count;
    } else if (is_status(res, r, "refunded")) {
        d->refunded += count;
        if (dec_acc(&d->refunded_amount, &base) != 0)
            return md_error_set(&ctx->err, -ERANGE, "refunds of %s out of range", d->date);
    }
    return 0;
}

/* Growing text buffer for the JSON breakdowns. */
static int put(md_buf_t *b, const char *s, size_t len) {
    if (md_buf_reserve(b, len + 1) != 0)
        return -ENOMEM;
    memcpy(b->data + b->len, s, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static int puts_(md_buf_t *b, const char *s) {
    return put(b, s, strlen(s));
}

/* A JSON string; payment methods are producer text, so escape everything
 * JSON requires. */
static int put_json_string(md_buf_t *b, const char *s) {
    int rc = put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            rc = put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            rc = put(b, esc, 6);
        } else {
            rc = put(b, (const char *)p, 1);
        }
    }
    return rc == 0 ? put(b, "\"", 1) : rc;
}

/* The breakdown of one day from its parts [*pos, ...) sorted by (day, key),
 * merging equal keys: {"KEY": {"count": n, ["amount": "x",] "amount_base": "y"}}.
 * `by_currency` adds the original-currency amount. Advances *pos. */
static int breakdown(const part_t *parts, int nparts, int base_minor, int day, bool by_currency,
                     int *pos, md_buf_t *out) {
    md_buf_reset(out);
    int rc = put(out, "{", 1);
    bool first = true;
    while (rc == 0 && *pos < nparts && parts[*pos].day == day) {
        const part_t *p = &parts[*pos];
        const char *key = by_currency ? p->currency : p->method;
        int64_t count = 0;
        md_dec_t amount, base;
        md_dec_from_i64(0, &amount);
        md_dec_from_i64(0, &base);
        while (rc == 0 && *pos < nparts && parts[*pos].day == day &&
               cmp_str(by_currency ? parts[*pos].currency : parts[*pos].method, key) == 0) {
            const part_t *q = &parts[(*pos)++];
            count += q->count;
            if (dec_acc(&amount, &q->amount) != 0 || dec_acc(&base, &q->base) != 0)
                rc = -ERANGE;
        }
        char num[32], amt[MD_DEC_TEXT_MAX], bas[MD_DEC_TEXT_MAX];
        snprintf(num, sizeof(num), "%" PRId64, count);
        if (rc == 0 && (dec_text(&base, base_minor, bas, sizeof(bas)) != 0 ||
                        (by_currency &&
                         dec_text(&amount, p->minor < 0 ? 0 : p->minor, amt, sizeof(amt)) != 0)))
            rc = -ERANGE;
        if (rc == 0 && !first)
            rc = put(out, ", ", 2);
        first = false;
        if (rc == 0)
            rc = put_json_string(out, key ? key : NO_KEY);
        if (rc == 0 && (puts_(out, ": {\"count\": ") != 0 || puts_(out, num) != 0))
            rc = -ENOMEM;
        if (rc == 0 && by_currency &&
            (puts_(out, ", \"amount\": \"") != 0 || puts_(out, amt) != 0 || put(out, "\"", 1) != 0))
            rc = -ENOMEM;
        if (rc == 0 && (puts_(out, ", \"amount_base\": \"") != 0 || puts_(out, bas) != 0 ||
                        puts_(out, "\"}") != 0))
            rc = -ENOMEM;
    }
    return rc == 0 ? put(out, "}", 1) : rc;
}

static int add_i64(md_array_lit_t *a, int64_t v) {
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    return md_array_lit_add(a, b, strlen(b));
}

static int add_dec(md_array_lit_t *a, const md_dec_t *v, int minor) {
    char b[MD_DEC_TEXT_MAX];
    if (dec_text(v, minor, b, sizeof(b)) != 0)
        return -ERANGE;
    return md_array_lit_add(a, b, strlen(b));
}

enum {
    O_DATE,
    O_REVENUE,
    O_TOTAL,
    O_AVG,
    O_SUCCEEDED,
    O_FAILED,
    O_REFUNDED,
    O_REFUNDED_AMOUNT,
    O_NET,
    O_BY_CURRENCY,
    O_BY_METHOD,
    NOUT
};

/* The columns of one day, appended to the upsert arrays. st->parts and by_method
 * are the same parts sorted by (day, currency) and (day, method). */
static int day_columns(const rev_state_t *st, int i, const part_t *by_method, int *cpos, int *mpos,
                       md_buf_t *json, md_array_lit_t *o) {
    const day_rev_t *d = &st->days[i];
    md_dec_t neg_refunds = d->refunded_amount, net, avg;
    if (md_dec_sign(&neg_refunds) != 0)
        neg_refunds.neg = !neg_refunds.neg;
    if (md_dec_add(&d->revenue, &neg_refunds, &net) != 0)
        return -ERANGE;
    char avg_text[MD_DEC_TEXT_MAX] = "";
    /* An empty element stands for NULL (nullif in SQL): no succeeded row
     * with a base amount, no average. */
    if (d->with_base > 0 && (dec_div_round(&d->revenue, d->with_base, st->base_minor, &avg) != 0 ||
                             md_dec_format(&avg, avg_text, sizeof(avg_text)) < 0))
        return -ERANGE;
    int rc;
    if (md_array_lit_add(&o[O_DATE], d->date, strlen(d->date)) != 0 ||
        add_i64(&o[O_TOTAL], d->total) != 0 || add_i64(&o[O_SUCCEEDED], d->succeeded) != 0 ||
        add_i64(&o[O_FAILED], d->failed) != 0 || add_i64(&o[O_REFUNDED], d->refunded) != 0 ||
        md_array_lit_add(&o[O_AVG], avg_text, strlen(avg_text)) != 0)
        return -ENOMEM;
    if ((rc = add_dec(&o[O_REVENUE], &d->revenue, st->base_minor)) != 0 ||
        (rc = add_dec(&o[O_REFUNDED_AMOUNT], &d->refunded_amount, st->base_minor)) != 0 ||
        (rc = add_dec(&o[O_NET], &net, st->base_minor)) != 0)
        return rc;
    if ((rc = breakdown(st->parts, st->nparts, st->base_minor, i, true, cpos, json)) != 0 ||
        (rc = md_array_lit_add(&o[O_BY_CURRENCY], json->data, json->len)) != 0)
        return rc;
    if ((rc = breakdown(by_method, st->nparts, st->base_minor, i, false, mpos, json)) != 0 ||
        (rc = md_array_lit_add(&o[O_BY_METHOD], json->data, json->len)) != 0)
        return rc;
    return 0;
}

static const char UPSERT_SQL[] =
    "INSERT INTO analytics.revenue_summary AS r (date, currency, total_revenue, "
    "total_transactions, avg_transaction_value, successful_transactions, failed_transactions, "
    "refunded_transactions, refunded_amount, net_revenue, by_currency, by_payment_method, "
    "updated_at) SELECT d::date, $12, rev::numeric, t::int, nullif(a, '')::numeric, s::int, "
    "f::int, rf::int, ra::numeric, n::numeric, bc::jsonb, bm::jsonb, now() FROM "
    "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
    "$8::text[], $9::text[], $10::text[], $11::text[]) AS x(d, rev, t, a, s, f, rf, ra, n, bc, "
    "bm) ON CONFLICT (date) DO UPDATE SET currency = excluded.currency, total_revenue = "
    "excluded.total_revenue, total_transactions = excluded.total_transactions, "
    "avg_transaction_value = excluded.avg_transaction_value, successful_transactions = "
    "excluded.successful_transactions, failed_transactions = excluded.failed_transactions, "
    "refunded_transactions = excluded.refunded_transactions, refunded_amount = "
    "excluded.refunded_amount, net_revenue = excluded.net_revenue, by_currency = "
    "excluded.by_currency, by_payment_method = excluded.by_payment_method, updated_at = now() "
    /* A day recomputed to the same figures keeps its row (and updated_at). */
    "WHERE (r.currency, r.total_revenue, r.total_transactions, r.avg_transaction_value, "
    "r.successful_transactions, r.failed_transactions, r.refunded_transactions, "
    "r.refunded_amount, r.net_revenue, r.by_currency, r.by_payment_method) IS DISTINCT FROM "
    "(excluded.currency, excluded.total_revenue, excluded.total_transactions, "
    "excluded.avg_transaction_value, excluded.successful_transactions, "
    "excluded.failed_transactions, excluded.refunded_transactions, excluded.refunded_amount, "
    "excluded.net_revenue, excluded.by_currency, excluded.by_payment_method)";

static int upsert(md_job_ctx_t *ctx, rev_state_t *st) {
    md_array_lit_t o[NOUT];
    for (int k = 0; k < NOUT; k++) {
        memset(&o[k], 0, sizeof(o[k]));
        md_array_lit_begin(&o[k]);
    }
    md_buf_t json;
    md_buf_init(&json);
    part_t *by_method = malloc(((size_t)st->nparts + 1) * sizeof(*by_method));
    int rc = by_method == NULL ? -ENOMEM : 0;
    if (rc == 0 && st->nparts > 0) {
        memcpy(by_method, st->parts, (size_t)st->nparts * sizeof(*by_method));
        qsort(st->parts, (size_t)st->nparts, sizeof(*st->parts), cmp_part_currency);
        qsort(by_method, (size_t)st->nparts, sizeof(*by_method), cmp_part_method);
    }
    /* A day without one counted transaction has no row (and no parts, so
     * skipping it leaves the breakdowns' positions where they are). */
    md_array_lit_t empty = {0};
    md_array_lit_begin(&empty);
    int cpos = 0, mpos = 0;
    for (int i = 0; i < st->ndays && rc == 0; i++)
        rc = st->days[i].total == 0
                 ? md_array_lit_add(&empty, st->days[i].date, strlen(st->days[i].date))
                 : day_columns(st, i, by_method, &cpos, &mpos, &json, o);
    const char *params[NOUT + 1];
    for (int k = 0; k < NOUT; k++)
        if ((params[k] = md_array_lit_end(&o[k])) == NULL && rc == 0)
            rc = -ENOMEM;
    const char *empty_days = md_array_lit_end(&empty);
    if (empty_days == NULL && rc == 0)
        rc = -ENOMEM;
    params[NOUT] = ctx->cfg->base_currency;
    free(by_method);
    md_buf_free(&json);
    PGresult *res = NULL;
    if (rc == 0)
        res = md_pg_query(ctx->conn, UPSERT_SQL, NOUT + 1, params, &ctx->err);
    for (int k = 0; k < NOUT; k++)
        md_array_lit_free(&o[k]);
    if (rc != 0 || res == NULL) {
        md_array_lit_free(&empty);
        return rc != 0 ? md_error_set(&ctx->err, rc, "cannot build the revenue_summary rows")
                       : ctx->err.code;
    }
    ctx->rows_written += strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    rc =
        empty.count > 0 ? md_job_delete_gold_days(ctx, "analytics.revenue_summary", empty_days) : 0;
    md_array_lit_free(&empty);
    return rc;
}

/* Valid, non-duplicate transactions of the dirty days, one row per (day,
 * status, currency, method): sums here only pre-aggregate; what counts where
 * is add_row's decision. */
static int gather(md_job_ctx_t *ctx, rev_state_t *st, const char *days, const char *zone,
                  PGresult **ret_res) {
    const char *params[] = {days, zone};
    PGresult *res = md_pg_query(
        ctx->conn,
        DAYS_CTE "SELECT d.day::text, t.status, t.currency, t.payment_method, count(*), "
                 "sum(t.amount), sum(t.amount_base), count(t.amount_base), min(c.minor_unit) "
                 "FROM d JOIN analytics.transactions_validated t ON t.created_at >= d.lo AND "
                 "t.created_at < d.hi LEFT JOIN analytics.currencies c ON c.code = t.currency "
                 "WHERE t.is_valid AND NOT t.is_duplicate GROUP BY 1, 2, 3, 4",
        2, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    int n = PQntuples(res);
    st->parts = malloc(((size_t)n + 1) * sizeof(*st->parts));
    if (st->parts == NULL) {
        PQclear(res);
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    for (int r = 0; r < n; r++) {
        int rc = add_row(ctx, st, res, r);
        if (rc != 0) {
            PQclear(res);
            return rc;
        }
    }
    ctx->rows_read += n;
    *ret_res = res;
    return 0;
}

static int run_tx(md_job_ctx_t *ctx, void *arg) {
    (void)arg;
    PGresult *res = md_job_take_dirty_days(ctx, TARGET);
    if (res == NULL)
        return ctx->err.code;
    rev_state_t st = {0};
    st.ndays = PQntuples(res);
    if (st.ndays == 0) {
        PQclear(res);
        return 0;
    }
    int rc = 0;
    st.days = calloc((size_t)st.ndays, sizeof(*st.days));
    if (st.days == NULL)
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    for (int i = 0; i < st.ndays && rc == 0; i++) {
        snprintf(st.days[i].date, sizeof(st.days[i].date), "%s", PQgetvalue(res, i, 0));
        md_dec_from_i64(0, &st.days[i].revenue);
        md_dec_from_i64(0, &st.days[i].refunded_amount);
    }
    PQclear(res);
    md_array_lit_t days = {0};
    md_array_lit_begin(&days);
    if (rc == 0) {
        qsort(st.days, (size_t)st.ndays, sizeof(*st.days), cmp_date);
        for (int i = 0; i < st.ndays && rc == 0; i++)
            if (md_array_lit_add(&days, st.days[i].date, strlen(st.days[i].date)) != 0)
                rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    if (rc == 0)
        rc = load_base_minor(ctx, &st);
    const char *zone = md_tz_name(ctx->cfg->reporting_tz);
    PGresult *rows = NULL; /* owns the parts' key strings until the upsert */
    if (rc == 0)
        rc = gather(ctx, &st, md_array_lit_end(&days), zone ? zone : "UTC", &rows);
    if (rc == 0)
        rc = upsert(ctx, &st);
    PQclear(rows);
    md_array_lit_free(&days);
    free(st.parts);
    free(st.days);
    return rc;
}

/* After a change of reporting.timezone the revenue days are re-keyed first
 * (migration 010), whichever job runs first. */
int md_job_calculate_revenue_summary(md_job_ctx_t *ctx) {
    int rc = md_job_ensure_reporting_zone(ctx);
    if (rc != 0)
        return rc;
    return md_job_transaction(ctx, "BEGIN", run_tx, NULL);
}
