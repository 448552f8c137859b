"""Deletion marks: the dashboard's "mark for deletion". Marking is reviewable and reversible and never
deletes anything; bulk requests are one SQL statement each.

Each mark carries its file's current size (``deletion_marks.size_bytes``, migration 0055: set here when
marking, kept by the stream workers as files change), so the total of marked bytes reads the marks alone.
Marking holds MARK_SIZES_LOCK exclusively from reading the sizes to the commit: a batch changing a file
meanwhile either committed before (its size is read) or updates the new mark after (streams/marks.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warpdrive.schemas.locks import MARK_SIZES_LOCK

from . import stale
from .errors import BadParameter, Conflict
from .params import Backend, Bool, Files, Int, Name, PathText, Text, page_params
from .responses import JSONResponse, csv_stream
from .routing import Call, Endpoint
from .sql import Where

# A mark's file, joined: whether it still exists, its owner, and whether it was read after it was marked (a mark
# someone still uses should be reviewed before anything is deleted).
MARK_ROW = """SELECT m.backend_name, m.path, m.marked_by, m.marked_at, m.note, m.size_bytes, f.last_access, f.owner_team,
                     f.owner_user, (f.id IS NOT NULL AND f.deleted_at IS NULL) AS exists,
                     COALESCE(f.last_access > m.marked_at, FALSE) AS read_since_mark"""
MARK_COLUMNS = (
    "backend",
    "path",
    "size_bytes",
    "owner_team",
    "owner_user",
    "marked_by",
    "marked_at",
    "note",
    "last_access",
    "read_since_mark",
    "exists",
)
ORDER = "m.marked_at DESC, m.backend_name, m.path"
_FILE = "SELECT 1 FROM storage_files f WHERE f.backend_name = m.backend_name AND f.path = m.path"
READ_SINCE = "f.last_access > m.marked_at"


def _where(q: dict[str, Any]) -> Where:
    """The marks filter: backend, path prefix, owner (team or user) and read since marking; the last two are probes
    of the mark's file by its unique (backend, path)."""
    w = Where()
    if q["backend"]:
        w.add("m.backend_name = {0}", q["backend"])
    if q["prefix"]:
        w.prefix("m.path", q["prefix"])
    if q["owner"]:
        o = w.param(q["owner"])
        w.conds.append(f"EXISTS ({_FILE} AND (f.owner_team = {o} OR f.owner_user = {o}))")
    if q["read_since_mark"] is not None:
        w.conds.append(("" if q["read_since_mark"] else "NOT ") + f"EXISTS ({_FILE} AND {READ_SINCE})")
    return w


def _mark(r: Any) -> dict[str, Any]:
    return {
        "backend": r["backend_name"],
        "path": r["path"],
        "marked_by": r["marked_by"],
        "marked_at": r["marked_at"],
        "note": r["note"],
        "size_bytes": r["size_bytes"],
        "last_access": r["last_access"],
        "owner_team": r["owner_team"],
        "owner_user": r["owner_user"],
        "exists": r["exists"],
        "read_since_mark": r["read_since_mark"],
    }


async def list_marks(call: Call) -> JSONResponse:
    q = call.query
    w = _where(q)
    where, args = w.sql(), w.args
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            # The page of marks first, then its files: one index probe per row shown, not per mark.
            f"""{MARK_ROW}
                FROM (SELECT * FROM deletion_marks m WHERE {where} ORDER BY {ORDER}
                      LIMIT {w.next_param(1)} OFFSET {w.next_param(2)}) m
                LEFT JOIN storage_files f ON f.backend_name = m.backend_name AND f.path = m.path
                ORDER BY {ORDER}""",
            *args,
            q["limit"],
            q["offset"],
        )
        totals = await conn.fetchrow(
            f"""SELECT count(*) AS n, COALESCE(SUM(m.size_bytes), 0)::bigint AS bytes,
                       count(*) FILTER (WHERE EXISTS ({_FILE} AND {READ_SINCE})) AS read_since
                FROM deletion_marks m WHERE {where}""",
            *args,
        )
    return JSONResponse(
        {
            "items": [_mark(r) for r in rows],
            "total": totals["n"],
            "total_bytes": totals["bytes"],
            "read_since_mark": totals["read_since"],
            "limit": q["limit"],
            "offset": q["offset"],
        }
    )


