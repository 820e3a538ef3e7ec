#!/usr/bin/env bash
# A change of reporting.timezone (a restart with another zone) re-keys
# everything stored by local day: after the next run, user_days, the sessions'
# session_date and every gold table equal those of a database built in the new
# zone from the start, on the same bronze rows. Before migration 010 a session
# near midnight was counted on no day at all, and backfill could not fix it.
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d /tmp/mdzone.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
zone=America/Los_Angeles
printf 'reporting:\n  timezone: %s\n' "$zone" >"$tmp/la.yaml"

run_all() { # label [medalliond options...]
    local label="$1" out
    shift
    out=$("$MEDALLIOND" run "$@" --all 2>&1) || { echo "$out"; md_fail "run --all ($label)"; md_finish; }
    md_ok "run --all ($label)"
}
# Every table stored by local day, one sorted line per row, without the
# columns that record when a row was written.
dump() { # dir
    mkdir -p "$1"
    local t
    for t in medallion.user_days analytics.user_sessions analytics.daily_metrics \
        analytics.revenue_summary analytics.user_cohorts analytics.kpi_dashboard; do
        qq "SELECT (to_jsonb(t) - 'updated_at' - 'computed_at' - 'processed_at')::text FROM $t t" |
            sort >"$1/$t"
    done
}
# The same bronze rows in both databases: the generator is deterministic in
# its parameters, ids included, from the same template.
gen() { qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=12000 -v days=90 -v seed=11; }

# --- the reference: built in the new zone from the start ---------------------
md_newdb "t_zone_ref_$$"
gen
run_all "reference, $zone" -c "$tmp/la.yaml"
dump "$tmp/ref"
ref_db="$PGDATABASE"

# --- built in UTC, then restarted with the new zone ---------------------------
md_newdb "t_zone_chg_$$"
gen
run_all "initial, UTC"
dump "$tmp/utc"
assert_ne "" "$(diff -q "$tmp/utc/analytics.daily_metrics" "$tmp/ref/analytics.daily_metrics")" \
    "UTC and $zone days really differ on this data"
qq "SELECT count(*) FROM analytics.user_sessions
    WHERE session_date <> (started_at AT TIME ZONE '$zone')::date" >"$tmp/moved"
assert_ne "0" "$(cat "$tmp/moved")" "some sessions start on another date in $zone"

run_all "after the change to $zone" -c "$tmp/la.yaml"
assert_eq "$zone" "$(qq "SELECT timezone FROM medallion.derived_state WHERE name = 'user_days'")" \
    "the new zone is recorded"
dump "$tmp/chg"
for f in "$tmp"/ref/*; do
    t=$(basename "$f")
    assert_eq "" "$(diff "$f" "$tmp/chg/$t" | head -n 6)" "$t equals the one built in $zone from the start"
done

# --- and back: a second change re-keys again ------------------------------------
run_all "back to UTC"
dump "$tmp/back"
for f in "$tmp"/utc/*; do
    t=$(basename "$f")
    [ "$t" = analytics.kpi_dashboard ] && continue # period bounds depend on the run's date only
    assert_eq "" "$(diff "$f" "$tmp/back/$t" | head -n 6)" "$t back in UTC equals the first UTC build"
done

# --- an unchanged zone costs nothing: no re-keying, no marks -------------------
run_all "UTC again"
assert_eq "0|0" "$(qq "SELECT (SELECT count(*) FROM medallion.gold_dirty), (SELECT count(*) FROM medallion.cohort_dirty)")" \
    "no marks left behind after a run in an unchanged zone"

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$ref_db\"" >/dev/null 2>&1 || true
md_finish
