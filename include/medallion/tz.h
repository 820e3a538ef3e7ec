/* IANA time zones read straight from compiled TZif files (RFC 8536), because
 * glibc only offers the process-wide TZ variable, which is neither per-job nor
 * thread-safe. Pure: no libuv, no libpq, never touches TZ or tzset(). */
#ifndef MEDALLION_TZ_H
#define MEDALLION_TZ_H

#include <stdint.h>

#include "medallion/error.h"

typedef struct md_tz md_tz_t;

/* Load a zone by IANA name ("UTC", "Europe/Berlin"). Files are searched under
 * $TZDIR, else /usr/share/zoneinfo. "UTC"/"Etc/UTC"/"Z" work without files.
 * Names with "..", a leading '/' or characters outside [A-Za-z0-9/_+-] are
 * rejected (-EINVAL); a missing zone is -ENOENT. */
int md_tz_load(const char *name, md_tz_t **ret_tz, md_error_t *ret_err) MD_MUST_CHECK;
void md_tz_free(md_tz_t *tz);
const char *md_tz_name(const md_tz_t *tz); /* NULL tz means UTC everywhere below */

/* Offset in seconds east of UTC in force at the UTC instant t. */
int32_t md_tz_offset_at(const md_tz_t *tz, int64_t t_utc);

/* Local wall-clock seconds ("seconds since 1970-01-01 00:00 local") at UTC t. */
int64_t md_tz_utc_to_local(const md_tz_t *tz, int64_t t_utc);

/* The UTC instants that show local wall time `local`: 0 (spring-forward gap),
 * 1, or 2 (fall-back repeat; earlier instant first). Returns the count. */
int md_tz_local_to_utc(const md_tz_t *tz, int64_t local, int64_t ret_utc[2]);

/* Calendar helpers on "seconds since epoch" of any clock (UTC or local). */
typedef struct md_civil {
    int year, month, day; /* month 1-12, day 1-31 */
    int hour, min, sec;
    int wday; /* 0 = Sunday */
} md_civil_t;
void md_civil_from_seconds(int64_t s, md_civil_t *ret);
int64_t md_seconds_from_civil(int year, int month, int day, int hour, int min, int sec);
int64_t md_days_from_civil(int year, int month, int day); /* days since 1970-01-01 */
int md_days_in_month(int year, int month);

#endif
