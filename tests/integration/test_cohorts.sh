#!/usr/bin/env bash
# calculate_user_cohorts on 400 days of demo data, every row compared with an
# independent plain-SQL computation of product.md §4 "Cohorts"; then a late
# event moving a user's first event two months back (both cohorts corrected,
# nothing else touched), a cohort emptied by such a move (row deleted), an
# idle rerun that writes nothing, and a month rollover with no new data.
source "$(dirname "$0")/lib.sh"
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=30000 -v days=400 -v seed=23

SILVER=(clean_events validate_transactions build_user_sessions)
run() { # label job...
    local label="$1" out; shift
    out=$("$MEDALLIOND" run "$@" 2>&1) || { echo "$out"; md_fail "jobs run: $label"; md_finish; }
    md_ok "jobs ran: $label"
}
mismatch() { assert_eq "0" "$(qq "$2")" "$1"; }
TZN=UTC # reporting.timezone of the config in use
cur=$(qq "SELECT date_trunc('month', now() AT TIME ZONE '$TZN')::date")
month() { qq "SELECT ('$cur'::date + make_interval(months => $1))::date"; } # month N from now

ACTUAL="
  SELECT cohort_month, month_0_users, month_1_users, month_2_users, month_3_users, month_6_users,
         month_12_users, month_1_retention, month_2_retention, month_3_retention, month_6_retention,
         month_12_retention, total_revenue, avg_revenue_per_user
  FROM analytics.user_cohorts"
# Cohorts from events_clean alone (not from medallion.user_first_seen).
check() {
    local EXPECTED="
  WITH fs AS (SELECT user_id, date_trunc('month', min(created_at) AT TIME ZONE '$TZN')::date AS cm
              FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL GROUP BY user_id),
  act AS (SELECT DISTINCT user_id, date_trunc('month', created_at AT TIME ZONE '$TZN')::date AS am
          FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL),
  sz AS (SELECT cm, count(*) AS n FROM fs GROUP BY cm),
  cnt AS (SELECT fs.cm, act.am, count(*) AS c FROM fs JOIN act USING (user_id) GROUP BY 1, 2),
  mu AS (SELECT sz.cm, k,
           CASE WHEN (sz.cm + make_interval(months => k))::date <= '$cur' THEN coalesce(cnt.c, 0) END AS users,
           CASE WHEN (sz.cm + make_interval(months => k))::date < '$cur'
                THEN round(coalesce(cnt.c, 0)::numeric / sz.n, 4) END AS ret
         FROM sz CROSS JOIN unnest(ARRAY[1, 2, 3, 6, 12]) AS k
         LEFT JOIN cnt ON cnt.cm = sz.cm AND cnt.am = (sz.cm + make_interval(months => k))::date),
  rev AS (SELECT fs.cm, sum(t.amount_base) AS r FROM fs JOIN analytics.transactions_validated t USING (user_id)
          WHERE t.is_valid AND NOT t.is_duplicate AND t.status = 'succeeded' GROUP BY 1)
  SELECT sz.cm, sz.n::int,
    max(users) FILTER (WHERE k = 1)::int, max(users) FILTER (WHERE k = 2)::int,
    max(users) FILTER (WHERE k = 3)::int, max(users) FILTER (WHERE k = 6)::int,
    max(users) FILTER (WHERE k = 12)::int,
    max(ret) FILTER (WHERE k = 1), max(ret) FILTER (WHERE k = 2), max(ret) FILTER (WHERE k = 3),
    max(ret) FILTER (WHERE k = 6), max(ret) FILTER (WHERE k = 12),
    coalesce(rev.r, 0), round(coalesce(rev.r, 0) / sz.n, 4)
  FROM sz JOIN mu USING (cm) LEFT JOIN rev USING (cm) GROUP BY sz.cm, sz.n, rev.r"
    mismatch "user_cohorts = plain SQL over silver, every column of every cohort ($1)" "
      SELECT count(*) FROM ((SELECT * FROM ($EXPECTED) a EXCEPT SELECT * FROM ($ACTUAL) b)
                            UNION ALL (SELECT * FROM ($ACTUAL) c EXCEPT SELECT * FROM ($EXPECTED) d)) x"
    mismatch "month_N_users NULL exactly before month N starts, retention exactly before it ends ($1)" "
      SELECT count(*) FROM analytics.user_cohorts c CROSS JOIN LATERAL (VALUES
          (1, month_1_users, month_1_retention), (2, month_2_users, month_2_retention),
          (3, month_3_users, month_3_retention), (6, month_6_users, month_6_retention),
          (12, month_12_users, month_12_retention)) v(k, u, r)
      WHERE (u IS NULL) <> ((cohort_month + make_interval(months => k))::date > '$cur')
         OR (r IS NULL) <> ((cohort_month + make_interval(months => k))::date >= '$cur')"
}
snap() { qq "SELECT cohort_month, md5(c::text) FROM ($ACTUAL) c ORDER BY 1"; }
changed() { diff <(echo "$1") <(echo "$2") | { grep '^>' || true; } | cut -d' ' -f2 | cut -d'|' -f1 | sort -u | tr '\n' ' '; }
last_written() { qq "SELECT rows_written FROM medallion.job_runs WHERE job_name = 'calculate_user_cohorts' ORDER BY run_id DESC LIMIT 1"; }

