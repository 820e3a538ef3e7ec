/* Transaction validation for transactions_validated (product.md §4
 * "Transactions"), plus the currency and fx-rate lookups it needs. Pure:
 * never touches the database, the clock or floating point; money goes
 * through decimal.c only. */
#include "medallion/transform/transactions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "medallion/transform/text.h"

#define CODE_CAP 16 /* longest currency code the tables hold, plus room */

static bool is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Trim ASCII whitespace; empty becomes NULL; NULL stays NULL. */
static md_str_t trim_nullif(md_str_t s) {
    if (s.ptr == NULL)
        return s;
    size_t b = 0, e = s.len;
    while (b < e && is_space((unsigned char)s.ptr[b]))
        b++;
    while (e > b && is_space((unsigned char)s.ptr[e - 1]))
        e--;
    if (b == e)
        return MD_STR_NULL;
    return (md_str_t){s.ptr + b, e - b};
}

/* ASCII case mapping; borrows s when nothing changes. 0 or -ENOMEM. */
static int map_case(md_arena_t *a, md_str_t s, bool upper, md_str_t *ret) {
    if (s.ptr == NULL) {
        *ret = s;
        return 0;
    }
    char lo = upper ? 'a' : 'A', hi = upper ? 'z' : 'Z';
    size_t i = 0;
    while (i < s.len && !(s.ptr[i] >= lo && s.ptr[i] <= hi))
        i++;
    if (i == s.len) {
        *ret = s;
        return 0;
    }
    char *p = md_arena_memdup(a, s.ptr, s.len);
    if (p == NULL)
        return -ENOMEM;
    for (; i < s.len; i++) {
        if (p[i] >= lo && p[i] <= hi)
            p[i] = (char)(p[i] + (upper ? 'A' - 'a' : 'a' - 'A'));
    }
    *ret = (md_str_t){p, s.len};
    return 0;
}

