"""GET /api/v1/user/{user_id}: everything a user owns and reads, across backends."""

from __future__ import annotations

from typing import Any

from asyncpg import Record

from .errors import NotFound
from .params import Int, Name
from .responses import JSONResponse
from .routing import Call, Endpoint
from warpdrive.schemas.owners import UNOWNED


# From the per-user rollups the stream workers keep (user_reads, user_files; migration 0054): one row per
# backend, and the most-read files in the order of idx_user_files_top, whatever the user's history.
# user_reads has a row per shard (the workers' partitions; migration 0057): summed here.
READS_SQL = """
    SELECT backend_name, SUM(read_count)::bigint AS read_count, SUM(bytes_read)::bigint AS bytes_read,
           SUM(write_count)::bigint AS write_count, SUM(bytes_written)::bigint AS bytes_written,
           SUM(files_accessed)::bigint AS files_accessed, MAX(last_access) AS last_access
    FROM user_reads WHERE user_id = $1 GROUP BY backend_name ORDER BY backend_name"""
TOP_READ_SQL = """
    SELECT backend_name, path, read_count, bytes_read, last_access
    FROM user_files WHERE user_id = $1 ORDER BY bytes_read DESC, backend_name, path LIMIT $2"""


# `unowned` (as GET /usage?group_by=user lists it) is the files no user owns: '' in the rollup, NULL or '' in the index.
UNOWNED_FILES = "(owner_user IS NULL OR owner_user = '')"


async def user_detail(call: Call) -> JSONResponse:
    user = call.path["user_id"]
    top = call.query["top"]
    if user == UNOWNED:
        return await unowned_detail(call, top)
    async with call.db.acquire() as conn:
        teams = [
            r["team_name"]
            for r in await conn.fetch("SELECT team_name FROM teams WHERE user_id = $1 ORDER BY team_name", user)
        ]
        owned = await conn.fetch(
            """SELECT backend_name, SUM(file_count)::bigint AS file_count, SUM(total_bytes)::bigint AS total_bytes,
                      MAX(last_access) AS last_access
               FROM usage_rollup WHERE owner_user = $1 GROUP BY backend_name ORDER BY backend_name""",
            user,
        )
        reads = await conn.fetch(READS_SQL, user)
        top_read = await conn.fetch(TOP_READ_SQL, user, top)
        top_files = await conn.fetch(
            """SELECT backend_name, path, size_bytes, last_modified, last_access, owner_team
               FROM storage_files WHERE owner_user = $1 AND deleted_at IS NULL
               ORDER BY size_bytes DESC LIMIT $2""",
            user,
            top,
        )
    if user in call.cfg.teams:
        teams = sorted({*teams, call.cfg.teams[user]})
    if not (teams or owned or reads):
        raise NotFound(f"user {user!r} owns nothing, read nothing and is in no team")
    return _detail(user, teams, owned, reads, top_files, top_read)


async def unowned_detail(call: Call, top: int) -> JSONResponse:
    """The same shape for the files without an owning user: nobody reads as `unowned`, and it is in no team."""
    async with call.db.acquire() as conn:
        owned = await conn.fetch(
            """SELECT backend_name, SUM(file_count)::bigint AS file_count, SUM(total_bytes)::bigint AS total_bytes,
                      MAX(last_access) AS last_access
               FROM usage_rollup WHERE owner_user = '' GROUP BY backend_name
               HAVING SUM(file_count) <> 0 OR SUM(total_bytes) <> 0 ORDER BY backend_name"""
        )
        top_files = await conn.fetch(
            f"""SELECT backend_name, path, size_bytes, last_modified, last_access, owner_team
                FROM storage_files WHERE {UNOWNED_FILES} AND deleted_at IS NULL
                ORDER BY size_bytes DESC LIMIT $1""",
            top,
        )
    return _detail(UNOWNED, [], owned, [], top_files, [])


def _detail(
    user: str,
    teams: list[str],
    owned: list[Record],
    reads: list[Record],
    top_files: list[Record],
    top_read: list[Record],
) -> JSONResponse:
    """The one response shape of a user's page (the OpenAPI document's UserDetail), rows renamed for the API."""
    return JSONResponse(
        {
            "user": user,
            "teams": teams,
            "owned": [_pick(r, "file_count", "total_bytes", "last_access") for r in owned],
            "reads": [
                _pick(r, "read_count", "bytes_read", "write_count", "bytes_written", "files_accessed", "last_access")
                for r in reads
            ],
            "top_files": [
                _pick(r, "path", "size_bytes", "last_modified", "last_access", "owner_team") for r in top_files
            ],
            "top_read": [_pick(r, "path", "read_count", "bytes_read", "last_access") for r in top_read],
        }
    )


def _pick(r: Record, *keys: str) -> dict[str, Any]:
    return {"backend": r["backend_name"], **{k: r[k] for k in keys}}


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/user/{user_id}",
        user_detail,
        "Everything a user owns and reads",
        "users",
        response="UserDetail",
        path_params=(Name("user_id", "The user id.", required=True),),
        query=(Int("top", "How many largest owned and most-read files to list.", default=10, minimum=0, maximum=100),),
        extra_statuses=(404,),
    ),
)
