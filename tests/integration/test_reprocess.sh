#!/usr/bin/env bash
# `medalliond reprocess`: after a rate change, silver is re-derived from the
# immutable bronze for exactly the rows of the time range, exactly once.
source "$(dirname "$0")/lib.sh"
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=8000 -v users=300 -v days=40 -v seed=5
"$MEDALLIOND" run clean_events validate_transactions build_user_sessions >/dev/null 2>&1 || md_fail "initial run"

from=$(qq "SELECT to_char(date_trunc('day', now()) - interval '10 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
to=$(qq "SELECT to_char(date_trunc('day', now()) - interval '5 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
events_md5() { qq "SELECT md5(string_agg(concat_ws('|', id, event_id, event_type, user_id, session_id, properties, source, created_at, is_valid, quality_score, validation_errors), ',' ORDER BY id)) FROM analytics.events_clean"; }
ledger_md5() { qq "SELECT md5(string_agg(concat_ws('|', source_table, bronze_id, kept_id), ',' ORDER BY source_table, bronze_id)) FROM medallion.duplicates"; }
sessions_md5() { qq "SELECT md5(string_agg(concat_ws('|', session_id, user_id, started_at, ended_at, event_count), ',' ORDER BY session_id)) FROM analytics.user_sessions"; }
e_before=$(events_md5); l_before=$(ledger_md5); s_before=$(sessions_md5)
# medallion.user_days (kept by build_user_sessions) against the GROUP BY it stands for.
user_days_diff() { qq "SELECT count(*) FROM ((SELECT user_id, (created_at AT TIME ZONE 'UTC')::date AS day, count(*)::int AS events
    FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL GROUP BY 1, 2
    EXCEPT SELECT user_id, day, events FROM medallion.user_days)
  UNION ALL (SELECT user_id, day, events FROM medallion.user_days
    EXCEPT SELECT user_id, (created_at AT TIME ZONE 'UTC')::date, count(*)::int
    FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL GROUP BY 1, 2)) x"; }
assert_eq "0" "$(user_days_diff)" "user_days = GROUP BY over events_clean before reprocess"
# Damage one (user, day) inside the range: re-derived rows must make the
# sessions job recompute exactly their pairs, which repairs it.
qq "UPDATE medallion.user_days SET events = events + 5 WHERE (user_id, day) = (SELECT user_id, day FROM medallion.user_days
      WHERE day > '$from'::date AND day < '$to'::date - 1 ORDER BY user_id, day LIMIT 1)" >/dev/null
assert_eq "2" "$(user_days_diff)" "the damaged pair differs (once on each side of the EXCEPT)"
# Re-derived: the range's rows that are in silver. Removed duplicates stay in
# the ledger, pointing at the same kept copy.
in_range=$(qq "SELECT count(*) FROM analytics.events_raw r WHERE created_at >= '$from' AND created_at < '$to'
               AND EXISTS (SELECT 1 FROM analytics.events_clean c WHERE c.id = r.id)")
assert_ne "0" "$in_range" "the range holds events"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.events_raw r JOIN medallion.duplicates d ON d.source_table = 'events_raw'
                     AND d.bronze_id = r.id WHERE r.created_at >= '$from' AND r.created_at < '$to'")" "and removed duplicates"

# Same rules: re-deriving changes nothing but processed_at/silver_xid.
out=$("$MEDALLIOND" reprocess --from "$from" --to "$to" clean_events 2>&1) || md_fail "reprocess clean_events: $out"
assert_eq "$e_before" "$(events_md5)" "re-derived events are identical under unchanged rules"
assert_eq "$l_before" "$(ledger_md5)" "duplicates ledger unchanged"
assert_eq "$in_range" "$(qq "SELECT rows_read FROM medallion.job_runs WHERE job_name = 'clean_events' ORDER BY run_id DESC LIMIT 1")" "exactly the range's silver rows were re-read"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.events_raw r WHERE (SELECT count(*) FROM analytics.events_clean c WHERE c.id = r.id) + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = 'events_raw' AND d.bronze_id = r.id) <> 1")" "exactly once after reprocess"
"$MEDALLIOND" run build_user_sessions >/dev/null 2>&1 || md_fail "sessions after reprocess"
assert_eq "$s_before" "$(sessions_md5)" "sessions rebuilt from re-derived events are unchanged"
assert_eq "0" "$(user_days_diff)" "user_days = GROUP BY over events_clean after reprocess (the pair recomputed)"

