/* validate_transactions: transactions_raw → transactions_validated. Currency,
 * rounding, base-currency amount, fraud score and duplicate flag are computed
 * in C (transform/transactions.c) with the reference data loaded once per run;
 * SQL only supplies earlier rows: the dedup keys of this page's external_ids and
 * the users' recent transactions for the velocity rule. In the page's own
 * transaction it also records what gold must recompute (days, cohort months)
 * and first_purchase_at; it never recomputes gold itself. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/batch.h"
#include "medallion/pg.h"
#include "medallion/transform/keyset.h"
#include "medallion/transform/transactions.h"
#include "medallion/tz.h"

#define SOURCE_TABLE "transactions_raw"
#define SILVER_TARGET                                                                              \
    "analytics.transactions_validated (id, external_id, user_id, amount, amount_raw, currency, "   \
    "status, payment_method, properties, source, created_at, ingested_at, is_valid, "              \
    "is_duplicate, fraud_score, fraud_reasons, validation_errors, amount_base, base_currency)"

/* Gold jobs whose days depend on transactions (revenue and daily_metrics'
 * total_revenue / total_transactions / paying_users). */
#define DIRTY_TARGETS "'{calculate_daily_metrics,calculate_revenue_summary}'::text[]"
/* µs → timestamptz, exact: whole seconds are exact in float8 for every
 * PostgreSQL timestamp, unlike µs × interval. */
#define TS_EXPR(p) "(to_timestamp(" p " / 1000000) + (" p " % 1000000) * interval '1 microsecond')"
/* Days are marked only for instants in years 1-9999 (one day of margin for
 * the zone offset): beyond them AT TIME ZONE can overflow and the gold ranges
 * could not be built anyway. */
#define MARK_MIN_US (MD_TS_CALENDAR_MIN + 86400 * MD_USEC_PER_SEC)
#define MARK_MAX_US (MD_TS_CALENDAR_MAX + 1 - 86400 * MD_USEC_PER_SEC)

enum {
    C_ID,
    C_EXT,
    C_USER,
    C_AMOUNT,
    C_CURRENCY,
    C_STATUS,
    C_METHOD,
    C_PROPS,
    C_SOURCE,
    C_CREATED,
    C_INGESTED,
    NCOLS
};

/* (user, created_at) of transactions that count for the velocity rule. */
typedef struct user_ts {
    uint8_t user[16];
    md_ts_t ts;
} user_ts_t;

typedef struct txn_state {
    md_txn_ctx_t tctx;
    md_currency_table_t *currencies;
    md_fx_table_t *fx;
    md_txn_out_t *out;
    user_ts_t *hist;
    size_t hist_len, hist_cap;
    md_ts_t *ts_scratch;
    md_keyset_t *seen;
    md_array_lit_t lit;
    md_copy_writer_t silver, dups;
} txn_state_t;

static int load_reference(md_job_ctx_t *ctx, txn_state_t *st) {
    PGresult *res = md_pg_query(ctx->conn, "SELECT code, minor_unit FROM analytics.currencies", 0,
                                NULL, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res); i++)
        if (md_currency_table_add(st->currencies, PQgetvalue(res, i, 0),
                                  (size_t)PQgetlength(res, i, 0),
                                  atoi(PQgetvalue(res, i, 1))) != 0) {
            PQclear(res);
            return md_error_set(&ctx->err, -EINVAL, "bad row in analytics.currencies");
        }
    PQclear(res);
    const char *base = ctx->cfg->base_currency;
    st->tctx.base_currency = base;
    st->tctx.base_exponent = md_currency_table_lookup(st->currencies, base, strlen(base));
    if (st->tctx.base_exponent < 0)
        return md_error_set(&ctx->err, -EINVAL,
                            "reporting.base_currency %s is not in analytics.currencies", base);
    const char *params[] = {base};
    res = md_pg_query(ctx->conn,
                      "SELECT currency, (extract(epoch FROM valid_from) * 1000000)::bigint, "
                      "base_per_unit::text FROM analytics.fx_rates WHERE base_currency = $1",
                      1, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res); i++)
        if (md_fx_table_add(st->fx, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0),
                            strtoll(PQgetvalue(res, i, 1), NULL, 10), PQgetvalue(res, i, 2),
                            (size_t)PQgetlength(res, i, 2)) != 0) {
            PQclear(res);
            return md_error_set(&ctx->err, -EINVAL, "bad row in analytics.fx_rates");
        }
    PQclear(res);
    return 0;
}

