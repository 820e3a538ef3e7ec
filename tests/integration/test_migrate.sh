#!/usr/bin/env bash
# `medalliond migrate`: idempotent, checksummed, transactional, safe in parallel.
source "$(dirname "$0")/lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$MEDALLION_SOURCE_DIR/migrations" "$tmp/m"
export MEDALLIOND_MIGRATIONS="$tmp/m"
nfiles=$(ls "$tmp/m"/[0-9]*.sql | wc -l)

md_emptydb "t_migrate_$$"
out=$("$MEDALLIOND" migrate 2>&1)
assert_match "$nfiles migration\(s\) applied" "$out" "first migrate applies every file"
assert_eq "$nfiles" "$(qq 'SELECT count(*) FROM medallion.schema_migrations')" "each file recorded"
assert_eq "64" "$(qq "SELECT min(length(checksum)) FROM medallion.schema_migrations")" "sha256 checksums recorded"

before=$(qq "SELECT string_agg(version || applied_at, ',' ORDER BY version) FROM medallion.schema_migrations")
out=$("$MEDALLIOND" migrate 2>&1)
assert_match "up to date" "$out" "second migrate is a no-op"
after=$(qq "SELECT string_agg(version || applied_at, ',' ORDER BY version) FROM medallion.schema_migrations")
assert_eq "$before" "$after" "no row rewritten by a re-run"

# A changed applied file is refused and nothing runs.
first=$(ls "$tmp/m"/[0-9]*.sql | head -1)
echo "-- edited after the fact" >>"$first"
if out=$("$MEDALLIOND" migrate 2>&1); then
    md_fail "a changed applied migration must be refused"
else
    assert_match "$(basename "$first").*changed after it was applied" "$out" "refusal names the changed file"
fi
cp "$MEDALLION_SOURCE_DIR/migrations/$(basename "$first")" "$first"

# A failing migration rolls back whole and names file and error.
cat >"$tmp/m/900_broken.sql" <<'SQL'
CREATE TABLE medallion.half_done (x int);
SELECT no_such_function();
SQL
if out=$("$MEDALLIOND" migrate 2>&1); then
    md_fail "a failing migration must exit non-zero"
else
    assert_match "900_broken.sql failed.*no_such_function" "$out" "failure names file and PostgreSQL error"
fi
assert_eq "" "$(qq "SELECT to_regclass('medallion.half_done')")" "failed migration rolled back"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.schema_migrations WHERE version = '900_broken'")" "failed migration not recorded"
rm "$tmp/m/900_broken.sql"

# Two processes migrating a fresh database at once: both succeed, each file once.
md_emptydb "t_migrate_par_$$"
"$MEDALLIOND" migrate >"$tmp/a.log" 2>&1 & pa=$!
"$MEDALLIOND" migrate >"$tmp/b.log" 2>&1 & pb=$!
ra=0; rb=0
wait $pa || ra=$?
wait $pb || rb=$?
assert_eq "0 0" "$ra $rb" "concurrent migrations both exit 0"
assert_eq "$nfiles" "$(qq 'SELECT count(*) FROM medallion.schema_migrations')" "concurrent migrations apply each file once"

# No database reachable: clear error, exit 1, no password echoed.
export MEDALLION_DATABASE_URL="postgresql://etl:s3cretpw@127.0.0.1:1/none"
out=$("$MEDALLIOND" migrate 2>&1) && md_fail "unreachable database must fail" || assert_match "cannot connect" "$out" "unreachable database reported"
if [[ "$out" == *s3cretpw* ]]; then md_fail "password leaked in error: $out"; else md_ok "password not echoed"; fi

# Malformed or misread URLs: libpq's own messages quote pieces of them, and a
# password with an unencoded '/' or '@' is misread as a host or port. No
# piece of the password may reach the output of any command.
for url in 'postgresql://u:Pw1s3cret@[::1:bad/db' 'postgresql://u:Pw1s3cret%zz@127.0.0.1:1/db' \
    'postgresql://etl:Pw1/s3cret==@127.0.0.1:1/postgres' 'postgresql://u:Pw1@s3cret@127.0.0.1:1/db' \
    'host=127.0.0.1 port=1 password Pw1s3cret' 'host=127.0.0.1 port=1 password=Pw1\ s3cret'; do
    for cmd in migrate status check-config; do
        out=$(MEDALLION_DATABASE_URL="$url" "$MEDALLIOND" $cmd 2>&1) || true
        if [[ "$out" == *s3cret* || "$out" == *Pw1* ]]; then
            md_fail "$cmd with $url leaks the password: $out"
        else
            md_ok "$cmd: no piece of the password in the output ($url)"
        fi
    done
done

md_finish
