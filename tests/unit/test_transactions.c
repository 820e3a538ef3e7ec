/* Transaction validation: every code, the is_valid truth table, rounding per
 * currency exponent, fx lookup by valid_from, fraud thresholds and velocity,
 * the duplicate key. Expected amounts were computed with Python's decimal
 * module (ROUND_HALF_UP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "medallion/transform/keyset.h"
#include "medallion/transform/transactions.h"

#define SEC(s) ((md_ts_t)(s)*MD_USEC_PER_SEC)
#define T1999 SEC(928195200)  /* 1999-06-01 */
#define T2000 SEC(946684800)  /* 2000-01-01 */
#define T2023 SEC(1686830400) /* 2023-06-15T12:00:00Z */
#define T2024 SEC(1704067200) /* 2024-01-01 */
#define T2024_06 SEC(1717200000)
#define T2024_07 SEC(1719792000)

typedef struct fixture {
    md_currency_table_t *cur;
    md_fx_table_t *fx;
    md_arena_t *arena;
    md_txn_ctx_t ctx;
} fixture_t;

static md_str_t S(const char *s) {
    return s ? (md_str_t){s, strlen(s)} : MD_STR_NULL;
}

static int setup(void **state) {
    static fixture_t f;
    memset(&f, 0, sizeof(f));
    f.cur = md_currency_table_new();
    f.fx = md_fx_table_new();
    f.arena = md_arena_new(0);
    if (!f.cur || !f.fx || !f.arena)
        return -1;
    static const struct {
        const char *code;
        int exp;
    } currencies[] = {{"USD", 2}, {"EUR", 2}, {"JPY", 0}, {"KWD", 3},
                      {"BHD", 3}, {"CLF", 4}, {"GBP", 2}};
    for (size_t i = 0; i < sizeof(currencies) / sizeof(currencies[0]); i++) {
        if (md_currency_table_add(f.cur, currencies[i].code, 3, currencies[i].exp) != 0)
            return -1;
    }
    /* Deliberately out of order: add() must keep the table sorted. BHD has
     * no rate at all; CLF only from 2024-06-01. */
    static const struct {
        const char *code;
        md_ts_t from;
        const char *rate;
    } rates[] = {
        {"EUR", T2024, "1.20"},   {"USD", T2000, "1"},    {"EUR", T2000, "1.10"},
        {"JPY", T2000, "0.0067"}, {"KWD", T2000, "3.25"}, {"CLF", T2024_06, "40.5"},
        {"GBP", T2000, "1.25"},
    };
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        if (md_fx_table_add(f.fx, rates[i].code, 3, rates[i].from, rates[i].rate,
                            strlen(rates[i].rate)) != 0)
            return -1;
    }
    md_txn_ctx_defaults(&f.ctx);
    f.ctx.currencies = f.cur;
    f.ctx.fx = f.fx;
    *state = &f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    md_currency_table_free(f->cur);
    md_fx_table_free(f->fx);
    md_arena_free(f->arena);
    return 0;
}

static void join_codes(const md_codes_t *c, char *buf, size_t cap) {
    buf[0] = '\0';
    for (int i = 0; i < c->count; i++) {
        size_t n = strlen(buf);
        snprintf(buf + n, cap - n, "%s%s", i ? "," : "", c->code[i]);
    }
}

static void assert_str(md_str_t got, const char *want, const char *what, int row) {
    if (want == NULL) {
        if (got.ptr != NULL)
            fail_msg("row %d %s: got \"%.*s\", want NULL", row, what, (int)got.len, got.ptr);
        return;
    }
    if (got.ptr == NULL || got.len != strlen(want) || memcmp(got.ptr, want, got.len) != 0)
        fail_msg("row %d %s: got %s\"%.*s\", want \"%s\"", row, what, got.ptr ? "" : "NULL ",
                 (int)got.len, got.ptr ? got.ptr : "", want);
}

static md_txn_in_t make_in(const char *amount, const char *currency, md_ts_t created_at) {
    md_txn_in_t in;
    memset(&in, 0, sizeof(in));
    in.id = 7;
    in.external_id = S("pi_1");
    in.user_id.present = true;
    in.user_id.b[0] = 1;
    in.amount = S(amount);
    in.currency = S(currency);
    in.status = S("succeeded");
    in.payment_method = S("card");
    in.created_at = created_at;
    in.ingested_at = T2024_07;
    return in;
}

