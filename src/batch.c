/* Snapshot-based batches (see batch.h and docs/architecture.md "Batches").
 * Each page: BEGIN; lock the position row; fix the range's upper snapshot;
 * COPY a keyset page out; let the job transform and write it; move the
 * position; COMMIT. A kill at any instant loses or repeats nothing, because
 * the writes and the position move commit together.
 *
 * Overlapping pages (md_batch_spec_t.pipeline, write_connections 2..4): while
 * a helper thread still sends page n's last COPY on its connection, page n+1
 * is read and written on another, so several server backends work at once.
 * Pages still commit one at a time and in order; only a page that starts with
 * no other page open reads (and locks) the position row. Each commit moves the
 * position only if it is still the one the page was read from, so a page can
 * never commit past one that did not. */
#include "medallion/batch.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "medallion/log.h"
#include "medallion/pg.h"

typedef struct batch_range {
    char *prev;      /* snapshot text of the finished position, NULL = none */
    char *cur;       /* snapshot bounding the range being paged */
    bool cur_is_new; /* taken by this page: must be stored */
    uint64_t prev_xmin;
    uint64_t cur_xmax;
    bool has_last;
    uint64_t last_xid;
    int64_t last_id;
} batch_range_t;

static void range_clear(batch_range_t *r) {
    free(r->prev);
    free(r->cur);
    memset(r, 0, sizeof(*r));
}

static int range_copy(batch_range_t *dst, const batch_range_t *src) {
    range_clear(dst);
    *dst = *src;
    dst->prev = src->prev ? strdup(src->prev) : NULL;
    dst->cur = src->cur ? strdup(src->cur) : NULL;
    return (src->prev && !dst->prev) || (src->cur && !dst->cur) ? -ENOMEM : 0;
}

/* One page between its BEGIN and its COMMIT: the connection it runs on, the
 * position it was read from, its last key, and the COPY a helper thread may
 * still be sending for it. */
/* A run's figures of rows written and per outcome. A page's part of them
 * counts only once the page commits: a failed or timed-out run reports what
 * it committed, not what it rolled back. */
typedef struct md_batch_counts {
    int64_t written, valid, invalid, duplicate;
} md_batch_counts_t;

static md_batch_counts_t counts_of(const md_job_ctx_t *ctx) {
    return (md_batch_counts_t){ctx->rows_written, ctx->rows_valid, ctx->rows_invalid,
                               ctx->rows_duplicate};
}

/* *sum += now - before */
static void counts_add_delta(md_batch_counts_t *sum, md_batch_counts_t now,
                             md_batch_counts_t before) {
    sum->written += now.written - before.written;
    sum->valid += now.valid - before.valid;
    sum->invalid += now.invalid - before.invalid;
    sum->duplicate += now.duplicate - before.duplicate;
}

/* After a failure: the figures the run had at its start plus what committed. */
static void counts_restore(md_job_ctx_t *ctx, md_batch_counts_t base, md_batch_counts_t committed) {
    ctx->rows_written = base.written + committed.written;
    ctx->rows_valid = base.valid + committed.valid;
    ctx->rows_invalid = base.invalid + committed.invalid;
    ctx->rows_duplicate = base.duplicate + committed.duplicate;
}

typedef struct md_batch_slot {
    PGconn *conn;
    PGcancel *cancel; /* for the helper's COPY */
    bool own_conn;    /* opened by the batch loop, closed by it */
    batch_range_t r;  /* the position this page starts from */
    md_page_t page;
    int nrows;
    bool done; /* the range's last page */
    uint64_t key_xid;
    int64_t key_id;
    bool async;                /* md_batch_copy_in_last may hand its COPY to a helper thread */
    md_batch_counts_t counted; /* what processing this page added to the run's figures */
    bool copy_started;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool copy_finished; /* under mu */
    md_buf_t copy_data; /* owned while the helper runs */
    char copy_target[512];
    int copy_rc;
    md_error_t copy_err;
    md_log_ctx_t log_scope; /* the run's, for the helper's log lines (server notices) */
    bool log_scoped;
} md_batch_slot_t;

/* "xmin:xmax:xip,..." — digits, colons and commas only: the text is inlined
 * into COPY (which takes no parameters), so anything else is refused. */
