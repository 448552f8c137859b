-- Indexes for the control-plane API's reads at 10M files / 50M access rows (bench/api_latency.py).

-- GET /api/v1/user/{id}: the user's access_log rows in (backend, path) order carrying every figure the answer
-- sums: one index-only range scan, grouped per file without a sort. It replaces idx_access_user (its leading
-- column), so the workers' upserts still maintain one index for readers.
DROP INDEX IF EXISTS idx_access_user;
CREATE INDEX idx_access_user_files ON access_log (user_id, backend_name, path)
    INCLUDE (read_count, bytes_read, write_count, bytes_written, last_access);

-- GET /api/v1/stale?owner=TEAM: a team's live files largest first (a user's: idx_files_owner_user_size), with
-- the activity columns so counting the team's stale files reads the index alone.
CREATE INDEX idx_files_team_size ON storage_files (owner_team, size_bytes DESC) INCLUDE (last_access, last_modified)
    WHERE deleted_at IS NULL;

-- GET /api/v1/tree?sort=name: a directory's children in byte-wise name order, from the index alone.
CREATE INDEX idx_tree_children_name ON tree_dirs (backend_name, parent, dir COLLATE "C")
    INCLUDE (depth, file_count, total_bytes);
