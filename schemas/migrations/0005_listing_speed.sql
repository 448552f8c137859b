-- Cheaper index writes for the stream workers' listing path (issue 5: a crawl indexes every file).

-- Every storage_files index costs each inserted row; (backend_name) alone is the unique
-- (backend_name, path) index's leading column, so this one only doubled that cost.
DROP INDEX IF EXISTS idx_files_backend;
-- A team's or user's files are read through idx_files_team_size / idx_files_owner_user_size (0050, 0052);
-- nothing reads (owner_team, owner_user) together from the index.
DROP INDEX IF EXISTS idx_files_owner;

-- A re-crawl that finds a file unchanged only records the crawl (crawl_id, last_crawled: no index covers
-- them). Room for a second version of every row on its page lets PostgreSQL keep that new version there
-- (a HOT update: no index entry at all; the previous crawl's versions are pruned as pages fill). Measured
-- with bench/streams_apply.py: PostgreSQL's CPU per unchanged file fell from 65 to 19 µs (fillfactor 80:
-- most rows no longer fit). The price is disk: the table is up to twice as large. Applies to pages
-- written from now on.
ALTER TABLE storage_files SET (fillfactor = 50);
