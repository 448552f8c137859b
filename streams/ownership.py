"""Who owns a file: the longest matching explicit rule > its creator through a mount > its POSIX owner
> ``unowned``. A user's team comes from the ``teams`` table (seeded from config, edited via the API);
a user with no team counts under team ``unowned`` with the user named.

Rules and teams are read inside each batch's transaction under a shared advisory lock; a ``reown``
command (sent by the API after it changed rules or teams) takes the lock exclusively, so a batch that
resolved owners with old rules always commits before the recomputation that fixes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import asyncpg

from warpdrive.schemas.locks import BACKEND_LOCK, OWNERSHIP_LOCK
from warpdrive.schemas.owners import UNOWNED

from .files import FileState
from .rollups import Deltas


def norm_prefix(prefix: str) -> str:
    return prefix.strip("/")


def under(path: str, prefix: str) -> bool:
    """Directory semantics: 'data' covers 'data' and 'data/x', not 'database/x'."""
    p = path.lstrip("/")
    return not prefix or p == prefix or p.startswith(prefix + "/")


# The same test in SQL ($n = normalised prefix).
def sql_under(param: str) -> str:
    return f"({param} = '' OR ltrim(path, '/') = {param} OR starts_with(ltrim(path, '/'), {param} || '/'))"


@dataclass
class Owners:
    rules: dict[str, list[tuple[str, str, str | None]]]  # backend → [(prefix, team, user)], longest first
    teams: dict[str, str]  # user → team
    uid_names: Mapping[str, str]  # uid → user name (config [agent.users])

    def posix_name(self, posix_user: str | None, uid: int | None) -> str | None:
        # [agent.users] overrides the crawler host's passwd, whose uids need not match the cluster's.
        if uid is not None and str(uid) in self.uid_names:
            return self.uid_names[str(uid)]
        if posix_user:
            return posix_user
        return None if uid is None else str(uid)

    def resolve(
        self, backend: str, path: str, creator: str | None, posix_user: str | None, uid: int | None
    ) -> tuple[str, str | None, str]:
        """(team, user or None, source) of one file."""
        for prefix, team, user in self.rules.get(backend, ()):
            if under(path, prefix):
                return team, user, "rule"
        if creator:
            return self.teams.get(creator, UNOWNED), creator, "creator"
        if name := self.posix_name(posix_user, uid):
            return self.teams.get(name, UNOWNED), name, "posix"
        return UNOWNED, None, "none"


async def lock_backends(conn: asyncpg.Connection, backends: Iterable[str], exclusive: bool) -> None:
    """Serializes listing batches (exclusive) against access batches (shared) of the same backends.

    A listing batch reads ``file_activity`` to fill in new files' creator and last access while an
    access batch writes it and updates existing files: without this lock a file inserted concurrently
    would miss both. Then the ownership lock (shared), always in this order.
    """
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(
        f"SELECT {fn}($1, hashtext(b)) FROM unnest($2::text[]) AS b ORDER BY b", BACKEND_LOCK, sorted(set(backends))
    )
    await conn.execute("SELECT pg_advisory_xact_lock_shared($1)", OWNERSHIP_LOCK)


async def load_owners(
    conn: asyncpg.Connection,
    backends: Iterable[str],
    users: Iterable[str],
    uid_names: Mapping[str, str],
    exclusive: bool = False,
) -> Owners:
    """Rules of ``backends`` and teams of ``users`` as of now, under the ownership lock."""
    lock = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {lock}($1)", OWNERSHIP_LOCK)
    rules: dict[str, list[tuple[str, str, str | None]]] = {}
    for r in await conn.fetch(
        "SELECT backend_name, path_prefix, team_name, user_id FROM ownership_rules WHERE backend_name = ANY($1::text[])",
        sorted(set(backends)),
    ):
        rules.setdefault(r["backend_name"], []).append((norm_prefix(r["path_prefix"]), r["team_name"], r["user_id"]))
    for lst in rules.values():
        lst.sort(key=lambda x: len(x[0]), reverse=True)
    names = set(users) | set(uid_names.values())
    teams = {
        r["user_id"]: r["team"]
        for r in await conn.fetch(
            "SELECT user_id, min(team_name) AS team FROM teams WHERE user_id = ANY($1::text[]) GROUP BY user_id",
            sorted(names),
        )
    }
    return Owners(rules, teams, uid_names)


def candidate_users(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    """Every user whose team a resolution over ``rows`` may need."""
    out: set[str] = set()
    for r in rows:
        for k in ("created_by", "posix_user"):
            if r.get(k):
                out.add(r[k])
        if r.get("owner_uid") is not None:
            out.add(str(r["owner_uid"]))
    return out


async def seed_teams(conn: asyncpg.Connection, teams: Mapping[str, str]) -> None:
    """Adds the config's user → team mapping to the ``teams`` table (API edits are kept)."""
    if teams:
        users = sorted(teams)
        await conn.execute(
            "INSERT INTO teams (user_id, team_name) SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            users,
            [teams[u] for u in users],
        )


_SELECT_LIVE = f"""
SELECT id, backend_name, path, size_bytes, owner_team, owner_user, owner_source, created_by, posix_user, owner_uid,
       last_access, last_modified
FROM storage_files
WHERE deleted_at IS NULL AND ($1::text IS NULL OR backend_name = $1) AND {sql_under("$2")} AND id > $3
ORDER BY id
LIMIT $4
FOR UPDATE
"""

_SET_OWNERS = """
UPDATE storage_files AS f SET owner_team = u.t, owner_user = u.u, owner_source = u.s
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, t, u, s)
WHERE f.id = u.id
"""

REOWN_CHUNK = 20_000


async def reown(
    conn: asyncpg.Connection, backend: str | None, prefix: str, uid_names: Mapping[str, str], deltas: Deltas
) -> int:
    """Recomputes the owner of every live file under ``backend``/``prefix`` (all when None), in chunks
    of the same transaction; returns how many files changed owner."""
    # Exclusive first: no batch may resolve with old rules while this reads the files.
    await conn.execute("SELECT pg_advisory_xact_lock($1)", OWNERSHIP_LOCK)
    changed, last_id = 0, 0
    while rows := await conn.fetch(_SELECT_LIVE, backend, norm_prefix(prefix), last_id, REOWN_CHUNK):
        last_id = rows[-1]["id"]
        owners = await load_owners(
            conn, {r["backend_name"] for r in rows}, candidate_users(rows), uid_names, exclusive=True
        )
        changed += await set_owners(conn, rows, owners, deltas)
    return changed


async def set_owners(conn: asyncpg.Connection, rows: list[asyncpg.Record], owners: Owners, deltas: Deltas) -> int:
    """Re-resolves the owners of locked live ``rows``, writes the changes and their usage deltas."""
    ids, teams, users, sources = [], [], [], []
    for r in rows:
        team, user, source = owners.resolve(
            r["backend_name"], r["path"], r["created_by"], r["posix_user"], r["owner_uid"]
        )
        if (team, user, source) != (r["owner_team"], r["owner_user"], r["owner_source"]):
            ids.append(r["id"])
            teams.append(team)
            users.append(user)
            sources.append(source)
            deltas.change(FileState.of(r), FileState.of(r, team=team, user=user))
    if ids:
        await conn.execute(_SET_OWNERS, ids, teams, users, sources)
    return len(ids)
