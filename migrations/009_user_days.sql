-- medallion.user_days: one row per user and local day (reporting.timezone) with
-- at least one valid event, so the gold jobs count distinct active users from
-- it instead of re-reading raw events. Derived state only: it must never hold
-- anything events_clean cannot reproduce, and may be rebuilt at any time.

CREATE TABLE medallion.user_days (
    user_id uuid    NOT NULL,
    day     date    NOT NULL,
    events  integer NOT NULL CHECK (events > 0),
    PRIMARY KEY (user_id, day)
);
-- (day, user_id): the KPI windows count distinct users by day range with an
-- index-only scan.
CREATE INDEX idx_user_days_day ON medallion.user_days (day, user_id);
COMMENT ON TABLE medallion.user_days IS
    'DERIVED from analytics.events_clean: one row per user and local day (the timezone in '
    'medallion.derived_state) with its count of valid events. build_user_sessions replaces the '
    '(user, day) pairs of each events page in that page''s transaction; gold jobs read it.';
COMMENT ON COLUMN medallion.user_days.day IS
    'Local date of created_at in the timezone recorded in medallion.derived_state (name user_days).';
COMMENT ON COLUMN medallion.user_days.events IS 'Valid events of the user on that day (> 0).';

-- What a derived table was built with. A migration cannot know reporting.timezone,
-- so user_days starts with no row here: the first job that needs it (build_user_sessions
-- or a gold job, via medallion.user_days_ensure) builds it from events_clean, and
-- rebuilds it whenever reporting.timezone changes.
CREATE TABLE medallion.derived_state (
    name     text PRIMARY KEY,
    timezone text NOT NULL,
    built_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE medallion.derived_state IS
    'The reporting timezone each derived table (user_days) was last built with; a missing or '
    'different zone makes the next job rebuild it.';

-- Builds user_days from events_clean when it was never built or was built with
-- another zone; returns true when it did. The EXCLUSIVE lock waits for the
-- session pages writing user_days and keeps new ones out until the rebuild
-- commits; each statement below then reads events_clean as of after the lock
-- (READ COMMITTED: a fresh snapshot per statement), so no committed page is lost.
-- Call it outside a REPEATABLE READ transaction.
CREATE FUNCTION medallion.user_days_ensure(zone text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    AS $fn$
BEGIN
    IF EXISTS (SELECT 1 FROM medallion.derived_state WHERE name = 'user_days' AND timezone = zone) THEN
        RETURN false;
    END IF;
    LOCK TABLE medallion.user_days IN EXCLUSIVE MODE;
    IF EXISTS (SELECT 1 FROM medallion.derived_state WHERE name = 'user_days' AND timezone = zone) THEN
        RETURN false; -- another job built it while we waited
    END IF;
    DELETE FROM medallion.user_days;
    INSERT INTO medallion.user_days (user_id, day, events)
        SELECT user_id, (created_at AT TIME ZONE zone)::date, count(*)
        FROM analytics.events_clean
        WHERE is_valid AND user_id IS NOT NULL AND created_at IS NOT NULL
        GROUP BY 1, 2;
    INSERT INTO medallion.derived_state (name, timezone) VALUES ('user_days', zone)
        ON CONFLICT (name) DO UPDATE SET timezone = excluded.timezone, built_at = now();
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION medallion.user_days_ensure(text) IS
    'Rebuild medallion.user_days from analytics.events_clean unless it is already built for the zone.';
