"""Growth before a backend's first crawl, reconstructed from modification times (issue 15).

When a complete crawl of a backend's whole root finishes and its growth was never reconstructed, its live files'
modification times up to the day of its *first* complete root crawl (the boundary, where measured growth starts)
say, per owning team and day, how many bytes were there already: a lower-bound history (files deleted before the
boundary, or modified since, are unknown). Written once per backend (``growth_reconstructed_at`` guards it), in
the finish marker's transaction, by one aggregate over the backend's files; GET /api/v1/growth returns it marked
as reconstructed. A backend first crawled before this existed is reconstructed at its next complete crawl, with
the boundary of its first one (migration 0066 did it for every such backend at upgrade).
"""

from __future__ import annotations

import asyncpg

_ONCE = """
INSERT INTO growth_reconstructed_at (backend_name, boundary, crawl_id)
SELECT $1, (finished_at AT TIME ZONE 'UTC')::date, crawl_id FROM crawls
WHERE backend_name = $1 AND status = 'complete' AND prefix = '' AND finished_at IS NOT NULL
ORDER BY finished_at, crawl_id LIMIT 1
ON CONFLICT (backend_name) DO NOTHING RETURNING boundary
"""
_RECONSTRUCT = """
INSERT INTO growth_reconstructed (backend_name, owner_team, date, added_bytes, added_files)
SELECT $1, owner_team, (last_modified AT TIME ZONE 'UTC')::date, sum(size_bytes), count(*)
FROM storage_files
WHERE backend_name = $1 AND deleted_at IS NULL AND last_modified IS NOT NULL
  AND (last_modified AT TIME ZONE 'UTC')::date <= $2
GROUP BY 2, 3
"""


async def reconstruct_growth(conn: asyncpg.Connection, backend: str) -> bool:
    """After a complete crawl of ``backend``'s root (its row in ``crawls`` written): reconstructs its growth if
    no crawl did before."""
    boundary = await conn.fetchval(_ONCE, backend)
    if boundary is None:
        return False
    await conn.execute(_RECONSTRUCT, backend, boundary)
    return True
