#!/usr/bin/env bash
# Schema contract: every table and column product.md and the schema decisions pin,
# with exact types, nullability, keys, indexes, seeded rows and reference data.
# Must fail when a migration drops, renames or retypes anything producers,
# analysts or the daemon's COPY layout depend on.
source "$(dirname "$0")/lib.sh"
md_newdb

SRC="${MEDALLION_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}"

# Columns of a table in attnum order: name:type, '!' when NOT NULL.
cols() {
    qq "SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                          || CASE WHEN a.attnotnull THEN '!' ELSE '' END, ',' ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = '$1'::regclass AND a.attnum > 0 AND NOT a.attisdropped"
}
TS='timestamp with time zone'

# --- tables present -------------------------------------------------------
assert_eq "api_logs_clean,api_logs_raw,currencies,daily_metrics,events_clean,events_raw,fx_rates,kpi_dashboard,revenue_summary,transactions_raw,transactions_validated,user_actions_clean,user_actions_raw,user_cohorts,user_sessions" \
    "$(qq "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables
           WHERE table_schema = 'analytics'")" "analytics has exactly the medallion tables"
assert_eq "batch_positions,cohort_dirty,derived_state,duplicates,gold_dirty,job_runs,schema_migrations,user_days,user_first_seen" \
    "$(qq "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables
           WHERE table_schema = 'medallion'")" "medallion has the bookkeeping tables"

# --- bronze: contract columns + id, ingested_at, ingest_xid ---------------
assert_eq "id:bigint!,event_id:uuid,event_type:text,user_id:uuid,session_id:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,ingest_xid:xid8!" \
    "$(cols analytics.events_raw)" "events_raw columns"
assert_eq "id:bigint!,external_id:text,user_id:uuid,amount:numeric,currency:text,status:text,payment_method:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,ingest_xid:xid8!" \
    "$(cols analytics.transactions_raw)" "transactions_raw columns"
assert_eq "id:bigint!,request_id:text,method:text,path:text,status_code:integer,response_time_ms:numeric,user_id:uuid,ip_address:text,user_agent:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,ingest_xid:xid8!" \
    "$(cols analytics.api_logs_raw)" "api_logs_raw columns"
assert_eq "id:bigint!,user_id:uuid,action:text,entity_type:text,entity_id:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,ingest_xid:xid8!" \
    "$(cols analytics.user_actions_raw)" "user_actions_raw columns"

for t in events_raw transactions_raw api_logs_raw user_actions_raw; do
    assert_eq "d|now()|now()|pg_current_xact_id()" \
        "$(qq "SELECT (SELECT attidentity FROM pg_attribute WHERE attrelid = 'analytics.$t'::regclass AND attname = 'id'),
                      pg_get_expr(d1.adbin, d1.adrelid), pg_get_expr(d2.adbin, d2.adrelid), pg_get_expr(d3.adbin, d3.adrelid)
               FROM pg_attrdef d1, pg_attrdef d2, pg_attrdef d3
               WHERE d1.adrelid = 'analytics.$t'::regclass AND d1.adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = d1.adrelid AND attname = 'created_at')
                 AND d2.adrelid = d1.adrelid AND d2.adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = d1.adrelid AND attname = 'ingested_at')
                 AND d3.adrelid = d1.adrelid AND d3.adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = d1.adrelid AND attname = 'ingest_xid')")" \
        "$t: identity by default, created_at/ingested_at now(), ingest_xid pg_current_xact_id()"
    assert_eq "1" "$(qq "SELECT count(*) FROM pg_index i WHERE i.indrelid = 'analytics.$t'::regclass
                         AND pg_get_indexdef(i.indexrelid) LIKE '%(ingest_xid, id)'")" "$t: batch index (ingest_xid, id)"
done

# A producer naming only contract columns works, and dirty data is accepted.
assert_succeeds "bronze accepts dirty rows with only contract columns" psql -X -q -v ON_ERROR_STOP=1 -c "
    INSERT INTO analytics.events_raw (event_type) VALUES (NULL);
    INSERT INTO analytics.events_raw (event_id, event_type, user_id, session_id, properties, source, created_at)
        VALUES (NULL, ' Page View ', NULL, NULL, '[1,2]', NULL, '3000-01-01');
    INSERT INTO analytics.transactions_raw (external_id, user_id, amount, currency, status, payment_method, properties, source, created_at)
        VALUES ('x', NULL, 'NaN', ' us\$', NULL, NULL, '\"s\"', NULL, NULL), ('y', NULL, 'Infinity', 'XYZ', 'odd', '', '{}', '', '1900-01-01');
    INSERT INTO analytics.api_logs_raw (request_id, method, path, status_code, response_time_ms, user_id, ip_address, user_agent, properties, source, created_at)
        VALUES (NULL, 'FETCH', NULL, 0, -5, NULL, 'not-an-ip', NULL, '42', NULL, NULL);
    INSERT INTO analytics.user_actions_raw (user_id, action, entity_type, entity_id, properties, source, created_at)
        VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL);"
