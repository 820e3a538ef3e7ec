#!/usr/bin/env bash
# scripts/demo_data.sql: deterministic (same parameters, same rows; another seed,
# other rows), exact volumes, data ending on the anchor date, and every dirty
# case the pipeline must survive present at least once. Must fail if the
# generator starts depending on random(), now() or plan order.
source "$(dirname "$0")/lib.sh"

SRC="${MEDALLION_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"
GEN="$SRC/scripts/demo_data.sql"
BRONZE="events_raw transactions_raw api_logs_raw user_actions_raw"
PARAMS=(-v events=20000 -v users=500 -v days=60 -v seed=7 -v "anchor='2026-03-15'")
DBS=()
cleanup() { for d in "${DBS[@]}"; do psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$d\"" >/dev/null 2>&1 || true; done; }
trap cleanup EXIT

newdb() { md_newdb "t_demo_${1}_$$"; DBS+=("$PGDATABASE"); }
# digest DB SCHEMA TABLE: md5 of all rows in id order, every column but ingest_xid.
digest() {
    psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$1" -c "SELECT md5(coalesce(string_agg((to_jsonb(t) - 'ingest_xid')::text, E'\n'
        ORDER BY t.id), '')) || ':' || count(*) FROM $2.$3 t"
}

# --- determinism ----------------------------------------------------------------------
newdb a; qfile "$GEN" "${PARAMS[@]}"
newdb b; qfile "$GEN" "${PARAMS[@]}"
newdb c; qfile "$GEN" -v events=20000 -v users=500 -v days=60 -v seed=8 -v "anchor='2026-03-15'" \
    -v transactions=123 -v api_logs=45 -v user_actions=67
A="t_demo_a_$$" B="t_demo_b_$$" C="t_demo_c_$$"
for t in $BRONZE; do
    da=$(digest "$A" analytics "$t")
    assert_eq "$da" "$(digest "$B" analytics "$t")" "$t: same parameters give identical rows"
    assert_ne "${da%%:*}" "$(digest "$C" analytics "$t" | cut -d: -f1)" "$t: another seed gives other rows"
done

# --- volumes --------------------------------------------------------------------------
export PGDATABASE="$A"
assert_eq "20000|1000|2000|2000" "$(qq "SELECT (SELECT count(*) FROM analytics.events_raw), (SELECT count(*) FROM analytics.transactions_raw),
        (SELECT count(*) FROM analytics.api_logs_raw), (SELECT count(*) FROM analytics.user_actions_raw)")" \
    "default volumes: transactions = events/20, api logs and user actions = events/10"
assert_eq "20000|123|45|67" "$(PGDATABASE=$C qq "SELECT (SELECT count(*) FROM analytics.events_raw), (SELECT count(*) FROM analytics.transactions_raw),
        (SELECT count(*) FROM analytics.api_logs_raw), (SELECT count(*) FROM analytics.user_actions_raw)")" \
    "explicit volumes are exact"
assert_eq "1|20000" "$(qq "SELECT min(id), max(id) FROM analytics.events_raw")" "ids are 1..N in a fresh database"

# --- time range: the last :days days, ending on the anchor date --------------------------------
assert_eq "2026-03-15" "$(qq "SELECT max(created_at)::date FROM analytics.events_raw WHERE created_at <= ingested_at")" \
    "events end on the anchor date"
assert_eq "t" "$(qq "SELECT min(created_at) >= date '2026-03-15' - 61 FROM analytics.events_raw WHERE created_at >= '2000-01-01'")" \
    "events start within :days of the anchor"
assert_eq "t" "$(qq "SELECT count(*) FILTER (WHERE created_at >= date '2026-03-15' - 7) > 0.08 * count(*) FROM analytics.events_raw")" \
    "a good share of events falls in the last 7 days"
