#!/usr/bin/env bash
# Late events re-sessionize incrementally to exactly what a rebuild from
# scratch gives: a late event that moves the start of a chain of sessions cut
# by sessions.max_length moves every later cut of that chain too.
source "$(dirname "$0")/lib.sh"
md_newdb
u=00000000-0000-4000-8000-00000000000a
t0="date_trunc('day', now()) - interval '10 days'"
# One user active every 20 minutes for 50 hours: three sessions cut at 24 h.
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, created_at, ingested_at)
    SELECT 'page_view', '$u', 's1', $t0 + g * interval '20 minutes', now()
    FROM generate_series(0, 150) g" >/dev/null
# Other users, and an anonymous client session, around it.
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, created_at, ingested_at)
    SELECT 'click', CASE WHEN g % 7 = 0 THEN NULL ELSE ('00000000-0000-4000-8000-' || lpad((g % 5)::text, 12, '0'))::uuid END,
           'c' || (g % 3), $t0 + g * interval '37 minutes', now()
    FROM generate_series(0, 200) g" >/dev/null
"$MEDALLIOND" run clean_events build_user_sessions >/dev/null 2>&1 || md_fail "first run"
assert_eq "3" "$(qq "SELECT count(*) FROM analytics.user_sessions WHERE user_id = '$u'")" "a 50 h chain is three sessions (24 h cap)"

sessions_md5() { qq "SELECT md5(string_agg(concat_ws('|', session_id, user_id, client_session_id, started_at, ended_at, duration_seconds, event_count, session_date), ',' ORDER BY session_id)) FROM analytics.user_sessions"; }
rebuild_md5() { # rebuild sessions from scratch in a copy of the database, print its md5
    local copy="${PGDATABASE}_rebuild"
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$copy\"" -c "CREATE DATABASE \"$copy\" TEMPLATE \"$PGDATABASE\"" >/dev/null
    PGDATABASE="$copy" qq "TRUNCATE analytics.user_sessions; UPDATE medallion.batch_positions SET prev_snapshot = NULL, cur_snapshot = NULL, last_xid = NULL, last_id = NULL WHERE job_name = 'build_user_sessions'" >/dev/null
    MEDALLION_DATABASE_URL="${MEDALLION_DATABASE_URL/dbname=$PGDATABASE/dbname=$copy}" "$MEDALLIOND" run build_user_sessions >/dev/null 2>&1
    PGDATABASE="$copy" sessions_md5
    psql -X -q -d postgres -c "DROP DATABASE \"$copy\"" >/dev/null
}
assert_eq "$(rebuild_md5)" "$(sessions_md5)" "first run equals a rebuild from scratch"

# A late event 25 minutes before the chain: its start moves, so do both cuts.
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, created_at, ingested_at)
    VALUES ('page_view', '$u', 's1', $t0 - interval '25 minutes', now())" >/dev/null
"$MEDALLIOND" run clean_events build_user_sessions >/dev/null 2>&1 || md_fail "late run"
assert_eq "3" "$(qq "SELECT count(*) FROM analytics.user_sessions WHERE user_id = '$u'")" "still three sessions"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.user_sessions a JOIN analytics.user_sessions b ON a.user_id = b.user_id AND a.session_id < b.session_id AND a.started_at <= b.ended_at AND b.started_at <= a.ended_at WHERE a.user_id = '$u'")" "no overlapping sessions after the late event"
assert_eq "$(qq "SELECT count(*) FROM analytics.events_clean WHERE user_id = '$u'")" "$(qq "SELECT sum(event_count) FROM analytics.user_sessions WHERE user_id = '$u'")" "every event of the chain is in exactly one session"
assert_eq "$(rebuild_md5)" "$(sessions_md5)" "incremental late-event result equals a rebuild from scratch"

# A late event that bridges two separate sessions merges them.
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, created_at, ingested_at)
    SELECT 'click', '00000000-0000-4000-8000-000000000001', 'c1', started_at - interval '10 minutes', now()
    FROM analytics.user_sessions WHERE user_id = '00000000-0000-4000-8000-000000000001' ORDER BY started_at OFFSET 1 LIMIT 1" >/dev/null
"$MEDALLIOND" run clean_events build_user_sessions >/dev/null 2>&1 || md_fail "bridge run"
assert_eq "$(rebuild_md5)" "$(sessions_md5)" "a bridging late event gives the same sessions as a rebuild"
md_finish
