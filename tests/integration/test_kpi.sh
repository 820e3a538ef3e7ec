#!/usr/bin/env bash
# update_kpi_dashboard on demo data: every metric of every period (and its
# previous period) equals an independent plain-SQL computation over silver,
# change_percentage follows from the exact values (not the rounded stored
# ones) and trend from it, a rerun changes only
# computed_at, a late event moves yesterday's numbers, and a non-UTC
# reporting.timezone puts the day boundaries at local midnight.
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d /tmp/mdkpi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

JOBS=(clean_events clean_api_logs validate_transactions build_user_sessions update_kpi_dashboard)
run_jobs() { # label [medalliond options...]
    local label="$1" out
    shift
    out=$("$MEDALLIOND" run "$@" "${JOBS[@]}" 2>&1) || { echo "$out"; md_fail "jobs run ($label)"; md_finish; }
    md_ok "jobs ran ($label)"
}

# The expected dashboard for zone $1: windows as local dates, every metric
# straight from silver (new users from events_clean, not user_first_seen).
expected() {
    local tz="$1"
    cat <<SQL
WITH t AS (SELECT (now() AT TIME ZONE '$tz')::date AS today),
per(tp, n) AS (VALUES ('24h', 1), ('7d', 7), ('30d', 30)),
w AS (SELECT tp, c, CASE WHEN c THEN today - n ELSE today - 2 * n END AS s,
             CASE WHEN c THEN today - 1 ELSE today - n - 1 END AS e
      FROM per, t, (VALUES (true), (false)) v(c)),
ev AS (SELECT (created_at AT TIME ZONE '$tz')::date AS d, user_id FROM analytics.events_clean WHERE is_valid),
first AS (SELECT user_id, min(d) AS d FROM ev WHERE user_id IS NOT NULL GROUP BY user_id),
tx AS (SELECT (created_at AT TIME ZONE '$tz')::date AS d, user_id, amount_base FROM analytics.transactions_validated
       WHERE is_valid AND NOT is_duplicate AND status = 'succeeded'),
api AS (SELECT (created_at AT TIME ZONE '$tz')::date AS d, is_error, response_time_ms FROM analytics.api_logs_clean WHERE is_valid),
vals AS (
  SELECT tp, c, s, e,
    (SELECT count(DISTINCT user_id) FROM ev WHERE d BETWEEN s AND e) AS active,
    (SELECT count(*) FROM first WHERE d BETWEEN s AND e) AS new_users,
    (SELECT count(*) FROM analytics.user_sessions WHERE session_date BETWEEN s AND e) AS sessions,
    (SELECT avg(duration_seconds) FROM analytics.user_sessions WHERE session_date BETWEEN s AND e) AS avg_dur,
    (SELECT coalesce(sum(amount_base), 0) FROM tx WHERE d BETWEEN s AND e) AS revenue,
    (SELECT count(*) FROM tx WHERE d BETWEEN s AND e) AS transactions,
    (SELECT count(DISTINCT user_id) FROM tx WHERE d BETWEEN s AND e) AS paying,
    (SELECT 100.0 * count(*) FILTER (WHERE is_error) / nullif(count(*), 0) FROM api WHERE d BETWEEN s AND e) AS err_rate,
    (SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY response_time_ms::float8)::numeric
       FROM api WHERE d BETWEEN s AND e) AS p95
  FROM w),
-- x: the exact value, v: the stored one (ratios and p95 rounded to 2 decimals)
x AS (SELECT tp, c, s, e, m.name, m.unit, m.x FROM vals, LATERAL (VALUES
        ('active_users', 'users', active::numeric), ('new_users', 'users', new_users),
        ('sessions', 'sessions', sessions), ('avg_session_duration', 'seconds', avg_dur),
        ('revenue', 'USD', revenue), ('transactions', 'count', transactions),
        ('conversion_rate', 'percent', 100.0 * paying / nullif(active, 0)),
        ('api_error_rate', 'percent', err_rate), ('p95_response_time_ms', 'ms', p95)) m(name, unit, x)),
u AS (SELECT *, CASE WHEN unit IN ('seconds', 'percent', 'ms') THEN round(x, 2) ELSE x END AS v FROM x)
SELECT a.name, a.tp, a.unit, a.v AS cur, b.v AS prev, a.s, a.e,
       CASE WHEN b.x <> 0 THEN round(100 * (a.x - b.x) / b.x, 2) END AS change
FROM u a JOIN u b ON a.name = b.name AND a.tp = b.tp AND a.c AND NOT b.c
SQL
}