assert_eq "t|t" "$(qq "SELECT bool_and(ingested_at IS NOT NULL), bool_and(ingest_xid IS NOT NULL) FROM analytics.events_raw")" \
    "bronze defaults filled"

idx() { qq "SELECT pg_get_indexdef('$1'::regclass)"; }
assert_eq "CREATE INDEX idx_events_raw_created ON analytics.events_raw USING btree (created_at)" \
    "$(idx analytics.idx_events_raw_created)" "seed index idx_events_raw_created"
assert_eq "CREATE INDEX idx_events_raw_user ON analytics.events_raw USING btree (user_id)" \
    "$(idx analytics.idx_events_raw_user)" "seed index idx_events_raw_user"
assert_eq "CREATE INDEX idx_events_raw_type ON analytics.events_raw USING btree (event_type)" \
    "$(idx analytics.idx_events_raw_type)" "seed index idx_events_raw_type"

# --- silver -----------------------------------------------------------------
SILVER_TAIL="processed_at:$TS!,silver_xid:xid8!"
assert_eq "id:bigint!,event_id:uuid,event_type:text,user_id:uuid,session_id:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,is_valid:boolean!,quality_score:numeric(3,2)!,validation_errors:text[]!,$SILVER_TAIL" \
    "$(cols analytics.events_clean)" "events_clean columns"
assert_eq "id:bigint!,external_id:text,user_id:uuid,amount:numeric,amount_raw:numeric,currency:text,status:text,payment_method:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,is_valid:boolean!,is_duplicate:boolean!,fraud_score:numeric(3,2)!,fraud_reasons:text[]!,validation_errors:text[]!,amount_base:numeric,base_currency:text,$SILVER_TAIL" \
    "$(cols analytics.transactions_validated)" "transactions_validated columns"
assert_eq "id:bigint!,request_id:text,method:text,path:text,route:text,status_code:integer,response_time_ms:numeric,is_error:boolean!,user_id:uuid,ip_address:inet,user_agent:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,is_valid:boolean!,validation_errors:text[]!,$SILVER_TAIL" \
    "$(cols analytics.api_logs_clean)" "api_logs_clean columns"
assert_eq "id:bigint!,user_id:uuid,action:text,entity_type:text,entity_id:text,properties:jsonb,source:text,created_at:$TS,ingested_at:$TS!,is_valid:boolean!,validation_errors:text[]!,dedup_key:text,$SILVER_TAIL" \
    "$(cols analytics.user_actions_clean)" "user_actions_clean columns"
assert_eq "session_id:text!,user_id:uuid,client_session_id:text,started_at:$TS!,ended_at:$TS!,duration_seconds:integer!,event_count:integer!,entry_event_type:text,exit_event_type:text,entry_page:text,exit_page:text,session_date:date!,updated_at:$TS!" \
    "$(cols analytics.user_sessions)" "user_sessions columns"

pk() { qq "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '$1'::regclass AND contype = 'p'"; }
for t in events_clean transactions_validated api_logs_clean user_actions_clean; do
    assert_eq "PRIMARY KEY (id)" "$(pk analytics.$t)" "$t primary key"
    assert_eq "1" "$(qq "SELECT count(*) FROM pg_index i WHERE i.indrelid = 'analytics.$t'::regclass
                         AND pg_get_indexdef(i.indexrelid) LIKE '%(silver_xid, id)'")" "$t: batch index (silver_xid, id)"
    assert_eq "'{}'::text[]" "$(qq "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef WHERE adrelid = 'analytics.$t'::regclass
            AND adnum = (SELECT attnum FROM pg_attribute WHERE attrelid = 'analytics.$t'::regclass AND attname = 'validation_errors')")" \
        "$t.validation_errors defaults to {}"
done
assert_eq "PRIMARY KEY (session_id)" "$(pk analytics.user_sessions)" "user_sessions primary key"
assert_eq "CREATE UNIQUE INDEX idx_events_clean_event_id ON analytics.events_clean USING btree (event_id) WHERE (event_id IS NOT NULL)" \
    "$(idx analytics.idx_events_clean_event_id)" "events_clean unique event_id (dedup safety net)"
