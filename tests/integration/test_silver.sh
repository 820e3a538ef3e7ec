#!/usr/bin/env bash
# Bronze → silver on generated dirty data, each silver table compared with an
# independent plain-SQL computation of product.md §4 over the same bronze rows.
# Every check is a count of rows where the daemon and SQL disagree: it must be 0.
source "$(dirname "$0")/lib.sh"
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=20000 -v users=400 -v days=60 -v seed=7

out=$("$MEDALLIOND" run clean_events clean_api_logs clean_user_actions validate_transactions 2>&1) \
    || { echo "$out"; md_fail "silver jobs run"; md_finish; }
md_ok "silver jobs ran"

mismatch() { # name sql-returning-a-count
    assert_eq "0" "$(qq "$2")" "$1"
}

# --- events ---------------------------------------------------------------
mismatch "every events_raw row is in events_clean or the duplicates ledger, exactly once" "
  SELECT count(*) FROM analytics.events_raw r
  WHERE (SELECT count(*) FROM analytics.events_clean c WHERE c.id = r.id)
      + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = 'events_raw' AND d.bronze_id = r.id) <> 1"
mismatch "duplicates = every copy of an event_id but the first (lowest id)" "
  WITH expected AS (
    SELECT id, min(id) OVER (PARTITION BY event_id) AS kept FROM analytics.events_raw WHERE event_id IS NOT NULL)
  SELECT count(*) FROM (
    (SELECT id, kept FROM expected WHERE id <> kept
     EXCEPT SELECT bronze_id, kept_id FROM medallion.duplicates WHERE source_table = 'events_raw')
    UNION ALL
    (SELECT bronze_id, kept_id FROM medallion.duplicates WHERE source_table = 'events_raw'
     EXCEPT SELECT id, kept FROM expected WHERE id <> kept)) x"
assert_ne "0" "$(qq "SELECT count(*) FROM medallion.duplicates WHERE source_table = 'events_raw'")" "demo data has event retries"
mismatch "events: is_valid, quality_score, validation_errors, standardization" "
  WITH e AS (
    SELECT r.*, nullif(btrim(r.event_type), '') AS et FROM analytics.events_raw r),
  x AS (
    SELECT e.id,
      array_remove(ARRAY[
        CASE WHEN et IS NULL THEN 'missing_event_type' END,
        CASE WHEN created_at IS NULL THEN 'missing_created_at' END,
        CASE WHEN created_at > ingested_at + interval '24 hours' THEN 'future_timestamp' END,
        CASE WHEN created_at < '2000-01-01T00:00:00Z' THEN 'timestamp_before_2000' END], NULL) AS errs,
      trim(both '_' from lower(regexp_replace(regexp_replace(et, '([a-z0-9])([A-Z])', '\1_\2', 'g'),
           '[^A-Za-z0-9]+', '_', 'g'))) AS std_type,
      nullif(lower(btrim(source)), '') AS std_source,
      nullif(btrim(session_id), '') AS std_session,
      user_id, et, properties, created_at
    FROM e)
  SELECT count(*) FROM x JOIN analytics.events_clean c USING (id)
  WHERE c.is_valid IS DISTINCT FROM (cardinality(x.errs) = 0)
     OR c.validation_errors IS DISTINCT FROM x.errs::text[]
     OR c.quality_score IS DISTINCT FROM (CASE WHEN cardinality(x.errs) > 0 THEN 0.00
          WHEN x.et IS NULL THEN 0.00 WHEN x.user_id IS NULL THEN 0.50
          WHEN x.std_session IS NULL THEN 0.70 ELSE 1.00 END)::numeric(3,2)
     OR c.event_type IS DISTINCT FROM x.std_type
     OR c.source IS DISTINCT FROM x.std_source
     OR c.session_id IS DISTINCT FROM x.std_session
     OR c.user_id IS DISTINCT FROM x.user_id
     OR c.created_at IS DISTINCT FROM x.created_at
     OR c.properties IS DISTINCT FROM x.properties"
for code in missing_event_type missing_created_at future_timestamp timestamp_before_2000; do
    assert_ne "0" "$(qq "SELECT count(*) FROM analytics.events_clean WHERE '$code' = ANY(validation_errors)")" "events with $code exist in the test data"
done

# --- transactions ---------------------------------------------------------
mismatch "transactions: one silver row per bronze row" "
  SELECT (SELECT count(*) FROM analytics.transactions_raw) - (SELECT count(*) FROM analytics.transactions_validated)"