static void test_validation_table(void **state) {
    fixture_t *f = *state;
    static const struct {
        const char *amount, *currency;
        md_ts_t created_at;
        const char *want_amount, *want_currency;
        bool valid;
        const char *errors;
        const char *want_base;
        int fraud;
        const char *reasons;
    } cases[] = {
        /* rounding per exponent: USD 2, JPY 0, KWD 3, CLF 4 */
        {"12.345", "USD", T2023, "12.35", "USD", true, "", "12.35", 10, ""},
        {"12.344", "USD", T2023, "12.34", "USD", true, "", "12.34", 10, ""},
        {"0.005", "USD", T2023, "0.01", "USD", true, "", "0.01", 10, ""},
        {"  12.5  ", "USD", T2023, "12.50", "USD", true, "", "12.50", 10, ""},
        {"12", "USD", T2023, "12.00", "USD", true, "", "12.00", 10, ""},
        {"1234.5", "JPY", T2023, "1235", "JPY", true, "", "8.27", 10, ""},
        {"1234.4", "JPY", T2023, "1234", "JPY", true, "", "8.27", 10, ""},
        {"1.0005", "KWD", T2023, "1.001", "KWD", true, "", "3.25", 10, ""},
        {"1.23455", "CLF", T2024_07, "1.2346", "CLF", true, "", "50.00", 10, ""},
        /* not positive after rounding */
        {"-12.345", "USD", T2023, "-12.35", "USD", false, "amount_not_positive", "-12.35", 10, ""},
        {"0", "USD", T2023, "0.00", "USD", false, "amount_not_positive", "0.00", 10, ""},
        {"0.004", "USD", T2023, "0.00", "USD", false, "amount_not_positive", "0.00", 10, ""},
        {"-0.004", "USD", T2023, "0.00", "USD", false, "amount_not_positive", "0.00", 10, ""},
        {"0.4", "JPY", T2023, "0", "JPY", false, "amount_not_positive", "0.00", 10, ""},
        {"-20000", "USD", T2023, "-20000.00", "USD", false, "amount_not_positive", "-20000.00", 10,
         ""},
        /* missing and out of range */
        {NULL, "USD", T2023, NULL, "USD", false, "amount_missing", NULL, 10, ""},
        {"NaN", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL, 10, ""},
        {"Infinity", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL, 10, ""},
        {"-Infinity", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL, 10, ""},
        {"abc", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL, 10, ""},
        {"999999999999999999.99", "USD", T2023, "999999999999999999.99", "USD", true, "",
         "999999999999999999.99", 80, "amount_over_10000"},
        {"1000000000000000000", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL, 10,
         ""},
        {"-1000000000000000000", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL, 10,
         ""},
        {"999999999999999999.995", "USD", T2023, NULL, "USD", false, "amount_out_of_range", NULL,
         10, ""},
        {"999999999999999999.4", "JPY", T2023, "999999999999999999", "JPY", true, "",
         "6699999999999999.99", 80, "amount_over_10000"},
        {"999999999999999999.5", "JPY", T2023, NULL, "JPY", false, "amount_out_of_range", NULL, 10,
         ""},
        {"123456789012345678901234567890123456789012345", "USD", T2023, NULL, "USD", false,
         "amount_out_of_range", NULL, 10, ""},
        /* currency standardization and lookup */
        {"10", " usd ", T2023, "10.00", "USD", true, "", "10.00", 10, ""},
        {"10", "Usd", T2023, "10.00", "USD", true, "", "10.00", 10, ""},
        {"10", "US$", T2023, "10", "US$", false, "currency_unknown,fx_rate_missing", NULL, 10, ""},
        {"10.50", "xyz", T2023, "10.50", "XYZ", false, "currency_unknown,fx_rate_missing", NULL, 10,
         ""},
        {"1.23456", "\tdollar\n", T2023, "1.23456", "DOLLAR", false,
         "currency_unknown,fx_rate_missing", NULL, 10, ""},
        {"10", NULL, T2023, "10", NULL, false, "currency_missing,fx_rate_missing", NULL, 10, ""},
        {"10", "   ", T2023, "10", NULL, false, "currency_missing,fx_rate_missing", NULL, 10, ""},
        {"-5", NULL, T2023, "-5", NULL, false,
         "amount_not_positive,currency_missing,fx_rate_missing", NULL, 10, ""},
        {NULL, NULL, T2023, NULL, NULL, false, "amount_missing,currency_missing,fx_rate_missing",
         NULL, 10, ""},
        {"NaN", "US$", T2023, NULL, "US$", false,
         "amount_out_of_range,currency_unknown,fx_rate_missing", NULL, 10, ""},
        {"1000000000000000000", "xyz", T2023, NULL, "XYZ", false,
         "amount_out_of_range,currency_unknown,fx_rate_missing", NULL, 10, ""},
        /* fx: warnings only, never invalidating */
        {"10", "BHD", T2023, "10.000", "BHD", true, "fx_rate_missing", NULL, 10, ""},
        {"1.23455", "CLF", T2023, "1.2346", "CLF", true, "fx_rate_missing", NULL, 10, ""},
        {"1.23455", "CLF", T2024_06 - 1, "1.2346", "CLF", true, "fx_rate_missing", NULL, 10, ""},
        {"1.23455", "CLF", T2024_06, "1.2346", "CLF", true, "", "50.00", 10, ""},
        {"10", "USD", T1999, "10.00", "USD", true, "fx_rate_missing", NULL, 10, ""},
        {"10", "USD", MD_TS_NULL, "10.00", "USD", true, "missing_created_at,fx_rate_missing", NULL,
         10, ""},
        {"-10", "USD", MD_TS_NULL, "-10.00", "USD", false,
         "amount_not_positive,missing_created_at,fx_rate_missing", NULL, 10, ""},
        {NULL, "BHD", T2023, NULL, "BHD", false, "amount_missing,fx_rate_missing", NULL, 10, ""},
        {"100", "EUR", T2024 - 1, "100.00", "EUR", true, "", "110.00", 10, ""},
        {"100", "EUR", T2024, "100.00", "EUR", true, "", "120.00", 10, ""},
        {"100", "EUR", T2024_07, "100.00", "EUR", true, "", "120.00", 10, ""},
        {"100", "EUR", MD_TS_POS_INF, "100.00", "EUR", true, "", "120.00", 10, ""},
        {"100", "EUR", MD_TS_NEG_INF, "100.00", "EUR", true, "fx_rate_missing", NULL, 10, ""},
        /* fraud thresholds on amount_base, strictly greater */
        {"5000", "USD", T2023, "5000.00", "USD", true, "", "5000.00", 10, ""},
        {"5000.004", "USD", T2023, "5000.00", "USD", true, "", "5000.00", 10, ""},
        {"5000.005", "USD", T2023, "5000.01", "USD", true, "", "5000.01", 50, "amount_over_5000"},
        {"5000.01", "USD", T2023, "5000.01", "USD", true, "", "5000.01", 50, "amount_over_5000"},
        {"10000", "USD", T2023, "10000.00", "USD", true, "", "10000.00", 50, "amount_over_5000"},
        {"10000.01", "USD", T2023, "10000.01", "USD", true, "", "10000.01", 80,
         "amount_over_10000"},
        {"4545.46", "EUR", T2023, "4545.46", "EUR", true, "", "5000.01", 50, "amount_over_5000"},
        {"4545.45", "EUR", T2023, "4545.45", "EUR", true, "", "5000.00", 10, ""},
        {"1000000", "JPY", T2023, "1000000", "JPY", true, "", "6700.00", 50, "amount_over_5000"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int row = (int)i;
        md_txn_in_t in = make_in(cases[i].amount, cases[i].currency, cases[i].created_at);
        md_txn_out_t out;
        assert_int_equal(md_txn_transform(&f->ctx, &in, f->arena, &out), 0);
        assert_str(out.amount, cases[i].want_amount, "amount", row);
        assert_str(out.currency, cases[i].want_currency, "currency", row);
        assert_str(out.amount_base, cases[i].want_base, "amount_base", row);
        char buf[256];
        join_codes(&out.errors, buf, sizeof(buf));
        if (strcmp(buf, cases[i].errors) != 0)
            fail_msg("row %d errors: got \"%s\", want \"%s\"", row, buf, cases[i].errors);
        if (out.is_valid != cases[i].valid)
            fail_msg("row %d is_valid: got %d", row, out.is_valid);
        if (out.fraud_score != cases[i].fraud)
            fail_msg("row %d fraud: got %d, want %d", row, out.fraud_score, cases[i].fraud);
        join_codes(&out.fraud_reasons, buf, sizeof(buf));
        if (strcmp(buf, cases[i].reasons) != 0)
            fail_msg("row %d reasons: got \"%s\", want \"%s\"", row, buf, cases[i].reasons);
        /* Invariants every row keeps. */
        assert_int_equal(out.has_amount, out.amount.ptr != NULL);
        assert_int_equal(out.has_amount_base, out.amount_base.ptr != NULL);
        assert_false(out.is_duplicate);
        assert_true(out.amount_raw.ptr == in.amount.ptr && out.amount_raw.len == in.amount.len);
        assert_str(out.base_currency, "USD", "base_currency", row);
    }
    md_arena_reset(f->arena);
}

static void test_standardize_and_passthrough(void **state) {
    fixture_t *f = *state;
    static const struct {
        const char *in, *ext, *status, *pm;
    } cases[] = {
        {"  pi_1 ", "pi_1", "pi_1", "pi_1"},
        {"Pi_1", "Pi_1", "pi_1", "pi_1"},
        {"   ", NULL, NULL, NULL},
        {"", NULL, NULL, NULL},
        {"\t\n", NULL, NULL, NULL},
        {NULL, NULL, NULL, NULL},
        {" Pi_Ümlaut ", "Pi_Ümlaut", "pi_Ümlaut", "pi_Ümlaut"}, /* ASCII-only casing */
        {" SUCCEEDED ", "SUCCEEDED", "succeeded", "succeeded"},
        {"Apple Pay", "Apple Pay", "apple pay", "apple pay"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int row = (int)i;
        md_txn_in_t in = make_in("10", "USD", T2023);
        in.external_id = S(cases[i].in);
        in.status = S(cases[i].in);
        in.payment_method = S(cases[i].in);
        in.properties = S("{\"a\": 1}");
        in.source = S(" Stripe ");
        md_txn_out_t out;
        assert_int_equal(md_txn_transform(&f->ctx, &in, f->arena, &out), 0);
        assert_str(out.external_id, cases[i].ext, "external_id", row);
        assert_str(out.status, cases[i].status, "status", row);
        assert_str(out.payment_method, cases[i].pm, "payment_method", row);
        /* Status and payment method never decide validity. */
        assert_true(out.is_valid);
        assert_int_equal(out.id, 7);
        assert_true(out.user_id.present);
        assert_int_equal(out.user_id.b[0], 1);
        assert_true(out.properties.ptr == in.properties.ptr);
        assert_str(out.source, "stripe", "source", row);
        assert_true(out.created_at == T2023);
        assert_true(out.ingested_at == T2024_07);
        assert_int_equal(out.currency_exponent, 2);
    }
    md_arena_reset(f->arena);
}

/* Text too long for the duplicate index is stored as NULL with a code:
 * external_id and status as warnings, a currency as invalid (it cannot be a
 * known one). The limits themselves are kept. */
static void test_text_too_long(void **state) {
    fixture_t *f = *state;
    static char big[MD_TEXT_INDEXED_MAX + 2];
    memset(big, 'x', sizeof(big));
    static const struct {
        size_t ext, status, currency; /* lengths; 0 = the normal value */
        bool valid;
        const char *codes;
    } cases[] = {
        {MD_TEXT_INDEXED_MAX, 0, 0, true, ""},
        {MD_TEXT_INDEXED_MAX + 1, 0, 0, true, "external_id_too_long"},
        {0, MD_TXN_STATUS_MAX, 0, true, ""},
        {0, MD_TXN_STATUS_MAX + 1, 0, true, "status_too_long"},
        {0, 0, MD_TXN_CURRENCY_MAX + 1, false, "currency_too_long,fx_rate_missing"},
        {0, 0, MD_TXN_CURRENCY_MAX, false, "currency_unknown,fx_rate_missing"},
        {MD_TEXT_INDEXED_MAX + 1, MD_TXN_STATUS_MAX + 1, MD_TXN_CURRENCY_MAX + 1, false,
         "status_too_long,external_id_too_long,currency_too_long,fx_rate_missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_txn_in_t in = make_in("10", "USD", T2023);
        in.external_id = cases[i].ext ? (md_str_t){big, cases[i].ext} : S("pi_1");
        in.status = cases[i].status ? (md_str_t){big, cases[i].status} : S("succeeded");
        if (cases[i].currency)
            in.currency = (md_str_t){big, cases[i].currency};
        md_txn_out_t out;
        assert_int_equal(md_txn_transform(&f->ctx, &in, f->arena, &out), 0);
        char buf[256];
        join_codes(&out.errors, buf, sizeof(buf));
        if (out.is_valid != cases[i].valid || strcmp(buf, cases[i].codes) != 0)
            fail_msg("row %zu: valid %d codes \"%s\"", i, out.is_valid, buf);
        assert_true(cases[i].ext > MD_TEXT_INDEXED_MAX ? out.external_id.ptr == NULL
                                                       : out.external_id.ptr != NULL);
        assert_true(cases[i].status > MD_TXN_STATUS_MAX ? out.status.ptr == NULL
                                                        : out.status.ptr != NULL);
        assert_true(cases[i].currency > MD_TXN_CURRENCY_MAX ? out.currency.ptr == NULL
                                                            : out.currency.ptr != NULL);
    }
    md_arena_reset(f->arena);
}

static void test_base_currency_jpy(void **state) {
    fixture_t *f = *state;
    md_fx_table_t *fx = md_fx_table_new();
    assert_non_null(fx);
    assert_int_equal(md_fx_table_add(fx, "USD", 3, T2000, "150.5", 5), 0);
    assert_int_equal(md_fx_table_add(fx, "JPY", 3, T2000, "1", 1), 0);
    md_txn_ctx_t ctx = f->ctx;
    ctx.fx = fx;
    ctx.base_currency = "JPY";
    ctx.base_exponent = 0;
    static const struct {
        const char *amount, *currency, *base;
        int fraud;
    } cases[] = {
        {"10.01", "USD", "1507", 10},    /* 1506.505 → 1507 */
        {"33.22", "USD", "5000", 10},    /* 4999.61 → 5000, not > 5000 */
        {"33.23", "USD", "5001", 50},    /* 5001.115 */
        {"10000.4", "JPY", "10000", 50}, /* amount rounds to 10000 first */
        {"10000.5", "JPY", "10001", 80},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_txn_in_t in = make_in(cases[i].amount, cases[i].currency, T2023);
        md_txn_out_t out;
        assert_int_equal(md_txn_transform(&ctx, &in, f->arena, &out), 0);
        assert_str(out.amount_base, cases[i].base, "amount_base", (int)i);
        assert_int_equal(out.fraud_score, cases[i].fraud);
        assert_str(out.base_currency, "JPY", "base_currency", (int)i);
    }
    ctx.base_exponent = -1;
    md_txn_in_t in = make_in("1", "USD", T2023);
    md_txn_out_t out;
    out.id = 12345;
    assert_int_equal(md_txn_transform(&ctx, &in, f->arena, &out), -EINVAL);
    assert_int_equal(out.id, 12345); /* untouched */
    md_fx_table_free(fx);
    md_arena_reset(f->arena);
}

static void test_currency_table(void **state) {
    (void)state;
    md_currency_table_t *t = md_currency_table_new();
    assert_non_null(t);
    static const char *codes[] = {"ZWL", "AED", "USD", "JPY", "EUR", "KWD", "CLF", "BHD"};
    static const int exps[] = {2, 2, 2, 0, 2, 3, 4, 3};
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(md_currency_table_add(t, codes[i], 3, exps[i]), 0);
    assert_int_equal(md_currency_table_count(t), 8);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(md_currency_table_lookup(t, codes[i], 3), exps[i]);
    assert_int_equal(md_currency_table_lookup(t, "usd", 3), -ENOENT); /* caller upper-cases */
    assert_int_equal(md_currency_table_lookup(t, "US", 2), -ENOENT);
    assert_int_equal(md_currency_table_lookup(t, "USDX", 4), -ENOENT);
    assert_int_equal(md_currency_table_lookup(t, "USD", 0), -ENOENT);
    assert_int_equal(md_currency_table_lookup(NULL, "USD", 3), -ENOENT);
    /* Re-adding replaces. */
    assert_int_equal(md_currency_table_add(t, "JPY", 3, 1), 0);
    assert_int_equal(md_currency_table_lookup(t, "JPY", 3), 1);
    assert_int_equal(md_currency_table_count(t), 8);
    assert_int_equal(md_currency_table_add(t, "", 0, 2), -EINVAL);
    assert_int_equal(md_currency_table_add(t, "ABC", 3, -1), -EINVAL);
    assert_int_equal(md_currency_table_add(t, "ABC", 3, MD_DEC_MAX_SCALE + 1), -EINVAL);
    assert_int_equal(md_currency_table_add(t, "ABCDEFGHIJKLMNOPQ", 17, 2), -EINVAL);
    md_currency_table_free(t);
    md_currency_table_free(NULL);
}

static void test_fx_table(void **state) {
    (void)state;
    md_fx_table_t *t = md_fx_table_new();
    assert_non_null(t);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2024, "1.2", 3), 0);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2000, "1.1", 3), 0);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2024_06, "1.3", 3), 0);
    assert_int_equal(md_fx_table_add(t, "AUD", 3, T2023, "0.65", 4), 0);
    assert_int_equal(md_fx_table_add(t, "GBP", 3, T2024, "1.27", 4), 0);
    static const struct {
        const char *code;
        md_ts_t at;
        const char *want; /* NULL: no rate */
    } cases[] = {
        {"EUR", T1999, NULL},
        {"EUR", T2000 - 1, NULL},
        {"EUR", T2000, "1.1"},
        {"EUR", T2023, "1.1"},
        {"EUR", T2024 - 1, "1.1"},
        {"EUR", T2024, "1.2"},
        {"EUR", T2024_06 - 1, "1.2"},
        {"EUR", T2024_06, "1.3"},
        {"EUR", MD_TS_POS_INF, "1.3"},
        {"EUR", MD_TS_NEG_INF, NULL},
        {"EUR", MD_TS_NULL, NULL},
        {"AUD", T2000, NULL}, /* before AUD's first, after EUR's: never another currency */
        {"AUD", T2024_07, "0.65"},
        {"GBP", T2023, NULL},
        {"GBP", T2024, "1.27"},
        {"CAD", T2024, NULL},
        {"EU", T2024, NULL},
        {"EURO", T2024, NULL},
        {"ZZZ", MD_TS_POS_INF, NULL},
        {"AAA", MD_TS_POS_INF, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const md_dec_t *r =
            md_fx_table_lookup(t, cases[i].code, strlen(cases[i].code), cases[i].at);
        if (cases[i].want == NULL) {
            if (r != NULL)
                fail_msg("row %zu: expected no rate", i);
            continue;
        }
        if (r == NULL)
            fail_msg("row %zu: no rate, want %s", i, cases[i].want);
        char buf[MD_DEC_TEXT_MAX];
        assert_true(md_dec_format(r, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, cases[i].want);
    }
    assert_int_equal(md_fx_table_count(t), 5);
    /* Same key replaces the rate. */
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2024, "1.25", 4), 0);
    assert_int_equal(md_fx_table_count(t), 5);
    char buf[MD_DEC_TEXT_MAX];
    assert_true(md_dec_format(md_fx_table_lookup(t, "EUR", 3, T2024), buf, sizeof(buf)) > 0);
    assert_string_equal(buf, "1.25");
    /* Bad input. */
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2023, "0", 1), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2023, "-1", 2), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2023, "NaN", 3), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2023, "Infinity", 8), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2023, "x", 1), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, MD_TS_NULL, "1", 1), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "", 0, T2023, "1", 1), -EINVAL);
    assert_int_equal(md_fx_table_add(t, "EUR", 3, T2023, "1e50", 4), -ERANGE);
    assert_int_equal(md_fx_table_count(t), 5);
    assert_null(md_fx_table_lookup(NULL, "EUR", 3, T2024));
    md_fx_table_free(t);
    md_fx_table_free(NULL);

    /* Many rates loaded in order, looked up at and between every valid_from. */
    t = md_fx_table_new();
    assert_non_null(t);
    for (int d = 0; d < 1000; d++) {
        char rate[16];
        int n = snprintf(rate, sizeof(rate), "1.%04d", d);
        assert_int_equal(md_fx_table_add(t, "SEK", 3, T2000 + SEC(86400) * d, rate, (size_t)n), 0);
    }
    for (int d = 0; d < 1000; d++) {
        char want[16];
        snprintf(want, sizeof(want), "1.%04d", d);
        for (int off = 0; off < 2; off++) {
            const md_dec_t *r =
                md_fx_table_lookup(t, "SEK", 3, T2000 + SEC(86400) * d + off * SEC(86399));
            assert_non_null(r);
            assert_true(md_dec_format(r, buf, sizeof(buf)) > 0);
            assert_string_equal(buf, want);
        }
    }
    md_fx_table_free(t);
}

