#!/usr/bin/env bash
# `medalliond run`: exit codes 0 / 1 / 2 / 75 (product.md §1), jobs after a
# failure recorded skipped ("dependency failed"), and `status` listing runs.
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d /tmp/mdr.XXXXXX)
holder=""
cleanup() {
    [ -n "$holder" ] && kill "$holder" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

md_newdb
qq "INSERT INTO analytics.events_raw (event_type, user_id, session_id, properties, source)
    SELECT 'click', md5(g::text)::uuid, 's1', '{}'::jsonb, 'test' FROM generate_series(1, 50) g" >/dev/null

# Usage errors and unknown jobs: 2, before touching the database.
rc=0; out=$("$MEDALLIOND" run no_such_job 2>&1) || rc=$?
assert_eq "2" "$rc" "unknown job: exit 2"
assert_match "unknown job 'no_such_job'" "$out" "unknown job is named"
rc=0; "$MEDALLIOND" run >/dev/null 2>&1 || rc=$?
assert_eq "2" "$rc" "no job and no --all: exit 2"
rc=0; "$MEDALLIOND" run --all clean_events >/dev/null 2>&1 || rc=$?
assert_eq "2" "$rc" "jobs and --all together: exit 2"
rc=0; "$MEDALLIOND" run --bogus >/dev/null 2>&1 || rc=$?
assert_eq "2" "$rc" "unknown option: exit 2"

# --help of every command: its usage on stdout, exit 0, nothing run.
for cmd in run status migrate backfill reprocess check-config jobs cron-next; do
    rc=0; out=$("$MEDALLIOND" "$cmd" --help 2>/dev/null) || rc=$?
    assert_eq "0" "$rc" "$cmd --help: exit 0"
    assert_match "usage: medalliond $cmd" "$out" "$cmd --help: prints its usage"
done

# A bad config is bad input: 2 for every command that loads one (the daemon
# included, so that its unit does not restart it in a loop), 1 for check-config,
# whose answer "invalid" is the product.md exit 1.
printf 'jobs:\n  clean_events:\n    schedul: "* * * * *"\n' >"$tmp/bad.yaml"
for cmd in "" run jobs status migrate backfill reprocess; do
    case "$cmd" in
    run) args=(run -c "$tmp/bad.yaml" clean_events) ;;
    backfill) args=(backfill -c "$tmp/bad.yaml" --from 2026-01-01 --to 2026-01-02) ;;
    reprocess) args=(reprocess -c "$tmp/bad.yaml" --from 2026-01-01T00:00:00Z --to 2026-01-02T00:00:00Z clean_events) ;;
    "") args=(-c "$tmp/bad.yaml") ;;
    *) args=("$cmd" -c "$tmp/bad.yaml") ;;
    esac
    rc=0; out=$(timeout 20 "$MEDALLIOND" "${args[@]}" 2>&1) || rc=$?
    assert_eq "2" "$rc" "bad config, '${cmd:-daemon}': exit 2"
    assert_match "bad.yaml:3:5: unknown key \"schedul\"" "$out" "bad config, '${cmd:-daemon}': FILE:LINE:COL"
done
rc=0; "$MEDALLIOND" check-config -c "$tmp/bad.yaml" >/dev/null 2>&1 || rc=$?
assert_eq "1" "$rc" "bad config, check-config: exit 1"
# No database URL anywhere: bad input, said at once; the daemon would
# otherwise retry for ever (database.url cannot change on reload).
printf 'log_level: info\n' >"$tmp/nourl.yaml"
for cmd in "" run status; do
    case "$cmd" in
    run) args=(run -c "$tmp/nourl.yaml" clean_events) ;;
    "") args=(-c "$tmp/nourl.yaml") ;;
    *) args=("$cmd" -c "$tmp/nourl.yaml") ;;
    esac
    rc=0; out=$(env -u MEDALLION_DATABASE_URL -u POSTGRES_URL timeout 20 "$MEDALLIOND" "${args[@]}" 2>&1) || rc=$?
    assert_eq "2" "$rc" "no database URL, '${cmd:-daemon}': exit 2"
    assert_match "no database URL: set database.url" "$out" "no database URL, '${cmd:-daemon}': says how to set one"
done

# Success: one line per job, in job-table order whatever the argument order.
rc=0; out=$("$MEDALLIOND" run clean_api_logs clean_events 2>&1) || rc=$?
assert_eq "0" "$rc" "run of two jobs: exit 0"
assert_match "^clean_events +succeeded +50 read +50 written +[0-9]+ ms" "$(sed -n 1p <<<"$out")" "clean_events first, with rows and ms"
assert_match "^clean_api_logs +succeeded" "$(sed -n 2p <<<"$out")" "clean_api_logs second"
assert_eq "manual" "$(qq "SELECT DISTINCT trigger FROM medallion.job_runs")" "runs recorded with trigger=manual"
assert_eq "50" "$(qq "SELECT count(*) FROM analytics.events_clean")" "the job did its work"

