/* Shared helpers of the batch jobs (common.h). */
#include "common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "medallion/batch.h"
#include "medallion/pg.h"
#include "medallion/tz.h"

void md_array_lit_begin(md_array_lit_t *a) {
    md_buf_reset(&a->buf);
    a->count = 0;
}

int md_array_lit_add(md_array_lit_t *a, const char *s, size_t len) {
    /* worst case every byte escaped, plus quotes, comma and the brace */
    if (md_buf_reserve(&a->buf, 2 * len + 8) != 0)
        return -ENOMEM;
    char *o = a->buf.data + a->buf.len;
    *o++ = a->count == 0 ? '{' : ',';
    *o++ = '"';
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            *o++ = '\\';
        *o++ = s[i];
    }
    *o++ = '"';
    a->buf.len = (size_t)(o - a->buf.data);
    a->count++;
    return 0;
}

const char *md_array_lit_end(md_array_lit_t *a) {
    if (md_buf_reserve(&a->buf, 3) != 0)
        return NULL;
    if (a->count == 0)
        a->buf.data[a->buf.len++] = '{';
    a->buf.data[a->buf.len++] = '}';
    a->buf.data[a->buf.len] = '\0';
    return a->buf.data;
}

void md_array_lit_free(md_array_lit_t *a) {
    md_buf_free(&a->buf);
}

static void put_be32(char *o, uint32_t v) {
    o[0] = (char)(v >> 24);
    o[1] = (char)(v >> 16);
    o[2] = (char)(v >> 8);
    o[3] = (char)v;
}

enum { BIN_ARRAY_HEADER = 20 }; /* ndim, has-nulls flag, element type, length, lower bound */

void md_bin_array_begin(md_bin_array_t *a, uint32_t elem_oid) {
    md_buf_reset(&a->buf);
    a->count = 0;
    a->elem_oid = elem_oid;
}

int md_bin_array_add(md_bin_array_t *a, const void *elem, uint32_t len) {
    if (a->buf.len == 0 && md_buf_reserve(&a->buf, BIN_ARRAY_HEADER) == 0)
        a->buf.len = BIN_ARRAY_HEADER; /* written by md_bin_array_end */
    if (a->buf.len < BIN_ARRAY_HEADER || md_buf_reserve(&a->buf, 4 + (size_t)len) != 0)
        return -ENOMEM;
    put_be32(a->buf.data + a->buf.len, len);
    memcpy(a->buf.data + a->buf.len + 4, elem, len);
    a->buf.len += 4 + (size_t)len;
    a->count++;
    return 0;
}

const char *md_bin_array_end(md_bin_array_t *a, int *ret_len) {
    if (a->buf.len == 0) { /* no element: still a valid empty array */
        if (md_buf_reserve(&a->buf, BIN_ARRAY_HEADER) != 0)
            return NULL;
        a->buf.len = BIN_ARRAY_HEADER;
    }
    char *h = a->buf.data;
    put_be32(h, a->count > 0 ? 1 : 0); /* ndim: an empty array has none */
    put_be32(h + 4, 0);
    put_be32(h + 8, a->elem_oid);
    put_be32(h + 12, (uint32_t)a->count);
    put_be32(h + 16, 1);
    *ret_len = a->count > 0 ? (int)a->buf.len : 12;
    return h;
}

void md_bin_array_free(md_bin_array_t *a) {
    md_buf_free(&a->buf);
}

int md_copy_add_hundredths(md_copy_writer_t *w, int hundredths) {
    char buf[16];
    snprintf(buf, sizeof(buf), "%s%d.%02d", hundredths < 0 ? "-" : "",
             (hundredths < 0 ? -hundredths : hundredths) / 100,
             (hundredths < 0 ? -hundredths : hundredths) % 100);
    return md_copy_add_numeric_text(w, buf);
}

int md_copy_add_codes(md_copy_writer_t *w, const md_codes_t *codes) {
    return md_copy_add_text_array(w, codes->code, codes->count);
}

int md_job_row_begin(md_copy_writer_t *w, int nfields) {
    if (md_copy_writer_pending(w) == 0) {
        int rc = md_copy_writer_header(w);
        if (rc != 0)
            return rc;
    }
    return md_copy_row_begin(w, nfields);
}

