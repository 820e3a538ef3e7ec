#!/usr/bin/env bash
# PostgreSQL restarted in the middle of a batch: the run fails cleanly (exit 1,
# nothing half-written), the next run completes with exact counts. Uses a
# private cluster so the shared one of the other tests is not disturbed.
source "$(dirname "$0")/lib.sh"
dir="/tmp/mdpg-restart-$$"
export MD_PG_PORT=54361
trap 'bash "$MEDALLION_SOURCE_DIR/scripts/pg_cluster.sh" stop "$dir" >/dev/null 2>&1 || true' EXIT
bash "$MEDALLION_SOURCE_DIR/scripts/pg_cluster.sh" start "$dir" "$MEDALLIOND" >/dev/null
export PGHOST="$dir/sock" PGPORT=$MD_PG_PORT
md_newdb t_restart
bindir=$(bash "$MEDALLION_SOURCE_DIR/scripts/pg_cluster.sh" bindir)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=80000 -v users=500 -v days=30 -v seed=3
cfg=$(mktemp)
printf 'jobs:\n  clean_events: {batch_size: 400}\n' >"$cfg"

"$MEDALLIOND" run -c "$cfg" clean_events >"$dir.run1" 2>&1 &
pid=$!
for _ in $(seq 100); do # wait until some pages are committed
    n=$(qq "SELECT count(*) FROM analytics.events_clean" 2>/dev/null || echo 0)
    [ "$n" -gt 0 ] && break
    sleep 0.05
done
as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w restart >/dev/null 2>&1
rc=0; wait "$pid" || rc=$?
assert_eq "1" "$rc" "the interrupted run fails with exit 1"
assert_match "fail|terminat|connection|server closed" "$(cat "$dir.run1")" "the failure names the lost connection"
mid=$(qq "SELECT count(*) FROM analytics.events_clean")
assert_ne "80000" "$mid" "the restart really interrupted the run (silver had $mid rows)"

"$MEDALLIOND" run -c "$cfg" clean_events >/dev/null 2>&1 || md_fail "the next run succeeds"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.events_raw r WHERE (SELECT count(*) FROM analytics.events_clean c WHERE c.id = r.id) + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = 'events_raw' AND d.bronze_id = r.id) <> 1")" "every bronze row exactly once after the restart"
assert_eq "80000" "$(qq "SELECT (SELECT count(*) FROM analytics.events_clean) + (SELECT count(*) FROM medallion.duplicates)")" "exact counts"
# The same under the daemon: the run in flight fails, and its job_runs row says
# so once the database is back (it cannot be written while it is away), not
# 'running' until the daemon's next start.
qq "TRUNCATE analytics.events_clean; DELETE FROM medallion.duplicates; DELETE FROM medallion.job_runs;
    UPDATE medallion.batch_positions SET prev_snapshot = NULL, cur_snapshot = NULL, last_xid = NULL,
    last_id = NULL WHERE job_name = 'clean_events'" >/dev/null
{
    echo "jobs:"
    echo "  clean_events: {schedule: \"@every 2s\", batch_size: 400}"
    for j in clean_api_logs clean_user_actions validate_transactions build_user_sessions \
        calculate_daily_metrics calculate_revenue_summary calculate_user_cohorts update_kpi_dashboard; do
        echo "  $j: {enabled: false}"
    done
} >"$cfg"
"$MEDALLIOND" -c "$cfg" >"$dir.daemon" 2>&1 &
dpid=$!
for _ in $(seq 200); do
    n=$(qq "SELECT count(*) FROM analytics.events_clean" 2>/dev/null || echo 0)
    [ "$n" -gt 0 ] && break
    sleep 0.05
done
as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w restart >/dev/null 2>&1
done_all() { [ "$(qq "SELECT (SELECT count(*) FROM analytics.events_clean) + (SELECT count(*) FROM medallion.duplicates)" 2>/dev/null || echo 0)" = 80000 ]; }
for _ in $(seq 600); do done_all && break; sleep 0.1; done
done_all && md_ok "the daemon finishes the backlog after the restart" || md_fail "backlog not done: $(tail -3 "$dir.daemon")"
sleep 3 # a run or two more, and the late record
kill -TERM "$dpid"; wait "$dpid" || true
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'running'")" \
    "no run left 'running' once the database is back ($(grep -c 'recorded the outcome' "$dir.daemon") late record line(s))"
assert_ne "0" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'failed' AND finished_at IS NOT NULL")" \
    "the run the restart broke is recorded failed, with its end time"
rm -f "$cfg" "$dir.run1" "$dir.daemon"
md_finish