/* Compute the key the header documents, independently. */
static void expected_key(const char *ext, const char *status, const char *amount,
                         const char *currency, uint8_t out[MD_TXN_KEY_LEN]) {
    uint8_t buf[512];
    size_t n = 0;
    const char *fields[] = {ext, status, amount, currency};
    for (int i = 0; i < 4; i++) {
        uint64_t len = strlen(fields[i]);
        for (int b = 0; b < 8; b++)
            buf[n++] = (uint8_t)(len >> (8 * b));
        memcpy(buf + n, fields[i], len);
        n += len;
    }
    md_sha256(buf, n, out);
}

static void key_of(fixture_t *f, const char *ext, const char *status, const char *amount,
                   const char *currency, bool want_ok, uint8_t key[MD_TXN_KEY_LEN]) {
    md_txn_in_t in = make_in(amount, currency, T2023);
    in.external_id = S(ext);
    in.status = S(status);
    md_txn_out_t out;
    assert_int_equal(md_txn_transform(&f->ctx, &in, f->arena, &out), 0);
    memset(key, 0xEE, MD_TXN_KEY_LEN);
    assert_int_equal(md_txn_dedup_key(&out, key), want_ok);
}

static void test_dedup_key(void **state) {
    fixture_t *f = *state;
    uint8_t a[MD_TXN_KEY_LEN], b[MD_TXN_KEY_LEN], want[MD_TXN_KEY_LEN];

    key_of(f, "pi_1", "succeeded", "10.00", "USD", true, a);
    expected_key("pi_1", "succeeded", "10", "USD", want);
    assert_memory_equal(a, want, MD_TXN_KEY_LEN);

    /* Same normalized tuple from different raw forms. */
    key_of(f, " pi_1 ", " SUCCEEDED", "10.001", "usd ", true, b);
    assert_memory_equal(a, b, MD_TXN_KEY_LEN);
    key_of(f, "pi_1", "succeeded", "9.995", "USD", true, b);
    assert_memory_equal(a, b, MD_TXN_KEY_LEN);

    /* A different status, amount, currency or id is a different key. */
    static const struct {
        const char *ext, *status, *amount, *currency;
    } differ[] = {
        {"pi_1", "refunded", "10.00", "USD"},  {"pi_1", "succeeded", "10.01", "USD"},
        {"pi_1", "succeeded", "10.00", "EUR"}, {"pi_2", "succeeded", "10.00", "USD"},
        {"PI_1", "succeeded", "10.00", "USD"}, {"pi_1", "succeeded", "-10.00", "USD"},
    };
    for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++) {
        key_of(f, differ[i].ext, differ[i].status, differ[i].amount, differ[i].currency, true, b);
        if (memcmp(a, b, MD_TXN_KEY_LEN) == 0)
            fail_msg("differ row %zu has the same key", i);
    }

    /* Length prefixes keep field boundaries. */
    key_of(f, "ab", "c", "1", "USD", true, a);
    key_of(f, "a", "bc", "1", "USD", true, b);
    assert_memory_not_equal(a, b, MD_TXN_KEY_LEN);

    /* Unknown currency keeps the given scale, but numeric equality ignores it. */
    key_of(f, "pi_9", "pending", "1.5", "xyz", true, a);
    key_of(f, "pi_9", "pending", "1.50", "XYZ", true, b);
    assert_memory_equal(a, b, MD_TXN_KEY_LEN);
    expected_key("pi_9", "pending", "1.5", "XYZ", want);
    assert_memory_equal(a, want, MD_TXN_KEY_LEN);

    /* Any NULL member: never a duplicate, key untouched. */
    static const struct {
        const char *ext, *status, *amount, *currency;
    } nulls[] = {
        {NULL, "succeeded", "10", "USD"},     {"  ", "succeeded", "10", "USD"},
        {"pi_1", NULL, "10", "USD"},          {"pi_1", "", "10", "USD"},
        {"pi_1", "succeeded", NULL, "USD"},   {"pi_1", "succeeded", "NaN", "USD"},
        {"pi_1", "succeeded", "1e19", "USD"}, {"pi_1", "succeeded", "10", NULL},
        {"pi_1", "succeeded", "10", " "},
    };
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        key_of(f, nulls[i].ext, nulls[i].status, nulls[i].amount, nulls[i].currency, false, b);
        for (int k = 0; k < MD_TXN_KEY_LEN; k++)
            assert_int_equal(b[k], 0xEE);
    }

    /* The job's flow: keyset over the key head decides "seen before". */
    md_keyset_t *ks = md_keyset_new(8);
    assert_non_null(ks);
    static const struct {
        const char *ext, *status, *amount;
        bool dup;
    } flow[] = {
        {"pi_1", "pending", "10.00", false},  {"pi_1", "succeeded", "10.00", false},
        {"pi_1", "succeeded", "10.00", true}, {" pi_1", "Succeeded", "10.004", true},
        {"pi_1", "refunded", "10.00", false}, {"pi_1", "refunded", "10.00", true},
    };
    for (size_t i = 0; i < sizeof(flow) / sizeof(flow[0]); i++) {
        key_of(f, flow[i].ext, flow[i].status, flow[i].amount, "USD", true, a);
        int64_t kept = -1;
        int rc = md_keyset_insert_or_get(ks, a, (int64_t)i, &kept);
        assert_true(rc >= 0);
        if ((rc == 0) != flow[i].dup)
            fail_msg("flow row %zu: dup %d", i, rc == 0);
    }
    md_keyset_free(ks);
    md_arena_reset(f->arena);
}