mismatch "transactions: currency, rounding, validity, duplicates, amount_base, fraud score" "
  WITH n AS (
    SELECT r.id, r.user_id, r.created_at,
      nullif(btrim(r.external_id), '') AS ext,
      nullif(upper(btrim(r.currency)), '') AS cur,
      nullif(lower(btrim(r.status)), '') AS st,
      c.minor_unit AS mu,
      CASE WHEN r.amount IS NULL OR r.amount IN ('NaN', 'Infinity', '-Infinity')
                OR abs(r.amount) >= 1e18 THEN NULL
           WHEN c.minor_unit IS NULL THEN r.amount
           ELSE round(r.amount, c.minor_unit) END AS amt,
      r.amount IS NOT NULL AND (r.amount IN ('NaN', 'Infinity', '-Infinity') OR abs(r.amount) >= 1e18) AS oor
    FROM analytics.transactions_raw r
    LEFT JOIN analytics.currencies c ON c.code = upper(btrim(r.currency))),
  v AS (
    SELECT n.*, (amt IS NOT NULL AND amt > 0 AND mu IS NOT NULL) AS valid,
      EXISTS (SELECT 1 FROM n e WHERE e.id < n.id AND e.ext = n.ext AND e.st = n.st
              AND e.amt = n.amt AND e.cur = n.cur) AS dup,
      round(amt * (SELECT f.base_per_unit FROM analytics.fx_rates f
                   WHERE f.base_currency = 'USD' AND f.currency = n.cur AND f.valid_from <= n.created_at
                   ORDER BY f.valid_from DESC LIMIT 1), 2) AS base
    FROM n),
  f AS (
    SELECT v.*,
      (SELECT count(*) FROM v o WHERE o.user_id = v.user_id AND o.valid AND NOT o.dup
         AND o.created_at >= v.created_at - interval '10 minutes' AND o.created_at < v.created_at) AS recent
    FROM v)
  SELECT count(*) FROM f JOIN analytics.transactions_validated t USING (id)
  WHERE t.is_valid IS DISTINCT FROM f.valid
     OR t.is_duplicate IS DISTINCT FROM f.dup
     OR t.amount IS DISTINCT FROM f.amt
     OR t.currency IS DISTINCT FROM f.cur
     OR t.status IS DISTINCT FROM f.st
     OR t.amount_base IS DISTINCT FROM f.base
     OR (f.oor AND NOT 'amount_out_of_range' = ANY(t.validation_errors))
     OR (f.mu IS NULL AND f.cur IS NOT NULL AND NOT 'currency_unknown' = ANY(t.validation_errors))
     OR t.fraud_score IS DISTINCT FROM least(1.00,
          CASE WHEN f.base > 10000 THEN 0.80 WHEN f.base > 5000 THEN 0.50 ELSE 0.10 END
          + CASE WHEN f.user_id IS NOT NULL AND f.recent >= 5 THEN 0.20 ELSE 0 END)::numeric(3,2)"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE is_duplicate")" "webhook retries flagged as duplicates"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE 'velocity' = ANY(fraud_reasons)")" "velocity rule fired on the test data"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE 'currency_unknown' = ANY(validation_errors)")" "unknown currencies present"

# --- API logs -------------------------------------------------------------
mismatch "api logs: one silver row per bronze row, no raw IP kept" "
  SELECT count(*) FROM analytics.api_logs_raw r LEFT JOIN analytics.api_logs_clean c USING (id)
  WHERE c.id IS NULL OR (c.ip_address IS NOT NULL AND r.ip_address = host(c.ip_address)
        AND host(c.ip_address) !~ '(\.0|::)$')"
mismatch "api logs: method, status, is_error, response time validity" "
  SELECT count(*) FROM analytics.api_logs_raw r JOIN analytics.api_logs_clean c USING (id)
  WHERE c.method IS DISTINCT FROM nullif(upper(btrim(r.method)), '')
     OR c.is_error IS DISTINCT FROM coalesce(r.status_code BETWEEN 500 AND 599, false)
     OR (('method_invalid' = ANY(c.validation_errors)) IS DISTINCT FROM
         (nullif(upper(btrim(r.method)), '') IS NOT NULL AND upper(btrim(r.method)) NOT IN
          ('GET','HEAD','POST','PUT','PATCH','DELETE','OPTIONS','TRACE','CONNECT')))
     OR (('status_code_out_of_range' = ANY(c.validation_errors)) IS DISTINCT FROM
         coalesce(r.status_code NOT BETWEEN 100 AND 599, false))
     OR (('response_time_negative' = ANY(c.validation_errors)) IS DISTINCT FROM
         coalesce(r.response_time_ms < 0 AND r.response_time_ms <> '-Infinity', false))
     OR (c.is_valid AND (r.status_code IS NULL OR r.status_code NOT BETWEEN 100 AND 599
         OR r.response_time_ms IS NULL OR r.response_time_ms < 0))"
