#!/usr/bin/env bash
# Row-level security and the Supabase shim: who may read and write which layer,
# as the roles anon, authenticated (with JWT claims) and service_role. Must fail
# if a user can see another user's silver rows, if anyone but service_role can
# read bronze, or if the migrations would replace an existing auth.uid().
source "$(dirname "$0")/lib.sh"
md_newdb

SRC="${MEDALLION_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
U1=11111111-1111-4111-8111-111111111111
U2=22222222-2222-4222-8222-222222222222

# as ROLE SUB "SQL": run SQL in one session as ROLE, with JWT sub claim SUB ('' = no claims).
as() {
    local role="$1" sub="$2"; shift 2
    local claims=()
    if [ -n "$sub" ]; then claims=(-c "SET request.jwt.claims = '{\"sub\":\"$sub\",\"role\":\"$role\"}'"); fi
    psql -X -A -t -q -v ON_ERROR_STOP=1 -c "SET ROLE $role" "${claims[@]}" -c "$1"
}

# --- roles and auth.uid() -------------------------------------------------------
assert_eq "anon|false|false|authenticated|false|false|service_role|false|true" \
    "$(qq "SELECT string_agg(rolname || '|' || rolcanlogin || '|' || rolbypassrls, '|' ORDER BY rolname)
           FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')")" \
    "roles exist, NOLOGIN, only service_role bypasses RLS"
assert_eq "$U1" "$(as authenticated "$U1" "SELECT auth.uid()")" "auth.uid() reads request.jwt.claims sub"
assert_eq "" "$(as authenticated "" "SELECT auth.uid()")" "auth.uid() is NULL without claims"
assert_eq "$U2" "$(psql -X -A -t -q -c "SET request.jwt.claim.sub = '$U2'" -c "SELECT auth.uid()")" \
    "auth.uid() reads the legacy request.jwt.claim.sub"
assert_eq "$U1" "$(psql -X -A -t -q -c "SET request.jwt.claim.sub = ''" \
    -c "SET request.jwt.claims = '{\"sub\":\"$U1\"}'" -c "SELECT auth.uid()")" \
    "an empty legacy claim falls back to request.jwt.claims"
assert_eq "" "$(psql -X -A -t -q -c "SET request.jwt.claims = ''" -c "SELECT auth.uid()")" "empty claims give NULL"

# --- RLS enabled, not forced, on every bronze/silver/gold table -------------------
assert_eq "api_logs_clean,api_logs_raw,daily_metrics,events_clean,events_raw,kpi_dashboard,revenue_summary,transactions_raw,transactions_validated,user_actions_clean,user_actions_raw,user_cohorts,user_sessions" \
    "$(qq "SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class
           WHERE relnamespace = 'analytics'::regnamespace AND relkind = 'r' AND relrowsecurity AND NOT relforcerowsecurity")" \
    "RLS enabled (not forced) on all bronze, silver and gold tables"
assert_eq "user_read_own_events" \
    "$(qq "SELECT policyname FROM pg_policies WHERE schemaname = 'analytics' AND tablename = 'events_clean' AND roles = '{authenticated}'")" \
    "seed policy name user_read_own_events"
assert_eq "13" "$(qq "SELECT count(*) FROM pg_policies WHERE schemaname = 'analytics' AND policyname = 'service_role_all'
                      AND roles = '{service_role}' AND cmd = 'ALL'")" "service_role_all on all 13 tables"
assert_eq "4" "$(qq "SELECT count(*) FROM pg_policies WHERE schemaname = 'analytics' AND policyname = 'authenticated_read_metrics'
                     AND cmd = 'SELECT'")" "authenticated_read_metrics on the 4 gold tables"

