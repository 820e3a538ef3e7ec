-- medalliond's own bookkeeping in schema medallion: run history, the dedup
-- ledger, snapshot batch positions, first-seen users and gold dirty marks.
-- Must not create medallion.schema_migrations: `medalliond migrate` bootstraps it.

CREATE TABLE medallion.job_runs (
    run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_name       text NOT NULL,
    status         text NOT NULL
                   CHECK (status IN ('running', 'succeeded', 'failed', 'skipped', 'timed_out')),
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_written   bigint NOT NULL DEFAULT 0,
    rows_valid     bigint NOT NULL DEFAULT 0,
    rows_invalid   bigint NOT NULL DEFAULT 0,
    rows_duplicate bigint NOT NULL DEFAULT 0,
    message        text,
    instance       text NOT NULL,
    trigger        text NOT NULL DEFAULT 'schedule'
                   CHECK (trigger IN ('schedule', 'manual', 'catchup', 'retry'))
);
CREATE INDEX idx_job_runs_job_started ON medallion.job_runs (job_name, started_at DESC);
CREATE INDEX idx_job_runs_started ON medallion.job_runs (started_at);
CREATE INDEX idx_job_runs_running ON medallion.job_runs (status) WHERE status = 'running';
COMMENT ON TABLE medallion.job_runs IS
    'One row per job run (like pg_cron''s cron.job_run_details); pruned after history.retention.';
COMMENT ON COLUMN medallion.job_runs.instance IS
    'host:pid of the daemon that ran it; at start a daemon marks its own leftover running rows failed.';
COMMENT ON COLUMN medallion.job_runs.trigger IS
    'Why it ran: schedule, manual (medalliond run), catchup (missed while down) or retry.';
COMMENT ON COLUMN medallion.job_runs.rows_duplicate IS 'Bronze rows removed as duplicates (see medallion.duplicates).';

CREATE TABLE medallion.duplicates (
    source_table text NOT NULL,
    bronze_id    bigint NOT NULL,
    kept_id      bigint NOT NULL,
    dedup_key    text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_table, bronze_id)
);
COMMENT ON TABLE medallion.duplicates IS
    'Ledger of bronze rows not copied to silver because an earlier copy was kept: every bronze '
    'row is in its silver table or here, exactly once.';
COMMENT ON COLUMN medallion.duplicates.source_table IS 'Bronze table name without schema, e.g. events_raw.';
COMMENT ON COLUMN medallion.duplicates.kept_id IS 'Bronze id of the copy that is in silver.';
COMMENT ON COLUMN medallion.duplicates.dedup_key IS 'The key both copies share (event_id, or user_actions dedup_key).';

CREATE TABLE medallion.batch_positions (
    job_name      text PRIMARY KEY,
    source_table  text NOT NULL,
    prev_snapshot pg_snapshot,
    cur_snapshot  pg_snapshot,
    last_xid      xid8,
    last_id       bigint,
    rows_total    bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE medallion.batch_positions IS
    'PgQ-style batch position per batch job, moved in the same transaction as the batch''s writes '
    '(exactly-once). Locked with SELECT ... FOR UPDATE by the batch that uses it.';
COMMENT ON COLUMN medallion.batch_positions.prev_snapshot IS
    'Snapshot whose visible rows are all processed; NULL = nothing processed yet.';
COMMENT ON COLUMN medallion.batch_positions.cur_snapshot IS
    'Snapshot bounding the range being paged (visible in cur, not in prev); NULL = idle.';
COMMENT ON COLUMN medallion.batch_positions.last_xid IS
    'Keyset position inside the current range: last (xid, id) processed, with last_id.';
COMMENT ON COLUMN medallion.batch_positions.last_id IS 'Keyset position inside the current range (with last_xid).';

INSERT INTO medallion.batch_positions (job_name, source_table) VALUES
    ('clean_events', 'events_raw'),
    ('clean_api_logs', 'api_logs_raw'),
    ('clean_user_actions', 'user_actions_raw'),
    ('validate_transactions', 'transactions_raw'),
    ('build_user_sessions', 'events_clean');

CREATE TABLE medallion.user_first_seen (
    user_id           uuid PRIMARY KEY,
    first_event_at    timestamptz,
    first_purchase_at timestamptz,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE medallion.user_first_seen IS
    'First valid event and first succeeded purchase per user, maintained by silver batches so '
    'new_users and cohorts never rescan history.';

CREATE TABLE medallion.gold_dirty (
    target    text NOT NULL,
    day       date NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, day)
);
COMMENT ON TABLE medallion.gold_dirty IS
    'Days a gold job must recompute, marked by silver batches in their own transaction. A gold '
    'run deletes only the marks it read (a mark re-written meanwhile survives, via marked_at).';
COMMENT ON COLUMN medallion.gold_dirty.target IS 'Gold job name, e.g. calculate_daily_metrics.';
COMMENT ON COLUMN medallion.gold_dirty.day IS 'Day in reporting.timezone.';

CREATE TABLE medallion.cohort_dirty (
    cohort_month date PRIMARY KEY,
    marked_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE medallion.cohort_dirty IS
    'Cohort months calculate_user_cohorts must recompute (new activity, revenue, month rollover).';
