"""Team membership and explicit ownership rules (read by everyone, written by admins).

A change and its ``reown`` Command (an ownership rule: args ``{"backend", "prefix"}``; a team change:
args ``{}``) are written in one transaction through the command outbox, so the stream workers always
learn of it and recompute owners, even if Kafka was down when it was made.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from .errors import NotFound
from .params import Backend, Name, PathText, page_params
from .responses import JSONResponse, no_content
from .routing import Call, Endpoint


async def list_teams(call: Call) -> JSONResponse:
    q = call.query
    where = "($1::text IS NULL OR team_name = $1) AND ($2::text IS NULL OR user_id = $2)"
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT user_id, team_name FROM teams WHERE {where} ORDER BY team_name, user_id LIMIT $3 OFFSET $4",
            q["team"],
            q["user"],
            q["limit"],
            q["offset"],
        )
        total = await conn.fetchval(f"SELECT count(*) FROM teams WHERE {where}", q["team"], q["user"])
    return JSONResponse(
        {
            "items": [{"user": r["user_id"], "team": r["team_name"]} for r in rows],
            "total": total,
            "limit": q["limit"],
            "offset": q["offset"],
        }
    )


async def put_team(call: Call) -> JSONResponse:
    b = call.body
    async with call.db.acquire() as conn, conn.transaction():
        created = await conn.fetchval(
            "INSERT INTO teams (user_id, team_name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING TRUE",
            b["user"],
            b["team"],
        )
        if created:
            await call.commands.enqueue(conn, "reown", {})
    return JSONResponse({"user": b["user"], "team": b["team"]}, status_code=201 if created else 200)


async def delete_team(call: Call) -> Response:
    """One member out of a team, or (no user) the whole team: every member and the team's quotas, whose
    levels then end (``ok`` and a tombstone on the quota-state topic)."""
    q = call.query
    async with call.db.acquire() as conn, conn.transaction():
        if q["user"] is not None:
            deleted = await conn.fetchval(
                "DELETE FROM teams WHERE user_id = $1 AND team_name = $2 RETURNING TRUE", q["user"], q["team"]
            )
            if not deleted:
                raise NotFound(f"user {q['user']!r} is not in team {q['team']!r}")
        else:
            members = await conn.fetchval(
                "WITH d AS (DELETE FROM teams WHERE team_name = $1 RETURNING 1) SELECT count(*) FROM d", q["team"]
            )
            quotas = await conn.fetchval(
                "WITH d AS (DELETE FROM quotas WHERE team_name = $1 RETURNING 1) SELECT count(*) FROM d", q["team"]
            )
            if not members and not quotas:
                raise NotFound(f"team {q['team']!r} has no members and no quotas")
            if quotas:
                await call.commands.enqueue(conn, "quota", {"team": q["team"], "backend": None})
        await call.commands.enqueue(conn, "reown", {})
    return no_content()


def _rule(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "backend": r["backend_name"],
        "prefix": r["path_prefix"],
        "team": r["team_name"],
        "user": r["user_id"],
        "created_at": r["created_at"],
    }


RULE_COLUMNS = "id, backend_name, path_prefix, team_name, user_id, created_at"


async def list_rules(call: Call) -> JSONResponse:
    q = call.query
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT {RULE_COLUMNS} FROM ownership_rules WHERE ($1::text IS NULL OR backend_name = $1)
                ORDER BY backend_name, path_prefix LIMIT $2 OFFSET $3""",
            q["backend"],
            q["limit"],
            q["offset"],
        )
        total = await conn.fetchval(
            "SELECT count(*) FROM ownership_rules WHERE ($1::text IS NULL OR backend_name = $1)", q["backend"]
        )
    return JSONResponse({"items": [_rule(r) for r in rows], "total": total, "limit": q["limit"], "offset": q["offset"]})


async def put_rule(call: Call) -> JSONResponse:
    b = call.body
    async with call.db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""INSERT INTO ownership_rules (backend_name, path_prefix, team_name, user_id) VALUES ($1, $2, $3, $4)
                ON CONFLICT (backend_name, path_prefix) DO UPDATE SET team_name = EXCLUDED.team_name,
                    user_id = EXCLUDED.user_id
                RETURNING {RULE_COLUMNS}, (xmax = 0) AS created""",
            b["backend"],
            b["prefix"],
            b["team"],
            b["user"],
        )
        await call.commands.enqueue(conn, "reown", {"backend": b["backend"], "prefix": b["prefix"]})
    return JSONResponse(_rule(row), status_code=201 if row["created"] else 200)


async def delete_rule(call: Call) -> Response:
    q = call.query
    async with call.db.acquire() as conn, conn.transaction():
        deleted = await conn.fetchval(
            "DELETE FROM ownership_rules WHERE backend_name = $1 AND path_prefix = $2 RETURNING TRUE",
            q["backend"],
            q["prefix"],
        )
        if not deleted:
            raise NotFound(f"no ownership rule for {q['backend']}:{q['prefix']!r}")
        await call.commands.enqueue(conn, "reown", {"backend": q["backend"], "prefix": q["prefix"]})
    return no_content()


_PREFIX_DOC = "Path prefix inside the backend ('' = the whole backend); the longest matching prefix wins."

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/teams",
        list_teams,
        "Team membership",
        "teams",
        response="TeamList",
        query=(Name("team", "Only this team."), Name("user", "Only this user."), *page_params()),
    ),
    Endpoint(
        "PUT",
        "/api/v1/teams",
        put_team,
        "Add a user to a team (201 added, 200 already there)",
        "teams",
        response="Membership",
        extra_statuses=(201,),
        body=(Name("user", "The user.", required=True), Name("team", "The team.", required=True)),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/teams",
        delete_team,
        "Remove a user from a team, or (no user) delete the team: its members and its quotas",
        "teams",
        status=204,
        extra_statuses=(404,),
        query=(Name("user", "The user; omit to delete the whole team."), Name("team", "The team.", required=True)),
    ),
    Endpoint(
        "GET",
        "/api/v1/ownership",
        list_rules,
        "Explicit ownership rules",
        "ownership",
        response="RuleList",
        query=(Backend("backend", "One backend, or all.", default="all", allow_all=True), *page_params()),
    ),
    Endpoint(
        "PUT",
        "/api/v1/ownership",
        put_rule,
        "Create or update an ownership rule (201 created, 200 updated)",
        "ownership",
        response="Rule",
        extra_statuses=(201,),
        body=(
            Backend("backend", "The backend.", required=True),
            PathText("prefix", _PREFIX_DOC, default=""),
            Name("team", "Owning team.", required=True),
            Name("user", "Owning user (optional).", nullable=True),
        ),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/ownership",
        delete_rule,
        "Delete an ownership rule",
        "ownership",
        status=204,
        extra_statuses=(404,),
        query=(Backend("backend", "The backend.", required=True), PathText("prefix", _PREFIX_DOC, required=True)),
    ),
)