static int parse_snapshot(const char *s, uint64_t *ret_xmin, uint64_t *ret_xmax) {
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p) && *p != ':' && *p != ',')
            return -EPROTO;
    unsigned long long xmin, xmax;
    if (sscanf(s, "%llu:%llu:", &xmin, &xmax) != 2)
        return -EPROTO;
    *ret_xmin = xmin;
    *ret_xmax = xmax;
    return 0;
}

static void rollback(PGconn *conn) {
    if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(conn, "ROLLBACK");
        PQclear(res);
    }
}

/* BEGIN; with read_position, lock the job's position row and decide the range
 * of this page from it (otherwise the caller knows it: the previous page's). */
static int begin_page(md_job_ctx_t *ctx, batch_range_t *r, bool read_position) {
    /* The planner cannot estimate pg_visible_in_snapshot() and tends to pick
     * a bitmap scan plus a sort of the whole remaining range for every page:
     * quadratic in the range size. A page must be an ordered walk of the
     * (xid, id) index that stops after batch_size rows. Parallel workers and
     * JIT compilation cost more than a page's queries take. */
    int rc = md_pg_exec(ctx->conn,
                        "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL enable_sort = off; "
                        "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; "
                        "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL jit = off",
                        &ctx->err);
    if (rc != 0 || !read_position)
        return rc;
    const char *params[] = {ctx->jcfg->def->name};
    PGresult *res = md_pg_query(ctx->conn,
                                "SELECT prev_snapshot::text, cur_snapshot::text, last_xid::text, "
                                "last_id, pg_current_snapshot()::text "
                                "FROM medallion.batch_positions WHERE job_name = $1 FOR UPDATE",
                                1, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return md_error_set(&ctx->err, -ENOENT,
                            "no batch position row for job %s in medallion.batch_positions "
                            "(run `medalliond migrate`)",
                            ctx->jcfg->def->name);
    }
    range_clear(r);
    bool want_prev = !PQgetisnull(res, 0, 0);
    if (want_prev)
        r->prev = strdup(PQgetvalue(res, 0, 0));
    if (!PQgetisnull(res, 0, 1)) {
        r->cur = strdup(PQgetvalue(res, 0, 1));
    } else {
        r->cur = strdup(PQgetvalue(res, 0, 4));
        r->cur_is_new = true;
    }
    if (!PQgetisnull(res, 0, 2) && !PQgetisnull(res, 0, 3)) {
        r->has_last = true;
        r->last_xid = strtoull(PQgetvalue(res, 0, 2), NULL, 10);
        r->last_id = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
    }
    PQclear(res);
    if (r->cur == NULL || (want_prev && r->prev == NULL))
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    uint64_t dummy;
    if ((r->prev != NULL && parse_snapshot(r->prev, &r->prev_xmin, &dummy) != 0) ||
        parse_snapshot(r->cur, &dummy, &r->cur_xmax) != 0)
        return md_error_set(&ctx->err, -EPROTO, "unexpected snapshot text in batch position");
    return 0;
}

static void page_free_rows(md_page_t *p) {
    for (int i = 0; i < p->nrows; i++)
        PQfreemem(p->raw[i]);
    p->nrows = 0;
}

static int page_reserve(md_page_t *p, int rows, int ncols, md_error_t *err) {
    rows += 1; /* spare row for parsing the trailer chunk */
    if (rows <= p->cap && p->ncols == ncols)
        return 0;
    free(p->fields);
    free(p->raw);
    p->fields = calloc((size_t)rows * (size_t)(ncols + 1), sizeof(*p->fields));
    p->raw = calloc((size_t)rows, sizeof(*p->raw));
    p->cap = rows;
    p->ncols = ncols;
    if (p->fields == NULL || p->raw == NULL)
        return md_error_set(err, -ENOMEM, "out of memory for a page of %d rows", rows);
    return 0;
}

