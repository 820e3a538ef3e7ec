/* One run of one job (runner.h): bookkeeping in medallion.job_runs and the
 * job's advisory lock live on the dedicated lock connection, so a run whose
 * work connection dies still gets its outcome recorded. Blocking; called from
 * `medalliond run` and from the daemon's worker threads alike. */
#include "medallion/runner.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "medallion/job.h"
#include "medallion/log.h"
#include "medallion/pg.h"

/* Two-int advisory lock key: (hashtext('medalliond'), hashtext(job_name)). */
#define LOCK_ARGS "hashtext('medalliond'), hashtext($1)"

const char *md_run_status_name(md_run_status_t s) {
    switch (s) {
    case MD_RUN_SUCCEEDED:
        return "succeeded";
    case MD_RUN_FAILED:
        return "failed";
    case MD_RUN_SKIPPED:
        return "skipped";
    case MD_RUN_TIMED_OUT:
        return "timed_out";
    }
    return "failed";
}

const char *md_runner_instance(void) {
    static __thread char buf[300];
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(buf, sizeof(buf), "%s:%d", host, (int)getpid());
    return buf;
}

md_job_fn md_job_function(md_job_id_t job) {
    switch (job) {
    case MD_JOB_CLEAN_EVENTS:
        return md_job_clean_events;
    case MD_JOB_CLEAN_API_LOGS:
        return md_job_clean_api_logs;
    case MD_JOB_CLEAN_USER_ACTIONS:
        return md_job_clean_user_actions;
    case MD_JOB_VALIDATE_TRANSACTIONS:
        return md_job_validate_transactions;
    case MD_JOB_BUILD_USER_SESSIONS:
        return md_job_build_user_sessions;
    case MD_JOB_CALCULATE_DAILY_METRICS:
        return md_job_calculate_daily_metrics;
    case MD_JOB_CALCULATE_REVENUE_SUMMARY:
        return md_job_calculate_revenue_summary;
    case MD_JOB_CALCULATE_USER_COHORTS:
        return md_job_calculate_user_cohorts;
    case MD_JOB_UPDATE_KPI_DASHBOARD:
        return md_job_update_kpi_dashboard;
    default:
        return NULL;
    }
}

