/* The daemon: one libuv loop owns signals (uv_signal), the scheduler timer, the
 * watchdog, reload and shutdown. Every database call runs on the libuv thread
 * pool with connections checked out of the pool, so the loop never blocks on
 * PostgreSQL; the loop thread alone touches scheduler state and config refs. */
#include "medallion/daemon.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <uv.h>

#include "medallion/cli.h"
#include "medallion/config.h"
#include "medallion/conninfo.h"
#include "medallion/duration.h"
#include "medallion/jobdefs.h"
#include "medallion/log.h"
#include "medallion/migrate.h"
#include "medallion/notify.h"
#include "medallion/pg.h"
#include "medallion/pgpool.h"
#include "medallion/scheduler.h"
#include "medallion/timefmt.h"

#define PRUNE_INTERVAL_MS (60 * 60 * 1000)

/* ------------------------------------------------------------------ checks */

static int check_migrations(PGconn *conn, md_error_t *ret_err) {
    const char *dir = md_migrate_dir();
    int pending = 0;
    int rc = md_migrate_pending(conn, dir, &pending, ret_err);
    if (rc != 0)
        return rc;
    if (pending > 0)
        return md_error_set(ret_err, -EPROTO,
                            "%d database migration(s) from %s are pending; run `medalliond "
                            "migrate` (with the same config) before starting the daemon",
                            pending, dir);
    return 0;
}

/* The role the jobs run as (product.md §3). RLS applies to COPY too, so it
 * must be superuser, have BYPASSRLS, or own every analytics table with
 * policies (without FORCE); and it needs its privileges on both schemas, which
 * BYPASSRLS alone does not give. Checked before the migrations, so that a role
 * without them gets the fix rather than a bare "permission denied". A
 * database not migrated yet passes here: the migrations check says so. */
#define ROLE_FIX                                                                                   \
    "connect as the role that owns the analytics tables (the one that ran `medalliond "            \
    "migrate`), or as service_role: `GRANT service_role TO \"%s\";` and add "                      \
    "`options=-c role=service_role` to the database URL"

static int check_role(PGconn *conn, md_error_t *ret_err) {
    PGresult *res = md_pg_query(
        conn,
        "SELECT current_user, r.rolsuper OR r.rolbypassrls, "
        "  (SELECT string_agg(n.nspname || '.' || c.relname, ', ' ORDER BY c.relname) "
        "     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "    WHERE n.nspname = 'analytics' AND c.relkind IN ('r', 'p') AND c.relrowsecurity "
        "      AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE'))), "
        "  CASE WHEN to_regnamespace('medallion') IS NULL OR to_regnamespace('analytics') IS NULL "
        "       THEN true "
        "       WHEN NOT (has_schema_privilege('medallion', 'USAGE') "
        "                 AND has_schema_privilege('analytics', 'USAGE')) THEN false "
        "       WHEN to_regclass('medallion.batch_positions') IS NULL "
        "         OR to_regclass('analytics.events_clean') IS NULL THEN true "
        "       ELSE has_table_privilege('medallion.schema_migrations', 'SELECT') "
        "        AND has_table_privilege('medallion.job_runs', 'INSERT') "
        "        AND has_table_privilege('medallion.job_runs', 'UPDATE') "
        "        AND has_table_privilege('medallion.batch_positions', 'UPDATE') "
        "        AND has_table_privilege('analytics.events_raw', 'SELECT') "
        "        AND has_table_privilege('analytics.events_clean', 'INSERT') END "
        "FROM pg_roles r WHERE r.rolname = current_user",
        0, NULL, ret_err);
    if (res == NULL)
        return ret_err ? ret_err->code : -EIO;
    int rc = 0;
    const char *role = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "";
    if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 1), "t") != 0 && !PQgetisnull(res, 0, 2))
        rc = md_error_set(ret_err, -EACCES,
                          "role \"%s\" does not bypass row-level security on %s, so the jobs "
                          "cannot read bronze or COPY into silver; " ROLE_FIX,
                          role, PQgetvalue(res, 0, 2), role);
    else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 3), "t") != 0)
        rc = md_error_set(ret_err, -EACCES,
                          "role \"%s\" lacks privileges on the medallion and analytics tables "
                          "(bookkeeping, bronze, silver); " ROLE_FIX,
                          role, role);
    PQclear(res);
    return rc;
}

static int backend_pid(PGconn *conn, const char *sql, char *buf, size_t len, md_error_t *ret_err) {
    PGresult *res = md_pg_query(conn, sql, 0, NULL, ret_err);
    if (res == NULL)
        return ret_err ? ret_err->code : -EIO;
    snprintf(buf, len, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return 0;
}

/* `a`'s backend pid, asked while `b` holds a transaction open, waiting at most
 * POOLER_WAIT_MS. With a session of its own the answer is immediate; a
 * transaction-mode pooler whose pool is down to the backend `b` holds queues
 * the query instead (for its query_wait_timeout, 120 s by default): that is a
 * transaction-mode pooler too. -ETIMEDOUT then, with the query still queued;
 * the caller ends b's transaction and calls finish_queued(a). */
#define POOLER_WAIT_MS 5000

static int backend_pid_while(PGconn *a, char *buf, size_t len, md_error_t *ret_err) {
    if (!PQsendQuery(a, "SELECT pg_backend_pid()"))
        return md_pg_error(a, NULL, "query failed", ret_err);
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (PQisBusy(a)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        long left = POOLER_WAIT_MS -
                    ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = PQsocket(a), .events = POLLIN};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return md_error_set(ret_err, -errno, "waiting for the pooler probe: %s",
                                strerror(errno));
        if (!PQconsumeInput(a))
            return md_pg_error(a, NULL, "query failed", ret_err);
    }
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult(a)) != NULL) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK && rc == 0)
            rc = md_pg_error(a, res, "query failed", ret_err);
        else if (rc == 0)
            snprintf(buf, len, "%s", PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "");
        PQclear(res);
    }
    return rc;
}

