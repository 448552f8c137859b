"""GET|PUT|DELETE /api/v1/quota: quotas per team and backend (or all backends), with current usage and level.

Usage is summed live from ``usage_rollup`` (O(teams × backends)); the level is the one the stream
workers last evaluated (``quota_state``; null until they first evaluate a new quota). A change sends
``Command(kind="quota", args={"team", "backend"})`` through the outbox, so the workers re-evaluate at once
and publish the transition (a deleted quota: ``ok`` and a tombstone on the state topic), which every
agent applies within about a second. ``unit_family`` says in which units the limits were typed
(``schemas/units.family_of``): every surface shows the quota's sizes in it.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from warpdrive.schemas.units import family_of, format_size

from .errors import BadParameter, Conflict, NotFound
from .params import Backend, Bool, Name, Size
from .responses import JSONResponse, no_content
from .routing import Call, Endpoint

LIST_SQL = """
    SELECT q.id, q.team_name, q.backend_name, q.soft_limit, q.hard_limit,
           COALESCE((SELECT SUM(u.total_bytes) FROM usage_rollup u
                     WHERE u.owner_team = q.team_name AND (q.backend_name IS NULL OR u.backend_name = q.backend_name)), 0)::bigint
               AS usage_bytes,
           s.level, s.changed_at
    FROM quotas q
    LEFT JOIN quota_state s ON s.team_name = q.team_name AND s.backend_name IS NOT DISTINCT FROM q.backend_name
    WHERE ($1::text IS NULL OR q.team_name = $1) {extra}
    ORDER BY q.team_name, q.backend_name NULLS FIRST"""


def _row(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "team": r["team_name"],
        "backend": r["backend_name"],
        "soft_limit": r["soft_limit"],
        "hard_limit": r["hard_limit"],
        "usage_bytes": r["usage_bytes"],
        "level": r["level"],
        "level_changed_at": r["changed_at"],
        "unit_family": family_of(r["soft_limit"], r["hard_limit"]),
    }


# A quota for a team nobody is in and that owns nothing is most likely a typo: refused unless forced.
# usage_rollup has a row per shard (migration ingest_shards): summed.
_TEAM_KNOWN = """SELECT EXISTS (SELECT 1 FROM teams WHERE team_name = $1)
                     OR coalesce((SELECT sum(total_bytes) FROM usage_rollup WHERE owner_team = $1), 0) > 0"""


async def list_quotas(call: Call) -> JSONResponse:
    async with call.db.acquire() as conn:
        rows = await conn.fetch(LIST_SQL.format(extra=""), call.query["team"])
    return JSONResponse({"items": [_row(r) for r in rows], "total": len(rows)})


async def put_quota(call: Call) -> JSONResponse:
    b = call.body
    if b["soft"] > b["hard"]:
        family = family_of(b["soft"], b["hard"])
        raise BadParameter(
            f"soft: {format_size(b['soft'], family)} is above the hard limit ({format_size(b['hard'], family)})",
            param="soft",
        )
    async with call.db.acquire() as conn, conn.transaction():
        if not b["force"] and not await conn.fetchval(_TEAM_KNOWN, b["team"]):
            raise Conflict(
                f"team {b['team']!r} has no members and owns no data (a typo?); set force to create its quota anyway",
                param="force",
            )
        created = await conn.fetchval(
            """INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ($1, $2, $3, $4)
               ON CONFLICT (team_name, backend_name) DO UPDATE SET soft_limit = EXCLUDED.soft_limit,
                   hard_limit = EXCLUDED.hard_limit
               RETURNING (xmax = 0)""",
            b["team"],
            b["backend"],
            b["soft"],
            b["hard"],
        )
        row = await conn.fetchrow(
            LIST_SQL.format(extra="AND q.backend_name IS NOT DISTINCT FROM $2"), b["team"], b["backend"]
        )
        await call.commands.enqueue(conn, "quota", {"team": b["team"], "backend": b["backend"]})
    return JSONResponse(_row(row), status_code=201 if created else 200)


async def delete_quota(call: Call) -> Response:
    q = call.query
    async with call.db.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            "DELETE FROM quotas WHERE team_name = $1 AND backend_name IS NOT DISTINCT FROM $2 RETURNING TRUE",
            q["team"],
            q["backend"],
        )
        if not deleted:
            raise NotFound(f"no quota for team {q['team']!r} on {q['backend'] or 'all backends'}")
        await call.commands.enqueue(conn, "quota", {"team": q["team"], "backend": q["backend"]})
    return no_content()


_BACKEND_DOC = "A backend's name, or all (null in a body) for a quota over every backend."
HARD_DOC = (
    "Hard limit (>= soft). Once the team's usage is above it, every agent refuses its members' creates "
    "(files and directories), opens for writing, writes, truncates and renames on the quota's backend (or on "
    "all backends) with EDQUOT ('Disk quota exceeded'); reads, listing and deletes still work, so the team "
    "can free space. Takes effect on every live agent about a second after the usage, the quota or the "
    "team's membership changes (docs/streams.md)."
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/quota",
        list_quotas,
        "Quotas with current usage and level",
        "quotas",
        response="QuotaList",
        query=(Name("team", "Only this team's quotas."),),
    ),
    Endpoint(
        "PUT",
        "/api/v1/quota",
        put_quota,
        "Create or update a quota (201 created, 200 updated)",
        "quotas",
        response="Quota",
        extra_statuses=(201, 409),
        body=(
            Name("team", "The team.", required=True),
            Backend("backend", _BACKEND_DOC, default="all", allow_all=True, nullable=True),
            Size(
                "soft",
                "Soft limit (500TB, 1.5TiB, bytes): crossing it logs a WARNING and publishes a 'soft' "
                "transition on the breach topic; nothing is blocked.",
                required=True,
            ),
            Size("hard", HARD_DOC, required=True),
            Bool(
                "force",
                "Set the quota even if the team has no members and owns no data (otherwise 409).",
                default=False,
            ),
        ),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/quota",
        delete_quota,
        "Delete a quota (its level ends: agents allow writes again)",
        "quotas",
        status=204,
        extra_statuses=(404,),
        query=(
            Name("team", "The team.", required=True),
            Backend("backend", _BACKEND_DOC, default="all", allow_all=True),
        ),
    ),
)
