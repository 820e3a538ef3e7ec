/* Snapshot-based batches (see batch.h and docs/architecture.md "Batches").
 * Each page: BEGIN; lock the position row; fix the range's upper snapshot;
 * COPY a keyset page out; let the job transform and write it; move the
 * position; COMMIT. A kill at any instant loses or repeats nothing, because
 * the writes and the position move commit together. */
#include "medallion/batch.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* BEGIN and lock the job's position row; decide the range of this page. */
static int begin_page(md_job_ctx_t *ctx, batch_range_t *r) {
    /* The planner cannot estimate pg_visible_in_snapshot() and tends to pick
     * a bitmap scan plus a sort of the whole remaining range for every page:
     * quadratic in the range size. A page must be an ordered walk of the
     * (xid, id) index that stops after batch_size rows. */
    int rc = md_pg_exec(ctx->conn,
                        "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL enable_sort = off; "
                        "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off",
                        &ctx->err);
    if (rc != 0)
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

int md_batch_copy_in(PGconn *conn, const char *target, md_copy_writer_t *w, md_error_t *ret_err) {
    char sql[1024];
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN (FORMAT binary)", target);
    PGresult *res = PQexec(conn, sql);
    if (res == NULL || PQresultStatus(res) != PGRES_COPY_IN) {
        md_pg_error(conn, res, "writing a batch", ret_err);
        PQclear(res);
        return -EIO;
    }
    PQclear(res);
    int rc = md_copy_writer_trailer(w);
    const char *data = NULL;
    size_t len = 0;
    if (rc == 0)
        rc = md_copy_writer_take(w, &data, &len);
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
    md_copy_writer_reset(w);
    return rc;
}

/* Move the position inside the page's transaction, then COMMIT. */
static int finish_page(md_job_ctx_t *ctx, const batch_range_t *r, const md_page_t *page,
                       bool range_done) {
    char lastxid[32] = "", lastid[32] = "", nrows[32];
    snprintf(nrows, sizeof(nrows), "%d", page->nrows);
    PGresult *res;
    const char *name = ctx->jcfg->def->name;
    if (range_done) {
        const char *params[] = {name, r->cur, nrows};
        res = md_pg_query(ctx->conn,
                          "UPDATE medallion.batch_positions SET prev_snapshot = $2::pg_snapshot, "
                          "cur_snapshot = NULL, last_xid = NULL, last_id = NULL, "
                          "rows_total = rows_total + $3::bigint, updated_at = now() "
                          "WHERE job_name = $1",
                          3, params, &ctx->err);
    } else {
        const md_copy_field_t *xf = md_page_field(page, page->nrows - 1, page->ncols);
        const md_copy_field_t *idf = md_page_field(page, page->nrows - 1, 0);
        uint64_t x;
        int64_t id;
        if (md_copy_get_xid8(xf, &x) != 0 || md_copy_get_int8(idf, &id) != 0)
            return md_error_set(&ctx->err, -EPROTO, "batch key columns are not (bigint, xid8)");
        snprintf(lastxid, sizeof(lastxid), "%" PRIu64, x);
        snprintf(lastid, sizeof(lastid), "%" PRId64, id);
        const char *params[] = {name, r->cur, lastxid, lastid, nrows};
        res = md_pg_query(ctx->conn,
                          "UPDATE medallion.batch_positions SET cur_snapshot = $2::pg_snapshot, "
                          "last_xid = $3::xid8, last_id = $4::bigint, "
                          "rows_total = rows_total + $5::bigint, updated_at = now() "
                          "WHERE job_name = $1",
                          5, params, &ctx->err);
    }
    if (res == NULL)
        return ctx->err.code;
    PQclear(res);
    return md_pg_exec(ctx->conn, "COMMIT", &ctx->err);
}

bool md_job_cancelled(const md_job_ctx_t *ctx) {
    return ctx->ctl != NULL && atomic_load(&ctx->ctl->cancel_requested);
}

/* Silver table and ledger name of each bronze source (reprocess needs them). */
static int reprocess_targets(const char *source, const char **ret_silver, const char **ret_ledger) {
    static const struct {
        const char *source, *silver, *ledger;
    } map[] = {
        {"analytics.events_raw", "analytics.events_clean", "events_raw"},
        {"analytics.api_logs_raw", "analytics.api_logs_clean", "api_logs_raw"},
        {"analytics.user_actions_raw", "analytics.user_actions_clean", "user_actions_raw"},
        {"analytics.transactions_raw", "analytics.transactions_validated", "transactions_raw"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i].source, source) == 0) {
            *ret_silver = map[i].silver;
            *ret_ledger = map[i].ledger;
            return 0;
        }
    return -ENOTSUP;
}

