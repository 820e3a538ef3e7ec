#!/usr/bin/env bash
# The daemon under a fake service manager: READY/RELOADING/STOPPING/STATUS over
# NOTIFY_SOCKET, a every-2-seconds job recording runs, SIGHUP with a broken and
# a good file, SIGTERM, a PostgreSQL restart under a running daemon (private
# cluster, so parallel tests are not disturbed), and two daemons on one database.
# Needs python3 for the datagram socket that plays systemd.
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d /tmp/mdd.XXXXXX)
pids=()
priv=""
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    if [ -n "$priv" ]; then bash "$MEDALLION_SOURCE_DIR/scripts/pg_cluster.sh" stop "$priv" >/dev/null 2>&1 || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for SECONDS CMD...: poll until CMD succeeds; non-zero on timeout.
wait_for() {
    local deadline=$((SECONDS + $1)); shift
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.2
    done
}

# A datagram socket playing systemd's notification socket; one line per message.
start_listener() { # SOCKET LOG
    python3 - "$1" "$2" <<'PY' &
import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as out:
    while True:
        out.write(s.recv(65536).decode(errors="replace").replace("\n", " ") + "\n")
PY
    pids+=($!)
    wait_for 10 test -S "$1"
}

write_config() { # FILE SCHEDULE ENABLED [BATCH_SIZE]
    {
        echo "log_level: debug"
        echo "shutdown: {grace: 5s}"
        echo "jobs:"
        echo "  clean_events: {schedule: \"$2\", enabled: $3, batch_size: ${4:-10000}}"
        for j in clean_api_logs clean_user_actions validate_transactions build_user_sessions \
            calculate_daily_metrics calculate_revenue_summary calculate_user_cohorts update_kpi_dashboard; do
            echo "  $j: {enabled: false}"
        done
    } >"$1"
}

succeeded() { qq "SELECT count(*) FROM medallion.job_runs WHERE job_name = 'clean_events' AND status = 'succeeded'"; }
more_than() { [ "$(succeeded)" -gt "$1" ]; }

# The shipped unit file passes systemd's own checks (ExecStart pointed at this build).
if command -v systemd-analyze >/dev/null; then
    sed "s#^ExecStart=/usr/local/bin/medalliond#ExecStart=$MEDALLIOND#" \
        "$MEDALLION_SOURCE_DIR/systemd/medalliond.service" >"$tmp/medalliond.service"
    if out=$(systemd-analyze verify "$tmp/medalliond.service" 2>&1); then md_ok "systemd-analyze verify passes"
    else md_fail "systemd-analyze verify: $out"; fi
else
    md_fail "systemd-analyze not installed (package systemd): cannot verify the unit"
fi
unit=$(cat "$MEDALLION_SOURCE_DIR/systemd/medalliond.service")
for key in "Type=notify" 'ExecReload=/bin/kill -HUP $MAINPID' "WatchdogSec=" "Restart=on-failure" \
    "User=medalliond" "ProtectSystem=strict" "NoNewPrivileges=yes" "PrivateTmp=yes" "ProtectHome=yes" \
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6"; do
    if grep -qxF "$key" <<<"$unit" || grep -q "^$key" <<<"$unit"; then md_ok "unit has $key"; else md_fail "unit lacks $key"; fi
done

md_newdb
cfg="$tmp/medalliond.yaml"
write_config "$cfg" "*/2 * * * * *" true
start_listener "$tmp/notify.sock" "$tmp/notify.log"

# trust auth ignores the password: it is here to prove it never reaches a log line
NOTIFY_SOCKET="$tmp/notify.sock" WATCHDOG_USEC=2000000 MEDALLION_DATABASE_URL="$MEDALLION_DATABASE_URL password=s3cretpw" \
    "$MEDALLIOND" -c "$cfg" >"$tmp/d.log" 2>&1 &
dpid=$!
pids+=($dpid)

if wait_for 20 grep -q '^READY=1' "$tmp/notify.log"; then md_ok "READY=1 received"; else md_fail "no READY=1: $(cat "$tmp/d.log")"; fi
if wait_for 20 more_than 1; then md_ok "*/2 s job records succeeded runs"; else md_fail "no runs recorded: $(tail -5 "$tmp/d.log")"; fi
assert_match "STATUS=.*jobs scheduled.*database reachable" "$(cat "$tmp/notify.log")" "STATUS= reports the schedule and the database"
if wait_for 10 grep -q '^WATCHDOG=1' "$tmp/notify.log"; then md_ok "WATCHDOG=1 pings with WATCHDOG_USEC set"; else md_fail "no watchdog ping"; fi
assert_eq "schedule" "$(qq "SELECT DISTINCT trigger FROM medallion.job_runs WHERE status = 'succeeded'")" "scheduled runs carry trigger=schedule"

# A broken file on SIGHUP: every error logged, the old schedule keeps firing.
cp "$cfg" "$tmp/good.yaml"
printf 'jobs:\n  clean_events:\n    schedule: "*/0 * * * *"\n  no_such_job: {}\n' >"$cfg"
kill -HUP $dpid
if wait_for 10 grep -q 'reload rejected' "$tmp/d.log"; then md_ok "broken config rejected on SIGHUP"; else md_fail "no rejection logged"; fi
assert_match "medalliond.yaml:3:[0-9]+: .*minute" "$(cat "$tmp/d.log")" "the bad field is logged with FILE:LINE:COL"
assert_match "no_such_job" "$(cat "$tmp/d.log")" "every error is logged, not just the first"
assert_match "RELOADING=1 MONOTONIC_USEC=[0-9]+" "$(cat "$tmp/notify.log")" "RELOADING=1 with MONOTONIC_USEC"
assert_eq "2" "$(grep -c '^READY=1' "$tmp/notify.log")" "READY=1 again after the (rejected) reload"
n=$(succeeded)
if wait_for 10 more_than $((n + 1)); then md_ok "old schedule keeps firing after a rejected reload"; else md_fail "schedule stopped after a rejected reload"; fi
kill -0 $dpid && md_ok "daemon alive after a bad reload" || md_fail "daemon died on a bad reload"

