/* Exact decimal arithmetic for money: parse PostgreSQL numeric text, round
 * half away from zero, multiply by an FX rate, sum, compare, print. Fixed
 * point in base 10 with no heap and no floating point anywhere; a result that
 * does not fit is reported (-ERANGE), never wrapped or approximated. */
#ifndef MEDALLION_TRANSFORM_DECIMAL_H
#define MEDALLION_TRANSFORM_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"

/* Capacity: |value| < 10^MD_DEC_MAX_INT_DIGITS, at most MD_DEC_MAX_SCALE
 * fraction digits. Money needs 18 integer digits (product.md §4) plus room
 * for sums and for amount × rate; rates need long fractions. */
#define MD_DEC_MAX_INT_DIGITS 40
#define MD_DEC_MAX_SCALE 40
#define MD_DEC_DIGITS (MD_DEC_MAX_INT_DIGITS + MD_DEC_MAX_SCALE)
/* Longest md_dec_format output including the NUL: sign, digits, point. */
#define MD_DEC_TEXT_MAX (MD_DEC_DIGITS + 4)

typedef enum md_dec_kind {
    MD_DEC_FINITE = 0,
    MD_DEC_NAN,
    MD_DEC_POS_INF,
    MD_DEC_NEG_INF,
} md_dec_kind_t;

/* d[i] is the digit of 10^(MD_DEC_MAX_INT_DIGITS - 1 - i): d[0..39] the
 * integer part, d[40..79] the fraction. scale is the display scale (how many
 * fraction digits the value carries, as PostgreSQL keeps it: "1.50" has 2);
 * digits past scale are always 0. A zero is never negative.
 * Parsing text with more than MD_DEC_MAX_SCALE fraction digits keeps the
 * first MD_DEC_MAX_SCALE, the next one in `guard` (so rounding at any scale
 * <= MD_DEC_MAX_SCALE stays exact) and sets `inexact` if any dropped digit
 * was non-zero. */
typedef struct md_dec {
    uint8_t kind; /* md_dec_kind_t */
    bool neg;
    bool inexact;
    uint8_t guard;
    int16_t scale;
    uint8_t d[MD_DEC_DIGITS];
} md_dec_t;

/* Parse numeric text as PostgreSQL's numeric_in accepts it: surrounding
 * whitespace, optional sign, digits with an optional point (".5", "5."), an
 * optional exponent ("1.5e3"), and the specials NaN, Infinity, -Infinity,
 * inf (case-insensitive). 0, -EINVAL on malformed text, -ERANGE when the
 * integer part has more than MD_DEC_MAX_INT_DIGITS digits. *ret untouched
 * on failure. */
int md_dec_parse(const char *s, size_t len, md_dec_t *ret) MD_MUST_CHECK;

void md_dec_from_i64(int64_t v, md_dec_t *ret);

static inline bool md_dec_is_finite(const md_dec_t *v) {
    return v->kind == MD_DEC_FINITE;
}

/* -1, 0, 1. NaN → 0 (callers check md_dec_is_finite first). A finite value
 * whose kept digits are all zero but that dropped non-zero digits (inexact)
 * reports its sign, since it is not zero. */
int md_dec_sign(const md_dec_t *v);

/* Number of digits of the integer part of |v| without leading zeros
 * ("0.5" → 0, "12.3" → 2, "1e18" → 19). Finite values only. */
int md_dec_int_digits(const md_dec_t *v);

/* Order like PostgreSQL: -Infinity < finite < Infinity < NaN, NaN = NaN.
 * Finite values compare by value, whatever their scale (1.5 = 1.50).
 * Returns -1, 0, 1. */
int md_dec_cmp(const md_dec_t *a, const md_dec_t *b);

/* Round half away from zero to `digits` fraction digits (0..MD_DEC_MAX_SCALE)
 * and set scale = digits (so 1.5 at 3 digits prints "1.500"). 0, -EINVAL
 * for a non-finite value or bad digits, -ERANGE when the carry overflows
 * the integer capacity. *ret untouched on failure; ret may alias v. */
int md_dec_round(const md_dec_t *v, int digits, md_dec_t *ret) MD_MUST_CHECK;

/* Exact product of two finite values, then rounded half away from zero to
 * `digits` fraction digits. 0, -EINVAL (non-finite, bad digits), -ERANGE
 * (result does not fit). ret may alias a or b. */
int md_dec_mul_round(const md_dec_t *a, const md_dec_t *b, int digits, md_dec_t *ret) MD_MUST_CHECK;

/* Exact sum of two finite values; scale = max of both. 0, -EINVAL
 * (non-finite), -ERANGE (overflow). ret may alias a or b. The result is
 * exact when both operands are (not `inexact`). */
int md_dec_add(const md_dec_t *a, const md_dec_t *b, md_dec_t *ret) MD_MUST_CHECK;

/* Drop trailing fraction zeros (scale becomes the smallest that keeps the
 * value): 12.500 → 12.5, 3.00 → 3. The canonical form for equality keys. */
void md_dec_strip(md_dec_t *v);

/* Canonical text with exactly v->scale fraction digits, no leading zeros
 * ("0.50", "-12", "1235"), or "NaN", "Infinity", "-Infinity". Writes a NUL;
 * returns the length (without NUL), or -ENOSPC when cap is too small
 * (MD_DEC_TEXT_MAX always suffices). */
int md_dec_format(const md_dec_t *v, char *buf, size_t cap);

#endif
