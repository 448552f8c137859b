-- upgrade: stop-workers
-- Issue 15: one meaning of stale. The tree counted "not read in N days" from last-access week buckets
-- (tree_activity kind 'a'), so a never-read file created today counted as stale there while the stale list
-- (neither read nor modified) did not list it. The tree's stale figures now come from buckets of a file's
-- activity, the later of last access and modification (schemas/stale.py): tree_inactive, and the sort key
-- tree_dirs.inactive_bytes (bytes stale for 90 days, the buckets up to tree_stale.through). tree_activity keeps
-- its last-access ('a', the tree's last read and never-read bytes) and modification ('m') buckets unchanged.
-- tree_dirs.stale_bytes and idx_tree_children_stale (the old sort key) are no longer maintained or read; a later
-- release drops them. Built here from the live files: a file counts in its parent directory cut at the
-- backend's deepest kept level (= max_tree_depth whenever the cut matters; the tree keeps no deeper directory)
-- and in every ancestor. Workers are stopped meanwhile (stop-workers): a batch must not move a file between
-- buckets while they are built. Idempotent (a rebuild): running it again gives the same tables.
CREATE TABLE IF NOT EXISTS tree_inactive (
    backend_name TEXT NOT NULL,
    dir          TEXT NOT NULL,
    period       DATE NOT NULL,          -- Monday (UTC) of the week of the files' activity; 0001-01-01 = none known
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (backend_name, dir, period)
);
ALTER TABLE tree_dirs ADD COLUMN IF NOT EXISTS inactive_bytes BIGINT NOT NULL DEFAULT 0;
TRUNCATE tree_inactive;
UPDATE tree_dirs SET inactive_bytes = 0 WHERE inactive_bytes <> 0;

WITH cut AS (SELECT backend_name, max(depth) AS md FROM tree_dirs GROUP BY 1),
f AS (
    SELECT f.backend_name AS b, string_to_array(f.path, '/') AS parts, f.size_bytes AS s, c.md,
           COALESCE(date_trunc('week', GREATEST(f.last_access, f.last_modified) AT TIME ZONE 'UTC')::date,
                    DATE '0001-01-01') AS w
    FROM storage_files f JOIN cut c USING (backend_name)
    WHERE f.deleted_at IS NULL
),
leaf AS (SELECT b, parts[1:LEAST(cardinality(parts) - 1, md)] AS dp, s, w FROM f),
anc AS (SELECT b, array_to_string(dp[1:i], '/') AS dir, s, w FROM leaf, generate_series(0, cardinality(dp)) AS i)
INSERT INTO tree_inactive (backend_name, dir, period, file_count, total_bytes)
SELECT b, dir, w, count(*), sum(s) FROM anc GROUP BY b, dir, w;

UPDATE tree_dirs d SET inactive_bytes = i.s
FROM (SELECT backend_name, dir, sum(total_bytes) AS s FROM tree_inactive
      WHERE period <= (SELECT through FROM tree_stale) GROUP BY 1, 2) i
WHERE d.backend_name = i.backend_name AND d.dir = i.dir AND i.s <> 0;

DROP INDEX IF EXISTS idx_tree_children_stale;
CREATE INDEX IF NOT EXISTS idx_tree_children_inactive ON tree_dirs (backend_name, parent, inactive_bytes DESC, dir)
    INCLUDE (depth, file_count, total_bytes);
