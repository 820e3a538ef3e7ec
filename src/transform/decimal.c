/* Exact base-10 fixed-point arithmetic for money amounts and FX rates
 * (see decimal.h for the layout). Must never use floating point, never
 * allocate, and never return a wrapped or silently truncated result. */
#include "medallion/transform/decimal.h"

#include <errno.h>
#include <string.h>

#define INT_DIGITS MD_DEC_MAX_INT_DIGITS

static bool is_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

static char lower_ascii(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive equality of s[0..len) with a lower-case literal. */
static bool eq_nocase(const char *s, size_t len, const char *lit) {
    size_t n = strlen(lit);
    if (len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (lower_ascii(s[i]) != lit[i])
            return false;
    }
    return true;
}

static bool digits_all_zero(const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (d[i] != 0)
            return false;
    }
    return true;
}

static void set_special(md_dec_t *v, md_dec_kind_t kind) {
    memset(v, 0, sizeof(*v));
    v->kind = (uint8_t)kind;
}

int md_dec_parse(const char *s, size_t len, md_dec_t *ret) {
    if (s == NULL)
        return -EINVAL;
    size_t i = 0, end = len;
    while (i < end && is_space(s[i]))
        i++;
    while (end > i && is_space(s[end - 1]))
        end--;
    if (i == end)
        return -EINVAL;

    /* PostgreSQL accepts NaN only unsigned, infinities with either sign. */
    if (eq_nocase(s + i, end - i, "nan")) {
        set_special(ret, MD_DEC_NAN);
        return 0;
    }
    bool neg = false;
    if (s[i] == '+' || s[i] == '-') {
        neg = s[i] == '-';
        i++;
    }
    if (eq_nocase(s + i, end - i, "infinity") || eq_nocase(s + i, end - i, "inf")) {
        set_special(ret, neg ? MD_DEC_NEG_INF : MD_DEC_POS_INF);
        return 0;
    }

    /* Mantissa: digits with at most one point, at least one digit. */
    size_t mant_start = i;
    int64_t int_len = 0, frac_len = 0;
    bool seen_point = false;
    for (; i < end; i++) {
        if (is_digit(s[i])) {
            if (seen_point)
                frac_len++;
            else
                int_len++;
        } else if (s[i] == '.' && !seen_point) {
            seen_point = true;
        } else {
            break;
        }
    }
    size_t mant_end = i;
    if (int_len + frac_len == 0)
        return -EINVAL;

    /* Exponent, saturated far beyond anything representable so a long
     * exponent cannot overflow the arithmetic below. */
    int64_t exp = 0;
    if (i < end && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < end && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i == end || !is_digit(s[i]))
            return -EINVAL;
        for (; i < end && is_digit(s[i]); i++) {
            if (exp < 100000000)
                exp = exp * 10 + (s[i] - '0');
        }
        if (eneg)
            exp = -exp;
    }
    if (i != end)
        return -EINVAL;
    /* Mantissa lengths are bounded by len; keep the sums in range too. */
    if (int_len > 100000000 || frac_len > 100000000)
        return -ERANGE;

    md_dec_t v;
    memset(&v, 0, sizeof(v));
    v.kind = MD_DEC_FINITE;
    v.neg = neg;
    int64_t k = 0; /* index of the digit among the mantissa digits */
    for (size_t p = mant_start; p < mant_end; p++) {
        if (s[p] == '.')
            continue;
        uint8_t digit = (uint8_t)(s[p] - '0');
        int64_t power = int_len - 1 - k + exp;
        int64_t idx = INT_DIGITS - 1 - power;
        k++;
        if (idx < 0) {
            if (digit != 0)
                return -ERANGE;
        } else if (idx < MD_DEC_DIGITS) {
            v.d[idx] = digit;
        } else {
            if (idx == MD_DEC_DIGITS)
                v.guard = digit;
            if (digit != 0)
                v.inexact = true;
        }
    }
    int64_t scale = frac_len - exp;
    if (scale < 0)
        scale = 0;
    if (scale > MD_DEC_MAX_SCALE)
        scale = MD_DEC_MAX_SCALE;
    v.scale = (int16_t)scale;
    if (!v.inexact && digits_all_zero(v.d, MD_DEC_DIGITS))
        v.neg = false;
    *ret = v;
    return 0;
}

void md_dec_from_i64(int64_t v, md_dec_t *ret) {
    memset(ret, 0, sizeof(*ret));
    ret->kind = MD_DEC_FINITE;
    ret->neg = v < 0;
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    for (int idx = INT_DIGITS - 1; m != 0; idx--) {
        ret->d[idx] = (uint8_t)(m % 10);
        m /= 10;
    }
}

