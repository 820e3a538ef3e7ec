/* Validation codes of the silver jobs (events, API logs, user actions) and
 * the small fixed list a transform fills. Codes are stable API: they land in
 * validation_errors text[] and dashboards filter on them; never rename one. */
#ifndef MEDALLION_TRANSFORM_CODES_H
#define MEDALLION_TRANSFORM_CODES_H

#include <stdbool.h>

#include "medallion/types.h"

/* Shared by events, API logs and user actions. */
#define MD_CODE_MISSING_CREATED_AT "missing_created_at"
#define MD_CODE_FUTURE_TIMESTAMP "future_timestamp"
#define MD_CODE_TIMESTAMP_BEFORE_2000 "timestamp_before_2000"

/* Events. */
#define MD_CODE_MISSING_EVENT_TYPE "missing_event_type"
/* A session_id longer than MD_TEXT_INDEXED_MAX bytes: stored as NULL
 * (the row then scores as having no session). Warning only. */
#define MD_CODE_SESSION_ID_TOO_LONG "session_id_too_long"

/* Longest text a silver column that is indexed may hold: B-tree entries are
 * limited to about 2.7 kB, and one over-long value would otherwise fail its
 * whole batch, and every retry of it, for good. */
#define MD_TEXT_INDEXED_MAX 1024

/* User actions. */
#define MD_CODE_MISSING_USER_ID "missing_user_id"
#define MD_CODE_MISSING_ACTION "missing_action"
#define MD_CODE_MISSING_ENTITY_TYPE "missing_entity_type"

/* API logs. */
#define MD_CODE_METHOD_MISSING "method_missing"
#define MD_CODE_METHOD_INVALID "method_invalid"
#define MD_CODE_PATH_MISSING "path_missing"
#define MD_CODE_PATH_INVALID "path_invalid"
#define MD_CODE_STATUS_CODE_MISSING "status_code_missing"
#define MD_CODE_STATUS_CODE_OUT_OF_RANGE "status_code_out_of_range"
#define MD_CODE_RESPONSE_TIME_MISSING "response_time_missing"
#define MD_CODE_RESPONSE_TIME_NEGATIVE "response_time_negative"
#define MD_CODE_RESPONSE_TIME_OUT_OF_RANGE "response_time_out_of_range"
#define MD_CODE_IP_ADDRESS_INVALID "ip_address_invalid"     /* warning only */
#define MD_CODE_USER_AGENT_TRUNCATED "user_agent_truncated" /* warning only */

/* 2000-01-01T00:00:00Z in microseconds since the Unix epoch. */
#define MD_TS_2000 MD_PG_EPOCH_OFFSET_USEC
/* How far created_at may lie after ingested_at (clock skew allowance). */
#define MD_FUTURE_TOLERANCE_USEC (INT64_C(86400) * MD_USEC_PER_SEC)

/* More than any table can produce (API logs: 7); md_codes_add drops extras
 * rather than overflow. */
#define MD_CODES_MAX 12

typedef struct md_codes {
    const char *code[MD_CODES_MAX]; /* static strings, never freed */
    int count;
} md_codes_t;

static inline void md_codes_clear(md_codes_t *c) {
    c->count = 0;
}
void md_codes_add(md_codes_t *c, const char *code);
bool md_codes_has(const md_codes_t *c, const char *code);

/* The created_at rules, relative to ingestion (never now(), so a re-run gives
 * the same answer): NULL → missing_created_at; more than 24 h after
 * ingested_at → future_timestamp; before 2000-01-01 → timestamp_before_2000
 * when check_before_2000. +infinity counts as future, -infinity as before
 * 2000. A NULL or infinite ingested_at skips the future check (bronze makes
 * it NOT NULL; this only keeps a corrupt row from tripping arithmetic). */
void md_codes_check_created_at(md_codes_t *c, md_ts_t created_at, md_ts_t ingested_at,
                               bool check_before_2000);

#endif
