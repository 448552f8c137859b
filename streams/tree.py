"""Directory tree rollups (issue 9): every change of a live file moves its contribution in every
ancestor directory — totals, bytes by team, last-access / last-modified week buckets (``tree_activity``) and
activity week buckets (``tree_inactive``; activity: the later of last access and modification, the stale rule of
schemas/stale.py).

Deltas are folded per batch in memory, per leaf directory (a crawl of 1,000 files in one directory is
one row change per ancestor, not 1,000) and written at the end of the batch's transaction, one statement per table.
The week buckets go into the batch's shard (migration 0070): a read moves its file into the current week's
buckets of every ancestor up to the root, rows every access batch writes, so batches of different workers write
their own. ``tree_dirs`` (one row per directory) is written last, so its rows are held only from that statement
to the commit; reads change only its stale-sort key, which a root does not keep, so they leave the root's row alone.

``tree_dirs.inactive_bytes`` (the key of ``sort=stale``, which orders a directory's children) is the sum of the
directory's activity buckets up to ``tree_stale.through``, kept for every directory but a backend's root (no one's
child: its key is never read, and a read of any stale file would change that one row in every batch): a delta
counts in it when its bucket is at or before that boundary, read under TREE_STALE_LOCK shared. When the clock
has passed the next week, the first batch takes the lock exclusively and folds the buckets that crossed into every
directory (one statement, about once a week), so a delta is never applied against a boundary that moves under it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Hashable, TypeVar

import asyncpg

from warpdrive.schemas.stale import activity
from warpdrive.schemas.locks import TREE_STALE_LOCK
from warpdrive.schemas.tree import STALE_SORT_DAYS, stale_through, week

from .files import FileState


def leaf_dir(path: str, max_depth: int) -> str:
    """The deepest kept directory a file counts in: its parent, cut at ``max_depth`` levels (0 = all)."""
    parent = path.strip("/").rpartition("/")[0]
    if max_depth and parent.count("/") >= max_depth:
        parent = "/".join(parent.split("/")[:max_depth])
    return parent


def dir_and_ancestors(d: str) -> list[str]:
    if not d:
        return [""]
    parts = d.split("/")
    return ["", *("/".join(parts[: i + 1]) for i in range(len(parts)))]


# (backend, leaf dir, team, user or '', access, modification and activity weeks). The user is not the tree's: the owners'
# activity rollup (streams/owner_inactive.py) folds the same leaves by owner, so a file is folded once for both.
Leaf = tuple[str, str, str, str, date, date, date]


@dataclass
class TreeDeltas:
    """Changes folded per leaf directory, team and week buckets — one dict update per file whatever its
    depth (a crawl lists a directory's files together, so a batch has few leaves); ``expand`` spreads
    them over the ancestors once per batch."""

    depths: dict[str, int]  # backend → max_tree_depth (0 = every level)
    leaves: dict[Leaf, list[int]] = field(default_factory=dict)

    def add(self, c: FileState, sign: int) -> None:
        self.add_parts(c.backend, c.path, c.team, c.user, c.last_access, c.last_modified, sign, c.size)

    def add_parts(
        self,
        backend: str,
        path: str,
        team: str,
        user: str | None,
        last_access: datetime | None,
        last_modified: datetime | None,
        sign: int,
        size: int,
    ) -> None:
        """``add`` from a file's fields (no FileState built: a crawl's new files take this path)."""
        # Inactive buckets by activity (the later of last access and modification), so the tree's "stale" is the
        # stale list's rule (schemas/stale.py).
        key = (
            backend,
            leaf_dir(path, self.depths.get(backend, 0)),
            team,
            user or "",
            week(last_access),
            week(last_modified),
            week(activity(last_access, last_modified)),
        )
        v = self.leaves.get(key)
        if v is None:
            self.leaves[key] = [sign, sign * size]
        else:
            v[0] += sign
            v[1] += sign * size

    def change(self, old: FileState | None, new: FileState | None) -> None:
        if old == new:
            return
        if old is not None:
            self.add(old, -1)
        if new is not None:
            self.add(new, 1)

    def __bool__(self) -> bool:
        return any(n or s for n, s in self.leaves.values())

    def expand(self, stale_until: date) -> tuple[dict, dict, dict, dict]:
        """Per-directory deltas: totals and stale bytes (activity at or before ``stale_until``) by (backend, dir),
        totals by (backend, dir, team), by (backend, dir, kind, week) and by (backend, dir, activity week)."""
        dirs: dict[tuple[str, str], list[int]] = {}
        teams: dict[tuple[str, str, str], list[int]] = {}
        activity: dict[tuple[str, str, str, date], list[int]] = {}
        inactive: dict[tuple[str, str, date], list[int]] = {}
        for (b, leaf, team, _, a, m, act), (n, s) in self.leaves.items():
            if not (n or s):
                continue
            stale = s if act <= stale_until else 0
            for d in dir_and_ancestors(leaf):
                st = stale if d else 0  # no stale-sort key at a backend's root (see above)
                v = dirs.get((b, d))
                if v is None:
                    dirs[(b, d)] = [n, s, st]
                else:
                    v[0] += n
                    v[1] += s
                    v[2] += st
                _add(teams, (b, d, team), n, s)
                _add(activity, (b, d, "a", a), n, s)
                _add(activity, (b, d, "m", m), n, s)
                _add(inactive, (b, d, act), n, s)
        return dirs, teams, activity, inactive


K = TypeVar("K", bound=Hashable)


def _add(table: dict[K, list[int]], key: K, n: int, s: int) -> None:
    """Adds a file count and bytes to ``table[key]``."""
    v = table.get(key)
    if v is None:
        table[key] = [n, s]
    else:
        v[0] += n
        v[1] += s


def _nonzero(d: dict) -> list:
    return sorted((k, v) for k, v in d.items() if any(v))


# Under TREE_STALE_LOCK exclusive: the buckets the boundary passes over ($1 = the new boundary) added to their
# directories' stale bytes, and the boundary moved; returns the boundary in force.
_ADVANCE = """
WITH cur AS (SELECT through FROM tree_stale WHERE through < $1),
crossed AS (SELECT a.backend_name, a.dir, sum(a.total_bytes) AS s FROM tree_inactive a, cur
            WHERE a.period > cur.through AND a.period <= $1 AND a.dir <> '' GROUP BY 1, 2),
