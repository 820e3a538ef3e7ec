#!/usr/bin/env bash
# Whole-pipeline benchmark: `medalliond run --all` (all 9 jobs) against the seed's
# plpgsql pipeline (`SELECT seedref.run_all()`), on identical generated bronze rows in
# a private throwaway cluster that is stopped on exit: a full first run, then an
# incremental run after 1 % more rows arrive. It must never touch any database but its
# own cluster's, nor edit the seed baseline.
#
# Usage: bench/pipeline_bench.sh [ROWS]     (default 1000000 events, ROWS/20 transactions)
#   MEDALLIOND, SEED_BASELINE, MD_BENCH_DIR, MD_PG_PORT: as for silver_bench.sh (bench/lib.sh)
# Targets (issue 5): full run <= 0.25x the seed's wall time, incremental <= 0.02x.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

rows="${1:-1000000}"
case "$rows" in *[!0-9]* | "") echo "usage: $0 [ROWS]" >&2; exit 2 ;; esac
if [ "$rows" -lt 100 ]; then echo "$0: ROWS must be >= 100 (the increment is 1 %)" >&2; exit 2; fi
txs=$((rows / 20))
inc_events=$((rows / 100))
inc_txs=$((txs / 100))

bench_find_seed
bench_build
bench_start_cluster
bench_load_seed

# One anchor for both schemas (the generator is deterministic in its parameters, so
# analytics and seedref get the same rows and ids). Yesterday, so that the increment,
# shifted one day later, ends today rather than in the future. No API logs or user
# actions: the seed has no jobs for them, so medalliond's clean_api_logs and
# clean_user_actions run on empty bronze and the two pipelines read the same input.
anchor="$(date -u -d yesterday +%F)"
gen() {
    bench_gen "$1" -v events="$rows" -v seed=42 -v anchor="'$anchor'" \
        -v transactions="$txs" -v api_logs=0 -v user_actions=0
}
echo "== generating $rows events and $txs transactions into analytics and seedref bronze"
t0="$(now_ns)"
gen analytics
gen seedref
echo "   generated in $(ms_since "$t0") ms"
# The seed cannot run on the generator's transactions as they are: 0.5 % have an explicit
# NULL created_at, and seedref.calculate_revenue_summary() then inserts a NULL date into
# its primary key, which aborts the whole run_all() (one transaction: nothing is kept).
# Both schemas get the seed's own default for a missing timestamp (the time of arrival),
# so both pipelines read the same rows and the seed can finish.
for s in analytics seedref; do
    q "UPDATE $s.transactions_raw SET created_at = ingested_at WHERE created_at IS NULL" >/dev/null
done
bronze_ev="$(bench_same_rows events_raw "$bench_events_cols")"
bronze_tx="$(bench_same_rows transactions_raw "$bench_tx_cols")"
# Only bronze is analyzed: see silver_bench.sh (analyzing the empty seed silver tables
# makes the seed's NOT EXISTS quadratic). The seed is measured in its favourable state.
for t in analytics.events_raw seedref.events_raw analytics.transactions_raw seedref.transactions_raw; do
    q "VACUUM ANALYZE $t" >/dev/null
done

cat >"$tmp/bench.yaml" <<EOF
# Written by bench/pipeline_bench.sh: every key at its default but these
# (timeouts raised so a slow first run is measured rather than cancelled).
log_level: warn
jobs:
  clean_events: {timeout: 2h}
  clean_api_logs: {timeout: 2h}
  clean_user_actions: {timeout: 2h}
  validate_transactions: {timeout: 2h}
  build_user_sessions: {timeout: 2h}
  calculate_daily_metrics: {timeout: 2h}
  calculate_revenue_summary: {timeout: 2h}
  calculate_user_cohorts: {timeout: 2h}
  update_kpi_dashboard: {timeout: 2h}
EOF

