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
rm -f "$cfg" "$dir.run1"
md_finish
