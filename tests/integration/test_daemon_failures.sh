#!/usr/bin/env bash
# The daemon's failure paths: runs left 'running' by a dead process are marked
# interrupted at start, old history is pruned, a missed gold job catches up
# once, a job over its timeout is cancelled and recorded timed_out, and a tick
# that finds the previous run still going is recorded skipped.
source "$(dirname "$0")/lib.sh"
md_newdb
tmp=$(mktemp -d /tmp/mdf.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    exec 3>&- 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.2
    done
}
runs() { qq "SELECT count(*) FROM medallion.job_runs WHERE $1"; }
# config_with "TOP-LEVEL YAML" job={settings}...: every job disabled but those given.
config_with() {
    local top="$1" j a settings; shift
    printf '%s\njobs:\n' "$top"
    for j in clean_events clean_api_logs clean_user_actions validate_transactions \
        build_user_sessions calculate_daily_metrics calculate_revenue_summary \
        calculate_user_cohorts update_kpi_dashboard; do
        settings="{enabled: false}"
        for a in "$@"; do [ "${a%%=*}" = "$j" ] && settings="${a#*=}"; done
        printf '  %s: %s\n' "$j" "$settings"
    done
}
# locks_held TABLE...: this test's session holds ACCESS EXCLUSIVE on each of them.
locks_held() {
    local list
    list=$(printf "'%s'," "$@")
    [ "$(qq "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
             WHERE c.relname IN (${list%,}) AND l.mode = 'AccessExclusiveLock' AND l.granted")" = "$#" ]
}
has_runs() { [ "$(runs "$1")" -gt 0 ]; }
host=$(hostname)

qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=3000 -v users=100 -v days=20 -v seed=9

# --- start-up: interrupted runs, pruning, catch-up ---------------------------
qq "INSERT INTO medallion.job_runs (job_name, status, instance, started_at)
    VALUES ('clean_events', 'running', '$host:999999', now() - interval '1 hour'),
           ('clean_events', 'running', 'otherhost:1', now() - interval '1 hour'),
           ('clean_user_actions', 'running', '$host:$$', now() - interval '1 hour'),
           ('clean_api_logs', 'running', '$host:$$', now() + interval '10 minutes'),
           ('clean_events', 'succeeded', '$host:1', now() - interval '30 days')" >/dev/null
config_with "shutdown: {grace: 5s}" 'clean_events={schedule: "0 0 1 1 *"}' \
    'calculate_daily_metrics={schedule: "0 1 * * *"}' >"$tmp/a.yaml"
"$MEDALLIOND" -c "$tmp/a.yaml" >"$tmp/a.log" 2>&1 &
pid=$!; pids+=($pid)
wait_for 20 has_runs "job_name = 'calculate_daily_metrics' AND trigger = 'catchup' AND status <> 'running'" \
    && md_ok "a missed daily gold job runs once at start (catch-up)" \
    || md_fail "no catch-up run: $(tail -5 "$tmp/a.log")"
assert_eq "failed|interrupted" "$(qq "SELECT status || '|' || message FROM medallion.job_runs WHERE instance = '$host:999999'")" \
    "a run left 'running' by a dead process on this host is marked failed/interrupted"
assert_eq "running" "$(qq "SELECT status FROM medallion.job_runs WHERE instance = 'otherhost:1'")" \
    "another host's running run is left alone"
# This test's shell is alive but started after the first row's run: its pid
# was reused (a reboot, say), so that run died with the process before it.
assert_eq "failed|interrupted" "$(qq "SELECT status || '|' || message FROM medallion.job_runs WHERE job_name = 'clean_user_actions' AND instance = '$host:$$'")" \
    "a run whose pid now belongs to a later process is marked failed/interrupted"
assert_eq "running" "$(qq "SELECT status FROM medallion.job_runs WHERE job_name = 'clean_api_logs' AND instance = '$host:$$'")" \
    "a run of a live process that started before it is left alone"
qq "DELETE FROM medallion.job_runs WHERE instance = '$host:$$'" >/dev/null
assert_eq "0" "$(runs "started_at < now() - interval '20 days'")" "history older than history.retention is pruned"
assert_eq "0" "$(runs "job_name = 'clean_events' AND trigger = 'catchup'")" "a frequent silver job is not replayed at start"
sleep 1
assert_eq "1" "$(runs "job_name = 'calculate_daily_metrics' AND trigger = 'catchup'")" "catch-up runs once"
kill -TERM $pid; wait $pid || true