/* Run a COPY ... TO STDOUT (FORMAT binary) and keep up to `limit` rows. */
static int copy_out_page(md_job_ctx_t *ctx, const md_batch_spec_t *spec, const char *sql, int limit,
                         md_page_t *page) {
    PGresult *res = PQexec(ctx->conn, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_OUT) {
        md_pg_error(ctx->conn, res, "reading a batch", &ctx->err);
        PQclear(res);
        return ctx->err.code ? ctx->err.code : -EIO;
    }
    PQclear(res);

    int rc = page_reserve(page, limit, spec->ncols, &ctx->err);
    md_copy_reader_t reader;
    md_copy_reader_init(&reader);
    for (;;) {
        char *buf = NULL;
        int len = PQgetCopyData(ctx->conn, &buf, 0);
        if (len == -1)
            break; /* end of COPY */
        if (len < 0) {
            md_pg_error(ctx->conn, NULL, "reading a batch", &ctx->err);
            rc = -EIO;
            break;
        }
        if (rc != 0) {
            PQfreemem(buf);
            continue; /* drain the stream so the connection stays usable */
        }
        /* page_reserve keeps one spare row so the trailer, which arrives as
         * its own chunk, can be parsed after a full page. */
        int nf = 0;
        md_copy_field_t *f = &page->fields[(size_t)page->nrows * (size_t)(spec->ncols + 1)];
        int got = md_copy_reader_row(&reader, buf, (size_t)len, f, spec->ncols + 1, &nf);
        if (got == 1 && nf == spec->ncols + 1 && page->nrows < limit) {
            page->raw[page->nrows++] = buf;
            continue;
        }
        PQfreemem(buf);
        if (got == 1 && page->nrows >= limit)
            rc = md_error_set(&ctx->err, -EPROTO, "batch returned more rows than its LIMIT");
        else if (got < 0 || (got == 1 && nf != spec->ncols + 1))
            rc = md_error_set(&ctx->err, -EPROTO, "malformed binary COPY data from %s",
                              spec->source);
    }
    res = PQgetResult(ctx->conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
        md_pg_error(ctx->conn, res, "reading a batch", &ctx->err);
        rc = ctx->err.code ? ctx->err.code : -EIO;
    }
    PQclear(res);
    while ((res = PQgetResult(ctx->conn)) != NULL)
        PQclear(res);
    return rc;
}

/* Before each page: stop when the run was cancelled, or when the connection
 * holding its advisory lock is gone (the lock with it: another instance may
 * take the job now, and the position row's lock alone would make the two
 * runs queue behind each other page by page). */
int md_job_check_continue(md_job_ctx_t *ctx, const char *where) {
    if (md_job_cancelled(ctx))
        return md_error_set(&ctx->err, -ECANCELED, "cancelled %s", where);
    if (ctx->lock_conn != NULL && !md_pg_conn_alive(ctx->lock_conn))
        return md_error_set(&ctx->err, -ENOTCONN,
                            "lost the job lock (its connection closed); stopped %s so that no "
                            "other instance runs this job at the same time",
                            where);
    return 0;
}

static int between_pages(md_job_ctx_t *ctx) {
    return md_job_check_continue(ctx, "before the next batch");
}

/* COPY (SELECT ...) TO STDOUT (FORMAT binary): one keyset page of the range. */
static int fetch_page(md_job_ctx_t *ctx, const md_batch_spec_t *spec, const batch_range_t *r,
                      md_page_t *page) {
    int limit = ctx->jcfg->batch_size;
    const char *xc = spec->xid_column;
    char *where_prev = NULL, *where_last = NULL, *sql = NULL;
    /* The range: visible in cur, not visible in prev. The xmin/xmax bounds
     * let the (xid, id) index skip everything outside it; the keyset
     * condition continues after the last row of the previous page. */
    int ok = r->prev == NULL ? asprintf(&where_prev, "%s", "")
                             : asprintf(&where_prev,
                                        " AND %s >= '%" PRIu64
                                        "'::xid8 AND NOT pg_visible_in_snapshot(%s, '%s')",
                                        xc, r->prev_xmin, xc, r->prev);
    if (ok >= 0)
        ok = !r->has_last
                 ? asprintf(&where_last, "%s", "")
                 : asprintf(&where_last, " AND (%s, id) > ('%" PRIu64 "'::xid8, %" PRId64 ")", xc,
                            r->last_xid, r->last_id);
    if (ok >= 0)
        ok = asprintf(&sql,
                      "COPY (SELECT %s, %s FROM %s WHERE %s < '%" PRIu64 "'::xid8 "
                      "AND pg_visible_in_snapshot(%s, '%s')%s%s ORDER BY %s, id LIMIT %d) "
                      "TO STDOUT (FORMAT binary)",
                      spec->columns, xc, spec->source, xc, r->cur_xmax, xc, r->cur, where_prev,
                      where_last, xc, limit);
    free(where_prev);
    free(where_last);
    if (ok < 0)
        return md_error_set(&ctx->err, -ENOMEM, "out of memory");
    int rc = copy_out_page(ctx, spec, sql, limit, page);
    free(sql);
    return rc;
}

