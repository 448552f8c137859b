"""Team membership for the agents: the ``teams`` table published on the compacted TEAM_MEMBERSHIP topic.

Agents enforce a team's hard quota on its members, so they must know the members as the system does
(API, CLI, the config's ``[teams]`` seed), not as their own config says. The publisher sends the
difference between ``teams`` and ``membership_published`` (what it last sent) — one TeamMembership per
changed user, a tombstone for a user left in no team — and records it in the same transaction, after
Kafka acknowledged: at least once, and no edit path can be missed. A trigger NOTIFYs the publisher at
commit of every change to ``teams``.
"""

from __future__ import annotations

import asyncpg

from warpdrive.schemas.locks import MEMBERSHIP_LOCK
from warpdrive.schemas.records import TeamMembership, encode, utc_now

# One membership publisher at a time: two would send the same difference twice (harmless) or
# interleave two users' versions out of order (not).

_DIFF = """
WITH cur AS (SELECT user_id, array_agg(team_name ORDER BY team_name) AS teams FROM teams GROUP BY user_id)
SELECT coalesce(c.user_id, p.user_id) AS user_id, c.teams
FROM cur c FULL JOIN membership_published p ON p.user_id = c.user_id
WHERE c.teams IS DISTINCT FROM p.teams
ORDER BY 1
"""


async def changes(conn: asyncpg.Connection) -> list[tuple[str, list[str] | None]]:
    """Users whose teams differ from what was last published (None: in no team now), under the lock."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", MEMBERSHIP_LOCK)
    return [(r["user_id"], r["teams"]) for r in await conn.fetch(_DIFF)]


def message(user: str, teams: list[str] | None) -> tuple[bytes, bytes | None]:
    """The Kafka key and value for one user (value None: a tombstone)."""
    return user.encode(), None if teams is None else encode(TeamMembership(user, list(teams), utc_now()))


async def mark_published(conn: asyncpg.Connection, sent: list[tuple[str, list[str] | None]]) -> None:
    users = [u for u, t in sent if t is not None]
    await conn.execute(
        """INSERT INTO membership_published (user_id, teams)
           SELECT u, string_to_array(t, chr(31)) FROM unnest($1::text[], $2::text[]) AS x(u, t)
           ON CONFLICT (user_id) DO UPDATE SET teams = EXCLUDED.teams""",
        users,
        [chr(31).join(t) for u, t in sent if t is not None],
    )
    await conn.execute(
        "DELETE FROM membership_published WHERE user_id = ANY($1::text[])", [u for u, t in sent if t is None]
    )
