#!/usr/bin/env bash
# A throwaway PostgreSQL for tests, the quickstart and benchmarks.
#   pg_cluster.sh start DIR [MEDALLIOND]  initdb + pg_ctl on a unix socket in DIR/sock
#                                         (no TCP: parallel runs never fight over a port);
#                                         with MEDALLIOND, also builds the migrated
#                                         template database medallion_tmpl
#   pg_cluster.sh stop DIR                shut it down and remove DIR
#   pg_cluster.sh bindir                  print the PostgreSQL server bin directory
# MD_PG_PORT (default 54329) and MD_PG_SHARED_BUFFERS (default 128MB) tune the cluster.
# PostgreSQL refuses to run as root: as root the cluster runs as user postgres,
# in a directory chowned to it. Not on PATH on Debian: found under /usr/lib/postgresql.
set -euo pipefail

cmd="${1:?usage: pg_cluster.sh start|stop DIR [MEDALLIOND] | bindir}"
dir="${2:-}"
if [ "$cmd" != bindir ] && [ -z "$dir" ]; then echo "pg_cluster.sh: DIR missing" >&2; exit 2; fi
port="${MD_PG_PORT:-54329}"

find_bindir() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    if command -v pg_config >/dev/null && [ -x "$(pg_config --bindir)/initdb" ]; then
        pg_config --bindir; return
    fi
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
    echo "pg_cluster.sh: no initdb found (install postgresql)" >&2
    exit 1
}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
    bindir="$(find_bindir)"
    medalliond="${3:-}"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    mkdir -p "$dir/sock"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # fsync off and small shared memory: a test cluster trades durability for speed.
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir/sock' -p $port -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=100 \
            -c shared_buffers=${MD_PG_SHARED_BUFFERS:-128MB} -c timezone=UTC" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    export PGHOST="$dir/sock" PGPORT="$port" PGUSER=postgres
    if [ -z "$medalliond" ]; then
        echo "PostgreSQL running in $dir (socket $dir/sock, port $port)"
        exit 0
    fi
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE medallion_tmpl" >/dev/null
    MEDALLION_DATABASE_URL="host=$dir/sock port=$port user=postgres dbname=medallion_tmpl" \
        MEDALLIOND_CONFIG="$(dirname "$0")/../tests/integration/defaults.yaml" "$medalliond" migrate >"$dir/migrate.log" 2>&1 \
        || { cat "$dir/migrate.log" >&2; exit 1; }
    echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') running in $dir (socket $dir/sock, port $port); template medallion_tmpl migrated"
    ;;
stop)
    bindir="$(find_bindir)"
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
            || as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    echo "PostgreSQL in $dir stopped"
    ;;
bindir)
    find_bindir
    ;;
*)
    echo "usage: pg_cluster.sh start|stop DIR [MEDALLIOND]" >&2
    exit 2
    ;;
esac
