-- upgrade: online
-- Issue 15: growth before a backend's first crawl, reconstructed from the files' modification times when that
-- crawl completes (streams/reconstruct.py): a lower bound (files deleted before the crawl are unknown), labelled
-- as reconstructed by GET /api/v1/growth, the CLI and the dashboard.

-- Bytes and files by owning team and day of last modification, as the first complete crawl found them.
CREATE TABLE growth_reconstructed (
    backend_name TEXT NOT NULL,
    owner_team   TEXT NOT NULL,
    date         DATE NOT NULL,
    added_bytes  BIGINT NOT NULL,
    added_files  BIGINT NOT NULL,
    PRIMARY KEY (backend_name, owner_team, date)
);

-- Per backend: the day of the crawl the reconstruction comes from (measured growth starts that day).
CREATE TABLE growth_reconstructed_at (
    backend_name TEXT PRIMARY KEY,
    boundary     DATE NOT NULL,
    crawl_id     TEXT NOT NULL
);
