/* ISO-8601 instants on the command line and in output: parse what operators
 * type, print one fixed UTC form. Pure; never consults the process time zone. */
#ifndef MEDALLION_TIMEFMT_H
#define MEDALLION_TIMEFMT_H

#include <stdint.h>

#include "medallion/error.h"

/* Parse "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SS" or "YYYY-MM-DD HH:MM:SS" with an
 * optional ".fraction" (dropped) and an optional zone "Z", "+HH", "+HH:MM" or
 * "+HHMM" (either sign); no zone means UTC. Into UTC seconds since the epoch;
 * -EINVAL on anything else, including impossible dates like 2026-02-30. */
int md_time_parse_iso8601(const char *s, int64_t *ret) MD_MUST_CHECK;

/* "YYYY-MM-DDTHH:MM:SSZ" (20 chars + NUL) into buf, which it returns. Instants
 * outside years 0000-9999 are clamped to those bounds. */
const char *md_time_format_iso8601(int64_t t, char buf[21]);

#endif
