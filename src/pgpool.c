/* Connection pool: pool_size slots, connections opened lazily on the worker
 * that needs them, health-checked before each use, reopened with exponential
 * backoff plus jitter. Up/down transitions are recorded for the daemon to log
 * once; this module never logs, and never holds its mutex across network I/O. */
#include "medallion/pgpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "medallion/pg.h"

struct md_pgslot {
    PGconn *conn;         /* touched only by the thread holding the slot */
    bool in_use;          /* loop thread only */
    bool discard;         /* close before the next use */
    int64_t last_used_ms; /* monotonic */
};

struct md_pgpool {
    char *conninfo;
    int size;
    md_pgslot_t *slots;
    int available;

    pthread_mutex_t mu; /* guards everything below */
    md_pgpool_state_t state;
    bool changed; /* state changed since the last poll */
    int failures; /* consecutive failed connects */
    int64_t next_attempt_ms;
    uint64_t rng;
    char last_error[512];
};

static int64_t mono_ms(void) {
    return (int64_t)(uv_hrtime() / 1000000u);
}

int64_t md_pgpool_backoff_ms(int failures, double jitter01) {
    if (failures < 1)
        failures = 1;
    int64_t ms = MD_PGPOOL_BACKOFF_BASE_MS;
    for (int i = 1; i < failures && ms < MD_PGPOOL_BACKOFF_CAP_MS; i++)
        ms *= 2;
    if (ms > MD_PGPOOL_BACKOFF_CAP_MS)
        ms = MD_PGPOOL_BACKOFF_CAP_MS;
    if (jitter01 < 0)
        jitter01 = 0;
    if (jitter01 > 1)
        jitter01 = 1;
    /* Jitter keeps several daemons (HA) from reconnecting in lockstep. */
    return (int64_t)((double)ms * (0.5 + 0.5 * jitter01));
}

md_pgpool_t *md_pgpool_new(const char *conninfo, int size) {
    if (size < 1)
        size = 1;
    md_pgpool_t *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return NULL;
    pool->conninfo = conninfo ? strdup(conninfo) : strdup("");
    pool->slots = calloc((size_t)size, sizeof(md_pgslot_t));
    if (pool->conninfo == NULL || pool->slots == NULL || pthread_mutex_init(&pool->mu, NULL) != 0) {
        free(pool->conninfo);
        free(pool->slots);
        free(pool);
        return NULL;
    }
    pool->size = size;
    pool->available = size;
    pool->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    return pool;
}

void md_pgpool_free(md_pgpool_t *pool) {
    if (pool == NULL)
        return;
    for (int i = 0; i < pool->size; i++)
        if (pool->slots[i].conn != NULL)
            PQfinish(pool->slots[i].conn);
    pthread_mutex_destroy(&pool->mu);
    free(pool->slots);
    free(pool->conninfo);
    free(pool);
}

int md_pgpool_size(const md_pgpool_t *pool) {
    return pool->size;
}

int md_pgpool_available(const md_pgpool_t *pool) {
    return pool->available;
}

int md_pgpool_acquire(md_pgpool_t *pool, md_pgslot_t **ret_slot) {
    /* Prefer a slot with an open connection: fewer connects, and idle
     * connections past the pool's need simply stay closed. */
    md_pgslot_t *pick = NULL;
    for (int i = 0; i < pool->size; i++) {
        md_pgslot_t *s = &pool->slots[i];
        if (s->in_use)
            continue;
        if (pick == NULL || (pick->conn == NULL && s->conn != NULL))
            pick = s;
    }
    if (pick == NULL)
        return -EAGAIN;
    pick->in_use = true;
    pool->available--;
    *ret_slot = pick;
    return 0;
}

void md_pgpool_release(md_pgpool_t *pool, md_pgslot_t *slot, bool discard) {
    if (slot == NULL || !slot->in_use)
        return;
    if (discard)
        slot->discard = true;
    slot->in_use = false;
    pool->available++;
}

static double next_jitter(md_pgpool_t *pool) {
    /* xorshift64*: jitter needs spread, not cryptographic quality */
    pool->rng ^= pool->rng >> 12;
    pool->rng ^= pool->rng << 25;
    pool->rng ^= pool->rng >> 27;
    uint64_t r = pool->rng * 0x2545F4914F6CDD1DULL;
    return (double)(r >> 11) / (double)(1ULL << 53);
}

