/* Cron expressions → bitsets, and the next/previous fire time computed by jumping
 * field by field through local wall time of the job's zone (product.md §5).
 * Pure: no libuv, no libpq, no logging; never polls minute by minute. */
#include "medallion/cron.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "medallion/duration.h"

/* The Gregorian calendar repeats every 400 years (146097 days, a whole number
 * of weeks): an expression that matches no date in 400 years never fires, and
 * one that does fires within any 400-year window (February 29 restricted to
 * Sundays fires only every 28 years or more). A day of margin. */
#define CRON_HORIZON ((146097LL + 1) * 86400)
/* 2000-01-01T00:00:00Z, where parsing checks that a date matches at all. */
#define CRON_CYCLE_START 946684800LL
/* Years 1..9999: keeps every calendar computation far from overflow. */
#define CRON_MIN_T (-62135596800LL)
#define CRON_MAX_T (253402300799LL)

struct md_cron {
    char *text;
    int64_t every;                          /* seconds; 0 for calendar expressions */
    uint64_t sec, min, hour, dom, mon, dow; /* bit n = value n */
    bool dom_restricted, dow_restricted;
};

typedef struct field_spec {
    const char *name;
    int lo, hi;
    const char *const *names; /* 3-letter names for values lo.., or NULL */
} field_spec_t;

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

enum { F_SEC, F_MIN, F_HOUR, F_DOM, F_MON, F_DOW };
static const field_spec_t fields[] = {
    [F_SEC] = {"second", 0, 59, NULL},
    [F_MIN] = {"minute", 0, 59, NULL},
    [F_HOUR] = {"hour", 0, 23, NULL},
    [F_DOM] = {"day-of-month", 1, 31, NULL},
    [F_MON] = {"month", 1, 12, month_names},
    /* 7 is accepted as Sunday and folded onto 0 after parsing. */
    [F_DOW] = {"day-of-week", 0, 7, dow_names},
};

static const struct {
    const char *name;
    const char *expr;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* ---- parsing -------------------------------------------------------------- */

typedef struct parse_err {
    char why[256];
} parse_err_t;

static bool fail(parse_err_t *e, const char *fmt, ...) MD_PRINTF(2, 3);
static bool fail(parse_err_t *e, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof(e->why), fmt, ap);
    va_end(ap);
    return false;
}

/* One value token [s, end): a number or, where the field has them, a name. */
static bool parse_value(const field_spec_t *f, const char *s, const char *end, int *ret,
                        bool *ret_is_name, parse_err_t *e) {
    int len = (int)(end - s);
    if (len == 0)
        return fail(e, "missing value");
    if (s[0] >= '0' && s[0] <= '9') {
        long v = 0;
        for (const char *p = s; p < end; p++) {
            if (*p < '0' || *p > '9')
                return fail(e, "bad value \"%.*s\"", len, s);
            if (v < 100000)
                v = v * 10 + (*p - '0');
        }
        if (v < f->lo || v > f->hi)
            return fail(e, "value %.*s out of range %d-%d", len, s, f->lo, f->hi);
        *ret = (int)v;
        *ret_is_name = false;
        return true;
    }
    if (f->names != NULL && len == 3) {
        for (int i = 0; f->names[i] != NULL; i++)
            if (strncasecmp(f->names[i], s, 3) == 0) {
                *ret = f->lo + i;
                *ret_is_name = true;
                return true;
            }
    }
    if ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) {
        if (f->names == NULL)
            return fail(e, "names are not allowed here, got \"%.*s\"", len, s);
        return fail(e, "unknown name \"%.*s\"", len, s);
    }
    return fail(e, "bad value \"%.*s\"", len, s);
}

