/* Cron expressions (product.md §5): 5 fields or 6 with leading seconds, lists,
 * ranges, steps, names, macros, `@every DURATION`; Vixie cron's day rule.
 * The next fire time is computed, never polled. Pure: no libuv, no libpq. */
#ifndef MEDALLION_CRON_H
#define MEDALLION_CRON_H

#include <stdbool.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/tz.h"

typedef struct md_cron md_cron_t;

/* On failure ret_err->msg names the bad field, e.g.
 * "bad cron expression \"*\/0 * * * *\": minute field \"*\/0\": step must be >= 1".
 * An expression whose day fields match no date ("0 0 30 2 *") is bad too. */
int md_cron_parse(const char *expr, md_cron_t **ret_cron, md_error_t *ret_err) MD_MUST_CHECK;
void md_cron_free(md_cron_t *cron);
const char *md_cron_text(const md_cron_t *cron);

/* Next fire time strictly after `after` (UTC seconds), in zone tz (NULL = UTC).
 * DST as systemd timers: a local time that does not exist is skipped, one that
 * occurs twice fires once (the first occurrence). `@every` ignores tz and
 * fires at whole multiples of the interval since the epoch.
 * -ERANGE only past the end of year 9999 (a parsed expression fires at least
 * once in any 400 years, the Gregorian cycle). */
int md_cron_next(const md_cron_t *cron, const md_tz_t *tz, int64_t after,
                 int64_t *ret_next) MD_MUST_CHECK;

/* Latest fire time at or before `at` (for catch-up after downtime); -ERANGE
 * only before year 1. */
int md_cron_prev(const md_cron_t *cron, const md_tz_t *tz, int64_t at,
                 int64_t *ret_prev) MD_MUST_CHECK;

/* `@every` interval in seconds, or 0 for calendar expressions. */
int64_t md_cron_every_seconds(const md_cron_t *cron);

#endif