# A good file that disables the job stops it (a run in flight may finish).
write_config "$cfg" "*/2 * * * * *" false
printf 'reporting:\n  timezone: Europe/Berlin\n' >>"$cfg"
kill -HUP $dpid
if wait_for 10 grep -q 'configuration reloaded' "$tmp/d.log"; then md_ok "good config reloaded"; else md_fail "no reload logged"; fi
assert_match "reload: reporting.timezone cannot change while running" "$(cat "$tmp/d.log")" "a frozen key is kept, with a warning naming it"
sleep 1
n=$(succeeded)
sleep 5
assert_eq "$n" "$(succeeded)" "a disabled job is no longer run"

kill -TERM $dpid
rc=0
wait $dpid || rc=$?
assert_eq "0" "$rc" "SIGTERM: exit 0"
assert_match "STOPPING=1" "$(cat "$tmp/notify.log")" "STOPPING=1 sent"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'running'")" "no run left running"
if grep -q 's3cretpw' "$tmp/d.log" "$tmp/notify.log"; then md_fail "the password was logged"; else md_ok "no password in the log or STATUS="; fi

# Two daemons on one database: a job never runs in both at once. Enough
# bronze rows make a run outlast a tick, so both daemons contend every tick.
md_newdb "t_daemon_two_$$"
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, properties, source)
    SELECT 'page_view', md5(g::text)::uuid, 's' || (g % 1000), '{}'::jsonb, 'test'
    FROM generate_series(1, 100000) g" >/dev/null
write_config "$cfg" "*/2 * * * * *" true 2000
"$MEDALLIOND" -c "$cfg" >"$tmp/a.log" 2>&1 & pa=$!
"$MEDALLIOND" -c "$cfg" >"$tmp/b.log" 2>&1 & pb=$!
pids+=($pa $pb)
sleep 12
kill -TERM $pa $pb
ra=0; rb=0
wait $pa || ra=$?
wait $pb || rb=$?
assert_eq "0 0" "$ra $rb" "both daemons stop cleanly"
assert_eq "2" "$(qq "SELECT count(DISTINCT instance) FROM medallion.job_runs")" "both daemons recorded runs"
overlaps=$(qq "SELECT count(*) FROM medallion.job_runs a JOIN medallion.job_runs b
               ON a.job_name = b.job_name AND a.run_id < b.run_id
               WHERE a.status = 'succeeded' AND b.status = 'succeeded'
                 AND tstzrange(a.started_at, a.finished_at) && tstzrange(b.started_at, b.finished_at)")
assert_eq "0" "$overlaps" "succeeded runs of one job never overlap"
locked=$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'skipped' AND message LIKE 'another instance holds job clean_events%'")
if [ "$locked" -ge 1 ]; then md_ok "the daemon that lost the lock recorded skipped ($locked)"; else md_fail "no lock contention recorded: the test proved nothing"; fi
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'skipped' AND coalesce(message, '') = ''")" "every skipped row carries its reason"
assert_eq "100000" "$(qq "SELECT (SELECT count(*) FROM analytics.events_clean) + (SELECT count(*) FROM medallion.duplicates WHERE source_table = 'events_raw')")" "every bronze row processed exactly once"

# The pool survives a PostgreSQL restart under a running daemon. A private
# cluster: restarting the shared one would break the tests running beside us.
priv="/tmp/mdpg-daemon-$$"
export MD_PG_PORT=$((PGPORT + 1))
if ! bash "$MEDALLION_SOURCE_DIR/scripts/pg_cluster.sh" start "$priv" "$MEDALLIOND" >"$tmp/priv.log" 2>&1; then
    md_fail "cannot start the private cluster: $(cat "$tmp/priv.log")"
    md_finish
    exit 1
fi
export PGHOST="$priv/sock" PGPORT="$MD_PG_PORT"
md_newdb "t_daemon_restart"
write_config "$cfg" "*/2 * * * * *" true
"$MEDALLIOND" -c "$cfg" >"$tmp/r.log" 2>&1 & pr=$!
pids+=($pr)
if wait_for 20 more_than 0; then md_ok "daemon runs on the private cluster"; else md_fail "no run on the private cluster: $(tail -5 "$tmp/r.log")"; fi
bindir=$(bash "$MEDALLION_SOURCE_DIR/scripts/pg_cluster.sh" bindir)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$bindir/pg_ctl" -D "$priv/data" -l "$priv/server.log" -m fast -w -t 60 restart >/dev/null
after=$(qq "SELECT now()")
ok_after() { [ "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'succeeded' AND started_at > '$after'")" -ge 2 ]; }
if wait_for 40 ok_after; then md_ok "runs succeed again after pg_ctl restart"; else md_fail "no successful run after the restart: $(tail -8 "$tmp/r.log")"; fi
kill -0 $pr && md_ok "daemon stayed up across the restart" || md_fail "daemon died during the restart"
down_logs=$(grep -c 'database unreachable' "$tmp/r.log" || true)
if [ "$down_logs" -le 1 ]; then md_ok "an outage is logged at most once"; else md_fail "outage logged $down_logs times"; fi
kill -TERM $pr
rc=0
wait $pr || rc=$?
assert_eq "0" "$rc" "daemon exits 0 after the restart test"

md_finish
