"""Deletion marks: the dashboard's "mark for deletion". Marking is reviewable and reversible and never
deletes anything; bulk requests are one SQL statement each.

Each mark carries its file's current size (``deletion_marks.size_bytes``, migration 0055: set here when
marking, kept by the stream workers as files change), so the total of marked bytes reads the marks alone.
Marking holds MARK_SIZES_LOCK exclusively from reading the sizes to the commit: a batch changing a file
meanwhile either committed before (its size is read) or updates the new mark after (streams/marks.py)."""

from __future__ import annotations

from warpdrive.schemas.db import MARK_SIZES_LOCK

from .params import Backend, Files, PathText, Text, page_params
from .responses import JSONResponse
from .routing import Call, Endpoint
from .sql import Where


async def list_marks(call: Call) -> JSONResponse:
    q = call.query
    w = Where()
    if q["backend"]:
        w.add("m.backend_name = {0}", q["backend"])
    if q["prefix"]:
        w.prefix("m.path", q["prefix"])
    where, args = w.sql(), w.args
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            # The page of marks first, then its files: one index probe per row shown, not per mark.
            f"""SELECT m.backend_name, m.path, m.marked_by, m.marked_at, m.note, m.size_bytes, f.last_access,
                       f.owner_team, (f.id IS NOT NULL AND f.deleted_at IS NULL) AS exists
                FROM (SELECT * FROM deletion_marks m WHERE {where} ORDER BY m.marked_at DESC, m.backend_name, m.path
                      LIMIT {w.next_param(1)} OFFSET {w.next_param(2)}) m
                LEFT JOIN storage_files f ON f.backend_name = m.backend_name AND f.path = m.path
                ORDER BY m.marked_at DESC, m.backend_name, m.path""",
            *args, q["limit"], q["offset"])
        totals = await conn.fetchrow(
            f"""SELECT count(*) AS n, COALESCE(SUM(m.size_bytes), 0)::bigint AS bytes
                FROM deletion_marks m WHERE {where}""", *args)
    items = [{"backend": r["backend_name"], "path": r["path"], "marked_by": r["marked_by"], "marked_at": r["marked_at"],
              "note": r["note"], "size_bytes": r["size_bytes"], "last_access": r["last_access"],
              "owner_team": r["owner_team"], "exists": r["exists"]} for r in rows]
    return JSONResponse({"items": items, "total": totals["n"], "total_bytes": totals["bytes"],
                         "limit": q["limit"], "offset": q["offset"]})


def _columns(files: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    unique = list(dict.fromkeys(files))  # one row per file: ON CONFLICT may touch a row only once per statement
    return [b for b, _ in unique], [p for _, p in unique]


async def mark(call: Call) -> JSONResponse:
    backends, paths = _columns(call.body["files"])
    async with call.db.acquire() as conn, conn.transaction():
        # Its own statement: the INSERT's snapshot must be taken after the lock is granted.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MARK_SIZES_LOCK)
        n = await conn.fetchval(
            """WITH up AS (
                   INSERT INTO deletion_marks (backend_name, path, marked_by, note, size_bytes)
                   SELECT t.b, t.p, $3, $4, f.size_bytes FROM unnest($1::text[], $2::text[]) AS t(b, p)
                   LEFT JOIN storage_files f ON f.backend_name = t.b AND f.path = t.p AND f.deleted_at IS NULL
                   ON CONFLICT (backend_name, path) DO UPDATE SET note = EXCLUDED.note, marked_by = EXCLUDED.marked_by,
                       marked_at = NOW(), size_bytes = EXCLUDED.size_bytes
                   RETURNING 1)
               SELECT count(*) FROM up""",
            backends, paths, call.principal.name, call.body["note"])
    return JSONResponse({"marked": n})


async def unmark(call: Call) -> JSONResponse:
    backends, paths = _columns(call.body["files"])
    async with call.db.acquire() as conn:
        n = await conn.fetchval(
            """WITH d AS (
                   DELETE FROM deletion_marks m USING unnest($1::text[], $2::text[]) AS t(b, p)
                   WHERE m.backend_name = t.b AND m.path = t.p RETURNING 1)
               SELECT count(*) FROM d""",
            backends, paths)
    return JSONResponse({"unmarked": n})


_FILES = Files("files", "The files: [{backend, path}], 1 to 10000.", required=True)

ENDPOINTS = (
    Endpoint("GET", "/api/v1/marks", list_marks, "Files marked for deletion", "marks", response="MarkList",
             query=(Backend("backend", "One backend, or all.", default="all", allow_all=True),
                    PathText("prefix", "Path prefix inside the backend."), *page_params())),
    Endpoint("POST", "/api/v1/marks", mark, "Mark files for deletion (never deletes)", "marks", response="MarkResult",
             body=(_FILES, Text("note", "Why (shown to reviewers).", nullable=True))),
    Endpoint("DELETE", "/api/v1/marks", unmark, "Unmark files", "marks", response="UnmarkResult", body=(_FILES,)),
)
