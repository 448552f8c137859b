"""The owners' activity weeks (``owner_inactive``): live files and bytes per backend, owning team and user, and week
of activity (the later of last access and modification: the stale rule of schemas/stale.py). The API reads it for
exact stale totals of an owner filter (api/stale.py), as it reads ``tree_inactive`` for a directory.

Folded from the tree's leaves (streams/tree.py ``TreeDeltas``), which carry each changed file's owner and activity
week already: no per-file work of its own. Written at the end of the batch's transaction, into the batch's shard
(streams/offsets.py ``shard_of``; migration 0057's reasoning): batches of different workers never wait on each
other's rows, and readers sum over the shards.
"""

from __future__ import annotations

from datetime import date

import asyncpg

from .tree import TreeDeltas

Key = tuple[str, str, str, date]  # (backend, team, user or '', activity week)


def owner_deltas(t: TreeDeltas) -> dict[Key, list[int]]:
    """File count and byte deltas per (backend, team, user, activity week), zeros left out."""
    out: dict[Key, list[int]] = {}
    for (b, _, team, user, _, _, act), (n, s) in t.leaves.items():
        if not (n or s):
            continue
        v = out.get((b, team, user, act))
        if v is None:
            out[(b, team, user, act)] = [n, s]
        else:
            v[0] += n
            v[1] += s
    return {k: v for k, v in out.items() if v[0] or v[1]}


_WRITE = """
INSERT INTO owner_inactive AS o (backend_name, owner_team, owner_user, period, shard, file_count, total_bytes)
SELECT b, t, u, p, $5::smallint, n, s
FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $6::bigint[], $7::bigint[]) AS v(b, t, u, p, n, s)
ORDER BY 2, 3, 1, 4
ON CONFLICT (owner_team, owner_user, backend_name, period, shard) DO UPDATE SET
    file_count = o.file_count + EXCLUDED.file_count, total_bytes = o.total_bytes + EXCLUDED.total_bytes
"""

# Emptied rows go: the table stays as small as the owners' live weeks.
_PRUNE = """
DELETE FROM owner_inactive o USING unnest($1::text[], $2::text[], $3::text[], $4::date[]) AS v(b, t, u, p)
WHERE o.owner_team = v.t AND o.owner_user = v.u AND o.backend_name = v.b AND o.period = v.p AND o.shard = $5
      AND o.file_count = 0 AND o.total_bytes = 0
"""


async def write_owner_inactive(conn: asyncpg.Connection, t: TreeDeltas, shard: int) -> None:
    """The batch's owner activity deltas, in its transaction."""
    deltas = sorted(owner_deltas(t).items())
    if not deltas:
        return
    cols = [[k[i] for k, _ in deltas] for i in range(4)]
    await conn.execute(_WRITE, *cols, shard, [v[0] for _, v in deltas], [v[1] for _, v in deltas])
    await conn.execute(_PRUNE, *cols, shard)