# --- fixture rows, written by the owner (as the daemon would) -----------------------
qq "INSERT INTO analytics.events_clean (id, event_id, event_type, user_id, session_id, created_at, ingested_at, is_valid, quality_score)
    VALUES (1, gen_random_uuid(), 'page_view', '$U1', 's1', now(), now(), true, 1),
           (2, gen_random_uuid(), 'click', '$U1', 's1', now(), now(), true, 1),
           (3, gen_random_uuid(), 'click', '$U1', NULL, now(), now(), true, 0.7),
           (4, gen_random_uuid(), 'page_view', '$U2', 's2', now(), now(), true, 1),
           (5, gen_random_uuid(), 'page_view', '$U2', 's2', now(), now(), true, 1),
           (6, gen_random_uuid(), 'page_view', NULL, 's3', now(), now(), true, 0.5)"
qq "INSERT INTO analytics.transactions_validated (id, user_id, ingested_at, is_valid, is_duplicate, fraud_score)
    VALUES (1, '$U1', now(), true, false, 0.1), (2, '$U2', now(), true, false, 0.1), (3, '$U2', now(), true, false, 0.1)"
qq "INSERT INTO analytics.api_logs_clean (id, user_id, ingested_at, is_valid, is_error)
    VALUES (1, '$U1', now(), true, false), (2, '$U2', now(), true, false), (3, NULL, now(), true, false)"
qq "INSERT INTO analytics.user_actions_clean (id, user_id, ingested_at, is_valid)
    VALUES (1, '$U1', now(), true), (2, '$U1', now(), true), (3, '$U2', now(), true)"
qq "INSERT INTO analytics.user_sessions (session_id, user_id, started_at, ended_at, duration_seconds, event_count, session_date)
    VALUES ('a', '$U1', now(), now(), 0, 1, current_date), ('b', '$U2', now(), now(), 0, 1, current_date),
           ('c', NULL, now(), now(), 0, 1, current_date)"
qq "INSERT INTO analytics.daily_metrics (date, active_users) VALUES (current_date - 1, 2), (current_date - 2, 1)"
qq "INSERT INTO analytics.revenue_summary (date) VALUES (current_date - 1)"
qq "INSERT INTO analytics.user_cohorts (cohort_month) VALUES (date_trunc('month', current_date)::date)"
qq "INSERT INTO analytics.kpi_dashboard (metric_name, time_period, metric_value) VALUES ('active_users', '24h', 2)"
qq "INSERT INTO medallion.job_runs (job_name, status, instance) VALUES ('clean_events', 'succeeded', 'h:1')"

# --- authenticated: own silver rows only ---------------------------------------------
assert_eq "3|$U1" "$(as authenticated "$U1" "SELECT count(*), string_agg(DISTINCT user_id::text, ',') FROM analytics.events_clean")" \
    "U1 sees exactly its 3 events_clean rows"
assert_eq "2|$U2" "$(as authenticated "$U2" "SELECT count(*), string_agg(DISTINCT user_id::text, ',') FROM analytics.events_clean")" \
    "U2 sees exactly its 2 events_clean rows"
assert_eq "0" "$(as authenticated "" "SELECT count(*) FROM analytics.events_clean")" "no claims: no events_clean rows (not even NULL-user rows)"
assert_eq "1|1|2|1" "$(as authenticated "$U1" "SELECT (SELECT count(*) FROM analytics.transactions_validated),
        (SELECT count(*) FROM analytics.api_logs_clean), (SELECT count(*) FROM analytics.user_actions_clean),
        (SELECT count(*) FROM analytics.user_sessions)")" "U1 sees only its own transactions, api logs, actions, sessions"
assert_eq "2|1|1|1" "$(as authenticated "$U2" "SELECT (SELECT count(*) FROM analytics.transactions_validated),
        (SELECT count(*) FROM analytics.api_logs_clean), (SELECT count(*) FROM analytics.user_actions_clean),
        (SELECT count(*) FROM analytics.user_sessions)")" "U2 sees only its own transactions, api logs, actions, sessions"
