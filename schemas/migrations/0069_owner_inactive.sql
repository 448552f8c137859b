-- upgrade: stop-workers
-- Issue 20: exact stale totals for an owner filter. The stale list's totals were exact from the tree's activity
-- weeks (tree_inactive) for a backend or a directory, but an owner (team or user) was counted file by file and,
-- past 10,000 files and the API's time budget, only bounded. owner_inactive keeps the same weekly buckets per
-- backend, owning team and user: live files and bytes by the week (Monday, UTC) of their activity, the later of
-- last access and modification (the stale rule, schemas/stale.py). The workers keep it in the same transaction as
-- the files (streams/owner_inactive.py), in the batch's shard like usage_rollup (0057: readers sum the shards), and
-- the API answers an owner filter from it with the cutoff's own week counted file by file (api/stale.py).
-- Built here from the live files, in shard 0. Workers are stopped meanwhile (stop-workers): a batch must not move a
-- file between buckets while they are built. Idempotent (a rebuild): running it again gives the same table.
CREATE TABLE IF NOT EXISTS owner_inactive (
    backend_name TEXT NOT NULL,
    owner_team   TEXT NOT NULL,
    owner_user   TEXT NOT NULL DEFAULT '',   -- '' = no user (as in usage_rollup)
    period       DATE NOT NULL,              -- Monday (UTC) of the week of the files' activity; 0001-01-01 = none
    shard        SMALLINT NOT NULL DEFAULT 0,
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (owner_team, owner_user, backend_name, period, shard)
);
-- An owner filter is a team or a user: the primary key serves the team, this index the user.
CREATE INDEX IF NOT EXISTS idx_owner_inactive_user ON owner_inactive (owner_user, backend_name, period);

TRUNCATE owner_inactive;
INSERT INTO owner_inactive (backend_name, owner_team, owner_user, period, shard, file_count, total_bytes)
SELECT backend_name, owner_team, COALESCE(owner_user, ''),
       COALESCE(date_trunc('week', GREATEST(last_access, last_modified) AT TIME ZONE 'UTC')::date, DATE '0001-01-01'),
       0, count(*), sum(size_bytes)
FROM storage_files
WHERE deleted_at IS NULL
GROUP BY 1, 2, 3, 4;