# A failing job: exit 1, later requested jobs recorded skipped, not run.
qq "INSERT INTO analytics.events_raw (event_type, source) VALUES ('click', 'test')" >/dev/null
qq "ALTER TABLE analytics.events_clean RENAME TO events_clean_away" >/dev/null
rc=0; out=$("$MEDALLIOND" run clean_events clean_api_logs clean_user_actions 2>&1) || rc=$?
qq "ALTER TABLE analytics.events_clean_away RENAME TO events_clean" >/dev/null
assert_eq "1" "$rc" "a failed job: exit 1"
assert_match "clean_events +failed" "$out" "the failure is printed"
assert_match "clean_api_logs +skipped.*dependency failed" "$out" "the next job is reported skipped"
assert_eq "skipped|dependency failed
skipped|dependency failed" "$(qq "SELECT status, message FROM medallion.job_runs WHERE job_name IN ('clean_api_logs', 'clean_user_actions') AND status <> 'succeeded' ORDER BY run_id")" "later jobs recorded skipped with the reason"
assert_eq "1" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE job_name = 'clean_events' AND status = 'failed'")" "the failed run is recorded"

# Another instance holds the job: 75, recorded skipped with the reason.
psql -X -q -c "SET application_name = 'lock_holder'" \
    -c "SELECT pg_advisory_lock(hashtext('medalliond'), hashtext('clean_events'))" \
    -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
held() { [ "$(qq "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'lock_holder' AND l.locktype = 'advisory' AND l.granted")" = 1 ]; }
for _ in $(seq 1 50); do held && break; sleep 0.2; done
rc=0; out=$("$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "75" "$rc" "job held by another session: exit 75"
assert_match "clean_events +skipped.*another instance holds" "$out" "the skip and its reason are printed"
assert_eq "1" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE job_name = 'clean_events' AND status = 'skipped' AND message LIKE 'another instance holds%'")" "the lock skip is recorded"
qq "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'lock_holder'" >/dev/null
wait "$holder" 2>/dev/null || true
holder=""
rc=0; "$MEDALLIOND" run clean_events >/dev/null 2>&1 || rc=$?
assert_eq "0" "$rc" "after the holder is gone: exit 0 again"

# A server notice during a run (here a user's trigger on silver) is one log
# line that names the job and the run, so `journalctl JOB=...` finds it.
qq "CREATE FUNCTION public.warn_once() RETURNS trigger LANGUAGE plpgsql AS
      \$\$ BEGIN RAISE WARNING 'silver written'; RETURN NULL; END \$\$;
    CREATE TRIGGER warn_once AFTER INSERT ON analytics.events_clean
      FOR EACH STATEMENT EXECUTE FUNCTION public.warn_once();
    INSERT INTO analytics.events_raw (event_type, source) VALUES ('click', 'test')" >/dev/null
rc=0; out=$("$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "0" "$rc" "a run with a server warning: exit 0"
run_id=$(qq "SELECT max(run_id) FROM medallion.job_runs WHERE job_name = 'clean_events'")
assert_match "warning: job=clean_events run=$run_id PostgreSQL WARNING: \[01000\] silver written" "$out" "the notice carries the job and run"
qq "DROP TRIGGER warn_once ON analytics.events_clean; DROP FUNCTION public.warn_once()" >/dev/null

# status lists the runs, newest first.
out=$("$MEDALLIOND" status --limit 50 2>&1)
assert_match "clean_user_actions +skipped.*dependency failed" "$out" "status shows the dependency skip"
assert_match "clean_events +failed" "$out" "status shows the failure"
assert_match "^RUN +JOB +STATUS" "$(sed -n 1p <<<"$out")" "status prints a header"

# A database that is not migrated: refused with the migrate hint.
md_emptydb "t_run_cli_empty_$$"
rc=0; out=$("$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "1" "$rc" "pending migrations: exit 1"
assert_match "medalliond migrate" "$out" "the refusal says to run migrate"

# A role that does not bypass RLS: refused with the fix named.
md_newdb "t_run_cli_rls_$$"
qq "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'md_plain') THEN CREATE ROLE md_plain LOGIN; END IF; END \$\$" >/dev/null
rc=0; out=$(MEDALLION_DATABASE_URL="$MEDALLION_DATABASE_URL user=md_plain" "$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "1" "$rc" "a role subject to RLS: exit 1"
assert_match "role \"md_plain\" does not bypass row-level security.*GRANT service_role TO \"md_plain\"" "$out" "the refusal names the role and the fix"

rc=0; out=$(MEDALLION_DATABASE_URL="$MEDALLION_DATABASE_URL user=md_plain" "$MEDALLIOND" reprocess \
    --from 2026-01-01T00:00Z --to 2026-02-01T00:00Z clean_events 2>&1) || rc=$?
assert_eq "1" "$rc" "reprocess as a role subject to RLS: exit 1"
assert_match "role \"md_plain\" does not bypass row-level security" "$out" "reprocess checks the role first, too"

# BYPASSRLS alone is not enough: the role also needs its privileges.
qq "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'md_bypass') THEN CREATE ROLE md_bypass LOGIN BYPASSRLS; END IF; END \$\$" >/dev/null
rc=0; out=$(MEDALLION_DATABASE_URL="$MEDALLION_DATABASE_URL user=md_bypass" "$MEDALLIOND" run clean_events 2>&1) || rc=$?
assert_eq "1" "$rc" "a BYPASSRLS role without privileges: exit 1"
assert_match "role \"md_bypass\" lacks privileges on the medallion and analytics tables.*options=-c role=service_role" "$out" \
    "the refusal says what is missing and the fix"

md_finish
