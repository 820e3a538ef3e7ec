/* events_raw → events_clean for one row (product.md §4 "Events"): validate,
 * standardize event_type/source/session_id, score quality. Pure: no clock,
 * no I/O; duplicate removal by event_id is the job's (see keyset.h). */
#ifndef MEDALLION_TRANSFORM_EVENTS_H
#define MEDALLION_TRANSFORM_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/transform/arena.h"
#include "medallion/transform/codes.h"
#include "medallion/types.h"

/* One decoded bronze row. Strings are borrowed; ptr == NULL is SQL NULL. */
typedef struct md_event_in {
    int64_t id;
    md_uuid_t event_id;
    md_str_t event_type;
    md_uuid_t user_id;
    md_str_t session_id;
    md_str_t properties; /* jsonb as text */
    md_str_t source;
    md_ts_t created_at;
    md_ts_t ingested_at;
} md_event_in_t;

/* The silver values. Strings borrow from the input row or from the arena:
 * valid while both are. */
typedef struct md_event_out {
    int64_t id;
    md_uuid_t event_id;  /* passed through */
    md_str_t event_type; /* snake_case; NULL when missing */
    md_uuid_t user_id;
    md_str_t session_id; /* trimmed; empty → NULL */
    md_str_t properties; /* passed through unchanged */
    md_str_t source;     /* trimmed, lower-case; empty → NULL */
    md_ts_t created_at;
    md_ts_t ingested_at;
    bool is_valid;     /* == (errors.count == 0) */
    int quality_score; /* hundredths: 0, 50, 70 or 100 (numeric(3,2) 0.00..1.00) */
    md_codes_t errors; /* missing_event_type, missing_created_at, future_timestamp,
                          timestamp_before_2000 */
} md_event_out_t;

/* Fill *ret from *in. 0, or -ENOMEM when the arena cannot grow (then *ret is
 * untouched). Any bytes in any field are safe. */
int md_event_transform(const md_event_in_t *in, md_arena_t *arena,
                       md_event_out_t *ret) MD_MUST_CHECK;

#endif
