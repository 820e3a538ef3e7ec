#!/usr/bin/env bash
# revenue_summary and first_purchase_at on demo data, compared with an
# independent plain-SQL computation of product.md §4 "Revenue" over
# transactions_validated; then late transactions three weeks back must move
# exactly that day, an idle rerun and a rerun of unchanged days change nothing,
# and a marked day without data becomes a row of zeros. Repeated in a second
# database with a non-UTC reporting.timezone, where day boundaries differ.
source "$(dirname "$0")/lib.sh"

JOBS=(clean_events validate_transactions build_user_sessions calculate_revenue_summary)
run_jobs() {
    local out
    out=$("$MEDALLIOND" run "${JOBS[@]}" 2>&1) || { echo "$out"; md_fail "jobs run ($1)"; md_finish; exit 1; }
    md_ok "jobs ran ($1)"
}
mismatch() { assert_eq "0" "$(qq "$2")" "$1"; }
# rows in one query and not the other, both ways
differs() { echo "SELECT count(*) FROM ((($1) EXCEPT ($2)) UNION ALL (($2) EXCEPT ($1))) z"; }

TZ_NAME=UTC
MINOR=2 # USD, the default base currency

expected_summary() {
    echo "
      WITH t AS (SELECT (created_at AT TIME ZONE '$TZ_NAME')::date AS d, status, amount_base
                 FROM analytics.transactions_validated
                 WHERE is_valid AND NOT is_duplicate AND created_at IS NOT NULL)
      SELECT d, 'USD'::text,
             coalesce(sum(amount_base) FILTER (WHERE status = 'succeeded'), 0)::numeric,
             count(*)::int,
             round(avg(amount_base) FILTER (WHERE status = 'succeeded'), $MINOR),
             (count(*) FILTER (WHERE status = 'succeeded'))::int,
             (count(*) FILTER (WHERE status = 'failed'))::int,
             (count(*) FILTER (WHERE status = 'refunded'))::int,
             coalesce(sum(amount_base) FILTER (WHERE status = 'refunded'), 0)::numeric,
             (coalesce(sum(amount_base) FILTER (WHERE status = 'succeeded'), 0)
              - coalesce(sum(amount_base) FILTER (WHERE status = 'refunded'), 0))::numeric
      FROM t GROUP BY d"
}
ACTUAL_SUMMARY="
  SELECT date, currency, total_revenue, total_transactions, avg_transaction_value,
         successful_transactions, failed_transactions, refunded_transactions, refunded_amount,
         net_revenue
  FROM analytics.revenue_summary WHERE total_transactions > 0"
expected_by() { # column (currency | payment_method), with_amount
    echo "
      SELECT (created_at AT TIME ZONE '$TZ_NAME')::date, coalesce($1, 'unknown'), count(*)::int,
             $( [ "$2" = 1 ] && echo "sum(amount)::numeric," ) coalesce(sum(amount_base), 0)::numeric
      FROM analytics.transactions_validated
      WHERE is_valid AND NOT is_duplicate AND status = 'succeeded' AND created_at IS NOT NULL
      GROUP BY 1, 2"
}
actual_by() { # json column, with_amount
    echo "
      SELECT r.date, e.k, (e.v->>'count')::int,
             $( [ "$2" = 1 ] && echo "(e.v->>'amount')::numeric," ) (e.v->>'amount_base')::numeric
      FROM analytics.revenue_summary r, jsonb_each(r.$1) AS e(k, v)"
}
EXPECTED_FIRST_PURCHASE="
  SELECT user_id, min(created_at) FROM analytics.transactions_validated
  WHERE is_valid AND NOT is_duplicate AND status = 'succeeded' AND user_id IS NOT NULL
    AND created_at IS NOT NULL GROUP BY 1"
ACTUAL_FIRST_PURCHASE="
  SELECT user_id, first_purchase_at FROM medallion.user_first_seen WHERE first_purchase_at IS NOT NULL"

