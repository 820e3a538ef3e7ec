# shellcheck shell=bash
# Shared plumbing for the bench/*.sh benchmarks: build or pick the binary, start a
# private throwaway cluster (stopped on exit), load the seed baseline, generate
# identical bronze rows, time things. Sourced, never run; it must never touch any
# database but the benchmark's own cluster's, nor edit the seed baseline.
#
# The sourcing script sets `set -euo pipefail`, cds to the repository root and sets
# root="$PWD" first. Environment understood (same for every benchmark):
#   MEDALLIOND=PATH     use this binary instead of building build-bench/medalliond
#   SEED_BASELINE=PATH  seed baseline SQL (default ../shared/bench/seed_baseline.sql)
#   MD_BENCH_DIR=DIR    cluster directory (default /tmp/medalliond-bench), MD_PG_PORT (54340),
#   MD_PG_SHARED_BUFFERS (128MB; read by scripts/pg_cluster.sh)

# Sets seed_sql, or exits when the seed baseline is missing.
bench_find_seed() {
    seed_sql="${SEED_BASELINE:-$root/../shared/bench/seed_baseline.sql}"
    [ -r "$seed_sql" ] || { echo "$0: seed baseline not found: $seed_sql (set SEED_BASELINE)" >&2; exit 1; }
}

# Sets bin: $MEDALLIOND, or a RelWithDebInfo build in build-bench/.
bench_build() {
    if [ -n "${MEDALLIOND:-}" ]; then
        bin="$MEDALLIOND"
    else
        echo "== building medalliond (RelWithDebInfo) into build-bench/"
        cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        cmake --build build-bench -j "$(nproc 2>/dev/null || echo 2)" --target medalliond >/dev/null
        bin="$root/build-bench/medalliond"
    fi
    [ -x "$bin" ] || { echo "$0: not executable: $bin" >&2; exit 1; }
}

# Starts the private cluster with database `bench` cloned from the migrated template,
# exports the libpq and medalliond connection variables, and sets dir and tmp (a
# scratch directory); both go away on exit.
bench_start_cluster() {
    dir="${MD_BENCH_DIR:-/tmp/medalliond-bench}"
    export MD_PG_PORT="${MD_PG_PORT:-54340}"
    tmp="$(mktemp -d)"
    trap bench_cleanup EXIT
    echo "== starting a private PostgreSQL in $dir (port $MD_PG_PORT)"
    bash "$root/scripts/pg_cluster.sh" start "$dir" "$bin"
    export PGHOST="$dir/sock" PGPORT="$MD_PG_PORT" PGUSER=postgres PGDATABASE=bench
    export PGOPTIONS="-c client_min_messages=warning"
    export MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=postgres dbname=bench"
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE bench TEMPLATE medallion_tmpl"
}
bench_cleanup() {
    bash "$root/scripts/pg_cluster.sh" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}

bench_load_seed() {
    echo "== loading the seed baseline unmodified: $seed_sql"
    psql -X -q -v ON_ERROR_STOP=1 -f "$seed_sql" >/dev/null
}

q() { psql -X -q -At -v ON_ERROR_STOP=1 -c "$1"; }
now_ns() { date +%s%N; }
ms_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
# Timing starts from a clean checkpoint each time so no measurement pays for the
# previous one's dirty buffers; `sync` then writes the files the checkpoint left
# dirty in the page cache (fsync is off), so the kernel's writeback of one
# measurement's data does not land in the next one.
checkpoint() {
    q "CHECKPOINT" >/dev/null
    sync
}
# Busy CPU time of the whole machine, in 1/100 s (user + nice + system + irq +
# softirq, all cores): the work a measurement cost, wherever it ran (client,
# server backends, kernel). Wall time hides that two cores were used.
cpu_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }
cpu_s_since() { awk -v a="$1" -v b="$(cpu_busy)" 'BEGIN { printf "%.1f", (b - a) / 100 }'; }

# bench_gen SCHEMA [psql -v NAME=VALUE ...]: scripts/demo_data.sql into SCHEMA. The
# generator is deterministic in its parameters, so two schemas given the same ones get
# the same rows (and, from the same starting state, the same ids).
bench_gen() {
    local schema="$1"
    shift
    psql -X -q -v ON_ERROR_STOP=1 -v schema="$schema" "$@" -f "$root/scripts/demo_data.sql" >/dev/null
}

# bench_same_rows TABLE COLUMNS: exits unless analytics.TABLE and seedref.TABLE hold
# the same multiset of rows over COLUMNS; prints the row count.
bench_same_rows() {
    local diff_rows a s
    diff_rows="$(q "SELECT count(*) FROM (SELECT $2 FROM analytics.$1
                     EXCEPT ALL SELECT $2 FROM seedref.$1) d")"
    a="$(q "SELECT count(*) FROM analytics.$1")"
    s="$(q "SELECT count(*) FROM seedref.$1")"
    if [ "$diff_rows" != 0 ] || [ "$a" != "$s" ]; then
        echo "$0: analytics.$1 and seedref.$1 differ ($a vs $s rows, $diff_rows unmatched)" >&2
        exit 1
    fi
    echo "$a"
}
# shellcheck disable=SC2034 # used by the sourcing scripts
bench_events_cols="id, event_id, event_type, user_id, session_id, properties, source, created_at, ingested_at"
# shellcheck disable=SC2034
bench_tx_cols="id, external_id, user_id, amount, currency, status, payment_method, properties, source, created_at, ingested_at"

# One line describing the machine and the cluster's settings.
bench_machine() {
    local pg_version ram_mb cpu sb
    pg_version="$(q "SHOW server_version")"
    sb="$(q "SHOW shared_buffers")"
    ram_mb="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)"
    cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "machine: $(nproc) CPUs ($cpu), ${ram_mb} MB RAM, PostgreSQL $pg_version (fsync=off, shared_buffers=$sb)"
}

rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%d", (ms > 0) ? n / (ms / 1000) : 0 }'; }
verdict() { # $1: awk condition over v, $2: v
    if awk -v v="$2" "BEGIN { exit !($1) }"; then echo "target met"; else echo "target missed"; fi
}
fmt() { awk -v v="$1" -v d="$2" 'BEGIN { printf "%.*f", d, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
