/* Value types shared by the COPY codec and the pure transforms, so a decoded
 * bronze row can be handed to a transform without conversion. */
#ifndef MEDALLION_TYPES_H
#define MEDALLION_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Timestamps: microseconds since 1970-01-01T00:00:00Z (timestamptz).
 * MD_TS_NULL marks SQL NULL; PostgreSQL's ±infinity map to MD_TS_NEG_INF/MD_TS_POS_INF. */
typedef int64_t md_ts_t;
#define MD_TS_NULL INT64_MIN
#define MD_TS_NEG_INF (INT64_MIN + 1)
#define MD_TS_POS_INF INT64_MAX
#define MD_USEC_PER_SEC INT64_C(1000000)
/* Years 1..9999 UTC: where every calendar computation (local days, SQL's AT
 * TIME ZONE, interval arithmetic) is safe. Bronze may hold anything else
 * (±infinity included); such instants never get a day. */
#define MD_TS_CALENDAR_MIN (INT64_C(-62135596800) * MD_USEC_PER_SEC)
#define MD_TS_CALENDAR_MAX (INT64_C(253402300799) * MD_USEC_PER_SEC + 999999)
static inline bool md_ts_in_calendar(md_ts_t t) {
    return t >= MD_TS_CALENDAR_MIN && t <= MD_TS_CALENDAR_MAX;
}
/* Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
#define MD_PG_EPOCH_OFFSET_USEC INT64_C(946684800000000)

typedef struct md_uuid {
    bool present; /* false = SQL NULL */
    uint8_t b[16];
} md_uuid_t;

/* A text value that borrows its bytes (from a COPY buffer or a literal).
 * ptr == NULL means SQL NULL; len excludes any terminator. */
typedef struct md_str {
    const char *ptr;
    size_t len;
} md_str_t;

#define MD_STR_NULL ((md_str_t){NULL, 0})
static inline bool md_str_is_null(md_str_t s) {
    return s.ptr == NULL;
}

/* Format as 8-4-4-4-12 lower-case hex into buf[37]. */
void md_uuid_format(const md_uuid_t *u, char buf[37]);
/* Parse the canonical form (also accepts upper case and braces); 0 or -EINVAL. */
int md_uuid_parse(const char *s, size_t len, md_uuid_t *ret);

#endif
