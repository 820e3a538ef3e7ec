-- A change of reporting.timezone re-keys everything stored by local day, not
-- just medallion.user_days: the sessions' session_date, and the gold rows of
-- daily_metrics, revenue_summary and user_cohorts, which were computed with
-- the old day boundaries. Before this, a restart with another zone left
-- session_date in the old zone while the gold queries bounded started_at in
-- the new one, so a session near midnight counted on no day at all, and
-- backfill could not bring it back.
--
-- medallion.reporting_zone_ensure(zone) does it all in one transaction, once,
-- when the zone recorded in medallion.derived_state differs:
--   1. user_days rebuilt from events_clean (as user_days_ensure did);
--   2. user_sessions.session_date recomputed: the date of started_at in zone
--      (sessions themselves do not depend on the zone: no midnight split);
--   3. only when a zone was recorded before (a real change, not the first
--      build): gold rows of days that have no data in the new zone are
--      deleted, every day that has data is marked dirty, every cohort month
--      (old and new) is marked dirty; the gold jobs then recompute them. The
--      days marked are those the silver batches would have marked: days of
--      valid events and of every transaction, in the new zone.
-- After it, gold equals what a database built in the new zone from the start
-- holds, once the gold jobs have run.
--
-- Locking: EXCLUSIVE on user_days waits for the session pages (they write it)
-- and keeps new ones out until this commits, so no page computes session
-- dates or marks in the old zone meanwhile. Gold jobs only read user_days.
-- Call it outside a REPEATABLE READ transaction: each statement must see
-- everything committed before the lock.

CREATE FUNCTION medallion.reporting_zone_ensure(zone text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    AS $fn$
DECLARE
    old_zone text;
BEGIN
    IF EXISTS (SELECT 1 FROM medallion.derived_state WHERE name = 'user_days' AND timezone = zone) THEN
        RETURN false;
    END IF;
    LOCK TABLE medallion.user_days IN EXCLUSIVE MODE;
    SELECT timezone INTO old_zone FROM medallion.derived_state WHERE name = 'user_days';
    IF old_zone = zone THEN
        RETURN false; -- another job re-keyed while we waited
    END IF;

    DELETE FROM medallion.user_days;
    INSERT INTO medallion.user_days (user_id, day, events)
        SELECT user_id, (created_at AT TIME ZONE zone)::date, count(*)
        FROM analytics.events_clean
        WHERE is_valid AND user_id IS NOT NULL AND created_at IS NOT NULL
        GROUP BY 1, 2;

    UPDATE analytics.user_sessions SET session_date = (started_at AT TIME ZONE zone)::date
        WHERE session_date <> (started_at AT TIME ZONE zone)::date;

    IF old_zone IS NOT NULL THEN
        -- Transactions are marked for instants in years 1-9999 only (as the
        -- silver batches do): beyond them AT TIME ZONE can overflow.
        CREATE TEMP TABLE zone_tx_days ON COMMIT DROP AS
            SELECT DISTINCT (created_at AT TIME ZONE zone)::date AS day
            FROM analytics.transactions_validated
            WHERE created_at >= timestamptz '0001-01-02 00:00:00+00'
              AND created_at < timestamptz '9999-12-31 00:00:00+00';
        CREATE TEMP TABLE zone_event_days ON COMMIT DROP AS
            SELECT DISTINCT (created_at AT TIME ZONE zone)::date AS day
            FROM analytics.events_clean
            WHERE is_valid AND created_at IS NOT NULL
            UNION SELECT day FROM zone_tx_days;

        DELETE FROM analytics.daily_metrics m
            WHERE NOT EXISTS (SELECT 1 FROM zone_event_days d WHERE d.day = m.date);
        DELETE FROM analytics.revenue_summary r
            WHERE NOT EXISTS (SELECT 1 FROM zone_tx_days d WHERE d.day = r.date);
        INSERT INTO medallion.gold_dirty (target, day)
            SELECT 'calculate_daily_metrics', day FROM zone_event_days
            UNION ALL SELECT 'calculate_revenue_summary', day FROM zone_tx_days
            ORDER BY 1, 2
            ON CONFLICT (target, day) DO UPDATE SET marked_at = now();
        -- The job deletes a cohort left without users.
        INSERT INTO medallion.cohort_dirty (cohort_month)
            SELECT cohort_month FROM analytics.user_cohorts
            UNION SELECT date_trunc('month', first_event_at AT TIME ZONE zone)::date
                  FROM medallion.user_first_seen WHERE first_event_at IS NOT NULL
            ORDER BY 1
            ON CONFLICT (cohort_month) DO UPDATE SET marked_at = now();
    END IF;

    INSERT INTO medallion.derived_state (name, timezone) VALUES ('user_days', zone)
        ON CONFLICT (name) DO UPDATE SET timezone = excluded.timezone, built_at = now();
    RETURN true;
END
$fn$;
COMMENT ON FUNCTION medallion.reporting_zone_ensure(text) IS
    'Re-key everything stored by local day (user_days, user_sessions.session_date, gold days and '
    'cohorts) to the zone, unless medallion.derived_state already records it.';

-- Kept for a daemon of the previous version still running during an upgrade:
-- it now re-keys everything too.
CREATE OR REPLACE FUNCTION medallion.user_days_ensure(zone text) RETURNS boolean
    LANGUAGE sql VOLATILE
    AS $fn$ SELECT medallion.reporting_zone_ensure(zone) $fn$;
COMMENT ON FUNCTION medallion.user_days_ensure(text) IS
    'Former name of medallion.reporting_zone_ensure (which it calls).';