# --- timeout: a run blocked on a lock is cancelled and recorded timed_out -----
mkfifo "$tmp/locker" "$tmp/locker2"
psql -X -q -v ON_ERROR_STOP=1 <"$tmp/locker" >/dev/null 2>&1 &
pids+=($!)
exec 3>"$tmp/locker"
echo "BEGIN; LOCK TABLE analytics.api_logs_clean IN ACCESS EXCLUSIVE MODE;" >&3
wait_for 10 locks_held api_logs_clean || md_fail "the test could not take its lock"
config_with "shutdown: {grace: 5s}" 'clean_api_logs={schedule: "*/2 * * * * *", timeout: 3s}' \
    >"$tmp/t.yaml"
"$MEDALLIOND" -c "$tmp/t.yaml" >"$tmp/t.log" 2>&1 &
pid=$!; pids+=($pid)
wait_for 30 has_runs "job_name = 'clean_api_logs' AND status = 'timed_out'" \
    && md_ok "a run over its timeout is cancelled and recorded timed_out" \
    || md_fail "no timed_out run: $(tail -5 "$tmp/t.log")"
assert_ne "0" "$(runs "job_name = 'clean_api_logs' AND status = 'skipped' AND message LIKE '%still running%'")" \
    "ticks while the run is blocked are recorded skipped"
assert_eq "0" "$(qq "SELECT coalesce(sum(rows_written), 0) FROM medallion.job_runs WHERE job_name = 'clean_api_logs' AND status = 'timed_out'")" "a timed-out run wrote nothing (its batch rolled back)"
echo "COMMIT;" >&3
exec 3>&-
wait_for 20 has_runs "job_name = 'clean_api_logs' AND status = 'succeeded' AND rows_read > 0" \
    && md_ok "the next run after the lock is released succeeds" || md_fail "no run succeeded after the timeout"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.api_logs_raw r LEFT JOIN analytics.api_logs_clean c USING (id) WHERE c.id IS NULL")" \
    "every API log reached silver after the timeout"
kill -TERM $pid
rc=0; wait $pid || rc=$?
assert_eq "0" "$rc" "SIGTERM after the timeouts: exit 0"
assert_eq "0" "$(runs "status = 'running' AND instance LIKE '$host:$pid'")" "no run of this daemon left running"

# --- a run queued across a reload starts with the reloaded config ------------
# pool_size 2: one run at a time. clean_api_logs blocks on a lock and holds both
# connections until its 4 s timeout. A first reload enables clean_user_actions
# (timeout 10m), whose run then waits in the queue; a second reload gives it a
# 1 s timeout. Blocked on a lock too, it must be cancelled after 1 s.
qq "DELETE FROM medallion.job_runs" >/dev/null
qq "INSERT INTO analytics.api_logs_raw (request_id, method, path, status_code, response_time_ms, source)
    VALUES ('r-queued', 'GET', '/x', 200, 5, 'web')" >/dev/null
psql -X -q -v ON_ERROR_STOP=1 <"$tmp/locker2" >/dev/null 2>&1 &
pids+=($!)
exec 3>"$tmp/locker2"
echo "BEGIN; LOCK TABLE analytics.api_logs_clean, analytics.user_actions_clean IN ACCESS EXCLUSIVE MODE;" >&3
wait_for 10 locks_held api_logs_clean user_actions_clean || md_fail "the test could not take its locks"
queued_cfg() { # enabled and timeout of clean_user_actions
    config_with "database: {pool_size: 2}" \
        'clean_api_logs={schedule: "* * * * * *", timeout: 4s}' \
        "clean_user_actions={schedule: \"* * * * * *\", enabled: $1, timeout: $2}"
}
queued_cfg false 10m >"$tmp/q.yaml"
"$MEDALLIOND" -c "$tmp/q.yaml" >"$tmp/q.log" 2>&1 &
pid=$!; pids+=($pid)
wait_for 20 has_runs "job_name = 'clean_api_logs' AND status = 'running'" \
    || md_fail "clean_api_logs never started: $(tail -5 "$tmp/q.log")"
queued_cfg true 10m >"$tmp/q.yaml"
kill -HUP $pid
sleep 1.5 # a tick passes: clean_user_actions waits in the queue behind clean_api_logs
queued_cfg true 1s >"$tmp/q.yaml"
kill -HUP $pid
wait_for 20 has_runs "job_name = 'clean_user_actions' AND status = 'timed_out'" \
    || md_fail "the queued run never timed out: $(tail -5 "$tmp/q.log")"
assert_eq "timed out after 1000 ms; rolled back" \
    "$(qq "SELECT message FROM medallion.job_runs WHERE job_name = 'clean_user_actions' AND status = 'timed_out' ORDER BY run_id LIMIT 1")" \
    "the run queued before the reload used the reloaded timeout"
# Ticks skipped while both connections were busy are recorded once one is
# free, but with their own time: one per second, not a burst at the end.
assert_eq "t" "$(qq "SELECT count(*) >= 2 AND count(*) = count(DISTINCT date_trunc('second', started_at))
                     FROM medallion.job_runs WHERE job_name = 'clean_api_logs' AND status = 'skipped'")" \
    "skipped ticks carry the time they were skipped at"