/* Collects the answer of a query left queued by backend_pid_while. */
static void finish_queued(PGconn *a) {
    PGresult *res;
    while ((res = PQgetResult(a)) != NULL)
        PQclear(res);
}

/* A transaction-mode pooler hands each transaction whatever server backend is
 * free. While `b` holds a transaction open, `a` keeps its own backend only when
 * it has a session of its own (direct or session mode); in transaction mode `b`
 * usually gets the backend `a` just released, or `a` moves to another one.
 * Neither can happen with a real session, so there is no false alarm; a few
 * rounds make a miss unlikely whatever order the pooler hands backends out in.
 * (PQbackendPID is no shortcut: PgBouncer forwards the server's key data.) */
static int check_pooler(PGconn *a, PGconn *b, md_error_t *ret_err) {
    char pa1[32], pa2[32], pb[32];
    int rc = 0;
    for (int round = 0; round < 3 && rc == 0; round++) {
        if ((rc = backend_pid(a, "SELECT pg_backend_pid()", pa1, sizeof(pa1), ret_err)) != 0)
            break;
        if ((rc = md_pg_exec(b, "BEGIN", ret_err)) != 0)
            break;
        rc = backend_pid(b, "SELECT pg_backend_pid()", pb, sizeof(pb), ret_err);
        bool queued = false;
        if (rc == 0 && (rc = backend_pid_while(a, pa2, sizeof(pa2), ret_err)) == -ETIMEDOUT) {
            queued = true;
            rc = 0;
        }
        md_error_t ignore = {0};
        if (md_pg_exec(b, "COMMIT", &ignore) != 0 && rc == 0)
            rc = md_pg_exec(b, "ROLLBACK", ret_err);
        if (queued)
            finish_queued(a); /* b's transaction is over: a's query gets its turn */
        if (rc != 0)
            break;
        if (queued || strcmp(pa1, pb) == 0 || strcmp(pa1, pa2) != 0)
            return md_error_set(
                ret_err, -EPROTO,
                "the database URL points at a connection pooler in transaction mode (the server "
                "backend changes between transactions), where session advisory locks do not "
                "work; connect directly to PostgreSQL or to a session-mode pooler on port 5432 "
                "(on Supabase: the direct or session-mode connection string, not port 6543)");
    }
    return rc;
}

int md_daemon_preflight(PGconn *conn, PGconn *conn2, md_error_t *ret_err) {
    /* RLS before migrations: a role without rights on medallion.* would
     * otherwise get a bare "permission denied" instead of the fix. */
    int rc = check_pooler(conn, conn2, ret_err);
    if (rc == 0)
        rc = check_role(conn, ret_err);
    if (rc == 0)
        rc = check_migrations(conn, ret_err);
    return rc;
}

PGcancel *md_daemon_request_cancel(md_run_control_t *ctl, bool timed_out) {
    if (timed_out)
        atomic_store(&ctl->timed_out, true);
    atomic_store(&ctl->cancel_requested, true);
    return atomic_exchange(&ctl->cancel, (PGcancel *)NULL);
}

void md_daemon_send_cancel(PGcancel *cancel) {
    if (cancel == NULL)
        return;
    char buf[256];
    (void)PQcancel(cancel, buf, sizeof(buf)); /* a request: the query's own error tells */
    PQfreeCancel(cancel);
}

/* ------------------------------------------------------------------ state */

/* Configs are reference-counted on the loop thread: a run keeps the config it
 * started with while a reload swaps in the next one. */
typedef struct cfgref {
    md_config_t *cfg;
    int refs;
} cfgref_t;

static cfgref_t *cfgref_new(md_config_t *cfg) {
    cfgref_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->cfg = cfg;
    r->refs = 1;
    return r;
}

static cfgref_t *cfgref_get(cfgref_t *r) {
    r->refs++;
    return r;
}

static void cfgref_put(cfgref_t *r) {
    if (r != NULL && --r->refs == 0) {
        md_config_free(r->cfg);
        free(r);
    }
}

typedef enum work_kind {
    W_STARTUP, /* connect; before the first success also preflight, interrupted, prune, catch-up */
    W_RUN,
    W_SKIP,
    W_PRUNE,
    W_RECORD, /* write outcomes runs could not record when they ended */
    W_CANCEL, /* no connection: send a PQcancel off the loop thread */
} work_kind_t;

typedef struct md_daemon md_daemon_t;

typedef struct work {
    uv_work_t req;
    struct work *next; /* pending queue */
    md_daemon_t *d;
    work_kind_t kind;
    md_job_id_t job;
    const char *trigger;
    char reason[128];
    int64_t at_ms; /* W_SKIP: when the tick was skipped (Unix ms) */
    cfgref_t *cfg;
    int nslots;
    md_pgslot_t *slots[2];
    bool discard[2];

    /* W_RUN */
    md_run_control_t ctl;
    uv_timer_t timeout;
    bool has_timer;
    md_run_result_t result;

    /* W_STARTUP */
    bool full_startup;
    bool fatal;
    int interrupted;
    int64_t pruned;
    int64_t last_success[MD_JOB_COUNT];
    char warning[1100];

    /* W_CANCEL */
    PGcancel *cancel;

    /* W_RECORD: taken from md_daemon.unrecorded; what is left is put back */
    md_run_result_t *records;
    int nrecords, nrecorded;

    /* Work other than runs (start-up checks, skip and prune records) has
     * nothing to finish or roll back, so a stop cuts it short: the loop shuts
     * down the sockets it uses (under md_daemon.side_mu), which makes a query
     * stuck behind a pooler with no free server connection fail at once. */
    struct work *side_prev, *side_next; /* in flight; loop thread only */
    int socks[2];                       /* under side_mu; -1 when not in use */
    bool abandoned;                     /* under side_mu: the daemon is stopping */

    bool conn_failed;
    md_error_t err;
} work_t;

struct md_daemon {
    uv_loop_t loop;
    uv_signal_t sig_hup, sig_term, sig_int;
    uv_timer_t sched_timer, probe_timer, prune_timer, watchdog_timer, grace_timer;

