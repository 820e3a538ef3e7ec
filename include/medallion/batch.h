/* Snapshot-based batch positions (the PgQ principle): a job's position is the
 * snapshot whose visible rows are done; the next range is "visible in a newer
 * snapshot, not in the old one", read in keyset pages of batch_size rows, one
 * transaction per page that also moves the position. Rows committed late by
 * slow producers are never skipped, and no row is processed twice. */
#ifndef MEDALLION_BATCH_H
#define MEDALLION_BATCH_H

#include <libpq-fe.h>
#include <stdint.h>

#include "medallion/copy.h"
#include "medallion/job.h"

/* Most pages a run keeps open at once (jobs.<name>.write_connections). */
#define MD_BATCH_MAX_CONNECTIONS 4

/* One page of source rows, decoded into fields that borrow libpq's buffers. */
typedef struct md_page {
    int nrows;
    int ncols;               /* the spec's columns; the trailing xid column is not counted */
    md_copy_field_t *fields; /* nrows * (ncols + 1) */
    char **raw;              /* libpq row buffers, freed by the batch loop */
    int cap;
} md_page_t;

static inline const md_copy_field_t *md_page_field(const md_page_t *p, int row, int col) {
    return &p->fields[(size_t)row * (size_t)(p->ncols + 1) + (size_t)col];
}

typedef struct md_batch_spec {
    const char *source;     /* "analytics.events_raw" */
    const char *xid_column; /* "ingest_xid" (bronze) or "silver_xid" (silver) */
    const char *columns;    /* SELECT list; must start with id */
    int ncols;
    /* Transform one page and write its results; runs inside the page's
     * transaction, before the position moves. Returns 0 or a negative code
     * with ctx->err filled. */
    int (*process)(md_job_ctx_t *ctx, const md_page_t *page, void *state);
    void *state;
    /* The job lets pages overlap when jobs.<name>.write_connections (W) is
     * above 1: up to W pages are open at once, each on its own connection,
     * each page's last COPY still running while the next page is read,
     * processed and COPYed; pages commit strictly in order. process() of
     * page n then runs before pages n-W+1 .. n-1 have committed (every page
     * before them has), so it must treat their results as already there: a
     * job opts in only if its process() does that (clean_events keeps the
     * event_ids kept by the last W-1 pages) and its last write is
     * md_batch_copy_in_last with nothing after it. */
    bool pipeline;
    /* `reprocess` only: a boolean column of the silver table, true on rows
     * that are duplicates of an earlier one kept in silver (transactions'
     * is_duplicate). A page re-derives the other rows first, so that the copy
     * kept before stays the one kept. NULL: no such rows (removed duplicates
     * live in the ledger and are not re-derived). */
    const char *silver_duplicate_column;
} md_batch_spec_t;

/* Process every row visible now and not yet processed, page by page. */
int md_batch_run(md_job_ctx_t *ctx, const md_batch_spec_t *spec) MD_MUST_CHECK;

/* COPY the writer's rows (header..trailer added here) into `target`
 * ("analytics.events_clean (id, ...)") inside the current transaction. */
int md_batch_copy_in(PGconn *conn, const char *target, md_copy_writer_t *w,
                     md_error_t *ret_err) MD_MUST_CHECK;

/* The page's last write: COPY `w` into `target`. In an overlapping run a
 * helper thread sends it while the loop reads the next page, and its outcome
 * is checked before the page commits; otherwise it runs at once. Either way
 * `w` is empty and reusable afterwards. */
int md_batch_copy_in_last(md_job_ctx_t *ctx, const char *target, md_copy_writer_t *w) MD_MUST_CHECK;

/* A writer's row count is not tracked by the codec; callers count. */

#endif
