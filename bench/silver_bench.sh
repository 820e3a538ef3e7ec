#!/usr/bin/env bash
# Bronze → silver benchmark: `medalliond run clean_events` against the seed's plpgsql
# baseline (seedref.clean_events()) and a bare binary COPY round trip (the floor), on
# identical generated rows, in a private throwaway cluster that is stopped on exit.
# It must never touch any database but its own cluster's, nor edit the seed baseline.
#
# Usage: bench/silver_bench.sh [ROWS] [BATCH_SIZE] [ROUNDS]  (defaults 1000000, 10000, 3)
#   ROUNDS: after (a)-(e), medalliond and the seed again from empty silver tables,
#   alternately, ROUNDS times each; the verdict compares their medians, which this
#   host's drift (the same run varies by 15-30 %) cannot tip as easily as one pair.
#   MEDALLIOND=PATH     use this binary instead of building build-bench/medalliond
#   SEED_BASELINE=PATH  seed baseline SQL (default ../shared/bench/seed_baseline.sql)
#   MD_BENCH_DIR=DIR    cluster directory (default /tmp/medalliond-bench), MD_PG_PORT (54340)
# Needs what scripts/install-deps.sh installs, plus /usr/bin/time (Debian package `time`)
# for the peak RSS; without it the RSS line reads "n/a". Shared plumbing: bench/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

rows="${1:-1000000}"
batch="${2:-10000}"
rounds="${3:-3}"
case "$rows$batch$rounds" in *[!0-9]* | "") echo "usage: $0 [ROWS] [BATCH_SIZE] [ROUNDS]" >&2; exit 2 ;; esac
if [ "$rows" -lt 1 ] || [ "$batch" -lt 1 ]; then echo "$0: ROWS and BATCH_SIZE must be >= 1" >&2; exit 2; fi

bench_find_seed
bench_build
bench_start_cluster
bench_load_seed

# One anchor for both schemas: the generator is deterministic in (seed, anchor, events),
# so analytics and seedref get the same rows. Only events are benchmarked here.
anchor="$(date -u +%F)"
gen() {
    bench_gen "$1" -v events="$rows" -v seed=42 -v anchor="'$anchor'" \
        -v transactions=0 -v api_logs=0 -v user_actions=0
}
echo "== generating $rows events into analytics.events_raw and seedref.events_raw"
t0="$(now_ns)"
gen analytics
gen seedref
echo "   generated in $(ms_since "$t0") ms"
bronze="$(bench_same_rows events_raw "$bench_events_cols")"
# Only bronze is analyzed. Analyzing the empty silver tables records "0 rows", and the
# planner then runs the seed's NOT EXISTS as a nested loop rescanning seedref.events_clean
# while the INSERT grows it: quadratic (14 s instead of 0.25 s at 20000 rows). The seed is
# measured in its favourable state, as it would run with default statistics.
q "VACUUM ANALYZE analytics.events_raw" >/dev/null
# Autovacuum off for the tables being written, alike for all three: after a
# million inserts it vacuums and analyzes them at a moment that differs from run
# to run, and its CPU time would land in whichever measurement is running.
q "ALTER TABLE analytics.events_clean SET (autovacuum_enabled = false);
   ALTER TABLE medallion.duplicates SET (autovacuum_enabled = false);
   ALTER TABLE seedref.events_clean SET (autovacuum_enabled = false)" >/dev/null
q "VACUUM ANALYZE seedref.events_raw" >/dev/null
bronze_mb="$(q "SELECT pg_total_relation_size('analytics.events_raw') / 1048576")"

cat >"$tmp/bench.yaml" <<EOF
# Written by bench/silver_bench.sh: every key at its default but these.
log_level: warn
jobs:
  clean_events:
    batch_size: $batch
    timeout: 30m
EOF

have_time=0
[ -x /usr/bin/time ] && have_time=1
# The same config with one write connection: pages one at a time, for comparison.
sed 's/^    timeout: 30m$/    timeout: 30m\n    write_connections: 1/' "$tmp/bench.yaml" >"$tmp/bench1.yaml"
run_job() { # $1: label for the log file, [$2: config]; sets wall_ms, cpu_s and rss_kb
    local t c conf="${2:-$tmp/bench.yaml}"
    c="$(cpu_busy)"
    t="$(now_ns)"
    if [ "$have_time" = 1 ]; then
        /usr/bin/time -f %M -o "$tmp/rss.$1" "$bin" run -c "$conf" clean_events \
            >"$tmp/run.$1.log" 2>&1 || { cat "$tmp/run.$1.log" >&2; exit 1; }
        wall_ms="$(ms_since "$t")"
        rss_kb="$(tail -n 1 "$tmp/rss.$1")"
    else
        "$bin" run -c "$conf" clean_events >"$tmp/run.$1.log" 2>&1 \
            || { cat "$tmp/run.$1.log" >&2; exit 1; }
        wall_ms="$(ms_since "$t")"
        rss_kb=""
    fi
    cpu_s="$(cpu_s_since "$c")"
}
last_run() {
    q "SELECT status, rows_read, rows_written, rows_duplicate,
              round(extract(epoch FROM finished_at - started_at) * 1000, 1)
       FROM medallion.job_runs WHERE job_name = 'clean_events' ORDER BY run_id DESC LIMIT 1"
}