    char *config_path;
    bool config_explicit;
    cfgref_t *cfg;
    md_pgpool_t *pool;
    md_sched_t sched;
    int scheduled;

    work_t *queue_head, *queue_tail;
    int in_flight;
    work_t *side_head; /* work in flight that is not a run (see work_t.socks) */
    uv_mutex_t side_mu;

    /* Outcomes of runs that ended while the database was away: their job_runs
     * rows say 'running' until a W_RECORD writes them. */
    md_run_result_t *unrecorded;
    int nunrecorded;
    bool record_pending;
    work_t *running[MD_JOB_COUNT];

    bool db_ready;        /* start-up checks passed once */
    bool startup_pending; /* a W_STARTUP is queued or running */
    bool ready_sent;
    bool stopping;
    bool closed;
    bool cancels_sent;
    int exit_code;

    md_pgpool_state_t db_state;
    char last_status[512];
    uint64_t n_ok, n_failed, n_skipped, n_timed_out;
    char last_run[200];
};

static int64_t wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void) {
    return (int64_t)(uv_hrtime() / 1000000u);
}

static void update_status(md_daemon_t *d) {
    int running = 0;
    for (int i = 0; i < MD_JOB_COUNT; i++)
        running += d->sched.jobs[i].active ? 1 : 0;
    const char *db = d->db_state == MD_PGPOOL_UP     ? "reachable"
                     : d->db_state == MD_PGPOOL_DOWN ? "UNREACHABLE"
                                                     : "not tried yet";
    char line[sizeof(d->last_status)];
    if (d->stopping)
        snprintf(line, sizeof(line), "stopping: %d run(s) finishing; database %s", running, db);
    else
        snprintf(line, sizeof(line),
                 "%d jobs scheduled, %d running; database %s%s; last run: %s; "
                 "%llu succeeded, %llu failed, %llu timed out, %llu skipped",
                 d->scheduled, running, db,
                 d->db_ready || d->db_state != MD_PGPOOL_UP ? "" : " (checking)",
                 d->last_run[0] ? d->last_run : "none yet", (unsigned long long)d->n_ok,
                 (unsigned long long)d->n_failed, (unsigned long long)d->n_timed_out,
                 (unsigned long long)d->n_skipped);
    if (strcmp(line, d->last_status) == 0)
        return; /* ticks that change nothing do not spam the manager */
    snprintf(d->last_status, sizeof(d->last_status), "%s", line);
    md_notify_status("%s", line);
}

/* Log database reachability once per change, never once per tick. */
static void poll_db_state(md_daemon_t *d) {
    md_pgpool_state_t st;
    char msg[512];
    if (md_pgpool_poll_change(d->pool, &st, msg, sizeof(msg)) == 0)
        return;
    md_log_oneline(msg); /* libpq's text spans lines; a log line and STATUS= want one */
    md_pgpool_state_t old = d->db_state;
    d->db_state = st;
    if (st == MD_PGPOOL_DOWN)
        md_log_err("database unreachable, retrying with backoff: %s", msg);
    else if (st == MD_PGPOOL_UP && old == MD_PGPOOL_DOWN)
        md_log_info("database reachable again");
    else if (st == MD_PGPOOL_UP)
        md_log_info("connected to the database");
}

static void arm_sched_timer(md_daemon_t *d);
static void arm_probe_timer(md_daemon_t *d);
static void dispatch(md_daemon_t *d);
static void maybe_finish(md_daemon_t *d);
static void begin_shutdown(md_daemon_t *d, int exit_code);

/* ------------------------------------------------------------------ work */

static work_t *work_new(md_daemon_t *d, work_kind_t kind, md_job_id_t job, const char *trigger) {
    work_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->d = d;
    w->kind = kind;
    w->job = job;
    w->trigger = trigger;
    w->nslots = kind == W_CANCEL ? 0 : (kind == W_RUN || kind == W_STARTUP) ? 2 : 1;
    w->socks[0] = w->socks[1] = -1;
    w->req.data = w;
    if (kind != W_CANCEL)
        w->cfg = cfgref_get(d->cfg);
    return w;
}

static void work_free(work_t *w) {
    if (w == NULL)
        return;
    cfgref_put(w->cfg);
    free(w->records);
    free(w);
}

static void timer_closed_free_work(uv_handle_t *h) {
    work_free(h->data);
}

/* Pool connections for the work; on failure the error says why and the
 * slot is left for the pool's backoff to retry. */
static int get_conns(work_t *w, PGconn **conns) {
    for (int i = 0; i < w->nslots; i++) {
        if (md_pgpool_conn(w->d->pool, w->slots[i], &conns[i], &w->err) != 0) {
            w->conn_failed = true;
            return -1;
        }
    }
    return 0;
}

static bool is_side_work(const work_t *w) {
    return w->kind != W_RUN && w->kind != W_CANCEL;
}

/* Worker thread: make the connections of side work interruptible by a stop;
 * false when the stop came first (the work is not done at all). */
static bool side_begin(work_t *w, PGconn **c) {
    uv_mutex_lock(&w->d->side_mu);
    bool go = !w->abandoned;
    for (int i = 0; go && i < w->nslots; i++)
        w->socks[i] = PQsocket(c[i]);
    uv_mutex_unlock(&w->d->side_mu);
    return go;
}

/* Worker thread, before the connections go back to the pool (or are closed
 * and their descriptors reused): the loop must no longer touch them. */
static void side_end(work_t *w) {
    uv_mutex_lock(&w->d->side_mu);
    w->socks[0] = w->socks[1] = -1;
    uv_mutex_unlock(&w->d->side_mu);
}

/* Loop thread, on stop: cut short the side work in flight. */
static void interrupt_side_work(md_daemon_t *d) {
    uv_mutex_lock(&d->side_mu);
    for (work_t *w = d->side_head; w != NULL; w = w->side_next) {
        w->abandoned = true;
        for (int i = 0; i < 2; i++)
            if (w->socks[i] >= 0)
                (void)shutdown(w->socks[i], SHUT_RDWR);
    }
    uv_mutex_unlock(&d->side_mu);
}