/* Messages are truncated on purpose: a job_runs row needs the gist, not 1 KB. */
static void set_message(md_run_result_t *r, const char *fmt, ...) MD_PRINTF(2, 3);
static void set_message(md_run_result_t *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long a bookkeeping statement waits for a lock on medallion.job_runs
 * (someone's VACUUM FULL, an ALTER, a stray exclusive lock) before giving
 * up: the run's timeout and the shutdown grace must not wait on it forever. */
#define BOOKKEEPING_LOCK_TIMEOUT "5s"

/* One job_runs statement in its own transaction with a bounded lock wait;
 * NULL with err set on failure (55P03 when the lock wait ran out). */
static PGresult *bookkeeping(PGconn *conn, const char *sql, int n, const char *const *params,
                             md_error_t *err) {
    if (md_pg_exec(conn, "BEGIN; SET LOCAL lock_timeout = '" BOOKKEEPING_LOCK_TIMEOUT "'", err) !=
        0)
        return NULL;
    PGresult *res = md_pg_query(conn, sql, n, params, err);
    if (res != NULL && md_pg_exec(conn, "COMMIT", err) != 0) {
        PQclear(res);
        res = NULL;
    }
    if (res == NULL && PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *rb = PQexec(conn, "ROLLBACK");
        PQclear(rb);
    }
    return res;
}

static bool lock_wait_ran_out(const md_error_t *err) {
    return strcmp(err->sqlstate, "55P03") == 0;
}

/* at_ms: when it happened (Unix ms), or 0 for now: a skipped tick may be
 * recorded only once a connection is free, seconds later. */
static int insert_run(PGconn *conn, const char *job, const char *status, const char *trigger,
                      const char *message, int64_t at_ms, int64_t *ret_run_id, md_error_t *err) {
    char at[24];
    snprintf(at, sizeof(at), "%" PRId64, at_ms);
    const char *params[] = {job, status, md_runner_instance(), trigger, message, at};
    PGresult *res = bookkeeping(
        conn,
        "INSERT INTO medallion.job_runs (job_name, status, instance, trigger, message, "
        "started_at, finished_at) SELECT $1, $2, $3, $4, $5, t, CASE WHEN $2 = 'running' THEN "
        "NULL ELSE t END FROM (SELECT CASE WHEN $6::bigint > 0 THEN least(now(), "
        "to_timestamp($6::bigint / 1000.0)) ELSE now() END AS t) x RETURNING run_id",
        6, params, err);
    if (res == NULL)
        return err ? err->code : -EIO;
    *ret_run_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

/* at_ms: when the run ended (Unix ms), 0 for now(); a late record (at_ms > 0)
 * only replaces a row still 'running'. */
static int finish_run(PGconn *conn, const md_run_result_t *r, int64_t at_ms, md_error_t *err) {
    char id[32], rd[32], wr[32], va[32], inv[32], dup[32], at[32];
    snprintf(id, sizeof(id), "%" PRId64, r->run_id);
    snprintf(rd, sizeof(rd), "%" PRId64, r->rows_read);
    snprintf(wr, sizeof(wr), "%" PRId64, r->rows_written);
    snprintf(va, sizeof(va), "%" PRId64, r->rows_valid);
    snprintf(inv, sizeof(inv), "%" PRId64, r->rows_invalid);
    snprintf(dup, sizeof(dup), "%" PRId64, r->rows_duplicate);
    snprintf(at, sizeof(at), "%" PRId64, at_ms);
    const char *params[] = {id,  md_run_status_name(r->status),     rd, wr, va, inv,
                            dup, r->message[0] ? r->message : NULL, at};
    PGresult *res = bookkeeping(
        conn,
        "UPDATE medallion.job_runs SET status = $2, finished_at = CASE WHEN $9::bigint > 0 "
        "THEN to_timestamp($9::bigint / 1000.0) ELSE now() END, rows_read = $3, "
        "rows_written = $4, rows_valid = $5, rows_invalid = $6, rows_duplicate = $7, "
        "message = $8 WHERE run_id = $1 AND ($9::bigint = 0 OR status = 'running')",
        9, params, err);
    if (res == NULL)
        return err ? err->code : -EIO;
    PQclear(res);
    return 0;
}

/* The outcome goes on the lock connection; when that one is gone (and the
 * lock with it), on the run's own connection, else on a new one: a run
 * must never stay 'running' in job_runs while its daemon goes on. */
static int record_outcome(const md_config_t *cfg, PGconn *lock_conn, PGconn *conn,
                          const md_run_result_t *r, md_error_t *err) {
    if (finish_run(lock_conn, r, 0, err) == 0)
        return 0;
    /* job_runs is locked by someone: another connection would wait the same.
     * The row stays 'running'; this daemon's next start marks it interrupted. */
    if (lock_wait_ran_out(err))
        return err->code;
    md_error_clear(err);
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK &&
        PQtransactionStatus(conn) == PQTRANS_IDLE && finish_run(conn, r, 0, err) == 0)
        return 0;
    md_error_clear(err);
    PGconn *fresh = NULL;
    int rc = md_pg_connect(cfg->database_url, &fresh, err);
    if (rc == 0) {
        rc = finish_run(fresh, r, 0, err);
        PQfinish(fresh);
    }
    return rc;
}

int md_runner_record_outcome(PGconn *conn, const md_run_result_t *r, md_error_t *err) {
    return finish_run(conn, r, r->finished_ms > 0 ? r->finished_ms : 1, err);
}

int md_runner_record_skip(PGconn *conn, md_job_id_t job, const char *trigger, const char *reason,
                          int64_t at_ms, md_error_t *ret_err) {
    int64_t id;
    return insert_run(conn, md_jobdef_get(job)->name, "skipped", trigger, reason, at_ms, &id,
                      ret_err);
}

/* Name the holder of a job's lock for the skip message, best effort. */
static void describe_holder(PGconn *lock_conn, const char *job, char *buf, size_t len) {
    const char *params[] = {job};
    md_error_t err = {0};
    PGresult *res = md_pg_query(
        lock_conn,
        "SELECT coalesce((SELECT 'medalliond ' || r.instance || ', ' FROM medallion.job_runs r "
        "WHERE r.job_name = $1 AND r.status = 'running' ORDER BY r.run_id DESC LIMIT 1), "
        "coalesce(nullif(a.application_name, '') || ', ', '')) || 'backend pid ' || l.pid || "
        "coalesce(' from ' || host(a.client_addr), '') FROM pg_locks l LEFT JOIN "
        "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND "
        "l.classid::int = hashtext('medalliond') AND l.objid::int = hashtext($1) AND "
        "l.objsubid = 2 LIMIT 1",
        1, params, &err);
    if (res != NULL && PQntuples(res) == 1)
        snprintf(buf, len, "another instance holds job %s (%s)", job, PQgetvalue(res, 0, 0));
    else
        snprintf(buf, len, "another instance holds job %s", job);
    PQclear(res);
}

static void run_job(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                    const char *trigger, md_run_control_t *ctl, const int64_t *reprocess_range,
                    md_run_result_t *ret) {
    const md_jobdef_t *def = md_jobdef_get(job);
    memset(ret, 0, sizeof(*ret));
    ret->run_id = -1;
    int64_t t0 = now_ms();
    md_error_t err = {0};

    /* Lock first, then write the row: a run's started_at is when it really
     * started, so runs of two daemons can be checked for overlap. */
    const char *lparams[] = {def->name};
    PGresult *res =
        md_pg_query(lock_conn, "SELECT pg_try_advisory_lock(" LOCK_ARGS ")", 1, lparams, &err);
    if (res == NULL) {
        ret->status = MD_RUN_FAILED;
        ret->connection_lost = md_pg_is_connection_error(lock_conn, &err);
        set_message(ret, "cannot take the job lock: %s", err.msg);
        ret->duration_ms = now_ms() - t0;
        return;
    }
    bool locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!locked) {
        ret->status = MD_RUN_SKIPPED;
        ret->locked_elsewhere = true;
        describe_holder(lock_conn, def->name, ret->message, sizeof(ret->message));
        if (insert_run(lock_conn, def->name, "skipped", trigger, ret->message, 0, &ret->run_id,
                       &err) != 0)
            ret->run_id = -1;
        ret->duration_ms = now_ms() - t0;
        return;
    }
    if (insert_run(lock_conn, def->name, "running", trigger, NULL, 0, &ret->run_id, &err) != 0) {
        ret->status = MD_RUN_FAILED;
        ret->connection_lost = md_pg_is_connection_error(lock_conn, &err);
        set_message(ret, "cannot record the run: %s", err.msg);
        goto unlock;
    }
    /* Until the lock is released, what this thread logs (server notices,
     * reconnects of the write connections) belongs to this run. */
    md_log_set_scope(&(md_log_ctx_t){def->name, ret->run_id, -1, -1});

    md_job_fn fn = md_job_function(job);
    if (fn == NULL) {
        ret->status = MD_RUN_FAILED;
        set_message(ret, "job %s is not available in this build yet", def->name);
    } else {
        md_job_ctx_t ctx = {
            .cfg = cfg,
            .jcfg = &cfg->jobs[job],
            .conn = conn,
            .lock_conn = lock_conn,
            .ctl = ctl,
            .arena = md_arena_new(1 << 20),
        };
        if (reprocess_range != NULL) {
            ctx.reprocess = true;
            ctx.reprocess_from_us = reprocess_range[0];
            ctx.reprocess_to_us = reprocess_range[1];
        }
        /* Whoever takes the cancel handle out of ctl frees it: the loop when
         * it cancels a query, else this thread once the job is over. */
        PGcancel *cancel = PQgetCancel(conn);
        if (ctl != NULL)
            atomic_store(&ctl->cancel, cancel);
        int rc = ctx.arena == NULL ? md_error_set(&ctx.err, -ENOMEM, "out of memory") : fn(&ctx);
        if (ctl != NULL)
            cancel = atomic_exchange(&ctl->cancel, (PGcancel *)NULL);
        PQfreeCancel(cancel);
        md_arena_free(ctx.arena);
        ret->rows_read = ctx.rows_read;
        ret->rows_written = ctx.rows_written;
        ret->rows_valid = ctx.rows_valid;
        ret->rows_invalid = ctx.rows_invalid;
        ret->rows_duplicate = ctx.rows_duplicate;
        if (rc == 0) {
            ret->status = MD_RUN_SUCCEEDED;
            if (ctx.note[0] != '\0')
                set_message(ret, "%s", ctx.note);
        } else if (ctl != NULL && atomic_load(&ctl->timed_out)) {
            ret->status = MD_RUN_TIMED_OUT;
            set_message(ret, "timed out after %lld ms; rolled back",
                        (long long)cfg->jobs[job].timeout_ms);
        } else {
            ret->status = MD_RUN_FAILED;
            ret->connection_lost = md_pg_is_connection_error(conn, &ctx.err);
            set_message(ret, "%s", ctx.err.msg);
        }
        if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
            PGresult *rb = PQexec(conn, "ROLLBACK");
            PQclear(rb);
        }
    }
unlock:
    /* Record the outcome before releasing the lock, so finished_at of this
     * run always precedes started_at of the next holder's run. */
    ret->duration_ms = now_ms() - t0;
    if (ret->run_id >= 0 && record_outcome(cfg, lock_conn, conn, ret, &err) != 0) {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        ret->outcome_unrecorded = true;
        ret->finished_ms = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000;
        if (ret->message[0] == '\0')
            set_message(ret, "cannot record the outcome: %s", err.msg);
    }
    res = md_pg_query(lock_conn, "SELECT pg_advisory_unlock(" LOCK_ARGS ")", 1, lparams, &err);
    PQclear(res);
    md_log_set_scope(NULL);
}

