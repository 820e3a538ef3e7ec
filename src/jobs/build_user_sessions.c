/* build_user_sessions: new events_clean rows (snapshot batches on silver_xid)
 * → re-sessionize only the keys they touch, around them, in C
 * (transform/sessions.c); also keeps medallion.user_first_seen,
 * medallion.user_days and the gold dirty marks (days and cohort months), all
 * in the page's transaction. Never rebuilds a whole history (user_days only
 * once, when it was never built for reporting.timezone). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "medallion/batch.h"
#include "medallion/pg.h"
#include "medallion/transform/sessions.h"
#include "medallion/tz.h"

#define SESSIONS_TARGET                                                                            \
    "analytics.user_sessions (session_id, user_id, client_session_id, started_at, ended_at, "      \
    "duration_seconds, event_count, entry_event_type, exit_event_type, entry_page, exit_page, "    \
    "session_date)"
#define DIRTY_TARGET "calculate_daily_metrics"

enum { C_ID, C_USER, C_SESSION, C_CREATED, C_VALID, NCOLS };

/* One affected key of the page and the window to re-sessionize around it. */
typedef struct skey {
    char kind; /* MD_SESSION_KEY_USER / _CLIENT */
    md_str_t key;
    int64_t lo, hi; /* min/max created_at (µs) of this page's events */
    int64_t ws, we; /* window, widened to the overlapping sessions */
} skey_t;

typedef struct sess_state {
    skey_t *keys;
    int cap;
    md_array_lit_t day_users, day_ts; /* user_id and created_at of the page's rows */
    int32_t *days;
    int ndays, days_cap;
    md_copy_writer_t out;
    int64_t unkeyed; /* valid events with neither user_id nor session_id */
} sess_state_t;

#define TS_EXPR(p) "'epoch'::timestamptz + " p "::bigint * interval '1 microsecond'"
#define US_EXPR(x) "(extract(epoch FROM " x ") * 1000000)::bigint"

/* The page's keys as $1 kind, $2 key, $3 window start, $4 window end. */
#define KEYS_CTE                                                                                   \
    "WITH k AS (SELECT i, kind, key, CASE WHEN kind = 'u' THEN key::uuid END AS uid, " TS_EXPR(    \
        "lo") " AS ws, " TS_EXPR("hi") " AS we FROM unnest($1::text[], $2::text[], "               \
                                       "$3::bigint[], $4::bigint[]) WITH ORDINALITY "              \
                                       "AS u(kind, key, lo, hi, i)) "
#define KEY_MATCH(t)                                                                               \
    "((k.uid IS NOT NULL AND " t ".user_id = k.uid) OR (k.uid IS NULL AND " t                      \
    ".user_id IS NULL AND " t ".client_session_id = k.key))"

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int32_t local_day(const md_job_ctx_t *ctx, int64_t ts_us) {
    int64_t local = md_tz_utc_to_local(ctx->cfg->reporting_tz, floor_div(ts_us, MD_USEC_PER_SEC));
    return (int32_t)floor_div(local, 86400);
}

static int add_day(md_job_ctx_t *ctx, sess_state_t *st, int32_t day) {
    if (st->ndays > 0 && st->days[st->ndays - 1] == day)
        return 0;
    if (st->ndays == st->days_cap) {
        int ncap = st->days_cap ? 2 * st->days_cap : 64;
        int32_t *nd = realloc(st->days, (size_t)ncap * sizeof(*nd));
        if (nd == NULL)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        st->days = nd;
        st->days_cap = ncap;
    }
    st->days[st->ndays++] = day;
    return 0;
}

static int cmp_key(const void *a, const void *b) {
    const skey_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.ptr, y->key.ptr, n);
    if (c != 0)
        return c;
    return x->key.len < y->key.len ? -1 : x->key.len > y->key.len;
}