static void work_startup(work_t *w, PGconn **c) {
    if (!w->full_startup)
        return; /* just a reachability probe */
    int rc = md_daemon_preflight(c[0], c[1], &w->err);
    if (rc != 0) {
        if (md_pg_is_connection_error(c[0], &w->err) || md_pg_is_connection_error(c[1], &w->err))
            w->conn_failed = true;
        else
            w->fatal = true;
        return;
    }
    md_error_t e = {0};
    if (md_runner_mark_interrupted(c[0], &w->interrupted, &e) != 0)
        snprintf(w->warning, sizeof(w->warning), "cannot mark interrupted runs: %s", e.msg);
    md_error_clear(&e);
    if (md_runner_prune_history(c[0], w->cfg->cfg->history_retention_ms, &w->pruned, &e) != 0)
        snprintf(w->warning, sizeof(w->warning), "cannot prune run history: %s", e.msg);
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        w->last_success[i] = INT64_MAX; /* unknown: no catch-up */
        if (md_jobdef_get((md_job_id_t)i)->layer != MD_LAYER_GOLD)
            continue;
        md_error_clear(&e);
        if (md_runner_last_success(c[0], (md_job_id_t)i, &w->last_success[i], &e) != 0)
            snprintf(w->warning, sizeof(w->warning), "cannot read the last successful runs: %s",
                     e.msg);
    }
    if (PQstatus(c[0]) != CONNECTION_OK || PQstatus(c[1]) != CONNECTION_OK) {
        w->conn_failed = true;
        md_error_set(&w->err, -ECONNRESET, "connection lost during start-up checks: %s",
                     w->warning);
    }
}

static void work_cb(uv_work_t *req) {
    work_t *w = req->data;
    if (w->kind == W_CANCEL) {
        md_daemon_send_cancel(w->cancel);
        w->cancel = NULL;
        return;
    }
    PGconn *c[2] = {NULL, NULL};
    if (get_conns(w, c) != 0) {
        if (w->kind == W_RUN) {
            w->result.status = MD_RUN_FAILED;
            w->result.run_id = -1;
            w->result.connection_lost = true;
            snprintf(w->result.message, sizeof(w->result.message), "%.500s", w->err.msg);
        }
        return;
    }
    if (is_side_work(w) && !side_begin(w, c)) {
        w->conn_failed = true; /* stopping: not started, nothing to undo */
        return;
    }
    switch (w->kind) {
    case W_STARTUP:
        work_startup(w, c);
        break;
    case W_RUN:
        md_runner_run(w->cfg->cfg, w->job, c[0], c[1], w->trigger, &w->ctl, &w->result);
        break;
    case W_SKIP:
        if (md_runner_record_skip(c[0], w->job, w->trigger, w->reason, w->at_ms, &w->err) != 0)
            w->conn_failed = md_pg_is_connection_error(c[0], &w->err);
        break;
    case W_PRUNE:
        if (md_runner_prune_history(c[0], w->cfg->cfg->history_retention_ms, &w->pruned, &w->err) !=
            0)
            w->conn_failed = md_pg_is_connection_error(c[0], &w->err);
        break;
    case W_RECORD:
        /* In order; the first failure leaves it and the rest for later. */
        while (w->nrecorded < w->nrecords &&
               md_runner_record_outcome(c[0], &w->records[w->nrecorded], &w->err) == 0)
            w->nrecorded++;
        if (w->nrecorded < w->nrecords)
            w->conn_failed = md_pg_is_connection_error(c[0], &w->err);
        break;
    case W_CANCEL:
        break;
    }
    if (is_side_work(w))
        side_end(w);
    /* Never hand back a connection that is broken or inside a transaction. */
    for (int i = 0; i < w->nslots; i++)
        w->discard[i] = c[i] == NULL || PQstatus(c[i]) != CONNECTION_OK ||
                        PQtransactionStatus(c[i]) != PQTRANS_IDLE;
}

static void enqueue(md_daemon_t *d, work_t *w) {
    if (w == NULL) {
        md_log_err("out of memory queueing work");
        return;
    }
    w->next = NULL;
    if (d->queue_tail)
        d->queue_tail->next = w;
    else
        d->queue_head = w;
    d->queue_tail = w;
}

static void run_timeout_cb(uv_timer_t *t) {
    work_t *w = t->data;
    md_log_ctx_t ctx = {md_jobdef_get(w->job)->name, -1, -1, -1};
    md_log_job(MD_LOG_WARN, &ctx, "%s exceeded its timeout; cancelling",
               md_jobdef_get(w->job)->name);
    PGcancel *c = md_daemon_request_cancel(&w->ctl, true);
    if (c != NULL) {
        work_t *cw = work_new(w->d, W_CANCEL, w->job, NULL);
        if (cw == NULL) {
            md_daemon_send_cancel(c); /* out of memory: block the loop rather than hang */
            return;
        }
        cw->cancel = c;
        enqueue(w->d, cw);
        dispatch(w->d);
    }
}

static void after_work_cb(uv_work_t *req, int status);