check_all() {
    mismatch "revenue_summary = plain SQL over transactions_validated, every column ($1)" \
        "$(differs "$(expected_summary)" "$ACTUAL_SUMMARY")"
    mismatch "by_currency = per-currency count, original amount, base amount ($1)" \
        "$(differs "$(expected_by currency 1)" "$(actual_by by_currency 1)")"
    mismatch "by_payment_method = per-method count and base amount ($1)" \
        "$(differs "$(expected_by payment_method 0)" "$(actual_by by_payment_method 0)")"
    mismatch "days without valid transactions are rows of zeros ($1)" "
      SELECT count(*) FROM analytics.revenue_summary
      WHERE total_transactions = 0 AND (total_revenue <> 0 OR successful_transactions <> 0
         OR failed_transactions <> 0 OR refunded_transactions <> 0 OR refunded_amount <> 0
         OR net_revenue <> 0 OR avg_transaction_value IS NOT NULL OR by_currency <> '{}'
         OR by_payment_method <> '{}')"
    mismatch "money is printed at the base minor unit, JSON amounts as exact strings ($1)" "
      SELECT count(*) FROM analytics.revenue_summary r
      WHERE total_revenue::text !~ '^-?[0-9]+\.[0-9]{$MINOR}\$' OR net_revenue::text !~ '^-?[0-9]+\.[0-9]{$MINOR}\$'
         OR EXISTS (SELECT 1 FROM jsonb_each(r.by_currency) e(k, v)
                    WHERE jsonb_typeof(v->'amount') <> 'string' OR jsonb_typeof(v->'count') <> 'number'
                       OR (v->>'amount_base') !~ '^[0-9]+\.[0-9]{$MINOR}\$')"
    mismatch "first_purchase_at = first valid, non-duplicate succeeded transaction per user ($1)" \
        "$(differs "$EXPECTED_FIRST_PURCHASE" "$ACTUAL_FIRST_PURCHASE")"
    assert_eq "0" "$(qq "SELECT count(*) FROM medallion.gold_dirty WHERE target = 'calculate_revenue_summary'")" \
        "revenue dirty marks consumed ($1)"
}

snap() { qq "SELECT date, md5(row(currency, total_revenue, total_transactions, avg_transaction_value, successful_transactions, failed_transactions, refunded_transactions, refunded_amount, net_revenue, by_currency, by_payment_method)::text) FROM analytics.revenue_summary ORDER BY date"; }
snap_full() { qq "SELECT md5(string_agg(r::text, ',' ORDER BY date)) FROM analytics.revenue_summary r"; }

# ======================= UTC, the default configuration ====================
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=20000 -v days=120 -v transactions=8000 -v seed=23
run_jobs initial
check_all initial
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.revenue_summary WHERE refunded_transactions > 0 AND failed_transactions > 0")" \
    "demo data has days with refunds and failures"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.revenue_summary WHERE jsonb_typeof(by_currency->'JPY') = 'object'")" \
    "demo data has a zero-decimal currency in by_currency"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.revenue_summary r WHERE total_revenue <> coalesce((SELECT sum((v->>'amount_base')::numeric) FROM jsonb_each(r.by_currency) e(k, v)), 0)")" \
    "by_currency base amounts add up to total_revenue"
assert_eq "0.13|-0.13" "$(qq "SELECT round(0.125, 2), round(-0.125, 2)")" "the reference SQL rounds half away from zero"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE is_valid AND status = 'succeeded' AND created_at IS NULL")" \
    "demo data has valid purchases without created_at (they belong to no day)"

