#!/usr/bin/env bash
# clean_events with overlapping pages (write_connections: 2, the default, up
# to 4): page n+1 is read and written on another connection while page n's
# COPY still runs. Checked here:
#   - the result of 2, 3 and 4 connections equals a one-connection run of the
#     same rows, row for row, retries across page boundaries included, and the
#     plain-SQL dedup rule;
#   - a page whose batch position changed under it is rolled back, never
#     committed past (the compare-and-set), and the next run is exactly-once;
#   - a timeout while the second connection's COPY is stuck cancels it.
source "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
batch=37 # odd, so that retries of an event straddle page boundaries

cfg() { # file write_connections [timeout]
    printf 'jobs:\n  clean_events: {batch_size: %s, write_connections: %s, timeout: %s}\n' \
        "$batch" "$2" "${3:-5m}" >"$1"
}
cfg "$tmp/two.yaml" 2
exactly_once() {
    qq "SELECT count(*) FROM analytics.events_raw r
        WHERE (SELECT count(*) FROM analytics.events_clean c WHERE c.id = r.id)
            + (SELECT count(*) FROM medallion.duplicates d WHERE d.source_table = 'events_raw' AND d.bronze_id = r.id) <> 1"
}

# --- same rows, one connection vs two, three and four ------------------------
md_newdb "t_overlap_data_$$"
data="$PGDATABASE"
qfile "$MEDALLION_SOURCE_DIR/scripts/demo_data.sql" -v events=6000 -v users=200 -v days=20 -v seed=23 \
    -v transactions=0 -v api_logs=0 -v user_actions=0
# The generator's retries follow their original within a page. Add retries 90
# rows (2 to 3 pages) later, so that wider rings see their kept copy still open.
qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, source, created_at)
    SELECT md5('late-retry-' || CASE WHEN g % 50 = 0 AND g > 90 THEN g - 90 ELSE g END)::uuid,
           'page_view', md5('user-' || g % 7)::uuid, 's-' || g, 'web', now() - interval '1 hour'
    FROM generate_series(1, 600) g ORDER BY g" >/dev/null