for t in transactions_raw api_logs_raw user_actions_raw; do
    assert_eq "t" "$(qq "SELECT max(created_at)::date = '2026-03-15' AND min(created_at) >= date '2026-03-15' - 61
                         FROM analytics.$t WHERE created_at <= ingested_at")" "$t: within :days, ending on the anchor date"
done
assert_eq "t" "$(qq "SELECT count(DISTINCT user_id) BETWEEN 100 AND 500 FROM analytics.events_raw")" "events spread over up to :users users"

# --- dirty cases: each present at least once -------------------------------------------------
declare -a CASES=(
    "events: client retries share event_id and content|SELECT count(*) FROM (SELECT event_id FROM analytics.events_raw WHERE event_id IS NOT NULL GROUP BY event_id HAVING count(*) > 1 AND count(DISTINCT md5(row(event_type, user_id, session_id, properties, source, created_at)::text)) = 1) x"
    "events: retries that differ in content (must be none)|SELECT 1 - count(*) FROM (SELECT event_id FROM analytics.events_raw WHERE event_id IS NOT NULL GROUP BY event_id HAVING count(DISTINCT md5(row(event_type, user_id, session_id, properties, source, created_at)::text)) > 1) x"
    "events: a retried event sent 4 times|SELECT count(*) FROM (SELECT event_id FROM analytics.events_raw WHERE event_id IS NOT NULL GROUP BY event_id HAVING count(*) = 4) x"
    "events: retries are 1-6% of rows|SELECT (sum(n - 1) BETWEEN 0.01 * 20000 AND 0.06 * 20000)::int FROM (SELECT count(*) n FROM analytics.events_raw WHERE event_id IS NOT NULL GROUP BY event_id) x"
    "events: null event_id|SELECT count(*) FROM analytics.events_raw WHERE event_id IS NULL"
    "events: null event_type|SELECT count(*) FROM analytics.events_raw WHERE event_type IS NULL"
    "events: 'Page View'|SELECT count(*) FROM analytics.events_raw WHERE event_type = 'Page View'"
    "events: ' page_view '|SELECT count(*) FROM analytics.events_raw WHERE event_type = ' page_view '"
    "events: 'PAGE_VIEW'|SELECT count(*) FROM analytics.events_raw WHERE event_type = 'PAGE_VIEW'"
    "events: 'pageView'|SELECT count(*) FROM analytics.events_raw WHERE event_type = 'pageView'"
    "events: click, form_submit, purchase|SELECT count(DISTINCT event_type) - 2 FROM analytics.events_raw WHERE event_type IN ('click', 'form_submit', 'purchase')"
    "events: source ' Web'|SELECT count(*) FROM analytics.events_raw WHERE source = ' Web'"
    "events: source 'IOS'|SELECT count(*) FROM analytics.events_raw WHERE source = 'IOS'"
    "events: source 'android'|SELECT count(*) FROM analytics.events_raw WHERE source = 'android'"
    "events: null source|SELECT count(*) FROM analytics.events_raw WHERE source IS NULL"
    "events: anonymous (no user, client session)|SELECT count(*) FROM analytics.events_raw WHERE user_id IS NULL AND session_id IS NOT NULL"
    "events: neither user nor session|SELECT count(*) FROM analytics.events_raw WHERE user_id IS NULL AND session_id IS NULL"
    "events: user without session|SELECT count(*) FROM analytics.events_raw WHERE user_id IS NOT NULL AND session_id IS NULL"
    "events: null created_at (0.2-1%)|SELECT (count(*) FILTER (WHERE created_at IS NULL) BETWEEN 0.002 * count(*) AND 0.01 * count(*))::int FROM analytics.events_raw"
    "events: future created_at > ingested_at + 24h (0.2-1%)|SELECT (count(*) FILTER (WHERE created_at > ingested_at + interval '24 hours') BETWEEN 0.002 * count(*) AND 0.01 * count(*))::int FROM analytics.events_raw"
    "events: created_at before 2000|SELECT count(*) FROM analytics.events_raw WHERE created_at < '2000-01-01'"
    "events: late arrivals (ingested > 1h after created)|SELECT count(*) FROM analytics.events_raw WHERE ingested_at > created_at + interval '1 hour' AND created_at >= '2000-01-01'"
    "events: ingested_at shortly after created_at for most|SELECT (count(*) FILTER (WHERE ingested_at - created_at BETWEEN interval '0' AND interval '5 minutes') > 0.95 * count(*))::int FROM analytics.events_raw"
    "events: properties.page is a number|SELECT count(*) FROM analytics.events_raw WHERE jsonb_typeof(properties->'page') = 'number'"
    "events: properties.page is nested junk|SELECT count(*) FROM analytics.events_raw WHERE jsonb_typeof(properties->'page') = 'object'"
    "events: properties is an array|SELECT count(*) FROM analytics.events_raw WHERE jsonb_typeof(properties) = 'array'"
    "events: properties is a string|SELECT count(*) FROM analytics.events_raw WHERE jsonb_typeof(properties) = 'string'"
    "events: null properties|SELECT count(*) FROM analytics.events_raw WHERE properties IS NULL"
    "events: session > 24h of continuous activity (gaps < 30 min)|SELECT count(*) FROM (SELECT session_id, max(g) mg, max(created_at) - min(created_at) span FROM (SELECT session_id, created_at, created_at - lag(created_at) OVER (PARTITION BY session_id ORDER BY created_at) g FROM analytics.events_raw WHERE session_id IS NOT NULL AND created_at BETWEEN '2000-01-01' AND ingested_at + interval '1 day') x GROUP BY session_id) y WHERE span > interval '24 hours' AND mg < interval '30 minutes'"
    "events: idle gap > 30 min inside a client session|SELECT count(*) FROM (SELECT created_at - lag(created_at) OVER (PARTITION BY session_id ORDER BY created_at) g FROM analytics.events_raw WHERE session_id IS NOT NULL AND created_at BETWEEN '2000-01-01' AND ingested_at + interval '1 day') x WHERE g > interval '30 minutes' AND g < interval '1 day'"
    "events: sessions of several events minutes apart|SELECT (percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM g)) BETWEEN 30 AND 600)::int FROM (SELECT created_at - lag(created_at) OVER (PARTITION BY session_id ORDER BY created_at) g FROM analytics.events_raw WHERE session_id IS NOT NULL) x WHERE g > interval '0'"
    "tx: pending -> succeeded -> refunded|SELECT count(*) FROM (SELECT external_id FROM analytics.transactions_raw GROUP BY external_id HAVING bool_or(status = 'pending') AND bool_or(status = 'succeeded') AND bool_or(status = 'refunded')) x"
    "tx: pending -> failed|SELECT count(*) FROM (SELECT external_id FROM analytics.transactions_raw GROUP BY external_id HAVING bool_or(status = 'pending') AND bool_or(status = 'failed')) x"
    "tx: webhook retries (same external_id/status/amount/currency)|SELECT count(*) FROM (SELECT 1 FROM analytics.transactions_raw WHERE external_id IS NOT NULL GROUP BY external_id, status, amount, currency HAVING count(*) > 1) x"
    "tx: the 7 main currencies|SELECT count(DISTINCT currency) - 6 FROM analytics.transactions_raw WHERE currency IN ('USD','EUR','GBP','JPY','CAD','AUD','CHF')"
    "tx: lower-case padded ' eur'|SELECT count(*) FROM analytics.transactions_raw WHERE currency = ' eur'"
    "tx: padded 'GBP '|SELECT count(*) FROM analytics.transactions_raw WHERE currency = 'GBP '"
    "tx: unknown 'XYZ'|SELECT count(*) FROM analytics.transactions_raw WHERE currency = 'XYZ'"
    "tx: 'US\$'|SELECT count(*) FROM analytics.transactions_raw WHERE currency = 'US\$'"
    "tx: null currency|SELECT count(*) FROM analytics.transactions_raw WHERE currency IS NULL"
    "tx: negative amount|SELECT count(*) FROM analytics.transactions_raw WHERE amount < 0 AND amount <> '-Infinity'"
    "tx: zero amount|SELECT count(*) FROM analytics.transactions_raw WHERE amount = 0"
    "tx: huge amount 1e25|SELECT count(*) FROM analytics.transactions_raw WHERE amount = 1e25"
    "tx: amount with 3 decimals|SELECT count(*) FROM analytics.transactions_raw WHERE amount <> 'NaN' AND amount NOT IN ('Infinity', '-Infinity') AND scale(amount) = 3"
    "tx: NaN amount|SELECT count(*) FROM analytics.transactions_raw WHERE amount = 'NaN'"
    "tx: Infinity amount|SELECT count(*) FROM analytics.transactions_raw WHERE amount = 'Infinity'"
    "tx: null amount|SELECT count(*) FROM analytics.transactions_raw WHERE amount IS NULL"
    "tx: amounts above the 5000 fraud threshold|SELECT count(*) FROM analytics.transactions_raw WHERE amount BETWEEN 5000 AND 1e6"
    "tx: velocity (6+ by one user within 10 minutes)|SELECT count(*) FROM (SELECT count(*) OVER (PARTITION BY user_id ORDER BY created_at RANGE BETWEEN interval '10 minutes' PRECEDING AND CURRENT ROW) c FROM analytics.transactions_raw WHERE user_id IS NOT NULL AND created_at IS NOT NULL) x WHERE c >= 6"
    "tx: payment_method ' Card'|SELECT count(*) FROM analytics.transactions_raw WHERE payment_method = ' Card'"
    "tx: payment_method card, paypal|SELECT count(DISTINCT payment_method) - 1 FROM analytics.transactions_raw WHERE payment_method IN ('card', 'paypal')"
    "tx: null payment_method|SELECT count(*) FROM analytics.transactions_raw WHERE payment_method IS NULL"
    "tx: null created_at|SELECT count(*) FROM analytics.transactions_raw WHERE created_at IS NULL"
    "tx: JPY amounts in whole yen|SELECT (bool_and(scale(amount) = 0))::int FROM analytics.transactions_raw WHERE currency = 'JPY' AND amount > 0 AND amount < 1e6"
    "api: method 'get'|SELECT count(*) FROM analytics.api_logs_raw WHERE method = 'get'"
    "api: method 'FETCH'|SELECT count(*) FROM analytics.api_logs_raw WHERE method = 'FETCH'"
    "api: null method|SELECT count(*) FROM analytics.api_logs_raw WHERE method IS NULL"
    "api: path with numeric id, uuid and query string|SELECT count(*) FROM analytics.api_logs_raw WHERE path ~ '^/api/users/[0-9]+/orders/[0-9a-f-]{36}\\?x=1\$'"
    "api: path with query string|SELECT count(*) FROM analytics.api_logs_raw WHERE path LIKE '%?%&%'"
    "api: status 0|SELECT count(*) FROM analytics.api_logs_raw WHERE status_code = 0"
    "api: status 99|SELECT count(*) FROM analytics.api_logs_raw WHERE status_code = 99"
    "api: status 600|SELECT count(*) FROM analytics.api_logs_raw WHERE status_code = 600"
    "api: null status|SELECT count(*) FROM analytics.api_logs_raw WHERE status_code IS NULL"
    "api: 5xx errors|SELECT count(*) FROM analytics.api_logs_raw WHERE status_code BETWEEN 500 AND 599"
    "api: negative response time|SELECT count(*) FROM analytics.api_logs_raw WHERE response_time_ms < 0"
    "api: null response time|SELECT count(*) FROM analytics.api_logs_raw WHERE response_time_ms IS NULL"
    "api: huge response time|SELECT count(*) FROM analytics.api_logs_raw WHERE response_time_ms >= 1e8"
    "api: IPv4|SELECT count(*) FROM analytics.api_logs_raw WHERE ip_address ~ '^[0-9]{1,3}(\\.[0-9]{1,3}){3}\$' AND ip_address <> '999.1.1.1'"
    "api: IPv6|SELECT count(*) FROM analytics.api_logs_raw WHERE ip_address LIKE '2001:%'"
    "api: '::ffff:1.2.3.x'|SELECT count(*) FROM analytics.api_logs_raw WHERE ip_address LIKE '::ffff:1.2.3.%'"
    "api: 'not-an-ip'|SELECT count(*) FROM analytics.api_logs_raw WHERE ip_address = 'not-an-ip'"
    "api: '999.1.1.1'|SELECT count(*) FROM analytics.api_logs_raw WHERE ip_address = '999.1.1.1'"
    "api: null ip|SELECT count(*) FROM analytics.api_logs_raw WHERE ip_address IS NULL"
    "api: user agents|SELECT count(DISTINCT user_agent) - 4 FROM analytics.api_logs_raw"
    "api: anonymous requests|SELECT count(*) FROM analytics.api_logs_raw WHERE user_id IS NULL"
    "ua: exact retries|SELECT count(*) FROM (SELECT 1 FROM analytics.user_actions_raw GROUP BY user_id, action, entity_type, entity_id, created_at, properties::text HAVING count(*) > 1) x"
    "ua: missing user_id|SELECT count(*) FROM analytics.user_actions_raw WHERE user_id IS NULL"
    "ua: missing action|SELECT count(*) FROM analytics.user_actions_raw WHERE action IS NULL"
    "ua: action variants 'Create', ' UPDATE '|SELECT count(DISTINCT action) - 1 FROM analytics.user_actions_raw WHERE action IN ('Create', ' UPDATE ')"
    "ua: entity_type variants|SELECT count(DISTINCT entity_type) - 2 FROM analytics.user_actions_raw WHERE entity_type IN ('Project', ' task', 'Document ')"
    "ua: null entity_type|SELECT count(*) FROM analytics.user_actions_raw WHERE entity_type IS NULL"
)
for c in "${CASES[@]}"; do
    name="${c%%|*}"
    sql="${c#*|}"
    n=$(qq "$sql")
    if [ "$n" -gt 0 ] 2>/dev/null; then md_ok "$name ($n)"; else md_fail "$name: got [$n]"; fi