static int cmp_day(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static void day_text(int32_t day, char buf[16]) {
    md_civil_t c;
    md_civil_from_seconds((int64_t)day * 86400, &c);
    snprintf(buf, 16, "%04d-%02d-%02d", c.year, c.month, c.day);
}

/* Every row of the page with a user and a created_at, valid or not: a
 * reprocessed row that turned invalid changes its day's count too. */
static int add_user_day(md_job_ctx_t *ctx, sess_state_t *st, const md_uuid_t *user,
                        md_ts_t created) {
    if (!user->present || !md_ts_in_calendar(created))
        return 0; /* never valid, so never in user_days (±infinity, year 20000) */
    char u[37], t[24];
    md_uuid_format(user, u);
    snprintf(t, sizeof(t), "%" PRId64, created);
    if (md_array_lit_add(&st->day_users, u, 36) != 0 ||
        md_array_lit_add(&st->day_ts, t, strlen(t)) != 0)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    return 0;
}

/* Decode the page: one entry per valid keyed event, merged per key below. */
static int collect_keys(md_job_ctx_t *ctx, sess_state_t *st, const md_page_t *p, int *ret_n) {
    if (p->nrows > st->cap) {
        free(st->keys);
        st->keys = calloc((size_t)p->nrows, sizeof(*st->keys));
        st->cap = st->keys ? p->nrows : 0;
        if (st->keys == NULL)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    int n = 0, rc;
    for (int r = 0; r < p->nrows; r++) {
        bool valid;
        md_uuid_t user;
        md_str_t client;
        md_ts_t created;
        if (md_copy_get_bool(md_page_field(p, r, C_VALID), &valid) != 0)
            return md_job_decode_error(ctx, "events_clean", "is_valid", r);
        if (md_copy_get_uuid(md_page_field(p, r, C_USER), &user) != 0)
            return md_job_decode_error(ctx, "events_clean", "user_id", r);
        if (md_copy_get_text(md_page_field(p, r, C_SESSION), &client) != 0)
            return md_job_decode_error(ctx, "events_clean", "session_id", r);
        if (md_copy_get_timestamptz(md_page_field(p, r, C_CREATED), &created) != 0)
            return md_job_decode_error(ctx, "events_clean", "created_at", r);
        if ((rc = add_user_day(ctx, st, &user, created)) != 0)
            return rc;
        /* Outside years 1-9999 (a producer's absurd ingested_at can make such
         * an event valid) no day or window can be computed: left out, like
         * an invalid event. */
        if (!valid || !md_ts_in_calendar(created)) {
            ctx->rows_invalid++;
            continue;
        }
        if ((rc = add_day(ctx, st, local_day(ctx, created))) != 0)
            return rc;
        skey_t *k = &st->keys[n];
        if (user.present) {
            char *u = md_arena_alloc(ctx->arena, 37);
            if (u == NULL)
                return md_error_set(&ctx->err, -ENOMEM, "out of memory");
            md_uuid_format(&user, u);
            *k = (skey_t){.kind = MD_SESSION_KEY_USER, .key = {u, 36}};
        } else if (!md_str_is_null(client)) {
            *k = (skey_t){.kind = MD_SESSION_KEY_CLIENT, .key = client};
        } else {
            st->unkeyed++; /* neither key: excluded from sessions, and counted */
            continue;
        }
        k->lo = k->hi = created;
        n++;
        ctx->rows_valid++;
    }
    qsort(st->keys, (size_t)n, sizeof(*st->keys), cmp_key);
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m > 0 && cmp_key(&st->keys[m - 1], &st->keys[i]) == 0) {
            skey_t *k = &st->keys[m - 1];
            k->lo = st->keys[i].lo < k->lo ? st->keys[i].lo : k->lo;
            k->hi = st->keys[i].hi > k->hi ? st->keys[i].hi : k->hi;
        } else {
            st->keys[m++] = st->keys[i];
        }
    }
    *ret_n = m;
    return 0;
}

typedef struct key_params {
    md_array_lit_t kind, key, lo, hi;
} key_params_t;

