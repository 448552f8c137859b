-- One index fewer for every file a crawl inserts (issue 5): paths compare byte-wise (COLLATE "C").
--
-- idx_files_path (backend_name, path text_pattern_ops) served the stale list's path prefixes and path order,
-- which must be byte-wise whatever the database's collation. With the column itself in "C" the unique
-- (backend_name, path) index sorts the same way and serves those range scans and that order (api/sql.py,
-- api/stale.py), so idx_files_path only doubled the unique key's cost. "C" also compares with memcmp where
-- a libc locale (even C.UTF-8, the embedded server's) goes through strcoll: cheaper for every key the
-- unique index compares. Uniqueness is unchanged (every collation involved is deterministic).
--
-- deletion_marks.path follows, so that looking marks up by a file's path (the stale list's "marked") still
-- matches its primary key's collation and stays an index probe.
--
-- The column change rebuilds the indexes on path (no table rewrite).
DROP INDEX IF EXISTS idx_files_path;
ALTER TABLE storage_files ALTER COLUMN path TYPE text COLLATE "C";
ALTER TABLE deletion_marks ALTER COLUMN path TYPE text COLLATE "C";
