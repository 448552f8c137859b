"""Usage by owner and the directory tree, maintained as deltas: each live file's bytes counted once,
under its current owner, in every ancestor directory.

A batch reports every file change (old state → new state, None = absent or deleted) to ``Deltas`` and
writes them at the end of its transaction: one statement for ``usage_rollup``, one for today's
``growth_daily`` rows (end-of-day totals per backend and owning team, plus bytes added/removed), the sizes
of marked files (``marks.py``), the tree tables (``tree.py``) and the owners' activity weeks (``owner_inactive.py``,
folded from the tree's leaves).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

import asyncpg

from warpdrive.schemas.locks import GROWTH_LOCK  # with hashtext(backend/team): one lock per growth_daily team

from .files import FileState, Owner
from .marks import MarkSizes, write_mark_sizes
from .owner_inactive import write_owner_inactive
from .tree import TreeDeltas, write_tree


@dataclass
class Deltas:
    depths: dict[str, int] = field(default_factory=dict)  # backend → max_tree_depth
    shard: int = 0  # the usage_rollup rows this batch writes (offsets.shard_of)
    usage: dict[Owner, list[int]] = field(default_factory=dict)  # → [files, bytes]
    growth: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # (backend, team) → [added, removed]
    last_access: dict[Owner, datetime] = field(default_factory=dict)
    tree: TreeDeltas = field(init=False)
    marks: MarkSizes = field(default_factory=MarkSizes)

    def __post_init__(self) -> None:
        self.tree = TreeDeltas(self.depths)

    def _add(self, owner: Owner, files: int, size: int) -> None:
        u = self.usage.setdefault(owner, [0, 0])
        u[0] += files
        u[1] += size

    def _grow(self, backend: str, team: str, added: int, removed: int) -> None:
        g = self.growth.setdefault((backend, team), [0, 0])
        g[0] += added
        g[1] += removed

    def change(self, old: FileState | None, new: FileState | None) -> None:
        """One file went from ``old`` to ``new`` (None = absent or deleted)."""
        if old == new:
            return
        self.tree.change(old, new)
        self.marks.change(old, new)
        if new is not None and new.last_access is not None:
            la = self.last_access.get(new.owner)
            if la is None or new.last_access > la:
                self.last_access[new.owner] = new.last_access
        if old is not None and new is not None and old.owner == new.owner and old.size == new.size:
            return
        if old is not None:
            self._add(old.owner, -1, -old.size)
        if new is not None:
            self._add(new.owner, 1, new.size)
        if old is not None and new is not None and old.owner[:2] == new.owner[:2]:
            d = new.size - old.size
            self._grow(new.backend, new.team, max(d, 0), max(-d, 0))
        else:
            if old is not None:
                self._grow(old.backend, old.team, 0, old.size)
            if new is not None:
                self._grow(new.backend, new.team, new.size, 0)

    def added(self, files: Iterable[tuple[str, str, str, str | None, int, datetime | None]]) -> None:
        """Files new to the index and never accessed, as (backend, path, team, user, size, last_modified):
        the same as ``change(None, FileState(...))`` for each, folded per owner before it reaches the usage
        and growth maps, without a FileState per file (a first crawl's per-file cost)."""
        per_owner: dict[Owner, list[int]] = {}
        add_leaf = self.tree.add_parts
        mark_sizes = self.marks.sizes  # a file marked before it was first indexed gets its size now
        for backend, path, team, user, size, last_modified in files:
            add_leaf(backend, path, team, user, None, last_modified, 1, size)
            mark_sizes[(backend, path)] = size
            key = (backend, team, user or "")
            v = per_owner.get(key)
            if v is None:
                per_owner[key] = [1, size]
            else:
                v[0] += 1
                v[1] += size
        for owner, (n, size) in per_owner.items():
            self._add(owner, n, size)
            self._grow(owner[0], owner[1], size, 0)

    def teams(self) -> set[str]:
        return {t for (_, t, _), (n, s) in self.usage.items() if n or s}

    def __bool__(self) -> bool:
        return bool(self.usage or self.last_access or self.tree or self.marks.sizes)


_USAGE = """
INSERT INTO usage_rollup AS r (backend_name, owner_team, owner_user, shard, file_count, total_bytes, last_access)
SELECT b, t, u, $7::smallint, n, s, la
FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[]) AS v(b, t, u, n, s, la)
ORDER BY 1, 2, 3
ON CONFLICT (backend_name, owner_team, owner_user, shard) DO UPDATE SET
    file_count = r.file_count + EXCLUDED.file_count,
    total_bytes = r.total_bytes + EXCLUDED.total_bytes,
    last_access = GREATEST(r.last_access, EXCLUDED.last_access)
"""

_GROWTH = """
INSERT INTO growth_daily AS g (date, backend_name, owner_team, total_bytes, file_count, added_bytes, removed_bytes)
SELECT (now() AT TIME ZONE 'UTC')::date, a.b, a.t,
       (SELECT coalesce(sum(total_bytes), 0) FROM usage_rollup r WHERE r.backend_name = a.b AND r.owner_team = a.t),
       (SELECT coalesce(sum(file_count), 0) FROM usage_rollup r WHERE r.backend_name = a.b AND r.owner_team = a.t),
       a.added, a.removed
FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS a(b, t, added, removed)
ORDER BY 2, 3
ON CONFLICT (backend_name, owner_team, date) DO UPDATE SET
    total_bytes = EXCLUDED.total_bytes,
    file_count = EXCLUDED.file_count,
    added_bytes = g.added_bytes + EXCLUDED.added_bytes,
    removed_bytes = g.removed_bytes + EXCLUDED.removed_bytes
"""


async def write_deltas(conn: asyncpg.Connection, d: Deltas) -> None:
    usage = {o: v for o, v in d.usage.items() if v[0] or v[1]}
    owners = sorted(set(usage) | set(d.last_access))
    if owners:
        await conn.execute(
            _USAGE,
            [o[0] for o in owners],
            [o[1] for o in owners],
            [o[2] for o in owners],
            [usage.get(o, (0, 0))[0] for o in owners],
            [usage.get(o, (0, 0))[1] for o in owners],
            [d.last_access.get(o) for o in owners],
            d.shard,
        )
    keys = sorted(k for k, v in d.growth.items() if v[0] or v[1])
    if keys:
        # usage_rollup is sharded (0057), so batches changing one team's usage may run at once: each sums the
        # shards for growth_daily's totals only after holding the team's lock, in a statement of its own (whose
        # snapshot then sees every earlier holder's commit), so the last to commit writes a total with both.
        await conn.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(k)) FROM unnest($2::text[]) AS k ORDER BY k",
            GROWTH_LOCK,
            sorted({f"{b}/{t}" for b, t in keys}),
        )
        await conn.execute(
            _GROWTH,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [d.growth[k][0] for k in keys],
            [d.growth[k][1] for k in keys],
        )
    await write_mark_sizes(conn, d.marks)
    await write_owner_inactive(conn, d.tree, d.shard)
    await write_tree(conn, d.tree, d.shard)  # last: tree_dirs rows are shared by every batch (held until commit)