static void key_params_free(key_params_t *kp) {
    md_array_lit_free(&kp->kind);
    md_array_lit_free(&kp->key);
    md_array_lit_free(&kp->lo);
    md_array_lit_free(&kp->hi);
}

/* Arrays of the keys with (lo, hi) or, once widened, (ws, we). */
static int key_params(md_job_ctx_t *ctx, const skey_t *keys, int n, bool windows,
                      key_params_t *kp) {
    md_array_lit_begin(&kp->kind);
    md_array_lit_begin(&kp->key);
    md_array_lit_begin(&kp->lo);
    md_array_lit_begin(&kp->hi);
    for (int i = 0; i < n; i++) {
        char kind[2] = {keys[i].kind, 0}, a[24], b[24];
        snprintf(a, sizeof(a), "%" PRId64, windows ? keys[i].ws : keys[i].lo);
        snprintf(b, sizeof(b), "%" PRId64, windows ? keys[i].we : keys[i].hi);
        if (md_array_lit_add(&kp->kind, kind, 1) != 0 ||
            md_array_lit_add(&kp->key, keys[i].key.ptr, keys[i].key.len) != 0 ||
            md_array_lit_add(&kp->lo, a, strlen(a)) != 0 ||
            md_array_lit_add(&kp->hi, b, strlen(b)) != 0)
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    return 0;
}

/* Sessions of one key never overlap and two cut by length are max_length
 * apart, so at most one session starts in (we, we + gap): a bounded range scan
 * of each key kind's (key, started_at) index. $5 is the gap in µs. */
#define CHAIN_NEXT_SQL                                                                             \
    KEYS_CTE "SELECT k.i, " US_EXPR(                                                               \
        "max(y.ended_at)") " FROM k CROSS JOIN LATERAL ("                                          \
                           "SELECT s.ended_at FROM analytics.user_sessions s "                     \
                           "WHERE k.uid IS NOT NULL AND s.user_id = k.uid AND s.started_at > "     \
                           "k.we "                                                                 \
                           "AND s.started_at < k.we + $5::bigint * interval '1 microsecond' "      \
                           "UNION ALL "                                                            \
                           "SELECT s.ended_at FROM analytics.user_sessions s "                     \
                           "WHERE k.uid IS NULL AND s.user_id IS NULL AND s.client_session_id = "  \
                           "k.key "                                                                \
                           "AND s.started_at > k.we AND s.started_at < k.we + $5::bigint * "       \
                           "interval "                                                             \
                           "'1 microsecond') y GROUP BY k.i"

/* A session that follows the window's end within `gap` was cut from the
 * one before it by max_length, not by a gap: when the new events move where
 * that chain starts, every cut after it moves too. Extend each window's end
 * over such chains until a real gap follows, so the rebuild covers them. */
static int extend_chains(md_job_ctx_t *ctx, skey_t *keys, int n) {
    char gap[24];
    snprintf(gap, sizeof(gap), "%" PRId64, ctx->cfg->sessions_gap_ms * 1000);
    for (int round = 0; round < 100000; round++) {
        key_params_t kp = {0};
        int rc = key_params(ctx, keys, n, true, &kp);
        if (rc != 0) {
            key_params_free(&kp);
            return rc;
        }
        const char *params[] = {md_array_lit_end(&kp.kind), md_array_lit_end(&kp.key),
                                md_array_lit_end(&kp.lo), md_array_lit_end(&kp.hi), gap};
        PGresult *res = md_pg_query(ctx->conn, CHAIN_NEXT_SQL, 5, params, &ctx->err);
        key_params_free(&kp);
        if (res == NULL)
            return ctx->err.code;
        int extended = PQntuples(res);
        for (int r = 0; r < extended; r++) {
            int i = (int)strtol(PQgetvalue(res, r, 0), NULL, 10) - 1;
            int64_t end = strtoll(PQgetvalue(res, r, 1), NULL, 10);
            if (i >= 0 && i < n && end > keys[i].we)
                keys[i].we = end;
        }
        PQclear(res);
        if (extended == 0)
            return 0;
    }
    return md_error_set(&ctx->err, -ELOOP, "session chains did not end");
}

/* Window = [lo - max_length - gap, hi + max_length + gap], widened to cover
 * every existing session of the key that overlaps it. */
static int find_windows(md_job_ctx_t *ctx, skey_t *keys, int n) {
    int64_t reach = (ctx->cfg->sessions_max_length_ms + ctx->cfg->sessions_gap_ms) * 1000;
    for (int i = 0; i < n; i++) {
        keys[i].ws = keys[i].lo - reach;
        keys[i].we = keys[i].hi + reach;
    }
    key_params_t kp = {0};
    int rc = key_params(ctx, keys, n, true, &kp);
    if (rc != 0) {
        key_params_free(&kp);
        return rc;
    }
    char maxlen[24];
    snprintf(maxlen, sizeof(maxlen), "%" PRId64, ctx->cfg->sessions_max_length_ms * 1000);
    const char *params[] = {md_array_lit_end(&kp.kind), md_array_lit_end(&kp.key),
                            md_array_lit_end(&kp.lo), md_array_lit_end(&kp.hi), maxlen};
    /* A session never spans max_length, which bounds the index range scanned. */
    PGresult *res = md_pg_query(
        ctx->conn,
        /* One branch per key kind, so each is a range scan of its
         * (key, started_at) index; an OR of the two kinds defeats both. */
        KEYS_CTE "SELECT k.i, " US_EXPR("least(k.ws, x.smin)") ", " US_EXPR(
            "greatest(k.we, x.emax)") " FROM k LEFT JOIN LATERAL (SELECT min(y.started_at) AS "
                                      "smin, max(y.ended_at) AS emax FROM (SELECT s.started_at, "
                                      "s.ended_at FROM analytics.user_sessions s WHERE k.uid IS "
                                      "NOT NULL AND s.user_id = k.uid AND s.started_at <= k.we "
                                      "AND s.started_at > k.ws - $5::bigint * interval "
                                      "'1 microsecond' AND s.ended_at >= k.ws UNION ALL SELECT "
                                      "s.started_at, s.ended_at FROM analytics.user_sessions s "
                                      "WHERE k.uid IS NULL AND s.user_id IS NULL AND "
                                      "s.client_session_id = k.key AND s.started_at <= k.we AND "
                                      "s.started_at > k.ws - $5::bigint * interval '1 "
                                      "microsecond' AND s.ended_at >= k.ws) y) x ON true "
                                      "ORDER BY k.i",
        5, params, &ctx->err);
    key_params_free(&kp);
    if (res == NULL)
        return ctx->err.code;
    if (PQntuples(res) != n) {
        PQclear(res);
        return md_error_set(&ctx->err, -EPROTO, "session windows: %d rows for %d keys",
                            PQntuples(res), n);
    }
    for (int i = 0; i < n; i++) {
        keys[i].ws = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        keys[i].we = strtoll(PQgetvalue(res, i, 2), NULL, 10);
    }
    PQclear(res);
    return extend_chains(ctx, keys, n);
}

static md_str_t col_str(const PGresult *res, int r, int c) {
    if (PQgetisnull(res, r, c))
        return MD_STR_NULL;
    return (md_str_t){PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c)};
}

