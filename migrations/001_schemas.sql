-- Schemas for medalliond: analytics holds the seed's bronze/silver/gold tables,
-- medallion holds the daemon's own bookkeeping. Must never drop or replace an
-- existing schema (Supabase projects may already have one named analytics).
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE SCHEMA IF NOT EXISTS medallion;

COMMENT ON SCHEMA analytics IS
    'Medallion analytics: bronze (*_raw, written by producers), silver (cleaned, '
    'written by medalliond), gold (aggregates, written by medalliond).';
COMMENT ON SCHEMA medallion IS
    'medalliond bookkeeping: migrations, job runs, batch positions, dedup ledger, dirty marks. '
    'Not for producers or analysts.';
