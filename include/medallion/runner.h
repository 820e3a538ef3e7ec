/* One run of one job, the same code path for `medalliond run` and the
 * scheduler: record the run in medallion.job_runs, take the job's advisory lock
 * on a dedicated connection, do the job's batches, record the outcome.
 * Blocking (libpq): the daemon calls it from a worker thread, never the loop. */
#ifndef MEDALLION_RUNNER_H
#define MEDALLION_RUNNER_H

#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "medallion/config.h"
#include "medallion/error.h"
#include "medallion/jobdefs.h"

typedef enum md_run_status {
    MD_RUN_SUCCEEDED = 0,
    MD_RUN_FAILED,
    MD_RUN_SKIPPED, /* lock held elsewhere, dependency failed, or overlap */
    MD_RUN_TIMED_OUT,
} md_run_status_t;

const char *md_run_status_name(md_run_status_t s); /* as stored in job_runs.status */

typedef struct md_run_result {
    md_run_status_t status;
    int64_t run_id; /* job_runs.run_id, -1 when the row could not be written */
    int64_t rows_read, rows_written, rows_valid, rows_invalid, rows_duplicate;
    int64_t duration_ms;
    bool locked_elsewhere; /* skipped because another instance holds the job */
    bool connection_lost;  /* failed because the database went away: retry later */
    /* The outcome could not be written to job_runs (the database was away):
     * the row says 'running' until md_runner_record_outcome succeeds. */
    bool outcome_unrecorded;
    int64_t finished_ms; /* Unix ms when the run ended, for that late record */
    char message[512];
} md_run_result_t;

/* Shared between the thread running a job and the loop thread. */
typedef struct md_run_control {
    atomic_bool cancel_requested; /* timeout or shutdown: stop after the current statement */
    atomic_bool timed_out;        /* set by the scheduler before cancelling for a timeout */
    PGcancel *_Atomic cancel;     /* cancel handle of the work connection while a query runs */
} md_run_control_t;

/* Writes the outcome of a run that could not record it when it ended (see
 * md_run_result_t.outcome_unrecorded), with its own finished time; leaves a
 * row that is no longer 'running' (marked interrupted meanwhile) alone. */
int md_runner_record_outcome(PGconn *conn, const md_run_result_t *r, md_error_t *err) MD_MUST_CHECK;

/* Instance name stored in job_runs.instance: "host:pid". */
const char *md_runner_instance(void);

/* Run `job` once. `conn` does the work; `lock_conn` holds the job's
 * session-level advisory lock for the whole run (must be a different
 * connection). `trigger` is stored in job_runs.trigger (schedule, manual,
 * catchup, retry). `ctl` may be NULL. Always fills ret (also on failure). */
void md_runner_run(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                   const char *trigger, md_run_control_t *ctl, md_run_result_t *ret);

/* `medalliond reprocess`: the same run, re-deriving the already processed
 * source rows with created_at in [from_us, to_us) (µs since the epoch). */
void md_runner_reprocess(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                         int64_t from_us, int64_t to_us, md_run_result_t *ret);

/* Record a run that did not start (overlapping tick, dependency failed), at
 * at_ms (Unix ms, the tick's time; 0 = now). */
int md_runner_record_skip(PGconn *conn, md_job_id_t job, const char *trigger, const char *reason,
                          int64_t at_ms, md_error_t *ret_err) MD_MUST_CHECK;

/* At daemon start: runs this instance name left `running` become `failed`
 * with message "interrupted". Returns the count in ret_count. */
int md_runner_mark_interrupted(PGconn *conn, int *ret_count, md_error_t *ret_err) MD_MUST_CHECK;

/* Delete job_runs older than the retention. */
int md_runner_prune_history(PGconn *conn, int64_t retention_ms, int64_t *ret_deleted,
                            md_error_t *ret_err) MD_MUST_CHECK;

/* Latest succeeded run's start (UTC seconds) for catch-up; 0 when none. */
int md_runner_last_success(PGconn *conn, md_job_id_t job, int64_t *ret_started,
                           md_error_t *ret_err) MD_MUST_CHECK;

#endif
