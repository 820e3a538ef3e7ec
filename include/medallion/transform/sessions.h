/* The session rule of product.md §4 "Sessions" as a pure state machine: one
 * key's valid events in, sessions out. No I/O, no allocation; it never sorts
 * (the caller fetches rows ORDER BY created_at, id) and never guesses a key. */
#ifndef MEDALLION_TRANSFORM_SESSIONS_H
#define MEDALLION_TRANSFORM_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/types.h"

/* Which column the key came from; part of the session id so that a user id and
 * a client session id with the same text never collide. */
typedef enum md_session_key_kind {
    MD_SESSION_KEY_USER = 'u',   /* key = user_id in canonical lower-case uuid text */
    MD_SESSION_KEY_CLIENT = 'c', /* key = the client's session_id (user_id was NULL) */
} md_session_key_kind_t;

typedef struct md_session_event {
    int64_t id;
    md_ts_t created_at; /* never MD_TS_NULL: only valid events are sessionized */
    md_str_t event_type;
    md_str_t page; /* properties->>'page' when it is a JSON string, else NULL */
} md_session_event_t;

typedef struct md_session_rules {
    int64_t gap_us;        /* a gap >= this starts a new session (default 30 min) */
    int64_t max_length_us; /* created_at - start >= this starts one too (default 24 h) */
} md_session_rules_t;

#define MD_SESSION_ID_LEN 32 /* hex of the first 16 bytes of SHA-256 */

typedef struct md_session {
    char session_id[MD_SESSION_ID_LEN + 1];
    md_ts_t started_at, ended_at;
    int64_t duration_seconds; /* floor((ended_at - started_at) / 1 s) */
    int32_t event_count;
    md_str_t entry_event_type, exit_event_type; /* borrow the events' bytes */
    md_str_t entry_page, exit_page;
} md_session_t;

/* Deterministic id: lower hex of SHA-256(kind byte, key length as 4 bytes
 * big-endian, key bytes, started_at µs as 8 bytes big-endian)[0..16). */
void md_session_id(md_session_key_kind_t kind, md_str_t key, md_ts_t started_at,
                   char out[MD_SESSION_ID_LEN + 1]);

/* Cut events[0..n) into sessions. out needs room for n sessions at most
 * (out_cap >= n always suffices). Returns 0 and the count, -EINVAL when the
 * input is not sorted by (created_at, id), holds a NULL/infinite timestamp, the
 * rules are not positive, or the key is NULL; -ENOSPC when out_cap is too
 * small. ret_count is untouched on failure. */
int md_sessionize(md_session_key_kind_t kind, md_str_t key, const md_session_event_t *events,
                  size_t n, const md_session_rules_t *rules, md_session_t *out, size_t out_cap,
                  size_t *ret_count) MD_MUST_CHECK;

#endif
