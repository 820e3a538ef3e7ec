#!/usr/bin/env bash
# Silver → sessions → daily_metrics on demo data, each compared with an
# independent plain-SQL computation of product.md §4; then a late event three
# weeks back must move exactly that day, and an idle rerun must change nothing.
source "$(dirname "$0")/lib.sh"
md_newdb
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=20000 -v days=100 -v seed=11

JOBS=(clean_events validate_transactions build_user_sessions calculate_daily_metrics)
run_jobs() {
    local out
    out=$("$MEDALLIOND" run "${JOBS[@]}" 2>&1) || { echo "$out"; md_fail "jobs run ($1)"; md_finish; }
    md_ok "jobs ran ($1)"
}
# The sessions job first alone, on empty silver: it builds medallion.user_days
# (empty) for the zone, so every row below is maintained by the session pages,
# not by the one-time full build.
"$MEDALLIOND" run build_user_sessions >/dev/null 2>&1 || md_fail "sessions on empty silver"
assert_eq "UTC|0" "$(qq "SELECT timezone, (SELECT count(*) FROM medallion.user_days) FROM medallion.derived_state WHERE name = 'user_days'")" \
    "user_days built empty for the reporting zone"
run_jobs initial

mismatch() { assert_eq "0" "$(qq "$2")" "$1"; }

# The sessions run's figures: every event read, invalid ones counted as
# invalid, and valid ones with neither user_id nor session_id excluded and
# counted in the run's message (product.md §4 "Sessions").
unkeyed=$(qq "SELECT count(*) FROM analytics.events_clean WHERE is_valid AND user_id IS NULL AND session_id IS NULL")
assert_ne "0" "$unkeyed" "demo data has valid events with neither key"
assert_eq "$(qq "SELECT count(*) || '|' || count(*) FILTER (WHERE NOT is_valid) || '|'
                        || count(*) FILTER (WHERE is_valid AND (user_id IS NOT NULL OR session_id IS NOT NULL))
                 FROM analytics.events_clean")|$unkeyed valid events with neither user_id nor session_id: not in any session" \
    "$(qq "SELECT rows_read || '|' || rows_invalid || '|' || rows_valid || '|' || message FROM medallion.job_runs
           WHERE job_name = 'build_user_sessions' ORDER BY run_id DESC LIMIT 1")" \
    "sessions run: read, invalid, valid, and the excluded events counted in its message"

# medallion.user_days = the plain GROUP BY over events_clean it stands for.
EXPECTED_USER_DAYS="SELECT user_id, (created_at AT TIME ZONE 'UTC')::date, count(*)::int
  FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL GROUP BY 1, 2"
ACTUAL_USER_DAYS="SELECT user_id, day, events FROM medallion.user_days"
check_user_days() {
    mismatch "user_days = GROUP BY user, day over events_clean ($1)" "
      SELECT count(*) FROM ((SELECT * FROM ($EXPECTED_USER_DAYS) a EXCEPT SELECT * FROM ($ACTUAL_USER_DAYS) b)
                            UNION ALL (SELECT * FROM ($ACTUAL_USER_DAYS) c EXCEPT SELECT * FROM ($EXPECTED_USER_DAYS) d)) x"
}
check_user_days initial
assert_ne "0" "$(qq "SELECT count(*) FROM medallion.user_days")" "user_days has rows"

# Sessions by the gap rule with window functions (keys: user_id, else client session_id).
EXPECTED_SESSIONS="
  WITH e AS (
    SELECT coalesce(user_id::text, session_id) AS k, (user_id IS NULL) AS anon, id, created_at,
      CASE WHEN lag(created_at) OVER w IS NULL
             OR created_at - lag(created_at) OVER w >= interval '30 minutes' THEN 1 ELSE 0 END AS brk
    FROM analytics.events_clean
    WHERE is_valid AND (user_id IS NOT NULL OR session_id IS NOT NULL)
    WINDOW w AS (PARTITION BY user_id IS NULL, coalesce(user_id::text, session_id) ORDER BY created_at, id)),
  g AS (SELECT *, sum(brk) OVER (PARTITION BY anon, k ORDER BY created_at, id) AS n FROM e)
  SELECT anon, k, min(created_at) AS started_at, max(created_at) AS ended_at, count(*)::int AS cnt
  FROM g GROUP BY anon, k, n"