echo "== (a) medalliond run clean_events (batch_size $batch)"
checkpoint
run_job first
md_ms="$wall_ms"
md_cpu="$cpu_s"
md_rss_kb="$rss_kb"
IFS='|' read -r md_status md_read md_written md_dup md_job_ms <<<"$(last_run)"
[ "$md_status" = succeeded ] || { echo "$0: clean_events run status: $md_status" >&2; cat "$tmp/run.first.log" >&2; exit 1; }
md_silver="$(q "SELECT count(*) FROM analytics.events_clean")"

echo "== (b) SELECT seedref.clean_events()"
checkpoint
c0="$(cpu_busy)"
t0="$(now_ns)"
seed_written="$(q "SELECT seedref.clean_events()")"
seed_ms="$(ms_since "$t0")"
seed_cpu="$(cpu_s_since "$c0")"

echo "== (c) COPY floor: binary COPY out of events_raw, into a LIKE events_clean INCLUDING ALL table"
# LIKE ... INCLUDING ALL copies the unique index on event_id, which the retried events in
# bronze would violate (a bare COPY does no dedup). It is swapped for a plain index on the
# same column and predicate: the same index maintenance, without the failure. The floor
# then writes every bronze row, slightly more than medalliond keeps: a stricter floor.
q "CREATE SCHEMA floor; CREATE TABLE floor.events_clean (LIKE analytics.events_clean INCLUDING ALL)
   WITH (autovacuum_enabled = false)"
uniq="$(q "SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'floor.events_clean'::regclass
           AND indisunique AND NOT indisprimary")"
for ix in $uniq; do
    def="$(q "SELECT replace(pg_get_indexdef('$ix'::regclass), 'CREATE UNIQUE INDEX', 'CREATE INDEX')")"
    q "DROP INDEX $ix; $def" >/dev/null
done
checkpoint
c0="$(cpu_busy)"
t0="$(now_ns)"
psql -X -q -v ON_ERROR_STOP=1 -c "\copy (SELECT id, event_id, event_type, user_id, session_id, properties, source, created_at, ingested_at, true, 1.00::numeric(3,2), '{}'::text[] FROM analytics.events_raw ORDER BY ingest_xid, id) TO STDOUT WITH (FORMAT binary)" |
    psql -X -q -v ON_ERROR_STOP=1 -c "\copy floor.events_clean (id, event_id, event_type, user_id, session_id, properties, source, created_at, ingested_at, is_valid, quality_score, validation_errors) FROM STDIN WITH (FORMAT binary)"
floor_ms="$(ms_since "$t0")"
floor_cpu="$(cpu_s_since "$c0")"
floor_written="$(q "SELECT count(*) FROM floor.events_clean")"

echo "== (d) no-op incremental run (nothing new in bronze)"
run_job noop
noop_ms="$wall_ms"
IFS='|' read -r noop_status noop_read _ _ noop_job_ms <<<"$(last_run)"
[ "$noop_status" = succeeded ] || { echo "$0: no-op run status: $noop_status" >&2; exit 1; }

# Back to an empty events_clean, ledger and position, as before (a).
reset_md() {
    q "TRUNCATE analytics.events_clean; DELETE FROM medallion.duplicates WHERE source_table = 'events_raw';
       UPDATE medallion.batch_positions SET prev_snapshot = NULL, cur_snapshot = NULL, last_xid = NULL,
       last_id = NULL WHERE job_name = 'clean_events'" >/dev/null
}

echo "== (e) (a) again with write_connections: 1, from an empty events_clean"
reset_md
checkpoint
run_job one "$tmp/bench1.yaml"
one_ms="$wall_ms"
one_cpu="$cpu_s"
IFS='|' read -r one_status _ one_written _ _ <<<"$(last_run)"
[ "$one_status" = succeeded ] || { echo "$0: one-connection run status: $one_status" >&2; exit 1; }

