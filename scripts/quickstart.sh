#!/usr/bin/env bash
# The main job end to end on a throwaway local PostgreSQL: installs what it
# needs, builds medalliond, starts a private cluster (unix socket only),
# migrates, loads generated dirty demo data, runs every job once and shows the
# results with the seed's own example queries. The cluster is stopped at the
# end unless --keep is given.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0
[ "${1:-}" = "--keep" ] && keep=1

if [ "${MEDALLION_SKIP_DEPS:-0}" != 1 ]; then
    bash scripts/install-deps.sh
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
bin="$PWD/build/medalliond"

dir=/tmp/medalliond-quickstart
export MD_PG_PORT=54330
bash scripts/pg_cluster.sh start "$dir"
if [ "$keep" = 0 ]; then trap 'bash scripts/pg_cluster.sh stop "$dir" >/dev/null' EXIT; fi
export PGHOST="$dir/sock" PGPORT=$MD_PG_PORT PGUSER=postgres PGDATABASE=medallion_demo
export PGOPTIONS="-c client_min_messages=warning"
psql -X -q -d postgres -c "CREATE DATABASE medallion_demo"
export MEDALLION_DATABASE_URL="host=$PGHOST port=$PGPORT user=postgres dbname=medallion_demo"
export MEDALLIOND_CONFIG="$PWD/config/medalliond.yaml"

echo "== medalliond migrate"
"$bin" migrate
echo "== demo data (dirty on purpose: retries, bad currencies, future timestamps, ...)"
psql -X -q -v events=50000 -v users=1500 -v days=120 -f scripts/demo_data.sql
echo "== medalliond run --all"
"$bin" run --all
echo "== medalliond status"
"$bin" status --limit 12

show() { echo; echo "-- $1"; psql -X -P pager=off -c "$2"; }
show "Silver: data quality of cleaned events" \
    "SELECT is_valid, validation_errors, count(*) FROM analytics.events_clean GROUP BY 1, 2 ORDER BY 3 DESC"
show "Silver: transactions by validity, duplicates and fraud score" \
    "SELECT is_valid, is_duplicate, fraud_score, count(*), sum(amount_base) AS amount_usd FROM analytics.transactions_validated GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10"
show "Silver: API error rate by route" \
    "SELECT route, count(*), round(avg(is_error::int) * 100, 2) AS error_pct FROM analytics.api_logs_clean WHERE is_valid GROUP BY 1 ORDER BY 2 DESC LIMIT 8"
show "Duplicates removed (ledger)" \
    "SELECT source_table, count(*) FROM medallion.duplicates GROUP BY 1"
show "Seed query: Daily Active Users (Last 7 Days)" "
SELECT date, active_users, new_users, returning_users,
  (new_users::DECIMAL / NULLIF(active_users, 0) * 100)::DECIMAL(5,2) as new_user_percentage
FROM analytics.daily_metrics WHERE date >= CURRENT_DATE - 7 ORDER BY date DESC;"
show "Seed query: User Retention by Cohort" "
SELECT cohort_month, month_0_users, month_1_users, month_1_retention * 100 as month_1_retention_pct,
  month_3_retention * 100 as month_3_retention_pct, avg_revenue_per_user
FROM analytics.user_cohorts ORDER BY cohort_month DESC LIMIT 12;"
show "Seed query: Revenue Trends" "
SELECT date, total_revenue, total_transactions, avg_transaction_value, successful_transactions,
  (failed_transactions::DECIMAL / NULLIF(total_transactions, 0) * 100)::DECIMAL(5,2) as failure_rate_pct
FROM analytics.revenue_summary WHERE date >= CURRENT_DATE - 30 ORDER BY date DESC LIMIT 10;"
show "Seed query: KPI Dashboard" "
SELECT metric_name, metric_value, metric_unit, time_period, change_percentage, trend
FROM analytics.kpi_dashboard ORDER BY metric_name, time_period;"
show "Seed query: Top Events by User" "
SELECT user_id, event_type, COUNT(*) as event_count, MAX(created_at) as last_event_at
FROM analytics.events_clean WHERE created_at >= CURRENT_DATE - 7 AND is_valid = TRUE
GROUP BY user_id, event_type ORDER BY event_count DESC LIMIT 10;"
show "Seed query: Session Duration Distribution" "
SELECT CASE WHEN duration_seconds < 30 THEN '0-30s' WHEN duration_seconds < 60 THEN '30-60s'
  WHEN duration_seconds < 300 THEN '1-5min' WHEN duration_seconds < 900 THEN '5-15min' ELSE '15min+' END as duration_bucket,
  COUNT(*) as session_count, AVG(event_count) as avg_events_per_session
FROM analytics.user_sessions WHERE started_at >= CURRENT_DATE - 7 GROUP BY duration_bucket ORDER BY MIN(duration_seconds);"

echo
if [ "$keep" = 1 ]; then
    echo "Cluster kept running: psql -h $PGHOST -p $PGPORT -U postgres medallion_demo"
    echo "Stop it with: bash scripts/pg_cluster.sh stop $dir"
else
    echo "Done; the throwaway cluster is stopped (run with --keep to explore it with psql)."
fi
