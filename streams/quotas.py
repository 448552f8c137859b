"""Quota evaluation: usage (from ``usage_rollup``) against ``quotas``, transitions only.

Evaluated inside the transaction of every batch that changed a team's usage, under an advisory lock
(so two workers never both see the old level and emit one transition twice). A transition updates
``quota_state`` and queues a QuotaBreach in ``quota_outbox``; the publisher sends queued ones after
commit (a trigger NOTIFYs it at commit) to the breach topic (keyed by team) and the compacted state
topic (keyed ``team/backend``, ``*`` = all backends) — at least once, in order.

A level also ends: when its quota is deleted (or its team, which deletes the team's quotas) or its
backend is no longer configured, the key gets an ``ok`` transition (unless it was ``ok``) and then
a tombstone on the state topic (an outbox row without payload), and its ``quota_state`` row goes.
Timestamps are taken after the lock, per transition, never earlier than the team's previous one:
monotonic per key on both topics.
"""

from __future__ import annotations

import logging
from typing import Collection, Iterable

import asyncpg

from warpdrive.schemas.locks import QUOTA_LOCK, QUOTA_PUBLISH_LOCK
from warpdrive.schemas.records import QuotaBreach, encode, format_ts
from warpdrive.schemas.units import family_of, format_size

log = logging.getLogger(__name__)

# Taken by a publisher for its round: two workers' publishers never interleave (and reorder) transitions.

_EVALUATE = """
SELECT q.team_name, q.backend_name, q.soft_limit, q.hard_limit,
       coalesce((SELECT sum(r.total_bytes) FROM usage_rollup r
                 WHERE r.owner_team = q.team_name AND (q.backend_name IS NULL OR r.backend_name = q.backend_name)), 0)
           ::bigint AS usage,
       coalesce(s.level, 'ok') AS level
FROM quotas q
LEFT JOIN quota_state s ON s.team_name = q.team_name AND s.backend_name IS NOT DISTINCT FROM q.backend_name
WHERE ($1::text[] IS NULL OR q.team_name = ANY($1::text[]))
  AND (q.backend_name IS NULL OR $2::text[] IS NULL OR q.backend_name = ANY($2::text[]))
ORDER BY q.team_name, q.backend_name NULLS FIRST
"""


def level_of(usage: int, soft: int, hard: int) -> str:
    """Above the hard limit → hard; above soft → soft; else ok."""
    return "hard" if usage > hard else "soft" if usage > soft else "ok"


def state_key(team: str, backend: str | None) -> str:
    return f"{team}/{backend or '*'}"


# Levels whose quota is gone (or whose backend is no longer configured): they end.
_ENDED = """
SELECT s.team_name, s.backend_name, s.level, s.usage_bytes, coalesce(s.soft_limit, 0) AS soft_limit,
       coalesce(s.hard_limit, 0) AS hard_limit
FROM quota_state s
LEFT JOIN quotas q ON q.team_name = s.team_name AND q.backend_name IS NOT DISTINCT FROM s.backend_name
WHERE ($1::text[] IS NULL OR s.team_name = ANY($1::text[]))
  AND (q.id IS NULL OR (s.backend_name IS NOT NULL AND $2::text[] IS NOT NULL AND NOT s.backend_name = ANY($2::text[])))
ORDER BY s.team_name, s.backend_name NULLS FIRST
"""

# Now, or the team's last transition if the clock went back: per-team (so per-key) monotonic.
_STAMP = """
SELECT greatest(clock_timestamp(), (SELECT max(created_at) FROM quota_outbox WHERE team_name = $1))
"""


