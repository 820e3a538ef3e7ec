/* transactions_raw → transactions_validated for one row (product.md §4
 * "Transactions"): standardize, round the amount exactly to the currency's
 * minor unit, convert to the base currency, score fraud. Pure: no clock, no
 * I/O; the job supplies reference data (currencies, fx rates) and makes the
 * duplicate and velocity decisions, which need state across batches. */
#ifndef MEDALLION_TRANSFORM_TRANSACTIONS_H
#define MEDALLION_TRANSFORM_TRANSACTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medallion/error.h"
#include "medallion/transform/arena.h"
#include "medallion/transform/codes.h"
#include "medallion/transform/decimal.h"
#include "medallion/transform/sha256.h"
#include "medallion/types.h"

/* validation_errors codes: stable API, never rename. */
#define MD_CODE_AMOUNT_MISSING "amount_missing"           /* invalidates */
#define MD_CODE_AMOUNT_OUT_OF_RANGE "amount_out_of_range" /* invalidates */
#define MD_CODE_AMOUNT_NOT_POSITIVE "amount_not_positive" /* invalidates */
#define MD_CODE_CURRENCY_MISSING "currency_missing"       /* invalidates */
#define MD_CODE_CURRENCY_UNKNOWN "currency_unknown"       /* invalidates */
#define MD_CODE_FX_RATE_MISSING "fx_rate_missing"         /* warning only */
/* amount × rate >= 10^40: needs a rate above 10^22, which no real table has,
 * but a NULL amount_base must still say why. Warning only. */
#define MD_CODE_AMOUNT_BASE_OUT_OF_RANGE "amount_base_out_of_range"
/* MD_CODE_MISSING_CREATED_AT (codes.h) is a warning here, not invalidating. */
/* Text too long for the duplicate index (external_id, status, amount,
 * currency): the value is stored as NULL. external_id beyond
 * MD_TEXT_INDEXED_MAX and status beyond MD_TXN_STATUS_MAX bytes are warnings
 * (the row then has no duplicate key); a currency beyond MD_TXN_CURRENCY_MAX
 * bytes cannot be a known one and invalidates, like currency_unknown. */
#define MD_CODE_EXTERNAL_ID_TOO_LONG "external_id_too_long"
#define MD_CODE_STATUS_TOO_LONG "status_too_long"
#define MD_CODE_CURRENCY_TOO_LONG "currency_too_long"
#define MD_TXN_STATUS_MAX 256
#define MD_TXN_CURRENCY_MAX 64

/* fraud_reasons values. */
#define MD_FRAUD_AMOUNT_OVER_10000 "amount_over_10000"
#define MD_FRAUD_AMOUNT_OVER_5000 "amount_over_5000"
#define MD_FRAUD_VELOCITY "velocity"

/* Amounts with more integer digits than this are amount_out_of_range. */
#define MD_TXN_MAX_INT_DIGITS 18

/* ---- Reference data: analytics.currencies --------------------------------
 * Code → minor-unit exponent, kept sorted for binary search. */
typedef struct md_currency_table md_currency_table_t;

md_currency_table_t *md_currency_table_new(void);
void md_currency_table_free(md_currency_table_t *t);
/* code: 1..15 bytes, matched byte for byte (the table holds upper-case ISO
 * codes); minor_unit 0..MD_DEC_MAX_SCALE. Re-adding a code replaces its
 * exponent. 0, -EINVAL, -ENOMEM. */
int md_currency_table_add(md_currency_table_t *t, const char *code, size_t len,
                          int minor_unit) MD_MUST_CHECK;
/* The exponent, or -ENOENT when the code is not in the table. */
int md_currency_table_lookup(const md_currency_table_t *t, const char *code, size_t len);
size_t md_currency_table_count(const md_currency_table_t *t);

/* ---- Reference data: analytics.fx_rates for one base currency -------------
 * (currency, valid_from) → base_per_unit, kept sorted; loading in
 * (currency, valid_from) order appends without moving anything. */
typedef struct md_fx_table md_fx_table_t;

md_fx_table_t *md_fx_table_new(void);
void md_fx_table_free(md_fx_table_t *t);
/* rate_text: numeric text, finite and > 0 (the table's CHECK). An existing
 * (currency, valid_from) is replaced. 0, -EINVAL (bad code, NULL
 * valid_from, bad or non-positive rate), -ERANGE (rate too large), -ENOMEM. */
int md_fx_table_add(md_fx_table_t *t, const char *currency, size_t len, md_ts_t valid_from,
                    const char *rate_text, size_t rate_len) MD_MUST_CHECK;
/* The rate of the latest valid_from <= at for currency, or NULL when there
 * is none (also for at == MD_TS_NULL). The pointer is valid until the next
 * add or free. */
const md_dec_t *md_fx_table_lookup(const md_fx_table_t *t, const char *currency, size_t len,
                                   md_ts_t at);
size_t md_fx_table_count(const md_fx_table_t *t);

/* ---- The transform --------------------------------------------------------- */

typedef struct md_txn_ctx {
    const md_currency_table_t *currencies;
    const md_fx_table_t *fx;     /* rates into base_currency */
    const char *base_currency;   /* e.g. "USD"; copied to each row's base_currency */
    int base_exponent;           /* minor unit of base_currency: amount_base's digits */
    int velocity_count;          /* fraud.velocity.count, default 5 */
    int64_t velocity_window_us;  /* fraud.velocity.window, default 10 min */
    int velocity_add_hundredths; /* fraud.velocity.add, default 20 (0.20) */
} md_txn_ctx_t;

