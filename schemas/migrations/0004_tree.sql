-- Directory / prefix usage tree (issue 9): per (backend, dir) aggregates kept by the stream workers as
-- deltas to every ancestor, in the same transactions as usage_rollup. dir '' is the backend's root; a
-- file counts in every ancestor directory down to the backend's max_tree_depth (deeper files are summed
-- into the deepest kept level). Exact against a recomputation from storage_files (live files).

CREATE TABLE tree_dirs (
    backend_name TEXT NOT NULL,
    dir          TEXT NOT NULL,          -- '' = root; no leading or trailing '/'
    parent       TEXT,                   -- NULL for the root
    depth        INT NOT NULL,           -- root = 0
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (backend_name, dir)
);
-- children of a directory by size, file count or name: one indexed range read
CREATE INDEX idx_tree_children_size ON tree_dirs (backend_name, parent, total_bytes DESC);
CREATE INDEX idx_tree_children_files ON tree_dirs (backend_name, parent, file_count DESC);

-- Bytes by owning team per directory.
CREATE TABLE tree_teams (
    backend_name TEXT NOT NULL,
    dir          TEXT NOT NULL,
    owner_team   TEXT NOT NULL,
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (backend_name, dir, owner_team)
);

-- Bytes and files per directory by period (week start, UTC) of last access ('a') and of last
-- modification ('m'); '0001-01-01' = never accessed / unknown. "Not read in N days" = the sum of the
-- 'a' buckets whose week ended before now - N days, so it stays right as the clock moves (to a week).
-- Newest/oldest modification are the newest/oldest non-empty 'm' bucket.
CREATE TABLE tree_activity (
    backend_name TEXT NOT NULL,
    dir          TEXT NOT NULL,
    kind         CHAR(1) NOT NULL,       -- a = last access, m = last modified
    period       DATE NOT NULL,
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_bytes  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (backend_name, dir, kind, period)
);