async def evaluate(
    conn: asyncpg.Connection, teams: Iterable[str] | None, backends: Collection[str] | None = None
) -> list[QuotaBreach]:
    """Evaluates the quotas of ``teams`` (None = every quota) on ``backends`` (the configured ones;
    None = any); ends the levels of those whose quota or backend is gone. Queues and returns the
    transitions."""
    team_list = None if teams is None else sorted(set(teams))
    if team_list == []:
        return []
    backend_list = None if backends is None else sorted(backends)
    await conn.execute("SELECT pg_advisory_xact_lock($1)", QUOTA_LOCK)
    out = []
    for r in await conn.fetch(_EVALUATE, team_list, backend_list):
        level = level_of(r["usage"], r["soft_limit"], r["hard_limit"])
        await conn.execute(
            """INSERT INTO quota_state AS s (team_name, backend_name, level, usage_bytes, changed_at, soft_limit,
                                             hard_limit)
               VALUES ($1, $2, $3, $4, now(), $5, $6)
               ON CONFLICT (team_name, backend_name) DO UPDATE SET usage_bytes = EXCLUDED.usage_bytes,
                   level = EXCLUDED.level, soft_limit = EXCLUDED.soft_limit, hard_limit = EXCLUDED.hard_limit,
                   changed_at = CASE WHEN s.level = EXCLUDED.level THEN s.changed_at ELSE now() END""",
            r["team_name"],
            r["backend_name"],
            level,
            r["usage"],
            r["soft_limit"],
            r["hard_limit"],
        )
        if level != r["level"]:
            out.append(
                await _queue(
                    conn,
                    r["team_name"],
                    r["backend_name"],
                    level,
                    r["level"],
                    r["usage"],
                    r["soft_limit"],
                    r["hard_limit"],
                )
            )
    for r in await conn.fetch(_ENDED, team_list, backend_list):
        team, backend = r["team_name"], r["backend_name"]
        if r["level"] != "ok":
            out.append(
                await _queue(
                    conn,
                    team,
                    backend,
                    "ok",
                    r["level"],
                    r["usage_bytes"],
                    r["soft_limit"],
                    r["hard_limit"],
                    ended=True,
                )
            )
        await conn.execute(
            "INSERT INTO quota_outbox (team_name, backend_name, level, payload, created_at)"
            " VALUES ($1, $2, 'ended', NULL, ($3::text)::timestamptz)",
            team,
            backend,
            await _stamp(conn, team),
        )
        await conn.execute(
            "DELETE FROM quota_state WHERE team_name = $1 AND backend_name IS NOT DISTINCT FROM $2", team, backend
        )
        log.info("quota of team %s on %s ended: its state is tombstoned", team, backend or "all backends")
    return out


async def _stamp(conn: asyncpg.Connection, team: str) -> str:
    return format_ts(await conn.fetchval(_STAMP, team))


async def _queue(
    conn: asyncpg.Connection,
    team: str,
    backend: str | None,
    level: str,
    previous: str,
    usage: int,
    soft: int,
    hard: int,
    ended: bool = False,
) -> QuotaBreach:
    b = QuotaBreach(
        team=team,
        backend_name=backend,
        level=level,
        previous_level=previous,
        usage_bytes=usage,
        soft_limit=soft,
        hard_limit=hard,
        timestamp=await _stamp(conn, team),
    )
    await conn.execute(
        "INSERT INTO quota_outbox (team_name, backend_name, level, payload, created_at)"
        " VALUES ($1, $2, $3, $4, ($5::text)::timestamptz)",
        team,
        backend,
        level,
        encode(b),
        b.timestamp,
    )
    where = backend or "all backends"
    if ended:
        log.info("quota ok: team %s on %s — its quota ended (was %s)", team, where, previous)
    elif level == "ok":
        log.info(
            "quota ok: team %s on %s is back under its limits (usage %s, soft %s, hard %s; was %s)",
            team,
            where,
            *_sizes(usage, soft, hard),
            previous,
        )
    else:
        limit = soft if level == "soft" else hard
        log.warning(
            "quota %s: team %s on %s is over the %s limit: usage %s, limit %s (soft %s, hard %s; was %s)",
            level,
            team,
            where,
            level,
            *_sizes(usage, limit, soft, hard),
            previous,
        )
    return b


def _sizes(*n: int) -> list[str]:
    """Sizes in the family the limits were typed in (see units.family_of), with the exact bytes."""
    family = family_of(*n[1:])
    return [f"{format_size(x, family)} ({x:,} bytes)" for x in n]


async def pending(conn: asyncpg.Connection, limit: int = 1000) -> list[asyncpg.Record]:
    """Queued transitions (payload None: a tombstone), oldest first. Takes the publish lock, so a
    second publisher waits and then sends only what the first left: never out of order."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", QUOTA_PUBLISH_LOCK)
    return await conn.fetch(
        "SELECT id, team_name, backend_name, payload FROM quota_outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
        limit,
    )


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE quota_outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)