done

# --- defaults: no variables = events 20000, users 2000, days 120, seed 42, today ------------
newdb d; qfile "$GEN"
newdb e; qfile "$GEN" -v events=20000 -v users=2000 -v days=120 -v seed=42 -v "anchor='$(date -u +%F)'"
for t in $BRONZE; do
    assert_eq "$(digest "t_demo_e_$$" analytics "$t")" "$(digest "t_demo_d_$$" analytics "$t")" \
        "$t: defaults are events=20000 users=2000 days=120 seed=42 anchor=current_date"
done

# --- schema=seedref: the seed baseline's bronze tables (events and transactions only) ---------
BASELINE=""
for f in "$SRC/bench/seed_baseline.sql" "$SRC/../shared/bench/seed_baseline.sql"; do
    [ -f "$f" ] && BASELINE="$f" && break
done
if [ -z "$BASELINE" ]; then
    md_fail "seed_baseline.sql not found in bench/ or ../shared/bench/"
else
    newdb s
    qfile "$BASELINE"
    assert_succeeds "generator fills schema seedref (no api logs / user actions tables there)" \
        psql -X -q -v ON_ERROR_STOP=1 "${PARAMS[@]}" -v schema=seedref -f "$GEN"
    for t in events_raw transactions_raw; do
        assert_eq "$(digest "$A" analytics "$t")" "$(digest "t_demo_s_$$" seedref "$t")" \
            "seedref.$t gets the same rows as analytics.$t"
    done
    assert_eq "0" "$(qq "SELECT count(*) FROM analytics.events_raw")" "schema=seedref leaves analytics empty"
fi

md_finish