# --- initial load ------------------------------------------------------------
run "silver (initial)" "${SILVER[@]}"
mismatch "build_user_sessions marked every first-seen cohort month" "
  SELECT count(*) FROM (SELECT DISTINCT date_trunc('month', first_event_at AT TIME ZONE 'UTC')::date
                        FROM medallion.user_first_seen WHERE first_event_at IS NOT NULL
                        EXCEPT SELECT cohort_month FROM medallion.cohort_dirty) x"
run "cohorts (initial)" calculate_user_cohorts
check initial
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.cohort_dirty")" "cohort marks consumed"
ncoh=$(qq "SELECT count(*) FROM analytics.user_cohorts")
assert_match "^1[3-9]$" "$ncoh" "at least 13 cohorts over 400 days"
assert_eq "t|t|t" "$(qq "SELECT bool_or(month_12_retention IS NOT NULL), bool_or(month_1_retention IS NULL),
                          bool_or(month_6_users IS NOT NULL AND month_6_retention IS NULL) FROM analytics.user_cohorts")" \
    "some month-12 retention is final, recent months are NULL, month 6 may be partial"
assert_eq "t" "$(qq "SELECT bool_and(month_0_users > 0) AND sum(month_1_users) > 0 AND sum(total_revenue) > 0 FROM analytics.user_cohorts")" \
    "cohorts have users, some retention and revenue"

# --- a late event moves a user's first event two months back ----------------
m_old=$(month -4)
m_new=$(month -6)
user=$(qq "SELECT user_id FROM medallion.user_first_seen
           WHERE date_trunc('month', first_event_at AT TIME ZONE 'UTC')::date = '$m_old' ORDER BY user_id LIMIT 1")
assert_match "^[0-9a-f-]{36}$" "$user" "a user of cohort $m_old"
size_old=$(qq "SELECT month_0_users FROM analytics.user_cohorts WHERE cohort_month = '$m_old'")
size_new=$(qq "SELECT month_0_users FROM analytics.user_cohorts WHERE cohort_month = '$m_new'")
before=$(snap)
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    VALUES (gen_random_uuid(), 'page_view', '$user', 'late-c', '{}', 'web',
            ('$m_new'::date + 9)::timestamp AT TIME ZONE 'UTC' + interval '10 hours')" >/dev/null
run "silver (late event)" "${SILVER[@]}"
assert_eq "$m_old,$m_new" "$(qq "SELECT string_agg(cohort_month::text, ',' ORDER BY cohort_month DESC) FROM medallion.cohort_dirty")" \
    "the move marked exactly the old and the new cohort"
run "cohorts (late event)" calculate_user_cohorts
after=$(snap)
assert_eq "$m_new $m_old " "$(changed "$before" "$after")" "exactly the two cohorts changed"
assert_eq "$((size_old - 1))|$((size_new + 1))" \
    "$(qq "SELECT (SELECT month_0_users FROM analytics.user_cohorts WHERE cohort_month = '$m_old'),
                  (SELECT month_0_users FROM analytics.user_cohorts WHERE cohort_month = '$m_new')")" \
    "the user left cohort $m_old for $m_new"
check "after late event"

# --- a new early user, then moved earlier still: the emptied cohort goes ------
first=$(qq "SELECT min(cohort_month) FROM analytics.user_cohorts")
e1=$(qq "SELECT ('$first'::date - interval '3 months')::date")
e2=$(qq "SELECT ('$first'::date - interval '5 months')::date")
newu=$(qq "SELECT gen_random_uuid()")
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    VALUES (gen_random_uuid(), 'signup', '$newu', 'early', '{}', 'web', '$e1'::date + time '12:00' AT TIME ZONE 'UTC');
    INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, payment_method, properties, source, created_at)
    VALUES ('early-1', '$newu', 10, 'USD', 'succeeded', 'card', '{}', 'web', '$e1'::date + time '13:00' AT TIME ZONE 'UTC'),
           ('early-2', '$newu', 2.5, 'USD', 'succeeded', 'card', '{}', 'web', '$e1'::date + time '14:00' AT TIME ZONE 'UTC')" >/dev/null
run "silver (early user)" "${SILVER[@]}"
run "cohorts (early user)" calculate_user_cohorts
assert_eq "1|12.50|12.5000" "$(qq "SELECT month_0_users, total_revenue, avg_revenue_per_user FROM analytics.user_cohorts WHERE cohort_month = '$e1'")" \
    "a one-user cohort with its revenue"
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    VALUES (gen_random_uuid(), 'page_view', '$newu', 'early', '{}', 'web', '$e2'::date + time '08:00' AT TIME ZONE 'UTC')" >/dev/null
run "silver (earlier still)" "${SILVER[@]}"
run "cohorts (earlier still)" calculate_user_cohorts
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.user_cohorts WHERE cohort_month = '$e1'")" "the emptied cohort row is deleted"
assert_eq "1|1|0.0000|12.5000" "$(qq "SELECT month_0_users, month_2_users, month_1_retention, avg_revenue_per_user FROM analytics.user_cohorts WHERE cohort_month = '$e2'")" \
    "the user's new cohort: active again in month 2, revenue follows"