static void test_velocity_count(void **state) {
    (void)state;
    static const md_ts_t ts[] = {100, 200, 300, 400, 500};
    static const md_ts_t same[] = {100, 100, 100};
    static const struct {
        const md_ts_t *arr;
        size_t n;
        md_ts_t t;
        int64_t window;
        size_t want;
    } cases[] = {
        {ts, 5, 500, 200, 2}, /* [300, 500): 300, 400 */
        {ts, 5, 501, 200, 2}, /* [301, 501): 400, 500 */
        {ts, 5, 300, 200, 2}, /* [100, 300): 100, 200 */
        {ts, 5, 600, 200, 2}, /* [400, 600) */
        {ts, 5, 700, 200, 1}, /* [500, 700) */
        {ts, 5, 701, 200, 0}, /* [501, 701) */
        {ts, 5, 100, 200, 0}, /* nothing strictly before */
        {ts, 5, 101, 200, 1},
        {ts, 5, 0, 200, 0},
        {ts, 5, 1000, 1000, 5},
        {ts, 5, 501, 1000, 5},
        {ts, 5, 500, 1000, 4},
        {ts, 5, 500, 0, 0},
        {ts, 5, 500, -5, 0},
        {ts, 5, MD_TS_NULL, 200, 0},
        {ts, 5, MD_TS_NEG_INF, INT64_MAX, 0}, /* no overflow */
        {ts, 5, MD_TS_POS_INF, INT64_MAX, 5},
        {ts, 0, 500, 200, 0},
        {NULL, 0, 500, 200, 0},
        {same, 3, 100, 10, 0},
        {same, 3, 101, 1, 3},
        {same, 3, 110, 10, 3},
        {same, 3, 111, 10, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = md_velocity_count(cases[i].arr, cases[i].n, cases[i].t, cases[i].window);
        if (got != cases[i].want)
            fail_msg("row %zu: %zu, want %zu", i, got, cases[i].want);
    }
}

static void test_velocity_apply(void **state) {
    fixture_t *f = *state;
    static const struct {
        const char *amount; /* USD: sets the base score */
        bool user;
        md_ts_t created_at;
        int count, add;
        size_t prior;
        int want;
        const char *reasons;
    } cases[] = {
        {"10", true, T2023, 5, 20, 4, 10, ""},
        {"10", true, T2023, 5, 20, 5, 30, "velocity"},
        {"10", true, T2023, 5, 20, 6, 30, "velocity"},
        {"6000", true, T2023, 5, 20, 5, 70, "amount_over_5000,velocity"},
        {"20000", true, T2023, 5, 20, 5, 100, "amount_over_10000,velocity"},
        {"20000", true, T2023, 5, 30, 9, 100, "amount_over_10000,velocity"}, /* cap 1.00 */
        {"20000", true, T2023, 5, 30, 4, 80, "amount_over_10000"},
        {"10", true, T2023, 1, 20, 1, 30, "velocity"},
        {"10", true, T2023, 1, 20, 0, 10, ""},
        {"10", false, T2023, 5, 20, 99, 10, ""},       /* NULL user_id */
        {"10", true, MD_TS_NULL, 5, 20, 99, 10, ""},   /* NULL created_at */
        {NULL, true, T2023, 5, 20, 5, 30, "velocity"}, /* invalid rows are scored too */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_txn_ctx_t ctx = f->ctx;
        ctx.velocity_count = cases[i].count;
        ctx.velocity_add_hundredths = cases[i].add;
        md_txn_in_t in = make_in(cases[i].amount, "USD", cases[i].created_at);
        in.user_id.present = cases[i].user;
        md_txn_out_t out;
        assert_int_equal(md_txn_transform(&ctx, &in, f->arena, &out), 0);
        md_txn_apply_velocity(&ctx, &out, cases[i].prior);
        md_txn_apply_velocity(&ctx, &out, cases[i].prior); /* no double add */
        char buf[128];
        join_codes(&out.fraud_reasons, buf, sizeof(buf));
        if (out.fraud_score != cases[i].want || strcmp(buf, cases[i].reasons) != 0)
            fail_msg("row %zu: score %d reasons \"%s\"", i, out.fraud_score, buf);
        /* Re-scoring a silver row from its stored reasons gives the same
         * score, and the velocity decision is the one applied here. */
        bool velocity = strstr(buf, "velocity") != NULL;
        if (md_txn_fraud_score(&ctx, strstr(buf, "amount_over_10000") != NULL,
                               strstr(buf, "amount_over_5000") != NULL,
                               velocity) != out.fraud_score)
            fail_msg("row %zu: md_txn_fraud_score disagrees with the transform", i);
        if (cases[i].user && cases[i].created_at != MD_TS_NULL &&
            md_txn_velocity_hit(&ctx, cases[i].prior) != velocity)
            fail_msg("row %zu: md_txn_velocity_hit disagrees with md_txn_apply_velocity", i);
    }
    md_arena_reset(f->arena);
}

static void test_counts_for_velocity(void **state) {
    fixture_t *f = *state;
    static const struct {
        const char *amount;
        bool user, dup;
        md_ts_t created_at;
        bool want;
    } cases[] = {
        {"10", true, false, T2023, true},       {"10", true, true, T2023, false},
        {"-10", true, false, T2023, false},     {"10", false, false, T2023, false},
        {"10", true, false, MD_TS_NULL, false}, {NULL, true, false, T2023, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        md_txn_in_t in = make_in(cases[i].amount, "USD", cases[i].created_at);
        in.user_id.present = cases[i].user;
        md_txn_out_t out;
        assert_int_equal(md_txn_transform(&f->ctx, &in, f->arena, &out), 0);
        out.is_duplicate = cases[i].dup;
        if (md_txn_counts_for_velocity(&out) != cases[i].want)
            fail_msg("row %zu", i);
    }
    /* Unknown currency is invalid, so it never counts. */
    md_txn_in_t in = make_in("10", "US$", T2023);
    md_txn_out_t out;
    assert_int_equal(md_txn_transform(&f->ctx, &in, f->arena, &out), 0);
    assert_false(md_txn_counts_for_velocity(&out));
    md_arena_reset(f->arena);
}

static void test_ctx_defaults(void **state) {
    (void)state;
    md_txn_ctx_t ctx;
    memset(&ctx, 0x7F, sizeof(ctx));
    md_txn_ctx_defaults(&ctx);
    assert_string_equal(ctx.base_currency, "USD");
    assert_int_equal(ctx.base_exponent, 2);
    assert_int_equal(ctx.velocity_count, 5);
    assert_true(ctx.velocity_window_us == INT64_C(600000000));
    assert_int_equal(ctx.velocity_add_hundredths, 20);
    assert_null(ctx.currencies);
    assert_null(ctx.fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_table),
        cmocka_unit_test(test_standardize_and_passthrough),
        cmocka_unit_test(test_base_currency_jpy),
        cmocka_unit_test(test_currency_table),
        cmocka_unit_test(test_fx_table),
        cmocka_unit_test(test_dedup_key),
        cmocka_unit_test(test_velocity_count),
        cmocka_unit_test(test_text_too_long),
        cmocka_unit_test(test_velocity_apply),
        cmocka_unit_test(test_counts_for_velocity),
        cmocka_unit_test(test_ctx_defaults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
