/* A fixed set of PostgreSQL connections shared by the daemon's runs: opened
 * lazily, checked before use, reopened with exponential backoff and jitter
 * while the server is away. Slots are taken and returned on the loop thread;
 * a slot's connection is opened and checked on the worker that holds it.
 * Never logs: the daemon polls state changes and logs each one once. */
#ifndef MEDALLION_PGPOOL_H
#define MEDALLION_PGPOOL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"

/* Reconnect backoff: 1 s doubling to 60 s, each delay scaled by a jitter in [0.5, 1]. */
#define MD_PGPOOL_BACKOFF_BASE_MS 1000
#define MD_PGPOOL_BACKOFF_CAP_MS 60000
/* A connection idle longer than this is probed with a query before use. */
#define MD_PGPOOL_IDLE_CHECK_MS 30000

typedef struct md_pgpool md_pgpool_t;
typedef struct md_pgslot md_pgslot_t;

typedef enum md_pgpool_state {
    MD_PGPOOL_UNKNOWN = 0, /* nothing tried yet */
    MD_PGPOOL_UP,
    MD_PGPOOL_DOWN,
} md_pgpool_state_t;

/* NULL only when out of memory. The conninfo is copied. */
md_pgpool_t *md_pgpool_new(const char *conninfo, int size);
/* Closes every connection; all slots must have been released. Accepts NULL. */
void md_pgpool_free(md_pgpool_t *pool);

int md_pgpool_size(const md_pgpool_t *pool);
/* Loop thread: slots not taken. */
int md_pgpool_available(const md_pgpool_t *pool);
/* Loop thread: take a free slot; -EAGAIN when none is free. */
int md_pgpool_acquire(md_pgpool_t *pool, md_pgslot_t **ret_slot) MD_MUST_CHECK;
/* Loop thread: give a slot back. With discard, its connection is closed before
 * the next use (it failed mid-run or was left in a transaction). */
void md_pgpool_release(md_pgpool_t *pool, md_pgslot_t *slot, bool discard);

/* Worker thread: a healthy, idle connection for the slot, opening or
 * reopening it as needed. While the server is down and the backoff has not
 * elapsed, fails at once with -EAGAIN instead of trying (so ticks do not
 * hammer a dead server). The connection stays owned by the slot. */
int md_pgpool_conn(md_pgpool_t *pool, md_pgslot_t *slot, PGconn **ret_conn,
                   md_error_t *ret_err) MD_MUST_CHECK;

/* Any thread: the current state. */
md_pgpool_state_t md_pgpool_state(md_pgpool_t *pool);
/* Any thread: monotonic ms (uv_hrtime scale) before which no reconnect is
 * tried; 0 when one may be tried now. */
int64_t md_pgpool_next_attempt_mono_ms(md_pgpool_t *pool);
/* Loop thread: 1 when the state changed since the previous call (then
 * *ret_state and, for DOWN, the last error in msg), else 0. */
int md_pgpool_poll_change(md_pgpool_t *pool, md_pgpool_state_t *ret_state, char *msg, size_t len);

/* Pure: delay before reconnect attempt after `failures` consecutive failures
 * (>= 1), with jitter01 in [0, 1] mapping to a factor in [0.5, 1]. */
int64_t md_pgpool_backoff_ms(int failures, double jitter01);

#endif
