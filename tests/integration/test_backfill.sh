#!/usr/bin/env bash
# `medalliond backfill`: gold rows wiped for a date range come back exactly as
# they were (days with no data get no row), only the named jobs run, the marks
# are consumed, runs are recorded as manual; bad usage exits 2 and touches
# nothing.
source "$(dirname "$0")/lib.sh"
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=20000 -v days=120 -v seed=5

out=$("$MEDALLIOND" run clean_events validate_transactions build_user_sessions calculate_daily_metrics \
      calculate_revenue_summary calculate_user_cohorts 2>&1) || { echo "$out"; md_fail "silver and gold jobs ran"; md_finish; }
md_ok "silver and gold jobs ran"

FROM=$(qq "SELECT current_date - 45")
TO=$(qq "SELECT current_date - 31")
dm_snap() { qq "SELECT date, active_users, new_users, returning_users, total_sessions, avg_session_duration_seconds,
                total_events, total_revenue, total_transactions, paying_users, conversion_rate
                FROM analytics.daily_metrics ORDER BY date"; }
rs_snap() { qq "SELECT date, currency, total_revenue, total_transactions, avg_transaction_value,
                successful_transactions, failed_transactions, refunded_transactions, refunded_amount,
                net_revenue, by_currency, by_payment_method FROM analytics.revenue_summary ORDER BY date"; }
dm_before=$(dm_snap)
rs_before=$(rs_snap)
in_range="date BETWEEN '$FROM' AND '$TO'"
assert_eq "15" "$(qq "SELECT count(*) FROM analytics.daily_metrics WHERE $in_range")" "15 days of daily_metrics to wipe"

# --- bad usage: exit 2, no marks, no runs --------------------------------------
runs_before=$(qq "SELECT count(*) FROM medallion.job_runs")
usage_case() { # message expected-stderr-regex args...
    local msg="$1" re="$2" rc=0 err
    shift 2
    err=$("$MEDALLIOND" backfill "$@" 2>&1 >/dev/null) || rc=$?
    assert_eq "2" "$rc" "$msg: exit 2"
    assert_match "$re" "$err" "$msg: says why"
}
usage_case "from after to" "is after --to" --from "$TO" --to "$FROM"
usage_case "impossible date" "not a date" --from 2026-02-30 --to 2026-03-01
usage_case "malformed date" "not a date" --from 2026-1-05 --to 2026-03-01
usage_case "missing --to" "required" --from "$FROM"
usage_case "unknown job" "'no_such_job' is not a job" --from "$FROM" --to "$TO" no_such_job
usage_case "silver job" "'clean_events' is not a gold job" --from "$FROM" --to "$TO" clean_events
usage_case "unknown option" "usage" --from "$FROM" --to "$TO" --bogus
assert_eq "$runs_before" "$(qq "SELECT count(*) FROM medallion.job_runs")" "bad usage runs nothing"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.gold_dirty")" "bad usage marks nothing"

# --- wipe daily_metrics for the range (as the owner), backfill it -------------
qq "DELETE FROM analytics.daily_metrics WHERE $in_range" >/dev/null
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.daily_metrics WHERE $in_range")" "range wiped"
rc=0; out=$("$MEDALLIOND" backfill --from "$FROM" --to "$TO" calculate_daily_metrics 2>/dev/null) || rc=$?
assert_eq "0" "$rc" "backfill calculate_daily_metrics: exit 0"
assert_eq "1" "$(wc -l <<<"$out" | tr -d ' ')" "one line for the one job"
assert_match "^calculate_daily_metrics +succeeded +[0-9]+ read +15 written" "$out" "the line names the job, status and rows"
assert_eq "$dm_before" "$(dm_snap)" "daily_metrics restored exactly"
assert_eq "$rs_before" "$(rs_snap)" "revenue_summary untouched"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.gold_dirty")" "marks consumed"
assert_eq "calculate_daily_metrics|succeeded|manual" \
    "$(qq "SELECT job_name, status, trigger FROM medallion.job_runs ORDER BY run_id DESC LIMIT 1")" \
    "the run is recorded as manual"

# --- two jobs at once, both wiped ---------------------------------------------
qq "DELETE FROM analytics.daily_metrics WHERE $in_range" >/dev/null
qq "DELETE FROM analytics.revenue_summary WHERE $in_range" >/dev/null
rc=0; out=$("$MEDALLIOND" backfill --from "$FROM" --to "$TO" calculate_revenue_summary calculate_daily_metrics 2>/dev/null) || rc=$?
assert_eq "0" "$rc" "backfill of two jobs: exit 0"
assert_match "^calculate_daily_metrics +succeeded" "$(sed -n 1p <<<"$out")" "job-table order: daily metrics first"
assert_match "^calculate_revenue_summary +succeeded" "$(sed -n 2p <<<"$out")" "revenue summary second"
assert_eq "$dm_before" "$(dm_snap)" "daily_metrics restored exactly (two jobs)"
assert_eq "$rs_before" "$(rs_snap)" "revenue_summary restored exactly"

# --- a single day; an idle backfill of intact days changes nothing ------------
qq "DELETE FROM analytics.daily_metrics WHERE date = '$TO'" >/dev/null
assert_succeeds "backfill of one day" "$MEDALLIOND" backfill --from "$TO" --to "$TO" calculate_daily_metrics
assert_eq "$dm_before" "$(dm_snap)" "single day restored"
assert_succeeds "backfill of intact days" "$MEDALLIOND" backfill --from "$FROM" --to "$TO" calculate_daily_metrics
assert_eq "$dm_before" "$(dm_snap)" "recomputing intact days changes nothing"

# --- days without data get no row, as in a database built from scratch ------
assert_succeeds "backfill of days without data" "$MEDALLIOND" backfill --from "$(qq "SELECT current_date + 1")" \
    --to "$(qq "SELECT current_date + 30")" calculate_daily_metrics calculate_revenue_summary
assert_eq "0 0" "$(qq "SELECT count(*) FROM analytics.daily_metrics WHERE date > current_date") $(qq "SELECT count(*) FROM analytics.revenue_summary WHERE date > current_date")" \
    "a backfill writes no rows of zeros"
assert_eq "$dm_before" "$(dm_snap)" "daily_metrics unchanged by it"
assert_eq "$rs_before" "$(rs_snap)" "revenue_summary unchanged by it"

# --- no job named: every gold job, cohorts of the range included -------------
uc_snap() { qq "SELECT (to_jsonb(c) - 'updated_at')::text FROM analytics.user_cohorts c ORDER BY cohort_month"; }
uc_before=$(uc_snap)
qq "DELETE FROM analytics.daily_metrics WHERE $in_range" >/dev/null
qq "DELETE FROM analytics.user_cohorts WHERE cohort_month = date_trunc('month', '$FROM'::date)::date" >/dev/null
assert_ne "$uc_before" "$(uc_snap)" "a cohort in the range wiped"
rc=0; out=$("$MEDALLIOND" backfill --from "$FROM" --to "$TO" 2>/dev/null) || rc=$?
assert_eq "0" "$rc" "default backfill: exit 0"
assert_eq "calculate_daily_metrics calculate_revenue_summary calculate_user_cohorts update_kpi_dashboard " \
    "$(awk '$2 == "succeeded" {printf "%s ", $1}' <<<"$out")" "default backfill runs the four gold jobs in order"
assert_eq "$dm_before" "$(dm_snap)" "daily_metrics restored (default jobs)"
assert_eq "$rs_before" "$(rs_snap)" "revenue_summary unchanged (default jobs)"
assert_eq "$uc_before" "$(uc_snap)" "user_cohorts restored (default jobs)"
assert_eq "27" "$(qq "SELECT count(*) FROM analytics.kpi_dashboard")" "kpi_dashboard filled (default jobs)"
assert_eq "0 0" "$(qq "SELECT count(*) FROM medallion.gold_dirty") $(qq "SELECT count(*) FROM medallion.cohort_dirty")" \
    "every mark consumed"

# --- a failing job: exit 1, later ones skipped ----------------------------------
qq "ALTER TABLE analytics.daily_metrics RENAME TO daily_metrics_away" >/dev/null
rc=0; out=$("$MEDALLIOND" backfill --from "$FROM" --to "$TO" calculate_daily_metrics calculate_revenue_summary 2>/dev/null) || rc=$?
qq "ALTER TABLE analytics.daily_metrics_away RENAME TO daily_metrics" >/dev/null
assert_eq "1" "$rc" "a failed job: exit 1"
assert_match "^calculate_daily_metrics +failed" "$(sed -n 1p <<<"$out")" "the failure is reported"
assert_match "^calculate_revenue_summary +skipped .*dependency failed" "$(sed -n 2p <<<"$out")" "the next job is skipped"
assert_eq "15" "$(qq "SELECT count(*) FROM medallion.gold_dirty WHERE target = 'calculate_daily_metrics'")" \
    "the failed job's marks survive for its next run"
md_finish