static int decode_row(md_job_ctx_t *ctx, const md_page_t *p, int r, md_txn_in_t *t) {
    const char *bad = NULL;
    const md_copy_field_t *af = md_page_field(p, r, C_AMOUNT);
    t->amount = MD_STR_NULL;
    if (md_copy_get_int8(md_page_field(p, r, C_ID), &t->id) != 0)
        bad = "id";
    else if (md_copy_get_text(md_page_field(p, r, C_EXT), &t->external_id) != 0)
        bad = "external_id";
    else if (md_copy_get_uuid(md_page_field(p, r, C_USER), &t->user_id) != 0)
        bad = "user_id";
    else if (!md_copy_field_is_null(af)) {
        char buf[MD_COPY_NUMERIC_TEXT_MAX];
        size_t n = 0;
        char *copy;
        if (md_copy_get_numeric(af, buf, sizeof(buf), &n) != 0 ||
            (copy = md_arena_memdup(ctx->arena, buf, n)) == NULL)
            bad = "amount";
        else
            t->amount = (md_str_t){copy, n};
    }
    if (bad == NULL) {
        if (md_copy_get_text(md_page_field(p, r, C_CURRENCY), &t->currency) != 0)
            bad = "currency";
        else if (md_copy_get_text(md_page_field(p, r, C_STATUS), &t->status) != 0)
            bad = "status";
        else if (md_copy_get_text(md_page_field(p, r, C_METHOD), &t->payment_method) != 0)
            bad = "payment_method";
        else if (md_copy_get_jsonb(md_page_field(p, r, C_PROPS), &t->properties) != 0)
            bad = "properties";
        else if (md_copy_get_text(md_page_field(p, r, C_SOURCE), &t->source) != 0)
            bad = "source";
        else if (md_copy_get_timestamptz(md_page_field(p, r, C_CREATED), &t->created_at) != 0)
            bad = "created_at";
        else if (md_copy_get_timestamptz(md_page_field(p, r, C_INGESTED), &t->ingested_at) != 0)
            bad = "ingested_at";
    }
    return bad ? md_job_decode_error(ctx, SOURCE_TABLE, bad, r) : 0;
}

/* Keys of earlier rows with the same external_ids, already in silver. Only
 * the copies that are not duplicates themselves: in a normal batch that is
 * the same set of keys (the first copy of a key never is one), and in a
 * reprocess, where silver also holds copies that arrived later than the row
 * being re-derived, a later retry does not make its own original a duplicate. */
static int load_seen(md_job_ctx_t *ctx, txn_state_t *st, int n) {
    md_keyset_clear(st->seen);
    md_array_lit_begin(&st->lit);
    for (int i = 0; i < n; i++)
        if (st->out[i].external_id.ptr != NULL &&
            md_array_lit_add(&st->lit, st->out[i].external_id.ptr, st->out[i].external_id.len) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    if (st->lit.count == 0)
        return 0;
    const char *params[] = {md_array_lit_end(&st->lit)};
    PGresult *res = md_pg_query(ctx->conn,
                                "SELECT external_id, status, amount::text, currency, id FROM "
                                "analytics.transactions_validated WHERE external_id = "
                                "ANY($1::text[]) AND status IS NOT NULL AND amount IS NOT NULL "
                                "AND currency IS NOT NULL AND NOT is_duplicate",
                                1, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res); i++) {
        md_txn_out_t prior = {0};
        prior.external_id = (md_str_t){PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0)};
        prior.status = (md_str_t){PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1)};
        prior.currency = (md_str_t){PQgetvalue(res, i, 3), (size_t)PQgetlength(res, i, 3)};
        prior.has_amount = md_dec_parse(PQgetvalue(res, i, 2), (size_t)PQgetlength(res, i, 2),
                                        &prior.amount_dec) == 0;
        uint8_t key[MD_TXN_KEY_LEN];
        int64_t kept;
        if (md_txn_dedup_key(&prior, key) &&
            md_keyset_insert_or_get(st->seen, key, strtoll(PQgetvalue(res, i, 4), NULL, 10),
                                    &kept) < 0) {
            PQclear(res);
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        }
    }
    PQclear(res);
    return 0;
}