rows() { # database: silver and ledger rows, minus what differs by run (time, xid)
    psql -X -A -t -q -d "$1" -c "
      SELECT 'c', id, event_id, event_type, user_id, session_id, properties, source, created_at,
             ingested_at, is_valid, quality_score, validation_errors FROM analytics.events_clean
      UNION ALL
      SELECT 'd', bronze_id, NULL, source_table, NULL, dedup_key, NULL, kept_id::text, NULL, NULL,
             NULL, NULL, NULL FROM medallion.duplicates
      ORDER BY 1, 2" | md5sum
}
for w in 1 2 3 4; do
    db="t_overlap_w${w}_$$"
    psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$db\"" \
        -c "CREATE DATABASE \"$db\" TEMPLATE \"$data\"" >/dev/null
    cfg "$tmp/w$w.yaml" "$w"
    out=$(MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$db" \
        "$MEDALLIOND" run -c "$tmp/w$w.yaml" clean_events 2>&1) || md_fail "run with $w connection(s): $out"
    sum[$w]=$(rows "$db")
done
for w in 2 3 4; do
    assert_eq "${sum[1]}" "${sum[$w]}" "$w connections write exactly what one does"
done

# Four wanted, three allowed (a role limited to 3 connections: work, lock and
# one extra): the run narrows to the connections it got and says so.
lim="t_overlap_lim_$$"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$lim\"" \
    -c "CREATE DATABASE \"$lim\" TEMPLATE \"$data\"" \
    -c "DROP ROLE IF EXISTS \"$lim\"" -c "CREATE ROLE \"$lim\" LOGIN BYPASSRLS CONNECTION LIMIT 3" >/dev/null
psql -X -q -d "$lim" -v ON_ERROR_STOP=1 -c "
    GRANT USAGE ON SCHEMA analytics, medallion TO \"$lim\";
    GRANT ALL ON ALL TABLES IN SCHEMA analytics, medallion TO \"$lim\";
    GRANT ALL ON ALL SEQUENCES IN SCHEMA analytics, medallion TO \"$lim\"" >/dev/null
out=$(MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=$lim dbname=$lim" \
    "$MEDALLIOND" run -c "$tmp/w4.yaml" clean_events 2>&1) || md_fail "run with 4 wanted, 3 allowed: $out"
assert_match "cannot open another write connection, writing on those it has" "$out" "the run says it writes on fewer"
assert_eq "${sum[1]}" "$(rows "$lim")" "and still writes exactly what one connection does"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$lim\"" -c "DROP ROLE IF EXISTS \"$lim\"" >/dev/null
two="t_overlap_w2_$$"
export PGDATABASE="$two" MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$two"
assert_eq "0" "$(exactly_once)" "every bronze row once in silver or the ledger"
# Pages in processing order, as the batches cut them.
pages="WITH p AS (SELECT id, (row_number() OVER (ORDER BY ingest_xid, id) - 1) / $batch AS page
                  FROM analytics.events_raw)"
straddling=$(qq "$pages SELECT count(*) FROM medallion.duplicates d JOIN p b ON b.id = d.bronze_id
                 JOIN p k ON k.id = d.kept_id WHERE b.page = k.page + 1")
assert_ne "0" "$straddling" "retries whose kept copy is in the page just before ($straddling), written while it was in flight"
further=$(qq "$pages SELECT count(*) FROM medallion.duplicates d JOIN p b ON b.id = d.bronze_id
              JOIN p k ON k.id = d.kept_id WHERE b.page - k.page IN (2, 3)")
assert_ne "0" "$further" "retries whose kept copy is 2 or 3 pages before ($further): open pages at widths 3 and 4"
assert_eq "0" "$(qq "WITH expected AS (
    SELECT id, min(id) OVER (PARTITION BY event_id) AS kept FROM analytics.events_raw WHERE event_id IS NOT NULL)
  SELECT count(*) FROM (
    (SELECT id, kept FROM expected WHERE id <> kept
     EXCEPT SELECT bronze_id, kept_id FROM medallion.duplicates)
    UNION ALL
    (SELECT bronze_id, kept_id FROM medallion.duplicates
     EXCEPT SELECT id, kept FROM expected WHERE id <> kept)) x")" "duplicates = every copy but the first, per plain SQL"
assert_eq "1" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE job_name = 'clean_events'
                     AND status = 'succeeded' AND rows_read = (SELECT count(*) FROM analytics.events_raw)
                     AND rows_written + rows_duplicate = rows_read")" "job_runs counts every row once"
for db in "$data" t_overlap_w1_$$ t_overlap_w3_$$ t_overlap_w4_$$; do
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null
done

# A slow page: inserting bronze id $1 into silver sleeps $2 seconds (test-only trigger).
slow_page() {
    qq "CREATE FUNCTION test_slow_page() RETURNS trigger LANGUAGE plpgsql AS \$\$
        BEGIN IF NEW.id = $1 THEN PERFORM pg_sleep($2); END IF; RETURN NEW; END \$\$;
        CREATE TRIGGER slow BEFORE INSERT ON analytics.events_clean
        FOR EACH ROW EXECUTE FUNCTION test_slow_page()" >/dev/null
}
no_slow_page() { qq "DROP TRIGGER slow ON analytics.events_clean; DROP FUNCTION test_slow_page()" >/dev/null; }
fresh_events() { # n rows, all in one transaction
    md_newdb "t_overlap_$1_$$"
    qq "INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, source)
        SELECT gen_random_uuid(), 'page_view', gen_random_uuid(), 's-' || g, 'web'
        FROM generate_series(1, $2) g" >/dev/null
}
position() { qq "SELECT coalesce(last_id, -1) FROM medallion.batch_positions WHERE job_name = 'clean_events'"; }

# --- the position changes under an open page ---------------------------------
fresh_events cas 400
slow_page $((2 * batch + 5)) 3 # the third page sleeps in its COPY
"$MEDALLIOND" run -c "$tmp/two.yaml" clean_events >"$tmp/cas.out" 2>&1 &
pid=$!
for _ in $(seq 100); do [ "$(position)" = "$((2 * batch))" ] && break; sleep 0.05; done
assert_eq "$((2 * batch))" "$(position)" "two pages committed, the third is open"
# Someone else moves the position while the third page is open.
qq "UPDATE medallion.batch_positions SET last_id = last_id + 1000000 WHERE job_name = 'clean_events'" >/dev/null
wait "$pid" && md_fail "the run with a moved position must fail" || md_ok "the run with a moved position fails"
assert_match "batch position of clean_events changed under this run" "$(cat "$tmp/cas.out")" "and says why"
assert_eq "$((2 * batch))" "$(qq "SELECT count(*) FROM analytics.events_clean")" "nothing past the moved position committed"
qq "UPDATE medallion.batch_positions SET last_id = last_id - 1000000 WHERE job_name = 'clean_events'" >/dev/null
no_slow_page
"$MEDALLIOND" run -c "$tmp/two.yaml" clean_events >/dev/null 2>&1 || md_fail "the run after the conflict"
assert_eq "0" "$(exactly_once)" "the next run is exactly-once"
assert_eq "400" "$(qq "SELECT count(*) FROM analytics.events_clean")" "all 400 rows in silver"

# --- a timeout while the second connection's COPY is stuck -------------------
fresh_events timeout 200
slow_page $((batch + 5)) 30 # the second page: written on the second connection
cfg "$tmp/timeout.yaml" 2 1s
t0=$(date +%s)
"$MEDALLIOND" run -c "$tmp/timeout.yaml" clean_events >/dev/null 2>&1 && md_fail "a timed-out run must fail"
took=$(($(date +%s) - t0))
[ "$took" -lt 10 ] && md_ok "the stuck COPY was cancelled (${took}s, not 30s)" || md_fail "the run took ${took}s"
assert_eq "timed_out" "$(qq "SELECT status FROM medallion.job_runs ORDER BY run_id DESC LIMIT 1")" "recorded as timed_out"
assert_eq "0" "$(qq "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                     AND state = 'active' AND query LIKE 'COPY%'")" "no COPY left running in the server"
no_slow_page
"$MEDALLIOND" run -c "$tmp/two.yaml" clean_events >/dev/null 2>&1 || md_fail "the run after the timeout"
assert_eq "0" "$(exactly_once)" "exactly-once after the timeout"

md_finish
