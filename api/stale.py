"""GET /api/v1/stale: live files neither read nor modified in N days (the rule: schemas/stale.py).

"Activity" is the later of the file's last access (kept on ``storage_files`` by the stream workers,
max over every reader) and its modification time, so a file written yesterday is never stale. The
WHERE clause is the expression of the partial index ``idx_files_stale``.

Reads have only been observed on a backend since its coverage began (telemetry, imported history,
atime: schemas/stale.py): "not read in 90 days" is only known where 90 days were observed. Every file and backend says whether that holds
(``coverage_ok``); ``covered_only=true`` keeps only those.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.responses import StreamingResponse

from warpdrive.schemas.stale import ACTIVITY_SQL, Coverage, load_coverage, note

from .params import Backend, Bool, Choice, Int, Name, PathText, Size, page_params
from .responses import JSONResponse, csv_response, csv_stream
from .routing import Call, Endpoint
from .sql import Where

ACTIVITY = ACTIVITY_SQL  # the rule of schemas/stale.py, as the partial index idx_files_stale has it

# Whitelisted ORDER BY fragments (never user text); (backend_name, path) makes pages stable. Paths sort
# byte-wise: the column is COLLATE "C", so the unique (backend_name, path) index serves that order.
# last_access and last_modified mean just that (never read = the oldest); activity is the later of the two,
# the key that decides staleness.
SORTS = {
    "size": ("size_bytes DESC, backend_name, path", "size_bytes ASC, backend_name, path"),
    "last_access": ("last_access DESC NULLS LAST, backend_name, path", "last_access ASC NULLS FIRST, backend_name, path"),
    "last_modified": ("last_modified DESC NULLS LAST, backend_name, path",
                      "last_modified ASC NULLS FIRST, backend_name, path"),
    "activity": (ACTIVITY + " DESC, backend_name, path", ACTIVITY + " ASC, backend_name, path"),
    "path": ("backend_name DESC, path DESC", "backend_name ASC, path ASC"),
}

# Counting stops at this many files first (cheap whatever the index size); past it, the exact count is tried within
# EXACT_BUDGET seconds, and only when that runs out are the totals lower bounds (total_exact=false).
COUNT_CAP = 10_000
EXACT_BUDGET = 0.8

COLUMNS = ("backend", "path", "size_bytes", "last_modified", "last_access", "owner_team", "owner_user", "marked", "coverage_ok")

def stale_where(q: dict[str, Any], threshold: datetime, covered: list[str] | None) -> tuple[Where, list[str]]:
    """The conditions every row meets, and the branches whose union is the answer: an owner is a team
    or a user, read as two disjoint index ranges (idx_files_team_size, idx_files_owner_user_size) in
    size order instead of one OR that no index serves."""
    w = Where("deleted_at IS NULL")
    w.add(ACTIVITY + " < {}", threshold)
    if q["min_size"]:
        w.add("size_bytes >= {}", q["min_size"])
    if q["backend"]:
        w.add("backend_name = {}", q["backend"])
    if q["prefix"]:
        w.prefix("path", q["prefix"])
    if covered is not None:
        w.add("backend_name = ANY({})", covered)
    if not q["owner"]:
        return w, ["TRUE"]
    o = w.param(q["owner"])
    return w, [f"owner_team = {o}", f"owner_user = {o} AND owner_team <> {o}"]


def union(w: Where, branches: list[str], columns: str, tail: str) -> str:
    return " UNION ALL ".join(
        f"(SELECT {columns} FROM storage_files WHERE {w.sql()} AND {b} {tail})" for b in branches)


class Selection:
    """One stale filter, resolved against the backends' read evidence (schemas/stale.py: telemetry, imported
    history, atime): what the list, the export and marking a whole filter (api/marks.py) all select."""

    def __init__(self, q: dict[str, Any], threshold: datetime, cov: dict[str, Coverage], backends: list[str]) -> None:
        self.threshold = threshold
        self.coverage = {b: {**(c := cov.get(b, Coverage())).as_dict(threshold), "note": note(c)} for b in backends}
        covered = [b for b, c in self.coverage.items() if c["covers_period"]] if q["covered_only"] else None
        self.where, self.branches = stale_where(q, threshold, covered)

    def sql(self, columns: str, tail: str = "") -> str:
        return union(self.where, self.branches, columns, tail)

    def covered(self, backend: str) -> bool:
        return bool(self.coverage.get(backend, {}).get("covers_period", False))


async def select(conn: Any, q: dict[str, Any], cfg: Any) -> Selection:
    threshold = datetime.now(UTC) - timedelta(days=q["days"])
    backends = [q["backend"]] if q["backend"] else [b.name for b in cfg.backends]
    return Selection(q, threshold, await load_coverage(conn, cfg.backends), backends)


async def totals(conn: Any, sel: Selection) -> tuple[int, int, bool]:
    """(files, bytes, exact): counted to COUNT_CAP at once; beyond it exactly if that takes under EXACT_BUDGET."""
    w = sel.where
    capped = await conn.fetchrow(
        f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0)::bigint AS bytes
            FROM (SELECT size_bytes FROM ({sel.sql("size_bytes", f"LIMIT {w.next_param()}")}) u
                  LIMIT {w.next_param()}) s""", *w.args, COUNT_CAP + 1)
    if capped["n"] <= COUNT_CAP:
        return capped["n"], capped["bytes"], True
    if EXACT_BUDGET <= 0:
        return COUNT_CAP, capped["bytes"], False
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL statement_timeout = {int(EXACT_BUDGET * 1000)}")
            full = await conn.fetchrow(
                f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0)::bigint AS bytes
                    FROM ({sel.sql("size_bytes")}) u""", *w.args)
        return full["n"], full["bytes"], True
    except asyncpg.QueryCanceledError:  # the budget ran out: say it is a bound
        return COUNT_CAP, capped["bytes"], False


ROW_COLUMNS = "backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user"
MARKED = "EXISTS (SELECT 1 FROM deletion_marks m WHERE m.backend_name = f.backend_name AND m.path = f.path) AS marked"


def _item(r: Any, sel: Selection) -> dict[str, Any]:
    return {
        "backend": r["backend_name"], "path": r["path"], "size_bytes": r["size_bytes"],
        "last_modified": r["last_modified"], "last_access": r["last_access"], "owner_team": r["owner_team"],
        "owner_user": r["owner_user"], "marked": r["marked"], "coverage_ok": sel.covered(r["backend_name"]),
    }


async def stale(call: Call) -> Any:
    q = call.query
    async with call.db.acquire() as conn:
        sel = await select(conn, q, call.cfg)
        w = sel.where
        order = SORTS[q["sort"]][q["order"] == "asc"]
        # Each branch stops at offset + limit rows in the page's order; the page is cut from their merge.
        rows = await conn.fetch(
            f"""SELECT {ROW_COLUMNS}, {MARKED}
                FROM ({sel.sql(ROW_COLUMNS, f"ORDER BY {order} LIMIT {w.next_param(1)}")}) f
                ORDER BY {order} LIMIT {w.next_param(2)} OFFSET {w.next_param(3)}""",
            *w.args, q["offset"] + q["limit"], q["limit"], q["offset"],
        )
        total, total_bytes, exact = await totals(conn, sel)
    items = [_item(r, sel) for r in rows]
    if call.wants_csv():
        return csv_response(COLUMNS, items, headers={"X-Total-Count": str(total) if exact else f"{total}+"})
    return JSONResponse({
        "days": q["days"], "threshold": sel.threshold, "items": items, "total": total, "total_exact": exact,
        "total_bytes": total_bytes, "limit": q["limit"], "offset": q["offset"], "coverage": sel.coverage,
    })


async def export(call: Call) -> StreamingResponse:
    """Every file of the filter as CSV in the list's order, streamed. The filter is resolved before the answer
    starts, so PostgreSQL being down is still a 503."""
    q = call.query
    async with call.db.acquire() as conn:
        sel = await select(conn, q, call.cfg)
    order = SORTS[q["sort"]][q["order"] == "asc"]
    return csv_stream(call.db, f"SELECT {ROW_COLUMNS}, {MARKED} FROM ({sel.sql(ROW_COLUMNS)}) f ORDER BY {order}",
                      sel.where.args, COLUMNS, lambda r: _item(r, sel),
                      f"stale-{q['days']}d-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv")


# The filter of a stale selection, shared by the list, the export and marking a whole filter (api/marks.py).
FILTERS = (
    Int("days", "Neither read nor modified for this many days.", default=90, minimum=0, maximum=36_500),
    Size("min_size", "Smallest file size (500TB, 1.5TiB, 10GiB, 1.5T or bytes).", default=0),
    Backend("backend", "One backend, or all.", default="all", allow_all=True),
    Name("owner", "Owning team or user."),
    PathText("prefix", "Path prefix inside the backend."),
    Bool("covered_only", "Only files on backends whose read evidence (telemetry, imported history, atime) covers the "
                         "whole period.", default=False),
)
_SORTING = (
    Choice("sort", "Sort key: size, last_access (never read first when ascending), last_modified, activity (the later "
           "of the two, which decides staleness) or path.", default="size", choices=tuple(SORTS)),
    Choice("order", "Sort order.", default="desc", choices=("asc", "desc")),
)

ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/stale", stale, "Files neither read nor modified in N days", "stale", response="StaleList", csv=True,
        query=(*FILTERS, *_SORTING, *page_params(),
               Choice("format", "json, or csv (also chosen by Accept: text/csv).", choices=("json", "csv"))),
    ),
    Endpoint(
        "GET", "/api/v1/stale/export", export, "Every file of a stale filter as CSV, streamed", "stale",
        media="text/csv", query=(*FILTERS, *_SORTING),
    ),
)
