# Shared helpers for integration tests (bash). A ctest fixture (pg_cluster.sh
# start) has already started one throwaway PostgreSQL cluster and created the
# migrated template database medallion_tmpl; each test clones its own database.
#
# Environment provided by ctest: MD_PG_DIR (cluster dir: socket in $MD_PG_DIR/sock),
# MEDALLIOND (path to the binary), MEDALLION_SOURCE_DIR (repo root).
set -euo pipefail

: "${MD_PG_DIR:?MD_PG_DIR not set: run through ctest (the pg fixture starts the cluster)}"
export PGHOST="$MD_PG_DIR/sock"
export PGPORT="${MD_PG_PORT:-54329}"
export PGUSER="${MD_PG_USER:-postgres}"
export PGOPTIONS="-c client_min_messages=warning"
unset PGPASSWORD PGSERVICE PGDATABASE
MD_TEST_NAME="$(basename "${BASH_SOURCE[1]:-$0}" .sh)"
MD_FAILS=0
MD_PASSES=0

# md_newdb [NAME]: fresh database cloned from the migrated template; exports
# PGDATABASE and MEDALLION_DATABASE_URL for psql and medalliond alike.
md_newdb() {
    local name="${1:-t_${MD_TEST_NAME}_$$}"
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$name\"" \
        -c "CREATE DATABASE \"$name\" TEMPLATE medallion_tmpl" >/dev/null
    export PGDATABASE="$name"
    export MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$name"
}

# md_emptydb NAME: an empty (unmigrated) database.
md_emptydb() {
    local name="$1"
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$name\"" \
        -c "CREATE DATABASE \"$name\" TEMPLATE template0" >/dev/null
    export PGDATABASE="$name"
    export MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$name"
}

# qq "SQL": run it, print tuples only (unaligned, '|' separated).
qq() { psql -X -A -t -q -v ON_ERROR_STOP=1 -c "$1"; }
# qfile FILE [psql -v args]
qfile() { local f="$1"; shift; psql -X -q -v ON_ERROR_STOP=1 "$@" -f "$f" >/dev/null; }

md_ok() { MD_PASSES=$((MD_PASSES + 1)); echo "ok - $*"; }
md_fail() { MD_FAILS=$((MD_FAILS + 1)); echo "not ok - $*" >&2; }

assert_eq() { # expected actual message
    if [ "$1" == "$2" ]; then md_ok "$3"; else md_fail "$3: expected [$1], got [$2]"; fi
}
assert_ne() {
    if [ "$1" != "$2" ]; then md_ok "$3"; else md_fail "$3: both are [$1]"; fi
}
assert_match() { # regex actual message
    if [[ "$2" =~ $1 ]]; then md_ok "$3"; else md_fail "$3: [$2] does not match /$1/"; fi
}
# assert_fails "message" cmd...: the command must exit non-zero.
assert_fails() {
    local msg="$1"; shift
    if "$@" >/dev/null 2>&1; then md_fail "$msg: command succeeded"; else md_ok "$msg"; fi
}
assert_succeeds() {
    local msg="$1"; shift
    local out
    if out=$("$@" 2>&1); then md_ok "$msg"; else md_fail "$msg: $out"; fi
}

# md_finish: print the tally; exit non-zero on any failure. Call at the end.
md_finish() {
    echo "$MD_PASSES passed, $MD_FAILS failed"
    [ "$MD_FAILS" -eq 0 ]
}
