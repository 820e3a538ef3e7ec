#!/usr/bin/env bash
# Through PgBouncer (Debian package pgbouncer): in session mode `run` and the
# daemon work; in transaction mode both refuse, naming port 5432 / session mode.
source "$(dirname "$0")/lib.sh"

PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
if [ ! -x "$PGBOUNCER" ]; then
    md_fail "pgbouncer not installed at $PGBOUNCER (apt-get install pgbouncer; scripts/install-deps.sh does)"
    md_finish
    exit 1
fi

tmp=$(mktemp -d /tmp/mdb.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown postgres: "$tmp"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
bouncer=""
dpid=""
stop_bouncer() {
    # runuser does not pass signals on: stop pgbouncer itself, by its pidfile
    local pid
    pid=$(cat "$tmp/pgbouncer.pid" 2>/dev/null || true)
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    if [ -n "$bouncer" ]; then wait "$bouncer" 2>/dev/null || true; fi
    bouncer=""
    rm -f "$tmp/pgbouncer.pid"
}
cleanup() {
    [ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null || true
    stop_bouncer
    rm -rf "$tmp"
}
trap cleanup EXIT

md_newdb
db="$PGDATABASE"
bport=$((PGPORT + 100))

start_bouncer() { # MODE [POOL_SIZE]
    stop_bouncer
    cat >"$tmp/pgbouncer.ini" <<INI
[databases]
$db = host=$PGHOST port=$PGPORT dbname=$db user=$PGUSER

[pgbouncer]
listen_addr =
listen_port = $bport
unix_socket_dir = $tmp
auth_type = trust
auth_file = $tmp/userlist.txt
pool_mode = $1
default_pool_size = ${2:-10}
max_client_conn = 50
logfile = $tmp/pgbouncer.log
pidfile = $tmp/pgbouncer.pid
ignore_startup_parameters = extra_float_digits
INI
    echo "\"$PGUSER\" \"\"" >"$tmp/userlist.txt"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$tmp/pgbouncer.ini" "$tmp/userlist.txt"
    as_pg "$PGBOUNCER" "$tmp/pgbouncer.ini" >>"$tmp/pgbouncer.out" 2>&1 &
    bouncer=$!
    for _ in $(seq 1 50); do
        [ -s "$tmp/pgbouncer.pid" ] && [ -S "$tmp/.s.PGSQL.$bport" ] && return 0
        sleep 0.1
    done
    echo "pgbouncer did not start: $(cat "$tmp/pgbouncer.out" "$tmp/pgbouncer.log" 2>/dev/null)" >&2
    return 1
}

via_bouncer="host=$tmp port=$bport user=$PGUSER dbname=$db"
# PgBouncer rejects the "options" startup parameter lib.sh's PGOPTIONS would send.
mdb() { env -u PGOPTIONS MEDALLION_DATABASE_URL="$via_bouncer" "$@"; }
cfg="$tmp/medalliond.yaml"
{
    echo "jobs:"
    echo "  clean_events: {schedule: \"*/2 * * * * *\"}"
    for j in clean_api_logs clean_user_actions validate_transactions build_user_sessions \
        calculate_daily_metrics calculate_revenue_summary calculate_user_cohorts update_kpi_dashboard; do
        echo "  $j: {enabled: false}"
    done
} >"$cfg"

# Session mode: everything works.
start_bouncer session || md_fail "pgbouncer (session mode) starts"
qq "INSERT INTO analytics.events_raw (event_type, source) SELECT 'click', 'test' FROM generate_series(1, 20)" >/dev/null
rc=0; out=$(mdb "$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "0" "$rc" "session mode: run clean_events exits 0 ($out)"
rc=0; out=$(mdb "$MEDALLIOND" run --all 2>&1) || rc=$?
assert_eq "0" "$rc" "session mode: run --all exits 0 ($out)"
# env execs the daemon, so $! is the daemon itself (a function would fork a subshell)
env -u PGOPTIONS MEDALLION_DATABASE_URL="$via_bouncer" "$MEDALLIOND" -c "$cfg" >"$tmp/d.log" 2>&1 &
dpid=$!
ok_runs() { [ "$(qq "SELECT count(*) FROM medallion.job_runs WHERE trigger = 'schedule' AND status = 'succeeded'")" -ge 2 ]; }
for _ in $(seq 1 100); do ok_runs && break; sleep 0.2; done
if ok_runs; then md_ok "session mode: the daemon runs scheduled jobs"; else md_fail "session mode: no scheduled runs: $(tail -5 "$tmp/d.log")"; fi
kill -TERM "$dpid"
rc=0; wait "$dpid" || rc=$?
dpid=""
assert_eq "0" "$rc" "session mode: the daemon stops cleanly"

# A stop while the start-up checks wait behind a pool with no free server
# connection (PgBouncer queues the query for query_wait_timeout, 120 s): the
# daemon cuts them short and exits 0 at once instead of waiting them out.
start_bouncer session 1 || md_fail "pgbouncer (session mode, pool of 1) starts"
env -u PGOPTIONS psql -X -q "$via_bouncer" -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 50); do
    [ "$(qq "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'")" = 1 ] && break
    sleep 0.1
done
env -u PGOPTIONS MEDALLION_DATABASE_URL="$via_bouncer" "$MEDALLIOND" -c "$cfg" >"$tmp/d2.log" 2>&1 &
dpid=$!
sleep 2
kill -TERM "$dpid"
t0=$(date +%s)
rc=0; timeout 20 tail --pid="$dpid" -f /dev/null || rc=$?
assert_eq "0" "$rc" "stuck start-up checks: the daemon stops within 20 s ($(tail -3 "$tmp/d2.log"))"
rc=0; wait "$dpid" || rc=$?
dpid=""
assert_eq "0" "$rc" "stuck start-up checks: exit 0"
md_ok "stopped after $(($(date +%s) - t0)) s"
kill "$holder" 2>/dev/null || true
wait "$holder" 2>/dev/null || true

# Transaction mode: refused by `run` and by the daemon, with the way out.
start_bouncer transaction || md_fail "pgbouncer (transaction mode) starts"
rc=0; out=$(mdb "$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "1" "$rc" "transaction mode: run refuses (exit 1)"
assert_match "transaction mode.*session-mode pooler on port 5432" "$out" "run names session mode and port 5432"
rc=0; out=$(mdb timeout 30 "$MEDALLIOND" -c "$cfg" 2>&1) || rc=$?
assert_eq "1" "$rc" "transaction mode: the daemon refuses to start (exit 1)"
assert_match "transaction mode.*5432" "$out" "the daemon names port 5432"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE status = 'running'")" "nothing left running"

# Transaction mode with a pool of one server connection: the probe's query
# waits behind the probe's own open transaction. That wait is the answer too,
# within seconds, not after PgBouncer's query_wait_timeout (120 s).
start_bouncer transaction 1 || md_fail "pgbouncer (transaction mode, pool of 1) starts"
t0=$SECONDS
rc=0; out=$(mdb timeout 60 "$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "1" "$rc" "transaction mode, pool of 1: run refuses (exit 1)"
assert_match "transaction mode.*5432" "$out" "the refusal names transaction mode"
took=$((SECONDS - t0))
if [ "$took" -le 20 ]; then md_ok "refused within ${took} s"; else md_fail "refused after ${took} s"; fi

md_finish