assert_fails "authenticated cannot write silver" as authenticated "$U1" \
    "INSERT INTO analytics.events_clean (id, user_id, ingested_at, is_valid, quality_score) VALUES (100, '$U1', now(), true, 1)"
assert_fails "authenticated cannot update silver" as authenticated "$U1" "UPDATE analytics.events_clean SET is_valid = false"

# --- authenticated: gold and reference data readable ----------------------------------
assert_eq "2|1|1|1" "$(as authenticated "$U1" "SELECT (SELECT count(*) FROM analytics.daily_metrics),
        (SELECT count(*) FROM analytics.revenue_summary), (SELECT count(*) FROM analytics.user_cohorts),
        (SELECT count(*) FROM analytics.kpi_dashboard)")" "authenticated reads all gold rows"
assert_eq "2" "$(as authenticated "" "SELECT count(*) FROM analytics.daily_metrics")" "gold readable without a sub claim too"
assert_eq "2" "$(as authenticated "$U1" "SELECT minor_unit FROM analytics.currencies WHERE code = 'USD'")" "authenticated reads currencies"
assert_eq "1" "$(as authenticated "$U1" "SELECT count(*) FROM analytics.fx_rates WHERE currency = 'EUR'")" "authenticated reads fx_rates"
assert_fails "authenticated cannot write gold" as authenticated "$U1" "INSERT INTO analytics.daily_metrics (date) VALUES ('2001-01-01')"
assert_fails "authenticated cannot change fx rates" as authenticated "$U1" "DELETE FROM analytics.fx_rates"
assert_fails "authenticated cannot read medallion.job_runs" as authenticated "$U1" "SELECT count(*) FROM medallion.job_runs"

# --- bronze: authenticated inserts own or anonymous rows, never reads ----------------
declare -A INS=(
    [events_raw]="INSERT INTO analytics.events_raw (event_type, user_id, session_id, properties, source) VALUES ('page_view', %s, 's', '{}', 'web')"
    [transactions_raw]="INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status) VALUES ('pi_1', %s, 10, 'USD', 'pending')"
    [api_logs_raw]="INSERT INTO analytics.api_logs_raw (method, path, status_code, user_id) VALUES ('GET', '/x', 200, %s)"
    [user_actions_raw]="INSERT INTO analytics.user_actions_raw (user_id, action, entity_type, entity_id) VALUES (%s, 'view', 'document', '1')"
)
for t in events_raw transactions_raw api_logs_raw user_actions_raw; do
    tpl="${INS[$t]}"
    # shellcheck disable=SC2059
    assert_succeeds "$t: authenticated inserts a row for itself (identity + defaults, no RETURNING)" \
        as authenticated "$U1" "$(printf "$tpl" "'$U1'")"
    # shellcheck disable=SC2059
    assert_succeeds "$t: authenticated inserts an anonymous (NULL user) row" as authenticated "$U1" "$(printf "$tpl" NULL)"
    # shellcheck disable=SC2059
    assert_succeeds "$t: auth.uid() as the user_id works" as authenticated "$U1" "$(printf "$tpl" "auth.uid()")"
    # shellcheck disable=SC2059
    out=$(as authenticated "$U1" "$(printf "$tpl" "'$U2'")" 2>&1 || true)
    assert_match "row-level security" "$out" "$t: authenticated cannot insert a row for another user"
    # shellcheck disable=SC2059
    assert_fails "$t: no claims: cannot insert for a user" as authenticated "" "$(printf "$tpl" "'$U1'")"
    out=$(as authenticated "$U1" "SELECT count(*) FROM analytics.$t" 2>&1 || true)
    assert_match "permission denied" "$out" "$t: authenticated cannot SELECT bronze"
    assert_fails "$t: authenticated cannot UPDATE bronze" as authenticated "$U1" "UPDATE analytics.$t SET source = 'x'"
    assert_fails "$t: authenticated cannot DELETE bronze" as authenticated "$U1" "DELETE FROM analytics.$t"
    assert_eq "3|$U1" "$(qq "SELECT count(*), string_agg(DISTINCT user_id::text, ',') FROM analytics.$t")" \
        "$t: exactly the 3 allowed rows landed (2 for U1, 1 anonymous)"
    assert_eq "t" "$(qq "SELECT bool_and(id IS NOT NULL AND ingested_at IS NOT NULL AND ingest_xid IS NOT NULL) FROM analytics.$t")" \
        "$t: identity and defaults filled for authenticated inserts"