# A rate change: EUR gets a new rate valid from long ago; only the range moves.
qq "INSERT INTO analytics.fx_rates (base_currency, currency, base_per_unit, valid_from) VALUES ('USD', 'EUR', 2, '2001-01-01')" >/dev/null
outside_before=$(qq "SELECT md5(string_agg(concat_ws('|', id, amount_base), ',' ORDER BY id)) FROM analytics.transactions_validated WHERE NOT (created_at >= '$from' AND created_at < '$to') OR created_at IS NULL")
"$MEDALLIOND" reprocess --from "$from" --to "$to" validate_transactions >/dev/null 2>&1 || md_fail "reprocess validate_transactions"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE currency = 'EUR' AND amount IS NOT NULL AND created_at >= '$from' AND created_at < '$to' AND amount_base IS DISTINCT FROM round(amount * 2, 2)")" "EUR rows in the range use the new rate"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE currency = 'EUR' AND created_at >= '$from' AND created_at < '$to'")" "the range has EUR rows"
assert_eq "$outside_before" "$(qq "SELECT md5(string_agg(concat_ws('|', id, amount_base), ',' ORDER BY id)) FROM analytics.transactions_validated WHERE NOT (created_at >= '$from' AND created_at < '$to') OR created_at IS NULL")" "rows outside the range untouched"
assert_eq "$(qq "SELECT count(*) FROM analytics.transactions_raw")" "$(qq "SELECT count(*) FROM analytics.transactions_validated")" "one silver row per bronze transaction"

# A rule change that makes counted purchases stop counting: EUR is no longer a
# known currency. first_purchase_at must move later (least() alone cannot), and
# the cohorts of every user of a re-derived row must be recomputed.
"$MEDALLIOND" run calculate_user_cohorts >/dev/null 2>&1 || md_fail "cohorts before the currency change"
qq "DROP TABLE IF EXISTS public.first_purchase_before;
    CREATE TABLE public.first_purchase_before AS SELECT user_id, first_purchase_at FROM medallion.user_first_seen" >/dev/null
qq "DELETE FROM analytics.fx_rates WHERE currency = 'EUR'; DELETE FROM analytics.currencies WHERE code = 'EUR'" >/dev/null
"$MEDALLIOND" reprocess --from "$from" --to "$to" validate_transactions >/dev/null 2>&1 || md_fail "reprocess after EUR became unknown"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.transactions_validated WHERE currency = 'EUR' AND NOT is_valid
                     AND 'currency_unknown' = ANY(validation_errors) AND created_at >= '$from' AND created_at < '$to'")" \
    "EUR rows in the range are now invalid (currency_unknown)"
assert_ne "0" "$(qq "SELECT count(*) FROM public.first_purchase_before b JOIN medallion.user_first_seen f USING (user_id)
                     WHERE b.first_purchase_at IS NOT NULL
                       AND (f.first_purchase_at IS NULL OR f.first_purchase_at > b.first_purchase_at)")" \
    "some users' first purchase moved later or went away"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.user_first_seen f WHERE f.first_purchase_at IS DISTINCT FROM
                       (SELECT min(t.created_at) FROM analytics.transactions_validated t WHERE t.user_id = f.user_id
                        AND t.is_valid AND NOT t.is_duplicate AND t.status = 'succeeded')")" \
    "first_purchase_at = plain SQL over silver for every user"