int md_copy_add_duplicate(md_copy_writer_t *w, const char *source_table, int64_t bronze_id,
                          int64_t kept_id, md_str_t key) {
    int rc = md_job_row_begin(w, 4);
    if (rc != 0)
        return rc;
    md_copy_add_textn(w, source_table, strlen(source_table));
    md_copy_add_int8(w, bronze_id);
    md_copy_add_int8(w, kept_id);
    md_copy_add_text(w, key);
    return md_copy_row_end(w);
}

int md_job_decode_error(md_job_ctx_t *ctx, const char *table, const char *column, int64_t row) {
    return md_error_set(&ctx->err, -EPROTO,
                        "cannot decode %s.%s of page row %lld (unexpected column type?)", table,
                        column, (long long)row);
}

int md_job_flush(md_job_ctx_t *ctx, const char *silver_target, md_copy_writer_t *silver,
                 int64_t silver_rows, md_copy_writer_t *dups, int64_t dup_rows) {
    /* The page's C work may have outlasted a timeout that found no query to
     * cancel: stop before writing. */
    int rc = md_job_check_continue(ctx, "before writing the batch");
    if (rc != 0)
        return rc;
    /* The ledger first: the silver COPY, the big one, is the page's last
     * write, which an overlapping run sends while it reads the next page. */
    if (dup_rows > 0 &&
        (rc = md_batch_copy_in(ctx->conn, MD_DUPLICATES_TARGET, dups, &ctx->err)) != 0)
        return rc;
    if (silver_rows > 0 && (rc = md_batch_copy_in_last(ctx, silver_target, silver)) != 0)
        return rc;
    md_copy_writer_reset(silver);
    md_copy_writer_reset(dups);
    ctx->rows_written += silver_rows;
    ctx->rows_duplicate += dup_rows;
    return 0;
}

int md_job_ensure_reporting_zone(md_job_ctx_t *ctx) {
    const char *tz = md_tz_name(ctx->cfg->reporting_tz);
    const char *params[] = {tz ? tz : "UTC"};
    PGresult *res =
        md_pg_query(ctx->conn, "SELECT medallion.reporting_zone_ensure($1)", 1, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    PQclear(res);
    return 0;
}

PGresult *md_job_take_dirty_days(md_job_ctx_t *ctx, const char *target) {
    const char *params[] = {target};
    /* The marks are locked in (target, day) order, the order every writer of
     * marks takes them in: a silver batch re-marking days while this runs
     * waits, or makes this wait, but never both (a deadlock). */
    return md_pg_query(ctx->conn,
                       "DELETE FROM medallion.gold_dirty g USING (SELECT day FROM "
                       "medallion.gold_dirty WHERE target = $1 ORDER BY day FOR UPDATE) x "
                       "WHERE g.target = $1 AND g.day = x.day RETURNING g.day::text",
                       1, params, &ctx->err);
}

int md_job_transaction(md_job_ctx_t *ctx, const char *begin,
                       int (*fn)(md_job_ctx_t *ctx, void *arg), void *arg) {
    int rc = md_pg_exec(ctx->conn, begin, &ctx->err);
    if (rc != 0)
        return rc;
    rc = fn(ctx, arg);
    /* A run that lost its lock while working must not commit beside the
     * instance that took the job over; the check is just before COMMIT. */
    if (rc == 0)
        rc = md_job_check_continue(ctx, "before its commit (rolled back)");
    if (rc == 0)
        rc = md_pg_exec(ctx->conn, "COMMIT", &ctx->err);
    if (rc != 0 && PQtransactionStatus(ctx->conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(ctx->conn, "ROLLBACK");
        PQclear(res);
    }
    return rc;
}

int md_job_delete_gold_days(md_job_ctx_t *ctx, const char *table, const char *days) {
    char sql[160];
    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE date = ANY($1::date[])", table);
    const char *params[] = {days};
    PGresult *res = md_pg_query(ctx->conn, sql, 1, params, &ctx->err);
    if (res == NULL)
        return ctx->err.code;
    ctx->rows_written += strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}