folded AS (UPDATE tree_dirs d SET inactive_bytes = d.inactive_bytes + c.s FROM crossed c
           WHERE d.backend_name = c.backend_name AND d.dir = c.dir AND c.s <> 0),
moved AS (UPDATE tree_stale t SET through = $1 FROM cur RETURNING t.through)
SELECT COALESCE((SELECT through FROM moved), (SELECT through FROM tree_stale))"""


async def stale_boundary(conn: asyncpg.Connection) -> date:
    """The boundary this batch's deltas count against, held (TREE_STALE_LOCK) to the end of the transaction."""
    due = stale_through(STALE_SORT_DAYS, datetime.now(UTC))
    # Each lock in its own statement: a statement's snapshot is taken before a lock it waits for inside it.
    if await conn.fetchval("SELECT through FROM tree_stale") >= due:
        await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", TREE_STALE_LOCK)
        return await conn.fetchval("SELECT through FROM tree_stale")
    await conn.execute("SELECT pg_advisory_xact_lock($1)", TREE_STALE_LOCK)
    return await conn.fetchval(_ADVANCE, due)


async def write_tree(conn: asyncpg.Connection, t: TreeDeltas, shard: int) -> None:
    """The batch's tree deltas, its week buckets into ``shard`` (offsets.shard_of)."""
    if not t:
        return
    expanded = t.expand(await stale_boundary(conn))
    dirs, teams, act, inactive = (_nonzero(x) for x in expanded)
    if teams:
        await conn.execute(
            """INSERT INTO tree_teams AS t (backend_name, dir, owner_team, file_count, total_bytes)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[]) ORDER BY 1, 2, 3
               ON CONFLICT (backend_name, dir, owner_team) DO UPDATE SET file_count = t.file_count + EXCLUDED.file_count,
                   total_bytes = t.total_bytes + EXCLUDED.total_bytes""",
            *[[k[i] for k, _ in teams] for i in range(3)],
            [v[0] for _, v in teams],
            [v[1] for _, v in teams],
        )
        await _drop_empty(conn, "tree_teams", teams)
    if act:
        await conn.execute(
            """INSERT INTO tree_activity AS t (backend_name, dir, kind, period, shard, file_count, total_bytes)
               SELECT b, d, k, p, $7::smallint, n, s
               FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::bigint[], $6::bigint[]) AS u(b, d, k, p, n, s)
               ORDER BY 1, 2, 3, 4
               ON CONFLICT (backend_name, dir, kind, period, shard) DO UPDATE SET
                   file_count = t.file_count + EXCLUDED.file_count, total_bytes = t.total_bytes + EXCLUDED.total_bytes""",
            *[[k[i] for k, _ in act] for i in range(4)],
            [v[0] for _, v in act],
            [v[1] for _, v in act],
            shard,
        )
        await _drop_empty(conn, "tree_activity", act, shard)
    if inactive:
        await conn.execute(
            """INSERT INTO tree_inactive AS t (backend_name, dir, period, shard, file_count, total_bytes)
               SELECT b, d, p, $6::smallint, n, s
               FROM unnest($1::text[], $2::text[], $3::date[], $4::bigint[], $5::bigint[]) AS u(b, d, p, n, s)
               ORDER BY 1, 2, 3
               ON CONFLICT (backend_name, dir, period, shard) DO UPDATE SET
                   file_count = t.file_count + EXCLUDED.file_count, total_bytes = t.total_bytes + EXCLUDED.total_bytes""",
            *[[k[i] for k, _ in inactive] for i in range(3)],
            [v[0] for _, v in inactive],
            [v[1] for _, v in inactive],
            shard,
        )
        await _drop_empty(conn, "tree_inactive", inactive, shard)
    if dirs:
        await conn.execute(
            """INSERT INTO tree_dirs AS t (backend_name, dir, parent, depth, file_count, total_bytes, inactive_bytes)
               SELECT b, d, CASE WHEN d = '' THEN NULL
                                 WHEN strpos(d, '/') = 0 THEN ''
                                 ELSE regexp_replace(d, '/[^/]*$', '') END,
                      CASE WHEN d = '' THEN 0 ELSE 1 + length(d) - length(replace(d, '/', '')) END, n, s, st
               FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS u(b, d, n, s, st)
               ORDER BY b, d
               ON CONFLICT (backend_name, dir) DO UPDATE SET file_count = t.file_count + EXCLUDED.file_count,
                   total_bytes = t.total_bytes + EXCLUDED.total_bytes,
                   inactive_bytes = t.inactive_bytes + EXCLUDED.inactive_bytes""",
            [k[0] for k, _ in dirs],
            [k[1] for k, _ in dirs],
            [v[0] for _, v in dirs],
            [v[1] for _, v in dirs],
            [v[2] for _, v in dirs],
        )
        if any(v[0] or v[1] for _, v in dirs):  # reads change stale bytes only: nothing emptied
            await _drop_empty(conn, "tree_dirs", dirs)


async def _drop_empty(conn: asyncpg.Connection, table: str, keys: list, shard: int | None = None) -> None:
    """Deletes the emptied rows of the directories ``keys`` changed in ``table`` (of ``shard``, if sharded), so a
    directory that no longer exists is not listed."""
    await conn.execute(
        f"""DELETE FROM {table} t USING unnest($1::text[], $2::text[]) AS u(b, d)
            WHERE t.backend_name = u.b AND t.dir = u.d AND t.file_count = 0 AND t.total_bytes = 0
            {"" if shard is None else "AND t.shard = $3"}""",
        [k[0][0] for k in keys],
        [k[0][1] for k in keys],
        *(() if shard is None else (shard,)),
    )