static int write_session(md_job_ctx_t *ctx, sess_state_t *st, const skey_t *k,
                         const md_session_t *s) {
    int rc = md_job_row_begin(&st->out, 12);
    if (rc != 0)
        return rc;
    md_uuid_t uid = {0};
    if (k->kind == MD_SESSION_KEY_USER && md_uuid_parse(k->key.ptr, k->key.len, &uid) != 0)
        return -EINVAL;
    md_copy_add_textn(&st->out, s->session_id, MD_SESSION_ID_LEN);
    md_copy_add_uuid(&st->out, &uid);
    md_copy_add_text(&st->out, k->kind == MD_SESSION_KEY_CLIENT ? k->key : MD_STR_NULL);
    md_copy_add_timestamptz(&st->out, s->started_at);
    md_copy_add_timestamptz(&st->out, s->ended_at);
    md_copy_add_int4(&st->out, (int32_t)s->duration_seconds);
    md_copy_add_int4(&st->out, s->event_count);
    md_copy_add_text(&st->out, s->entry_event_type);
    md_copy_add_text(&st->out, s->exit_event_type);
    md_copy_add_text(&st->out, s->entry_page);
    md_copy_add_text(&st->out, s->exit_page);
    md_copy_add_date(&st->out, local_day(ctx, s->started_at));
    if ((rc = md_copy_row_end(&st->out)) != 0)
        return rc;
    return add_day(ctx, st, local_day(ctx, s->started_at));
}

