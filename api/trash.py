"""The deletion job of marked files: a dry run, then a job that moves them to a trash directory on their own backend,
restorable until its retention period ends, then purged. Admin-only (every POST), audited as jobs rows.

Which marks a job takes: every mark of the filter whose file the index still has, unchanged since it was marked.
A mark whose file was modified or read after marking, or that the index no longer has, is *held*: listed by the
dry run with its reason, never moved; the admin reviews it (and marks it again to include it). The runner checks
each file on its store again before moving it (crawler/trash.py), so a change since the last crawl is reported too.

Submitting fixes the job's files in ``trash_items`` (exactly the dry run's list: the request carries the count and
bytes the admin confirmed, and is refused with 409 when the marks changed meanwhile) and removes their marks, in
one transaction with the jobs row and its command.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from warpdrive.schemas.locks import MARK_SIZES_LOCK
from warpdrive.schemas.trash import trash_dir

from . import jobs, marks
from .errors import BadParameter, Conflict, NotFound
from .params import Backend, Int, Name, PathText, page_params
from .responses import JSONResponse
from .routing import Call, Endpoint

# Files one deletion job takes at most: its dry run lists every one of them.
MAX_FILES = 100_000

_SELECTION = """
    SELECT m.backend_name, m.path, m.size_bytes, m.marked_by, m.marked_at, m.note, f.last_modified, f.last_access,
           CASE WHEN f.id IS NULL OR f.deleted_at IS NOT NULL THEN 'no longer in the index'
                WHEN f.last_modified > m.marked_at THEN 'modified since it was marked'
                WHEN f.last_access > m.marked_at THEN 'read since it was marked'
                WHEN NOT (m.backend_name = ANY({backends})) THEN 'its backend is not configured' END AS held
    FROM deletion_marks m LEFT JOIN storage_files f ON f.backend_name = m.backend_name AND f.path = m.path
    WHERE {where} ORDER BY m.backend_name, m.path LIMIT {cap}"""


def _file(r: Any) -> dict[str, Any]:
    return {
        "backend": r["backend_name"],
        "path": r["path"],
        "size_bytes": r["size_bytes"],
        "marked_by": r["marked_by"],
        "marked_at": r["marked_at"],
        "last_modified": r["last_modified"],
        "last_access": r["last_access"],
    }


async def _select(conn: Any, call: Call, lock: bool) -> tuple[list[Any], list[Any]]:
    """The marks of the filter: (to delete, held). With ``lock``: FOR UPDATE of the marks, for the submission."""
    q = {**call.body, "read_since_mark": None}
    w = marks._where(q)
    sql = _SELECTION.format(backends=w.next_param(1), where=w.sql(), cap=w.next_param(2))
    rows = await conn.fetch(
        sql + (" FOR UPDATE OF m" if lock else ""), *w.args, [b.name for b in call.cfg.backends], MAX_FILES + 1
    )
    if len(rows) > MAX_FILES:
        raise BadParameter(
            f"the filter matches more than {MAX_FILES:,} marks: narrow it (backend, prefix, owner) and delete in parts",
            param="prefix",
        )
    return [r for r in rows if r["held"] is None], [r for r in rows if r["held"] is not None]


def _retention(call: Call) -> float:
    days = call.body.get("retention_days")
    return float(call.cfg.crawler.trash_retention_days if days is None else days)


async def plan(call: Call) -> JSONResponse:
    """The dry run: exactly the files a deletion job of this filter would move, and the marks it would hold back."""
    async with call.db.acquire() as conn:
        todo, held = await _select(conn, call, lock=False)
    return JSONResponse(
        {
            "total": len(todo),
            "total_bytes": sum(r["size_bytes"] or 0 for r in todo),
            "retention_days": _retention(call),
            "trash_prefix": call.cfg.crawler.trash_prefix,
            "files": [_file(r) for r in todo],
            "held": [{**_file(r), "reason": r["held"]} for r in held],
            "held_total": len(held),
        }
    )


async def delete_marked(call: Call) -> JSONResponse:
    """Submits the deletion job of the dry run the admin confirmed (its count and bytes)."""
    b = call.body
    retention = _retention(call)
    async with call.db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MARK_SIZES_LOCK)  # sizes stay as read until commit
        todo, held = await _select(conn, call, lock=True)
        total, total_bytes = len(todo), sum(r["size_bytes"] or 0 for r in todo)
        if (total, total_bytes) != (b["expect"], b["expect_bytes"]):
            raise Conflict(
                f"the marks now select {total:,} files and {total_bytes:,} bytes, not the {b['expect']:,} "
                f"files and {b['expect_bytes']:,} bytes confirmed: nothing was deleted; run the dry run again"
            )
        if not total:
            raise BadParameter("no marked file to delete (held marks are never deleted: review them)", param="expect")
        job_id = uuid.uuid4().hex
        expires = datetime.now(UTC) + timedelta(days=retention)
        args = {
            "backend": b["backend"],
            "prefix": b["prefix"] or "",
            "owner": b.get("owner"),
            "files": total,
            "bytes": total_bytes,
            "held": len(held),
            "retention_days": retention,
            "expires_at": expires.isoformat(),
            "trash": trash_dir(call.cfg, expires, job_id),
        }
        row = await jobs.insert(conn, call, "trash", args, job_id)
        cols = [[r[k] for r in todo] for k in ("backend_name", "path", "size_bytes", "marked_by", "marked_at", "note")]
        await conn.execute(
            """INSERT INTO trash_items (job_id, backend_name, path, size_bytes, marked_by, marked_at, note)
               SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[])""",
            job_id,
            *cols,
        )
        await conn.execute(
            """DELETE FROM deletion_marks m USING unnest($1::text[], $2::text[]) AS t(b, p)
               WHERE m.backend_name = t.b AND m.path = t.p""",
            cols[0],
            cols[1],
        )
    return JSONResponse(jobs._job(row), status_code=201)


# One trash job with what became of it: restorable until it expires, unless restored or purged.
_TRASH = f"""
    SELECT {", ".join("t." + c.strip() for c in jobs.COLUMNS.split(","))},
           r.job_id AS restore_job, r.state AS restore_state, p.job_id AS purge_job
    FROM jobs t
    LEFT JOIN LATERAL (SELECT job_id, state FROM jobs WHERE kind = 'restore' AND args->>'trash_job' = t.job_id
                       AND state <> 'cancelled' ORDER BY created_at DESC LIMIT 1) r ON TRUE
    LEFT JOIN LATERAL (SELECT job_id FROM jobs WHERE kind = 'purge' AND state = 'done'
                       AND progress->'purged' @> jsonb_build_array(jsonb_build_object('directory', t.args->>'trash'))
                       LIMIT 1) p ON TRUE
    WHERE t.kind = 'trash' AND t.args ? 'expires_at'"""
# A jobs row the workers made from a job event alone (streams/status.py: args '{}', e.g. an event of a trash job
# this database never accepted) is no deletion job of ours: listed by the jobs list, not here.


def _trash(r: Any, now: datetime) -> dict[str, Any]:
    job = jobs._job(r)
    expires = datetime.fromisoformat(job["args"]["expires_at"])
    if r["restore_state"] == "done":
        status = "restored"
    elif r["purge_job"]:
        status = "purged"
    elif job["state"] in ("queued", "running") or r["restore_state"] in ("queued", "running"):
        status = "running"
    elif expires <= now:
        status = "expired"
    elif job["state"] == "cancelled" and not (job["progress"] or {}).get("files_done"):
        status = "cancelled"
    else:
        status = "restorable"
    return {**job, "expires_at": expires, "status": status, "restore_job": r["restore_job"]}


async def list_trash(call: Call) -> JSONResponse:
    q = call.query
    now = datetime.now(UTC)
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            f"{_TRASH} ORDER BY t.created_at DESC, t.job_id LIMIT $1 OFFSET $2", q["limit"], q["offset"]
        )
        total = await conn.fetchval("SELECT count(*) FROM jobs WHERE kind = 'trash' AND args ? 'expires_at'")
    return JSONResponse(
        {"items": [_trash(r, now) for r in rows], "total": total, "limit": q["limit"], "offset": q["offset"]}
    )


async def _one(conn: Any, given: str) -> dict[str, Any]:
    job_id = await jobs.resolve(conn, given)
    row = await conn.fetchrow(f"{_TRASH} AND t.job_id = $1", job_id)
    if row is None:
        raise NotFound(f"job {job_id} is not a deletion job")
    return _trash(row, datetime.now(UTC))


async def show_trash(call: Call) -> JSONResponse:
    """One trash job and its files, paged."""
    q = call.query
    async with call.db.acquire() as conn:
        doc = await _one(conn, call.path["job_id"])
        rows = await conn.fetch(
            "SELECT backend_name, path, size_bytes, marked_by, marked_at FROM trash_items "
            "WHERE job_id = $1 ORDER BY backend_name, path LIMIT $2 OFFSET $3",
            doc["job_id"],
            q["limit"],
            q["offset"],
        )
    files = [
        {
            "backend": r["backend_name"],
            "path": r["path"],
            "size_bytes": r["size_bytes"],
            "marked_by": r["marked_by"],
            "marked_at": r["marked_at"],
        }
        for r in rows
    ]
    return JSONResponse({**doc, "files": files, "limit": q["limit"], "offset": q["offset"]})


async def restore(call: Call) -> JSONResponse:
    """Moves every file of a trash job back to its path; refused once the trash expired or when it is not ready."""
    async with call.db.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('warpdrive-trash'))")  # one restore per trash
        doc = await _one(conn, call.path["job_id"])
        if doc["status"] != "restorable":
            when = f" at {doc['expires_at']:%Y-%m-%d %H:%M} UTC" if doc["status"] == "expired" else ""
            raise Conflict(f"deletion job {doc['job_id']} is {doc['status']}{when}: nothing to restore")
        files, size = doc["progress"].get("files_done", 0), doc["progress"].get("bytes_done", 0)
        row = await jobs.insert(
            conn,
            call,
            "restore",
            {"trash_job": doc["job_id"], "trash": doc["args"]["trash"], "files": files, "bytes": size},
        )
    return JSONResponse(jobs._job(row), status_code=201)


async def purge(call: Call) -> JSONResponse:
    """A purge job: removes every trash directory whose retention ended (on every backend)."""
    async with call.db.acquire() as conn, conn.transaction():
        row = await jobs.insert(conn, call, "purge", {"before": datetime.now(UTC).isoformat()})
    return JSONResponse(jobs._job(row), status_code=201)


_JOB_ID = Name("job_id", "The deletion (trash) job's id, or a unique start of it.", required=True)

_FILTER = (
    Backend("backend", "Only marks on this backend, or all.", default="all", allow_all=True),
    PathText("prefix", "Only marks under this path prefix."),
    Name("owner", "Only marks of files owned by this team or user."),
    Int(
        "retention_days",
        "Days the trash stays restorable (default: crawler.trash_retention_days).",
        minimum=0,
        maximum=3650,
    ),
)

ENDPOINTS = (
    Endpoint(
        "POST",
        "/api/v1/marks/delete/dry-run",
        plan,
        "Dry run of a deletion job: exactly the marked files it would move to the trash, and the marks held back",
        "trash",
        response="TrashPlan",
        body=_FILTER,
    ),
    Endpoint(
        "POST",
        "/api/v1/marks/delete",
        delete_marked,
        "Delete marked files: a job moves them to a trash directory on their backend, restorable until it expires",
        "trash",
        response="Job",
        status=201,
        extra_statuses=(409,),
        body=(
            *_FILTER,
            Int(
                "expect",
                "The dry run's total the admin confirmed: refused (409), nothing deleted, when the "
                "marks now select another number.",
                required=True,
                minimum=0,
                maximum=MAX_FILES,
            ),
            Int(
                "expect_bytes",
                "The dry run's total_bytes the admin confirmed.",
                required=True,
                minimum=0,
                maximum=2**62,
            ),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/trash",
        list_trash,
        "Deletion jobs and their trash: restorable until it expires",
        "trash",
        response="TrashList",
        query=page_params(),
    ),
    Endpoint(
        "GET",
        "/api/v1/trash/{job_id}",
        show_trash,
        "One deletion job and its files",
        "trash",
        response="TrashDetail",
        path_params=(_JOB_ID,),
        query=page_params(),
        extra_statuses=(404,),
    ),
    Endpoint(
        "POST",
        "/api/v1/trash/{job_id}/restore",
        restore,
        "Restore a deletion job's files to their paths",
        "trash",
        response="Job",
        status=201,
        path_params=(_JOB_ID,),
        extra_statuses=(404, 409),
    ),
    Endpoint(
        "POST",
        "/api/v1/trash/purge",
        purge,
        "Purge every expired trash directory now",
        "trash",
        response="Job",
        status=201,
    ),
)
