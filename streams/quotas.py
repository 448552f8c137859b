"""Quota evaluation: usage (from ``usage_rollup``) against ``quotas``, transitions only.

Evaluated inside the transaction of every batch that changed a team's usage, under an advisory lock
(so two workers never both see the old level and emit one transition twice). A transition updates
``quota_state`` and queues a QuotaBreach in ``quota_outbox``; the publisher sends queued ones after
commit to the breach topic (keyed by team) and the compacted state topic (keyed ``team/backend``,
``*`` = all backends) — at least once, in order.
"""

from __future__ import annotations

import logging
from typing import Iterable

import asyncpg

from warpdrive.schemas.records import QuotaBreach, encode, format_ts

log = logging.getLogger(__name__)

QUOTA_LOCK = 0x57447175  # "WDqu"

_EVALUATE = """
SELECT q.team_name, q.backend_name, q.soft_limit, q.hard_limit,
       coalesce((SELECT sum(r.total_bytes) FROM usage_rollup r
                 WHERE r.owner_team = q.team_name AND (q.backend_name IS NULL OR r.backend_name = q.backend_name)), 0)
           ::bigint AS usage,
       coalesce(s.level, 'ok') AS level, now() AS now
FROM quotas q
LEFT JOIN quota_state s ON s.team_name = q.team_name AND s.backend_name IS NOT DISTINCT FROM q.backend_name
WHERE $1::text[] IS NULL OR q.team_name = ANY($1::text[])
ORDER BY q.team_name, q.backend_name NULLS FIRST
"""


def level_of(usage: int, soft: int, hard: int) -> str:
    """Above the hard limit → hard; above soft → soft; else ok."""
    return "hard" if usage > hard else "soft" if usage > soft else "ok"


def state_key(team: str, backend: str | None) -> str:
    return f"{team}/{backend or '*'}"


async def evaluate(conn: asyncpg.Connection, teams: Iterable[str] | None) -> list[QuotaBreach]:
    """Evaluates the quotas of ``teams`` (None = every quota); queues and returns the transitions."""
    team_list = None if teams is None else sorted(set(teams))
    if team_list == []:
        return []
    await conn.execute("SELECT pg_advisory_xact_lock($1)", QUOTA_LOCK)
    out = []
    for r in await conn.fetch(_EVALUATE, team_list):
        level = level_of(r["usage"], r["soft_limit"], r["hard_limit"])
        await conn.execute(
            """INSERT INTO quota_state AS s (team_name, backend_name, level, usage_bytes, changed_at)
               VALUES ($1, $2, $3, $4, now())
               ON CONFLICT (team_name, backend_name) DO UPDATE SET usage_bytes = EXCLUDED.usage_bytes,
                   level = EXCLUDED.level,
                   changed_at = CASE WHEN s.level = EXCLUDED.level THEN s.changed_at ELSE now() END""",
            r["team_name"], r["backend_name"], level, r["usage"])
        if level == r["level"]:
            continue
        b = QuotaBreach(team=r["team_name"], backend_name=r["backend_name"], level=level, previous_level=r["level"],
                        usage_bytes=r["usage"], soft_limit=r["soft_limit"], hard_limit=r["hard_limit"],
                        timestamp=format_ts(r["now"]))
        await conn.execute(
            "INSERT INTO quota_outbox (team_name, backend_name, level, payload) VALUES ($1, $2, $3, $4)",
            b.team, b.backend_name, level, encode(b))
        (log.warning if level != "ok" else log.info)(
            "quota %s: team %s on %s is %s (usage %d bytes, soft %d, hard %d; was %s)", level, b.team,
            b.backend_name or "all backends", "over the " + level + " limit" if level != "ok" else "back under its limits",
            b.usage_bytes, b.soft_limit, b.hard_limit, b.previous_level)
        out.append(b)
    return out


async def pending(conn: asyncpg.Connection, limit: int = 1000) -> list[asyncpg.Record]:
    """Queued transitions, oldest first, locked so two publishers never send the same rows at once."""
    return await conn.fetch(
        "SELECT id, team_name, backend_name, payload FROM quota_outbox WHERE published_at IS NULL"
        " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED", limit)


async def mark_published(conn: asyncpg.Connection, ids: list[int]) -> None:
    await conn.execute("UPDATE quota_outbox SET published_at = now() WHERE id = ANY($1::bigint[])", ids)
