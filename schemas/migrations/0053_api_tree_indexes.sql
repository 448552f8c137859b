-- GET /api/v1/tree at 10M files: every read of the tree tables an index-only range scan.

-- A directory's children largest first / most files first, ties broken by name inside the index: children
-- with equal sizes or counts (shards of a dataset) are no longer read whole to sort the tie.
DROP INDEX IF EXISTS idx_tree_children_size;
DROP INDEX IF EXISTS idx_tree_children_files;
CREATE INDEX idx_tree_children_size ON tree_dirs (backend_name, parent, total_bytes DESC, dir)
    INCLUDE (depth, file_count);
CREATE INDEX idx_tree_children_files ON tree_dirs (backend_name, parent, file_count DESC, dir)
    INCLUDE (depth, total_bytes);

-- The week buckets and team shares of the directories on a page: their rows lie on as many heap pages
-- as they have rows (a bucket row is added whenever a new week appears), so they are read from the index.
CREATE INDEX idx_tree_activity_dir ON tree_activity (backend_name, dir) INCLUDE (kind, period, file_count, total_bytes);
CREATE INDEX idx_tree_teams_dir ON tree_teams (backend_name, dir) INCLUDE (owner_team, file_count, total_bytes);