check_dashboard() { # label zone
    local label="$1" tz="$2"
    assert_eq "27" "$(qq "SELECT count(*) FROM analytics.kpi_dashboard")" "9 metrics x 3 periods ($label)"
    local bad
    bad=$(qq "WITH x AS ($(expected "$tz"))
      SELECT coalesce(x.name, k.metric_name) || '/' || coalesce(x.tp, k.time_period) || ': expected '
             || coalesce(x.cur::text, 'NULL') || ' prev ' || coalesce(x.prev::text, 'NULL') || ' '
             || coalesce(x.s::text, '') || '..' || coalesce(x.e::text, '') || ', got '
             || coalesce(k.metric_value::text, 'NULL') || ' prev ' || coalesce(k.previous_value::text, 'NULL')
             || ' ' || coalesce(k.period_start::text, '') || '..' || coalesce(k.period_end::text, '')
      FROM x FULL JOIN analytics.kpi_dashboard k ON k.metric_name = x.name AND k.time_period = x.tp
      WHERE x.name IS NULL OR k.metric_name IS NULL OR k.metric_value IS DISTINCT FROM x.cur
         OR k.previous_value IS DISTINCT FROM x.prev OR k.metric_unit IS DISTINCT FROM x.unit
         OR k.period_start IS DISTINCT FROM x.s OR k.period_end IS DISTINCT FROM x.e")
    assert_eq "" "$bad" "kpi_dashboard = plain SQL over silver: values, previous values, units, dates ($label)"
    assert_eq "" "$(qq "WITH x AS ($(expected "$tz"))
      SELECT string_agg(x.name || '/' || x.tp || ': change ' || coalesce(k.change_percentage::text, 'NULL')
                        || ', expected ' || coalesce(x.change::text, 'NULL'), '; ')
      FROM x JOIN analytics.kpi_dashboard k ON k.metric_name = x.name AND k.time_period = x.tp
      WHERE k.change_percentage IS DISTINCT FROM x.change")" \
        "change_percentage = 100 x (cur - prev) / prev over the exact values, not the rounded ones ($label)"
    assert_eq "0" "$(qq "SELECT count(*) FROM analytics.kpi_dashboard
      WHERE trend IS DISTINCT FROM
              CASE WHEN change_percentage IS NOT NULL THEN
                     CASE WHEN abs(change_percentage) < 1.0 THEN 'flat' WHEN change_percentage > 0 THEN 'up' ELSE 'down' END
                   WHEN metric_value > previous_value THEN 'up'
                   WHEN metric_value < previous_value THEN 'down' ELSE 'flat' END")" \
        "trend follows from change_percentage, else from the values ($label)"
    assert_eq "1" "$(qq "SELECT count(DISTINCT computed_at) FROM analytics.kpi_dashboard")" "one computed_at per run ($label)"
}

# --- UTC ----------------------------------------------------------------------
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=20000 -v days=120 -v seed=7
run_jobs "initial, UTC"
check_dashboard "initial, UTC" UTC
# The data must exercise the numbers, not just zeros and NULLs.
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.kpi_dashboard WHERE time_period IN ('7d', '30d')
                     AND (metric_value IS NULL OR metric_value = 0 OR previous_value IS NULL OR previous_value = 0)")" \
    "every 7d/30d metric and its previous value is non-zero on demo data"
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.kpi_dashboard WHERE trend <> 'flat'")" "some trends are up or down"
# Distinct users over the period, never a sum of daily actives.
assert_eq "t" "$(qq "SELECT (SELECT metric_value FROM analytics.kpi_dashboard WHERE metric_name = 'active_users' AND time_period = '30d')
    < (SELECT sum(n) FROM (SELECT count(DISTINCT user_id) AS n FROM analytics.events_clean WHERE is_valid
        AND (created_at AT TIME ZONE 'UTC')::date BETWEEN (now() AT TIME ZONE 'UTC')::date - 30 AND (now() AT TIME ZONE 'UTC')::date - 1
        GROUP BY (created_at AT TIME ZONE 'UTC')::date) d)")" \
    "30d active users are distinct users (less than the sum of daily actives)"
assert_eq "2" "$(qq "SELECT max(scale(metric_value)) FROM analytics.kpi_dashboard WHERE metric_unit = 'percent'")" \
    "percentages carry 2 decimals"

# --- rerun: only computed_at moves ----------------------------------------------
snap() { qq "SELECT md5(string_agg(row(metric_name, time_period, metric_value, metric_unit, previous_value,
             change_percentage, trend, period_start, period_end)::text, ',' ORDER BY metric_name, time_period))
             FROM analytics.kpi_dashboard"; }
s1=$(snap)
c1=$(qq "SELECT max(computed_at) FROM analytics.kpi_dashboard")
"$MEDALLIOND" run update_kpi_dashboard >/dev/null 2>&1 || md_fail "rerun of update_kpi_dashboard"
assert_eq "$s1" "$(snap)" "rerun leaves every value unchanged"
assert_eq "t" "$(qq "SELECT min(computed_at) > '$c1' FROM analytics.kpi_dashboard")" "rerun refreshes computed_at"

