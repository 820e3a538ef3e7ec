/* KPI period arithmetic and change/trend math (see kpi.h). Values go through
 * 128-bit scaled integers so a percentage is exact; this file must never use
 * floating point on a metric value nor read the clock. */
#include "medallion/transform/kpi.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define SECONDS_PER_DAY 86400
#define MAX_SCALE 6
/* |scaled value| < 10^33 keeps (cur − prev) × 10^4 and the rounding term
 * inside a signed 128-bit integer (about 1.7e38). */
#define MAX_SCALED_DIGITS 33
/* Ratio terms below 10^14: products below 10^28, times 10^4 below 10^32. */
#define MAX_RATIO_TERM 100000000000000LL

static const struct {
    const char *name;
    int days;
} periods[MD_KPI_PERIOD_COUNT] = {
    [MD_KPI_24H] = {"24h", 1},
    [MD_KPI_7D] = {"7d", 7},
    [MD_KPI_30D] = {"30d", 30},
};

const char *md_kpi_period_name(md_kpi_period_t p) {
    return (unsigned)p < MD_KPI_PERIOD_COUNT ? periods[p].name : NULL;
}

int md_kpi_period_days(md_kpi_period_t p) {
    return (unsigned)p < MD_KPI_PERIOD_COUNT ? periods[p].days : 0;
}