# --- late transactions three weeks back ------------------------------------
late_day=$(qq "SELECT current_date - 21")
user=$(qq "SELECT user_id FROM medallion.user_first_seen
           WHERE first_purchase_at >= (current_date - 10)::timestamptz AND first_event_at IS NOT NULL
           ORDER BY user_id LIMIT 1")
assert_match '^[0-9a-f-]{36}$' "$user" "a user whose first purchase is recent"
qq "DELETE FROM medallion.cohort_dirty; DELETE FROM medallion.gold_dirty" >/dev/null
before=$(snap)
late_ts="(current_date - 21)::timestamptz + interval '12 hours 3 minutes'"
qq "INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, payment_method, source, created_at)
    VALUES ('late-1', '$user', 123.455, 'USD', 'succeeded', 'Late_Method', 'test', $late_ts),
           ('late-1', '$user', 123.455, 'USD', 'succeeded', 'Late_Method', 'test', $late_ts),
           ('late-2', '$user', 40, 'EUR', 'refunded', 'card', 'test', $late_ts + interval '1 hour'),
           ('late-3', '$user', 7, 'USD', 'failed', NULL, 'test', $late_ts + interval '2 hours')" >/dev/null
run_jobs "after late transactions"
after=$(snap)
changed=$(diff <(echo "$before") <(echo "$after") | { grep '^>' || true; } | cut -d' ' -f2 | cut -d'|' -f1 | sort -u | tr '\n' ' ' || true)
assert_eq "$late_day " "$changed" "only the late transactions' day moved"
check_all "after late transactions"
assert_eq "123.46" "$(qq "SELECT by_payment_method->'late_method'->>'amount_base' FROM analytics.revenue_summary WHERE date = '$late_day'")" \
    "the late payment (rounded half away from zero, retry not counted) is in by_payment_method"
assert_eq "$(qq "SELECT $late_ts")" "$(qq "SELECT first_purchase_at FROM medallion.user_first_seen WHERE user_id = '$user'")" \
    "the late purchase moved first_purchase_at earlier"
assert_eq "$(qq "SELECT date_trunc('month', first_event_at AT TIME ZONE 'UTC')::date FROM medallion.user_first_seen WHERE user_id = '$user'")" \
    "$(qq "SELECT string_agg(cohort_month::text, ',') FROM medallion.cohort_dirty")" \
    "exactly the purchasing user's cohort month is marked dirty"
assert_eq "$late_day" "$(qq "SELECT string_agg(day::text, ',') FROM medallion.gold_dirty WHERE target = 'calculate_daily_metrics'")" \
    "daily_metrics is marked dirty for exactly the late day"

# --- nothing new: nothing changes ------------------------------------------
full=$(snap_full)
run_jobs idle
assert_eq "$full" "$(snap_full)" "idle rerun leaves revenue_summary unchanged (updated_at included)"
# every day marked again (a backfill): same figures, rows left untouched
qq "INSERT INTO medallion.gold_dirty (target, day) SELECT 'calculate_revenue_summary', date FROM analytics.revenue_summary" >/dev/null
run_jobs "all days re-marked"
assert_eq "$full" "$(snap_full)" "recomputing unchanged days rewrites nothing"
assert_eq "0" "$(qq "SELECT rows_written FROM medallion.job_runs WHERE job_name = 'calculate_revenue_summary' ORDER BY run_id DESC LIMIT 1")" \
    "that run reports 0 rows written"
# a marked day without any transaction that counts has no row, as in a
# database built from scratch: a backfill of a wide range adds no zero rows,
# and a day whose transactions all stopped counting loses its row
empty_day=$(qq "SELECT current_date - 2000")
qq "INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_revenue_summary', '$empty_day')" >/dev/null
run_jobs "empty day marked"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.revenue_summary WHERE date = '$empty_day'")" \
    "a day without data has no row"
qq "INSERT INTO analytics.revenue_summary (date, currency, total_revenue, total_transactions) VALUES ('$empty_day', 'USD', 5, 1);
    INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_revenue_summary', '$empty_day')" >/dev/null
run_jobs "stale row of an empty day"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.revenue_summary WHERE date = '$empty_day'")" \
    "a row left from data that no longer counts is deleted"

# ============ a reporting.timezone far from UTC: other day boundaries =======
TZ_NAME=America/Los_Angeles
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf 'reporting:\n  timezone: %s\n' "$TZ_NAME" >"$cfg"
export MEDALLIOND_CONFIG="$cfg"
md_newdb "t_${MD_TEST_NAME}_tz_$$"
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=8000 -v days=60 -v transactions=4000 -v seed=5
run_jobs "initial, $TZ_NAME"
check_all "$TZ_NAME"
# 02:00 UTC is the previous local day in Los Angeles
qq "DELETE FROM medallion.gold_dirty" >/dev/null
before=$(snap)
qq "INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, payment_method, source, created_at)
    VALUES ('late-tz', NULL, 10, 'USD', 'succeeded', 'card', 'test', (current_date - 15)::timestamptz + interval '2 hours')" >/dev/null
run_jobs "late transaction, $TZ_NAME"
changed=$(diff <(echo "$before") <(snap) | { grep '^>' || true; } | cut -d' ' -f2 | cut -d'|' -f1 | sort -u | tr '\n' ' ' || true)
assert_eq "$(qq "SELECT ((current_date - 15)::timestamptz + interval '2 hours') AT TIME ZONE '$TZ_NAME'" | cut -d' ' -f1) " \
    "$changed" "only the late transaction's local day moved ($TZ_NAME)"
check_all "late transaction, $TZ_NAME"
md_finish