static void dispatch(md_daemon_t *d) {
    work_t **pp = &d->queue_head;
    work_t *prev = NULL;
    while (*pp != NULL) {
        work_t *w = *pp;
        if (w->nslots > md_pgpool_available(d->pool)) {
            prev = w;
            pp = &w->next;
            continue; /* waits for a run to give its connections back */
        }
        *pp = w->next;
        if (d->queue_tail == w)
            d->queue_tail = prev;
        for (int i = 0; i < w->nslots; i++)
            if (md_pgpool_acquire(d->pool, &w->slots[i]) != 0)
                abort(); /* available() said there were enough */
        if (w->cfg != NULL && w->cfg != d->cfg) {
            /* Queued across a reload: the work runs with the config current when
             * it starts (batch_size, timeout, ...), like a run queued after it. */
            cfgref_t *queued_with = w->cfg;
            w->cfg = cfgref_get(d->cfg);
            cfgref_put(queued_with);
        }
        if (w->kind == W_RUN) {
            d->running[w->job] = w;
            int64_t timeout = w->cfg->cfg->jobs[w->job].timeout_ms;
            if (timeout > 0 && uv_timer_init(&d->loop, &w->timeout) == 0) {
                w->has_timer = true;
                w->timeout.data = w;
                uv_timer_start(&w->timeout, run_timeout_cb, (uint64_t)timeout, 0);
            }
        }
        if (is_side_work(w)) {
            w->side_next = d->side_head;
            if (d->side_head != NULL)
                d->side_head->side_prev = w;
            d->side_head = w;
        }
        d->in_flight++;
        int rc = uv_queue_work(&d->loop, &w->req, work_cb, after_work_cb);
        if (rc != 0) {
            md_log_err("cannot queue work: %s", uv_strerror(rc));
            d->in_flight--;
            after_work_cb(&w->req, rc);
        }
    }
}

static void record_skip(md_daemon_t *d, md_job_id_t job, const char *trigger, const char *reason) {
    md_log_ctx_t ctx = {md_jobdef_get(job)->name, -1, -1, -1};
    md_log_job(MD_LOG_INFO, &ctx, "%s tick skipped: %s", md_jobdef_get(job)->name, reason);
    d->n_skipped++;
    if (!d->db_ready)
        return;
    work_t *w = work_new(d, W_SKIP, job, trigger);
    if (w != NULL) {
        snprintf(w->reason, sizeof(w->reason), "%s", reason);
        w->at_ms = wall_ms();
    }
    enqueue(d, w);
}

static void start_run(md_daemon_t *d, md_job_id_t job, const char *trigger) {
    work_t *w = work_new(d, W_RUN, job, trigger);
    if (w == NULL) {
        md_log_err("out of memory starting %s", md_jobdef_get(job)->name);
        md_sched_finished(&d->sched, job, MD_RUN_FAILED, wall_ms(), mono_ms());
        return;
    }
    md_log_ctx_t ctx = {md_jobdef_get(job)->name, -1, -1, -1};
    md_log_job(MD_LOG_DEBUG, &ctx, "%s starting (%s)", md_jobdef_get(job)->name, trigger);
    enqueue(d, w);
}

/* Keeps the outcome of a run that could not write it, for a W_RECORD once
 * the database is back. Bounded: past the cap the oldest are left to the
 * next start, which marks them interrupted. */
#define MAX_UNRECORDED 1024

static void keep_unrecorded(md_daemon_t *d, const md_run_result_t *r) {
    if (d->nunrecorded == MAX_UNRECORDED) {
        memmove(d->unrecorded, d->unrecorded + 1, (MAX_UNRECORDED - 1) * sizeof(*d->unrecorded));
        d->nunrecorded--;
    }
    if (d->unrecorded == NULL &&
        (d->unrecorded = malloc(MAX_UNRECORDED * sizeof(*d->unrecorded))) == NULL)
        return;
    d->unrecorded[d->nunrecorded++] = *r;
}

static void queue_records(md_daemon_t *d) {
    if (d->nunrecorded == 0 || d->record_pending || d->stopping || !d->db_ready ||
        d->db_state != MD_PGPOOL_UP)
        return;
    work_t *w = work_new(d, W_RECORD, 0, NULL);
    if (w == NULL)
        return;
    w->records = d->unrecorded;
    w->nrecords = d->nunrecorded;
    d->unrecorded = NULL;
    d->nunrecorded = 0;
    d->record_pending = true;
    enqueue(d, w);
}

static void finish_records(md_daemon_t *d, work_t *w) {
    d->record_pending = false;
    if (w->nrecorded > 0)
        md_log_info("recorded the outcome of %d run(s) that ended while the database was away",
                    w->nrecorded);
    for (int i = w->nrecorded; i < w->nrecords; i++)
        keep_unrecorded(d, &w->records[i]);
}

static void finish_run(md_daemon_t *d, work_t *w) {
    md_run_result_t *r = &w->result;
    const char *name = md_jobdef_get(w->job)->name;
    d->running[w->job] = NULL;
    if (r->outcome_unrecorded && r->run_id >= 0)
        keep_unrecorded(d, r);
    md_log_ctx_t ctx = {name, r->run_id, r->rows_read, r->duration_ms};
    char stamp[21];
    if (w->conn_failed) {
        /* Never started: the database is away. Logged once by poll_db_state. */
        md_log_job(MD_LOG_DEBUG, &ctx, "%s not started: %s", name, r->message);
    } else if (r->status == MD_RUN_SUCCEEDED) {
        d->n_ok++;
        md_log_job(MD_LOG_INFO, &ctx, "%s succeeded (%s): read %lld, wrote %lld in %lld ms%s%s",
                   name, w->trigger, (long long)r->rows_read, (long long)r->rows_written,
                   (long long)r->duration_ms, r->message[0] ? "; " : "", r->message);
    } else if (r->status == MD_RUN_SKIPPED) {
        d->n_skipped++;
        md_log_job(MD_LOG_INFO, &ctx, "%s skipped: %s", name, r->message);
    } else if (r->status == MD_RUN_TIMED_OUT) {
        d->n_timed_out++;
        md_log_job(MD_LOG_ERR, &ctx, "%s timed out: %s", name, r->message);
    } else {
        d->n_failed++;
        md_log_job(MD_LOG_ERR, &ctx, "%s failed (%s): %s", name, w->trigger, r->message);
    }
    if (!w->conn_failed)
        snprintf(d->last_run, sizeof(d->last_run), "%s %s at %s", name,
                 md_run_status_name(r->status), md_time_format_iso8601(wall_ms() / 1000, stamp));
    md_sched_finished(&d->sched, w->job, w->conn_failed ? MD_RUN_FAILED : r->status, wall_ms(),
                      mono_ms());
}

