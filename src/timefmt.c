/* ISO-8601 parsing and printing for the command line and reports. Strict about
 * what it accepts (no silent normalisation of 2026-02-30), and never consults
 * TZ or localtime(): a missing zone means UTC. */
#include "medallion/timefmt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "medallion/tz.h"

static bool digits(const char **p, int n, int *ret) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return true;
}

int md_time_parse_iso8601(const char *s, int64_t *ret) {
    if (s == NULL)
        return -EINVAL;
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return -EINVAL;
    /* Year 0 is 1 BC to ISO 8601; nothing here needs it, and "0000" is a typo */
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > md_days_in_month(y, mo))
        return -EINVAL;
    int32_t off = 0;
    if (*p != '\0') {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -EINVAL;
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            return -EINVAL;
        bool has_seconds = *p == ':'; /* hh:mm alone is ISO 8601 too */
        if (has_seconds && (p++, !digits(&p, 2, &sec)))
            return -EINVAL;
        if (h > 23 || mi > 59 || sec > 59)
            return -EINVAL;
        if (has_seconds && (*p == '.' || *p == ',')) {
            /* Dropping the fraction floors the instant, which is what a caller
             * asking "what fires after this" wants. */
            p++;
            if (*p < '0' || *p > '9')
                return -EINVAL;
            while (*p >= '0' && *p <= '9')
                p++;
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (!digits(&p, 2, &oh))
                return -EINVAL;
            if (*p == ':') {
                p++;
                if (!digits(&p, 2, &om))
                    return -EINVAL;
            } else if (*p >= '0' && *p <= '9') {
                if (!digits(&p, 2, &om))
                    return -EINVAL;
            }
            if (oh > 23 || om > 59)
                return -EINVAL;
            off = sign * (oh * 3600 + om * 60);
        }
        if (*p != '\0')
            return -EINVAL;
    }
    *ret = md_seconds_from_civil(y, mo, d, h, mi, sec) - off;
    return 0;
}

const char *md_time_format_iso8601(int64_t t, char buf[21]) {
    const int64_t lo = -62167219200LL; /* 0000-01-01T00:00:00Z */
    const int64_t hi = 253402300799LL; /* 9999-12-31T23:59:59Z */
    if (t < lo)
        t = lo;
    if (t > hi)
        t = hi;
    md_civil_t c;
    md_civil_from_seconds(t, &c);
    /* Unsigned and reduced so the compiler can prove the 20 characters fit. */
    snprintf(buf, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned)c.year % 10000u,
             (unsigned)c.month % 100u, (unsigned)c.day % 100u, (unsigned)c.hour % 100u,
             (unsigned)c.min % 100u, (unsigned)c.sec % 100u);
    return buf;
}
