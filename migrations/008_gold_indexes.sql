-- Indexes the session and gold jobs' incremental queries need, found once
-- those jobs existed: new users and cohorts look users up by first-seen
-- time, and anonymous sessions are keyed by the client session_id.
CREATE INDEX idx_user_first_seen_first_event ON medallion.user_first_seen (first_event_at);
CREATE INDEX idx_events_clean_anon_session ON analytics.events_clean (session_id, created_at)
    WHERE user_id IS NULL;