/* Fetch every key's valid events in its window (one query), sessionize each
 * key, replace the key's sessions that start in the window. */
static int rebuild(md_job_ctx_t *ctx, sess_state_t *st, const skey_t *keys, int n) {
    key_params_t kp = {0};
    int rc = key_params(ctx, keys, n, true, &kp);
    if (rc != 0) {
        key_params_free(&kp);
        return rc;
    }
    const char *params[] = {md_array_lit_end(&kp.kind), md_array_lit_end(&kp.key),
                            md_array_lit_end(&kp.lo), md_array_lit_end(&kp.hi)};
    /* Two deletes, one per key kind, each a nested loop over its
     * (key, started_at) index: an OR of the kinds scans every session. */
    static const char *const deletes[] = {
        KEYS_CTE "DELETE FROM analytics.user_sessions s USING k WHERE k.uid IS NOT NULL AND "
                 "s.user_id = k.uid AND s.started_at BETWEEN k.ws AND k.we "
                 "RETURNING s.session_date - date '1970-01-01'",
        KEYS_CTE "DELETE FROM analytics.user_sessions s USING k WHERE k.uid IS NULL AND "
                 "s.user_id IS NULL AND s.client_session_id = k.key AND s.started_at BETWEEN "
                 "k.ws AND k.we RETURNING s.session_date - date '1970-01-01'",
    };
    PGresult *del = md_pg_query(ctx->conn, deletes[0], 4, params, &ctx->err);
    if (del != NULL) {
        for (int i = 0; i < PQntuples(del) && rc == 0; i++)
            rc = add_day(ctx, st, (int32_t)strtol(PQgetvalue(del, i, 0), NULL, 10));
        PQclear(del);
        del = rc == 0 ? md_pg_query(ctx->conn, deletes[1], 4, params, &ctx->err) : NULL;
    }
    if (del == NULL) {
        key_params_free(&kp);
        return rc != 0 ? rc : ctx->err.code;
    }
    for (int i = 0; i < PQntuples(del) && rc == 0; i++)
        rc = add_day(ctx, st, (int32_t)strtol(PQgetvalue(del, i, 0), NULL, 10));
    PQclear(del);
    if (rc != 0) {
        key_params_free(&kp);
        return rc;
    }
    PGresult *res = md_pg_query(
        ctx->conn,
        KEYS_CTE "SELECT k.i, e.id, " US_EXPR(
            "e.created_at") ", e.event_type, CASE WHEN jsonb_typeof(e.properties -> 'page') = "
                            "'string' THEN e.properties ->> 'page' END FROM k CROSS JOIN LATERAL "
                            "(SELECT c.id, c.created_at, c.event_type, c.properties FROM "
                            "analytics.events_clean c WHERE k.uid IS NOT NULL AND c.user_id = "
                            "k.uid AND c.is_valid AND c.created_at BETWEEN k.ws AND k.we "
                            "UNION ALL SELECT c.id, c.created_at, c.event_type, c.properties FROM "
                            "analytics.events_clean c WHERE k.uid IS NULL AND c.user_id IS NULL "
                            "AND c.session_id = k.key AND c.is_valid AND c.created_at BETWEEN "
                            "k.ws AND k.we) e ORDER BY k.i, e.created_at, e.id",
        4, params, &ctx->err);
    key_params_free(&kp);
    if (res == NULL)
        return ctx->err.code;
    int nev = PQntuples(res);
    md_session_event_t *ev = md_arena_alloc(ctx->arena, (size_t)(nev + 1) * sizeof(*ev));
    md_session_t *out = md_arena_alloc(ctx->arena, (size_t)(nev + 1) * sizeof(*out));
    if (ev == NULL || out == NULL) {
        PQclear(res);
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    md_session_rules_t rules = {ctx->cfg->sessions_gap_ms * 1000,
                                ctx->cfg->sessions_max_length_ms * 1000};
    int64_t written = 0;
    for (int r = 0, keys_done = 0; r < nev && rc == 0; keys_done++) {
        if ((keys_done & 4095) == 4095 &&
            (rc = md_job_check_continue(ctx, "while building sessions")) != 0)
            break;
        int ki = (int)strtol(PQgetvalue(res, r, 0), NULL, 10) - 1;
        int start = r;
        for (; r < nev && strtol(PQgetvalue(res, r, 0), NULL, 10) - 1 == ki; r++)
            ev[r] = (md_session_event_t){strtoll(PQgetvalue(res, r, 1), NULL, 10),
                                         strtoll(PQgetvalue(res, r, 2), NULL, 10),
                                         col_str(res, r, 3), col_str(res, r, 4)};
        size_t ns = 0;
        if (ki < 0 || ki >= n) {
            rc = md_error_set(&ctx->err, -EPROTO, "session events: bad key index");
            break;
        }
        rc = md_sessionize((md_session_key_kind_t)keys[ki].kind, keys[ki].key, ev + start,
                           (size_t)(r - start), &rules, out, (size_t)(r - start), &ns);
        if (rc != 0) {
            rc = md_error_set(&ctx->err, rc, "sessionizing key %.*s failed", (int)keys[ki].key.len,
                              keys[ki].key.ptr);
            break;
        }
        for (size_t s = 0; s < ns && rc == 0; s++, written++)
            if ((rc = write_session(ctx, st, &keys[ki], &out[s])) != 0)
                rc = md_error_set(&ctx->err, rc, "cannot encode a session row");
    }
    if (rc == 0 && written > 0)
        rc = md_batch_copy_in(ctx->conn, SESSIONS_TARGET, &st->out, &ctx->err);
    md_copy_writer_reset(&st->out);
    PQclear(res);
    if (rc == 0)
        ctx->rows_written += written;
    return rc;
}

/* first_event_at = least(existing, this page's minimum); a move marks both
 * the old and the new first-seen day dirty. The same statement marks the
 * cohort month (reporting.timezone) of every user of the page: the old first
 * event of each already-known user (its cohort until now, unchanged if the
 * update skipped it) plus each inserted or moved first event, so a move to an
 * earlier month marks both the old and the new cohort. */
static int update_first_seen(md_job_ctx_t *ctx, sess_state_t *st, const skey_t *keys, int n) {
    md_array_lit_t uid = {0}, ts = {0};
    md_array_lit_begin(&uid);
    md_array_lit_begin(&ts);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (keys[i].kind != MD_SESSION_KEY_USER)
            continue;
        char b[24];
        snprintf(b, sizeof(b), "%" PRId64, keys[i].lo);
        if (md_array_lit_add(&uid, keys[i].key.ptr, keys[i].key.len) != 0 ||
            md_array_lit_add(&ts, b, strlen(b)) != 0)
            rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    }
    if (rc != 0 || uid.count == 0) {
        md_array_lit_free(&uid);
        md_array_lit_free(&ts);
        return rc;
    }
    const char *zone = md_tz_name(ctx->cfg->reporting_tz);
    const char *params[] = {md_array_lit_end(&uid), md_array_lit_end(&ts), zone ? zone : "UTC"};
    PGresult *res = md_pg_query(
        ctx->conn,
        "WITH n AS (SELECT u::uuid AS uid, " TS_EXPR(
            "t") " AS ts FROM unnest($1::text[], $2::bigint[]) AS x(u, t)), "
                 "old AS (SELECT f.user_id, f.first_event_at FROM medallion.user_first_seen f "
                 "JOIN n ON f.user_id = n.uid), "
                 "up AS (INSERT INTO medallion.user_first_seen AS f (user_id, first_event_at) "
                 "SELECT uid, ts FROM n ON CONFLICT (user_id) DO UPDATE SET first_event_at = "
                 "excluded.first_event_at, updated_at = now() WHERE f.first_event_at IS NULL OR "
                 "excluded.first_event_at < f.first_event_at RETURNING f.user_id, "
                 "f.first_event_at), "
                 "cohorts AS (INSERT INTO medallion.cohort_dirty (cohort_month) SELECT DISTINCT "
                 "date_trunc('month', ts AT TIME ZONE $3)::date FROM (SELECT first_event_at AS ts "
                 "FROM old UNION ALL SELECT first_event_at FROM up) m WHERE ts IS NOT NULL ORDER "
                 "BY "
                 "1 ON CONFLICT (cohort_month) DO UPDATE SET marked_at = now()) "
                 "SELECT " US_EXPR("old.first_event_at") ", " US_EXPR(
                     "up.first_event_at") " FROM up LEFT JOIN old ON old.user_id = up.user_id",
        3, params, &ctx->err);
    md_array_lit_free(&uid);
    md_array_lit_free(&ts);
    if (res == NULL)
        return ctx->err.code;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        if (!PQgetisnull(res, i, 0))
            rc = add_day(ctx, st, local_day(ctx, strtoll(PQgetvalue(res, i, 0), NULL, 10)));
        if (rc == 0)
            rc = add_day(ctx, st, local_day(ctx, strtoll(PQgetvalue(res, i, 1), NULL, 10)));
    }
    PQclear(res);
    return rc;
}