assert_eq "CREATE UNIQUE INDEX idx_user_actions_clean_dedup ON analytics.user_actions_clean USING btree (dedup_key) WHERE (dedup_key IS NOT NULL)" \
    "$(idx analytics.idx_user_actions_clean_dedup)" "user_actions_clean unique dedup_key"
assert_eq "CREATE INDEX idx_transactions_validated_dedup ON analytics.transactions_validated USING btree (external_id, status, amount, currency)" \
    "$(idx analytics.idx_transactions_validated_dedup)" "transactions_validated dedup index"

# The safety net rejects a second copy of an event_id; NULL event_ids may repeat.
qq "INSERT INTO analytics.events_clean (id, event_id, ingested_at, is_valid, quality_score)
    VALUES (1, '00000000-0000-0000-0000-000000000001', now(), true, 1), (2, NULL, now(), false, 0), (3, NULL, now(), false, 0)"
assert_fails "duplicate event_id rejected in events_clean" qq "INSERT INTO analytics.events_clean
    (id, event_id, ingested_at, is_valid, quality_score) VALUES (4, '00000000-0000-0000-0000-000000000001', now(), true, 1)"
assert_fails "quality_score above 1 rejected" qq "INSERT INTO analytics.events_clean
    (id, ingested_at, is_valid, quality_score) VALUES (5, now(), true, 1.5)"
assert_eq "1.00" "$(qq "SELECT quality_score FROM analytics.events_clean WHERE id = 1")" "quality_score keeps 2 decimals"

# --- gold -------------------------------------------------------------------
assert_eq "date:date!,active_users:integer!,new_users:integer!,returning_users:integer!,total_sessions:integer!,avg_session_duration_seconds:numeric,total_events:bigint!,total_revenue:numeric!,total_transactions:integer!,paying_users:integer!,conversion_rate:numeric,updated_at:$TS!" \
    "$(cols analytics.daily_metrics)" "daily_metrics columns"
assert_eq "date:date!,currency:text!,total_revenue:numeric!,total_transactions:integer!,avg_transaction_value:numeric,successful_transactions:integer!,failed_transactions:integer!,refunded_transactions:integer!,refunded_amount:numeric!,net_revenue:numeric!,by_currency:jsonb!,by_payment_method:jsonb!,updated_at:$TS!" \
    "$(cols analytics.revenue_summary)" "revenue_summary columns"
assert_eq "cohort_month:date!,month_0_users:integer!,month_1_users:integer,month_2_users:integer,month_3_users:integer,month_6_users:integer,month_12_users:integer,month_1_retention:numeric,month_2_retention:numeric,month_3_retention:numeric,month_6_retention:numeric,month_12_retention:numeric,total_revenue:numeric!,avg_revenue_per_user:numeric,updated_at:$TS!" \
    "$(cols analytics.user_cohorts)" "user_cohorts columns"
assert_eq "metric_name:text!,time_period:text!,metric_value:numeric,metric_unit:text,previous_value:numeric,change_percentage:numeric,trend:text,period_start:date,period_end:date,computed_at:$TS!" \
    "$(cols analytics.kpi_dashboard)" "kpi_dashboard columns"
assert_eq "PRIMARY KEY (date)" "$(pk analytics.daily_metrics)" "daily_metrics primary key"
assert_eq "PRIMARY KEY (date)" "$(pk analytics.revenue_summary)" "revenue_summary primary key"
assert_eq "PRIMARY KEY (cohort_month)" "$(pk analytics.user_cohorts)" "user_cohorts primary key"
assert_eq "PRIMARY KEY (metric_name, time_period)" "$(pk analytics.kpi_dashboard)" "kpi_dashboard primary key"
qq "INSERT INTO analytics.daily_metrics (date) VALUES ('2026-01-01')"
assert_eq "0|0|0|0|0|0|0|0||" "$(qq "SELECT active_users, new_users, returning_users, total_sessions, total_events, total_revenue,
        total_transactions, paying_users, avg_session_duration_seconds, conversion_rate FROM analytics.daily_metrics")" \
    "daily_metrics counters default to 0, averages to NULL"
qq "INSERT INTO analytics.revenue_summary (date) VALUES ('2026-01-01')"
assert_eq "USD|{}|{}|0" "$(qq "SELECT currency, by_currency, by_payment_method, net_revenue FROM analytics.revenue_summary")" \
    "revenue_summary defaults"