/* Defaults above, base USD with 2 digits; tables left NULL (set them). */
void md_txn_ctx_defaults(md_txn_ctx_t *ctx);

/* One decoded bronze row. Strings are borrowed; ptr == NULL is SQL NULL. */
typedef struct md_txn_in {
    int64_t id;
    md_str_t external_id;
    md_uuid_t user_id;
    md_str_t amount; /* numeric text as PostgreSQL prints it (NaN/Infinity included) */
    md_str_t currency;
    md_str_t status;
    md_str_t payment_method;
    md_str_t properties; /* jsonb as text */
    md_str_t source;
    md_ts_t created_at;
    md_ts_t ingested_at;
} md_txn_in_t;

/* The silver values. Strings borrow from the input row or from the arena:
 * valid while both are. */
typedef struct md_txn_out {
    int64_t id;
    md_str_t external_id; /* trimmed; empty → NULL */
    md_uuid_t user_id;
    md_str_t amount;         /* canonical text, rounded to the currency's minor unit; NULL when
                                missing/out of range. Unknown or missing currency: the value as
                                given (canonical, not rounded: no exponent is known). */
    md_str_t amount_raw;     /* the bronze text, unchanged */
    md_str_t currency;       /* trimmed, upper-case ASCII; empty → NULL */
    md_str_t status;         /* trimmed, lower-case ASCII; empty → NULL */
    md_str_t payment_method; /* trimmed, lower-case ASCII; empty → NULL */
    md_str_t properties;     /* passed through */
    md_str_t source;         /* trimmed, lower-case; empty → NULL */
    md_ts_t created_at;
    md_ts_t ingested_at;
    bool is_valid;     /* amount present, finite, <= 18 integer digits, > 0 after rounding,
                          and currency known */
    bool is_duplicate; /* false from md_txn_transform; the job sets it (md_txn_dedup_key) */
    int fraud_score;   /* hundredths, 0..100 (numeric(3,2)) */
    md_codes_t fraud_reasons;
    md_codes_t errors;      /* validation_errors, in this order: at most one amount_* code,
                               at most one currency_* code, missing_created_at,
                               fx_rate_missing or amount_base_out_of_range */
    md_str_t amount_base;   /* canonical text, base_exponent digits; NULL when no amount or
                               no rate */
    md_str_t base_currency; /* ctx->base_currency */
    int currency_exponent;  /* minor unit, -1 when the currency is unknown/missing */
    bool has_amount;        /* amount_dec is set (== amount.ptr != NULL) */
    bool has_amount_base;   /* amount_base_dec is set */
    bool velocity_applied;
    md_dec_t amount_dec;
    md_dec_t amount_base_dec;
} md_txn_out_t;

/* Fill *ret from *in: everything but is_duplicate and velocity (fraud_score
 * holds the amount thresholds only). 0, -EINVAL when ctx->base_exponent is
 * outside 0..MD_DEC_MAX_SCALE, or -ENOMEM when the arena cannot grow; *ret
 * is untouched on failure. base_currency borrows ctx->base_currency.
 * amount_base is computed whenever an amount and a rate exist, also for a
 * row that is invalid (amount <= 0): fraud scores then see it (a negative
 * amount_base scores 0.10). */
int md_txn_transform(const md_txn_ctx_t *ctx, const md_txn_in_t *in, md_arena_t *arena,
                     md_txn_out_t *ret) MD_MUST_CHECK;

#define MD_TXN_KEY_LEN MD_SHA256_DIGEST_LEN

/* Duplicate key: SHA-256 of the length-prefixed normalized tuple
 * (external_id, status, amount, currency), the amount with trailing zeros
 * dropped so it compares like SQL numeric equality. Returns false (key
 * untouched) when any of the four is NULL: under SQL equality such a row
 * is never a duplicate. keyset.h stores the first MD_KEYSET_KEY_LEN bytes. */
bool md_txn_dedup_key(const md_txn_out_t *out, uint8_t key[MD_TXN_KEY_LEN]);

/* Whether this row counts toward later rows' velocity: valid, not a
 * duplicate, with a user_id and a created_at. Call after is_duplicate is set. */
bool md_txn_counts_for_velocity(const md_txn_out_t *out);

/* How many of sorted[0..n) (ascending) lie in [t - window_us, t). 0 for
 * t == MD_TS_NULL or window_us <= 0. */
size_t md_velocity_count(const md_ts_t *sorted, size_t n, md_ts_t t, int64_t window_us);

/* Add the velocity score when prior_count (md_velocity_count over the user's
 * counting transactions) reaches ctx->velocity_count; capped at 100. Rows
 * without user_id or created_at never get it. Applying twice is a no-op. */
void md_txn_apply_velocity(const md_txn_ctx_t *ctx, md_txn_out_t *out, size_t prior_count);

/* Whether prior_count earlier counting transactions trigger the velocity rule
 * (what md_txn_apply_velocity decides). */
bool md_txn_velocity_hit(const md_txn_ctx_t *ctx, size_t prior_count);

/* The fraud score (hundredths) of a row with the given threshold reasons
 * (MD_FRAUD_AMOUNT_OVER_10000 / _5000) and with or without the velocity
 * rule: what md_txn_transform plus md_txn_apply_velocity give it. Used to
 * re-score a row already in silver when a late transaction changes its
 * velocity count. */
int md_txn_fraud_score(const md_txn_ctx_t *ctx, bool over_10000, bool over_5000, bool velocity);

#endif