static void finish_startup(md_daemon_t *d, work_t *w) {
    d->startup_pending = false;
    if (w->fatal) {
        md_log_err("refusing to run: %s", w->err.msg);
        begin_shutdown(d, 1);
        return;
    }
    if (!w->conn_failed && w->full_startup) {
        d->db_ready = true;
        if (w->warning[0])
            md_log_warn("%s", w->warning);
        if (w->interrupted > 0)
            md_log_warn("marked %d run(s) left running by an earlier instance as failed "
                        "(interrupted)",
                        w->interrupted);
        md_log_info("start-up checks passed; %lld old run(s) pruned", (long long)w->pruned);
        int64_t now_s = wall_ms() / 1000;
        for (int i = 0; i < MD_JOB_COUNT; i++) {
            const md_job_config_t *jc = &d->cfg->cfg->jobs[i];
            if (!md_sched_catchup_due(jc, w->last_success[i], now_s))
                continue;
            if (!md_sched_start_manual(&d->sched, (md_job_id_t)i))
                continue;
            md_log_ctx_t ctx = {jc->def->name, -1, -1, -1};
            md_log_job(MD_LOG_INFO, &ctx, "%s missed its last scheduled run: catching up",
                       jc->def->name);
            start_run(d, (md_job_id_t)i, "catchup");
        }
    }
    if (!d->ready_sent) {
        /* After the first attempt whatever its result: a database that is
         * down must not get the service killed for never being ready. */
        md_notify_ready();
        d->ready_sent = true;
        if (w->conn_failed && !d->stopping)
            md_log_warn("started without the database: jobs wait until it is reachable");
        else if (w->conn_failed)
            md_log_info("stopped before the start-up checks were done");
    }
}

static void after_work_cb(uv_work_t *req, int status) {
    work_t *w = req->data;
    md_daemon_t *d = w->d;
    if (status == UV_ECANCELED)
        w->conn_failed = true;
    d->in_flight--;
    if (is_side_work(w)) {
        if (w->side_prev != NULL)
            w->side_prev->side_next = w->side_next;
        else
            d->side_head = w->side_next;
        if (w->side_next != NULL)
            w->side_next->side_prev = w->side_prev;
    }
    for (int i = 0; i < w->nslots; i++)
        md_pgpool_release(d->pool, w->slots[i], w->discard[i] || w->conn_failed);
    poll_db_state(d);

    switch (w->kind) {
    case W_STARTUP:
        finish_startup(d, w);
        break;
    case W_RUN:
        finish_run(d, w);
        break;
    case W_SKIP:
        if (w->err.msg[0])
            md_log_debug("cannot record a skipped tick of %s: %s", md_jobdef_get(w->job)->name,
                         w->err.msg);
        break;
    case W_PRUNE:
        if (w->err.msg[0] && !w->conn_failed)
            md_log_warn("cannot prune run history: %s", w->err.msg);
        else if (!w->conn_failed)
            md_log_debug("pruned %lld old run(s)", (long long)w->pruned);
        break;
    case W_RECORD:
        finish_records(d, w);
        break;
    case W_CANCEL:
        break;
    }

    if (w->has_timer) {
        uv_timer_stop(&w->timeout);
        uv_close((uv_handle_t *)&w->timeout, timer_closed_free_work);
    } else {
        work_free(w);
    }
    if (!d->stopping) {
        queue_records(d);
        dispatch(d);
        arm_sched_timer(d);
        arm_probe_timer(d);
    }
    update_status(d);
    maybe_finish(d);
}

/* ------------------------------------------------------------------ timers */

static void queue_startup(md_daemon_t *d) {
    if (d->startup_pending || d->stopping)
        return;
    work_t *w = work_new(d, W_STARTUP, 0, NULL);
    if (w == NULL)
        return;
    w->full_startup = !d->db_ready;
    d->startup_pending = true;
    enqueue(d, w);
    dispatch(d);
}

static void probe_cb(uv_timer_t *t) {
    queue_startup(t->data);
}

/* While the database is away (or start-up checks have not passed yet), probe
 * when the pool's backoff allows, so STATUS= and the log follow the database
 * even between ticks. */
static void arm_probe_timer(md_daemon_t *d) {
    if (d->stopping || d->startup_pending || uv_is_active((uv_handle_t *)&d->probe_timer))
        return;
    if (d->db_ready && d->db_state != MD_PGPOOL_DOWN)
        return;
    int64_t at = md_pgpool_next_attempt_mono_ms(d->pool);
    int64_t delay = at > 0 ? at - mono_ms() : 0;
    if (delay < 1000)
        delay = 1000;
    uv_timer_start(&d->probe_timer, probe_cb, (uint64_t)delay, 0);
}

static void sched_cb(uv_timer_t *t) {
    md_daemon_t *d = t->data;
    if (d->stopping)
        return;
    md_sched_action_t acts[2 * MD_JOB_COUNT];
    int n = md_sched_tick(&d->sched, d->cfg->cfg, wall_ms(), mono_ms(), acts, 2 * MD_JOB_COUNT);
    for (int i = 0; i < n; i++) {
        if (!d->db_ready) {
            /* Nothing can run before the start-up checks: let the tick pass. */
            if (acts[i].kind == MD_SCHED_START)
                md_sched_finished(&d->sched, acts[i].job, MD_RUN_SKIPPED, wall_ms(), mono_ms());
            md_log_debug("%s tick passed: database not ready", md_jobdef_get(acts[i].job)->name);
            continue;
        }
        if (acts[i].kind == MD_SCHED_START)
            start_run(d, acts[i].job, acts[i].trigger);
        else
            record_skip(d, acts[i].job, acts[i].trigger, MD_SCHED_OVERLAP_REASON);
    }
    dispatch(d);
    arm_sched_timer(d);
    update_status(d);
}

static void arm_sched_timer(md_daemon_t *d) {
    if (d->stopping)
        return;
    int64_t delay = md_sched_wake_delay_ms(&d->sched, wall_ms(), mono_ms(), MD_SCHED_MAX_SLEEP_MS);
    /* +1 ms: the libuv clock is cached and rounded, and an early wake only costs a re-arm. */
    uv_timer_start(&d->sched_timer, sched_cb, (uint64_t)delay + 1, 0);
}