static void set_state(md_pgpool_t *pool, md_pgpool_state_t st) {
    if (pool->state != st) {
        pool->state = st;
        pool->changed = true;
    }
}

static void mark_down(md_pgpool_t *pool, const char *msg) {
    pthread_mutex_lock(&pool->mu);
    pool->failures++;
    pool->next_attempt_ms = mono_ms() + md_pgpool_backoff_ms(pool->failures, next_jitter(pool));
    snprintf(pool->last_error, sizeof(pool->last_error), "%s", msg ? msg : "connection lost");
    set_state(pool, MD_PGPOOL_DOWN);
    pthread_mutex_unlock(&pool->mu);
}

static void mark_up(md_pgpool_t *pool) {
    pthread_mutex_lock(&pool->mu);
    pool->failures = 0;
    pool->next_attempt_ms = 0;
    set_state(pool, MD_PGPOOL_UP);
    pthread_mutex_unlock(&pool->mu);
}

/* Cheap checks first (status, pending input such as a FATAL from a server
 * shutting down); a round trip only when the connection sat idle long enough
 * for a NAT or the server to have dropped it silently. */
static bool healthy(md_pgslot_t *slot, int64_t now) {
    PGconn *c = slot->conn;
    if (slot->discard || PQstatus(c) != CONNECTION_OK)
        return false;
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        return false; /* someone left a transaction open: never reuse that */
    if (!md_pg_conn_alive(c))
        return false;
    PGnotify *n;
    while ((n = PQnotifies(c)) != NULL)
        PQfreemem(n);
    if (now - slot->last_used_ms > MD_PGPOOL_IDLE_CHECK_MS) {
        PGresult *res = PQexec(c, "SELECT 1");
        bool ok = res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK;
        PQclear(res);
        if (!ok)
            return false;
    }
    return true;
}

int md_pgpool_conn(md_pgpool_t *pool, md_pgslot_t *slot, PGconn **ret_conn, md_error_t *ret_err) {
    int64_t now = mono_ms();
    if (slot->conn != NULL) {
        if (healthy(slot, now)) {
            slot->last_used_ms = now;
            *ret_conn = slot->conn;
            return 0;
        }
        /* A stale connection (server restarted, backend terminated) says
         * nothing about the server now: the connect below decides up/down. */
        PQfinish(slot->conn);
        slot->conn = NULL;
    }
    slot->discard = false;

    pthread_mutex_lock(&pool->mu);
    int64_t wait = pool->state == MD_PGPOOL_DOWN ? pool->next_attempt_ms - now : 0;
    char last[sizeof(pool->last_error)];
    snprintf(last, sizeof(last), "%s", pool->last_error);
    pthread_mutex_unlock(&pool->mu);
    if (wait > 0)
        return md_error_set(ret_err, -EAGAIN, "database unreachable (next attempt in %lld ms): %s",
                            (long long)wait, last);

    md_error_t err = {0};
    PGconn *conn = NULL;
    if (md_pg_connect(pool->conninfo, &conn, &err) != 0) {
        mark_down(pool, err.msg);
        if (ret_err != NULL)
            *ret_err = err;
        return err.code ? err.code : -ECONNREFUSED;
    }
    mark_up(pool);
    slot->conn = conn;
    slot->last_used_ms = mono_ms();
    *ret_conn = conn;
    return 0;
}

md_pgpool_state_t md_pgpool_state(md_pgpool_t *pool) {
    pthread_mutex_lock(&pool->mu);
    md_pgpool_state_t st = pool->state;
    pthread_mutex_unlock(&pool->mu);
    return st;
}

int64_t md_pgpool_next_attempt_mono_ms(md_pgpool_t *pool) {
    pthread_mutex_lock(&pool->mu);
    int64_t t = pool->state == MD_PGPOOL_DOWN ? pool->next_attempt_ms : 0;
    pthread_mutex_unlock(&pool->mu);
    return t;
}

int md_pgpool_poll_change(md_pgpool_t *pool, md_pgpool_state_t *ret_state, char *msg, size_t len) {
    pthread_mutex_lock(&pool->mu);
    int changed = pool->changed ? 1 : 0;
    if (changed) {
        pool->changed = false;
        *ret_state = pool->state;
        if (msg != NULL && len > 0)
            snprintf(msg, len, "%s", pool->state == MD_PGPOOL_DOWN ? pool->last_error : "");
    }
    pthread_mutex_unlock(&pool->mu);
    return changed;
}