done

# --- anon: nothing ---------------------------------------------------------------
for t in events_raw events_clean transactions_validated user_sessions daily_metrics kpi_dashboard; do
    out=$(as anon "" "SELECT count(*) FROM analytics.$t" 2>&1 || true)
    assert_match "permission denied" "$out" "anon cannot read analytics.$t"
done
assert_fails "anon cannot insert bronze" as anon "" "INSERT INTO analytics.events_raw (event_type) VALUES ('x')"
assert_fails "anon cannot read currencies" as anon "" "SELECT count(*) FROM analytics.currencies"
assert_fails "anon cannot read medallion.job_runs" as anon "" "SELECT count(*) FROM medallion.job_runs"

# --- service_role: everything ----------------------------------------------------------
assert_eq "6|3|3|3|3|9" "$(as service_role "" "SELECT (SELECT count(*) FROM analytics.events_clean),
        (SELECT count(*) FROM analytics.transactions_validated), (SELECT count(*) FROM analytics.api_logs_clean),
        (SELECT count(*) FROM analytics.user_actions_clean), (SELECT count(*) FROM analytics.user_sessions),
        (SELECT count(*) FROM analytics.events_raw) + (SELECT count(*) FROM analytics.transactions_raw)
          + (SELECT count(*) FROM analytics.api_logs_raw)")" "service_role sees all silver and bronze rows"
assert_eq "6" "$(as service_role "$U1" "SELECT count(*) FROM analytics.events_clean")" "service_role sees all rows even with a sub claim"
assert_succeeds "service_role inserts bronze for any user" as service_role "" \
    "INSERT INTO analytics.events_raw (event_type, user_id) VALUES ('x', '$U2');
     INSERT INTO analytics.transactions_raw (external_id, user_id) VALUES ('y', '$U2')"
assert_succeeds "service_role writes silver and gold" as service_role "" \
    "INSERT INTO analytics.events_clean (id, user_id, ingested_at, is_valid, quality_score) VALUES (100, '$U2', now(), true, 1);
     UPDATE analytics.daily_metrics SET active_users = 3 WHERE date = current_date - 1"
# RLS applies to COPY: only a role that bypasses it (service_role, the owner) can COPY in.
assert_succeeds "service_role COPYs into an RLS table (BYPASSRLS)" bash -c \
    "printf 'copied\\t$U1\\n' | psql -X -q -v ON_ERROR_STOP=1 -c 'SET ROLE service_role' \
         -c 'COPY analytics.events_raw (event_type, user_id) FROM STDIN'"
assert_eq "1" "$(qq "SELECT count(*) FROM analytics.events_raw WHERE event_type = 'copied' AND user_id = '$U1'")" \
    "the COPYed row landed"
out=$(printf 'x\t%s\n' "$U1" | psql -X -q -v ON_ERROR_STOP=1 -c 'SET ROLE authenticated' \
      -c "SET request.jwt.claims = '{\"sub\":\"$U1\"}'" -c 'COPY analytics.events_raw (event_type, user_id) FROM STDIN' 2>&1 || true)
assert_match "row-level security" "$out" "authenticated cannot COPY into bronze (RLS applies to COPY)"
assert_eq "1" "$(as service_role "" "SELECT count(*) FROM medallion.job_runs")" "service_role reads medallion.job_runs"
assert_fails "authenticated cannot write medallion.job_runs" as authenticated "$U1" "DELETE FROM medallion.job_runs"

