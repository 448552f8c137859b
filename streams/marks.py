"""Deletion marks carry their file's current size (migration 0055), so GET /api/v1/marks totals the marked
bytes from deletion_marks alone. A batch notes every file whose size or liveness changed and, at the end of
its transaction, updates the marks among them in one statement.

Race with a mark being added: the API holds MARK_SIZES_LOCK exclusively from reading the new mark's size to
its commit, a batch holds it shared from this update to its commit. So either the batch's file changes were
committed before the API read the sizes, or the batch's update runs after the mark is committed and sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from warpdrive.schemas.locks import MARK_SIZES_LOCK

from .files import FileState


@dataclass
class MarkSizes:
    sizes: dict[tuple[str, str], int | None] = field(default_factory=dict)  # (backend, path) → size, None = gone

    def change(self, old: FileState | None, new: FileState | None) -> None:
        if new is None:
            if old is not None:
                self.sizes[(old.backend, old.path)] = None
        elif old is None or old.size != new.size:
            self.sizes[(new.backend, new.path)] = new.size


async def write_mark_sizes(conn: asyncpg.Connection, m: MarkSizes) -> None:
    if not m.sizes:
        return
    # Its own statement: a statement's snapshot is taken before a lock it waits for inside it.
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", MARK_SIZES_LOCK)
    # Most batches (a first crawl's above all) touch no marked file: one probe of the small marks table,
    # under the lock like the update, spares encoding every changed file into the update's arrays.
    if not await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM deletion_marks WHERE backend_name = ANY($1::text[]))",
        sorted({b for b, _ in m.sizes}),
    ):
        return
    keys = sorted(m.sizes)
    await conn.execute(
        """UPDATE deletion_marks m SET size_bytes = u.s
           FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(b, p, s)
           WHERE m.backend_name = u.b AND m.path = u.p AND m.size_bytes IS DISTINCT FROM u.s""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        [m.sizes[k] for k in keys],
    )
