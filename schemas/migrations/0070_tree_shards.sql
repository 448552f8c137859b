-- Issue 21: the directory tree's week buckets off the ingest path's hot rows. A read that moves a file's last
-- access changes tree_activity ('a' buckets) and tree_inactive (activity buckets) in every ancestor directory up to
-- the backend's root, and the new bucket is the current week: every access batch of indexed files wrote the same
-- few rows, so batches of different workers waited for each other there. Both tables get a `shard`, the batch's
-- (streams/offsets.py `shard_of`, as usage_rollup and access_daily in 0057): batches of different workers write
-- different rows. Readers sum over shards (api/tree.py, api/stale.py, the stale boundary's fold in
-- streams/tree.py); a bucket is empty when its sums are, not a shard row. Existing rows are shard 0; added last, so
-- inserts that list no columns still fit. tree_dirs (one row per directory: the children-sort indexes) and
-- tree_teams (changed by ownership and size only, not by reads) stay unsharded.
-- A read that makes a stale file active also changed tree_dirs.inactive_bytes of every ancestor, the backend's
-- root too, in every such batch. That column only orders a directory's children (GET /api/v1/tree?sort=stale),
-- and a root is no one's child: it is no longer kept for roots (0), so reads leave the root's row alone.

ALTER TABLE tree_activity ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE tree_activity DROP CONSTRAINT tree_activity_pkey, ADD PRIMARY KEY (backend_name, dir, kind, period, shard);

ALTER TABLE tree_inactive ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0;
ALTER TABLE tree_inactive DROP CONSTRAINT tree_inactive_pkey, ADD PRIMARY KEY (backend_name, dir, period, shard);

UPDATE tree_dirs SET inactive_bytes = 0 WHERE dir = '' AND inactive_bytes <> 0;
