"""Jobs (move, warm, crawl): submitted here, run by workers and agents via the COMMANDS topic.

Submitting inserts the ``jobs`` row and its Command (``command_id`` = ``job_id``) into the command outbox
in one PostgreSQL transaction; the outbox publishes it when Kafka takes it. Whoever runs the job
reports JobEvents, which the stream workers fold into the row (state, progress, error).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from warpdrive.schemas.config import Config
from warpdrive.schemas.jobs import FINISHED, KINDS, STATES

from .errors import BadParameter, Conflict, NotFound
from .params import Backend, Bool, Choice, JsonObject, Name, Param, PathText, page_params, parse_body
from .responses import JSONResponse
from .routing import Call, Endpoint

# The arguments each kind takes: the contract with the workers that run them.
ARGS: dict[str, tuple[Param, ...]] = {
    "crawl": (
        Backend("backend", "Backend to crawl.", required=True),
        PathText("prefix", "Only this prefix ('' = everything).", default=""),
    ),
    "warm": (
        Backend("backend", "Backend of the files.", required=True),
        PathText("path", "File or directory to pull into node caches.", required=True),
        Name("node", "Only this agent node (default: every node)."),
    ),
    "move": (
        Backend("backend", "Source backend.", required=True),
        PathText("path", "Source file or directory.", required=True),
        Backend("dest_backend", "Destination backend.", required=True),
        PathText("dest_path", "Destination path (default: the same path)."),
        Bool("dry_run", "Only count what would move; move nothing.", default=False),
    ),
}


class JobArgs(JsonObject):
    """The ``args`` object; its schema lists each kind's arguments."""

    def schema(self, cfg: Config) -> dict[str, Any]:
        def one(params: tuple[Param, ...]) -> dict[str, Any]:
            return {
                "type": "object",
                "additionalProperties": False,
                "properties": {p.name: {**p.openapi_schema(cfg), "description": p.doc} for p in params},
                "required": [p.name for p in params if p.required],
            }

        return {"anyOf": [{**one(params), "title": kind} for kind, params in ARGS.items()]}


COLUMNS = "job_id, kind, args, state, progress, error, created_by, created_at, updated_at"


def _job(r: Any) -> dict[str, Any]:
    return {
        "job_id": r["job_id"],
        "kind": r["kind"],
        "args": orjson.loads(r["args"]),
        "state": r["state"],
        "progress": orjson.loads(r["progress"]),
        "error": r["error"],
        "created_by": r["created_by"],
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


def check_args(kind: str, args: dict[str, Any], call: Call) -> dict[str, Any]:
    try:
        parsed = parse_body(ARGS[kind], args, call.cfg)
    except BadParameter as e:
        raise BadParameter(f"args.{e.message}", param=f"args.{e.param}") from None
    return {k: v for k, v in parsed.items() if v is not None}


async def insert(conn: Any, call: Call, kind: str, args: dict[str, Any], job_id: str | None = None) -> Any:
    """The jobs row (who asked, when, what) and its command, inside the caller's transaction; returns the row."""
    job_id = job_id or uuid.uuid4().hex
    row = await conn.fetchrow(
        f"INSERT INTO jobs (job_id, kind, args, created_by) VALUES ($1, $2, $3::jsonb, $4) RETURNING {COLUMNS}",
        job_id,
        kind,
        orjson.dumps(args).decode(),
        call.principal.name,
    )
    await call.commands.enqueue(conn, kind, args, target=args.get("node", "*"), command_id=job_id)
    return row


async def submit(call: Call) -> JSONResponse:
    kind = call.body["kind"]
    args = check_args(kind, call.body["args"], call)
    async with call.db.acquire() as conn, conn.transaction():
        row = await insert(conn, call, kind, args)
    return JSONResponse(_job(row), status_code=201)


async def list_jobs(call: Call) -> JSONResponse:
    q = call.query
    where = "($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR kind = $2)"
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM jobs WHERE {where} ORDER BY created_at DESC, job_id LIMIT $3 OFFSET $4",
            q["state"],
            q["kind"],
            q["limit"],
            q["offset"],
        )
        total = await conn.fetchval(f"SELECT count(*) FROM jobs WHERE {where}", q["state"], q["kind"])
    return JSONResponse({"items": [_job(r) for r in rows], "total": total, "limit": q["limit"], "offset": q["offset"]})


async def resolve(conn: Any, given: str) -> str:
    """A job id, or a unique prefix of one (the short ids lists show): the full id, else a 404 or a 400."""
    ids = [
        r["job_id"]
        for r in await conn.fetch(
            "SELECT job_id FROM jobs WHERE starts_with(job_id, $1) ORDER BY job_id = $1 DESC, job_id LIMIT 6", given
        )
    ]
    if not ids:
        raise NotFound(f"no job {given!r}")
    if ids[0] != given and len(ids) > 1:
        more = ", ..." if len(ids) > 5 else ""
        raise BadParameter(
            f"job_id: {given!r} is the start of several jobs ({', '.join(ids[:5])}{more}): give more of it",
            param="job_id",
        )
    return ids[0]


async def show(call: Call) -> JSONResponse:
    async with call.db.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {COLUMNS} FROM jobs WHERE job_id = $1", await resolve(conn, call.path["job_id"])
        )
    if row is None:
        raise NotFound(f"no job {call.path['job_id']!r}")
    return JSONResponse(_job(row))


async def cancel(call: Call) -> JSONResponse:
    """Marks the job cancelled and tells its runners; a runner that already finished reports so later."""
    async with call.db.acquire() as conn, conn.transaction():
        job_id = await resolve(conn, call.path["job_id"])
        state = await conn.fetchval("SELECT state FROM jobs WHERE job_id = $1 FOR UPDATE", job_id)
        if state is None:
            raise NotFound(f"no job {job_id!r}")
        if state in FINISHED:
            raise Conflict(f"job {job_id} is already {state}")
        row = await conn.fetchrow(
            f"UPDATE jobs SET state = 'cancelled', updated_at = NOW() WHERE job_id = $1 RETURNING {COLUMNS}", job_id
        )
        await call.commands.enqueue(conn, "cancel", {"job_id": job_id})
    return JSONResponse(_job(row))


_JOB_ID = Name("job_id", "The job id, or a unique start of it (as lists show it).", required=True)

ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/jobs",
        submit,
        "Submit a move, warm or crawl job",
        "jobs",
        response="Job",
        status=201,
        # Deletion jobs (trash, restore, purge) have endpoints of their own: api/trash.py.
        body=(
            Choice("kind", "What to do.", required=True, choices=tuple(ARGS)),
            JobArgs(
                "args",
                "The kind's arguments: crawl {backend, prefix}, warm {backend, path, node}, "
                "move {backend, path, dest_backend, dest_path, dry_run}.",
                required=True,
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/jobs",
        list_jobs,
        "Jobs, newest first",
        "jobs",
        response="JobList",
        query=(
            Choice("state", "Only jobs in this state.", choices=STATES),
            Choice("kind", "Only jobs of this kind.", choices=KINDS),
            *page_params(),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/jobs/{job_id}",
        show,
        "One job",
        "jobs",
        response="Job",
        path_params=(_JOB_ID,),
        extra_statuses=(404,),
    ),
    Endpoint(
        "POST",
        "/api/v1/jobs/{job_id}/cancel",
        cancel,
        "Cancel a job",
        "jobs",
        response="Job",
        path_params=(_JOB_ID,),
        extra_statuses=(404, 409),
    ),
)
