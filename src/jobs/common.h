/* Pieces every batch job needs: text[] literals for "= ANY($1)" look-ups,
 * silver-row field helpers, and the duplicates ledger's COPY rows. */
#ifndef MEDALLION_JOBS_COMMON_H
#define MEDALLION_JOBS_COMMON_H

#include <libpq-fe.h>

#include "medallion/copy.h"
#include "medallion/job.h"
#include "medallion/transform/codes.h"

/* Growing text-array literal ('{"a","b"}') for one array parameter. */
typedef struct md_array_lit {
    md_buf_t buf;
    int count;
} md_array_lit_t;

void md_array_lit_begin(md_array_lit_t *a);
int md_array_lit_add(md_array_lit_t *a, const char *s, size_t len) MD_MUST_CHECK;
/* NUL-terminates and returns the literal ("{}" when empty). */
const char *md_array_lit_end(md_array_lit_t *a);
void md_array_lit_free(md_array_lit_t *a);

/* Begin a COPY row, writing the stream header first when the writer is empty. */
int md_job_row_begin(md_copy_writer_t *w, int nfields) MD_MUST_CHECK;

/* numeric(3,2) from hundredths: 70 -> "0.70". */
int md_copy_add_hundredths(md_copy_writer_t *w, int hundredths);
/* text[] of stable codes. */
int md_copy_add_codes(md_copy_writer_t *w, const md_codes_t *codes);
/* A medallion.duplicates row: (source_table, bronze_id, kept_id, dedup_key). */
#define MD_DUPLICATES_TARGET "medallion.duplicates (source_table, bronze_id, kept_id, dedup_key)"
int md_copy_add_duplicate(md_copy_writer_t *w, const char *source_table, int64_t bronze_id,
                          int64_t kept_id, md_str_t key) MD_MUST_CHECK;

/* A one-dimensional array as a binary query parameter (PQexecParams format
 * 1): parsing 10000 uuids from text costs more than the index probes they
 * feed. Zero-initialise, then begin, add elements, end. */
typedef struct md_bin_array {
    md_buf_t buf;
    int count;
    uint32_t elem_oid;
} md_bin_array_t;

#define MD_OID_UUID 2950u
#define MD_OID_UUID_ARRAY 2951u

void md_bin_array_begin(md_bin_array_t *a, uint32_t elem_oid);
/* -ENOMEM when growing fails. */
int md_bin_array_add(md_bin_array_t *a, const void *elem, uint32_t len) MD_MUST_CHECK;
/* The finished parameter value; its length in *ret_len. NULL on out of memory. */
const char *md_bin_array_end(md_bin_array_t *a, int *ret_len);
void md_bin_array_free(md_bin_array_t *a);

/* Fail the job with a decode error naming the column. */
int md_job_decode_error(md_job_ctx_t *ctx, const char *table, const char *column, int64_t row);

/* Write the page's silver rows and duplicate rows, if any, and count them. */
int md_job_flush(md_job_ctx_t *ctx, const char *silver_target, md_copy_writer_t *silver,
                 int64_t silver_rows, md_copy_writer_t *dups, int64_t dup_rows) MD_MUST_CHECK;

/* Bring everything stored by local day up to date for reporting.timezone:
 * once after a change of zone, medallion.reporting_zone_ensure (migration 010)
 * rebuilds medallion.user_days, recomputes the sessions' session_date, and
 * re-marks the gold days and cohorts; otherwise one index probe. Call before
 * reading any of them, outside a REPEATABLE READ transaction. */
int md_job_ensure_reporting_zone(md_job_ctx_t *ctx) MD_MUST_CHECK;

/* Deletes and returns the days marked dirty for gold table `target` (one text
 * column, YYYY-MM-DD), inside the caller's transaction; NULL with ctx->err set
 * on failure. Marks committed after this statement's snapshot are not deleted:
 * they survive to the next run. */
PGresult *md_job_take_dirty_days(md_job_ctx_t *ctx, const char *target);

/* Deletes the rows of `table` (a daily gold table keyed by `date`) for the
 * days in the array literal `days`: dirty days that turned out to hold
 * nothing to count. A day has a gold row only when it has data, however it
 * came to be recomputed (a batch, a reprocess, a backfill of a wider range). */
int md_job_delete_gold_days(md_job_ctx_t *ctx, const char *table, const char *days) MD_MUST_CHECK;

/* `begin` (e.g. "BEGIN"), then fn(ctx, arg), then COMMIT; ROLLBACK when
 * anything failed. The shape of every gold job's single transaction. */
int md_job_transaction(md_job_ctx_t *ctx, const char *begin,
                       int (*fn)(md_job_ctx_t *ctx, void *arg), void *arg) MD_MUST_CHECK;

#endif
