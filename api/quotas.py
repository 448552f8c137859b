"""GET|PUT|DELETE /api/v1/quota: quotas per team and backend (or all backends), with current usage and level.

Usage is summed live from ``usage_rollup`` (O(teams × backends)); the level is the one the stream
workers last evaluated (``quota_state``; null until they first evaluate a new quota). A change sends
``Command(kind="quota", args={"team", "backend"})`` through the outbox, so the workers re-evaluate at once.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .errors import BadParameter, NotFound
from .params import Backend, Name, Size
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
        "id": r["id"], "team": r["team_name"], "backend": r["backend_name"], "soft_limit": r["soft_limit"],
        "hard_limit": r["hard_limit"], "usage_bytes": r["usage_bytes"], "level": r["level"],
        "level_changed_at": r["changed_at"],
    }


async def list_quotas(call: Call) -> JSONResponse:
    async with call.db.acquire() as conn:
        rows = await conn.fetch(LIST_SQL.format(extra=""), call.query["team"])
    return JSONResponse({"items": [_row(r) for r in rows], "total": len(rows)})


async def put_quota(call: Call) -> JSONResponse:
    b = call.body
    if b["soft"] > b["hard"]:
        raise BadParameter(f"soft: {b['soft']} bytes is above the hard limit ({b['hard']} bytes)", param="soft")
    async with call.db.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            """INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ($1, $2, $3, $4)
               ON CONFLICT (team_name, backend_name) DO UPDATE SET soft_limit = EXCLUDED.soft_limit,
                   hard_limit = EXCLUDED.hard_limit
               RETURNING (xmax = 0)""",
            b["team"], b["backend"], b["soft"], b["hard"],
        )
        row = await conn.fetchrow(
            LIST_SQL.format(extra="AND q.backend_name IS NOT DISTINCT FROM $2"), b["team"], b["backend"])
        await call.commands.enqueue(conn, "quota", {"team": b["team"], "backend": b["backend"]})
    return JSONResponse(_row(row), status_code=201 if created else 200)


async def delete_quota(call: Call) -> Response:
    q = call.query
    async with call.db.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            "DELETE FROM quotas WHERE team_name = $1 AND backend_name IS NOT DISTINCT FROM $2 RETURNING TRUE",
            q["team"], q["backend"])
        if not deleted:
            raise NotFound(f"no quota for team {q['team']!r} on {q['backend'] or 'all backends'}")
        await call.commands.enqueue(conn, "quota", {"team": q["team"], "backend": q["backend"]})
    return no_content()


_BACKEND_DOC = "A backend's name, or all (null in a body) for a quota over every backend."

ENDPOINTS = (
    Endpoint("GET", "/api/v1/quota", list_quotas, "Quotas with current usage and level", "quotas", response="QuotaList",
             query=(Name("team", "Only this team's quotas."),)),
    Endpoint(
        "PUT", "/api/v1/quota", put_quota, "Create or update a quota (201 created, 200 updated)", "quotas",
        response="Quota", extra_statuses=(201,),
        body=(
            Name("team", "The team.", required=True),
            Backend("backend", _BACKEND_DOC, default="all", allow_all=True, nullable=True),
            Size("soft", "Soft limit (500TB, 1.5TiB, bytes): crossing it warns.", required=True),
            Size("hard", "Hard limit: crossing it blocks writes through the agents.", required=True),
        ),
    ),
    Endpoint(
        "DELETE", "/api/v1/quota", delete_quota, "Delete a quota", "quotas", status=204, extra_statuses=(404,),
        query=(Name("team", "The team.", required=True), Backend("backend", _BACKEND_DOC, default="all", allow_all=True)),
    ),
)
