/* user_actions_raw → user_actions_clean for one row: validate, standardize,
 * and compute the dedup key that lets the job drop exact retries. Pure: no
 * clock, no I/O. */
#ifndef MEDALLION_TRANSFORM_USER_ACTIONS_H
#define MEDALLION_TRANSFORM_USER_ACTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/transform/arena.h"
#include "medallion/transform/codes.h"
#include "medallion/transform/sha256.h"
#include "medallion/types.h"

typedef struct md_user_action_in {
    int64_t id;
    md_uuid_t user_id;
    md_str_t action;
    md_str_t entity_type;
    md_str_t entity_id;
    md_str_t properties; /* jsonb as text */
    md_str_t source;
    md_ts_t created_at;
    md_ts_t ingested_at;
} md_user_action_in_t;

/* Strings borrow from the input row or the arena: valid while both are. */
typedef struct md_user_action_out {
    int64_t id;
    md_uuid_t user_id;
    md_str_t action;      /* snake_case; NULL when missing */
    md_str_t entity_type; /* snake_case; NULL when missing */
    md_str_t entity_id;   /* trimmed; NULL stays NULL, "" stays "" */
    md_str_t properties;  /* passed through */
    md_str_t source;      /* trimmed, lower-case; empty → NULL */
    md_ts_t created_at;
    md_ts_t ingested_at;
    bool is_valid; /* == (errors.count == 0) */
    md_codes_t errors;
    /* SHA-256 over a length-prefixed encoding of (user_id, action,
     * entity_type, entity_id, created_at, properties) after standardization:
     * always set, invalid rows included. The first 16 bytes suit md_keyset. */
    uint8_t dedup_digest[MD_SHA256_DIGEST_LEN];
    md_str_t dedup_key; /* 64 lower-case hex chars, in the arena */
} md_user_action_out_t;

/* 0, or -ENOMEM (then *ret is untouched). */
int md_user_action_transform(const md_user_action_in_t *in, md_arena_t *arena,
                             md_user_action_out_t *ret) MD_MUST_CHECK;

#endif