echo "COMMIT;" >&3
exec 3>&-
kill -TERM $pid
wait $pid || true

# --- pooled connections the server closed while idle are replaced, unseen ----
# idle_session_timeout ends every backend idle for 1 s, between ticks 3 s
# apart: the FATAL it leaves is read, the EOF after it too, and the dead
# connection is reopened before use instead of failing the tick.
qq "DELETE FROM medallion.job_runs" >/dev/null
qq "ALTER DATABASE \"$PGDATABASE\" SET idle_session_timeout = '1s'" >/dev/null
config_with "" 'clean_events={schedule: "*/3 * * * * *"}' >"$tmp/i.yaml"
"$MEDALLIOND" -c "$tmp/i.yaml" >"$tmp/i.log" 2>&1 &
pid=$!; pids+=($pid)
wait_for 30 has_runs "job_name = 'clean_events' AND status = 'succeeded' AND run_id > (SELECT min(run_id) + 2 FROM medallion.job_runs)" \
    && md_ok "ticks keep succeeding while the server closes idle connections" \
    || md_fail "too few runs with idle_session_timeout: $(tail -5 "$tmp/i.log")"
kill -TERM $pid
wait $pid || true
qq "ALTER DATABASE \"$PGDATABASE\" RESET idle_session_timeout" >/dev/null
assert_eq "0" "$(runs "job_name = 'clean_events' AND status <> 'succeeded'")" "no tick failed or was skipped"
if grep -Eq "failed|closed the connection|retry" "$tmp/i.log"; then
    md_fail "a dead idle connection failed a tick: $(grep -E "failed|closed|retry" "$tmp/i.log" | head -3)"
else
    md_ok "no tick failed on a connection the server had closed"
fi

# --- a run whose lock connection is killed stops, and is recorded -------------
# The advisory lock lives on the run's own bookkeeping connection. When that
# backend is terminated mid-run the lock is gone: the run must stop before
# its next page (another instance may take the job now) and its job_runs row
# must say failed, not stay 'running'.
qq "DELETE FROM medallion.job_runs" >/dev/null
first=$(qq "SELECT coalesce(max(id), 0) + 1 FROM analytics.events_raw")
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
    SELECT gen_random_uuid(), event_type, user_id, session_id, properties, source, created_at
    FROM analytics.events_raw ORDER BY id LIMIT 1000" >/dev/null
qq "CREATE FUNCTION test_slow_page() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN IF NEW.id = $((first + 105)) THEN PERFORM pg_sleep(3); END IF; RETURN NEW; END \$\$;
    CREATE TRIGGER slow BEFORE INSERT ON analytics.events_clean FOR EACH ROW EXECUTE FUNCTION test_slow_page()" >/dev/null
config_with "" 'clean_events={batch_size: 100, write_connections: 1}' >"$tmp/l.yaml"
# run_losing_lock JOB: runs JOB, and a second into its (slowed) work ends the
# session holding its job lock; the run's exit status is left in $rc.
run_losing_lock() {
    local job="$1" p
    "$MEDALLIOND" run -c "$tmp/l.yaml" "$job" >"$tmp/$job.log" 2>&1 &
    p=$!; pids+=($p)
    wait_for 20 has_runs "job_name = '$job' AND status = 'running'" || md_fail "the $job run never started"
    sleep 1
    qq "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted
        AND classid::int = hashtext('medalliond') AND objid::int = hashtext('$job')" >/dev/null
    rc=0; wait "$p" || rc=$?
}
run_losing_lock clean_events # inside the slow second page
assert_eq "1" "$rc" "the run without its lock exits 1"
assert_match "^failed\|lost the job lock" "$(qq "SELECT status || '|' || message FROM medallion.job_runs WHERE job_name = 'clean_events'")" \
    "its job_runs row says failed: lost the job lock (not 'running')"
assert_eq "$(qq "SELECT count(*) FROM analytics.events_clean WHERE id >= $first")" \
    "$(qq "SELECT rows_written FROM medallion.job_runs WHERE job_name = 'clean_events'")" \
    "the failed run reports the rows it committed, not the page it rolled back"
qq "DROP TRIGGER slow ON analytics.events_clean; DROP FUNCTION test_slow_page()" >/dev/null
"$MEDALLIOND" run -c "$tmp/l.yaml" clean_events >/dev/null 2>&1 || md_fail "the run after the lost lock"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.events_raw r
    WHERE (SELECT count(*) FROM analytics.events_clean c WHERE c.id = r.id)
        + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = 'events_raw' AND d.bronze_id = r.id) <> 1")" \
    "every bronze row exactly once after the lost lock"