# --- a late event yesterday from a brand-new user -------------------------------
before_active=$(qq "SELECT metric_value FROM analytics.kpi_dashboard WHERE metric_name = 'active_users' AND time_period = '24h'")
before_new=$(qq "SELECT metric_value FROM analytics.kpi_dashboard WHERE metric_name = 'new_users' AND time_period = '24h'")
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    VALUES (gen_random_uuid(), 'page_view', '00000000-0000-4000-8000-00000000cafe', 'late-kpi', '{}', 'web',
            (now() AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC' - interval '1 hour')" >/dev/null
run_jobs "after a late event"
assert_eq "$((before_active + 1))" "$(qq "SELECT metric_value FROM analytics.kpi_dashboard WHERE metric_name = 'active_users' AND time_period = '24h'")" \
    "late event: one more active user yesterday"
assert_eq "$((before_new + 1))" "$(qq "SELECT metric_value FROM analytics.kpi_dashboard WHERE metric_name = 'new_users' AND time_period = '24h'")" \
    "late event: one more new user yesterday"
check_dashboard "after a late event" UTC

# --- America/New_York: local midnight is the day boundary --------------------
cat >"$tmp/ny.yaml" <<'YAML'
reporting:
  timezone: America/New_York
kpi:
  flat_band: 1.0
YAML
md_newdb "t_kpi_ny_$$"
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=20000 -v days=120 -v seed=7
run_jobs "initial, New York" -c "$tmp/ny.yaml"
check_dashboard "New York" America/New_York
assert_eq "$(qq "SELECT (now() AT TIME ZONE 'America/New_York')::date - 1")" \
    "$(qq "SELECT period_end FROM analytics.kpi_dashboard WHERE metric_name = 'revenue' AND time_period = '24h'")" \
    "24h ends yesterday in New York"
# The same data read with UTC days would differ: the zone really is applied.
assert_ne "" "$(qq "WITH x AS ($(expected UTC)) SELECT x.name FROM x JOIN analytics.kpi_dashboard k
    ON k.metric_name = x.name AND k.time_period = x.tp WHERE k.metric_value IS DISTINCT FROM x.cur LIMIT 1")" \
    "New York numbers differ from UTC-day numbers"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"t_kpi_ny_$$\"" >/dev/null 2>&1 || true

# --- ratios: the change comes from the fractions, not the rounded values ------
# Yesterday 2 of 3 active users paid, the day before 1 of 3: 66.67 % against
# 33.33 % is +100.00 % (the rounded values would give 100.03). Errors: 1 of 3
# API calls against 1 of 2: -33.33 % (not -33.34).
md_newdb "t_kpi_ratio_$$"
qq "WITH d AS (SELECT ((now() AT TIME ZONE 'UTC')::date - k + time '12:00') AT TIME ZONE 'UTC' AS t, k
               FROM generate_series(1, 2) k),
    u AS (SELECT ('00000000-0000-4000-8000-00000000000' || n)::uuid AS id, n FROM generate_series(1, 3) n)
    INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    SELECT gen_random_uuid(), 'page_view', u.id, 's' || u.n || d.k, '{}', 'web', d.t FROM u, d" >/dev/null
qq "INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, payment_method, source, created_at)
    SELECT x, ('00000000-0000-4000-8000-00000000000' || n)::uuid, 10, 'USD', 'succeeded', 'card', 'web',
           ((now() AT TIME ZONE 'UTC')::date - k + time '12:00') AT TIME ZONE 'UTC'
    FROM (VALUES ('p1', 1, 2), ('p2', 1, 1), ('p3', 2, 1)) v(x, n, k)" >/dev/null
qq "INSERT INTO analytics.api_logs_raw (request_id, method, path, status_code, response_time_ms, ip_address, source, created_at)
    SELECT r, 'GET', '/x', st, 10, '10.0.0.1', 'web',
           ((now() AT TIME ZONE 'UTC')::date - k + time '12:00') AT TIME ZONE 'UTC'
    FROM (VALUES ('a1', 500, 2), ('a2', 200, 2), ('a3', 500, 1), ('a4', 200, 1), ('a5', 200, 1)) v(r, st, k)" >/dev/null
run_jobs "ratios"
kpi() { qq "SELECT metric_value || ' ' || previous_value || ' ' || change_percentage || ' ' || trend
            FROM analytics.kpi_dashboard WHERE metric_name = '$1' AND time_period = '24h'"; }
assert_eq "66.67 33.33 100.00 up" "$(kpi conversion_rate)" "conversion rate 2/3 against 1/3: +100.00 %"
assert_eq "33.33 50.00 -33.33 down" "$(kpi api_error_rate)" "API error rate 1/3 against 1/2: -33.33 %"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"t_kpi_ratio_$$\"" >/dev/null 2>&1 || true
md_finish