/* COPY target FROM STDIN (FORMAT binary) of complete binary COPY data; with
 * prior_rc != 0 the COPY is started and aborted, so the error is the caller's. */
static int copy_in_bytes(PGconn *conn, const char *target, const char *data, size_t len,
                         int prior_rc, md_error_t *ret_err) {
    char sql[1024];
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", target);
    PGresult *res = PQexec(conn, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN) {
        md_pg_error(conn, res, "writing a batch", ret_err);
        PQclear(res);
        return -EIO;
    }
    PQclear(res);
    int rc = prior_rc;
    /* PQputCopyData takes an int length: send in 1 MiB slices. */
    for (size_t off = 0; rc == 0 && off < len;) {
        size_t n = len - off < (1u << 20) ? len - off : (1u << 20);
        if (PQputCopyData(conn, data + off, (int)n) != 1)
            rc = -EIO;
        off += n;
    }
    if (PQputCopyEnd(conn, rc == 0 ? NULL : "medalliond aborted the COPY") != 1 && rc == 0)
        rc = -EIO;
    res = PQgetResult(conn);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        md_pg_error(conn, res, target, ret_err);
        rc = -EIO;
    }
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
        PQclear(res);
    return rc;
}

int md_batch_copy_in(PGconn *conn, const char *target, md_copy_writer_t *w, md_error_t *ret_err) {
    int rc = md_copy_writer_trailer(w);
    const char *data = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = md_copy_writer_take(w, &data, &len);
    rc = copy_in_bytes(conn, target, data, len, rc, ret_err);
    md_copy_writer_reset(w);
    return rc;
}

static void *copy_thread(void *arg) {
    md_batch_slot_t *s = arg;
    md_log_set_scope(s->log_scoped ? &s->log_scope : NULL);
    int rc = copy_in_bytes(s->conn, s->copy_target, s->copy_data.data, s->copy_data.len, 0,
                           &s->copy_err);
    pthread_mutex_lock(&s->mu);
    s->copy_rc = rc;
    s->copy_finished = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Wait for the page's helper COPY, if any. Cancels it when the run is being
 * cancelled or when `abort` (the page will be rolled back anyway). */
static int wait_copy(md_job_ctx_t *ctx, md_batch_slot_t *s, bool abort) {
    if (!s->copy_started)
        return 0;
    bool cancel_sent = false;
    pthread_mutex_lock(&s->mu);
    while (!s->copy_finished) {
        if (!cancel_sent && (abort || md_job_cancelled(ctx))) {
            char buf[256];
            cancel_sent = true;
            if (s->cancel != NULL)
                (void)PQcancel(s->cancel, buf, sizeof(buf)); /* the COPY's own error tells */
            continue;
        }
        /* Wake up now and then to notice a cancellation of the run. */
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_nsec += 100 * 1000 * 1000;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &deadline);
    }
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->copy_started = false;
    if (s->copy_rc != 0 && !abort) {
        ctx->err = s->copy_err;
        return s->copy_rc;
    }
    return 0;
}

int md_batch_copy_in_last(md_job_ctx_t *ctx, const char *target, md_copy_writer_t *w) {
    md_batch_slot_t *s = ctx->batch_slot;
    if (s != NULL && s->copy_started) { /* a second deferred COPY: keep the order */
        int rc = wait_copy(ctx, s, false);
        if (rc != 0)
            return rc;
    }
    if (s == NULL || !s->async)
        return md_batch_copy_in(ctx->conn, target, w, &ctx->err);
    int rc = md_copy_writer_trailer(w);
    if (rc != 0) {
        md_copy_writer_reset(w);
        return md_error_set(&ctx->err, rc, "cannot finish the COPY data for %s", target);
    }
    /* The helper sends this page's bytes; the writer gets the buffer of the
     * slot's previous page back, so memory stays at one page per open page,
     * plus the one being encoded. */
    md_buf_t spare = s->copy_data;
    s->copy_data = w->buf;
    w->buf = spare;
    md_copy_writer_reset(w);
    snprintf(s->copy_target, sizeof(s->copy_target), "%s", target);
    s->copy_rc = 0;
    s->copy_finished = false;
    md_error_clear(&s->copy_err);
    s->log_scoped = md_log_get_scope(&s->log_scope);
    if (pthread_create(&s->thread, NULL, copy_thread, s) != 0) /* no thread: send it now */
        return copy_in_bytes(s->conn, target, s->copy_data.data, s->copy_data.len, 0, &ctx->err);
    s->copy_started = true;
    return 0;
}

