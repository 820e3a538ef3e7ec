/* The scheduler's decisions, kept free of libuv and libpq so they are unit
 * tested: per-job next fire time, the overlap rule, retry backoff, catch-up.
 * The daemon owns the timer and the clock; it feeds both clocks in here and
 * carries out the actions. Never reads a clock itself and never does I/O. */
#ifndef MEDALLION_SCHEDULER_H
#define MEDALLION_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include "medallion/config.h"
#include "medallion/jobdefs.h"
#include "medallion/runner.h"

/* A retry waits 5 s, 10 s, 20 s, ... capped at 5 min, and never past the next tick. */
#define MD_SCHED_RETRY_BASE_MS 5000
#define MD_SCHED_RETRY_CAP_MS 300000
/* The timer is never armed for longer than this, so a wall-clock jump is
 * noticed within a minute even when the next fire is a day away. */
#define MD_SCHED_MAX_SLEEP_MS 60000

typedef struct md_sched_job {
    bool enabled;
    int64_t next_fire;     /* UTC seconds of the next regular tick, 0 = never */
    bool active;           /* a run is queued or running */
    int attempt;           /* consecutive failures since the last regular tick */
    int64_t retry_at_mono; /* monotonic ms of a pending retry, 0 = none */
} md_sched_job_t;

typedef struct md_sched {
    md_sched_job_t jobs[MD_JOB_COUNT];
} md_sched_t;

typedef enum md_sched_action_kind {
    MD_SCHED_START, /* start a run with `trigger` */
    MD_SCHED_SKIP,  /* tick while the previous run is still active: record it skipped */
} md_sched_action_kind_t;

typedef struct md_sched_action {
    md_sched_action_kind_t kind;
    md_job_id_t job;
    const char *trigger; /* "schedule" or "retry" (static strings) */
} md_sched_action_t;

#define MD_SCHED_OVERLAP_REASON "previous run still running"

void md_sched_init(md_sched_t *s);

/* (Re)compute every job's next tick from cfg at wall time now_s. Keeps each
 * job's active flag (a running job finishes under its old config); a disabled
 * job loses its next tick and any pending retry. Returns how many jobs are
 * scheduled (enabled with a next tick). */
int md_sched_configure(md_sched_t *s, const md_config_t *cfg, int64_t now_s);

/* Decide what is due at wall time wall_ms / monotonic time mono_ms. Fills at
 * most max actions (2 per job suffice) and returns their count. Each job
 * fires at most once per call however far the wall clock jumped forward; when
 * it jumped backward, the next tick is pulled back to the earliest fire after
 * now so the job does not stall. A START marks the job active. */
int md_sched_tick(md_sched_t *s, const md_config_t *cfg, int64_t wall_ms, int64_t mono_ms,
                  md_sched_action_t *out, int max);

/* Milliseconds until the next tick or retry, clamped to [0, cap_ms]. */
int64_t md_sched_wake_delay_ms(const md_sched_t *s, int64_t wall_ms, int64_t mono_ms,
                               int64_t cap_ms);

/* Mark a run started outside the schedule (catch-up). False when the job is
 * already active (the caller does not start it). */
bool md_sched_start_manual(md_sched_t *s, md_job_id_t job);

/* A run (or an attempt that could not start) ended. A failure (not skipped,
 * not timed out) schedules a retry after md_sched_retry_backoff_ms unless
 * that would be at or past the next regular tick. */
void md_sched_finished(md_sched_t *s, md_job_id_t job, md_run_status_t status, int64_t wall_ms,
                       int64_t mono_ms);

/* Backoff before retry number `attempt` (1-based): 5 s * 2^(attempt-1), capped. */
int64_t md_sched_retry_backoff_ms(int attempt);

/* Catch-up rule: only gold jobs, enabled, whose last success (UTC s, 0 =
 * never) is older than the latest scheduled time at or before now_s. */
bool md_sched_catchup_due(const md_job_config_t *jc, int64_t last_success, int64_t now_s);

#endif