# run_md LABEL: `medalliond run --all`; sets md_ms (process wall), md_rc, md_first_run and
# md_last_run (its job_runs ids) and md_ok (number of jobs that succeeded). A failed
# job does not abort the benchmark: what ran is reported, and the ratio is withheld.
run_md() {
    local t
    md_first_run="$(q "SELECT coalesce(max(run_id), 0) + 1 FROM medallion.job_runs")"
    checkpoint
    t="$(now_ns)"
    md_rc=0
    "$bin" run -c "$tmp/bench.yaml" --all >"$tmp/run.$1.log" 2>&1 || md_rc=$?
    md_ms="$(ms_since "$t")"
    md_last_run="$(q "SELECT coalesce(max(run_id), 0) FROM medallion.job_runs")"
    md_ok="$(q "SELECT count(*) FROM medallion.job_runs
                WHERE run_id BETWEEN $md_first_run AND $md_last_run AND status = 'succeeded'")"
    if [ "$md_rc" != 0 ]; then
        echo "   medalliond run --all exited $md_rc; its output:"
        sed 's/^/   | /' "$tmp/run.$1.log" | tail -n 20
    fi
}
# md_jobs FIRST LAST: per-job lines of one `run --all` from medallion.job_runs. A row
# still `running` belongs to a process that died (it has no finished_at).
md_jobs() {
    q "SELECT format('    %-27s %-9s %11s ms  read %s, written %s%s', job_name, status,
                     coalesce(to_char(extract(epoch FROM finished_at - started_at) * 1000,
                                      'FM9999990.0'), '-'),
                     rows_read, rows_written,
                     CASE WHEN message IS NOT NULL AND message <> '' THEN ': ' || message ELSE '' END)
       FROM medallion.job_runs WHERE run_id BETWEEN $1 AND $2 ORDER BY run_id"
}

# run_seed LABEL: `SELECT seedref.run_all()`; sets seed_ms, and keeps the per-function
# totals (track_functions, a server statistic: the baseline itself is untouched) so the
# report can say what dominates inside it.
run_seed() {
    local t
    q "SELECT funcname, calls, total_time FROM pg_stat_user_functions WHERE schemaname = 'seedref'" \
        >"$tmp/fn.before.$1"
    checkpoint
    t="$(now_ns)"
    PGOPTIONS="$PGOPTIONS -c track_functions=pl" q "SELECT seedref.run_all()" >/dev/null
    seed_ms="$(ms_since "$t")"
    # The backend flushed its function statistics when it exited; give the
    # statistics collector's shared memory a moment to be read consistently.
    sleep 1
    q "SELECT funcname, calls, total_time FROM pg_stat_user_functions WHERE schemaname = 'seedref'" \
        >"$tmp/fn.after.$1"
}
seed_fns() { # per-function deltas, largest first
    awk -F'|' 'FILENAME == ARGV[1] { c[$1] = $2; t[$1] = $3; next }
               $1 != "run_all" { printf "    %-27s %9d calls %11.1f ms\n", $1, $2 - c[$1], $3 - t[$1] }' \
        "$tmp/fn.before.$1" "$tmp/fn.after.$1" | sort -k4,4 -g -r
}

echo "== (1) full run: medalliond run --all"
run_md full
full_md_ms="$md_ms" full_md_rc="$md_rc" full_md_ok="$md_ok"
full_md_jobs="$(md_jobs "$md_first_run" "$md_last_run")"
echo "== (1) full run: SELECT seedref.run_all()"
run_seed full
full_seed_ms="$seed_ms"
full_counts="$(q "SELECT (SELECT count(*) FROM analytics.events_clean) || ' / ' ||
                         (SELECT count(*) FROM seedref.events_clean) || ' events_clean, ' ||
                         (SELECT count(*) FROM analytics.user_sessions) || ' / ' ||
                         (SELECT count(*) FROM seedref.user_sessions) || ' user_sessions, ' ||
                         (SELECT count(*) FROM analytics.daily_metrics) || ' / ' ||
                         (SELECT count(*) FROM seedref.daily_metrics) || ' daily_metrics rows'")"

