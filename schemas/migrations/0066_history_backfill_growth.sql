-- upgrade: online
-- Issue 15, follow-ups of 0060 and 0061.
--
-- 1. tree_dirs.stale_bytes, the tree's old stale-sort key (bytes not read in 90 days, from last-access buckets), is
--    neither maintained nor read since 0060 replaced it with inactive_bytes (one meaning of stale); dropped.
ALTER TABLE tree_dirs DROP COLUMN IF EXISTS stale_bytes;
DROP INDEX IF EXISTS idx_tree_children_stale;

-- 2. Growth before the first crawl (0061) was only reconstructed for backends first crawled after 0061, at that
--    crawl. A backend crawled before it got no reconstruction, or one with its next crawl's day as the boundary,
--    counting files its measured growth already has. Here every backend with a complete crawl of its whole root
--    is reconstructed from the day of its first one, as streams/reconstruct.py now does at a crawl (the same two
--    statements over every backend): a lower bound (files deleted before that day, or modified since, unknown).
CREATE TEMP TABLE first_root_crawls ON COMMIT DROP AS
SELECT DISTINCT ON (backend_name) backend_name, crawl_id, (finished_at AT TIME ZONE 'UTC')::date AS boundary
FROM crawls WHERE status = 'complete' AND prefix = '' AND finished_at IS NOT NULL
ORDER BY backend_name, finished_at, crawl_id;

-- A reconstruction from another crawl than the first (the wrong boundary) is redone.
DELETE FROM growth_reconstructed r USING growth_reconstructed_at a, first_root_crawls f
WHERE r.backend_name = a.backend_name AND a.backend_name = f.backend_name AND a.crawl_id <> f.crawl_id;
DELETE FROM growth_reconstructed_at a USING first_root_crawls f
WHERE a.backend_name = f.backend_name AND a.crawl_id <> f.crawl_id;

CREATE TEMP TABLE reconstructing ON COMMIT DROP AS
SELECT f.* FROM first_root_crawls f
WHERE NOT EXISTS (SELECT 1 FROM growth_reconstructed_at a WHERE a.backend_name = f.backend_name);

INSERT INTO growth_reconstructed_at (backend_name, boundary, crawl_id)
SELECT backend_name, boundary, crawl_id FROM reconstructing;

INSERT INTO growth_reconstructed (backend_name, owner_team, date, added_bytes, added_files)
SELECT s.backend_name, s.owner_team, (s.last_modified AT TIME ZONE 'UTC')::date, sum(s.size_bytes), count(*)
FROM storage_files s JOIN reconstructing r ON r.backend_name = s.backend_name
WHERE s.deleted_at IS NULL AND s.last_modified IS NOT NULL AND (s.last_modified AT TIME ZONE 'UTC')::date <= r.boundary
GROUP BY 1, 2, 3;