/* One comma-separated item [s, end): "*", "N", "A-B", each optionally "/STEP". */
static bool parse_item(const field_spec_t *f, bool is_dow, const char *s, const char *end,
                       uint64_t *bits, parse_err_t *e) {
    if (s == end)
        return fail(e, "empty list item");
    const char *slash = memchr(s, '/', (size_t)(end - s));
    const char *base_end = slash ? slash : end;
    int top = is_dow ? 6 : f->hi; /* "*" in day-of-week means 0-6 */
    int lo, hi;
    bool is_name;
    if (base_end - s == 1 && *s == '*') {
        lo = f->lo;
        hi = top;
    } else {
        const char *dash = memchr(s, '-', (size_t)(base_end - s));
        if (dash != NULL) {
            if (dash == s || dash + 1 == base_end)
                return fail(e, "bad range");
            bool hi_is_name;
            if (!parse_value(f, s, dash, &lo, &is_name, e) ||
                !parse_value(f, dash + 1, base_end, &hi, &hi_is_name, e))
                return false;
            if (is_dow && hi_is_name && hi == 0 && lo > 0)
                hi = 7; /* "FRI-SUN" ends on Sunday, not before Friday */
            if (lo > hi)
                return fail(e, "bad range: %d is after %d", lo, hi);
        } else {
            if (!parse_value(f, s, base_end, &lo, &is_name, e))
                return false;
            /* "5/10" means from 5 to the field's end in steps of 10; in
             * day-of-week the end is 7 (Sunday again), as in cronie: "3/2"
             * is Wed, Fri, Sun like "3-7/2", and "7/1" is Sunday. */
            hi = slash ? (is_dow ? 7 : top) : lo;
        }
    }
    int step = 1;
    if (slash != NULL) {
        const char *p = slash + 1;
        int span = top - f->lo + 1;
        long v = 0;
        if (p == end)
            return fail(e, "missing step");
        for (const char *q = p; q < end; q++) {
            if (*q < '0' || *q > '9')
                return fail(e, "bad step \"%.*s\"", (int)(end - p), p);
            if (v < 100000)
                v = v * 10 + (*q - '0');
        }
        if (v < 1)
            return fail(e, "step must be >= 1");
        if (v > span)
            return fail(e, "step %.*s out of range 1-%d", (int)(end - p), p, span);
        step = (int)v;
    }
    for (int v = lo; v <= hi; v += step)
        *bits |= (uint64_t)1 << v;
    return true;
}

static bool parse_field(int which, const char *s, size_t len, uint64_t *ret_bits, parse_err_t *e) {
    const field_spec_t *f = &fields[which];
    uint64_t bits = 0;
    const char *end = s + len;
    const char *p = s;
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        if (!parse_item(f, which == F_DOW, p, item_end, &bits, e))
            return false;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    if (which == F_DOW && (bits & ((uint64_t)1 << 7)))
        bits = (bits & ~((uint64_t)1 << 7)) | 1;
    *ret_bits = bits;
    return true;
}

static bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Splits on whitespace; returns the real count even when it exceeds max. */
static int split(const char *s, const char **tok, size_t *tlen, int max) {
    int n = 0;
    while (*s != '\0') {
        while (is_space(*s))
            s++;
        if (*s == '\0')
            break;
        const char *b = s;
        while (*s != '\0' && !is_space(*s))
            s++;
        if (n < max) {
            tok[n] = b;
            tlen[n] = (size_t)(s - b);
        }
        n++;
    }
    return n;
}

static bool parse_fields(md_cron_t *c, const char *expr, parse_err_t *e) {
    const char *tok[6];
    size_t tlen[6];
    int n = split(expr, tok, tlen, 6);
    if (n == 0)
        return fail(e, "empty expression");
    if (tok[0][0] == '@') {
        if (tlen[0] == 6 && strncasecmp(tok[0], "@every", 6) == 0) {
            if (n != 2)
                return fail(e, "@every takes exactly one duration, like \"@every 30s\"");
            char dur[64];
            if (tlen[1] >= sizeof(dur))
                return fail(e, "@every: bad duration \"%.*s\"", (int)tlen[1], tok[1]);
            memcpy(dur, tok[1], tlen[1]);
            dur[tlen[1]] = '\0';
            int64_t ms;
            int r = md_duration_parse_ms(dur, &ms);
            if (r == -ERANGE)
                return fail(e, "@every: duration \"%s\" is too large", dur);
            if (r < 0)
                return fail(e, "@every: bad duration \"%s\"", dur);
            if (ms % 1000 != 0)
                return fail(e, "@every: duration \"%s\" must be a whole number of seconds", dur);
            c->every = ms / 1000;
            return true;
        }
        for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]); i++) {
            if (strlen(macros[i].name) == tlen[0] &&
                strncasecmp(macros[i].name, tok[0], tlen[0]) == 0) {
                if (n != 1)
                    return fail(e, "%s takes no fields", macros[i].name);
                return parse_fields(c, macros[i].expr, e);
            }
        }
        return fail(e, "unknown macro \"%.*s\"", (int)tlen[0], tok[0]);
    }
    if (n != 5 && n != 6)
        return fail(e, "expected 5 or 6 fields, got %d", n);
    int first = n == 6 ? F_SEC : F_MIN;
    uint64_t *dst[] = {&c->sec, &c->min, &c->hour, &c->dom, &c->mon, &c->dow};
    c->sec = 1; /* five fields fire at second 0 */
    for (int i = 0; i < n; i++) {
        int which = first + i;
        if (!parse_field(which, tok[i], tlen[i], dst[which], e)) {
            char why[sizeof(e->why)];
            memcpy(why, e->why, sizeof(why));
            return fail(e, "%s field \"%.*s\": %s", fields[which].name, (int)tlen[i], tok[i], why);
        }
    }
    c->dom_restricted = tok[n - 3][0] != '*';
    c->dow_restricted = tok[n - 1][0] != '*';
    return true;
}

