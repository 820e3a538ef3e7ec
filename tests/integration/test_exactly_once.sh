#!/usr/bin/env bash
# Exactly-once under failure: a producer that commits after later rows were
# processed, and a job killed with SIGKILL at arbitrary points, must still
# leave every bronze row in silver or the duplicates ledger exactly once.
source "$(dirname "$0")/lib.sh"
md_newdb
tmp=$(mktemp -d)
cleanup() { exec 3>&- 2>/dev/null || true; kill "${slow_pid:-}" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

exactly_once() { # bronze-table silver-table
    qq "SELECT count(*) FROM analytics.$1 r
        WHERE (SELECT count(*) FROM analytics.$2 c WHERE c.id = r.id)
            + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = '$1' AND d.bronze_id = r.id) <> 1"
}

# --- a slow producer: lower id, committed after higher ids were processed ---
mkfifo "$tmp/slow"
psql -X -q -v ON_ERROR_STOP=1 <"$tmp/slow" >"$tmp/slow.log" 2>&1 &
slow_pid=$!
exec 3>"$tmp/slow"
echo "BEGIN; INSERT INTO analytics.events_raw (event_type, user_id, session_id, source) VALUES ('late_commit', gen_random_uuid(), 's-late', 'web');" >&3
# wait until the slow transaction holds its row (its id is the lowest)
for _ in $(seq 50); do
    [ "$(qq "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'")" = 1 ] && break
    sleep 0.1
done
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, source)
    SELECT 'fast', gen_random_uuid(), 's-' || g, 'web' FROM generate_series(1, 50) g" >/dev/null
"$MEDALLIOND" run clean_events >/dev/null 2>&1 || md_fail "first run"
assert_eq "50" "$(qq "SELECT count(*) FROM analytics.events_clean")" "rows committed so far processed, the open one not"
echo "COMMIT;" >&3
exec 3>&-
wait "$slow_pid"
assert_eq "1" "$(qq "SELECT count(*) FROM analytics.events_raw WHERE event_type = 'late_commit' AND id < (SELECT max(id) FROM analytics.events_raw)")" "the late row has a lower id than rows already processed"
"$MEDALLIOND" run clean_events >/dev/null 2>&1 || md_fail "second run"
assert_eq "1" "$(qq "SELECT count(*) FROM analytics.events_clean WHERE event_type = 'late_commit'")" "a row committed late still reaches silver"
assert_eq "0" "$(exactly_once events_raw events_clean)" "no row skipped or doubled by the late commit"

# --- SIGKILL in the middle of runs -------------------------------------------
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=60000 -v users=500 -v days=30 -v seed=11
cat >"$tmp/small-batches.yaml" <<'YAML'
jobs:
  clean_events: {batch_size: 500}
  clean_user_actions: {batch_size: 300}
  validate_transactions: {batch_size: 200}
YAML
kills=0
for delay in 0.3 0.5 0.7 0.9 1.1; do
    "$MEDALLIOND" run -c "$tmp/small-batches.yaml" clean_events clean_user_actions validate_transactions >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
done
assert_ne "0" "$kills" "runs were killed mid-flight ($kills kills)"
"$MEDALLIOND" run -c "$tmp/small-batches.yaml" clean_events clean_user_actions validate_transactions >/dev/null 2>&1 \
    || md_fail "the run after the kills succeeds"
assert_eq "0" "$(exactly_once events_raw events_clean)" "events: exactly once after kill -9"
assert_eq "0" "$(exactly_once user_actions_raw user_actions_clean)" "user actions: exactly once after kill -9"
assert_eq "0" "$(exactly_once transactions_raw transactions_validated)" "transactions: exactly once after kill -9"
assert_eq "0" "$(qq "SELECT count(*) FROM (SELECT event_id FROM analytics.events_clean WHERE event_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1) x")" "no event_id twice in silver"
left=$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'running'")
assert_ne "0" "$left" "killed runs are left 'running' (the daemon marks them interrupted at start)"

md_finish