"$MEDALLIOND" run calculate_user_cohorts >/dev/null 2>&1 || md_fail "cohorts after the currency change"
assert_eq "0" "$(qq "WITH fs AS (SELECT user_id, date_trunc('month', min(created_at) AT TIME ZONE 'UTC')::date AS cm
                                 FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL GROUP BY user_id),
                     rev AS (SELECT fs.cm, coalesce(sum(t.amount_base) FILTER (WHERE t.is_valid AND NOT t.is_duplicate
                                 AND t.status = 'succeeded'), 0) AS r
                             FROM fs LEFT JOIN analytics.transactions_validated t USING (user_id) GROUP BY 1)
                     SELECT count(*) FROM rev FULL JOIN analytics.user_cohorts c ON c.cohort_month = rev.cm
                     WHERE c.total_revenue IS DISTINCT FROM rev.r")" "cohort revenue = plain SQL over silver after the change"
qq "DROP TABLE public.first_purchase_before" >/dev/null

# The same change, isolated: the only purchase of the only user of a cohort
# stops counting. Nothing else marks that cohort month, so only the reprocessed
# page can: its revenue must drop to 0.
md_newdb "t_reprocess_cohort_$$"
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, source, created_at)
    VALUES (gen_random_uuid(), 'page_view', 'aaaaaaaa-0000-4000-8000-000000000001', 's1', 'web', now() - interval '7 days');
    INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, payment_method, source, created_at)
    VALUES ('pay-1', 'aaaaaaaa-0000-4000-8000-000000000001', 1000, 'EUR', 'succeeded', 'card', 'stripe', now() - interval '7 days')" >/dev/null
"$MEDALLIOND" run clean_events validate_transactions build_user_sessions calculate_user_cohorts >/dev/null 2>&1 \
    || md_fail "pipeline for the one-user cohort"
cohort="SELECT total_revenue > 0 FROM analytics.user_cohorts
        WHERE cohort_month = date_trunc('month', now() - interval '7 days')::date"
