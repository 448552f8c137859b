-- Deletion jobs of marked files (api/trash.py): the exact files a "trash" job moves, fixed when it is submitted
-- (what the dry run listed), so the job, its restore and the trash list all name the same files.
CREATE TABLE trash_items (
    job_id       TEXT NOT NULL,
    backend_name TEXT NOT NULL,
    path         TEXT NOT NULL,
    size_bytes   BIGINT,
    marked_by    TEXT,
    marked_at    TIMESTAMPTZ NOT NULL,
    note         TEXT,
    PRIMARY KEY (job_id, backend_name, path)
);