check "after cohort emptied"

# --- nothing new: nothing written -------------------------------------------
t1=$(qq "SELECT md5(string_agg(c::text, ',' ORDER BY cohort_month)) FROM analytics.user_cohorts c")
run "idle" "${SILVER[@]}" calculate_user_cohorts
assert_eq "$t1" "$(qq "SELECT md5(string_agg(c::text, ',' ORDER BY cohort_month)) FROM analytics.user_cohorts c")" \
    "idle rerun leaves user_cohorts (updated_at included) unchanged"
assert_eq "0" "$(last_written)" "idle rerun wrote no row"

# --- month rollover, no new data ---------------------------------------------
# Pretend the last successful run was last month: rows computed then had NULL
# retention for the month that just ended. Only cohorts with a month start
# (month N or N + 1 for N in 1,2,3,6,12) between then and now are recomputed.
c2=$(month -2)
c5=$(month -5)
qq "UPDATE analytics.user_cohorts SET updated_at = '2000-01-01';
    UPDATE analytics.user_cohorts SET month_1_retention = NULL WHERE cohort_month = '$c2';
    UPDATE analytics.user_cohorts SET month_3_retention = NULL WHERE cohort_month = '$c5';
    UPDATE medallion.job_runs SET started_at = ('$cur'::date - 10)::timestamp AT TIME ZONE 'UTC'
      WHERE job_name = 'calculate_user_cohorts'" >/dev/null
run "cohorts (rollover)" calculate_user_cohorts
expected_roll=$(qq "SELECT string_agg(m::text, ' ' ORDER BY m) FROM (SELECT ('$cur'::date - make_interval(months => k))::date AS m
                    FROM unnest(ARRAY[1, 2, 3, 4, 6, 7, 12, 13]) k) x WHERE m IN (SELECT cohort_month FROM analytics.user_cohorts)")
assert_eq "$expected_roll" "$(qq "SELECT string_agg(cohort_month::text, ' ' ORDER BY cohort_month) FROM analytics.user_cohorts WHERE updated_at > '2000-01-01'")" \
    "exactly the cohorts with a month start since the last run were recomputed"
assert_eq "f" "$(qq "SELECT month_1_retention IS NULL FROM analytics.user_cohorts WHERE cohort_month = '$c2'")" \
    "month 1 of cohort $c2 ended: retention computed without new data"
assert_eq "t" "$(qq "SELECT month_3_retention IS NULL FROM analytics.user_cohorts WHERE cohort_month = '$c5'")" \
    "cohort $c5 had no boundary: not recomputed"
qq "UPDATE medallion.job_runs SET started_at = ('$c5'::date - 1)::timestamp AT TIME ZONE 'UTC'
      WHERE job_name = 'calculate_user_cohorts'" >/dev/null
run "cohorts (rollover from 5 months back)" calculate_user_cohorts
check "after rollover"
run "idle after rollover" calculate_user_cohorts
assert_eq "0" "$(last_written)" "no rollover within the month: nothing written"

# --- reporting.timezone far from UTC: month boundaries are local ------------
# Kiritimati is UTC+14: an event at 2025-01-31 11:00Z is February there.
TZN=Pacific/Kiritimati
cfg=$(mktemp /tmp/md_cohorts_XXXXXX.yaml)
trap 'rm -f "$cfg"' EXIT
printf 'reporting:\n  timezone: %s\n' "$TZN" >"$cfg"
export MEDALLIOND_CONFIG="$cfg"
md_newdb "t_test_cohorts_tz_$$"
cur=$(qq "SELECT date_trunc('month', now() AT TIME ZONE '$TZN')::date")
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=8000 -v days=150 -v seed=5
edge=$(qq "SELECT gen_random_uuid()")
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    VALUES (gen_random_uuid(), 'signup', '$edge', 'tz', '{}', 'web', '2025-01-31 11:00Z'),
           (gen_random_uuid(), 'page_view', '$edge', 'tz', '{}', 'web', '2025-02-28 10:30Z')" >/dev/null
run "silver ($TZN)" "${SILVER[@]}"
run "cohorts ($TZN)" calculate_user_cohorts
check "$TZN"
assert_eq "1|1|0" "$(qq "SELECT month_0_users, month_1_users, month_2_users FROM analytics.user_cohorts WHERE cohort_month = '2025-02-01'")" \
    "local months: first event in February (cohort), the next one in March (month 1)"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.user_cohorts WHERE cohort_month = '2025-01-01'")" "no January cohort in $TZN"
md_finish