assert_eq "t" "$(qq "$cohort")" "the one-user cohort has revenue"
qq "DELETE FROM analytics.fx_rates WHERE currency = 'EUR'; DELETE FROM analytics.currencies WHERE code = 'EUR'" >/dev/null
from=$(qq "SELECT to_char(now() - interval '8 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
to=$(qq "SELECT to_char(now() - interval '6 days', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
out=$("$MEDALLIOND" reprocess --from "$from" --to "$to" validate_transactions 2>&1) || md_fail "reprocess the one purchase: $out"
"$MEDALLIOND" run calculate_user_cohorts >/dev/null 2>&1 || md_fail "cohorts after the one purchase stopped counting"
assert_eq "f" "$(qq "$cohort")" "its revenue is gone from the cohort"
assert_eq "" "$(qq "SELECT first_purchase_at FROM medallion.user_first_seen
                    WHERE user_id = 'aaaaaaaa-0000-4000-8000-000000000001'")" "and the user has no first purchase any more"

# Which copy of a duplicate is kept does not change under a reprocess with
# unchanged rules, in three shapes:
#   A: the kept copy inside the range, its retry outside (the usual "fix last
#      month's rates" case): the kept copy must not become a duplicate of the
#      retry that is still in silver;
#   B: the retry committed first with the higher id, the original (lower id)
#      arrived later, both in the range: the first to reach silver stays kept;
#   C: as B with the dates swapped, so that re-deciding would move the event
#      out of silver and leave sessions and first-seen behind.
md_newdb "t_reprocess_dups_$$"
u1=00000000-0000-4000-8000-000000000001
u2=00000000-0000-4000-8000-000000000002
u3=00000000-0000-4000-8000-000000000003
qq "INSERT INTO analytics.transactions_raw (id, external_id, user_id, amount, currency, status, created_at) OVERRIDING SYSTEM VALUE VALUES
      (1, 'A', '$u1', 10, 'USD', 'succeeded', '2026-10-01 12:00Z'),
      (2, 'A', '$u1', 10, 'USD', 'succeeded', '2026-10-20 12:00Z'),
      (20, 'B', '$u2', 20, 'USD', 'succeeded', '2026-10-05 12:00Z');
    INSERT INTO analytics.events_raw (id, event_id, event_type, user_id, session_id, created_at) OVERRIDING SYSTEM VALUE VALUES
      (20, '50000000-0000-4000-8000-000000000002', 'a', '$u2', 's', '2026-10-05 12:00Z'),
      (30, '50000000-0000-4000-8000-000000000003', 'a', '$u3', 's', '2026-10-03 12:00Z')" >/dev/null
"$MEDALLIOND" run --all >/dev/null 2>&1 || md_fail "first run of the duplicate shapes"
qq "INSERT INTO analytics.transactions_raw (id, external_id, user_id, amount, currency, status, created_at) OVERRIDING SYSTEM VALUE VALUES
      (10, 'B', '$u2', 20, 'USD', 'succeeded', '2026-10-02 12:00Z');
    INSERT INTO analytics.events_raw (id, event_id, event_type, user_id, session_id, created_at) OVERRIDING SYSTEM VALUE VALUES
      (10, '50000000-0000-4000-8000-000000000002', 'a', '$u2', 's', '2026-10-02 12:00Z'),
      (25, '50000000-0000-4000-8000-000000000003', 'a', '$u3', 's', '2026-10-06 12:00Z')" >/dev/null
"$MEDALLIOND" run --all >/dev/null 2>&1 || md_fail "second run of the duplicate shapes"
state() {
    qq "SELECT string_agg(id || ':' || is_duplicate, ' ' ORDER BY id) FROM analytics.transactions_validated"
    qq "SELECT string_agg(bronze_id || '>' || kept_id, ' ' ORDER BY bronze_id) FROM medallion.duplicates"
    qq "SELECT string_agg(date || '=' || total_revenue || '/' || successful_transactions, ' ' ORDER BY date) FROM analytics.revenue_summary"
    qq "SELECT string_agg(date || '=' || active_users || '/' || new_users || '/' || total_sessions, ' ' ORDER BY date) FROM analytics.daily_metrics"
    qq "SELECT string_agg(user_id || '@' || first_event_at, ' ' ORDER BY user_id) FROM medallion.user_first_seen"
    qq "SELECT string_agg(user_id || '@' || started_at, ' ' ORDER BY user_id, started_at) FROM analytics.user_sessions"
}
before=$(state)
assert_match "^1:false 2:true 10:true 20:false" "$before" "first to reach silver kept: 1, and 20 over the later 10"
assert_match "10>20 25>30" "$before" "the ledger keeps the events that came first"
out=$("$MEDALLIOND" reprocess --from 2026-09-30T00:00:00Z --to 2026-10-02T00:00:00Z validate_transactions 2>&1) || md_fail "reprocess A: $out"
"$MEDALLIOND" run --all >/dev/null 2>&1 || md_fail "run after reprocess A"
assert_eq "$before" "$(state)" "A: the kept copy inside the range stays kept, revenue unchanged"
out=$("$MEDALLIOND" reprocess --from 2026-09-01T00:00:00Z --to 2026-11-01T00:00:00Z clean_events validate_transactions 2>&1) || md_fail "reprocess B, C: $out"
"$MEDALLIOND" run --all >/dev/null 2>&1 || md_fail "run after reprocess B, C"
assert_eq "$before" "$(state)" "B, C: the whole range re-derived, the same copies kept, gold and sessions unchanged"

# Bad usage.
rc=0; "$MEDALLIOND" reprocess --from "$to" --to "$from" clean_events >/dev/null 2>&1 || rc=$?
assert_eq "2" "$rc" "from >= to is bad usage"
rc=0; "$MEDALLIOND" reprocess --from "$from" --to "$to" calculate_daily_metrics >/dev/null 2>&1 || rc=$?
assert_eq "2" "$rc" "a gold job cannot be reprocessed"
rc=0; "$MEDALLIOND" reprocess clean_events >/dev/null 2>&1 || rc=$?
assert_eq "2" "$rc" "missing range is bad usage"
md_finish
