-- Reads that summed per request what can be kept current (issues 7 and 9, bench/api_latency.py at 10M files).

-- GET /api/v1/marks: each mark carries its file's current size (NULL = not indexed, or deleted), so the
-- total of the marked bytes sums deletion_marks alone instead of probing storage_files once per mark.
-- The API sets it when marking; the stream workers keep it in the transaction of every batch that changes
-- a file's size or liveness (streams/marks.py). Both hold MARK_SIZES_LOCK (schemas/db.py) around that:
-- the API exclusively from reading the sizes to its commit, a worker shared from updating the marks to its
-- commit, so a mark added while its file changes is never left with the older size.
ALTER TABLE deletion_marks ADD COLUMN size_bytes BIGINT;
UPDATE deletion_marks m SET size_bytes = f.size_bytes
FROM storage_files f WHERE f.backend_name = m.backend_name AND f.path = m.path AND f.deleted_at IS NULL;

-- GET /api/v1/tree?sort=stale: the sort key, bytes not read in 90 days (schemas/tree.py STALE_SORT_DAYS), as a
-- column of tree_dirs that an index orders, instead of summing every child's week buckets to sort them.
-- It is the sum of the directory's 'a' buckets up to tree_stale.through; the workers add each delta whose
-- bucket is at or before it, and when the clock passes the next week they fold the buckets that crossed
-- (streams/tree.py). The API uses the column only while tree_stale.through is the boundary of its own clock
-- (and computes the key otherwise), so the order it returns is exact.
ALTER TABLE tree_dirs ADD COLUMN stale_bytes BIGINT NOT NULL DEFAULT 0;

CREATE TABLE tree_stale (
    one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),  -- a single row
    through DATE NOT NULL   -- the newest last-access bucket folded into tree_dirs.stale_bytes
);
INSERT INTO tree_stale (through)
SELECT c - (extract(isodow FROM c)::int - 1) FROM (SELECT (now() AT TIME ZONE 'UTC')::date - 97 AS c) s;

UPDATE tree_dirs d SET stale_bytes = a.s
FROM (SELECT backend_name, dir, sum(total_bytes) AS s FROM tree_activity
      WHERE kind = 'a' AND period <= (SELECT through FROM tree_stale) GROUP BY 1, 2) a
WHERE d.backend_name = a.backend_name AND d.dir = a.dir AND a.s <> 0;

CREATE INDEX idx_tree_children_stale ON tree_dirs (backend_name, parent, stale_bytes DESC, dir)
    INCLUDE (depth, file_count, total_bytes);