for tr in up down flat; do
    assert_succeeds "kpi trend '$tr' accepted" qq "INSERT INTO analytics.kpi_dashboard (metric_name, time_period, trend) VALUES ('m_$tr', '7d', '$tr')"
done
assert_fails "kpi trend 'sideways' rejected" qq "INSERT INTO analytics.kpi_dashboard (metric_name, time_period, trend) VALUES ('m', '7d', 'sideways')"
assert_fails "kpi key (metric_name, time_period) unique" qq "INSERT INTO analytics.kpi_dashboard (metric_name, time_period) VALUES ('m_up', '7d')"

# --- medallion bookkeeping ----------------------------------------------------
assert_eq "run_id:bigint!,job_name:text!,status:text!,started_at:$TS!,finished_at:$TS,rows_read:bigint!,rows_written:bigint!,rows_valid:bigint!,rows_invalid:bigint!,rows_duplicate:bigint!,message:text,instance:text!,trigger:text!" \
    "$(cols medallion.job_runs)" "job_runs columns"
assert_eq "source_table:text!,bronze_id:bigint!,kept_id:bigint!,dedup_key:text,recorded_at:$TS!" \
    "$(cols medallion.duplicates)" "duplicates columns"
assert_eq "PRIMARY KEY (source_table, bronze_id)" "$(pk medallion.duplicates)" "duplicates primary key"
assert_eq "job_name:text!,source_table:text!,prev_snapshot:pg_snapshot,cur_snapshot:pg_snapshot,last_xid:xid8,last_id:bigint,rows_total:bigint!,updated_at:$TS!" \
    "$(cols medallion.batch_positions)" "batch_positions columns"
assert_eq "user_id:uuid!,first_event_at:$TS,first_purchase_at:$TS,updated_at:$TS!" \
    "$(cols medallion.user_first_seen)" "user_first_seen columns"
assert_eq "target:text!,day:date!,marked_at:$TS!" "$(cols medallion.gold_dirty)" "gold_dirty columns"
assert_eq "PRIMARY KEY (target, day)" "$(pk medallion.gold_dirty)" "gold_dirty primary key"
assert_eq "cohort_month:date!,marked_at:$TS!" "$(cols medallion.cohort_dirty)" "cohort_dirty columns"
assert_eq "build_user_sessions:events_clean,clean_api_logs:api_logs_raw,clean_events:events_raw,clean_user_actions:user_actions_raw,validate_transactions:transactions_raw" \
    "$(qq "SELECT string_agg(job_name || ':' || source_table, ',' ORDER BY job_name) FROM medallion.batch_positions
           WHERE prev_snapshot IS NULL AND cur_snapshot IS NULL AND rows_total = 0")" "batch_positions seeded idle, one per batch job"

for st in running succeeded failed skipped timed_out; do
    assert_succeeds "job_runs status '$st' accepted" qq "INSERT INTO medallion.job_runs (job_name, status, instance) VALUES ('clean_events', '$st', 'h:1')"
done
assert_fails "job_runs status 'done' rejected" qq "INSERT INTO medallion.job_runs (job_name, status, instance) VALUES ('clean_events', 'done', 'h:1')"
assert_fails "job_runs.run_id is GENERATED ALWAYS" qq "INSERT INTO medallion.job_runs (run_id, job_name, status, instance) VALUES (99, 'x', 'running', 'h:1')"
assert_fails "job_runs.instance required" qq "INSERT INTO medallion.job_runs (job_name, status) VALUES ('x', 'running')"
assert_eq "schedule|0|0" "$(qq "SELECT DISTINCT trigger, rows_read, rows_duplicate FROM medallion.job_runs")" "job_runs defaults"
assert_eq "1" "$(qq "SELECT count(*) FROM pg_indexes WHERE schemaname = 'medallion' AND tablename = 'job_runs'
                     AND indexdef LIKE '%(job_name, started_at DESC)'")" "job_runs (job_name, started_at DESC) index"

# schema_migrations is bootstrapped by `medalliond migrate` (never by a file) and
# records every migration file with its sha256.
assert_match "^version:text!,checksum:text!,applied_at:$TS!,applied_by:text!?$" \
    "$(cols medallion.schema_migrations)" "schema_migrations columns"
