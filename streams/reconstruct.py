"""Growth before a backend's first crawl, reconstructed from modification times (issue 15).

When a backend's first complete crawl of its whole root finishes, its live files' modification times say, per
owning team and day, how many bytes were there already: a lower-bound history (files deleted before the crawl
are unknown). Written once per backend (``growth_reconstructed_at`` guards it), in the finish marker's
transaction, by one aggregate over the backend's files; GET /api/v1/growth returns it marked as reconstructed.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

_ONCE = """
INSERT INTO growth_reconstructed_at (backend_name, boundary, crawl_id)
VALUES ($1, ($2::timestamptz AT TIME ZONE 'UTC')::date, $3)
ON CONFLICT (backend_name) DO NOTHING RETURNING boundary
"""
_RECONSTRUCT = """
INSERT INTO growth_reconstructed (backend_name, owner_team, date, added_bytes, added_files)
SELECT $1, owner_team, (last_modified AT TIME ZONE 'UTC')::date, sum(size_bytes), count(*)
FROM storage_files
WHERE backend_name = $1 AND deleted_at IS NULL AND last_modified IS NOT NULL
GROUP BY 2, 3
"""


async def reconstruct_growth(conn: asyncpg.Connection, backend: str, crawl_id: str, finished: datetime) -> bool:
    """After a complete crawl of ``backend``'s root: reconstructs its growth if no crawl did before."""
    if await conn.fetchval(_ONCE, backend, finished, crawl_id) is None:
        return False
    await conn.execute(_RECONSTRUCT, backend)
    return True