async def export_marks(call: Call) -> Any:
    """Every mark of the filter as CSV, newest first, streamed."""
    w = _where(call.query)
    sql = f"""{MARK_ROW} FROM (SELECT * FROM deletion_marks m WHERE {w.sql()}) m
              LEFT JOIN storage_files f ON f.backend_name = m.backend_name AND f.path = m.path ORDER BY {ORDER}"""
    return csv_stream(call.db, sql, w.args, MARK_COLUMNS, _mark, f"marks-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv")


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
            backends,
            paths,
            call.principal.name,
            call.body["note"],
        )
    return JSONResponse({"marked": n})


async def unmark(call: Call) -> JSONResponse:
    backends, paths = _columns(call.body["files"])
    async with call.db.acquire() as conn:
        n = await conn.fetchval(
            """WITH d AS (
                   DELETE FROM deletion_marks m USING unnest($1::text[], $2::text[]) AS t(b, p)
                   WHERE m.backend_name = t.b AND m.path = t.p RETURNING 1)
               SELECT count(*) FROM d""",
            backends,
            paths,
        )
    return JSONResponse({"unmarked": n})


# Marking a whole stale filter at once ("select all N matching"): more than this is refused, narrow the filter.
MAX_FILTER_MARKS = 1_000_000


async def mark_stale(call: Call) -> JSONResponse:
    """Marks every file of a stale filter (GET /stale's filter) in one statement, under the same lock as ``mark``."""
    b = call.body
    async with call.db.acquire() as conn, conn.transaction():
        sel = await stale.select(conn, b, call.cfg)
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MARK_SIZES_LOCK)
        w = sel.where
        by, note, cap = w.next_param(1), w.next_param(2), w.next_param(3)
        row = await conn.fetchrow(
            f"""WITH up AS (
                    INSERT INTO deletion_marks (backend_name, path, marked_by, note, size_bytes)
                    SELECT backend_name, path, {by}, {note}, size_bytes
                    FROM ({sel.sql("backend_name, path, size_bytes")}) f LIMIT {cap}
                    ON CONFLICT (backend_name, path) DO UPDATE SET note = EXCLUDED.note, marked_by = EXCLUDED.marked_by,
                        marked_at = NOW(), size_bytes = EXCLUDED.size_bytes
                    RETURNING size_bytes)
                SELECT count(*) AS n, COALESCE(SUM(size_bytes), 0)::bigint AS bytes FROM up""",
            *w.args,
            call.principal.name,
            b["note"],
            MAX_FILTER_MARKS + 1,
        )
        if row["n"] > MAX_FILTER_MARKS:  # raising rolls the transaction back: nothing was marked
            raise BadParameter(
                f"the filter matches more than {MAX_FILTER_MARKS:,} files: narrow it (backend, owner, "
                "prefix, min_size) and mark in parts",
                param="days",
            )
        if row["n"] != b["expect"]:
            raise Conflict(
                f"the filter now matches {row['n']:,} files, not the {b['expect']:,} shown: nothing was "
                "marked; reload and try again"
            )
    return JSONResponse({"marked": row["n"], "total_bytes": row["bytes"]})


_MARK_FILTERS = (
    Backend("backend", "One backend, or all.", default="all", allow_all=True),
    PathText("prefix", "Path prefix inside the backend."),
    Name("owner", "Only files owned by this team or user."),
    Bool("read_since_mark", "true: only marks whose file was read after it was marked; false: only the others."),
)
_FILES = Files("files", "The files: [{backend, path}], 1 to 10000.", required=True)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/marks",
        list_marks,
        "Files marked for deletion",
        "marks",
        response="MarkList",
        query=(*_MARK_FILTERS, *page_params()),
    ),
    Endpoint(
        "GET",
        "/api/v1/marks/export",
        export_marks,
        "Every mark of a filter as CSV, streamed",
        "marks",
        media="text/csv",
        query=_MARK_FILTERS,
    ),
    Endpoint(
        "POST",
        "/api/v1/marks/stale",
        mark_stale,
        "Mark every file of a stale filter (never deletes)",
        "marks",
        response="MarkFilterResult",
        extra_statuses=(409,),
        body=(
            *stale.FILTERS,
            Text("note", "Why (shown to reviewers).", nullable=True),
            Int(
                "expect",
                "The number of files the caller saw and confirms: refused (409), marking nothing, when "
                "the filter now matches another number.",
                required=True,
                minimum=0,
                maximum=2**62,
            ),
        ),
    ),
    Endpoint(
        "POST",
        "/api/v1/marks",
        mark,
        "Mark files for deletion (never deletes)",
        "marks",
        response="MarkResult",
        body=(_FILES, Text("note", "Why (shown to reviewers).", nullable=True)),
    ),
    Endpoint("DELETE", "/api/v1/marks", unmark, "Unmark files", "marks", response="UnmarkResult", body=(_FILES,)),
)
