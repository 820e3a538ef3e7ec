-- The seed's row-level security, made to work on plain PostgreSQL too: a shim
-- creates Supabase's roles and auth.uid() only where they are missing. Must
-- never alter or replace an existing role, the auth schema or auth.uid().

-- Roles: created only if missing; a concurrent migration in another database of
-- the same cluster may win the race, hence duplicate_object is ignored.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                IF r = 'service_role' THEN
                    -- BYPASSRLS so service_role may also COPY into tables with policies.
                    EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT BYPASSRLS', r);
                ELSE
                    EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT', r);
                END IF;
            EXCEPTION WHEN duplicate_object THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- auth schema and auth.uid(): Supabase has them (owned by its auth admin; we
-- may not even be allowed to grant on them there), so touch them only when we
-- create them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
        CREATE SCHEMA auth;
        COMMENT ON SCHEMA auth IS 'medalliond shim of Supabase''s auth schema (plain PostgreSQL only).';
        GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE n.nspname = 'auth' AND p.proname = 'uid' AND p.pronargs = 0) THEN
        -- Same claim lookup as Supabase: the legacy per-claim setting first, then
        -- the sub of request.jwt.claims; empty strings count as unset.
        CREATE FUNCTION auth.uid() RETURNS uuid
            LANGUAGE sql STABLE
            AS $fn$
                SELECT nullif(coalesce(
                    nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
                ), '')::uuid
            $fn$;
        COMMENT ON FUNCTION auth.uid() IS
            'medalliond shim of Supabase auth.uid(): the JWT sub claim of request.jwt.claims, or NULL.';
        GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
        BEGIN
            GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'medallion: cannot grant usage on existing schema auth; leaving it as is';
        END;
    END IF;
END
$$;

-- Schema access: analytics for the API roles; medallion only for service_role
-- (to read job history). anon gets schema usage and nothing else.
GRANT USAGE ON SCHEMA analytics TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA medallion TO service_role;
GRANT SELECT ON medallion.job_runs TO service_role;

-- Bronze: producers insert; only service_role reads.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events_raw', 'transactions_raw', 'api_logs_raw', 'user_actions_raw']
    LOOP
        EXECUTE format('ALTER TABLE analytics.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY service_role_all ON analytics.%I FOR ALL TO service_role '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY authenticated_insert_own ON analytics.%I FOR INSERT '
                       'TO authenticated WITH CHECK (user_id IS NULL OR user_id = auth.uid())', t);
        EXECUTE format('GRANT INSERT ON analytics.%I TO authenticated', t);
        EXECUTE format('GRANT ALL ON analytics.%I TO service_role', t);
        -- Explicit ids need the sequence (identity defaults do not); service_role only.
        EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE analytics.%I TO service_role',
                       t || '_id_seq');
    END LOOP;
END
$$;

-- Silver, user-scoped: users read their own rows.
DO $$
DECLARE
    t text;
    p text;
BEGIN
    FOR t, p IN VALUES ('events_clean', 'user_read_own_events'),
                       ('transactions_validated', 'user_read_own_transactions_validated'),
                       ('api_logs_clean', 'user_read_own_api_logs_clean'),
                       ('user_actions_clean', 'user_read_own_user_actions_clean'),
                       ('user_sessions', 'user_read_own_user_sessions')
    LOOP
        EXECUTE format('ALTER TABLE analytics.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY service_role_all ON analytics.%I FOR ALL TO service_role '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY %I ON analytics.%I FOR SELECT TO authenticated '
                       'USING (user_id = auth.uid())', p, t);
        EXECUTE format('GRANT SELECT ON analytics.%I TO authenticated', t);
        EXECUTE format('GRANT ALL ON analytics.%I TO service_role', t);
    END LOOP;
END
$$;

-- Gold: aggregated, readable by every authenticated user.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['daily_metrics', 'revenue_summary', 'user_cohorts', 'kpi_dashboard']
    LOOP
        EXECUTE format('ALTER TABLE analytics.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY service_role_all ON analytics.%I FOR ALL TO service_role '
                       'USING (true) WITH CHECK (true)', t);
        EXECUTE format('CREATE POLICY authenticated_read_metrics ON analytics.%I FOR SELECT '
                       'TO authenticated USING (true)', t);
        EXECUTE format('GRANT SELECT ON analytics.%I TO authenticated', t);
        EXECUTE format('GRANT ALL ON analytics.%I TO service_role', t);
    END LOOP;
END
$$;

-- Reference data: no RLS, plain grants (service_role may maintain the rates).
GRANT SELECT ON analytics.currencies, analytics.fx_rates TO authenticated;
GRANT ALL ON analytics.currencies, analytics.fx_rates TO service_role;
