"""GET /api/v1/stale: live files neither read nor modified in N days (the rule: schemas/stale.py).

"Activity" is the later of the file's last access (kept on ``storage_files`` by the stream workers,
max over every reader) and its modification time, so a file written yesterday is never stale. The
WHERE clause is the expression of the partial index ``idx_files_stale``.

The totals are exact wherever a weekly activity rollup, kept by the workers in the same transaction as the files,
holds exactly the filter's files: the tree's (``tree_inactive``: a backend or all, a directory prefix ending in "/")
or the owners' (``owner_inactive``: an owner, team or user, on a backend or all, no prefix); no size filter. The
rollup gives every whole week before the cutoff, and only the cutoff's own week is counted file by file (the
boundary rule, schemas/stale.py ``cutoff_week``). The two are read in one snapshot, so the answer is what a full
count would say. Other filters are counted within a budget and, past it, said to be a bound.

Reads have only been observed on a backend since its coverage began (telemetry, imported history,
atime: schemas/stale.py): "not read in 90 days" is only known where 90 days were observed. Every file and backend says whether that holds
(``coverage_ok``); ``covered_only=true`` keeps only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.responses import StreamingResponse

from warpdrive.schemas.stale import ACTIVITY_SQL, Coverage, cutoff_week, load_coverage, note

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
    "last_access": (
        "last_access DESC NULLS LAST, backend_name, path",
        "last_access ASC NULLS FIRST, backend_name, path",
    ),
    "last_modified": (
        "last_modified DESC NULLS LAST, backend_name, path",
        "last_modified ASC NULLS FIRST, backend_name, path",
    ),
    "activity": (ACTIVITY + " DESC, backend_name, path", ACTIVITY + " ASC, backend_name, path"),
    "path": ("backend_name DESC, path DESC", "backend_name ASC, path ASC"),
}

# Filters the rollups cannot serve (owner, size, a prefix that is not a directory): counting stops at this many files
# first (cheap whatever the index size); past it, the exact count is tried within EXACT_BUDGET seconds, and only when
# that runs out are the totals lower bounds (total_exact=false, total_basis=bound).
COUNT_CAP = 10_000
EXACT_BUDGET = 0.8

COLUMNS = (
    "backend",
    "path",
    "size_bytes",
    "last_modified",
    "last_access",
    "owner_team",
    "owner_user",
    "marked",
    "coverage_ok",
)


def stale_where(
    q: dict[str, Any], threshold: datetime, covered: list[str] | None, since: datetime | None = None
) -> tuple[Where, list[str]]:
    """The conditions every row meets, and the branches whose union is the answer: an owner is a team
    or a user, read as two disjoint index ranges (idx_files_team_size, idx_files_owner_user_size) in
    size order instead of one OR that no index serves. ``since``: only activity from then on (a window of
    the totals' boundary week)."""
    w = Where("deleted_at IS NULL")
    w.add(ACTIVITY + " < {}", threshold)
    if since is not None:
        w.add(ACTIVITY + " >= {}", since)
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
    return " UNION ALL ".join(f"(SELECT {columns} FROM storage_files WHERE {w.sql()} AND {b} {tail})" for b in branches)


class Selection:
    """One stale filter, resolved against the backends' read evidence (schemas/stale.py: telemetry, imported
    history, atime): what the list, the export and marking a whole filter (api/marks.py) all select."""

    def __init__(self, q: dict[str, Any], threshold: datetime, cov: dict[str, Coverage], backends: list[str]) -> None:
        self.q, self.threshold = q, threshold
        self.coverage = {b: {**(c := cov.get(b, Coverage())).as_dict(threshold), "note": note(c)} for b in backends}
        self.covered_backends = (
            [b for b, c in self.coverage.items() if c["covers_period"]] if q["covered_only"] else None
        )
        self.where, self.branches = stale_where(q, threshold, self.covered_backends)

    def sql(self, columns: str, tail: str = "") -> str:
        return union(self.where, self.branches, columns, tail)

    def covered(self, backend: str) -> bool:
        return bool(self.coverage.get(backend, {}).get("covers_period", False))


async def select(conn: Any, q: dict[str, Any], cfg: Any) -> Selection:
    threshold = datetime.now(UTC) - timedelta(days=q["days"])
    backends = [q["backend"]] if q["backend"] else [b.name for b in cfg.backends]
    return Selection(q, threshold, await load_coverage(conn, cfg.backends), backends)


@dataclass(frozen=True)
class Scope:
    """Where a filter's exact totals come from: the rows of a weekly activity rollup that hold exactly its files
    (``rows``: a condition over ``table`` on its one parameter ``$1`` = ``arg``), and the filter whose files the
    cutoff's week is counted from (``q``: the same files in storage_files)."""

    table: str
    rows: str
    arg: str
    backends: list[str] | None  # None: every backend
    q: dict[str, Any]


def rollup_scope(sel: Selection, depths: dict[str, int]) -> Scope | None:
    """The rollup holding this filter's files exactly, or None. No size filter, and either an owner (team or user,
    ``owner_inactive``) with no prefix, or no owner and a prefix that is a whole directory ("a/b/") the tree keeps
    (``tree_inactive``; within max_tree_depth, where a file deeper down counts in its ancestor at the cut)."""
    q = sel.q
    if q["min_size"]:
        return None
    backends = sel.covered_backends if sel.covered_backends is not None else [q["backend"]] if q["backend"] else None
    edge = {**q, "backend": None}
    if q["owner"]:
        if q["prefix"]:
            return None  # the owner rollup has no directories
        # An owner is its team or its user, as in stale_where: the files of team X, and X's files in other teams.
        return Scope("owner_inactive", "(owner_team = $1 OR owner_user = $1)", q["owner"], backends, edge)
    prefix = q["prefix"] or ""
    if prefix and (not prefix.endswith("/") or prefix.startswith("/") or "//" in prefix):
        return None
    d = prefix[:-1]
    level = d.count("/") + 1 if d else 0
    if any(0 < depths.get(b, 0) < level for b in (backends if backends is not None else depths)):
        return None
    return Scope("tree_inactive", "dir = $1", d, backends, {**edge, "prefix": prefix or None})


async def rollup_totals(conn: Any, sel: Selection, scope: Scope) -> dict[str, Any]:
    """Exact totals from the activity week buckets by the boundary rule (schemas/stale.py ``cutoff_week``): whole
    weeks from the rollup, the cutoff's week file by file, in one snapshot with the rollup."""
    cut = cutoff_week(sel.threshold)
    only = "" if scope.backends is None else "AND backend_name = ANY($3)"
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        r = await conn.fetchrow(
            f"""SELECT COALESCE(sum(file_count) FILTER (WHERE period {cut.weeks_sql} $2), 0)::bigint AS n,
                       COALESCE(sum(total_bytes) FILTER (WHERE period {cut.weeks_sql} $2), 0)::bigint AS bytes,
                       COALESCE(sum(file_count), 0)::bigint AS scope_n, COALESCE(sum(total_bytes), 0)::bigint AS scope_bytes
                FROM {scope.table} WHERE {scope.rows} {only}""",
            scope.arg,
            cut.week,
            *(() if scope.backends is None else (scope.backends,)),
        )
        w, branches = stale_where(scope.q, cut.until, scope.backends, since=cut.since)
        edge = await conn.fetchrow(
            f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0)::bigint AS bytes
                FROM ({union(w, branches, "size_bytes", "")}) u""",
            *w.args,
        )
    return {
        "total": r["n"] + cut.sign * edge["n"],
        "total_bytes": r["bytes"] + cut.sign * edge["bytes"],
        "total_exact": True,
        "total_basis": "rollup",
        "scope_files": r["scope_n"],
        "scope_bytes": r["scope_bytes"],
    }


async def totals(conn: Any, sel: Selection, depths: dict[str, int]) -> dict[str, Any]:
    """total, total_bytes, total_exact and how they were found (total_basis): from the rollups where they serve the
    filter (with scope_files/scope_bytes, every live file of the filter's scope, for the share); else counted to
    COUNT_CAP at once, beyond it exactly if that takes under EXACT_BUDGET, else a bound."""
    scope = rollup_scope(sel, depths)
    if scope is not None:
        found = await rollup_totals(conn, sel, scope)
        # Rollups out of step with storage_files (files written without the workers, e.g. by hand) can give a
        # total outside [0, scope]: never show that; count instead.
        if 0 <= found["total"] <= found["scope_files"] and 0 <= found["total_bytes"] <= found["scope_bytes"]:
            return found
    w = sel.where
    capped = await conn.fetchrow(
        f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0)::bigint AS bytes
            FROM (SELECT size_bytes FROM ({sel.sql("size_bytes", f"LIMIT {w.next_param()}")}) u
                  LIMIT {w.next_param()}) s""",
        *w.args,
        COUNT_CAP + 1,
    )
    counted = {"total_exact": True, "total_basis": "count", "scope_files": None, "scope_bytes": None}
    if capped["n"] <= COUNT_CAP:
        return {**counted, "total": capped["n"], "total_bytes": capped["bytes"]}
    bound = {
        **counted,
        "total": COUNT_CAP,
        "total_bytes": capped["bytes"],
        "total_exact": False,
        "total_basis": "bound",
    }
    if EXACT_BUDGET <= 0:
        return bound
    try:
        async with conn.transaction():
            await conn.execute(f"SET LOCAL statement_timeout = {int(EXACT_BUDGET * 1000)}")
            full = await conn.fetchrow(
                f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0)::bigint AS bytes
                    FROM ({sel.sql("size_bytes")}) u""",
                *w.args,
            )
        return {**counted, "total": full["n"], "total_bytes": full["bytes"]}
    except asyncpg.QueryCanceledError:  # the budget ran out: say it is a bound
        return bound


ROW_COLUMNS = "backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user"
MARKED = "EXISTS (SELECT 1 FROM deletion_marks m WHERE m.backend_name = f.backend_name AND m.path = f.path) AS marked"


def _item(r: Any, sel: Selection) -> dict[str, Any]:
    return {
        "backend": r["backend_name"],
        "path": r["path"],
        "size_bytes": r["size_bytes"],
        "last_modified": r["last_modified"],
        "last_access": r["last_access"],
        "owner_team": r["owner_team"],
        "owner_user": r["owner_user"],
        "marked": r["marked"],
        "coverage_ok": sel.covered(r["backend_name"]),
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
            *w.args,
            q["offset"] + q["limit"],
            q["limit"],
            q["offset"],
        )
        t = await totals(conn, sel, {b.name: b.max_tree_depth for b in call.cfg.backends})
    items = [_item(r, sel) for r in rows]
    if call.wants_csv():
        return csv_response(
            COLUMNS, items, headers={"X-Total-Count": str(t["total"]) if t["total_exact"] else f"{t['total']}+"}
        )
    return JSONResponse(
        {
            "days": q["days"],
            "threshold": sel.threshold,
            "items": items,
            **t,
            "limit": q["limit"],
            "offset": q["offset"],
            "coverage": sel.coverage,
        }
    )


async def export(call: Call) -> StreamingResponse:
    """Every file of the filter as CSV in the list's order, streamed. The filter is resolved before the answer
    starts, so PostgreSQL being down is still a 503."""
    q = call.query
    async with call.db.acquire() as conn:
        sel = await select(conn, q, call.cfg)
    order = SORTS[q["sort"]][q["order"] == "asc"]
    return csv_stream(
        call.db,
        f"SELECT {ROW_COLUMNS}, {MARKED} FROM ({sel.sql(ROW_COLUMNS)}) f ORDER BY {order}",
        sel.where.args,
        COLUMNS,
        lambda r: _item(r, sel),
        f"stale-{q['days']}d-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.csv",
    )


# The filter of a stale selection, shared by the list, the export and marking a whole filter (api/marks.py).
FILTERS = (
    Int("days", "Neither read nor modified for this many days.", default=90, minimum=0, maximum=36_500),
    Size("min_size", "Smallest file size (500TB, 1.5TiB, 10GiB, 1.5T or bytes).", default=0),
    Backend("backend", "One backend, or all.", default="all", allow_all=True),
    Name("owner", "Owning team or user."),
    PathText("prefix", "Path prefix inside the backend."),
    Bool(
        "covered_only",
        "Only files on backends whose read evidence (telemetry, imported history, atime) covers the whole period.",
        default=False,
    ),
)
_SORTING = (
    Choice(
        "sort",
        "Sort key: size, last_access (never read first when ascending), last_modified, activity (the later "
        "of the two, which decides staleness) or path.",
        default="size",
        choices=tuple(SORTS),
    ),
    Choice("order", "Sort order.", default="desc", choices=("asc", "desc")),
)

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/stale",
        stale,
        "Files neither read nor modified in N days",
        "stale",
        response="StaleList",
        csv=True,
        query=(
            *FILTERS,
            *_SORTING,
            *page_params(),
            Choice("format", "json, or csv (also chosen by Accept: text/csv).", choices=("json", "csv")),
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/stale/export",
        export,
        "Every file of a stale filter as CSV, streamed",
        "stale",
        media="text/csv",
        query=(*FILTERS, *_SORTING),
    ),
)
