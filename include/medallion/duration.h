/* Durations as written in the config and in `@every`: "30s", "5m", "1h", "14d",
 * also "1h30m" and "250ms". Pure. */
#ifndef MEDALLION_DURATION_H
#define MEDALLION_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"

/* Parse into milliseconds. Units: ms s m h d w. A bare number is rejected
 * (-EINVAL) so "5" never silently means 5 ms or 5 s; zero and overflow are
 * -EINVAL / -ERANGE. */
int md_duration_parse_ms(const char *s, int64_t *ret_ms) MD_MUST_CHECK;
/* Format like "5m", "1h30m", "250ms" into buf. */
void md_duration_format(int64_t ms, char *buf, size_t len);

#endif
