#!/usr/bin/env bash
# What each of events_clean's indexes costs to maintain: the silver rows that
# `medalliond run clean_events` wrote are copied back, server-side and in the order
# medalliond writes them, into empty copies of events_clean that carry different sets
# of its indexes. The differences between the sets are the index costs; nothing of
# medalliond runs while they are measured. Private throwaway cluster, stopped on exit.
#
# Usage: bench/index_cost.sh [ROWS] [ROUNDS]     (defaults 1000000 and 3)
#   same environment as bench/silver_bench.sh (MEDALLIOND, MD_BENCH_DIR, MD_PG_PORT,
#   MD_PG_SHARED_BUFFERS); shared plumbing: bench/lib.sh. The seed baseline is not
#   loaded: its silver table's indexes are one of the sets measured here.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"

rows="${1:-1000000}"
rounds="${2:-3}"
case "$rows$rounds" in *[!0-9]* | "") echo "usage: $0 [ROWS] [ROUNDS]" >&2; exit 2 ;; esac
if [ "$rows" -lt 1 ] || [ "$rounds" -lt 1 ]; then echo "$0: ROWS and ROUNDS must be >= 1" >&2; exit 2; fi

bench_build
bench_start_cluster

echo "== generating $rows events, cleaning them with medalliond run clean_events"
bench_gen analytics -v events="$rows" -v seed=42 -v anchor="'$(date -u +%F)'" \
    -v transactions=0 -v api_logs=0 -v user_actions=0
q "VACUUM ANALYZE analytics.events_raw" >/dev/null
printf 'log_level: warn\njobs:\n  clean_events:\n    timeout: 30m\n' >"$tmp/bench.yaml"
"$bin" run -c "$tmp/bench.yaml" clean_events >"$tmp/run.log" 2>&1 || { cat "$tmp/run.log" >&2; exit 1; }

# The rows as medalliond sends them: its COPY columns, in its page order. The file is
# the server's (COPY ... TO 'file' runs as the cluster's user, in its directory).
cols="id, event_id, event_type, user_id, session_id, properties, source, created_at,
      ingested_at, is_valid, quality_score, validation_errors"
data="$dir/silver.copy"
q "COPY (SELECT $cols FROM analytics.events_clean ORDER BY silver_xid, id)
   TO '$data' (FORMAT binary)" >/dev/null
silver="$(q "SELECT count(*) FROM analytics.events_clean")"

# events_clean's own index definitions, renamed onto the scratch table.
declare -A def
while IFS='|' read -r name d; do
    def[$name]="${d/ ON analytics.events_clean / ON bench_ix.t }"
done < <(q "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
            JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = 'analytics.events_clean'::regclass ORDER BY 1")
all="${!def[*]}"
# The seed's silver table has these three (id, created_at, (user_id, created_at)).
seed3="events_clean_pkey idx_events_clean_created idx_events_clean_user_created"
for ix in $seed3; do [ -n "${def[$ix]:-}" ] || { echo "$0: events_clean has no index $ix" >&2; exit 1; }; done
q "CREATE SCHEMA bench_ix" >/dev/null

copy_into() { # $1: index names; prints the COPY's server-side duration in ms
    local ix sql="DROP TABLE IF EXISTS bench_ix.t; CREATE TABLE bench_ix.t
        (LIKE analytics.events_clean INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
        WITH (autovacuum_enabled = false);"
    for ix in $1; do sql="$sql ${def[$ix]};"; done
    q "$sql" >/dev/null
    checkpoint
    psql -X -q -At -v ON_ERROR_STOP=1 \
        -c "\\timing on" -c "COPY bench_ix.t ($cols) FROM '$data' (FORMAT binary)" |
        awk '/^Time:/ { print $2 }'
}
without() { # $1: index name; prints every index name but $1
    local ix
    for ix in $all; do [ "$ix" = "$1" ] || printf '%s ' "$ix"; done
}

labels=("no index" "the seed's three" "all six" "all six but the unique event_id"
        "all six but (silver_xid, id)" "all six but the anonymous-session one")
sets=("" "$seed3" "$all" "$(without idx_events_clean_event_id)"
      "$(without idx_events_clean_batch)" "$(without idx_events_clean_anon_session)")
declare -A ms
echo "== $rounds rounds of ${#sets[@]} index sets, $silver rows each"
for ((r = 1; r <= rounds; r++)); do
    for i in "${!sets[@]}"; do ms[$i]="${ms[$i]:-} $(copy_into "${sets[$i]}")"; done
done
median() { tr ' ' '\n' | awk 'NF' | sort -n | awk '{ v[NR] = $1 } END {
    printf "%.0f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' | awk 'NF' | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END {
    printf "%.0f-%.0f", lo, hi }'; }

echo
echo "events_clean index maintenance: COPY of $silver silver rows (from $rows bronze events), $rounds rounds"
bench_machine
echo
all_ms="$(median <<<"${ms[2]}")"
printf '%-42s %10s %14s %16s\n' "indexes on the table" "median ms" "range ms" "vs all six, ms"
for i in "${!sets[@]}"; do
    m="$(median <<<"${ms[$i]}")"
    printf '%-42s %10s %14s %16s\n' "${labels[$i]}" "$m" "$(range <<<"${ms[$i]}")" "$((m - all_ms))"
done
