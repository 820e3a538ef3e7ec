-- Gold tables: business aggregates written only by medalliond's gold jobs
-- (incrementally, from dirty marks). Must keep every column the seed's
-- "Querying Examples" read.

CREATE TABLE analytics.daily_metrics (
    date                         date PRIMARY KEY,
    active_users                 integer NOT NULL DEFAULT 0,
    new_users                    integer NOT NULL DEFAULT 0,
    returning_users              integer NOT NULL DEFAULT 0,
    total_sessions               integer NOT NULL DEFAULT 0,
    avg_session_duration_seconds numeric,
    total_events                 bigint NOT NULL DEFAULT 0,
    total_revenue                numeric NOT NULL DEFAULT 0,
    total_transactions           integer NOT NULL DEFAULT 0,
    paying_users                 integer NOT NULL DEFAULT 0,
    conversion_rate              numeric,
    updated_at                   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE analytics.revenue_summary (
    date                    date PRIMARY KEY,
    currency                text NOT NULL DEFAULT 'USD',
    total_revenue           numeric NOT NULL DEFAULT 0,
    total_transactions      integer NOT NULL DEFAULT 0,
    avg_transaction_value   numeric,
    successful_transactions integer NOT NULL DEFAULT 0,
    failed_transactions     integer NOT NULL DEFAULT 0,
    refunded_transactions   integer NOT NULL DEFAULT 0,
    refunded_amount         numeric NOT NULL DEFAULT 0,
    net_revenue             numeric NOT NULL DEFAULT 0,
    by_currency             jsonb NOT NULL DEFAULT '{}',
    by_payment_method       jsonb NOT NULL DEFAULT '{}',
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE analytics.user_cohorts (
    cohort_month         date PRIMARY KEY CHECK (extract(day FROM cohort_month) = 1),
    month_0_users        integer NOT NULL DEFAULT 0,
    month_1_users        integer,
    month_2_users        integer,
    month_3_users        integer,
    month_6_users        integer,
    month_12_users       integer,
    month_1_retention    numeric,
    month_2_retention    numeric,
    month_3_retention    numeric,
    month_6_retention    numeric,
    month_12_retention   numeric,
    total_revenue        numeric NOT NULL DEFAULT 0,
    avg_revenue_per_user numeric,
    updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE analytics.kpi_dashboard (
    metric_name       text NOT NULL,
    time_period       text NOT NULL,
    metric_value      numeric,
    metric_unit       text,
    previous_value    numeric,
    change_percentage numeric,
    trend             text CHECK (trend IN ('up', 'down', 'flat')),
    period_start      date,
    period_end        date,
    computed_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (metric_name, time_period)
);

COMMENT ON TABLE analytics.daily_metrics IS
    'Gold: one row per day (reporting.timezone): users, sessions, events, revenue (base currency).';
COMMENT ON COLUMN analytics.daily_metrics.active_users IS 'Distinct users with at least one valid event that day.';
COMMENT ON COLUMN analytics.daily_metrics.new_users IS
    'Users whose first valid event ever (medallion.user_first_seen) falls on that day.';
COMMENT ON COLUMN analytics.daily_metrics.returning_users IS 'active_users - new_users.';
COMMENT ON COLUMN analytics.daily_metrics.total_revenue IS
    'Succeeded, valid, non-duplicate transactions in the base currency (gross).';
COMMENT ON COLUMN analytics.daily_metrics.conversion_rate IS 'paying_users / active_users (NULL when no active users).';

COMMENT ON TABLE analytics.revenue_summary IS 'Gold: daily revenue in the base currency, with breakdowns.';
COMMENT ON COLUMN analytics.revenue_summary.currency IS 'The base currency all amounts are in (reporting.base_currency).';
COMMENT ON COLUMN analytics.revenue_summary.refunded_amount IS 'Rows with status refunded, on their own date.';
COMMENT ON COLUMN analytics.revenue_summary.net_revenue IS 'total_revenue - refunded_amount.';

COMMENT ON TABLE analytics.user_cohorts IS
    'Gold: monthly cohorts by month of first valid event, with retention.';
COMMENT ON COLUMN analytics.user_cohorts.month_1_retention IS
    'month_1_users / month_0_users; NULL while month 1 has not ended (same for the other month_N_retention).';
COMMENT ON COLUMN analytics.user_cohorts.avg_revenue_per_user IS
    'Valid non-duplicate succeeded revenue of the cohort (base currency) / month_0_users.';

COMMENT ON TABLE analytics.kpi_dashboard IS
    'Gold: KPIs per period (24h = yesterday, 7d, 30d: whole days ending yesterday).';
COMMENT ON COLUMN analytics.kpi_dashboard.change_percentage IS
    '100 x (cur - prev) / prev against the previous period of the same length; NULL when prev is 0 or NULL.';
COMMENT ON COLUMN analytics.kpi_dashboard.trend IS 'flat when |change_percentage| < kpi.flat_band, else up/down.';