/* The position as the page found it, for the compare-and-set in finish_page:
 * the page moves the position only from exactly that state. */
#define POSITION_WAS(p, c, x, i)                                                                   \
    " AND prev_snapshot::text IS NOT DISTINCT FROM " p                                             \
    " AND cur_snapshot::text IS NOT DISTINCT FROM " c                                              \
    " AND last_xid::text IS NOT DISTINCT FROM " x " AND last_id IS NOT DISTINCT FROM " i           \
    "::bigint"

/* Move the position inside the page's transaction, then COMMIT. */
static int finish_page(md_job_ctx_t *ctx, md_batch_slot_t *s) {
    const batch_range_t *r = &s->r;
    char lastxid[32], lastid[32], nrows[32], was_xid[32] = "", was_id[32] = "";
    snprintf(nrows, sizeof(nrows), "%d", s->nrows);
    if (r->has_last) {
        snprintf(was_xid, sizeof(was_xid), "%" PRIu64, r->last_xid);
        snprintf(was_id, sizeof(was_id), "%" PRId64, r->last_id);
    }
    const char *was_prev = r->prev, *was_cur = r->cur_is_new ? NULL : r->cur;
    const char *was_x = r->has_last ? was_xid : NULL, *was_i = r->has_last ? was_id : NULL;
    PGresult *res;
    const char *name = ctx->jcfg->def->name;
    if (s->done) {
        const char *params[] = {name, r->cur, nrows, was_prev, was_cur, was_x, was_i};
        res = md_pg_query(s->conn,
                          "UPDATE medallion.batch_positions SET prev_snapshot = $2::pg_snapshot, "
                          "cur_snapshot = NULL, last_xid = NULL, last_id = NULL, "
                          "rows_total = rows_total + $3::bigint, updated_at = now() "
                          "WHERE job_name = $1" POSITION_WAS("$4", "$5", "$6", "$7"),
                          7, params, &ctx->err);
    } else {
        snprintf(lastxid, sizeof(lastxid), "%" PRIu64, s->key_xid);
        snprintf(lastid, sizeof(lastid), "%" PRId64, s->key_id);
        const char *params[] = {name,     r->cur,  lastxid, lastid, nrows,
                                was_prev, was_cur, was_x,   was_i};
        res = md_pg_query(s->conn,
                          "UPDATE medallion.batch_positions SET cur_snapshot = $2::pg_snapshot, "
                          "last_xid = $3::xid8, last_id = $4::bigint, "
                          "rows_total = rows_total + $5::bigint, updated_at = now() "
                          "WHERE job_name = $1" POSITION_WAS("$6", "$7", "$8", "$9"),
                          9, params, &ctx->err);
    }
    if (res == NULL)
        return ctx->err.code;
    bool moved = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (!moved)
        return md_error_set(&ctx->err, -ESTALE,
                            "the batch position of %s changed under this run (another instance "
                            "writing the same job?); the page was rolled back",
                            name);
    return md_pg_exec(s->conn, "COMMIT", &ctx->err);
}

bool md_job_cancelled(const md_job_ctx_t *ctx) {
    return ctx->ctl != NULL && atomic_load(&ctx->ctl->cancel_requested);
}

/* Silver table of each bronze source (reprocess needs it). */
static const char *reprocess_target(const char *source) {
    static const struct {
        const char *source, *silver;
    } map[] = {
        {"analytics.events_raw", "analytics.events_clean"},
        {"analytics.api_logs_raw", "analytics.api_logs_clean"},
        {"analytics.user_actions_raw", "analytics.user_actions_clean"},
        {"analytics.transactions_raw", "analytics.transactions_validated"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].source, source) == 0)
            return map[i].silver;
    return NULL;
}

