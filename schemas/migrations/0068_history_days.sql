-- upgrade: stop-workers
-- Issue 15: coverage from imported history per day, so a hole of days inside an imported span is not evidence.
--
-- history_coverage keeps one span per backend and log format (first to last event): logs missing for a week in
-- the middle still counted as read evidence for that week. history_days keeps the UTC days with at least one
-- imported event per backend and log format, merged over every import; schemas/stale.py reads it (covered since
-- = the start of the run of days that reaches the present; holes listed). The stream workers add a batch's days
-- in its transaction (streams/history.py), so the workers must not run while this fills it from what they kept.
CREATE TABLE history_days (
    backend_name TEXT NOT NULL,
    format       TEXT NOT NULL,
    day          DATE NOT NULL,
    PRIMARY KEY (backend_name, format, day)
);

-- Upgrade: which days of an imported span had events is read back from access_daily (a row per day, backend and
-- user for every event applied, imported or live): each day of the span with a row there. A day with only live
-- events inside an imported span counts too (it is read evidence either way), and two formats whose spans overlap
-- share their days (coverage merges formats). `warpdrive retention` drops access_daily by whole months: days
-- before the first month it still holds (any backend) cannot be told apart any more and keep the span's claim, as
-- before this migration; so does every day when it holds none.
INSERT INTO history_days (backend_name, format, day)
SELECT DISTINCT c.backend_name, c.format, d.date
FROM history_coverage c
JOIN access_daily d ON d.backend_name = c.backend_name
    AND d.date BETWEEN (c.first_event AT TIME ZONE 'UTC')::date AND (c.last_event AT TIME ZONE 'UTC')::date;

INSERT INTO history_days (backend_name, format, day)
SELECT c.backend_name, c.format, g.day::date
FROM history_coverage c
CROSS JOIN (SELECT date_trunc('month', min(date))::date AS kept FROM access_daily) k
CROSS JOIN LATERAL generate_series(
    (c.first_event AT TIME ZONE 'UTC')::date,
    LEAST((c.last_event AT TIME ZONE 'UTC')::date, COALESCE(k.kept - 1, (c.last_event AT TIME ZONE 'UTC')::date)),
    interval '1 day'
) g(day)
ON CONFLICT DO NOTHING;
