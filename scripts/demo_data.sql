-- Deterministic generator of DIRTY bronze data for demos, tests and benchmarks:
-- the same parameters always give byte-identical rows (ids included, in a fresh
-- database; only ingest_xid differs). It must never use random() or now():
-- every value comes from a hash of (seed, row number, salt).
--
-- Usage (every variable is optional):
--   psql -v events=100000 -v users=2000 -v days=120 -v seed=42 \
--        -v anchor="'2026-11-25'" -v schema=analytics -f scripts/demo_data.sql
-- Also: -v transactions=N (default events/20), -v api_logs=N (default events/10),
--       -v user_actions=N (default events/10).
-- Activity spans the `days` days ending on `anchor` (default current_date), so
-- "last 7 days" queries find rows. schema=seedref fills the seed baseline's
-- bronze tables; API logs and user actions are generated only where those
-- tables exist. Rows are appended; ids continue the tables' identity sequences.
--
-- Dirty cases produced (each at least once for events >= 20000): retried events
-- (same event_id 2-4 times), null/variant event types and sources, anonymous
-- events, events with neither user nor session, null/future/pre-2000 created_at,
-- late arrivals, wrong-typed properties, sessions > 24 h, idle gaps > 30 min;
-- payments with pending/succeeded/refunded/failed rows, webhook retries, odd
-- currencies and amounts (negative, 0, 1e25, NaN, +-Infinity, 3 decimals, null),
-- velocity bursts; bad API methods/status codes/IPs/latencies; exact retries of
-- user actions.

\set ON_ERROR_STOP on

\if :{?events}
\else
\set events 20000
\endif
\if :{?users}
\else
\set users 2000
\endif
\if :{?days}
\else
\set days 120
\endif
\if :{?seed}
\else
\set seed 42
\endif
\if :{?anchor}
\else
\set anchor current_date
\endif
\if :{?schema}
\else
\set schema analytics
\endif
\if :{?transactions}
\else
SELECT (:events)::bigint / 20 AS transactions \gset
\endif
\if :{?api_logs}
\else
SELECT (:events)::bigint / 10 AS api_logs \gset
\endif
\if :{?user_actions}
\else
SELECT (:events)::bigint / 10 AS user_actions \gset
\endif

-- Day boundaries and printed timestamps in UTC, whatever the server's default.
SET TimeZone = 'UTC';
SET work_mem = '256MB';
SET client_min_messages = warning;
-- JIT compiling these wide expressions costs ~1 s per statement: a loss on
-- small runs (tests), a gain on million-row ones.
SELECT (:events)::bigint < 200000 AS md_small_run \gset
\if :md_small_run
SET jit = off;
\endif

SELECT ((:anchor)::date + 1)::timestamptz AS t_end,
       greatest((:users)::bigint, 1) AS n_users,
       greatest((:days)::int, 1) AS n_days,
       to_regclass(format('%I.api_logs_raw', :'schema')) IS NOT NULL AS has_api_logs,
       to_regclass(format('%I.user_actions_raw', :'schema')) IS NOT NULL AS has_user_actions
\gset