# --- producers write the contract's columns, never the database's ----------------
for col in "id|1000" "ingested_at|'2030-01-01'" "ingest_xid|'5'"; do
    c=${col%%|*}; v=${col#*|}
    out=$(as authenticated "$U1" "INSERT INTO analytics.events_raw (event_type, user_id, $c) VALUES ('x', auth.uid(), $v)" 2>&1 || true)
    assert_match "permission denied" "$out" "authenticated cannot set events_raw.$c"
done
assert_succeeds "service_role may still set them" as service_role "" \
    "INSERT INTO analytics.events_raw (id, event_type, ingested_at) VALUES (1000, 'x', now())"
qq "DELETE FROM analytics.events_raw WHERE id = 1000" >/dev/null

# --- the daemon's own work as service_role (product.md §3: the role WITH BYPASSRLS) ---
# A login role that is a member of service_role and takes it on at connect,
# on a database of its own with demo data (the one above holds made-up silver).
md_newdb "t_rls_etl_$$"
qfile "$SRC/scripts/demo_data.sql" -v events=2000 -v users=50 -v days=10 -v seed=3
qq "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'md_etl') THEN
      CREATE ROLE md_etl LOGIN; END IF; END \$\$; GRANT service_role TO md_etl" >/dev/null
as_etl() { env -u PGOPTIONS MEDALLION_DATABASE_URL="$MEDALLION_DATABASE_URL user=md_etl options='-c role=service_role'" "$@"; }
rc=0; out=$(as_etl "$MEDALLIOND" run --all 2>&1) || rc=$?
assert_eq "0" "$rc" "run --all as service_role: exit 0 ($out)"
assert_eq "0" "$(qq "SELECT count(*) FROM medallion.job_runs WHERE trigger = 'manual' AND status <> 'succeeded'")" \
    "every run as service_role succeeded"
rc=0; out=$(as_etl "$MEDALLIOND" status 2>&1) || rc=$?
assert_eq "0" "$rc" "status as service_role: exit 0"
rc=0; out=$(as_etl "$MEDALLIOND" reprocess --from 2000-01-01T00:00:00Z --to 2100-01-01T00:00:00Z clean_events 2>&1) || rc=$?
assert_eq "0" "$rc" "reprocess as service_role: exit 0 ($out)"

# --- the shim never replaces Supabase's existing objects -------------------------------
# Simulate a Supabase database: roles exist (cluster-wide, from the template) and an
# auth.uid() with its own body already exists. Applying every migration must keep it.
SUPA_DB="t_rls_supabase_$$"
psql -X -q -d postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$SUPA_DB\"" \
    -c "CREATE DATABASE \"$SUPA_DB\" TEMPLATE template0" >/dev/null
psql -X -q -d "$SUPA_DB" -v ON_ERROR_STOP=1 -c "CREATE SCHEMA auth;
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS \$\$ SELECT '$U2'::uuid \$\$" >/dev/null
ok=1
for f in "$SRC"/migrations/*.sql; do
    if ! psql -X -q -d "$SUPA_DB" --single-transaction -v ON_ERROR_STOP=1 -f "$f" >/dev/null 2>&1; then
        ok=0; md_fail "migration $(basename "$f") fails where roles and auth.uid() exist"; break
    fi
done
[ "$ok" = 1 ] && md_ok "all migrations apply where roles and auth.uid() already exist"
assert_eq "$U2" "$(psql -X -A -t -q -d "$SUPA_DB" -c "SET request.jwt.claims = '{\"sub\":\"$U1\"}'" -c "SELECT auth.uid()")" \
    "an existing auth.uid() is kept, not replaced"
assert_eq "1" "$(psql -X -A -t -q -d "$SUPA_DB" -c "SELECT count(*) FROM pg_proc WHERE proname = 'uid' AND pronamespace = 'auth'::regnamespace")" \
    "exactly one auth.uid()"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$SUPA_DB\"" >/dev/null

md_finish