# The same for a gold job, whose run is one transaction: it must roll back
# rather than commit beside the instance that may have taken the job over.
qq "DELETE FROM medallion.job_runs; DELETE FROM medallion.gold_dirty;
    INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_daily_metrics', current_date - 3)" >/dev/null
before=$(qq "SELECT count(*) FROM analytics.daily_metrics WHERE date = current_date - 3")
qq "CREATE FUNCTION test_slow_gold() RETURNS trigger LANGUAGE plpgsql AS \$\$
    BEGIN PERFORM pg_sleep(3); RETURN NULL; END \$\$;
    CREATE TRIGGER slow_gold BEFORE INSERT ON analytics.daily_metrics FOR EACH STATEMENT EXECUTE FUNCTION test_slow_gold()" >/dev/null
run_losing_lock calculate_daily_metrics # inside the slow upsert
assert_eq "1" "$rc" "the gold run without its lock exits 1"
assert_match "^failed\|lost the job lock .*before its commit" "$(qq "SELECT status || '|' || message FROM medallion.job_runs WHERE job_name = 'calculate_daily_metrics'")" \
    "its job_runs row says it lost the lock before its commit"
assert_eq "1|$before" "$(qq "SELECT count(*) FROM medallion.gold_dirty WHERE target = 'calculate_daily_metrics'")|$(qq "SELECT count(*) FROM analytics.daily_metrics WHERE date = current_date - 3")" \
    "nothing committed: the mark is still there, the gold row unchanged"
qq "DROP TRIGGER slow_gold ON analytics.daily_metrics; DROP FUNCTION test_slow_gold()" >/dev/null

# --- job_runs locked by someone: bookkeeping gives up instead of hanging ------
# A VACUUM FULL or a stray exclusive lock on medallion.job_runs must not hold a
# run (or a shutdown) forever: the run's bookkeeping waits 5 s for the lock.
mkfifo "$tmp/locker3"
psql -X -q -v ON_ERROR_STOP=1 <"$tmp/locker3" >/dev/null 2>&1 &
pids+=($!)
exec 3>"$tmp/locker3"
echo "BEGIN; LOCK TABLE medallion.job_runs IN ACCESS EXCLUSIVE MODE;" >&3
wait_for 10 locks_held job_runs || md_fail "the test could not take its lock"
t0=$SECONDS
out=$("$MEDALLIOND" run -c "$tmp/l.yaml" clean_events 2>&1) && md_fail "a run that cannot record itself must fail" \
    || assert_match "cannot record the run: .*lock timeout" "$out" "the run fails: it cannot record itself"
took=$((SECONDS - t0))
if [ "$took" -le 20 ]; then md_ok "it gave up after the bounded lock wait (${took} s)"; else md_fail "it waited ${took} s for job_runs"; fi
echo "COMMIT;" >&3
exec 3>&-

# --- marks: a gold run and a silver batch re-marking the same days -----------
# The batch holds the mark of the earlier day and then wants the later one; a
# gold run that locked its marks in table order (the later day first, as
# inserted here) deadlocked with it. Both take them in (target, day) order now.
qq "DELETE FROM medallion.gold_dirty;
    INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_daily_metrics', current_date - 1);
    INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_daily_metrics', current_date - 2)" >/dev/null
mkfifo "$tmp/marker"
psql -X -q -v ON_ERROR_STOP=1 <"$tmp/marker" >"$tmp/marker.out" 2>&1 &
marker=$!; pids+=($marker)
exec 3>"$tmp/marker"
echo "BEGIN; INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_daily_metrics', current_date - 2)
      ON CONFLICT (target, day) DO UPDATE SET marked_at = now();" >&3
holding() { [ "$(qq "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND query LIKE '%gold_dirty%'")" = 1 ]; }
wait_for 20 holding || md_fail "the batch never took its mark"
"$MEDALLIOND" run -c "$tmp/l.yaml" calculate_daily_metrics >"$tmp/m.log" 2>&1 &
gpid=$!; pids+=($gpid)
waiting() { [ "$(qq "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'medalliond' AND wait_event_type = 'Lock'")" -gt 0 ]; }
wait_for 20 waiting || md_fail "the gold run never waited for the mark"
echo "INSERT INTO medallion.gold_dirty (target, day) VALUES ('calculate_daily_metrics', current_date - 1)
      ON CONFLICT (target, day) DO UPDATE SET marked_at = now(); COMMIT;" >&3
exec 3>&-
rc_m=0; wait "$marker" || rc_m=$?
rc_g=0; wait "$gpid" || rc_g=$?
assert_eq "0 0" "$rc_m $rc_g" "no deadlock: the batch commits, the gold run succeeds ($(cat "$tmp/marker.out" "$tmp/m.log" | grep -i dead))"
md_finish