-- h(n, salt): uniform double in [0, 1) from (seed, n, salt). The seed is baked
-- in as a constant so the planner folds the inner hash once per call site.
-- Hash-partitioning depends on hashint8extended being stable, so values are
-- stable across PostgreSQL versions and platforms.
SELECT format($f$
CREATE FUNCTION pg_temp.md_h(n bigint, salt int) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
'SELECT (hashint8extended(n, hashint8extended(salt, %s)) & 9007199254740991)::float8
        / 9007199254740992.0'$f$, (:seed)::bigint) \gexec
-- md_uuid(kind, n): a uuid derived from (seed, kind, n): users are (1, user number).
-- Two hashes rather than md5(): several times faster over a million rows.
SELECT format($f$
CREATE FUNCTION pg_temp.md_uuid(kind int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
'SELECT (lpad(to_hex(hashint8extended(n, hashint8extended(kind, %1$s))), 16, ''0'')
         || lpad(to_hex(hashint8extended(n, hashint8extended(kind + 1000, %1$s))), 16, ''0''))::uuid'
$f$, (:seed)::bigint) \gexec
-- md_pick(arr, h): element of arr chosen by h in [0, 1).
CREATE FUNCTION pg_temp.md_pick(arr text[], h float8) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
'SELECT arr[1 + floor(h * cardinality(arr))::int]';

BEGIN;

-- ---------------------------------------------------------------------------
-- Events: sessions of 1-11 events a few minutes apart (a few 80-event sessions
-- spanning ~26 h, some with a 40-100 min idle gap in the middle); each logical
-- event is sent 1-4 times (client retries, ~3% retried) and the rows are cut
-- at exactly :events.
INSERT INTO :"schema".events_raw
    (event_id, event_type, user_id, session_id, properties, source, created_at, ingested_at)
WITH sess AS (
    SELECT s,
           1 + floor(:n_users * pg_temp.md_h(s, 2) ^ 1.5)::bigint AS u,
           pg_temp.md_h(s, 1) AS hk,
           (pg_temp.md_h(s, 3) < 0.0015 OR s IN (3, 11)) AS marathon,
           pg_temp.md_h(s, 4) < 0.05 AS has_gap,
           pg_temp.md_h(s, 5) AS ht,
           pg_temp.md_h(s, 6) AS hlen,
           pg_temp.md_h(s, 13) AS hsrc
    FROM generate_series(1, (:events)::bigint / 4 + 20) AS s
), sess2 AS (
    SELECT s, u, has_gap, marathon, ht, hsrc,
           CASE WHEN marathon THEN 'user' WHEN hk < 0.08 THEN 'anon' WHEN hk < 0.09 THEN 'none'
                WHEN hk < 0.14 THEN 'nosid' ELSE 'user' END AS kind,
           CASE WHEN marathon THEN 80 ELSE 1 + floor(11 * hlen)::int END AS len,
           CASE WHEN marathon THEN 1200.0 ELSE 150.0 END::float8 AS step,
           pg_temp.md_h(u, 7) AS hj -- how long ago (fraction of :days) the user joined
    FROM sess
), sess3 AS (
    SELECT *, sum(len) OVER (ORDER BY s) - len AS base FROM sess2
), sess4 AS (
    SELECT s, kind, len, step, base, marathon, has_gap AND NOT marathon AS has_gap, hsrc,
           CASE WHEN kind IN ('user', 'nosid') THEN pg_temp.md_uuid(1, u) END AS user_id,
           CASE WHEN kind IN ('user', 'anon')
                THEN 'sess_' || substr(md5((:seed)::text || ':sess:' || s), 1, 20) END
               AS session_id,
           :'t_end'::timestamptz - interval '1 second' * (
               len * step + 3600
               + greatest(:n_days * 86400.0 - len * step - 3600, 0)
                 * CASE WHEN kind IN ('user', 'nosid') THEN hj ELSE 1 END * ht) AS t0
    FROM sess3
    WHERE base < (:events)::bigint
), logical AS (
    SELECT base + i + 1 AS le, s, user_id, session_id, i, hsrc,
           t0 + interval '1 second' * (
               -- jitter keeps marathon gaps within 15-25 min, ordinary ones 10-290 s
               i * step + pg_temp.md_h(base + i + 1, 8) * CASE WHEN marathon THEN 300 ELSE step - 10 END
               + CASE WHEN has_gap AND i >= len / 2 THEN 2400 + 3600 * pg_temp.md_h(s, 9)
                      ELSE 0 END) AS ct
    FROM sess4, generate_series(0, len - 1) AS i
    WHERE base + i + 1 <= (:events)::bigint
), copies AS (
    SELECT l.*, c
    FROM logical l,
         generate_series(0, CASE WHEN pg_temp.md_h(le, 10) < 0.03
                                 THEN 1 + floor(3 * pg_temp.md_h(le, 11))::int ELSE 0 END) AS c
), numbered AS (
    SELECT *, row_number() OVER (ORDER BY le, c) AS rn,
           CASE WHEN le = 5 THEN 0.0 WHEN le = 6 THEN 0.006 WHEN le = 7 THEN 0.0101
                ELSE pg_temp.md_h(le, 17) END AS hts
    FROM copies
), ev AS (
    SELECT rn,
           CASE WHEN pg_temp.md_h(le, 16) < 0.02 THEN NULL
                ELSE pg_temp.md_uuid(2, le) END AS event_id,
           CASE WHEN he < 0.45 THEN 'page_view' WHEN he < 0.70 THEN 'click'
                WHEN he < 0.78 THEN 'form_submit' WHEN he < 0.82 THEN 'purchase'
                WHEN he < 0.85 THEN 'Page View' WHEN he < 0.88 THEN ' page_view '
                WHEN he < 0.91 THEN 'PAGE_VIEW' WHEN he < 0.94 THEN 'pageView'
                WHEN he < 0.96 THEN NULL WHEN he < 0.98 THEN 'signup' ELSE 'search' END
               AS event_type,
           user_id, session_id,
           CASE WHEN hp < 0.020 THEN NULL
                WHEN hp < 0.030 THEN '{"page": 123}'::jsonb
                WHEN hp < 0.035 THEN '[1, 2, 3]'::jsonb
                WHEN hp < 0.040 THEN '"just a string"'::jsonb
                WHEN hp < 0.045 THEN
                    '{"page": {"nested": [1, {"deep": null}]}, "junk": [true, "x", 1.5e300]}'::jsonb
                WHEN hp < 0.050 THEN '42'::jsonb
                WHEN hp < 0.055 THEN '{}'::jsonb
                ELSE jsonb_build_object(
                    'page', pg_temp.md_pick('{/,/dashboard,/pricing,/settings,/products/42,'
                                            '/checkout,/blog/hello-world,/search?q=shoes}',
                                            pg_temp.md_h(le, 15)),
                    'ms_on_page', floor(60000 * pg_temp.md_h(le, 18))::int) END AS properties,
           CASE WHEN hsrc < 0.50 THEN 'web' WHEN hsrc < 0.55 THEN ' Web' WHEN hsrc < 0.70 THEN 'ios'
                WHEN hsrc < 0.75 THEN 'IOS' WHEN hsrc < 0.90 THEN 'android'
                WHEN hsrc < 0.95 THEN 'Android ' ELSE NULL END AS source,
           CASE WHEN hts < 0.005 THEN NULL
                WHEN hts < 0.010 THEN ct + interval '1 day' * (2 + 28 * pg_temp.md_h(le, 19))
                WHEN hts < 0.0105 THEN timestamptz '1999-12-31 23:00:00+00'
                                       - interval '1 day' * floor(10000 * pg_temp.md_h(le, 19))
                ELSE ct END AS created_at,
           ct + interval '1 second' * (
               0.05 + 3 * pg_temp.md_h(le, 20)
               + CASE WHEN hts >= 0.0105 AND pg_temp.md_h(le, 21) < 0.01
                      THEN 3600 + 255600 * pg_temp.md_h(le, 22) ELSE 0 END -- late arrival
               + c * (1 + 60 * pg_temp.md_h(le * 4 + c, 23))) AS ingested_at
    FROM (SELECT *, pg_temp.md_h(le, 12) AS he, pg_temp.md_h(le, 14) AS hp FROM numbered
          WHERE rn <= (:events)::bigint) n
)
SELECT event_id, event_type, user_id, session_id, properties, source, created_at, ingested_at
FROM ev
ORDER BY ingested_at, rn;

-- ---------------------------------------------------------------------------
-- Transactions: payments of 1-3 status rows under one external_id, ~5% of rows
-- re-sent by webhook retries, blocks of 8 payments by one user within 8 minutes
-- (velocity), cut at exactly :transactions rows.
INSERT INTO :"schema".transactions_raw
    (external_id, user_id, amount, currency, status, payment_method, properties, source,
     created_at, ingested_at)
WITH pay AS (
    SELECT p, b, burst,
           CASE WHEN burst THEN 1 + floor(:n_users * pg_temp.md_h(b, 30))::bigint
                WHEN pg_temp.md_h(p, 33) < 0.02 THEN NULL
                ELSE 1 + floor(:n_users * pg_temp.md_h(p, 32) ^ 1.5)::bigint END AS u,
           CASE WHEN burst
                THEN :'t_end'::timestamptz - interval '1 second' * (
                         3600 + (:n_days * 86400.0 - 7200) * pg_temp.md_h(b, 31))
                     + interval '1 second' * (70 * ((p - 1) % 8) + 20 * pg_temp.md_h(p, 34))
                ELSE :'t_end'::timestamptz - interval '1 second' * (
                         3600 + (:n_days * 86400.0 - 7200) * pg_temp.md_h(p, 34) ^ 1.2) END AS t,
           pg_temp.md_h(p, 35) AS hpath, pg_temp.md_h(p, 36) AS hc,
           -- payments 9-15 force the rare amount cases so even small runs have each
           CASE p WHEN 9 THEN 0.021 WHEN 10 THEN 0.033 WHEN 11 THEN 0.035 WHEN 12 THEN 0.025
                  WHEN 13 THEN 0.005 WHEN 14 THEN 0.015 WHEN 15 THEN 0.040
                  ELSE pg_temp.md_h(p, 37) END AS ha,
           pg_temp.md_h(p, 38) AS ha2
    FROM (SELECT p, (p - 1) / 8 AS b, ((p - 1) / 8) % 50 = 0 AS burst
          FROM generate_series(1, (:transactions)::bigint / 2 + 8) AS p) x
), pay2 AS (
    SELECT p, u, t, ha, ha2,
           CASE WHEN burst OR hpath < 0.05 THEN '{succeeded}'::text[]
                WHEN hpath < 0.15 THEN '{pending,failed}'
                WHEN hpath < 0.20 THEN '{pending,succeeded,refunded}'
                WHEN hpath < 0.23 THEN '{pending}'
                ELSE '{pending,succeeded}' END AS path,
           CASE WHEN hc < 0.40 THEN 'USD' WHEN hc < 0.55 THEN 'EUR' WHEN hc < 0.65 THEN 'GBP'
                WHEN hc < 0.71 THEN 'JPY' WHEN hc < 0.77 THEN 'CAD' WHEN hc < 0.82 THEN 'AUD'
                WHEN hc < 0.86 THEN 'CHF' WHEN hc < 0.88 THEN ' eur' WHEN hc < 0.90 THEN 'usd'
                WHEN hc < 0.92 THEN 'GBP ' WHEN hc < 0.94 THEN 'XYZ' WHEN hc < 0.96 THEN 'US$'
                WHEN hc < 0.98 THEN NULL WHEN hc < 0.99 THEN 'SEK' ELSE 'KWD' END AS currency
    FROM pay
), srows AS (
    SELECT p, u, t, ha, ha2, currency, st.status, st.k, c,
           row_number() OVER (ORDER BY p, st.k, c) AS rn,
           CASE st.status
               WHEN 'succeeded' THEN CASE WHEN st.k = 1 THEN 0
                                          ELSE 2 + 28 * pg_temp.md_h(p, 44) END
               WHEN 'failed' THEN 5 + 55 * pg_temp.md_h(p, 44)
               -- refunds come 1-5 days later, but never after the anchor date
               WHEN 'refunded' THEN least(86400 + 345600 * pg_temp.md_h(p, 45),
                                          greatest(60, extract(epoch FROM :'t_end'::timestamptz - t) - 10))
               ELSE 0 END AS offs
    FROM pay2,
         unnest(path) WITH ORDINALITY AS st(status, k),
         generate_series(0, CASE WHEN pg_temp.md_h(p * 4 + st.k, 39) < 0.01 THEN 2
                                 WHEN pg_temp.md_h(p * 4 + st.k, 39) < 0.05 THEN 1
                                 ELSE 0 END) AS c
), tx AS (
    SELECT rn,
           CASE WHEN pg_temp.md_h(p, 46) < 0.005 THEN NULL
                ELSE 'pi_' || substr(md5((:seed)::text || ':pay:' || p), 1, 24) END AS external_id,
           CASE WHEN u IS NOT NULL THEN pg_temp.md_uuid(1, u) END AS user_id,
           CASE WHEN ha < 0.010 THEN -round((1 + 99 * ha2)::numeric, 2)
                WHEN ha < 0.020 THEN 0
                WHEN ha < 0.022 THEN 1e25
                WHEN ha < 0.032 THEN round((1 + 100 * ha2)::numeric, 3)
                WHEN ha < 0.034 THEN 'NaN'::numeric
                WHEN ha < 0.036 THEN 'Infinity'::numeric
                WHEN ha < 0.037 THEN '-Infinity'::numeric
                WHEN ha < 0.047 THEN NULL
                WHEN ha < 0.067 THEN round((5001 + 15000 * ha2)::numeric, 2)
                WHEN currency IN ('JPY') THEN round((300 + 30000 * ha2)::numeric, 0)
                ELSE round((2 + 250 * ha2 ^ 2)::numeric, 2) END AS amount,
           currency, status,
           CASE WHEN hm < 0.55 THEN 'card' WHEN hm < 0.60 THEN ' Card' WHEN hm < 0.63 THEN 'CARD'
                WHEN hm < 0.78 THEN 'paypal' WHEN hm < 0.88 THEN 'apple_pay'
                WHEN hm < 0.95 THEN 'bank_transfer' ELSE NULL END AS payment_method,
           CASE WHEN hpr < 0.02 THEN NULL
                WHEN hpr < 0.03 THEN '[]'::jsonb
                WHEN hpr < 0.04 THEN '{"order_id": 12345, "items": "three"}'::jsonb
                ELSE jsonb_build_object('order_id', 'ord_' || p,
                                        'items', 1 + floor(5 * pg_temp.md_h(p, 47))::int) END
               AS properties,
           CASE WHEN hs < 0.60 THEN 'stripe_webhook' WHEN hs < 0.80 THEN 'paypal_webhook'
                WHEN hs < 0.90 THEN ' Stripe' WHEN hs < 0.97 THEN 'checkout_api' ELSE NULL END
               AS source,
           CASE WHEN hts < 0.005 THEN NULL
                WHEN hts < 0.008 THEN ct + interval '1 day' * (2 + 28 * pg_temp.md_h(p, 48))
                ELSE ct END AS created_at,
           ct + interval '1 second' * (0.5 + 4.5 * pg_temp.md_h(p * 4 + k, 49)
                                       + c * (5 + 295 * pg_temp.md_h(p * 16 + k * 4 + c, 49)))
               AS ingested_at
    FROM (SELECT *, t + interval '1 second' * offs AS ct,
                 pg_temp.md_h(p, 40) AS hm, pg_temp.md_h(p, 41) AS hpr,
                 pg_temp.md_h(p, 42) AS hs, pg_temp.md_h(p * 4 + k, 43) AS hts
          FROM srows WHERE rn <= (:transactions)::bigint) r
)
SELECT external_id, user_id, amount, currency, status, payment_method, properties, source,
       created_at, ingested_at
FROM tx
ORDER BY ingested_at, rn;

-- ---------------------------------------------------------------------------
-- API logs: one row per request.
\if :has_api_logs
INSERT INTO :"schema".api_logs_raw
    (request_id, method, path, status_code, response_time_ms, user_id, ip_address, user_agent,
     properties, source, created_at, ingested_at)
WITH req AS (
    SELECT n,
           :'t_end'::timestamptz - interval '1 second' * (
               60 + (:n_days * 86400.0 - 60) * pg_temp.md_h(n, 50) ^ 1.3) AS ct,
           pg_temp.md_h(n, 51) AS hm, pg_temp.md_h(n, 52) AS hp, pg_temp.md_h(n, 53) AS hs,
           CASE WHEN n = 3 THEN 0.016 ELSE pg_temp.md_h(n, 54) END AS hr, pg_temp.md_h(n, 56) AS hi, pg_temp.md_h(n, 58) AS hpr,
           pg_temp.md_h(n, 59) AS hsrc, pg_temp.md_h(n, 60) AS hts,
           (1 + floor(100000 * pg_temp.md_h(n, 61)))::bigint::text AS num_id,
           pg_temp.md_uuid(3, n)::text AS uuid_id
    FROM generate_series(1, (:api_logs)::bigint) AS n
), api AS (
    SELECT n,
           CASE WHEN pg_temp.md_h(n, 62) < 0.02 THEN NULL
                ELSE 'req_' || substr(md5((:seed)::text || ':req:' || n), 1, 16) END AS request_id,
           CASE WHEN hm < 0.55 THEN 'GET' WHEN hm < 0.72 THEN 'POST' WHEN hm < 0.77 THEN 'PUT'
                WHEN hm < 0.81 THEN 'DELETE' WHEN hm < 0.84 THEN 'PATCH' WHEN hm < 0.88 THEN 'get'
                WHEN hm < 0.90 THEN ' post' WHEN hm < 0.92 THEN 'FETCH' WHEN hm < 0.94 THEN NULL
                WHEN hm < 0.96 THEN 'OPTIONS' ELSE 'HEAD' END AS method,
           CASE WHEN hp < 0.25 THEN '/api/users/' || num_id
                WHEN hp < 0.40 THEN '/api/users/' || num_id || '/orders/' || uuid_id || '?x=1'
                WHEN hp < 0.55 THEN '/api/products/' || num_id
                WHEN hp < 0.65 THEN '/api/search?q=shoes&page=2'
                WHEN hp < 0.75 THEN '/api/health'
                WHEN hp < 0.85 THEN '/api/orders/' || uuid_id
                WHEN hp < 0.92 THEN '/api/users/' || num_id || '/'
                WHEN hp < 0.96 THEN '/'
                WHEN hp < 0.98 THEN NULL
                WHEN hp < 0.99 THEN ''
                ELSE '/api/v2/Products/' || num_id || '?sort=desc&limit=50' END AS path,
           CASE WHEN hs < 0.70 THEN 200 WHEN hs < 0.75 THEN 201 WHEN hs < 0.78 THEN 204
                WHEN hs < 0.80 THEN 301 WHEN hs < 0.81 THEN 304 WHEN hs < 0.85 THEN 400
                WHEN hs < 0.88 THEN 401 WHEN hs < 0.92 THEN 404 WHEN hs < 0.95 THEN 500
                WHEN hs < 0.96 THEN 502 WHEN hs < 0.97 THEN 503 WHEN hs < 0.975 THEN 0
                WHEN hs < 0.98 THEN 99 WHEN hs < 0.985 THEN 600 WHEN hs < 0.99 THEN NULL
                ELSE 429 END AS status_code,
           CASE WHEN hr < 0.005 THEN -round((1 + 100 * pg_temp.md_h(n, 55))::numeric, 1)
                WHEN hr < 0.015 THEN NULL
                WHEN hr < 0.017 THEN 1e9
                WHEN hr < 0.019 THEN 0
                ELSE round((1 + 3000 * pg_temp.md_h(n, 55) ^ 4)::numeric, 3) END AS response_time_ms,
           CASE WHEN pg_temp.md_h(n, 57) < 0.6
                THEN pg_temp.md_uuid(1, 1 + floor(:n_users * pg_temp.md_h(n, 63) ^ 1.5)::bigint)
                END AS user_id,
           CASE WHEN hi < 0.60 THEN (1 + floor(223 * pg_temp.md_h(n, 64)))::int || '.'
                                    || floor(256 * pg_temp.md_h(n, 65))::int || '.'
                                    || floor(256 * pg_temp.md_h(n, 66))::int || '.'
                                    || floor(256 * pg_temp.md_h(n, 67))::int
                WHEN hi < 0.75 THEN '2001:db8:' || to_hex(floor(65536 * pg_temp.md_h(n, 64))::int)
                                    || ':' || to_hex(floor(65536 * pg_temp.md_h(n, 65))::int)
                                    || '::' || to_hex(1 + floor(65535 * pg_temp.md_h(n, 66))::int)
                WHEN hi < 0.80 THEN '::ffff:1.2.3.' || floor(256 * pg_temp.md_h(n, 64))::int
                WHEN hi < 0.84 THEN 'not-an-ip'
                WHEN hi < 0.87 THEN '999.1.1.1'
                WHEN hi < 0.90 THEN NULL
                WHEN hi < 0.93 THEN ' 10.0.0.' || floor(256 * pg_temp.md_h(n, 64))::int || ' '
                WHEN hi < 0.96 THEN '2001:0db8:85a3:0000:0000:8a2e:0370:7334'
                ELSE '192.168.1.' || floor(256 * pg_temp.md_h(n, 64))::int END AS ip_address,
           CASE WHEN pg_temp.md_h(n, 68) < 0.05 THEN NULL
                WHEN pg_temp.md_h(n, 68) < 0.06 THEN ''
                ELSE pg_temp.md_pick(ARRAY[
                    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36',
                    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 Version/17.1 Safari/605.1.15',
                    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) Mobile/15E148',
                    'Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36',
                    'curl/8.5.0', 'python-requests/2.31.0', 'okhttp/4.12.0'],
                    pg_temp.md_h(n, 69)) END AS user_agent,
           CASE WHEN hpr < 0.03 THEN NULL
                WHEN hpr < 0.04 THEN '["a"]'::jsonb
                ELSE jsonb_build_object('region', pg_temp.md_pick('{eu-west-1,us-east-1,ap-south-1}',
                                                                  pg_temp.md_h(n, 70))) END
               AS properties,
           CASE WHEN hsrc < 0.60 THEN 'edge_function' WHEN hsrc < 0.90 THEN 'api_gateway'
                WHEN hsrc < 0.95 THEN ' Edge-Function' ELSE NULL END AS source,
           CASE WHEN hts < 0.005 THEN NULL
                WHEN hts < 0.008 THEN ct + interval '1 day' * (2 + 28 * pg_temp.md_h(n, 71))
                ELSE ct END AS created_at,
           ct + interval '1 second' * (0.01 + pg_temp.md_h(n, 72)) AS ingested_at
    FROM req
)
SELECT request_id, method, path, status_code, response_time_ms, user_id, ip_address, user_agent,
       properties, source, created_at, ingested_at
