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

from warpdrive.schemas.stale import ACTIVITY_SQL, Coverage, load_coverage, note

from .params import Backend, Bool, Choice, Int, Name, PathText, Size, page_params
from .responses import JSONResponse, csv_response
from .routing import Call, Endpoint
from .sql import Where

ACTIVITY = ACTIVITY_SQL  # the rule of schemas/stale.py, as the partial index idx_files_stale has it

# Whitelisted ORDER BY fragments (never user text); (backend_name, path) makes pages stable. Paths sort
# byte-wise: the column is COLLATE "C", so the unique (backend_name, path) index serves that order.
SORTS = {
    "size": ("size_bytes DESC, backend_name, path", "size_bytes ASC, backend_name, path"),
    "last_access": (ACTIVITY + " DESC, backend_name, path", ACTIVITY + " ASC, backend_name, path"),
    "path": ("backend_name DESC, path DESC", "backend_name ASC, path ASC"),
}

# Counting every stale file of a 10M-file index costs seconds; past this many the totals are lower bounds.
COUNT_CAP = 10_000

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


async def stale(call: Call) -> Any:
    q = call.query
    threshold = datetime.now(UTC) - timedelta(days=q["days"])
    async with call.db.acquire() as conn:
        cov = await load_coverage(conn, call.cfg.backends)
        backends = [q["backend"]] if q["backend"] else [b.name for b in call.cfg.backends]
        cov_out = {b: {**(c := cov.get(b, Coverage())).as_dict(threshold), "note": note(c)} for b in backends}
        covered = [b for b, c in cov_out.items() if c["covers_period"]] if q["covered_only"] else None
        w, branches = stale_where(q, threshold, covered)
        order = SORTS[q["sort"]][q["order"] == "asc"]
        # Each branch stops at offset + limit rows in the page's order; the page is cut from their merge.
        rows = await conn.fetch(
            f"""SELECT backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user,
                       EXISTS (SELECT 1 FROM deletion_marks m WHERE m.backend_name = f.backend_name AND m.path = f.path) AS marked
                FROM ({union(w, branches, "backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user",
                             f"ORDER BY {order} LIMIT {w.next_param(1)}")}) f
                ORDER BY {order} LIMIT {w.next_param(2)} OFFSET {w.next_param(3)}""",
            *w.args, q["offset"] + q["limit"], q["limit"], q["offset"],
        )
        totals = await conn.fetchrow(
            f"""SELECT count(*) AS n, COALESCE(sum(size_bytes), 0)::bigint AS bytes
                FROM (SELECT size_bytes FROM ({union(w, branches, "size_bytes", f"LIMIT {w.next_param()}")}) u
                      LIMIT {w.next_param()}) s""", *w.args, COUNT_CAP + 1)
    exact = totals["n"] <= COUNT_CAP
    items = [
        {
            "backend": r["backend_name"], "path": r["path"], "size_bytes": r["size_bytes"],
            "last_modified": r["last_modified"], "last_access": r["last_access"], "owner_team": r["owner_team"],
            "owner_user": r["owner_user"], "marked": r["marked"],
            "coverage_ok": cov_out.get(r["backend_name"], {}).get("covers_period", False),
        }
        for r in rows
    ]
    total = min(totals["n"], COUNT_CAP)
    if call.wants_csv():
        return csv_response(COLUMNS, items, headers={"X-Total-Count": str(total) if exact else f"{total}+"})
    return JSONResponse({
        "days": q["days"], "threshold": threshold, "items": items, "total": total, "total_exact": exact,
        "total_bytes": totals["bytes"], "limit": q["limit"], "offset": q["offset"], "coverage": cov_out,
    })


ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/stale", stale, "Files neither read nor modified in N days", "stale", response="StaleList", csv=True,
        query=(
            Int("days", "Neither read nor modified for this many days.", default=90, minimum=0, maximum=36_500),
            Size("min_size", "Smallest file size (500TB, 1.5TiB, 10GiB, 1.5T or bytes).", default=0),
            Backend("backend", "One backend, or all.", default="all", allow_all=True),
            Name("owner", "Owning team or user."),
            PathText("prefix", "Path prefix inside the backend."),
            Bool("covered_only", "Only files on backends whose telemetry covers the whole period.", default=False),
            Choice("sort", "Sort key; last_access = the later of last access and modification.", default="size",
                   choices=tuple(SORTS)),
            Choice("order", "Sort order.", default="desc", choices=("asc", "desc")),
            *page_params(),
            Choice("format", "json, or csv (also chosen by Accept: text/csv).", choices=("json", "csv")),
        ),
    ),
)