void md_runner_run(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                   const char *trigger, md_run_control_t *ctl, md_run_result_t *ret) {
    run_job(cfg, job, conn, lock_conn, trigger, ctl, NULL, ret);
}

void md_runner_reprocess(const md_config_t *cfg, md_job_id_t job, PGconn *conn, PGconn *lock_conn,
                         int64_t from_us, int64_t to_us, md_run_result_t *ret) {
    const int64_t range[2] = {from_us, to_us};
    run_job(cfg, job, conn, lock_conn, "manual", NULL, range, ret);
}

/* When process `pid` started, in Unix seconds, from /proc: its start in clock
 * ticks after boot (field 22 of /proc/PID/stat) plus the boot time (btime in
 * /proc/stat). -1 when unknown. */
static double process_start(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* after the command name "(...)", which may hold spaces and parentheses */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long ticks = 0;
    /* p + 2 is field 3 (state); starttime is field 22 */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
               "%llu",
               &ticks) != 1)
        return -1;
    f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long btime = 0;
    char line[256];
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (btime == 0 || hz <= 0)
        return -1;
    return (double)btime + (double)ticks / (double)hz;
}

/* Whether the process that wrote a run row started at `started` (Unix
 * seconds) still runs: its pid is alive, and that pid is not a later process
 * that got the number again (after a reboot, say). */