FROM api
ORDER BY ingested_at, n;
\endif

-- ---------------------------------------------------------------------------
-- User actions: ~3% re-sent as exact retries (same user, action, entity,
-- created_at, properties; later ingested_at), cut at exactly :user_actions rows.
\if :has_user_actions
INSERT INTO :"schema".user_actions_raw
    (user_id, action, entity_type, entity_id, properties, source, created_at, ingested_at)
WITH logical AS (
    SELECT le,
           :'t_end'::timestamptz - interval '1 second' * (
               60 + (:n_days * 86400.0 - 60) * pg_temp.md_h(le, 80) ^ 1.3) AS ct
    FROM generate_series(1, (:user_actions)::bigint) AS le
), copies AS (
    SELECT l.*, c, row_number() OVER (ORDER BY le, c) AS rn
    FROM logical l,
         generate_series(0, CASE WHEN pg_temp.md_h(le, 81) < 0.03
                                 THEN 1 + floor(2 * pg_temp.md_h(le, 82))::int ELSE 0 END) AS c
), ua AS (
    SELECT rn,
           CASE WHEN pg_temp.md_h(le, 83) < 0.03 THEN NULL
                ELSE pg_temp.md_uuid(1, 1 + floor(:n_users * pg_temp.md_h(le, 84) ^ 1.5)::bigint)
                END AS user_id,
           CASE WHEN ha < 0.30 THEN 'view' WHEN ha < 0.50 THEN 'update' WHEN ha < 0.65 THEN 'create'
                WHEN ha < 0.72 THEN 'delete' WHEN ha < 0.80 THEN 'share' WHEN ha < 0.84 THEN 'Create'
                WHEN ha < 0.88 THEN ' UPDATE ' WHEN ha < 0.90 THEN 'VIEW' WHEN ha < 0.93 THEN NULL
                WHEN ha < 0.96 THEN 'comment' ELSE 'export' END AS action,
           CASE WHEN he < 0.35 THEN 'document' WHEN he < 0.55 THEN 'project'
                WHEN he < 0.60 THEN 'Project' WHEN he < 0.75 THEN 'comment' WHEN he < 0.80 THEN ' task'
                WHEN he < 0.90 THEN 'task' WHEN he < 0.95 THEN 'Document ' ELSE NULL END
               AS entity_type,
           CASE WHEN hi < 0.50 THEN (1 + floor(50000 * pg_temp.md_h(le, 85)))::bigint::text
                WHEN hi < 0.90 THEN pg_temp.md_uuid(4, le)::text
                WHEN hi < 0.95 THEN 'DOC-' || le
                ELSE NULL END AS entity_id,
           CASE WHEN hpr < 0.05 THEN NULL
                WHEN hpr < 0.07 THEN '[1, 2]'::jsonb
                WHEN hpr < 0.08 THEN '"text"'::jsonb
                WHEN hpr < 0.09 THEN '{"field": 7, "changes": {"a": [1, 2]}}'::jsonb
                ELSE jsonb_build_object('field', pg_temp.md_pick('{title,status,owner,due_date}',
                                                                 pg_temp.md_h(le, 86)),
                                        'client', 'web') END AS properties,
           CASE WHEN hsrc < 0.50 THEN 'web' WHEN hsrc < 0.70 THEN 'ios' WHEN hsrc < 0.90 THEN 'android'
                WHEN hsrc < 0.95 THEN ' Web' ELSE NULL END AS source,
           CASE WHEN hts < 0.005 THEN NULL
                WHEN hts < 0.008 THEN ct + interval '1 day' * (2 + 28 * pg_temp.md_h(le, 87))
                ELSE ct END AS created_at,
           ct + interval '1 second' * (0.05 + 2 * pg_temp.md_h(le, 88)
                                       + c * (1 + 30 * pg_temp.md_h(le * 4 + c, 89))) AS ingested_at
    FROM (SELECT *, pg_temp.md_h(le, 90) AS ha, pg_temp.md_h(le, 91) AS he,
                 pg_temp.md_h(le, 92) AS hi, pg_temp.md_h(le, 93) AS hpr,
                 pg_temp.md_h(le, 94) AS hsrc, pg_temp.md_h(le, 95) AS hts
          FROM copies WHERE rn <= (:user_actions)::bigint) x
)
SELECT user_id, action, entity_type, entity_id, properties, source, created_at, ingested_at
FROM ua
ORDER BY ingested_at, rn;
\endif

COMMIT;

-- Summary: rows per bronze table of the target schema (all rows, not only this run's).
\echo demo_data: schema=:schema events=:events users=:users days=:days seed=:seed transactions=:transactions api_logs=:api_logs user_actions=:user_actions t_end=:t_end
SELECT string_agg(format('SELECT %L AS table_name, count(*) AS row_count FROM %I.%I',
                         c.relname, n.nspname, c.relname), ' UNION ALL ' ORDER BY c.relname) || ' ORDER BY 1'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = :'schema' AND c.relkind IN ('r', 'p')
  AND c.relname IN ('events_raw', 'transactions_raw', 'api_logs_raw', 'user_actions_raw')
\gexec