static int hist_push(txn_state_t *st, const uint8_t user[16], md_ts_t ts) {
    if (st->hist_len == st->hist_cap) {
        size_t cap = st->hist_cap ? st->hist_cap * 2 : 1024;
        user_ts_t *h = realloc(st->hist, cap * sizeof(*h));
        if (h == NULL)
            return -ENOMEM;
        st->hist = h;
        st->hist_cap = cap;
    }
    memcpy(st->hist[st->hist_len].user, user, 16);
    st->hist[st->hist_len].ts = ts;
    st->hist_len++;
    return 0;
}

static int user_ts_cmp(const void *a, const void *b) {
    const user_ts_t *x = a, *y = b;
    int c = memcmp(x->user, y->user, 16);
    if (c != 0)
        return c;
    return x->ts < y->ts ? -1 : x->ts > y->ts;
}

/* The user's run of timestamps in the sorted history: [*ret_a, *ret_end). */
static void user_run(const txn_state_t *st, const uint8_t user[16], size_t *ret_a,
                     size_t *ret_end) {
    size_t a = 0, b = st->hist_len;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (memcmp(st->hist[m].user, user, 16) < 0)
            a = m + 1;
        else
            b = m;
    }
    size_t end = a;
    while (end < st->hist_len && memcmp(st->hist[end].user, user, 16) == 0)
        end++;
    *ret_a = a;
    *ret_end = end;
}

enum { H_USER, H_TS, H_COUNTS, H_ID, H_OVER_10000, H_OVER_5000, H_VELOCITY };

/* Rows already in silver whose velocity count this page changes: a late
 * transaction (or a re-derived one) is "before" the user's later rows within
 * the window, so fraud_score must not depend on the order rows arrive in.
 * Each such row (created_at in (lo, hi + window], not a row of this page) is
 * re-scored from the full history and updated when its velocity flag flips. */
static int rescore_later(md_job_ctx_t *ctx, txn_state_t *st, PGresult *res, md_ts_t lo) {
    md_array_lit_t ids = {0}, scores = {0}, flags = {0};
    md_array_lit_begin(&ids);
    md_array_lit_begin(&scores);
    md_array_lit_begin(&flags);
    int rc = 0;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        md_ts_t t = strtoll(PQgetvalue(res, i, H_TS), NULL, 10);
        if (t <= lo)
            continue; /* history only: its window lies before every page row */
        md_uuid_t u;
        if (md_uuid_parse(PQgetvalue(res, i, H_USER), (size_t)PQgetlength(res, i, H_USER), &u) !=
            0) {
            rc = md_error_set(&ctx->err, -EPROTO, "unreadable user_id in transactions_validated");
            break;
        }
        size_t a, end;
        user_run(st, u.b, &a, &end);
        bool hit = md_txn_velocity_hit(&st->tctx, md_velocity_count(st->ts_scratch + a, end - a, t,
                                                                    st->tctx.velocity_window_us));
        bool had = PQgetvalue(res, i, H_VELOCITY)[0] == 't';
        if (hit == had)
            continue;
        char score[16];
        snprintf(score, sizeof(score), "%d",
                 md_txn_fraud_score(&st->tctx, PQgetvalue(res, i, H_OVER_10000)[0] == 't',
                                    PQgetvalue(res, i, H_OVER_5000)[0] == 't', hit));
        if (md_array_lit_add(&ids, PQgetvalue(res, i, H_ID), (size_t)PQgetlength(res, i, H_ID)) !=
                0 ||
            md_array_lit_add(&scores, score, strlen(score)) != 0 ||
            md_array_lit_add(&flags, hit ? "t" : "f", 1) != 0)
            rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    if (rc == 0 && ids.count > 0) {
        const char *params[] = {md_array_lit_end(&ids), md_array_lit_end(&scores),
                                md_array_lit_end(&flags)};
        PGresult *up = md_pg_query(
            ctx->conn,
            "UPDATE analytics.transactions_validated t SET fraud_score = u.s / 100.0, "
            "fraud_reasons = CASE WHEN u.v THEN array_remove(t.fraud_reasons, 'velocity') || "
            "'velocity'::text ELSE array_remove(t.fraud_reasons, 'velocity') END FROM "
            "unnest($1::bigint[], $2::int[], $3::bool[]) AS u(id, s, v) WHERE t.id = u.id",
            3, params, &ctx->err);
        if (up == NULL)
            rc = ctx->err.code;
        PQclear(up);
    }
    md_array_lit_free(&ids);
    md_array_lit_free(&scores);
    md_array_lit_free(&flags);
    return rc;
}