ACTUAL_SESSIONS="
  SELECT user_id IS NULL, coalesce(user_id::text, client_session_id), started_at, ended_at, event_count
  FROM analytics.user_sessions"
check_sessions() {
    # The plain gap rule is the truth for keys with no gap-chain of >= 24 h;
    # keys that reach the cap are checked below for the cap's invariants only.
    mismatch "user_sessions = gap-rule sessions: key, started_at, ended_at, event_count ($1)" "
      WITH capped AS (SELECT DISTINCT anon, k FROM ($EXPECTED_SESSIONS) c WHERE ended_at - started_at >= interval '24 hours'),
           ex AS (SELECT * FROM ($EXPECTED_SESSIONS) x WHERE (anon, k) NOT IN (SELECT * FROM capped)),
           ac AS (SELECT * FROM ($ACTUAL_SESSIONS) y(anon, k, started_at, ended_at, cnt) WHERE (anon, k) NOT IN (SELECT * FROM capped))
      SELECT count(*) FROM ((SELECT * FROM ex EXCEPT SELECT * FROM ac) UNION ALL (SELECT * FROM ac EXCEPT SELECT * FROM ex)) z"
    mismatch "no session spans 24 h or more ($1)" "
      SELECT count(*) FROM analytics.user_sessions WHERE ended_at - started_at >= interval '24 hours'"
    mismatch "session columns: duration, session_date, ids unique per key/start ($1)" "
      SELECT count(*) FROM analytics.user_sessions
      WHERE duration_seconds <> floor(extract(epoch FROM ended_at - started_at))
         OR session_date <> (started_at AT TIME ZONE 'UTC')::date
         OR length(session_id) <> 32"
}
check_sessions initial
assert_ne "0" "$(qq "SELECT count(*) FROM analytics.user_sessions WHERE user_id IS NULL")" "anonymous sessions exist"

EXPECTED_METRICS="
  WITH ev AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS d, user_id FROM analytics.events_clean WHERE is_valid),
  fs AS (SELECT user_id, min(d) AS first_d FROM ev WHERE user_id IS NOT NULL GROUP BY user_id),
  days AS (SELECT DISTINCT d FROM ev),
  a AS (SELECT d, count(DISTINCT user_id) AS active, count(*) AS events FROM ev GROUP BY d),
  n AS (SELECT first_d AS d, count(*) AS new FROM fs GROUP BY first_d),
  s AS (SELECT session_date AS d, count(*) AS sessions FROM analytics.user_sessions GROUP BY 1),
  t AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS d, sum(amount_base) AS rev, count(*) AS tx,
               count(DISTINCT user_id) AS paying
        FROM analytics.transactions_validated
        WHERE is_valid AND NOT is_duplicate AND status = 'succeeded' GROUP BY 1)
  SELECT days.d, a.active::int, coalesce(n.new, 0)::int, (a.active - coalesce(n.new, 0))::int,
         a.events::bigint, coalesce(s.sessions, 0)::int, coalesce(t.rev, 0)::numeric, coalesce(t.tx, 0)::int,
         coalesce(t.paying, 0)::int
  FROM days JOIN a USING (d) LEFT JOIN n USING (d) LEFT JOIN s USING (d) LEFT JOIN t USING (d)"
ACTUAL_METRICS="
  SELECT date, active_users, new_users, returning_users, total_events, total_sessions,
         total_revenue, total_transactions, paying_users
  FROM analytics.daily_metrics WHERE active_users > 0 OR total_events > 0"