int md_dec_sign(const md_dec_t *v) {
    switch (v->kind) {
    case MD_DEC_POS_INF:
        return 1;
    case MD_DEC_NEG_INF:
        return -1;
    case MD_DEC_FINITE:
        if (v->inexact || !digits_all_zero(v->d, MD_DEC_DIGITS))
            return v->neg ? -1 : 1;
        return 0;
    default:
        return 0;
    }
}

int md_dec_int_digits(const md_dec_t *v) {
    for (int i = 0; i < INT_DIGITS; i++) {
        if (v->d[i] != 0)
            return INT_DIGITS - i;
    }
    return 0;
}

/* Rank of the kind in PostgreSQL's sort order. */
static int kind_rank(const md_dec_t *v) {
    switch (v->kind) {
    case MD_DEC_NEG_INF:
        return 0;
    case MD_DEC_FINITE:
        return 1;
    case MD_DEC_POS_INF:
        return 2;
    default:
        return 3;
    }
}

/* |a| vs |b| over the kept digits, then what parsing dropped. */
static int cmp_magnitude(const md_dec_t *a, const md_dec_t *b) {
    int m = memcmp(a->d, b->d, MD_DEC_DIGITS);
    if (m != 0)
        return m < 0 ? -1 : 1;
    if (a->guard != b->guard)
        return a->guard < b->guard ? -1 : 1;
    if (a->inexact != b->inexact)
        return a->inexact ? 1 : -1;
    return 0;
}

int md_dec_cmp(const md_dec_t *a, const md_dec_t *b) {
    int ra = kind_rank(a), rb = kind_rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (a->kind != MD_DEC_FINITE)
        return 0;
    int sa = md_dec_sign(a), sb = md_dec_sign(b);
    if (sa != sb)
        return sa < sb ? -1 : 1;
    if (sa == 0)
        return 0;
    int m = cmp_magnitude(a, b);
    return sa > 0 ? m : -m;
}

/* Round t (finite, digits beyond `digits` may be non-zero) in place, given
 * the digit just after the kept ones. */
static int round_in_place(md_dec_t *t, int digits, int next) {
    memset(t->d + INT_DIGITS + digits, 0, (size_t)(MD_DEC_MAX_SCALE - digits));
    if (next >= 5) {
        /* Half away from zero: bump the magnitude, sign untouched. */
        int idx = INT_DIGITS + digits - 1;
        while (idx >= 0 && t->d[idx] == 9) {
            t->d[idx] = 0;
            idx--;
        }
        if (idx < 0)
            return -ERANGE;
        t->d[idx]++;
    }
    t->scale = (int16_t)digits;
    t->guard = 0;
    t->inexact = false;
    if (digits_all_zero(t->d, MD_DEC_DIGITS))
        t->neg = false;
    return 0;
}

int md_dec_round(const md_dec_t *v, int digits, md_dec_t *ret) {
    if (v->kind != MD_DEC_FINITE || digits < 0 || digits > MD_DEC_MAX_SCALE)
        return -EINVAL;
    md_dec_t t = *v;
    int next = digits == MD_DEC_MAX_SCALE ? t.guard : t.d[INT_DIGITS + digits];
    int rc = round_in_place(&t, digits, next);
    if (rc < 0)
        return rc;
    *ret = t;
    return 0;
}

int md_dec_mul_round(const md_dec_t *a, const md_dec_t *b, int digits, md_dec_t *ret) {
    if (a->kind != MD_DEC_FINITE || b->kind != MD_DEC_FINITE || digits < 0 ||
        digits > MD_DEC_MAX_SCALE)
        return -EINVAL;

    /* prod[k] holds the digit of 10^(2*INT_DIGITS - 2 - k): the sum of
     * a->d[i] * b->d[j] over i + j = k. */
    uint32_t prod[2 * MD_DEC_DIGITS];
    memset(prod, 0, sizeof(prod));
    int a_lo = MD_DEC_DIGITS, a_hi = -1, b_lo = MD_DEC_DIGITS, b_hi = -1;
    for (int i = 0; i < MD_DEC_DIGITS; i++) {
        if (a->d[i] != 0) {
            if (a_lo == MD_DEC_DIGITS)
                a_lo = i;
            a_hi = i;
        }
        if (b->d[i] != 0) {
            if (b_lo == MD_DEC_DIGITS)
                b_lo = i;
            b_hi = i;
        }
    }
    for (int i = a_lo; i <= a_hi; i++) {
        if (a->d[i] == 0)
            continue;
        for (int j = b_lo; j <= b_hi; j++)
            prod[i + j] += (uint32_t)a->d[i] * b->d[j];
    }
    uint32_t carry = 0;
    for (int k = 2 * MD_DEC_DIGITS - 1; k >= 0; k--) {
        uint32_t x = prod[k] + carry;
        prod[k] = x % 10;
        carry = x / 10;
    }
    if (carry != 0)
        return -ERANGE;

    /* Result index r (power INT_DIGITS-1-r) is product index r+INT_DIGITS-1;
     * product digits above the result's top are overflow. */
    for (int k = 0; k < INT_DIGITS - 1; k++) {
        if (prod[k] != 0)
            return -ERANGE;
    }
    md_dec_t t;
    memset(&t, 0, sizeof(t));
    t.kind = MD_DEC_FINITE;
    t.neg = a->neg != b->neg;
    for (int r = 0; r < INT_DIGITS + digits; r++)
        t.d[r] = (uint8_t)prod[r + INT_DIGITS - 1];
    int next = (int)prod[INT_DIGITS + digits + INT_DIGITS - 1];
    int rc = round_in_place(&t, digits, next);
    if (rc < 0)
        return rc;
    *ret = t;
    return 0;
}