static void prune_cb(uv_timer_t *t) {
    md_daemon_t *d = t->data;
    if (d->stopping || !d->db_ready)
        return;
    enqueue(d, work_new(d, W_PRUNE, 0, NULL));
    dispatch(d);
}

static void watchdog_cb(uv_timer_t *t) {
    (void)t;
    /* From the loop itself: a stuck loop stops the pings and systemd notices. */
    md_notify_watchdog();
}

/* ------------------------------------------------------------------ reload */

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Keys that cannot change at run time keep their running values: the pool
 * was opened with database.*, gold days are cut in reporting.*. */
static int keep_frozen(md_config_t *nc, const md_config_t *old) {
    char *url = dup_or_null(old->database_url);
    char *rtz_name = strdup(old->reporting_timezone);
    char *cur = strdup(old->base_currency);
    md_tz_t *rtz = NULL;
    md_error_t e = {0};
    if ((old->database_url && !url) || !rtz_name || !cur ||
        md_tz_load(old->reporting_timezone, &rtz, &e) != 0) {
        free(url);
        free(rtz_name);
        free(cur);
        return -ENOMEM;
    }
    /* Gold jobs that follow reporting.timezone by default follow the kept one. */
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        md_job_config_t *jc = &nc->jobs[i];
        if (jc->def->layer != MD_LAYER_GOLD || strcmp(jc->timezone, nc->reporting_timezone) != 0 ||
            strcmp(nc->reporting_timezone, old->reporting_timezone) == 0)
            continue;
        char *tzn = strdup(old->reporting_timezone);
        md_tz_t *tz = NULL;
        if (tzn == NULL || md_tz_load(tzn, &tz, &e) != 0) {
            free(tzn);
            continue;
        }
        free(jc->timezone);
        md_tz_free(jc->tz);
        jc->timezone = tzn;
        jc->tz = tz;
    }
    free(nc->database_url);
    nc->database_url = url;
    nc->database_url_source = old->database_url_source;
    nc->pool_size = old->pool_size;
    free(nc->reporting_timezone);
    nc->reporting_timezone = rtz_name;
    md_tz_free(nc->reporting_tz);
    nc->reporting_tz = rtz;
    free(nc->base_currency);
    nc->base_currency = cur;
    return 0;
}

static void reload(md_daemon_t *d) {
    md_notify_reloading();
    md_log_info("reloading %s", d->config_path);
    md_config_t *nc = NULL;
    md_config_errors_t errs = {0};
    int rc = md_config_load(d->config_path, d->config_explicit, &nc, &errs);
    if (rc != 0) {
        for (int i = 0; i < errs.count; i++)
            md_log_err("%s", errs.items[i]);
        if (errs.count == 0)
            md_log_err("%s: cannot load config: %s", d->config_path, strerror(-rc));
        md_log_err("reload rejected: keeping the running configuration and schedule");
        md_config_errors_clear(&errs);
        md_notify_ready();
        return;
    }
    md_config_errors_clear(&errs);
    const md_config_t *old = d->cfg->cfg;
    char frozen[256];
    if (md_config_frozen_changes(old, nc, frozen, sizeof(frozen)) > 0)
        md_log_warn("reload: %s cannot change while running; keeping the old value(s) until "
                    "restart",
                    frozen);
    if (keep_frozen(nc, old) != 0) {
        md_log_err("reload rejected: out of memory");
        md_config_free(nc);
        md_notify_ready();
        return;
    }
    cfgref_t *ref = cfgref_new(nc);
    if (ref == NULL) {
        md_config_free(nc);
        md_notify_ready();
        return;
    }
    cfgref_put(d->cfg); /* runs holding the old one keep it alive */
    d->cfg = ref;
    md_log_set_level(nc->log_level);
    d->scheduled = md_sched_configure(&d->sched, nc, wall_ms() / 1000);
    md_log_info("configuration reloaded: %d job(s) scheduled", d->scheduled);
    arm_sched_timer(d);
    update_status(d);
    md_notify_ready();
}

/* ------------------------------------------------------------------ shutdown */

