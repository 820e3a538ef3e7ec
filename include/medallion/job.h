/* What a job's code sees while it runs: the config snapshot it started with,
 * its work connection, its cancellation flag, scratch memory, and the counters
 * that end up in medallion.job_runs. Jobs never include the scheduler. */
#ifndef MEDALLION_JOB_H
#define MEDALLION_JOB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "medallion/config.h"
#include "medallion/error.h"
#include "medallion/runner.h"
#include "medallion/transform/arena.h"

typedef struct md_job_ctx {
    const md_config_t *cfg;
    const md_job_config_t *jcfg;
    PGconn *conn;
    md_run_control_t *ctl; /* may be NULL */
    /* `medalliond reprocess`: re-derive the already processed source rows
     * whose created_at lies in [from, to) instead of reading new rows. */
    bool reprocess;
    int64_t reprocess_from_us, reprocess_to_us; /* µs since the Unix epoch */
    md_arena_t *arena;                          /* reset by the batch loop before each page */
    /* Set by the batch loop while a page is processed: the page's connection is
     * `conn` then, and md_batch_copy_in_last may defer the page's last COPY. */
    struct md_batch_slot *batch_slot;
    /* The connection holding the run's advisory lock (NULL: none, e.g. in
     * unit tests). Once it is gone the lock is gone: the batch loop stops
     * before the next page rather than run beside another instance. */
    PGconn *lock_conn;
    int64_t rows_read, rows_written, rows_valid, rows_invalid, rows_duplicate;
    /* A succeeded run's message (job_runs.message, the log line): what the
     * figures do not say, e.g. rows the definition leaves out. */
    char note[256];
    md_error_t err;
} md_job_ctx_t;

/* True once the scheduler asked this run to stop (timeout or shutdown). */
bool md_job_cancelled(const md_job_ctx_t *ctx);

/* 0 when the run may go on and commit; else a negative code with ctx->err
 * set: it was cancelled (a timeout or a stop: a PQcancel only reaches a query
 * in flight, so C work checks this too), or its job lock is gone (its
 * connection closed), and another instance may be running the job. `where`
 * names the point, e.g. "before the next batch". */
int md_job_check_continue(md_job_ctx_t *ctx, const char *where) MD_MUST_CHECK;

typedef int (*md_job_fn)(md_job_ctx_t *ctx);

/* The C code of each job (src/jobs/<name>.c); NULL where it is not built yet. */
md_job_fn md_job_function(md_job_id_t job);

int md_job_clean_events(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_clean_api_logs(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_clean_user_actions(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_validate_transactions(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_build_user_sessions(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_calculate_daily_metrics(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_calculate_revenue_summary(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_calculate_user_cohorts(md_job_ctx_t *ctx) MD_MUST_CHECK;
int md_job_update_kpi_dashboard(md_job_ctx_t *ctx) MD_MUST_CHECK;

#endif