/* Byte order, shorter first on a common prefix. */
static int cmp_code(const char *a, size_t alen, const char *b, size_t blen) {
    int m = memcmp(a, b, alen < blen ? alen : blen);
    if (m != 0)
        return m;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* ---- currencies ---------------------------------------------------------- */

typedef struct currency_entry {
    char code[CODE_CAP];
    uint8_t len;
    int8_t minor_unit;
} currency_entry_t;

struct md_currency_table {
    currency_entry_t *items;
    size_t count, cap;
};

md_currency_table_t *md_currency_table_new(void) {
    return calloc(1, sizeof(md_currency_table_t));
}

void md_currency_table_free(md_currency_table_t *t) {
    if (t == NULL)
        return;
    free(t->items);
    free(t);
}

/* First index whose code is >= (code, len). */
static size_t currency_lower_bound(const md_currency_table_t *t, const char *code, size_t len) {
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_code(t->items[mid].code, t->items[mid].len, code, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int md_currency_table_add(md_currency_table_t *t, const char *code, size_t len, int minor_unit) {
    if (code == NULL || len == 0 || len >= CODE_CAP || minor_unit < 0 ||
        minor_unit > MD_DEC_MAX_SCALE)
        return -EINVAL;
    size_t pos = currency_lower_bound(t, code, len);
    if (pos < t->count && cmp_code(t->items[pos].code, t->items[pos].len, code, len) == 0) {
        t->items[pos].minor_unit = (int8_t)minor_unit;
        return 0;
    }
    if (t->count == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        currency_entry_t *n = realloc(t->items, ncap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        t->items = n;
        t->cap = ncap;
    }
    memmove(t->items + pos + 1, t->items + pos, (t->count - pos) * sizeof(*t->items));
    currency_entry_t *e = &t->items[pos];
    memset(e, 0, sizeof(*e));
    memcpy(e->code, code, len);
    e->len = (uint8_t)len;
    e->minor_unit = (int8_t)minor_unit;
    t->count++;
    return 0;
}

int md_currency_table_lookup(const md_currency_table_t *t, const char *code, size_t len) {
    if (t == NULL || code == NULL || len == 0 || len >= CODE_CAP)
        return -ENOENT;
    size_t pos = currency_lower_bound(t, code, len);
    if (pos < t->count && cmp_code(t->items[pos].code, t->items[pos].len, code, len) == 0)
        return t->items[pos].minor_unit;
    return -ENOENT;
}

size_t md_currency_table_count(const md_currency_table_t *t) {
    return t ? t->count : 0;
}

/* ---- fx rates ------------------------------------------------------------ */

typedef struct fx_entry {
    char code[CODE_CAP];
    uint8_t len;
    md_ts_t valid_from;
    md_dec_t rate;
} fx_entry_t;

struct md_fx_table {
    fx_entry_t *items;
    size_t count, cap;
};

md_fx_table_t *md_fx_table_new(void) {
    return calloc(1, sizeof(md_fx_table_t));
}

void md_fx_table_free(md_fx_table_t *t) {
    if (t == NULL)
        return;
    free(t->items);
    free(t);
}

static int fx_cmp(const fx_entry_t *e, const char *code, size_t len, md_ts_t at) {
    int m = cmp_code(e->code, e->len, code, len);
    if (m != 0)
        return m;
    return e->valid_from < at ? -1 : e->valid_from > at ? 1 : 0;
}

/* First index whose (code, valid_from) is > (code, at). */
static size_t fx_upper_bound(const md_fx_table_t *t, const char *code, size_t len, md_ts_t at) {
    size_t lo = 0, hi = t->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fx_cmp(&t->items[mid], code, len, at) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int md_fx_table_add(md_fx_table_t *t, const char *currency, size_t len, md_ts_t valid_from,
                    const char *rate_text, size_t rate_len) {
    if (currency == NULL || len == 0 || len >= CODE_CAP || valid_from == MD_TS_NULL ||
        rate_text == NULL)
        return -EINVAL;
    md_dec_t rate;
    int rc = md_dec_parse(rate_text, rate_len, &rate);
    if (rc < 0)
        return rc;
    if (!md_dec_is_finite(&rate) || md_dec_sign(&rate) <= 0)
        return -EINVAL;

    size_t pos = fx_upper_bound(t, currency, len, valid_from);
    if (pos > 0 && fx_cmp(&t->items[pos - 1], currency, len, valid_from) == 0) {
        t->items[pos - 1].rate = rate;
        return 0;
    }
    if (t->count == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        fx_entry_t *n = realloc(t->items, ncap * sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        t->items = n;
        t->cap = ncap;
    }
    memmove(t->items + pos + 1, t->items + pos, (t->count - pos) * sizeof(*t->items));
    fx_entry_t *e = &t->items[pos];
    memset(e, 0, sizeof(*e));
    memcpy(e->code, currency, len);
    e->len = (uint8_t)len;
    e->valid_from = valid_from;
    e->rate = rate;
    t->count++;
    return 0;
}

const md_dec_t *md_fx_table_lookup(const md_fx_table_t *t, const char *currency, size_t len,
                                   md_ts_t at) {
    if (t == NULL || currency == NULL || len == 0 || len >= CODE_CAP || at == MD_TS_NULL)
        return NULL;
    size_t pos = fx_upper_bound(t, currency, len, at);
    if (pos == 0)
        return NULL;
    const fx_entry_t *e = &t->items[pos - 1];
    if (cmp_code(e->code, e->len, currency, len) != 0)
        return NULL;
    return &e->rate;
}

size_t md_fx_table_count(const md_fx_table_t *t) {
    return t ? t->count : 0;
}

/* ---- the transform ------------------------------------------------------- */

void md_txn_ctx_defaults(md_txn_ctx_t *ctx) {
    memset(ctx, 0, sizeof(*ctx));
    ctx->base_currency = "USD";
    ctx->base_exponent = 2;
    ctx->velocity_count = 5;
    ctx->velocity_window_us = INT64_C(600) * MD_USEC_PER_SEC;
    ctx->velocity_add_hundredths = 20;
}

static int dup_dec_text(md_arena_t *a, const md_dec_t *v, md_str_t *ret) {
    char buf[MD_DEC_TEXT_MAX];
    int n = md_dec_format(v, buf, sizeof(buf));
    if (n < 0)
        return n;
    char *p = md_arena_memdup(a, buf, (size_t)n);
    if (p == NULL)
        return -ENOMEM;
    *ret = (md_str_t){p, (size_t)n};
    return 0;
}

/* Parse and round the bronze amount. Returns the error code to report, or
 * NULL with *ret set when the amount is usable (it may still be <= 0). */
static const char *amount_value(md_str_t raw, int exponent, md_dec_t *ret) {
    if (raw.ptr == NULL)
        return MD_CODE_AMOUNT_MISSING;
    md_dec_t v;
    /* The column is numeric, so malformed text cannot come from PostgreSQL;
     * if it ever does, it is as unusable as an out-of-range value. */
    if (md_dec_parse(raw.ptr, raw.len, &v) < 0 || !md_dec_is_finite(&v))
        return MD_CODE_AMOUNT_OUT_OF_RANGE;
    /* Unknown currency: keep the value as given. Past MD_DEC_MAX_SCALE
     * fraction digits it is rounded there, the only place it cannot be kept. */
    int digits = exponent >= 0 ? exponent : (v.inexact ? MD_DEC_MAX_SCALE : v.scale);
    if (md_dec_round(&v, digits, &v) < 0)
        return MD_CODE_AMOUNT_OUT_OF_RANGE;
    /* Checked after rounding, so a stored amount never exceeds 18 digits
     * (999999999999999999.995 USD rounds to 10^18 and is out of range). */
    if (md_dec_int_digits(&v) > MD_TXN_MAX_INT_DIGITS)
        return MD_CODE_AMOUNT_OUT_OF_RANGE;
    *ret = v;
    return NULL;
}

int md_txn_transform(const md_txn_ctx_t *ctx, const md_txn_in_t *in, md_arena_t *arena,
                     md_txn_out_t *ret) {
    if (ctx == NULL || in == NULL || ctx->base_exponent < 0 ||
        ctx->base_exponent > MD_DEC_MAX_SCALE)
        return -EINVAL;

    md_txn_out_t o;
    memset(&o, 0, sizeof(o));
    o.id = in->id;
    o.user_id = in->user_id;
    o.amount_raw = in->amount;
    o.properties = in->properties;
    o.created_at = in->created_at;
    o.ingested_at = in->ingested_at;
    o.external_id = trim_nullif(in->external_id);
    bool external_id_too_long =
        o.external_id.ptr != NULL && o.external_id.len > MD_TEXT_INDEXED_MAX;
    if (external_id_too_long)
        o.external_id = MD_STR_NULL;
    o.base_currency = ctx->base_currency
                          ? (md_str_t){ctx->base_currency, strlen(ctx->base_currency)}
                          : MD_STR_NULL;
    /* source as in every silver table: trimmed, lower-case, empty → NULL */
    int rc = md_text_clean_lower(arena, in->source, &o.source);
    if (rc == 0)
        rc = map_case(arena, trim_nullif(in->currency), true, &o.currency);
    if (rc == 0)
        rc = map_case(arena, trim_nullif(in->status), false, &o.status);
    if (rc == 0)
        rc = map_case(arena, trim_nullif(in->payment_method), false, &o.payment_method);
    if (rc < 0)
        return rc;
    bool currency_too_long = o.currency.ptr != NULL && o.currency.len > MD_TXN_CURRENCY_MAX;
    if (currency_too_long)
        o.currency = MD_STR_NULL;
    if (o.status.ptr != NULL && o.status.len > MD_TXN_STATUS_MAX) {
        o.status = MD_STR_NULL;
        md_codes_add(&o.errors, MD_CODE_STATUS_TOO_LONG);
    }
    if (external_id_too_long)
        md_codes_add(&o.errors, MD_CODE_EXTERNAL_ID_TOO_LONG);

    o.currency_exponent = -1;
    if (o.currency.ptr != NULL) {
        int e = md_currency_table_lookup(ctx->currencies, o.currency.ptr, o.currency.len);
        if (e >= 0)
            o.currency_exponent = e;
    }

    const char *amount_code = amount_value(in->amount, o.currency_exponent, &o.amount_dec);
    if (amount_code == NULL) {
        o.has_amount = true;
        if (md_dec_sign(&o.amount_dec) <= 0)
            amount_code = MD_CODE_AMOUNT_NOT_POSITIVE;
        rc = dup_dec_text(arena, &o.amount_dec, &o.amount);
        if (rc < 0)
            return rc;
    }
    if (amount_code != NULL)
        md_codes_add(&o.errors, amount_code);
    if (currency_too_long)
        md_codes_add(&o.errors, MD_CODE_CURRENCY_TOO_LONG);
    else if (o.currency.ptr == NULL)
        md_codes_add(&o.errors, MD_CODE_CURRENCY_MISSING);
    else if (o.currency_exponent < 0)
        md_codes_add(&o.errors, MD_CODE_CURRENCY_UNKNOWN);
    o.is_valid = amount_code == NULL && o.currency_exponent >= 0;
    if (in->created_at == MD_TS_NULL)
        md_codes_add(&o.errors, MD_CODE_MISSING_CREATED_AT);

    /* The rate is looked up whatever the amount: fx_rate_missing reports the
     * reference data, so it also appears beside currency_missing/unknown. */
    const md_dec_t *rate = NULL;
    if (o.currency.ptr != NULL)
        rate = md_fx_table_lookup(ctx->fx, o.currency.ptr, o.currency.len, in->created_at);
    if (rate == NULL) {
        md_codes_add(&o.errors, MD_CODE_FX_RATE_MISSING);
    } else if (o.has_amount) {
        rc = md_dec_mul_round(&o.amount_dec, rate, ctx->base_exponent, &o.amount_base_dec);
        if (rc == 0) {
            o.has_amount_base = true;
            rc = dup_dec_text(arena, &o.amount_base_dec, &o.amount_base);
            if (rc < 0)
                return rc;
        } else {
            md_codes_add(&o.errors, MD_CODE_AMOUNT_BASE_OUT_OF_RANGE);
        }
    }

    /* The seed's thresholds, on the base-currency amount so they mean the
     * same money in every currency. */
    o.fraud_score = 10;
    if (o.has_amount_base) {
        md_dec_t t10000, t5000;
        md_dec_from_i64(10000, &t10000);
        md_dec_from_i64(5000, &t5000);
        if (md_dec_cmp(&o.amount_base_dec, &t10000) > 0) {
            o.fraud_score = 80;
            md_codes_add(&o.fraud_reasons, MD_FRAUD_AMOUNT_OVER_10000);
        } else if (md_dec_cmp(&o.amount_base_dec, &t5000) > 0) {
            o.fraud_score = 50;
            md_codes_add(&o.fraud_reasons, MD_FRAUD_AMOUNT_OVER_5000);
        }
    }
    *ret = o;
    return 0;
}

static void hash_field(md_sha256_t *h, const char *p, size_t len) {
    uint8_t prefix[8];
    uint64_t n = len;
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)(n >> (8 * i));
    md_sha256_update(h, prefix, sizeof(prefix));
    md_sha256_update(h, p, len);
}

bool md_txn_dedup_key(const md_txn_out_t *out, uint8_t key[MD_TXN_KEY_LEN]) {
    if (out->external_id.ptr == NULL || out->status.ptr == NULL || !out->has_amount ||
        out->currency.ptr == NULL)
        return false;
    md_dec_t a = out->amount_dec;
    md_dec_strip(&a);
    char buf[MD_DEC_TEXT_MAX];
    int n = md_dec_format(&a, buf, sizeof(buf));
    if (n < 0)
        return false;
    md_sha256_t h;
    md_sha256_init(&h);
    hash_field(&h, out->external_id.ptr, out->external_id.len);
    hash_field(&h, out->status.ptr, out->status.len);
    hash_field(&h, buf, (size_t)n);
    hash_field(&h, out->currency.ptr, out->currency.len);
    md_sha256_final(&h, key);
    return true;
}

bool md_txn_counts_for_velocity(const md_txn_out_t *out) {
    return out->is_valid && !out->is_duplicate && out->user_id.present &&
           out->created_at != MD_TS_NULL;
}

/* First index with sorted[i] >= x. */
static size_t ts_lower_bound(const md_ts_t *sorted, size_t n, md_ts_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t md_velocity_count(const md_ts_t *sorted, size_t n, md_ts_t t, int64_t window_us) {
    if (sorted == NULL || n == 0 || t == MD_TS_NULL || window_us <= 0)
        return 0;
    md_ts_t from = t < INT64_MIN + window_us ? INT64_MIN : t - window_us;
    return ts_lower_bound(sorted, n, t) - ts_lower_bound(sorted, n, from);
}

bool md_txn_velocity_hit(const md_txn_ctx_t *ctx, size_t prior_count) {
    return ctx->velocity_count <= 0 || prior_count >= (size_t)ctx->velocity_count;
}

static int add_velocity(const md_txn_ctx_t *ctx, int score) {
    score += ctx->velocity_add_hundredths;
    return score > 100 ? 100 : score < 0 ? 0 : score;
}

void md_txn_apply_velocity(const md_txn_ctx_t *ctx, md_txn_out_t *out, size_t prior_count) {
    if (out->velocity_applied)
        return;
    out->velocity_applied = true;
    if (!out->user_id.present || out->created_at == MD_TS_NULL)
        return;
    if (!md_txn_velocity_hit(ctx, prior_count))
        return;
    out->fraud_score = add_velocity(ctx, out->fraud_score);
    md_codes_add(&out->fraud_reasons, MD_FRAUD_VELOCITY);
}

int md_txn_fraud_score(const md_txn_ctx_t *ctx, bool over_10000, bool over_5000, bool velocity) {
    int score = over_10000 ? 80 : over_5000 ? 50 : 10;
    return velocity ? add_velocity(ctx, score) : score;
}
