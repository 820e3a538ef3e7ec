-- Roles, second pass (007 is applied and never edited).
--
-- 1. The daemon may run as service_role, the role WITH BYPASSRLS that 007
--    creates for it (product.md §3): log in as it, or as a login role that is
--    a member of it with `options=-c role=service_role` in the URL. Until now
--    service_role could only read medallion.job_runs, so a run as it failed on
--    its first bookkeeping statement. It now gets what a run needs on the
--    daemon's own tables and functions, and so will what later migrations add.
GRANT USAGE ON SCHEMA medallion TO service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA medallion TO service_role;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA medallion TO service_role;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA medallion TO service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA medallion
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA medallion
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT ALL ON TABLES TO service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO service_role;

-- 2. Producers (authenticated) write the bronze contract's columns and
--    nothing else. INSERT on the whole table let them set id (and block the
--    identity for everyone after them), ingested_at (validity is judged
--    against it: a far-future event then passed as valid) and ingest_xid (a
--    row with a made-up batch position is never read: lost). Those three are
--    the database's to fill. service_role, trusted, keeps full access.
DO $$
DECLARE
    t text;
    cols text;
BEGIN
    FOR t, cols IN VALUES
        ('events_raw',
         'event_id, event_type, user_id, session_id, properties, source, created_at'),
        ('transactions_raw',
         'external_id, user_id, amount, currency, status, payment_method, properties, source, '
         'created_at'),
        ('api_logs_raw',
         'request_id, method, path, status_code, response_time_ms, user_id, ip_address, '
         'user_agent, properties, source, created_at'),
        ('user_actions_raw',
         'user_id, action, entity_type, entity_id, properties, source, created_at')
    LOOP
        EXECUTE format('REVOKE INSERT ON analytics.%I FROM authenticated', t);
        EXECUTE format('GRANT INSERT (%s) ON analytics.%I TO authenticated', cols, t);
    END LOOP;
END
$$;