int md_dec_add(const md_dec_t *a, const md_dec_t *b, md_dec_t *ret) {
    if (a->kind != MD_DEC_FINITE || b->kind != MD_DEC_FINITE)
        return -EINVAL;
    md_dec_t t;
    memset(&t, 0, sizeof(t));
    t.kind = MD_DEC_FINITE;
    t.scale = a->scale > b->scale ? a->scale : b->scale;
    t.inexact = a->inexact || b->inexact;
    if (a->neg == b->neg) {
        int carry = 0;
        for (int i = MD_DEC_DIGITS - 1; i >= 0; i--) {
            int x = a->d[i] + b->d[i] + carry;
            t.d[i] = (uint8_t)(x % 10);
            carry = x / 10;
        }
        if (carry != 0)
            return -ERANGE;
        t.neg = a->neg;
    } else {
        /* Subtract the smaller magnitude from the larger; the larger's sign wins. */
        const md_dec_t *big = a, *small = b;
        if (memcmp(a->d, b->d, MD_DEC_DIGITS) < 0) {
            big = b;
            small = a;
        }
        int borrow = 0;
        for (int i = MD_DEC_DIGITS - 1; i >= 0; i--) {
            int x = big->d[i] - small->d[i] - borrow;
            borrow = x < 0;
            t.d[i] = (uint8_t)(x < 0 ? x + 10 : x);
        }
        t.neg = big->neg;
    }
    if (!t.inexact && digits_all_zero(t.d, MD_DEC_DIGITS))
        t.neg = false;
    *ret = t;
    return 0;
}

void md_dec_strip(md_dec_t *v) {
    if (v->kind != MD_DEC_FINITE)
        return;
    while (v->scale > 0 && v->d[INT_DIGITS + v->scale - 1] == 0)
        v->scale--;
}

static int put_text(char *buf, size_t cap, const char *text) {
    size_t n = strlen(text);
    if (n + 1 > cap)
        return -ENOSPC;
    memcpy(buf, text, n + 1);
    return (int)n;
}

int md_dec_format(const md_dec_t *v, char *buf, size_t cap) {
    switch (v->kind) {
    case MD_DEC_NAN:
        return put_text(buf, cap, "NaN");
    case MD_DEC_POS_INF:
        return put_text(buf, cap, "Infinity");
    case MD_DEC_NEG_INF:
        return put_text(buf, cap, "-Infinity");
    default:
        break;
    }
    char tmp[MD_DEC_TEXT_MAX];
    size_t n = 0;
    int first = 0;
    while (first < INT_DIGITS && v->d[first] == 0)
        first++;
    /* A value whose printed digits are all zero prints unsigned, as
     * PostgreSQL has no negative zero. */
    if (v->neg && !digits_all_zero(v->d, (size_t)(INT_DIGITS + v->scale)))
        tmp[n++] = '-';
    if (first == INT_DIGITS) {
        tmp[n++] = '0';
    } else {
        for (int i = first; i < INT_DIGITS; i++)
            tmp[n++] = (char)('0' + v->d[i]);
    }
    if (v->scale > 0) {
        tmp[n++] = '.';
        for (int i = 0; i < v->scale; i++)
            tmp[n++] = (char)('0' + v->d[INT_DIGITS + i]);
    }
    if (n + 1 > cap)
        return -ENOSPC;
    memcpy(buf, tmp, n);
    buf[n] = '\0';
    return (int)n;
}