static int64_t next_match(const md_cron_t *c, int64_t w, int64_t limit);

int md_cron_parse(const char *expr, md_cron_t **ret_cron, md_error_t *ret_err) {
    if (expr == NULL)
        return md_error_set(ret_err, -EINVAL, "bad cron expression: none given");
    md_cron_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return md_error_set(ret_err, -ENOMEM, "out of memory");
    parse_err_t e = {{0}};
    if (!parse_fields(c, expr, &e)) {
        free(c);
        return md_error_set(ret_err, -EINVAL, "bad cron expression \"%s\": %s", expr, e.why);
    }
    if (c->every == 0 &&
        next_match(c, CRON_CYCLE_START, CRON_CYCLE_START + CRON_HORIZON) == INT64_MAX) {
        free(c);
        return md_error_set(ret_err, -EINVAL,
                            "bad cron expression \"%s\": it never fires: no date matches its "
                            "day-of-month, month and day-of-week fields together",
                            expr);
    }
    c->text = strdup(expr);
    if (c->text == NULL) {
        free(c);
        return md_error_set(ret_err, -ENOMEM, "out of memory");
    }
    *ret_cron = c;
    return 0;
}

void md_cron_free(md_cron_t *cron) {
    if (cron == NULL)
        return;
    free(cron->text);
    free(cron);
}

const char *md_cron_text(const md_cron_t *cron) {
    return cron ? cron->text : NULL;
}

int64_t md_cron_every_seconds(const md_cron_t *cron) {
    return cron ? cron->every : 0;
}

/* ---- matching --------------------------------------------------------------- */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

static bool has(uint64_t bits, int v) {
    return (bits >> v) & 1;
}

/* Smallest set bit >= from, or -1. */
static int bit_at_or_after(uint64_t bits, int from) {
    uint64_t m = from >= 64 ? 0 : bits >> from;
    return m ? from + __builtin_ctzll(m) : -1;
}

/* Largest set bit <= from, or -1. */
static int bit_at_or_before(uint64_t bits, int from) {
    if (from < 0)
        return -1;
    uint64_t m = from >= 63 ? bits : bits & (((uint64_t)1 << (from + 1)) - 1);
    return m ? 63 - __builtin_clzll(m) : -1;
}

static bool day_matches(const md_cron_t *c, const md_civil_t *cv) {
    bool dom = has(c->dom, cv->day), dow = has(c->dow, cv->wday);
    /* Vixie cron: with both day fields restricted, either one suffices. */
    if (c->dom_restricted && c->dow_restricted)
        return dom || dow;
    return dom && dow;
}

/* Earliest matching wall time >= w, or INT64_MAX when beyond limit. */
static int64_t next_match(const md_cron_t *c, int64_t w, int64_t limit) {
    while (w <= limit) {
        md_civil_t cv;
        md_civil_from_seconds(w, &cv);
        int64_t midnight = md_seconds_from_civil(cv.year, cv.month, cv.day, 0, 0, 0);
        if (!has(c->mon, cv.month)) {
            w = cv.month == 12 ? md_seconds_from_civil(cv.year + 1, 1, 1, 0, 0, 0)
                               : md_seconds_from_civil(cv.year, cv.month + 1, 1, 0, 0, 0);
            continue;
        }
        if (!day_matches(c, &cv)) {
            w = midnight + 86400;
            continue;
        }
        int h = bit_at_or_after(c->hour, cv.hour);
        if (h < 0) {
            w = midnight + 86400;
            continue;
        }
        if (h != cv.hour) {
            w = midnight + h * 3600;
            continue;
        }
        int m = bit_at_or_after(c->min, cv.min);
        if (m < 0) {
            w = midnight + (h + 1) * 3600;
            continue;
        }
        if (m != cv.min) {
            w = midnight + h * 3600 + m * 60;
            continue;
        }
        int s = bit_at_or_after(c->sec, cv.sec);
        if (s < 0) {
            w = midnight + h * 3600 + (m + 1) * 60;
            continue;
        }
        return midnight + h * 3600 + m * 60 + s;
    }
    return INT64_MAX;
}