check_metrics() {
    mismatch "daily_metrics = plain SQL over silver ($1)" "
      SELECT count(*) FROM ((SELECT * FROM ($EXPECTED_METRICS) a EXCEPT SELECT * FROM ($ACTUAL_METRICS) b)
                            UNION ALL (SELECT * FROM ($ACTUAL_METRICS) c EXCEPT SELECT * FROM ($EXPECTED_METRICS) d)) x"
    mismatch "conversion_rate and avg duration ($1)" "
      SELECT count(*) FROM analytics.daily_metrics m
      WHERE m.conversion_rate IS DISTINCT FROM CASE WHEN active_users > 0 THEN round(paying_users::numeric / active_users, 4) END
         OR m.avg_session_duration_seconds IS DISTINCT FROM (
              SELECT round(avg(duration_seconds), 2) FROM analytics.user_sessions s WHERE s.session_date = m.date)"
}
check_metrics initial
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.gold_dirty WHERE target = 'calculate_daily_metrics'")" "daily_metrics' dirty marks consumed"

# --- a late event three weeks back for an existing user --------------------
snap() { qq "SELECT date, md5(row(active_users, new_users, returning_users, total_sessions, avg_session_duration_seconds, total_events, total_revenue, total_transactions, paying_users, conversion_rate)::text) FROM analytics.daily_metrics ORDER BY date"; }
before=$(snap)
late_day=$(qq "SELECT current_date - 21")
user=$(qq "SELECT user_id FROM analytics.events_clean WHERE is_valid AND user_id IS NOT NULL
             AND created_at < (current_date - 21)::timestamptz GROUP BY user_id ORDER BY count(*) DESC LIMIT 1")
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    VALUES (gen_random_uuid(), 'page_view', '$user', 'late-s', '{\"page\": \"/late\"}', 'web',
            (current_date - 21)::timestamptz + interval '12 hours 3 minutes')" >/dev/null
run_jobs "after late event"
after=$(snap)
changed=$(diff <(echo "$before") <(echo "$after") | { grep '^>' || true; } | cut -d' ' -f2 | cut -d'|' -f1 | sort -u | tr '\n' ' ' || true)
assert_eq "$late_day " "$changed" "only the late event's day moved"
check_sessions "after late event"
check_metrics "after late event"
check_user_days "after late event"
assert_eq "1" "$(qq "SELECT count(*) FROM medallion.user_days WHERE user_id = '$user' AND day = '$late_day'")" \
    "the late event's (user, day) is in user_days"
assert_eq "1" "$(qq "SELECT count(*) FROM analytics.user_sessions WHERE user_id = '$user' AND started_at <= (current_date - 21)::timestamptz + interval '12 hours 3 minutes' AND ended_at >= (current_date - 21)::timestamptz + interval '12 hours 3 minutes'")" \
    "the late event sits in exactly one session"

# --- nothing new: nothing changes -----------------------------------------
s1=$(qq "SELECT md5(string_agg(s::text, ',' ORDER BY session_id)) FROM (SELECT session_id, user_id, client_session_id, started_at, ended_at, duration_seconds, event_count, entry_event_type, exit_event_type, entry_page, exit_page, session_date FROM analytics.user_sessions) s")
m1=$(snap | md5sum)
run_jobs idle
s2=$(qq "SELECT md5(string_agg(s::text, ',' ORDER BY session_id)) FROM (SELECT session_id, user_id, client_session_id, started_at, ended_at, duration_seconds, event_count, entry_event_type, exit_event_type, entry_page, exit_page, session_date FROM analytics.user_sessions) s")
assert_eq "$s1" "$s2" "idle rerun leaves user_sessions unchanged"
assert_eq "$m1" "$(snap | md5sum)" "idle rerun leaves daily_metrics unchanged"

# --- user_days recorded for another zone (or never built): rebuilt in full ---
qq "UPDATE medallion.derived_state SET timezone = 'Europe/Berlin' WHERE name = 'user_days'" >/dev/null
qq "UPDATE medallion.user_days SET events = events + 7 WHERE day = '$late_day'" >/dev/null
"$MEDALLIOND" run build_user_sessions >/dev/null 2>&1 || md_fail "sessions after a zone change"
check_user_days "rebuilt after the recorded zone differed"
assert_eq "UTC" "$(qq "SELECT timezone FROM medallion.derived_state WHERE name = 'user_days'")" "rebuild records the zone"
md_finish
