"""GET /api/v1/usage: bytes and files by owning team, user or backend (each byte once), plus reads by user.

Owned usage comes from ``usage_rollup`` (kept current by the stream workers), so this is
O(teams × users × backends) whatever the size of the index. Grouped by user, each row also carries
that user's reads over the last ``period`` days from ``access_daily`` (the per-day reader rollup the stream workers write in the same
statement as ``access_log``): a user who only reads shows up with zero owned bytes.

The rows are paged and sorted like every other list (``limit``, ``offset``, ``sort``, ``order``), optionally
narrowed to one owning team or by a name ``search``; ``per_backend=false`` folds each owner's backends into one
row (the dashboard's users list). ``total`` and the byte, file and read totals cover every matching row, not the page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from warpdrive.schemas.owners import UNOWNED

from .params import Backend, Bool, Choice, Name, Period, Text, page_params
from .responses import JSONResponse
from .routing import Call, Endpoint

# $1 = backend or NULL, $2 = team or NULL, $3 = reads since (user only).
_OWNED = """
    SELECT {key} AS key, {backend} AS backend, SUM(file_count)::bigint AS file_count,
           SUM(total_bytes)::bigint AS total_bytes, MAX(last_access) AS last_access
    FROM usage_rollup WHERE ($1::text IS NULL OR backend_name = $1) AND ($2::text IS NULL OR owner_team = $2)
    GROUP BY 1, 2 HAVING SUM(file_count) <> 0 OR SUM(total_bytes) <> 0"""

# Reads by user and backend over the period: a range of access_daily's primary key (date first), so
# days × users × backends rows, never the per-file access log.
_READS = """
    SELECT user_id, backend_name AS backend, SUM(read_count)::bigint AS read_count,
           SUM(bytes_read)::bigint AS bytes_read, MAX(last_access) AS last_read
    FROM access_daily WHERE date > $3 AND ($1::text IS NULL OR backend_name = $1)
    GROUP BY user_id, backend_name"""

# The rows of each grouping before paging: the key is always ``key``, renamed on the way out.
ROWS_SQL = {
    "team": _OWNED.format(key="owner_team", backend="backend_name"),
    "backend": _OWNED.format(key="backend_name", backend="NULL::text"),
    # '' = no owning user, answered as 'unowned'; a reader who owns nothing gets zero owned figures
    # (within one team: only its owners, so a LEFT JOIN).
    "user": f"""SELECT COALESCE(NULLIF(o.key, ''), r.user_id, '{UNOWNED}') AS key, COALESCE(o.backend, r.backend) AS backend,
                       COALESCE(o.file_count, 0) AS file_count, COALESCE(o.total_bytes, 0) AS total_bytes,
                       o.last_access, COALESCE(r.read_count, 0) AS read_count, COALESCE(r.bytes_read, 0) AS bytes_read,
                       r.last_read
                FROM ({_OWNED.format(key="owner_user", backend="backend_name")}) o
                {{join}} JOIN ({_READS}) r ON r.user_id = NULLIF(o.key, '') AND r.backend = o.backend""",
}

# One row per owner over its backends (per_backend=false).
FOLD_SQL = """SELECT key, NULL::text AS backend, SUM(file_count)::bigint AS file_count,
                     SUM(total_bytes)::bigint AS total_bytes, MAX(last_access) AS last_access,
                     SUM(read_count)::bigint AS read_count, SUM(bytes_read)::bigint AS bytes_read,
                     MAX(last_read) AS last_read, array_agg(backend ORDER BY total_bytes DESC, backend) AS backends
              FROM rows GROUP BY key"""

# Whitelisted ORDER BY fragments (never user text); key and backend make pages stable.
SORTS = {
    "size": "total_bytes {o}, bytes_read {o}, key, backend",
    "files": "file_count {o}, total_bytes {o}, key, backend",
    "reads": "bytes_read {o}, read_count {o}, key, backend",
    "read_count": "read_count {o}, bytes_read {o}, key, backend",
    "last_access": "last_access {o} NULLS LAST, key, backend",
    "name": "key {o}, backend {o}",
}
READ_SORTS = ("reads", "read_count")


def usage_sql(group_by: str, per_backend: bool, team: bool, search: bool, sort: str, order: str) -> str:
    """The statement for one request's shape: the totals over every matching row, then the page's rows (empty
    when the page is past the end) — one statement, one snapshot."""
    reads = group_by == "user"
    rows = ROWS_SQL[group_by].replace("{join}", "LEFT" if team else "FULL")
    if not reads:  # the sort keys of reads exist on every grouping, as zeros where nobody reads
        rows = f"SELECT *, 0::bigint AS read_count, 0::bigint AS bytes_read, NULL::timestamptz AS last_read FROM ({rows}) o"
    shaped = "SELECT * FROM rows" if per_backend or group_by == "backend" else FOLD_SQL
    where = "strpos(lower(key), lower($4)) > 0" if search else "TRUE"
    order_by = SORTS[sort].format(o="DESC" if order == "desc" else "ASC")
    return f"""
        WITH args AS (SELECT $3::date AS since, $4::text AS search),  -- typed even where a shape leaves them unused
             rows AS ({rows}), shaped AS ({shaped}), matched AS (SELECT * FROM shaped WHERE {where}),
             totals AS (SELECT count(*) AS t_n, COALESCE(SUM(file_count), 0)::bigint AS t_files,
                               COALESCE(SUM(total_bytes), 0)::bigint AS t_bytes, COALESCE(SUM(read_count), 0)::bigint AS t_reads,
                               COALESCE(SUM(bytes_read), 0)::bigint AS t_bytes_read FROM matched)
        SELECT t.*, p.* FROM totals t
        LEFT JOIN LATERAL (SELECT * FROM matched ORDER BY {order_by} LIMIT $5 OFFSET $6) p ON TRUE"""


def _item(r: Any, group_by: str, per_backend: bool) -> dict[str, Any]:
    item: dict[str, Any] = {group_by: r["key"]}
    if group_by != "backend":
        if per_backend:
            item["backend"] = r["backend"]
        else:
            item["backends"] = list(r["backends"])
    item.update(file_count=r["file_count"], total_bytes=r["total_bytes"], last_access=r["last_access"])
    if group_by == "user":
        item.update(read_count=r["read_count"], bytes_read=r["bytes_read"], last_read=r["last_read"])
    return item


async def usage(call: Call) -> JSONResponse:
    q = call.query
    group_by: str = q["group_by"]
    backend: str | None = q["backend"]
    per_backend: bool = q["per_backend"]
    since = datetime.now(UTC).date() - timedelta(days=q["period"])
    sql = usage_sql(group_by, per_backend, q["team"] is not None, bool(q["search"]), q["sort"], q["order"])
    async with call.db.acquire() as conn:
        rows = await conn.fetch(sql, backend, q["team"], since, q["search"] or "", q["limit"], q["offset"])
    head = rows[0]
    items = [_item(r, group_by, per_backend) for r in rows if r["key"] is not None]
    body: dict[str, Any] = {
        "group_by": group_by,
        "backend": backend or "all",
        "team": q["team"] or "all",
        "per_backend": per_backend,
        "items": items,
        "total": head["t_n"],
        "total_bytes": head["t_bytes"],
        "file_count": head["t_files"],
        "limit": q["limit"],
        "offset": q["offset"],
    }
    if group_by == "user":
        body["period_days"] = q["period"]
        body["read_count"] = head["t_reads"]
        body["bytes_read"] = head["t_bytes_read"]
    return JSONResponse(body)


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/usage",
        usage,
        "Bytes and files by owner (each byte once); reads by user",
        "usage",
        response="Usage",
        query=(
            Choice(
                "group_by",
                "Group by owning team, owning user, or backend.",
                default="team",
                choices=("team", "user", "backend"),
            ),
            Backend("backend", "One backend, or all.", default="all", allow_all=True),
            Period("period", "group_by=user: reads over this many last days (30d, 12w, 1y, days).", default="30d"),
            Name("team", "Only files owned by this team (group_by=user: the team's owners and their reads)."),
            Text("search", "Only owners (or backends) whose name contains this text, ignoring case.", max_length=128),
            Bool(
                "per_backend",
                "One row per owner and backend (true), or per owner over every backend (false).",
                default=True,
            ),
            Choice(
                "sort",
                "Sort key: size, files, reads (bytes read), read_count, last_access or name.",
                default="size",
                choices=tuple(SORTS),
            ),
            Choice("order", "Sort order.", default="desc", choices=("asc", "desc")),
            *page_params(),
        ),
    ),
)