/* Latest matching wall time <= w, or INT64_MIN when before limit. */
static int64_t prev_match(const md_cron_t *c, int64_t w, int64_t limit) {
    while (w >= limit) {
        md_civil_t cv;
        md_civil_from_seconds(w, &cv);
        int64_t midnight = md_seconds_from_civil(cv.year, cv.month, cv.day, 0, 0, 0);
        if (!has(c->mon, cv.month)) {
            w = md_seconds_from_civil(cv.year, cv.month, 1, 0, 0, 0) - 1;
            continue;
        }
        if (!day_matches(c, &cv)) {
            w = midnight - 1;
            continue;
        }
        int h = bit_at_or_before(c->hour, cv.hour);
        if (h < 0) {
            w = midnight - 1;
            continue;
        }
        if (h != cv.hour) {
            w = midnight + h * 3600 + 3599;
            continue;
        }
        int m = bit_at_or_before(c->min, cv.min);
        if (m < 0) {
            w = midnight + h * 3600 - 1;
            continue;
        }
        if (m != cv.min) {
            w = midnight + h * 3600 + m * 60 + 59;
            continue;
        }
        int s = bit_at_or_before(c->sec, cv.sec);
        if (s < 0) {
            w = midnight + h * 3600 + m * 60 - 1;
            continue;
        }
        return midnight + h * 3600 + m * 60 + s;
    }
    return INT64_MIN;
}

/* The latest wall time shown at or before instant t. After a fall-back that is
 * the end of the repeated hour, not local(t): every wall time up to it has had
 * its first (and only firing) occurrence already. Zones change offset at most
 * once a day, so one bisection over the last 25 hours finds the change. */
static int64_t max_local_until(const md_tz_t *tz, int64_t t) {
    int64_t best = md_tz_utc_to_local(tz, t);
    int64_t lo = t - 90000, hi = t;
    int32_t off_lo = md_tz_offset_at(tz, lo);
    if (off_lo == md_tz_offset_at(tz, hi))
        return best;
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2;
        if (md_tz_offset_at(tz, mid) == off_lo)
            lo = mid;
        else
            hi = mid;
    }
    if (lo + off_lo > best)
        best = lo + off_lo;
    return best;
}

/* Fire instants are the first occurrences of matching wall times; wall times up
 * to max_local_until(t) have occurred by t, later ones have not. So both walks
 * start there and only skip wall times that do not exist (spring forward). */

int md_cron_next(const md_cron_t *cron, const md_tz_t *tz, int64_t after, int64_t *ret_next) {
    if (cron == NULL)
        return -EINVAL;
    if (after < CRON_MIN_T || after > CRON_MAX_T)
        return -ERANGE;
    if (cron->every > 0) {
        int64_t next = (floor_div(after, cron->every) + 1) * cron->every;
        if (next > CRON_MAX_T)
            return -ERANGE;
        *ret_next = next;
        return 0;
    }
    int64_t w = max_local_until(tz, after) + 1;
    int64_t limit = w > CRON_MAX_T - CRON_HORIZON ? CRON_MAX_T : w + CRON_HORIZON;
    for (;;) {
        w = next_match(cron, w, limit);
        if (w == INT64_MAX)
            return -ERANGE;
        int64_t u[2];
        int n = md_tz_local_to_utc(tz, w, u);
        if (n > 0 && u[0] > CRON_MAX_T)
            return -ERANGE;
        if (n > 0 && u[0] > after) {
            *ret_next = u[0];
            return 0;
        }
        w++; /* a spring-forward gap: this wall time never happens */
    }
}

int md_cron_prev(const md_cron_t *cron, const md_tz_t *tz, int64_t at, int64_t *ret_prev) {
    if (cron == NULL)
        return -EINVAL;
    if (at < CRON_MIN_T || at > CRON_MAX_T)
        return -ERANGE;
    if (cron->every > 0) {
        *ret_prev = floor_div(at, cron->every) * cron->every;
        return 0;
    }
    int64_t w = max_local_until(tz, at);
    int64_t limit = w < CRON_MIN_T + CRON_HORIZON ? CRON_MIN_T : w - CRON_HORIZON;
    for (;;) {
        w = prev_match(cron, w, limit);
        if (w == INT64_MIN)
            return -ERANGE;
        int64_t u[2];
        int n = md_tz_local_to_utc(tz, w, u);
        if (n > 0 && u[0] <= at) {
            *ret_prev = u[0];
            return 0;
        }
        w--;
    }
}
