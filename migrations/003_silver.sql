-- Silver tables: validated, standardized rows written only by medalliond
-- (binary COPY inside the batch transaction). id = the bronze row's id.
-- Must never hold anything not derivable from bronze (raw IPs, for instance).

CREATE TABLE analytics.events_clean (
    id                bigint PRIMARY KEY,
    event_id          uuid,
    event_type        text,
    user_id           uuid,
    session_id        text,
    properties        jsonb,
    source            text,
    created_at        timestamptz,
    ingested_at       timestamptz NOT NULL,
    is_valid          boolean NOT NULL,
    quality_score     numeric(3,2) NOT NULL CHECK (quality_score BETWEEN 0 AND 1),
    validation_errors text[] NOT NULL DEFAULT '{}',
    processed_at      timestamptz NOT NULL DEFAULT now(),
    silver_xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
-- Safety net for dedup across batches: a second copy of an event_id cannot land.
CREATE UNIQUE INDEX idx_events_clean_event_id ON analytics.events_clean (event_id)
    WHERE event_id IS NOT NULL;
CREATE INDEX idx_events_clean_user_created ON analytics.events_clean (user_id, created_at);
CREATE INDEX idx_events_clean_created ON analytics.events_clean (created_at);
CREATE INDEX idx_events_clean_batch ON analytics.events_clean (silver_xid, id);

CREATE TABLE analytics.transactions_validated (
    id                bigint PRIMARY KEY,
    external_id       text,
    user_id           uuid,
    amount            numeric,
    amount_raw        numeric,
    currency          text,
    status            text,
    payment_method    text,
    properties        jsonb,
    source            text,
    created_at        timestamptz,
    ingested_at       timestamptz NOT NULL,
    is_valid          boolean NOT NULL,
    is_duplicate      boolean NOT NULL,
    fraud_score       numeric(3,2) NOT NULL CHECK (fraud_score BETWEEN 0 AND 1),
    fraud_reasons     text[] NOT NULL DEFAULT '{}',
    validation_errors text[] NOT NULL DEFAULT '{}',
    amount_base       numeric,
    base_currency     text,
    processed_at      timestamptz NOT NULL DEFAULT now(),
    silver_xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX idx_transactions_validated_dedup
    ON analytics.transactions_validated (external_id, status, amount, currency);
CREATE INDEX idx_transactions_validated_user_created
    ON analytics.transactions_validated (user_id, created_at);
CREATE INDEX idx_transactions_validated_created ON analytics.transactions_validated (created_at);
CREATE INDEX idx_transactions_validated_batch ON analytics.transactions_validated (silver_xid, id);

CREATE TABLE analytics.api_logs_clean (
    id                bigint PRIMARY KEY,
    request_id        text,
    method            text,
    path              text,
    route             text,
    status_code       integer,
    response_time_ms  numeric,
    is_error          boolean NOT NULL,
    user_id           uuid,
    ip_address        inet,
    user_agent        text,
    properties        jsonb,
    source            text,
    created_at        timestamptz,
    ingested_at       timestamptz NOT NULL,
    is_valid          boolean NOT NULL,
    validation_errors text[] NOT NULL DEFAULT '{}',
    processed_at      timestamptz NOT NULL DEFAULT now(),
    silver_xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX idx_api_logs_clean_created ON analytics.api_logs_clean (created_at);
CREATE INDEX idx_api_logs_clean_user ON analytics.api_logs_clean (user_id);
CREATE INDEX idx_api_logs_clean_batch ON analytics.api_logs_clean (silver_xid, id);

CREATE TABLE analytics.user_actions_clean (
    id                bigint PRIMARY KEY,
    user_id           uuid,
    action            text,
    entity_type       text,
    entity_id         text,
    properties        jsonb,
    source            text,
    created_at        timestamptz,
    ingested_at       timestamptz NOT NULL,
    is_valid          boolean NOT NULL,
    validation_errors text[] NOT NULL DEFAULT '{}',
    dedup_key         text,
    processed_at      timestamptz NOT NULL DEFAULT now(),
    silver_xid        xid8 NOT NULL DEFAULT pg_current_xact_id()
);
CREATE UNIQUE INDEX idx_user_actions_clean_dedup ON analytics.user_actions_clean (dedup_key)
    WHERE dedup_key IS NOT NULL;
CREATE INDEX idx_user_actions_clean_user_created
    ON analytics.user_actions_clean (user_id, created_at);
CREATE INDEX idx_user_actions_clean_batch ON analytics.user_actions_clean (silver_xid, id);

CREATE TABLE analytics.user_sessions (
    session_id        text PRIMARY KEY,
    user_id           uuid,
    client_session_id text,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz NOT NULL,
    duration_seconds  integer NOT NULL CHECK (duration_seconds >= 0),
    event_count       integer NOT NULL CHECK (event_count > 0),
    entry_event_type  text,
    exit_event_type   text,
    entry_page        text,
    exit_page         text,
    session_date      date NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at >= started_at)
);
CREATE INDEX idx_user_sessions_started ON analytics.user_sessions (started_at);
CREATE INDEX idx_user_sessions_user_started ON analytics.user_sessions (user_id, started_at);
CREATE INDEX idx_user_sessions_client_started
    ON analytics.user_sessions (client_session_id, started_at);

COMMENT ON TABLE analytics.events_clean IS
    'Silver: validated, standardized events; one row per bronze event except removed duplicates '
    '(those are in medallion.duplicates). Invalid rows are kept with is_valid = false.';
COMMENT ON COLUMN analytics.events_clean.id IS 'The analytics.events_raw id this row came from.';
COMMENT ON COLUMN analytics.events_clean.event_type IS 'Trimmed, lower snake_case (Page View -> page_view).';
COMMENT ON COLUMN analytics.events_clean.session_id IS
    'The CLIENT session id as sent in bronze. Derived sessions (gap/max-length rules) are in '
    'analytics.user_sessions, whose session_id is a different, derived id.';
COMMENT ON COLUMN analytics.events_clean.quality_score IS
    'Seed scoring: 0.00 no event_type, 0.50 no user_id, 0.70 no session_id, else 1.00; 0.00 when invalid.';
COMMENT ON COLUMN analytics.events_clean.validation_errors IS
    'Stable codes, e.g. missing_event_type, missing_created_at, future_timestamp, timestamp_before_2000.';
COMMENT ON COLUMN analytics.events_clean.ingested_at IS 'Copied from bronze: validity is judged against it, never against now().';

COMMENT ON TABLE analytics.transactions_validated IS
    'Silver: payment rows with standardized currency/amount, duplicate flag and fraud score.';
COMMENT ON COLUMN analytics.transactions_validated.amount IS
    'Major units rounded half away from zero to the currency minor unit; NULL when unparseable or out of range.';
COMMENT ON COLUMN analytics.transactions_validated.amount_raw IS 'The bronze amount exactly as received.';
COMMENT ON COLUMN analytics.transactions_validated.currency IS 'Trimmed, upper-cased; checked against analytics.currencies.';
COMMENT ON COLUMN analytics.transactions_validated.is_duplicate IS
    'An earlier row (any batch ever) has the same external_id, status, amount and currency (webhook retry).';
COMMENT ON COLUMN analytics.transactions_validated.amount_base IS
    'amount x fx_rates.base_per_unit (latest rate valid at created_at), in base_currency; NULL when no rate.';
COMMENT ON COLUMN analytics.transactions_validated.fraud_score IS
    'Seed thresholds on amount_base plus the velocity add-on, capped at 1.00; fraud_reasons says why.';

COMMENT ON TABLE analytics.api_logs_clean IS 'Silver: validated API logs; raw IPs never stored.';
COMMENT ON COLUMN analytics.api_logs_clean.path IS 'Request path without its query string.';
COMMENT ON COLUMN analytics.api_logs_clean.route IS 'path with numeric and UUID segments replaced by :id.';
COMMENT ON COLUMN analytics.api_logs_clean.ip_address IS
    'Anonymized: last IPv4 octet / last 80 IPv6 bits zeroed.';
COMMENT ON COLUMN analytics.api_logs_clean.is_error IS 'status_code >= 500.';

COMMENT ON TABLE analytics.user_actions_clean IS 'Silver: validated user actions, exact retries removed.';
COMMENT ON COLUMN analytics.user_actions_clean.dedup_key IS
    'Hex digest of the normalized row (user, action, entity, created_at, properties); exact retries '
    'share it and only the first lands here.';

COMMENT ON TABLE analytics.user_sessions IS
    'Silver: sessions derived from valid events (gap >= sessions.gap or length >= '
    'sessions.max_length starts a new one), keyed by user_id, else by the client session id.';
COMMENT ON COLUMN analytics.user_sessions.session_id IS
    'DERIVED deterministic session id (same input, same id). Not the client session id of '
    'events_clean.session_id; that one is client_session_id here.';
COMMENT ON COLUMN analytics.user_sessions.client_session_id IS
    'Client session id the session was keyed by when user_id is null (anonymous sessions).';
COMMENT ON COLUMN analytics.user_sessions.session_date IS
    'Date of started_at in reporting.timezone; sessions are never split at midnight.';
COMMENT ON COLUMN analytics.user_sessions.duration_seconds IS 'Last event minus first event (0 for one event).';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events_clean', 'transactions_validated', 'api_logs_clean',
                             'user_actions_clean']
    LOOP
        EXECUTE format('COMMENT ON COLUMN analytics.%I.silver_xid IS %L', t,
            'Id of the writing transaction (pg_current_xact_id()). Downstream jobs (sessions) read '
            'silver in snapshot-bounded batches on (silver_xid, id), like bronze.');
    END LOOP;
END
$$;