# The increment: the newest 1 % of bronze rows (by id, which the generator assigns in
# ingestion order) copied one day later, into both schemas by the same statement, so ids
# match. Not scripts/demo_data.sql with another seed: its user ids are hashed from the
# seed, so every increment user would be brand new, and its rows spread over `days`
# days; new rows from existing users on the latest day are the common incremental case.
# New event_ids, session_ids and external_ids keep the copies from being duplicates of
# their originals (retried copies inside the increment still share theirs).
increment() {
    q "INSERT INTO $1.events_raw
           (event_id, event_type, user_id, session_id, properties, source, created_at, ingested_at)
       SELECT md5(event_id::text || ':+1d')::uuid, event_type, user_id, session_id || ':+1d',
              properties, source, created_at + interval '1 day', ingested_at + interval '1 day'
       FROM (SELECT * FROM $1.events_raw ORDER BY id DESC LIMIT $inc_events) e ORDER BY id;
       INSERT INTO $1.transactions_raw
           (external_id, user_id, amount, currency, status, payment_method, properties, source,
            created_at, ingested_at)
       SELECT external_id || ':+1d', user_id, amount, currency, status, payment_method,
              properties, source, created_at + interval '1 day', ingested_at + interval '1 day'
       FROM (SELECT * FROM $1.transactions_raw ORDER BY id DESC LIMIT $inc_txs) t ORDER BY id" \
        >/dev/null
}
echo "== adding 1 %: $inc_events events and $inc_txs transactions, one day later, to both schemas"
increment analytics
increment seedref
bench_same_rows events_raw "$bench_events_cols" >/dev/null
bench_same_rows transactions_raw "$bench_tx_cols" >/dev/null

echo "== (2) incremental run: medalliond run --all"
run_md inc
inc_md_ms="$md_ms" inc_md_rc="$md_rc" inc_md_ok="$md_ok"
inc_md_jobs="$(md_jobs "$md_first_run" "$md_last_run")"
echo "== (2) incremental run: SELECT seedref.run_all()"
run_seed inc
inc_seed_ms="$seed_ms"

# verdict_ratio MD_RC OK RATIO LIMIT: a ratio is only judged when all 9 jobs succeeded.
verdict_ratio() {
    if [ "$1" != 0 ] || [ "$2" != 9 ]; then
        echo "not comparable: $2 of 9 jobs succeeded"
    else
        verdict "v <= $4" "$3"
    fi
}
r_full="$(ratio "$full_md_ms" "$full_seed_ms")"
r_inc="$(ratio "$inc_md_ms" "$inc_seed_ms")"

echo
echo "whole-pipeline benchmark: $bronze_ev events + $bronze_tx transactions in bronze (anchor $anchor),"
echo "then +$inc_events events + $inc_txs transactions (1 %, one day later)"
bench_machine
echo
printf '%-34s %13s %13s %9s  %s\n' "measurement (wall ms)" "seed run_all" "medalliond" "md/seed" "target"
printf '%-34s %13s %13s %9s  %s\n' "(1) full run" "$(fmt "$full_seed_ms" 1)" "$(fmt "$full_md_ms" 1)" \
    "$r_full" "<= 0.25: $(verdict_ratio "$full_md_rc" "$full_md_ok" "$r_full" 0.25)"
printf '%-34s %13s %13s %9s  %s\n' "(2) incremental run (+1 %)" "$(fmt "$inc_seed_ms" 1)" \
    "$(fmt "$inc_md_ms" 1)" "$r_inc" "<= 0.02: $(verdict_ratio "$inc_md_rc" "$inc_md_ok" "$r_inc" 0.02)"
echo
echo "(1) full run, medalliond jobs (medallion.job_runs; exit status $full_md_rc):"
echo "$full_md_jobs"
echo "(1) full run, seed functions (pg_stat_user_functions, total time incl. callees):"
seed_fns full
echo "(2) incremental run, medalliond jobs (medallion.job_runs; exit status $inc_md_rc):"
echo "$inc_md_jobs"
echo "(2) incremental run, seed functions:"
seed_fns inc
echo
echo "after (1), medalliond / seed: $full_counts"
echo "(events_clean: medalliond drops retried duplicates, the seed keeps them; user_sessions:"
echo " medalliond splits on 30 min gaps per user, the seed groups by client session_id)"
