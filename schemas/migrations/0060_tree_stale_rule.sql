-- Issue 15: one meaning of stale. tree_activity's 'a' buckets were the week of a file's last access, so the tree
-- counted a never-read file created today as "not read in 90 days" while the stale list (neither read nor
-- modified) did not list it. They are now the week of its activity, the later of last access and modification
-- (schemas/stale.py), and tree_dirs.stale_bytes follows. Rebuilt here from the live files for existing trees:
-- a file counts in its parent directory cut at the backend's deepest kept level (= max_tree_depth whenever the
-- cut matters; the tree keeps no deeper directory) and in every ancestor. Workers of the previous version must be
-- stopped first (they would keep adding last-access buckets); the locks keep new batches out meanwhile.
LOCK TABLE storage_files, tree_dirs, tree_activity IN SHARE ROW EXCLUSIVE MODE;

DELETE FROM tree_activity WHERE kind = 'a';

WITH cut AS (SELECT backend_name, max(depth) AS md FROM tree_dirs GROUP BY 1),
f AS (
    SELECT f.backend_name AS b, string_to_array(f.path, '/') AS parts, f.size_bytes AS s, c.md,
           COALESCE(date_trunc('week', GREATEST(f.last_access, f.last_modified) AT TIME ZONE 'UTC')::date,
                    DATE '0001-01-01') AS w
    FROM storage_files f JOIN cut c USING (backend_name)
    WHERE f.deleted_at IS NULL
),
leaf AS (SELECT b, parts[1:LEAST(cardinality(parts) - 1, md)] AS dp, s, w FROM f),
anc AS (SELECT b, array_to_string(dp[1:i], '/') AS dir, s, w FROM leaf, generate_series(0, cardinality(dp)) AS i)
INSERT INTO tree_activity (backend_name, dir, kind, period, file_count, total_bytes)
SELECT b, dir, 'a', w, count(*), sum(s) FROM anc GROUP BY b, dir, w;

UPDATE tree_dirs d SET stale_bytes = COALESCE(
    (SELECT sum(a.total_bytes) FROM tree_activity a
     WHERE a.backend_name = d.backend_name AND a.dir = d.dir AND a.kind = 'a'
       AND a.period <= (SELECT through FROM tree_stale)), 0);
