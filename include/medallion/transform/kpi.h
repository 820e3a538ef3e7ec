/* KPI arithmetic of product.md §4 "KPIs": which local days a period covers,
 * the previous period of the same length, exact ratios, change_percentage and
 * trend. Pure: no libpq, no clock (callers pass "now"), no floating point on
 * values. */
#ifndef MEDALLION_TRANSFORM_KPI_H
#define MEDALLION_TRANSFORM_KPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/transform/decimal.h"
#include "medallion/tz.h"

typedef enum md_kpi_period {
    MD_KPI_24H = 0, /* yesterday */
    MD_KPI_7D,      /* the 7 days ending yesterday */
    MD_KPI_30D,     /* the 30 days ending yesterday */
    MD_KPI_PERIOD_COUNT
} md_kpi_period_t;

/* "24h", "7d", "30d" (kpi_dashboard.time_period); NULL for a bad value. */
const char *md_kpi_period_name(md_kpi_period_t p);
/* Length in whole days (1, 7, 30); 0 for a bad value. */
int md_kpi_period_days(md_kpi_period_t p);

/* Days are counted since 1970-01-01 (md_days_from_civil); bounds inclusive. */
typedef struct md_kpi_range {
    int64_t start, end;           /* the period itself; end = today - 1 */
    int64_t prev_start, prev_end; /* same length, ending the day before start */
} md_kpi_range_t;

/* The period `p` as seen on local day `today` (the day the job runs: the
 * period never includes it, because today is not over). 0, or -EINVAL for a
 * bad period; *ret untouched on failure. */
int md_kpi_range(md_kpi_period_t p, int64_t today, md_kpi_range_t *ret) MD_MUST_CHECK;

/* The local date (days since 1970-01-01) in zone `tz` (NULL = UTC) at the UTC
 * instant now_utc (seconds). */
int64_t md_kpi_local_day(const md_tz_t *tz, int64_t now_utc);

/* "YYYY-MM-DD" of a day number; buf needs MD_KPI_DATE_TEXT bytes. */
#define MD_KPI_DATE_TEXT 16
void md_kpi_day_text(int64_t day, char *buf, size_t cap);

/* num × factor / den rounded half away from zero to `scale` (0..6) fraction
 * digits, exactly (no double): e.g. paying 1, active 3, factor 100, scale 2
 * → 33.33. 0; -EDOM when den is 0 (the caller stores NULL); -EINVAL for a
 * scale outside 0..6 or factor outside 1..1000000. *ret untouched on failure. */
int md_kpi_ratio(int64_t num, int64_t den, int64_t factor, int scale, md_dec_t *ret) MD_MUST_CHECK;

/* The configured kpi.flat_band as an exact decimal: the double is printed
 * with 9 fraction digits first, so 1.0 compares as exactly 1 and 0.1 as 0.1.
 * 0, -EINVAL for a negative or non-finite band. */
int md_kpi_flat_band(double band, md_dec_t *ret) MD_MUST_CHECK;

typedef enum md_kpi_trend {
    MD_KPI_FLAT = 0,
    MD_KPI_UP,
    MD_KPI_DOWN,
} md_kpi_trend_t;

const char *md_kpi_trend_name(md_kpi_trend_t t); /* "flat", "up", "down" */

typedef struct md_kpi_change {
    bool has_change; /* false: change_percentage is NULL */
    md_dec_t change; /* 100 × (cur − prev) / prev, 2 decimals, half away from zero */
    md_kpi_trend_t trend;
} md_kpi_change_t;

/* change_percentage and trend of a metric whose current value is `cur` and
 * previous-period value `prev` (either may be NULL = SQL NULL).
 * - change = 100 × (cur − prev) / prev rounded half away from zero to 2
 *   decimals (the formula as written: a negative prev flips the sign); NULL
 *   when cur or prev is NULL or prev is 0.
 * - trend with a change: flat when |change| < flat_band (a change exactly
 *   equal to the band is not flat), else up (change > 0) or down.
 * - trend without a change: when both values exist (prev is 0) the direction
 *   of cur − prev, because 0 → 120 users is growth a dashboard must show;
 *   flat when cur = prev or either value is NULL (nothing to compare).
 * Inputs are first rounded to 6 fraction digits. 0; -EINVAL for a non-finite
 * value; -ERANGE when a value has more than 27 integer digits. *ret
 * untouched on failure. */
int md_kpi_compare(const md_dec_t *cur, const md_dec_t *prev, const md_dec_t *flat_band,
                   md_kpi_change_t *ret) MD_MUST_CHECK;

/* The same for a metric that is a ratio (conversion rate: paying / active
 * users; average duration: seconds / sessions), computed exactly from the
 * fractions rather than from their stored, rounded values: 66.67 % against
 * 33.33 % is a change of 100.00 %, not 100.03 %. A zero denominator is a NULL
 * value. 0; -EINVAL for a negative denominator or a non-finite band; -ERANGE
 * for a term of 10^14 or more. *ret untouched on failure. */
int md_kpi_compare_ratio(int64_t cur_num, int64_t cur_den, int64_t prev_num, int64_t prev_den,
                         const md_dec_t *flat_band, md_kpi_change_t *ret) MD_MUST_CHECK;

#endif