int md_kpi_range(md_kpi_period_t p, int64_t today, md_kpi_range_t *ret) {
    int n = md_kpi_period_days(p);
    if (n == 0)
        return -EINVAL;
    md_kpi_range_t r;
    r.end = today - 1;
    r.start = r.end - (n - 1);
    r.prev_end = r.start - 1;
    r.prev_start = r.prev_end - (n - 1);
    *ret = r;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t md_kpi_local_day(const md_tz_t *tz, int64_t now_utc) {
    return floor_div(md_tz_utc_to_local(tz, now_utc), SECONDS_PER_DAY);
}

void md_kpi_day_text(int64_t day, char *buf, size_t cap) {
    md_civil_t c;
    md_civil_from_seconds(day * SECONDS_PER_DAY, &c);
    snprintf(buf, cap, "%04d-%02d-%02d", c.year, c.month, c.day);
}

/* Signed scaled integer → md_dec_t with `scale` fraction digits. */
static int dec_from_scaled(__int128 v, int scale, md_dec_t *ret) {
    char digits[64];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        digits[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    while (n <= scale) /* at least one integer digit */
        digits[n++] = '0';
    char text[72];
    size_t len = 0;
    if (neg)
        text[len++] = '-';
    for (int i = n - 1; i >= 0; i--) {
        text[len++] = digits[i];
        if (i == scale && scale > 0)
            text[len++] = '.';
    }
    return md_dec_parse(text, len, ret);
}

/* Round half away from zero: num / den, den != 0. */
static __int128 div_round(__int128 num, __int128 den) {
    bool neg = (num < 0) != (den < 0);
    __int128 an = num < 0 ? -num : num, ad = den < 0 ? -den : den;
    __int128 q = (2 * an + ad) / (2 * ad);
    return neg ? -q : q;
}

int md_kpi_ratio(int64_t num, int64_t den, int64_t factor, int scale, md_dec_t *ret) {
    if (scale < 0 || scale > MAX_SCALE || factor < 1 || factor > 1000000)
        return -EINVAL;
    if (den == 0)
        return -EDOM;
    __int128 pow10 = 1;
    for (int i = 0; i < scale; i++)
        pow10 *= 10;
    /* |num| < 2^63, factor ≤ 10^6, pow10 ≤ 10^6: below 10^32, no overflow. */
    __int128 q = div_round((__int128)num * factor * pow10, den);
    return dec_from_scaled(q, scale, ret);
}

int md_kpi_flat_band(double band, md_dec_t *ret) {
    if (!isfinite(band) || band < 0 || band > 1e15)
        return -EINVAL;
    char text[64];
    int n = snprintf(text, sizeof(text), "%.9f", band);
    if (n < 0 || (size_t)n >= sizeof(text))
        return -EINVAL;
    md_dec_t v;
    int rc = md_dec_parse(text, (size_t)n, &v);
    if (rc != 0)
        return rc;
    md_dec_strip(&v);
    *ret = v;
    return 0;
}

const char *md_kpi_trend_name(md_kpi_trend_t t) {
    switch (t) {
    case MD_KPI_UP:
        return "up";
    case MD_KPI_DOWN:
        return "down";
    default:
        return "flat";
    }
}

/* v rounded to `scale` digits as a signed integer × 10^scale. */
static int to_scaled(const md_dec_t *v, int scale, __int128 *ret) {
    if (!md_dec_is_finite(v))
        return -EINVAL;
    md_dec_t r;
    int rc = md_dec_round(v, scale, &r);
    if (rc != 0)
        return rc;
    int int_digits = md_dec_int_digits(&r);
    if (int_digits + scale > MAX_SCALED_DIGITS)
        return -ERANGE;
    __int128 x = 0;
    for (int i = MD_DEC_MAX_INT_DIGITS - int_digits; i < MD_DEC_MAX_INT_DIGITS + scale; i++)
        x = x * 10 + r.d[i];
    *ret = r.neg ? -x : x;
    return 0;
}

/* change = 100 × diff / base in hundredths of a percent, and the trend; with
 * base 0 (prev is 0) no change and the direction of diff. */
static int finish_change(__int128 diff, __int128 base, const md_dec_t *flat_band,
                         md_kpi_change_t *ret) {
    md_kpi_change_t out;
    memset(&out, 0, sizeof(out));
    if (base == 0) {
        out.trend = diff > 0 ? MD_KPI_UP : diff < 0 ? MD_KPI_DOWN : MD_KPI_FLAT;
        *ret = out;
        return 0;
    }
    int rc = dec_from_scaled(div_round(diff * 10000, base), 2, &out.change);
    if (rc != 0)
        return rc;
    out.has_change = true;
    md_dec_t mag = out.change;
    mag.neg = false;
    if (md_dec_cmp(&mag, flat_band) < 0)
        out.trend = MD_KPI_FLAT;
    else
        out.trend = md_dec_sign(&out.change) > 0   ? MD_KPI_UP
                    : md_dec_sign(&out.change) < 0 ? MD_KPI_DOWN
                                                   : MD_KPI_FLAT;
    *ret = out;
    return 0;
}

int md_kpi_compare(const md_dec_t *cur, const md_dec_t *prev, const md_dec_t *flat_band,
                   md_kpi_change_t *ret) {
    if ((cur != NULL && !md_dec_is_finite(cur)) || (prev != NULL && !md_dec_is_finite(prev)) ||
        !md_dec_is_finite(flat_band))
        return -EINVAL;
    md_kpi_change_t out;
    memset(&out, 0, sizeof(out));
    out.trend = MD_KPI_FLAT;
    if (cur == NULL || prev == NULL) {
        *ret = out;
        return 0;
    }
    /* One fixed scale: the capacity (27 integer digits) does not depend on
     * how many decimals a value happens to carry. */
    const int scale = MAX_SCALE;
    __int128 c, p;
    int rc = to_scaled(cur, scale, &c);
    if (rc == 0)
        rc = to_scaled(prev, scale, &p);
    if (rc != 0)
        return rc;
    return finish_change(c - p, p, flat_band, ret);
}

int md_kpi_compare_ratio(int64_t cur_num, int64_t cur_den, int64_t prev_num, int64_t prev_den,
                         const md_dec_t *flat_band, md_kpi_change_t *ret) {
    if (cur_den < 0 || prev_den < 0 || !md_dec_is_finite(flat_band))
        return -EINVAL;
    if (cur_num <= -MAX_RATIO_TERM || cur_num >= MAX_RATIO_TERM || cur_den >= MAX_RATIO_TERM ||
        prev_num <= -MAX_RATIO_TERM || prev_num >= MAX_RATIO_TERM || prev_den >= MAX_RATIO_TERM)
        return -ERANGE;
    if (cur_den == 0 || prev_den == 0) {
        md_kpi_change_t out;
        memset(&out, 0, sizeof(out));
        out.trend = MD_KPI_FLAT;
        *ret = out;
        return 0;
    }
    /* c/cd against p/pd: 100 × (c/cd − p/pd) / (p/pd) = 100 × (c·pd − p·cd) / (p·cd),
     * with cd and pd positive, so the sign rules are those of cur − prev and prev. */
    return finish_change((__int128)cur_num * prev_den - (__int128)prev_num * cur_den,
                         (__int128)prev_num * cur_den, flat_band, ret);
}