static int mark_dirty(md_job_ctx_t *ctx, sess_state_t *st) {
    if (st->ndays == 0)
        return 0;
    qsort(st->days, (size_t)st->ndays, sizeof(*st->days), cmp_day);
    md_array_lit_t days = {0};
    md_array_lit_begin(&days);
    for (int i = 0; i < st->ndays; i++) {
        if (i > 0 && st->days[i] == st->days[i - 1])
            continue;
        char b[16];
        day_text(st->days[i], b);
        if (md_array_lit_add(&days, b, strlen(b)) != 0) {
            md_array_lit_free(&days);
            return md_error_set(&ctx->err, -ENOMEM, "out of memory");
        }
    }
    const char *params[] = {DIRTY_TARGET, md_array_lit_end(&days)};
    PGresult *res = md_pg_query(ctx->conn,
                                "INSERT INTO medallion.gold_dirty (target, day) SELECT $1, d "
                                "FROM unnest($2::date[]) AS d ORDER BY d ON CONFLICT (target, "
                                "day) DO UPDATE SET marked_at = now()",
                                2, params, &ctx->err);
    md_array_lit_free(&days);
    if (res == NULL)
        return ctx->err.code;
    PQclear(res);
    return 0;
}

static const char *zone_name(const md_job_ctx_t *ctx) {
    const char *zone = md_tz_name(ctx->cfg->reporting_tz);
    return zone ? zone : "UTC";
}