mismatch "api logs: IPv4 anonymized to /24" "
  SELECT count(*) FROM analytics.api_logs_raw r JOIN analytics.api_logs_clean c USING (id)
  WHERE r.ip_address ~ '^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$'
    AND split_part(r.ip_address, '.', 1)::int < 256 AND split_part(r.ip_address, '.', 2)::int < 256
    AND split_part(r.ip_address, '.', 3)::int < 256 AND split_part(r.ip_address, '.', 4)::int < 256
    AND c.ip_address IS DISTINCT FROM set_masklen(network(set_masklen(r.ip_address::inet, 24)), 32)"
mismatch "api logs: route has no numeric or uuid segment left" "
  SELECT count(*) FROM analytics.api_logs_clean
  WHERE route ~ '/[0-9]+(/|$)' OR route ~* '/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/|$)'
     OR path LIKE '%?%'"

# --- user actions ---------------------------------------------------------
mismatch "user actions: every bronze row in silver or the ledger, exactly once" "
  SELECT count(*) FROM analytics.user_actions_raw r
  WHERE (SELECT count(*) FROM analytics.user_actions_clean c WHERE c.id = r.id)
      + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = 'user_actions_raw' AND d.bronze_id = r.id) <> 1"
mismatch "user actions: exact retries (same normalized row) dropped, first kept" "
  WITH k AS (
    SELECT id, min(id) OVER (PARTITION BY user_id,
        trim(both '_' from lower(regexp_replace(regexp_replace(btrim(action), '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^A-Za-z0-9]+', '_', 'g'))),
        trim(both '_' from lower(regexp_replace(regexp_replace(btrim(entity_type), '([a-z0-9])([A-Z])', '\1_\2', 'g'), '[^A-Za-z0-9]+', '_', 'g'))),
        btrim(entity_id), created_at, properties::text) AS kept
    FROM analytics.user_actions_raw)
  SELECT count(*) FROM k
  WHERE (k.id <> k.kept) IS DISTINCT FROM EXISTS (
    SELECT 1 FROM medallion.duplicates d WHERE d.source_table = 'user_actions_raw' AND d.bronze_id = k.id)"
mismatch "user actions: required fields make rows invalid" "
  SELECT count(*) FROM analytics.user_actions_raw r JOIN analytics.user_actions_clean c USING (id)
  WHERE c.is_valid IS DISTINCT FROM (r.user_id IS NOT NULL AND nullif(btrim(r.action), '') IS NOT NULL
     AND nullif(btrim(r.entity_type), '') IS NOT NULL AND r.created_at IS NOT NULL
     AND r.created_at <= r.ingested_at + interval '24 hours' AND r.created_at >= '2000-01-01T00:00:00Z')"

# --- run history and a no-op re-run ----------------------------------------
assert_eq "4" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'succeeded'")" "four runs recorded as succeeded"
assert_eq "20000" "$(qq "SELECT rows_read FROM medallion.job_runs WHERE job_name = 'clean_events'")" "rows_read recorded"
before=$(qq "SELECT (SELECT count(*) FROM analytics.events_clean) + (SELECT count(*) FROM medallion.duplicates)")
"$MEDALLIOND" run clean_events clean_user_actions >/dev/null 2>&1
after=$(qq "SELECT (SELECT count(*) FROM analytics.events_clean) + (SELECT count(*) FROM medallion.duplicates)")
assert_eq "$before" "$after" "a re-run with nothing new writes nothing"
assert_eq "0" "$(qq "SELECT max(rows_read) FROM medallion.job_runs WHERE run_id > (SELECT min(run_id) + 3 FROM medallion.job_runs)")" "a re-run reads nothing"

# --- velocity does not depend on the order transactions arrive in -------------
# Five payments at 10:01-10:05 are scored; then 10:06 and a late 09:59 arrive.
# 10:05 now has five counting payments in the 10 minutes before it (09:59 and
# 10:01-10:04): it must get the velocity score, as it would had all seven
# arrived at once. A reprocess that makes 09:59 stop counting takes it away.
md_newdb "t_silver_velocity_$$"
vel_user=00000000-0000-4000-8000-0000000000e1
pay() { # external_id minute currency
    qq "INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, created_at)
        VALUES ('$1', '$vel_user', 1, '$3', 'succeeded', timestamptz '2026-11-20 10:00:00+00' + interval '1 minute' * $2)" >/dev/null
}
for m in 1 2 3 4 5; do pay "vv$m" "$m" USD; done
"$MEDALLIOND" run validate_transactions >/dev/null 2>&1 || md_fail "velocity: first run"
pay vv6 6 USD
pay vv0 -1 CHF
"$MEDALLIOND" run validate_transactions >/dev/null 2>&1 || md_fail "velocity: run with the late payment"
scores() { qq "SELECT string_agg(external_id || '=' || fraud_score || coalesce(nullif(array_to_string(fraud_reasons, '+'), ''), '-'), ' ' ORDER BY created_at)
               FROM analytics.transactions_validated"; }
assert_eq "vv0=0.10- vv1=0.10- vv2=0.10- vv3=0.10- vv4=0.10- vv5=0.30velocity vv6=0.30velocity" "$(scores)" \
    "a late payment re-scores the later ones within the window"
qq "DELETE FROM analytics.fx_rates WHERE currency = 'CHF' OR base_currency = 'CHF';
    DELETE FROM analytics.currencies WHERE code = 'CHF'" >/dev/null
"$MEDALLIOND" reprocess --from 2026-11-20T09:58:00Z --to 2026-11-20T10:00:00Z validate_transactions >/dev/null 2>&1 \
    || md_fail "velocity: reprocess of the late payment"
assert_eq "vv0=0.10- vv1=0.10- vv2=0.10- vv3=0.10- vv4=0.10- vv5=0.10- vv6=0.30velocity" "$(scores)" \
    "a re-derived payment that stops counting takes the velocity score back"
assert_eq "f" "$(qq "SELECT is_valid FROM analytics.transactions_validated WHERE external_id = 'vv0'")" \
    "the reprocessed payment is invalid (its currency is gone)"

# --- bronze rows that no index can hold, and instants no calendar has ---------
# Producers may write them; each used to fail its batch, and every retry, for
# good (index row too large; interval/timestamp out of range in sessions).
md_newdb "t_silver_hostile_$$"
u1=00000000-0000-4000-8000-0000000000f1
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, created_at) VALUES
      ('pv', NULL, repeat('s', 12000), now()),
      ('pv', '$u1', 'a', 'infinity'), ('pv', '$u1', 'a', now()),
      ('pv', '$u1', 'b', '-infinity'), ('pv', NULL, 'c', 'infinity');
    INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, created_at) VALUES
      (repeat('e', 30000), '$u1', 5, 'USD', 'succeeded', now()),
      ('t2', '$u1', 5, repeat('u', 30000), 'succeeded', now()),
      ('t3', '$u1', 5, 'USD', repeat('z', 30000), now()),
      ('t4', '$u1', 5, 'USD', 'succeeded', 'infinity'),
      ('t5', '$u1', 5, 'USD', 'succeeded', '-infinity')" >/dev/null
out=$("$MEDALLIOND" run --all 2>&1) && md_ok "run --all succeeds over unindexable text and infinite timestamps" \
    || md_fail "run --all over unindexable text and infinite timestamps: $out"
assert_eq "5|5" "$(qq "SELECT (SELECT count(*) FROM analytics.events_clean), (SELECT count(*) FROM analytics.transactions_validated)")" \
    "every such bronze row is in silver"
assert_eq "1||{session_id_too_long}" "$(qq "SELECT is_valid::int || '|' || coalesce(session_id, '') || '|' || validation_errors::text
                                           FROM analytics.events_clean WHERE id = 1")" \
    "an unindexable session_id is dropped with a warning"
assert_eq "external_id_too_long|currency_too_long|status_too_long" \
    "$(qq "SELECT string_agg(c, '|' ORDER BY id) FROM (SELECT id, unnest(validation_errors) AS c FROM analytics.transactions_validated
           WHERE id <= 3) x WHERE c LIKE '%too_long'")" \
    "unindexable external_id, currency and status are dropped with their codes"
assert_eq "1" "$(qq "SELECT count(*) FROM analytics.user_sessions")" "the one sessionizable event makes its session"

md_finish