/* `reprocess`: re-derive rows already processed whose created_at is in
 * [from, to), by id pages. Each page, in one transaction under the position
 * row lock (so normal batches of the job wait): remove the rows' silver
 * entries, run the job's own process() on the bronze rows again. Rows not yet
 * processed are left to the normal batches, so nothing is derived twice;
 * re-derived silver rows get a new silver_xid, so the jobs downstream see
 * them as new and recompute what they affect.
 *
 * Which copy of a duplicate was kept is not re-decided. Copies removed to the
 * ledger stay there (their kept copy is in silver and is re-derived; the dedup
 * rules are not among those a reprocess is for). Where duplicates stay in
 * silver (spec->silver_duplicate_column), a page re-derives the rows kept
 * before first, so a retry never becomes the kept copy in their place. Either
 * way re-deriving moves no event out of silver, which would leave the
 * sessions and gold built on it behind. */
static int reprocess_run(md_job_ctx_t *ctx, const md_batch_spec_t *spec) {
    const char *silver = reprocess_target(spec->source);
    if (silver == NULL)
        return md_error_set(&ctx->err, -ENOTSUP, "job %s cannot be reprocessed",
                            ctx->jcfg->def->name);
    batch_range_t range = {0};
    md_page_t page = {0};
    int64_t last_id = INT64_MIN;
    int rc = 0;
    int limit = ctx->jcfg->batch_size;
    md_batch_counts_t base = counts_of(ctx), committed = {0};
    for (;;) {
        if ((rc = between_pages(ctx)) != 0)
            break;
        md_batch_counts_t before = counts_of(ctx);
        md_arena_reset(ctx->arena);
        if ((rc = begin_page(ctx, &range, true)) != 0)
            break;
        char *sql = NULL;
        if (asprintf(&sql,
                     "COPY (SELECT %s, %s FROM (SELECT r.*, %s%s AS md_was_duplicate FROM %s "
                     "r JOIN %s s ON s.id = r.id WHERE r.created_at >= to_timestamp(%" PRId64
                     " / 1000000.0) AND r.created_at < to_timestamp(%" PRId64
                     " / 1000000.0) AND r.id > %" PRId64 " ORDER BY r.id LIMIT %d) r "
                     "ORDER BY md_was_duplicate, %s, id) TO STDOUT (FORMAT binary)",
                     spec->columns, spec->xid_column, spec->silver_duplicate_column ? "s." : "",
                     spec->silver_duplicate_column ? spec->silver_duplicate_column : "false",
                     spec->source, silver, ctx->reprocess_from_us, ctx->reprocess_to_us, last_id,
                     limit, spec->xid_column) < 0) {
            rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
            break;
        }
        rc = copy_out_page(ctx, spec, sql, limit, &page);
        free(sql);
        if (rc != 0)
            break;
        ctx->rows_read += page.nrows;
        if (page.nrows == 0) {
            rc = md_pg_exec(ctx->conn, "COMMIT", &ctx->err);
            break;
        }
        /* the page's ids as one array literal for the delete */
        char *ids = NULL;
        size_t ids_len = 0;
        FILE *f = open_memstream(&ids, &ids_len);
        if (f == NULL) {
            rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
            break;
        }
        fputc('{', f);
        for (int r = 0; r < page.nrows; r++) {
            int64_t id;
            if (md_copy_get_int8(md_page_field(&page, r, 0), &id) != 0) {
                rc = md_error_set(&ctx->err, -EPROTO, "first column of %s is not id", spec->source);
                break;
            }
            fprintf(f, r ? ",%" PRId64 : "%" PRId64, id);
            if (id > last_id) /* the page is not in id order, its keyset is */
                last_id = id;
        }
        fputc('}', f);
        fclose(f);
        if (rc == 0) {
            char del_silver[256];
            snprintf(del_silver, sizeof(del_silver), "DELETE FROM %s WHERE id = ANY($1::bigint[])",
                     silver);
            const char *p1[] = {ids};
            PGresult *res = md_pg_query(ctx->conn, del_silver, 1, p1, &ctx->err);
            PQclear(res);
            if (res == NULL)
                rc = ctx->err.code;
        }
        free(ids);
        if (rc == 0)
            rc = spec->process(ctx, &page, spec->state);
        if (rc == 0)
            rc = md_pg_exec(ctx->conn, "COMMIT", &ctx->err);
        if (rc == 0)
            counts_add_delta(&committed, counts_of(ctx), before);
        int got = page.nrows;
        page_free_rows(&page);
        if (rc != 0 || got < limit)
            break;
    }
    if (rc != 0) {
        rollback(ctx->conn);
        counts_restore(ctx, base, committed);
    }
    page_free_rows(&page);
    free(page.fields);
    free(page.raw);
    range_clear(&range);
    return rc;
}