static bool owner_alive(int pid, double started) {
    if (pid <= 0 || pid == (int)getpid() || (kill(pid, 0) != 0 && errno != EPERM))
        return false;
    double since = process_start(pid);
    /* btime is whole seconds: a little slack, and no verdict without /proc */
    return since < 0 || since <= started + 2;
}

int md_runner_mark_interrupted(PGconn *conn, int *ret_count, md_error_t *ret_err) {
    /* Same host, and the process that wrote the row is gone (or is us): those
     * runs died with their process. */
    char host[256];
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "unknown");
    host[sizeof(host) - 1] = '\0';
    const char *params[] = {host};
    PGresult *res = md_pg_query(conn,
                                "SELECT run_id, split_part(instance, ':', 2), "
                                "extract(epoch FROM started_at) FROM "
                                "medallion.job_runs WHERE status = 'running' AND "
                                "split_part(instance, ':', 1) = $1",
                                1, params, ret_err);
    if (res == NULL)
        return ret_err ? ret_err->code : -EIO;
    int count = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        if (owner_alive(atoi(PQgetvalue(res, i, 1)), strtod(PQgetvalue(res, i, 2), NULL)))
            continue; /* a live process on this host owns it */
        const char *p[] = {PQgetvalue(res, i, 0)};
        PGresult *u = bookkeeping(conn,
                                  "UPDATE medallion.job_runs SET status = 'failed', "
                                  "finished_at = now(), message = 'interrupted' "
                                  "WHERE run_id = $1 AND status = 'running'",
                                  1, p, ret_err);
        if (u == NULL) {
            PQclear(res);
            return ret_err ? ret_err->code : -EIO;
        }
        count += atoi(PQcmdTuples(u));
        PQclear(u);
    }
    PQclear(res);
    *ret_count = count;
    return 0;
}

int md_runner_prune_history(PGconn *conn, int64_t retention_ms, int64_t *ret_deleted,
                            md_error_t *ret_err) {
    char ms[32];
    snprintf(ms, sizeof(ms), "%" PRId64, retention_ms);
    const char *params[] = {ms};
    PGresult *res = md_pg_query(conn,
                                "DELETE FROM medallion.job_runs WHERE started_at < now() - "
                                "$1::bigint * interval '1 millisecond' AND status <> 'running'",
                                1, params, ret_err);
    if (res == NULL)
        return ret_err ? ret_err->code : -EIO;
    *ret_deleted = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return 0;
}

int md_runner_last_success(PGconn *conn, md_job_id_t job, int64_t *ret_started,
                           md_error_t *ret_err) {
    const char *params[] = {md_jobdef_get(job)->name};
    PGresult *res = md_pg_query(conn,
                                "SELECT coalesce(extract(epoch FROM max(started_at))::bigint, 0) "
                                "FROM medallion.job_runs WHERE job_name = $1 AND "
                                "status = 'succeeded'",
                                1, params, ret_err);
    if (res == NULL)
        return ret_err ? ret_err->code : -EIO;
    *ret_started = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}