static void close_handle(uv_handle_t *h) {
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void cancel_running(md_daemon_t *d) {
    if (d->cancels_sent)
        return;
    d->cancels_sent = true;
    for (int i = 0; i < MD_JOB_COUNT; i++) {
        work_t *w = d->running[i];
        if (w == NULL)
            continue;
        md_log_ctx_t ctx = {md_jobdef_get(w->job)->name, -1, -1, -1};
        md_log_job(MD_LOG_WARN, &ctx, "cancelling %s for shutdown", ctx.job);
        PGcancel *c = md_daemon_request_cancel(&w->ctl, false);
        if (c == NULL)
            continue;
        work_t *cw = work_new(d, W_CANCEL, w->job, NULL);
        if (cw == NULL) {
            md_daemon_send_cancel(c);
            continue;
        }
        cw->cancel = c;
        d->in_flight++;
        if (uv_queue_work(&d->loop, &cw->req, work_cb, after_work_cb) != 0) {
            d->in_flight--;
            md_daemon_send_cancel(c);
            work_free(cw);
        }
    }
}

static void grace_cb(uv_timer_t *t) {
    md_daemon_t *d = t->data;
    md_log_warn("shutdown grace period over: cancelling running jobs (they roll back)");
    cancel_running(d);
}

static void maybe_finish(md_daemon_t *d) {
    if (!d->stopping || d->closed || d->in_flight > 0)
        return;
    d->closed = true;
    uv_handle_t *hs[] = {
        (uv_handle_t *)&d->sig_hup,        (uv_handle_t *)&d->sig_term,
        (uv_handle_t *)&d->sig_int,        (uv_handle_t *)&d->sched_timer,
        (uv_handle_t *)&d->probe_timer,    (uv_handle_t *)&d->prune_timer,
        (uv_handle_t *)&d->watchdog_timer, (uv_handle_t *)&d->grace_timer,
    };
    for (size_t i = 0; i < sizeof(hs) / sizeof(hs[0]); i++)
        close_handle(hs[i]);
    md_log_info("stopped");
}

static void begin_shutdown(md_daemon_t *d, int exit_code) {
    if (d->stopping)
        return;
    d->stopping = true;
    if (exit_code > d->exit_code)
        d->exit_code = exit_code;
    md_notify_stopping();
    uv_timer_stop(&d->sched_timer);
    uv_timer_stop(&d->probe_timer);
    uv_timer_stop(&d->prune_timer);
    /* Queued work has not started: drop it (no half-done state exists). */
    while (d->queue_head != NULL) {
        work_t *w = d->queue_head;
        d->queue_head = w->next;
        if (w->kind == W_CANCEL) {
            md_daemon_send_cancel(w->cancel);
            w->cancel = NULL;
        }
        if (w->kind == W_RUN)
            md_sched_finished(&d->sched, w->job, MD_RUN_SKIPPED, wall_ms(), mono_ms());
        work_free(w);
    }
    d->queue_tail = NULL;
    interrupt_side_work(d);
    int running = 0;
    for (int i = 0; i < MD_JOB_COUNT; i++)
        running += d->running[i] != NULL;
    if (running > 0) {
        char g[32];
        md_duration_format(d->cfg->cfg->shutdown_grace_ms, g, sizeof(g));
        md_log_info("stopping: waiting up to %s for %d running job(s)", g, running);
        uv_timer_start(&d->grace_timer, grace_cb, (uint64_t)d->cfg->cfg->shutdown_grace_ms, 0);
    } else {
        md_log_info("stopping");
    }
    update_status(d);
    maybe_finish(d);
}

static void signal_cb(uv_signal_t *s, int signum) {
    md_daemon_t *d = s->data;
    if (signum == SIGHUP) {
        if (!d->stopping)
            reload(d);
        return;
    }
    if (d->stopping) {
        /* A second TERM/INT: the operator does not want to wait out the grace. */
        md_log_warn("second stop signal: cancelling running jobs now");
        cancel_running(d);
        return;
    }
    md_log_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    begin_shutdown(d, 0);
}

/* ------------------------------------------------------------------ main */

int md_daemon_main(const char *cli_config_path) {
    md_config_t *cfg = NULL;
    bool explicit_path = false;
    const char *path = md_config_path(cli_config_path, &explicit_path);
    if (md_cli_load_config(cli_config_path, &cfg) != 0)
        return MD_EXIT_USAGE; /* bad input, as for every command but check-config */
    md_log_set_level(cfg->log_level);

    /* Each connection-holding work item needs its own thread, plus one for
     * cancel requests, which must get through while every run is busy. */
    int pool_size = cfg->pool_size < 2 ? 2 : cfg->pool_size;
    char threads[16];
    snprintf(threads, sizeof(threads), "%d", pool_size + 2);
    setenv("UV_THREADPOOL_SIZE", threads, 1);

    md_daemon_t *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        md_config_free(cfg);
        return MD_EXIT_FAILED;
    }
    d->config_path = strdup(path);
    d->config_explicit = explicit_path;
    d->cfg = cfgref_new(cfg);
    d->pool = md_pgpool_new(cfg->database_url, pool_size);
    int rc = (d->config_path && d->cfg && d->pool) ? uv_mutex_init(&d->side_mu) : UV_ENOMEM;
    if (rc == 0 && (rc = uv_loop_init(&d->loop)) != 0)
        uv_mutex_destroy(&d->side_mu);
    if (rc != 0) {
        md_log_err("cannot start: %s", uv_strerror(rc));
        if (d->cfg)
            cfgref_put(d->cfg);
        else
            md_config_free(cfg);
        md_pgpool_free(d->pool);
        free(d->config_path);
        free(d);
        return MD_EXIT_FAILED;
    }

    uv_signal_t *sigs[] = {&d->sig_hup, &d->sig_term, &d->sig_int};
    int signums[] = {SIGHUP, SIGTERM, SIGINT};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], signal_cb, signums[i]);
    }
    uv_timer_t *timers[] = {&d->sched_timer, &d->probe_timer, &d->prune_timer, &d->watchdog_timer,
                            &d->grace_timer};
    for (int i = 0; i < 5; i++) {
        uv_timer_init(&d->loop, timers[i]);
        timers[i]->data = d;
    }

    char where[512];
    md_conninfo_redact(cfg->database_url, where, sizeof(where));
    if (cfg->pool_size < 2)
        md_log_warn("database.pool_size %d is too small: a run needs two connections (work and "
                    "lock); using 2",
                    cfg->pool_size);
    md_sched_init(&d->sched);
    d->scheduled = md_sched_configure(&d->sched, cfg, wall_ms() / 1000);
    md_log_info("medalliond %s starting: config %s, database %s (from %s), pool %d, %d job(s) "
                "scheduled",
                MEDALLION_VERSION, d->config_path, cfg->database_url ? where : "(none)",
                cfg->database_url_source ? cfg->database_url_source : "-", pool_size, d->scheduled);

    uint64_t wd = md_notify_watchdog_usec();
    if (wd > 0) {
        uint64_t every = wd / 2000; /* half the interval, in ms */
        if (every == 0)
            every = 1;
        uv_timer_start(&d->watchdog_timer, watchdog_cb, every, every);
    }
    uv_timer_start(&d->prune_timer, prune_cb, PRUNE_INTERVAL_MS, PRUNE_INTERVAL_MS);
    update_status(d);
    queue_startup(d);
    arm_sched_timer(d);

    uv_run(&d->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d->loop) != 0)
        md_log_warn("event loop closed with handles still open");

    int code = d->exit_code;
    free(d->unrecorded); /* left 'running': the next start marks them interrupted */
    uv_mutex_destroy(&d->side_mu);
    cfgref_put(d->cfg);
    md_pgpool_free(d->pool);
    free(d->config_path);
    free(d);
    return code;
}