/* `reprocess`: re-derive rows already processed whose created_at is in
 * [from, to), by id pages. Each page, in one transaction under the position
 * row lock (so normal batches of the job wait): remove the rows' silver and
 * ledger entries, run the job's own process() on the bronze rows again.
 * Rows not yet processed are left to the normal batches, so nothing is
 * derived twice; re-derived silver rows get a new silver_xid, so the jobs
 * downstream see them as new and recompute what they affect. */
static int reprocess_run(md_job_ctx_t *ctx, const md_batch_spec_t *spec) {
    const char *silver, *ledger;
    if (reprocess_targets(spec->source, &silver, &ledger) != 0)
        return md_error_set(&ctx->err, -ENOTSUP, "job %s cannot be reprocessed",
                            ctx->jcfg->def->name);
    batch_range_t range = {0};
    md_page_t page = {0};
    int64_t last_id = INT64_MIN;
    int rc = 0;
    int limit = ctx->jcfg->batch_size;
    for (;;) {
        if (md_job_cancelled(ctx)) {
            rc = md_error_set(&ctx->err, -ECANCELED, "cancelled between batches");
            break;
        }
        md_arena_reset(ctx->arena);
        if ((rc = begin_page(ctx, &range)) != 0)
            break;
        char *sql = NULL;
        if (asprintf(&sql,
                     "COPY (SELECT %s, %s FROM %s r WHERE r.created_at >= to_timestamp(%" PRId64
                     " / 1000000.0) AND r.created_at < to_timestamp(%" PRId64
                     " / 1000000.0) AND r.id > %" PRId64 " AND (EXISTS (SELECT 1 FROM %s s WHERE "
                     "s.id = r.id) OR EXISTS (SELECT 1 FROM medallion.duplicates d WHERE "
                     "d.source_table = '%s' AND d.bronze_id = r.id)) ORDER BY r.id LIMIT %d) "
                     "TO STDOUT (FORMAT binary)",
                     spec->columns, spec->xid_column, spec->source, ctx->reprocess_from_us,
                     ctx->reprocess_to_us, last_id, silver, ledger, limit) < 0) {
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
        /* the page's ids as one array literal for the two deletes */
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
            last_id = id;
        }
        fputc('}', f);
        fclose(f);
        if (rc == 0) {
            char del_silver[256];
            snprintf(del_silver, sizeof(del_silver), "DELETE FROM %s WHERE id = ANY($1::bigint[])",
                     silver);
            const char *p1[] = {ids};
            const char *p2[] = {ledger, ids};
            PGresult *res = md_pg_query(ctx->conn, del_silver, 1, p1, &ctx->err);
            PQclear(res);
            if (res == NULL)
                rc = ctx->err.code;
            if (rc == 0) {
                res = md_pg_query(ctx->conn,
                                  "DELETE FROM medallion.duplicates WHERE source_table = $1 AND "
                                  "bronze_id = ANY($2::bigint[])",
                                  2, p2, &ctx->err);
                PQclear(res);
                if (res == NULL)
                    rc = ctx->err.code;
            }
        }
        free(ids);
        if (rc == 0)
            rc = spec->process(ctx, &page, spec->state);
        if (rc == 0)
            rc = md_pg_exec(ctx->conn, "COMMIT", &ctx->err);
        int got = page.nrows;
        page_free_rows(&page);
        if (rc != 0 || got < limit)
            break;
    }
    if (rc != 0)
        rollback(ctx->conn);
    page_free_rows(&page);
    free(page.fields);
    free(page.raw);
    range_clear(&range);
    return rc;
}

int md_batch_run(md_job_ctx_t *ctx, const md_batch_spec_t *spec) {
    if (ctx->reprocess)
        return reprocess_run(ctx, spec);
    batch_range_t range = {0};
    md_page_t page = {0};
    int rc = 0;
    for (;;) {
        if (md_job_cancelled(ctx)) {
            rc = md_error_set(&ctx->err, -ECANCELED, "cancelled between batches");
            break;
        }
        md_arena_reset(ctx->arena);
        if ((rc = begin_page(ctx, &range)) != 0)
            break;
        if ((rc = fetch_page(ctx, spec, &range, &page)) != 0)
            break;
        ctx->rows_read += page.nrows;
        bool done = page.nrows < ctx->jcfg->batch_size;
        if (page.nrows > 0 && (rc = spec->process(ctx, &page, spec->state)) != 0)
            break;
        if (md_job_cancelled(ctx)) { /* before the page commits: roll it back */
            rc = md_error_set(&ctx->err, -ECANCELED, "cancelled; the current batch rolled back");
            break;
        }
        if ((rc = finish_page(ctx, &range, &page, done)) != 0)
            break;
        page_free_rows(&page);
        if (done)
            break;
    }
    if (rc != 0)
        rollback(ctx->conn);
    page_free_rows(&page);
    free(page.fields);
    free(page.raw);
    range_clear(&range);
    return rc;
}
