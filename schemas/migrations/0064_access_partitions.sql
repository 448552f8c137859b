-- upgrade: stop-workers
-- Issue 18, retention: access_log (per backend, path, user, day) and access_daily (per day, backend, user, shard)
-- grow with days, so they are partitioned by month on `date` (declarative RANGE partitions) and
-- `warpdrive retention` drops whole months older than `retention.keep_months` (schemas/retention.py). A DEFAULT
-- partition takes rows of a month that has no partition yet (late or backfilled events), so no batch ever fails
-- for want of a partition; `warpdrive_month_partition` moves them out when their month gets one.
--
-- The per-file last access (storage_files, file_activity) and the per-user totals (user_files, user_reads) are
-- rollups the workers keep in the same transaction, never recomputed from access_log: dropping a month leaves
-- them exact.
--
-- access_log gets `updates` (how many batches added to the row after it was created): the workers count created
-- rows as `updates = 0` in RETURNING, because PostgreSQL refuses the system column `xmax` on a partitioned table.
--
-- stop-workers: the two tables are rewritten (copied into their partitions) under an exclusive lock.

CREATE FUNCTION warpdrive_month_partition(parent text, month date) RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    next date := (date_trunc('month', month) + interval '1 month')::date;
    part text := parent || '_' || to_char(first, '"y"YYYY"m"MM');
    dflt text := parent || '_default';
    opts text;
BEGIN
    -- Creates the partition of `parent` for the month holding `month` (false if it exists), moving that month's
    -- rows out of the DEFAULT partition first (attaching would fail on them). One rule for the migration and
    -- `warpdrive retention`.
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', dflt);
    SELECT coalesce(' WITH (' || array_to_string(reloptions, ', ') || ')', '') INTO opts
        FROM pg_class WHERE oid = dflt::regclass;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS)', part, parent) || opts;
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE date >= $1 AND date < $2 RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', dflt, part) USING first, next;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, first, next);
    RETURN true;
END $$;

ALTER TABLE access_log RENAME TO access_log_unpartitioned;
ALTER TABLE access_log_unpartitioned
    RENAME CONSTRAINT access_log_backend_name_path_user_id_date_key TO access_log_unpartitioned_key;
CREATE TABLE access_log (
    backend_name TEXT NOT NULL,
    path TEXT NOT NULL,
    user_id TEXT NOT NULL,
    date DATE NOT NULL,
    read_count INTEGER NOT NULL DEFAULT 0,
    bytes_read BIGINT NOT NULL DEFAULT 0,
    last_access TIMESTAMPTZ NOT NULL,
    write_count INTEGER NOT NULL DEFAULT 0,
    bytes_written BIGINT NOT NULL DEFAULT 0,
    meta_count DOUBLE PRECISION NOT NULL DEFAULT 0,
    cache_hits BIGINT NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    updates INTEGER NOT NULL DEFAULT 0
) PARTITION BY RANGE (date);
-- fillfactor 80 as before (0054): room for HOT updates of the counters; new partitions copy it from here
CREATE TABLE access_log_default PARTITION OF access_log DEFAULT WITH (fillfactor = 80);
SELECT warpdrive_month_partition('access_log', m)
FROM (SELECT DISTINCT date_trunc('month', date)::date AS m FROM access_log_unpartitioned) AS months ORDER BY m;
INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, last_access, write_count,
                        bytes_written, meta_count, cache_hits, error_count)
SELECT backend_name, path, user_id, date, read_count, bytes_read, last_access, write_count, bytes_written,
       meta_count, cache_hits, error_count
FROM access_log_unpartitioned;
DROP TABLE access_log_unpartitioned;
-- the key once the rows are in: one sorted build per partition, several times faster than row by row
ALTER TABLE access_log ADD UNIQUE (backend_name, path, user_id, date);

ALTER TABLE access_daily RENAME TO access_daily_unpartitioned;
ALTER TABLE access_daily_unpartitioned RENAME CONSTRAINT access_daily_pkey TO access_daily_unpartitioned_pkey;
CREATE TABLE access_daily (
    date DATE NOT NULL,
    backend_name TEXT NOT NULL,
    user_id TEXT NOT NULL,
    read_count BIGINT NOT NULL DEFAULT 0,
    bytes_read BIGINT NOT NULL DEFAULT 0,
    write_count BIGINT NOT NULL DEFAULT 0,
    bytes_written BIGINT NOT NULL DEFAULT 0,
    files BIGINT NOT NULL DEFAULT 0,
    last_access TIMESTAMPTZ,
    shard SMALLINT NOT NULL DEFAULT 0
) PARTITION BY RANGE (date);
CREATE TABLE access_daily_default PARTITION OF access_daily DEFAULT;
SELECT warpdrive_month_partition('access_daily', m)
FROM (SELECT DISTINCT date_trunc('month', date)::date AS m FROM access_daily_unpartitioned) AS months ORDER BY m;
INSERT INTO access_daily (date, backend_name, user_id, read_count, bytes_read, write_count, bytes_written, files,
                          last_access, shard)
SELECT date, backend_name, user_id, read_count, bytes_read, write_count, bytes_written, files, last_access, shard
FROM access_daily_unpartitioned;
DROP TABLE access_daily_unpartitioned;
ALTER TABLE access_daily ADD PRIMARY KEY (date, backend_name, user_id, shard);

ANALYZE access_log;
ANALYZE access_daily;