/* Replace the user_days rows of every (user, local day) the page's rows fall
 * on with the count of that user's valid events on that day, recomputed from
 * events_clean (so it is exact whatever else the page changed). These pairs
 * are the only ones whose count can have changed: a count changes only when
 * an event of that user and day is added or re-derived, and either gives the
 * row a new silver_xid, which puts it on a page. */
static int update_user_days(md_job_ctx_t *ctx, sess_state_t *st) {
    if (st->day_users.count == 0)
        return 0;
    const char *params[] = {md_array_lit_end(&st->day_users), md_array_lit_end(&st->day_ts),
                            zone_name(ctx)};
    if (params[0] == NULL || params[1] == NULL)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    PGresult *res = md_pg_query(
        ctx->conn,
        "WITH p AS (SELECT DISTINCT u::uuid AS uid, ((" TS_EXPR(
            "t") ") AT TIME ZONE $3)::date AS day FROM unnest($1::text[], $2::bigint[]) AS x(u, "
                 "t)), c AS (SELECT p.uid, p.day, (SELECT count(*) FROM analytics.events_clean e "
                 "WHERE e.user_id = p.uid AND e.is_valid AND e.created_at >= p.day::timestamp AT "
                 "TIME ZONE $3 AND e.created_at < (p.day + 1)::timestamp AT TIME ZONE $3) AS n "
                 "FROM p), gone AS (DELETE FROM medallion.user_days d USING c WHERE c.n = 0 AND "
                 "d.user_id = c.uid AND d.day = c.day) "
                 "INSERT INTO medallion.user_days AS d (user_id, day, events) SELECT uid, day, n "
                 "FROM c WHERE n > 0 ON CONFLICT (user_id, day) DO UPDATE SET events = "
                 "excluded.events WHERE d.events <> excluded.events",
        3, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    PQclear(res);
    return 0;
}

static int process_page(md_job_ctx_t *ctx, const md_page_t *page, void *state) {
    sess_state_t *st = state;
    st->ndays = 0;
    md_array_lit_begin(&st->day_users);
    md_array_lit_begin(&st->day_ts);
    int n = 0, rc;
    /* Between the steps, which can each take long on a big page, a timeout or
     * a lost lock stops the page (a cancel alone reaches only a query). */
    const char *where = "while building sessions";
    if ((rc = collect_keys(ctx, st, page, &n)) != 0 ||
        (rc = md_job_check_continue(ctx, where)) != 0)
        return rc;
    if (n > 0 && ((rc = find_windows(ctx, st->keys, n)) != 0 ||
                  (rc = md_job_check_continue(ctx, where)) != 0 ||
                  (rc = rebuild(ctx, st, st->keys, n)) != 0 ||
                  (rc = md_job_check_continue(ctx, where)) != 0 ||
                  (rc = update_first_seen(ctx, st, st->keys, n)) != 0))
        return rc;
    if ((rc = update_user_days(ctx, st)) != 0 || (rc = md_job_check_continue(ctx, where)) != 0)
        return rc;
    return mark_dirty(ctx, st);
}

/* Build medallion.user_days in full when it was never built for the
 * reporting zone (new installation), and re-key every session_date and gold
 * day when reporting.timezone changed (migration 010): the pages below only
 * ever replace the pairs and sessions they touch. */
int md_job_build_user_sessions(md_job_ctx_t *ctx) {
    int rc = md_job_ensure_reporting_zone(ctx);
    if (rc != 0)
        return rc;
    sess_state_t st = {0};
    md_copy_writer_init(&st.out);
    md_batch_spec_t spec = {
        .source = "analytics.events_clean",
        .xid_column = "silver_xid",
        .columns = "id, user_id, session_id, created_at, is_valid",
        .ncols = NCOLS,
        .process = process_page,
        .state = &st,
    };
    rc = md_batch_run(ctx, &spec);
    if (rc == 0 && st.unkeyed > 0)
        snprintf(ctx->note, sizeof(ctx->note),
                 "%" PRId64 " valid events with neither user_id nor session_id: not in any session",
                 st.unkeyed);
    md_array_lit_free(&st.day_users);
    md_array_lit_free(&st.day_ts);
    free(st.keys);
    free(st.days);
    md_copy_writer_free(&st.out);
    return rc;
}