# Rounds: the same two measurements again, alternately, each from empty silver.
md_walls="$md_ms"
seed_walls="$seed_ms"
for i in $(seq 1 "$rounds"); do
    echo "== round $i of $rounds: (a) then (b), each from an empty silver table"
    reset_md
    checkpoint
    run_job "round$i"
    IFS='|' read -r r_status _ _ _ _ <<<"$(last_run)"
    [ "$r_status" = succeeded ] || { echo "$0: round $i run status: $r_status" >&2; exit 1; }
    md_walls="$md_walls $wall_ms"
    q "TRUNCATE seedref.events_clean" >/dev/null
    checkpoint
    t0="$(now_ns)"
    q "SELECT seedref.clean_events()" >/dev/null
    seed_walls="$seed_walls $(ms_since "$t0")"
done
median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{ v[NR] = $1 } END { printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
md_med="$(median "$md_walls")"
seed_med="$(median "$seed_walls")"

r_floor="$(awk -v a="$md_ms" -v b="$floor_ms" 'BEGIN { printf "%.2f", a / b }')"
r_seed="$(awk -v a="$seed_med" -v b="$md_med" 'BEGIN { printf "%.2f", a / b }')"
if [ -n "$md_rss_kb" ]; then
    rss_mb="$(awk -v k="$md_rss_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
    rss_verdict="$(verdict 'v <= 64' "$rss_mb")"
    [ "$batch" = 10000 ] || rss_verdict="$rss_verdict (target is set at batch 10000)"
else
    rss_mb="n/a"
    rss_verdict="not measured (/usr/bin/time missing: install package time)"
fi

echo
echo "bronze → silver benchmark: clean_events, $bronze bronze rows (${bronze_mb} MB with indexes), batch_size $batch"
bench_machine
echo
printf '%-40s %11s %11s %7s  %s\n' "measurement" "wall ms" "rows/s" "CPU s" "notes"
printf '%-40s %11s %11s %7s  %s\n' "(a) medalliond run clean_events" "$(fmt "$md_ms" 1)" \
    "$(rate "$bronze" "$md_ms")" "$md_cpu" \
    "peak RSS $rss_mb MB; job_runs ${md_job_ms} ms; read $md_read, written $md_written, duplicates $md_dup"
printf '%-40s %11s %11s %7s  %s\n' "(b) SELECT seedref.clean_events()" "$(fmt "$seed_ms" 1)" \
    "$(rate "$bronze" "$seed_ms")" "$seed_cpu" "written $seed_written (no dedup, no validation codes)"
printf '%-40s %11s %11s %7s  %s\n' "(c) COPY floor (binary out | in)" "$(fmt "$floor_ms" 1)" \
    "$(rate "$bronze" "$floor_ms")" "$floor_cpu" "written $floor_written (no transform at all)"
printf '%-40s %11s %11s %7s  %s\n' "(d) no-op incremental run" "$(fmt "$noop_ms" 1)" "-" "-" \
    "job_runs ${noop_job_ms} ms; read $noop_read"
printf '%-40s %11s %11s %7s  %s\n' "(e) (a) with write_connections: 1" "$(fmt "$one_ms" 1)" \
    "$(rate "$bronze" "$one_ms")" "$one_cpu" "written $one_written; pages one at a time"
echo
echo "(a) and (b) over $((rounds + 1)) alternating runs each, wall ms (median):"
printf '  %-38s %s  (%s)\n' "medalliond run clean_events" "$md_med" "$md_walls"
printf '  %-38s %s  (%s)\n' "SELECT seedref.clean_events()" "$seed_med" "$seed_walls"
echo
printf '%-40s %11s %11s  %s\n' "ratio" "value" "target" "verdict"
printf '%-40s %11s %11s  %s\n' "medalliond / COPY floor (wall)" "$r_floor" "<= 1.30" \
    "$(verdict 'v <= 1.3' "$r_floor")"
printf '%-40s %11s %11s  %s\n' "seed / medalliond (speedup, median wall)" "${r_seed}x" "> 1.00x" \
    "$(verdict 'v > 1' "$r_seed")"
printf '%-40s %11s %11s  %s\n' "no-op run, process wall ms" "$(fmt "$noop_ms" 1)" "< 50" \
    "$(verdict 'v < 50' "$noop_ms")"
printf '%-40s %11s %11s  %s\n' "no-op run, job_runs duration ms" "$noop_job_ms" "< 50" \
    "$(verdict 'v < 50' "$noop_job_ms")"
printf '%-40s %11s %11s  %s\n' "peak RSS MB (batch $batch)" "$rss_mb" "<= 64" "$rss_verdict"
[ "$md_silver" = "$md_written" ] || echo "note: events_clean holds $md_silver rows, job_runs says $md_written written"