/* Velocity: every counting transaction of this page's users within the
 * window before each page row, from silver plus the page itself; then the
 * silver rows within the window after the page's rows are re-scored. */
static int apply_velocity(md_job_ctx_t *ctx, txn_state_t *st, int n) {
    st->hist_len = 0;
    md_array_lit_begin(&st->lit);
    md_ts_t lo = MD_TS_POS_INF, hi = MD_TS_NEG_INF;
    for (int i = 0; i < n; i++) {
        const md_txn_out_t *o = &st->out[i];
        /* ±infinity and years beyond 9999 lie in nobody's window. */
        if (!o->user_id.present || !md_ts_in_calendar(o->created_at))
            continue;
        char u[37];
        md_uuid_format(&o->user_id, u);
        if (md_array_lit_add(&st->lit, u, 36) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        if (o->created_at < lo)
            lo = o->created_at;
        if (o->created_at > hi)
            hi = o->created_at;
        if (md_txn_counts_for_velocity(o) && hist_push(st, o->user_id.b, o->created_at) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    if (st->lit.count == 0)
        return 0;
    /* History [lo - window, hi + window]: the page rows' windows, and those
     * of the later silver rows (created_at in (lo, hi + window]) that the
     * page may push over the threshold. Clamped to years 1-9999, like the
     * day marks (created_at can be anything a producer wrote; beyond them
     * the microsecond arithmetic could overflow). */
    int64_t w = st->tctx.velocity_window_us;
    md_ts_t from = lo < MARK_MIN_US + w ? MARK_MIN_US : lo - w;
    md_ts_t to = hi > MARK_MAX_US - w ? MARK_MAX_US : hi + w;
    char from_s[32], to_s[32];
    snprintf(from_s, sizeof(from_s), "%lld", (long long)from);
    snprintf(to_s, sizeof(to_s), "%lld", (long long)to);
    char lo_s[32];
    snprintf(lo_s, sizeof(lo_s), "%lld", (long long)lo);
    const char *params[] = {md_array_lit_end(&st->lit), from_s, to_s, lo_s};
    PGresult *res = md_pg_query(
        ctx->conn,
        "SELECT user_id::text, (extract(epoch FROM created_at) * 1000000)::bigint, is_valid AND "
        "NOT is_duplicate, id, 'amount_over_10000' = ANY(fraud_reasons), 'amount_over_5000' = "
        "ANY(fraud_reasons), 'velocity' = ANY(fraud_reasons) FROM analytics.transactions_validated "
        "WHERE user_id = ANY($1::uuid[]) AND created_at >= " TS_EXPR(
            "$2::bigint") " AND "
                          "created_at <= " TS_EXPR(
                              "$3::bigint") " AND ((is_valid AND NOT is_duplicate) OR "
                                            "created_at > " TS_EXPR("$4::bigint") ")",
        4, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetvalue(res, i, H_COUNTS)[0] != 't')
            continue;
        md_uuid_t u;
        if (md_uuid_parse(PQgetvalue(res, i, H_USER), (size_t)PQgetlength(res, i, H_USER), &u) !=
                0 ||
            hist_push(st, u.b, strtoll(PQgetvalue(res, i, H_TS), NULL, 10)) != 0) {
            PQclear(res);
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        }
    }
    if (st->hist_len > 1) /* hist is NULL while empty: qsort must not see it */
        qsort(st->hist, st->hist_len, sizeof(*st->hist), user_ts_cmp);
    free(st->ts_scratch);
    st->ts_scratch = malloc((st->hist_len + 1) * sizeof(md_ts_t));
    if (st->ts_scratch == NULL) {
        PQclear(res);
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < st->hist_len; i++)
        st->ts_scratch[i] = st->hist[i].ts;
    for (int i = 0; i < n; i++) {
        md_txn_out_t *o = &st->out[i];
        size_t count = 0;
        if (o->user_id.present && md_ts_in_calendar(o->created_at)) {
            size_t a, end;
            user_run(st, o->user_id.b, &a, &end);
            count = md_velocity_count(st->ts_scratch + a, end - a, o->created_at, w);
        }
        md_txn_apply_velocity(&st->tctx, o, count);
    }
    int rc = rescore_later(ctx, st, res, lo);
    PQclear(res);
    return rc;
}

static int write_silver(md_copy_writer_t *w, const md_txn_out_t *o) {
    int rc = md_job_row_begin(w, 19);
    if (rc != 0)
        return rc;
    md_copy_add_int8(w, o->id);
    md_copy_add_text(w, o->external_id);
    md_copy_add_uuid(w, &o->user_id);
    if (o->amount.ptr)
        md_copy_add_numeric_textn(w, o->amount.ptr, o->amount.len);
    else
        md_copy_add_null(w);
    if (o->amount_raw.ptr)
        md_copy_add_numeric_textn(w, o->amount_raw.ptr, o->amount_raw.len);
    else
        md_copy_add_null(w);
    md_copy_add_text(w, o->currency);
    md_copy_add_text(w, o->status);
    md_copy_add_text(w, o->payment_method);
    md_copy_add_jsonb(w, o->properties);
    md_copy_add_text(w, o->source);
    md_copy_add_timestamptz(w, o->created_at);
    md_copy_add_timestamptz(w, o->ingested_at);
    md_copy_add_bool(w, o->is_valid);
    md_copy_add_bool(w, o->is_duplicate);
    md_copy_add_hundredths(w, o->fraud_score);
    md_copy_add_codes(w, &o->fraud_reasons);
    md_copy_add_codes(w, &o->errors);
    if (o->amount_base.ptr)
        md_copy_add_numeric_textn(w, o->amount_base.ptr, o->amount_base.len);
    else
        md_copy_add_null(w);
    md_copy_add_text(w, o->base_currency);
    return md_copy_row_end(w);
}

static bool markable(md_ts_t t) {
    return t != MD_TS_NULL && t >= MARK_MIN_US && t <= MARK_MAX_US;
}

/* Counts for revenue, cohort revenue and first_purchase_at (product.md §4). */
static bool is_revenue(const md_txn_out_t *o) {
    static const char succeeded[] = "succeeded";
    return o->is_valid && !o->is_duplicate && o->user_id.present && markable(o->created_at) &&
           o->status.ptr != NULL && o->status.len == sizeof(succeeded) - 1 &&
           memcmp(o->status.ptr, succeeded, sizeof(succeeded) - 1) == 0;
}

static const char *zone_name(const md_job_ctx_t *ctx) {
    const char *zone = md_tz_name(ctx->cfg->reporting_tz);
    return zone ? zone : "UTC";
}

static int add_i64(md_array_lit_t *a, int64_t v) {
    char b[24];
    snprintf(b, sizeof(b), "%" PRId64, v);
    return md_array_lit_add(a, b, strlen(b));
}

/* The local day (reporting.timezone, converted by PostgreSQL exactly as the
 * gold jobs build their day ranges) of every row of the page, invalid ones
 * included, marked dirty for every gold job that reads transactions. Sorted,
 * so concurrent silver pages lock gold_dirty rows in the same order. */
static int mark_days(md_job_ctx_t *ctx, txn_state_t *st, int n) {
    md_array_lit_begin(&st->lit);
    for (int i = 0; i < n; i++)
        if (markable(st->out[i].created_at) && add_i64(&st->lit, st->out[i].created_at) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    if (st->lit.count == 0)
        return 0;
    const char *params[] = {md_array_lit_end(&st->lit), zone_name(ctx)};
    PGresult *res = md_pg_query(
        ctx->conn,
        "INSERT INTO medallion.gold_dirty (target, day) SELECT t, d FROM (SELECT DISTINCT "
        "(" TS_EXPR("u") " AT TIME ZONE $2)::date AS d FROM unnest($1::bigint[]) AS u) x CROSS "
                         "JOIN unnest(" DIRTY_TARGETS
                         ") AS t ORDER BY t, d ON CONFLICT (target, day) DO UPDATE "
                         "SET marked_at = now()",
        2, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    PQclear(res);
    return 0;
}

/* `reprocess` re-derives rows that were counted before: a purchase may have
 * stopped counting (its currency is no longer known, say), which least()
 * cannot undo. So for every user of a reprocessed page, first_purchase_at is
 * recomputed from silver (the page's new rows included) where a row exists.
 *
 * The users are found through the primary key (= ANY on its only column, so
 * the scan returns them distinct and in user_id order: rows are locked in the
 * same order as everywhere else, without a sort) and each one's first
 * purchase through (user_id, created_at). The page's transaction forbids
 * sorts (begin_page), and a DISTINCT over the array joined to
 * user_first_seen then compared every known user with every user of the
 * page: quadratic in the number of users. */
static int recompute_first_purchase(md_job_ctx_t *ctx, const char *users) {
    char lo[24], hi[24];
    snprintf(lo, sizeof(lo), "%" PRId64, (int64_t)MARK_MIN_US);
    snprintf(hi, sizeof(hi), "%" PRId64, (int64_t)MARK_MAX_US);
    const char *params[] = {users, lo, hi};
    PGresult *res = md_pg_query(
        ctx->conn,
        "INSERT INTO medallion.user_first_seen AS f (user_id, first_purchase_at) SELECT "
        "e.user_id, (SELECT min(t.created_at) FROM analytics.transactions_validated t WHERE "
        "t.user_id = e.user_id AND t.is_valid AND NOT t.is_duplicate AND t.status = 'succeeded' "
        "AND t.created_at BETWEEN " TS_EXPR("$2::bigint") " AND " TS_EXPR(
            "$3::bigint") ") FROM medallion.user_first_seen e WHERE e.user_id = "
                          "ANY($1::uuid[]) ORDER BY e.user_id ON CONFLICT (user_id) DO UPDATE SET "
                          "first_purchase_at = excluded.first_purchase_at, updated_at = now() "
                          "WHERE f.first_purchase_at IS DISTINCT FROM excluded.first_purchase_at",
        3, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    PQclear(res);
    return 0;
}

/* first_purchase_at = least(existing, this page's first succeeded purchase);
 * then the cohort month of each purchasing user is dirty, since the cohort's
 * revenue changed. A user not seen by the session job yet has no cohort: its
 * month is marked when its first event arrives. On a reprocessed page every
 * user of the page counts as purchasing: its old rows may have counted. */
static int mark_purchases(md_job_ctx_t *ctx, txn_state_t *st, int n) {
    md_array_lit_t ts = {0}, users = {0};
    md_array_lit_begin(&st->lit);
    md_array_lit_begin(&ts);
    md_array_lit_begin(&users);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        const md_txn_out_t *o = &st->out[i];
        bool revenue = is_revenue(o);
        if (!revenue && !(ctx->reprocess && o->user_id.present))
            continue;
        char u[37];
        md_uuid_format(&o->user_id, u);
        if (md_array_lit_add(&users, u, 36) != 0 ||
            (revenue &&
             (md_array_lit_add(&st->lit, u, 36) != 0 || add_i64(&ts, o->created_at) != 0)))
            rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    const char *revenue_users = md_array_lit_end(&st->lit), *times = md_array_lit_end(&ts);
    const char *all_users = md_array_lit_end(&users);
    if (rc == 0 && (revenue_users == NULL || times == NULL || all_users == NULL))
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    PGresult *res = NULL;
    if (rc == 0 && st->lit.count > 0) {
        const char *params[] = {revenue_users, times};
        res = md_pg_query(ctx->conn,
                          "INSERT INTO medallion.user_first_seen AS f (user_id, first_purchase_at) "
                          "SELECT u::uuid, min(" TS_EXPR(
                              "t") ") FROM unnest($1::text[], $2::bigint[]) AS x(u, t) GROUP BY "
                                   "1 ORDER BY 1 ON CONFLICT (user_id) DO UPDATE SET "
                                   "first_purchase_at = excluded.first_purchase_at, updated_at = "
                                   "now() WHERE f.first_purchase_at IS NULL OR "
                                   "excluded.first_purchase_at < f.first_purchase_at",
                          2, params, &ctx->err);
        rc = res == NULL ? ctx->err.code : 0;
        PQclear(res);
    }
    if (rc == 0 && ctx->reprocess && users.count > 0)
        rc = recompute_first_purchase(ctx, all_users);
    if (rc == 0 && users.count > 0) {
        const char *cparams[] = {all_users, zone_name(ctx)};
        res = md_pg_query(
            ctx->conn,
            "INSERT INTO medallion.cohort_dirty (cohort_month) SELECT DISTINCT "
            "date_trunc('month', f.first_event_at AT TIME ZONE $2)::date FROM "
            "medallion.user_first_seen f WHERE f.user_id = ANY($1::uuid[]) AND f.first_event_at "
            "IS NOT NULL ORDER BY 1 ON CONFLICT (cohort_month) DO UPDATE SET marked_at = now()",
            2, cparams, &ctx->err);
        rc = res == NULL ? ctx->err.code : 0;
        PQclear(res);
    }
    md_array_lit_free(&ts);
    md_array_lit_free(&users);
    return rc;
}

static int process_page(md_job_ctx_t *ctx, const md_page_t *page, void *state) {
    txn_state_t *st = state;
    int rc;
    /* per-page rows live in the page arena, reset by the batch loop */
    st->out = md_arena_alloc(ctx->arena, (size_t)page->nrows * sizeof(*st->out));
    if (st->out == NULL)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    for (int r = 0; r < page->nrows; r++) {
        md_txn_in_t in;
        if ((rc = decode_row(ctx, page, r, &in)) != 0)
            return rc;
        if ((rc = md_txn_transform(&st->tctx, &in, ctx->arena, &st->out[r])) != 0)
            return md_error_set(&ctx->err, rc, "transaction %lld: transform failed",
                                (long long)in.id);
    }
    if ((rc = load_seen(ctx, st, page->nrows)) != 0)
        return rc;
    for (int r = 0; r < page->nrows; r++) {
        md_txn_out_t *o = &st->out[r];
        uint8_t key[MD_TXN_KEY_LEN];
        int64_t kept;
        if (!md_txn_dedup_key(o, key))
            continue;
        rc = md_keyset_insert_or_get(st->seen, key, o->id, &kept);
        if (rc < 0)
            return md_error_set(&ctx->err, rc, "out of memory");
        o->is_duplicate = rc == 0;
    }
    if ((rc = apply_velocity(ctx, st, page->nrows)) != 0)
        return rc;
    for (int r = 0; r < page->nrows; r++) {
        const md_txn_out_t *o = &st->out[r];
        if ((rc = write_silver(&st->silver, o)) != 0)
            return md_error_set(&ctx->err, rc, "transaction %lld: cannot encode the silver row",
                                (long long)o->id);
        if (o->is_duplicate)
            ctx->rows_duplicate++;
        if (o->is_valid)
            ctx->rows_valid++;
        else
            ctx->rows_invalid++;
    }
    /* Same order as build_user_sessions (first-seen, then marks), so the two
     * jobs' pages cannot deadlock on each other's rows. */
    if ((rc = md_job_flush(ctx, SILVER_TARGET, &st->silver, page->nrows, &st->dups, 0)) != 0 ||
        (rc = mark_purchases(ctx, st, page->nrows)) != 0)
        return rc;
    return mark_days(ctx, st, page->nrows);
}

int md_job_validate_transactions(md_job_ctx_t *ctx) {
    txn_state_t st = {0};
    md_txn_ctx_defaults(&st.tctx);
    st.tctx.velocity_count = ctx->cfg->fraud_velocity_count;
    st.tctx.velocity_window_us = ctx->cfg->fraud_velocity_window_ms * 1000;
    st.tctx.velocity_add_hundredths = (int)(ctx->cfg->fraud_velocity_add * 100.0 + 0.5);
    md_copy_writer_init(&st.silver);
    md_copy_writer_init(&st.dups);
    st.currencies = md_currency_table_new();
    st.fx = md_fx_table_new();
    st.seen = md_keyset_new((size_t)ctx->jcfg->batch_size);
    int rc;
    if (st.currencies == NULL || st.fx == NULL || st.seen == NULL) {
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    } else if ((rc = load_reference(ctx, &st)) == 0) {
        st.tctx.currencies = st.currencies;
        st.tctx.fx = st.fx;
        md_batch_spec_t spec = {
            .source = "analytics." SOURCE_TABLE,
            .xid_column = "ingest_xid",
            .columns = "id, external_id, user_id, amount, currency, status, payment_method, "
                       "properties, source, created_at, ingested_at",
            .ncols = NCOLS,
            .process = process_page,
            .state = &st,
            .silver_duplicate_column = "is_duplicate",
        };
        rc = md_batch_run(ctx, &spec);
    }
    free(st.hist);
    free(st.ts_scratch);
    md_keyset_free(st.seen);
    md_array_lit_free(&st.lit);
    md_currency_table_free(st.currencies);
    md_fx_table_free(st.fx);
    md_copy_writer_free(&st.silver);
    md_copy_writer_free(&st.dups);
    return rc;
}
