/* Durations as people write them in the config and in `@every`: "30s", "1h30m",
 * "250ms", "14d". Pure parsing and formatting; never guesses a unit for a bare
 * number, and never accepts a zero or overflowing value. */
#include "medallion/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct unit {
    const char *name;
    int64_t ms;
} unit_t;

/* Largest first: a string must list its units in this order, each at most once,
 * so "30m1h" or "1m1m" are caught as typos rather than summed. */
static const unit_t units[] = {
    {"w", 7 * 86400000LL}, {"d", 86400000LL}, {"h", 3600000LL},
    {"m", 60000LL},        {"s", 1000LL},     {"ms", 1LL},
};
#define NUNITS (sizeof(units) / sizeof(units[0]))

int md_duration_parse_ms(const char *s, int64_t *ret_ms) {
    if (s == NULL || *s == '\0')
        return -EINVAL;
    int64_t total = 0;
    size_t next_unit = 0; /* units before this index are used up */
    const char *p = s;
    while (*p != '\0') {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int64_t n = 0;
        bool big = false;
        while (*p >= '0' && *p <= '9') {
            int d = *p - '0';
            if (n > (INT64_MAX - d) / 10)
                big = true;
            else
                n = n * 10 + d;
            p++;
        }
        size_t ulen = 0;
        while ((p[ulen] >= 'a' && p[ulen] <= 'z') || (p[ulen] >= 'A' && p[ulen] <= 'Z'))
            ulen++;
        if (ulen == 0)
            return -EINVAL; /* bare number */
        size_t u;
        for (u = 0; u < NUNITS; u++)
            if (strlen(units[u].name) == ulen && strncmp(units[u].name, p, ulen) == 0)
                break;
        if (u == NUNITS || u < next_unit)
            return -EINVAL;
        next_unit = u + 1;
        p += ulen;
        if (big || n > (INT64_MAX - total) / units[u].ms)
            return -ERANGE;
        total += n * units[u].ms;
    }
    if (total == 0)
        return -EINVAL;
    *ret_ms = total;
    return 0;
}

void md_duration_format(int64_t ms, char *buf, size_t len) {
    if (buf == NULL || len == 0)
        return;
    buf[0] = '\0';
    if (ms == 0) {
        snprintf(buf, len, "0s");
        return;
    }
    size_t pos = 0;
    uint64_t v = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
    if (ms < 0)
        pos += (size_t)snprintf(buf, len, "-");
    /* Weeks are left out on purpose: "14d" reads better than "2w". */
    for (size_t u = 1; u < NUNITS && pos < len; u++) {
        uint64_t q = v / (uint64_t)units[u].ms;
        if (q == 0)
            continue;
        v -= q * (uint64_t)units[u].ms;
        pos +=
            (size_t)snprintf(buf + pos, len - pos, "%llu%s", (unsigned long long)q, units[u].name);
    }
}