expected=""
for f in "$SRC"/migrations/*.sql; do
    expected+="$(basename "$f" .sql):$(sha256sum "$f" | cut -d' ' -f1),"
done
assert_eq "${expected%,}" "$(qq "SELECT string_agg(version || ':' || checksum, ',' ORDER BY version) FROM medallion.schema_migrations")" \
    "schema_migrations records every migration file with its sha256"

# --- migration files follow the runner's rules -----------------------------------
bad=$(grep -liE '^\s*(BEGIN|COMMIT|ROLLBACK|START TRANSACTION)\s*;|CONCURRENTLY|CREATE TABLE[^;]*schema_migrations' \
      "$SRC"/migrations/*.sql || true)
assert_eq "" "$bad" "no migration file has BEGIN/COMMIT, CONCURRENTLY or creates schema_migrations"
assert_eq "0" "$(ls "$SRC"/migrations/*.sql | xargs -n1 basename | grep -cvE '^[0-9]{3}_[a-z0-9_]+\.sql$' || true)" \
    "migration files are named NNN_name.sql"

# --- reference data ------------------------------------------------------------
assert_eq "t" "$(qq "SELECT count(*) >= 150 FROM analytics.currencies")" "currencies: at least 150 ISO 4217 codes"
assert_eq "JPY:0,KRW:0,USD:2,EUR:2,GBP:2,KWD:3,BHD:3,JOD:3,OMR:3,TND:3,IQD:3,LYD:3,CLF:4,UYW:4,UYI:0,CHF:2,ISK:0,VND:0,XOF:0" \
    "$(qq "SELECT string_agg(c || ':' || (SELECT minor_unit FROM analytics.currencies WHERE code = c), ',' ORDER BY o)
           FROM unnest('{JPY,KRW,USD,EUR,GBP,KWD,BHD,JOD,OMR,TND,IQD,LYD,CLF,UYW,UYI,CHF,ISK,VND,XOF}'::text[]) WITH ORDINALITY u(c, o)")" \
    "currency minor units"
assert_eq "0" "$(qq "SELECT count(*) FROM analytics.currencies WHERE code IN ('XAU','XAG','XPT','XPD','XXX','XTS','HRK')")" \
    "no metals, testing or withdrawn codes"
assert_eq "392|Yen" "$(qq "SELECT numeric_code, name FROM analytics.currencies WHERE code = 'JPY'")" "JPY numeric code and name"
assert_fails "currency codes must be 3 upper-case letters" qq "INSERT INTO analytics.currencies (code, name, minor_unit) VALUES ('usd', 'x', 2)"
assert_eq "" "$(qq "SELECT string_agg(c, ',') FROM unnest('{USD,EUR,GBP,JPY,CAD,AUD,CHF,SEK,NOK,DKK,NZD,SGD,HKD,INR,BRL,MXN,CNY,KWD,BHD}'::text[]) c
                    WHERE NOT EXISTS (SELECT 1 FROM analytics.fx_rates r WHERE r.base_currency = 'USD' AND r.currency = c
                                      AND r.valid_from = '2000-01-01T00:00:00Z')")" "reference USD rates for the listed currencies"
assert_eq "1" "$(qq "SELECT base_per_unit FROM analytics.fx_rates WHERE base_currency = 'USD' AND currency = 'USD'")" "USD per USD is 1"
assert_eq "t" "$(qq "SELECT bool_and(base_per_unit BETWEEN 0.0001 AND 10) FROM analytics.fx_rates")" "rates are plausible"
assert_fails "fx rate must be > 0" qq "INSERT INTO analytics.fx_rates (currency, base_per_unit, valid_from) VALUES ('EUR', 0, now())"
assert_fails "fx rate currency must be a known code" qq "INSERT INTO analytics.fx_rates (currency, base_per_unit, valid_from) VALUES ('XYZ', 1, now())"

# --- documentation in the catalog -------------------------------------------------
assert_eq "" "$(qq "SELECT string_agg(n.nspname || '.' || c.relname, ',') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname IN ('analytics', 'medallion') AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
                      AND obj_description(c.oid, 'pg_class') IS NULL")" "every table has a COMMENT"
assert_eq "" "$(qq "SELECT string_agg(c.relname || '.' || a.attname, ',') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'analytics' AND c.relkind = 'r' AND a.attname IN ('ingest_xid', 'silver_xid') AND NOT a.attisdropped
                      AND col_description(c.oid, a.attnum) IS NULL")" "every ingest_xid/silver_xid column has a COMMENT"
assert_match "DERIVED" "$(qq "SELECT col_description('analytics.user_sessions'::regclass, 1)")" \
    "user_sessions.session_id documented as derived"
assert_match "CLIENT" "$(qq "SELECT col_description('analytics.events_clean'::regclass, 5)")" \
    "events_clean.session_id documented as the client's"

md_finish