/* config.c (jobs.<name>.write_connections) and jobdefs.c allow up to 4. */
_Static_assert(MD_BATCH_MAX_CONNECTIONS == 4, "keep config.c and jobdefs.c in step");

static int slot_init(md_batch_slot_t *s, PGconn *conn, bool own_conn) {
    memset(s, 0, sizeof(*s));
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        return -ENOMEM;
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        return -ENOMEM;
    }
    s->conn = conn;
    s->own_conn = own_conn;
    if (conn != NULL)
        s->cancel = PQgetCancel(conn);
    return 0;
}

static void slot_free(md_batch_slot_t *s) {
    page_free_rows(&s->page);
    free(s->page.fields);
    free(s->page.raw);
    range_clear(&s->r);
    md_buf_free(&s->copy_data);
    PQfreeCancel(s->cancel);
    if (s->own_conn)
        PQfinish(s->conn);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

/* The extra connections of an overlapping run, each opened when a page needs
 * it: a run with less than a page of work never opens one. */
static int open_extra(md_job_ctx_t *ctx, md_batch_slot_t *s) {
    PGconn *conn;
    md_error_t err = {0};
    if (md_pg_connect(ctx->cfg->database_url, &conn, &err) != 0) {
        md_log_warn("%s: cannot open another write connection, writing on those it has: %s",
                    ctx->jcfg->def->name, err.msg);
        return err.code ? err.code : -EIO;
    }
    s->conn = conn; /* the slot was set up without a connection */
    s->own_conn = true;
    s->cancel = PQgetCancel(conn);
    return 0;
}

/* BEGIN, read and process one page on the slot's connection; the page stays
 * open (its last COPY perhaps still running) until commit_page. `next` is the
 * position the page starts from; it is read from the database (and locked)
 * when no other page is open, and afterwards advanced past this page. */
static int start_page_rows(md_job_ctx_t *ctx, const md_batch_spec_t *spec, md_batch_slot_t *s,
                           batch_range_t *next, bool read_position, bool overlap);

/* One page: read, transform and write it (its COPY may still be in flight),
 * keeping what it added to the run's figures for when it commits. */
static int start_page(md_job_ctx_t *ctx, const md_batch_spec_t *spec, md_batch_slot_t *s,
                      batch_range_t *next, bool read_position, bool overlap) {
    md_batch_counts_t before = counts_of(ctx);
    s->counted = (md_batch_counts_t){0};
    int rc = start_page_rows(ctx, spec, s, next, read_position, overlap);
    counts_add_delta(&s->counted, counts_of(ctx), before);
    return rc;
}

static int start_page_rows(md_job_ctx_t *ctx, const md_batch_spec_t *spec, md_batch_slot_t *s,
                           batch_range_t *next, bool read_position, bool overlap) {
    md_arena_reset(ctx->arena);
    ctx->conn = s->conn;
    int rc = begin_page(ctx, next, read_position);
    if (rc == 0 && range_copy(&s->r, next) != 0)
        rc = md_error_set(&ctx->err, -ENOMEM, "out of memory");
    if (rc == 0)
        rc = fetch_page(ctx, spec, &s->r, &s->page);
    if (rc != 0)
        return rc;
    s->nrows = s->page.nrows;
    s->done = s->nrows < ctx->jcfg->batch_size;
    ctx->rows_read += s->nrows;
    if (s->nrows > 0) {
        const md_page_t *p = &s->page;
        if (md_copy_get_xid8(md_page_field(p, p->nrows - 1, p->ncols), &s->key_xid) != 0 ||
            md_copy_get_int8(md_page_field(p, p->nrows - 1, 0), &s->key_id) != 0)
            return md_error_set(&ctx->err, -EPROTO, "batch key columns are not (bigint, xid8)");
        s->async = overlap;
        ctx->batch_slot = s;
        rc = spec->process(ctx, p, spec->state);
        ctx->batch_slot = NULL;
    }
    page_free_rows(&s->page);
    next->cur_is_new = false;
    if (s->nrows > 0) {
        next->has_last = true;
        next->last_xid = s->key_xid;
        next->last_id = s->key_id;
    }
    return rc;
}

static int commit_page(md_job_ctx_t *ctx, md_batch_slot_t *s) {
    int rc = wait_copy(ctx, s, false);
    if (rc != 0)
        return rc;
    if (md_job_cancelled(ctx)) /* before the page commits: roll it back */
        return md_error_set(&ctx->err, -ECANCELED, "cancelled; the current batch rolled back");
    return finish_page(ctx, s);
}

/* Commit the oldest of the nopen pages open in the ring of `width` slots. */
static int commit_oldest(md_job_ctx_t *ctx, md_batch_slot_t *slots, int width, int *oldest,
                         int *nopen, md_batch_counts_t *committed) {
    int rc = commit_page(ctx, &slots[*oldest]);
    if (rc == 0)
        counts_add_delta(committed, slots[*oldest].counted, (md_batch_counts_t){0});
    *oldest = (*oldest + 1) % width;
    (*nopen)--;
    return rc;
}

int md_batch_run(md_job_ctx_t *ctx, const md_batch_spec_t *spec) {
    if (ctx->reprocess)
        return reprocess_run(ctx, spec);
    /* width: pages open at once, each on its own connection (slot). Page k
     * runs on slot k % width; the oldest open page commits once width pages
     * are open, so when page k is processed, pages k-width+1 .. k-1 may be
     * open and every page before them has committed. */
    int width = spec->pipeline ? ctx->jcfg->write_connections : 1;
    if (width < 1)
        width = 1;
    if (width > MD_BATCH_MAX_CONNECTIONS)
        width = MD_BATCH_MAX_CONNECTIONS;
    PGconn *home = ctx->conn;
    md_batch_slot_t slots[MD_BATCH_MAX_CONNECTIONS];
    int nslots = 0, rc = 0;
    while (nslots < width &&
           (rc = slot_init(&slots[nslots], nslots == 0 ? home : NULL, false)) == 0)
        nslots++;
    if (rc != 0) {
        for (int i = 0; i < nslots; i++)
            slot_free(&slots[i]);
        return md_error_set(&ctx->err, rc, "out of memory");
    }
    batch_range_t next = {0};
    md_batch_counts_t base = counts_of(ctx), committed = {0};
    int oldest = 0, nopen = 0; /* open pages: slots oldest, oldest+1, ... (mod width) */
    int64_t page_no = 0;
    for (bool more = true; more || nopen > 0;) {
        if (!more || nopen >= width) {
            if ((rc = commit_oldest(ctx, slots, width, &oldest, &nopen, &committed)) != 0)
                break;
            continue;
        }
        if ((rc = between_pages(ctx)) != 0)
            break;
        int si = (int)(page_no % width);
        if (slots[si].conn == NULL && open_extra(ctx, &slots[si]) != 0) {
            /* Go on with the connections there are: commit what is open, then
             * narrow the ring to them. */
            while (nopen > 0 && rc == 0)
                rc = commit_oldest(ctx, slots, width, &oldest, &nopen, &committed);
            if (rc != 0)
                break;
            width = si;
            oldest = 0;
            page_no = 0;
            si = 0;
        }
        rc = start_page(ctx, spec, &slots[si], &next, nopen == 0, width > 1);
        nopen++;
        page_no++;
        if (rc != 0)
            break;
        more = !slots[si].done;
    }
    ctx->conn = home;
    ctx->batch_slot = NULL;
    for (int i = 0; i < nslots; i++) {
        if (rc != 0) {
            (void)wait_copy(ctx, &slots[i], true);
            if (slots[i].conn != NULL)
                rollback(slots[i].conn);
        }
        slot_free(&slots[i]);
    }
    range_clear(&next);
    if (rc != 0)
        counts_restore(ctx, base, committed);
    return rc;
}
