"""GET /api/v1/usage: bytes and files by owning team, user or backend (each byte once), plus reads by user.

Owned usage comes from ``usage_rollup`` (kept current by the stream workers), so this is
O(teams × users × backends) whatever the size of the index. Grouped by user, each row also carries
that user's reads over the last ``period`` days from ``access_daily`` (the per-day reader rollup the stream workers write in the same
statement as ``access_log``): a user who only reads shows up with zero owned bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .params import Backend, Choice, Period
from .responses import JSONResponse
from .routing import Call, Endpoint

UNOWNED = "unowned"

# One statement per grouping, returning the items exactly as answered (ordered, merged, keys named), so
# the handler only turns records into dicts. Only ``$1`` (backend or NULL) and ``$2`` (reads since) vary.
_OWNED = """
    SELECT {key} AS key, {backend} AS backend, SUM(file_count)::bigint AS file_count,
           SUM(total_bytes)::bigint AS total_bytes, MAX(last_access) AS last_access
    FROM usage_rollup WHERE ($1::text IS NULL OR backend_name = $1)
    GROUP BY 1, 2 HAVING SUM(file_count) <> 0 OR SUM(total_bytes) <> 0"""

# Reads by user and backend over the period: a range of access_daily's primary key (date first), so
# days × users × backends rows, never the per-file access log.
_READS = """
    SELECT user_id, backend_name AS backend, SUM(read_count)::bigint AS read_count,
           SUM(bytes_read)::bigint AS bytes_read, MAX(last_access) AS last_read
    FROM access_daily WHERE date > $2 AND ($1::text IS NULL OR backend_name = $1)
    GROUP BY user_id, backend_name"""

USAGE_SQL = {
    "team": f"""SELECT key AS team, backend, file_count, total_bytes, last_access
                FROM ({_OWNED.format(key="owner_team", backend="backend_name")}) o
                ORDER BY total_bytes DESC, team, backend""",
    "backend": f"""SELECT key AS backend, file_count, total_bytes, last_access
                   FROM ({_OWNED.format(key="backend_name", backend="NULL::text")}) o
                   ORDER BY total_bytes DESC, key""",
    # '' = no owning user, answered as 'unowned'; a reader who owns nothing gets zero owned figures.
    "user": f"""SELECT COALESCE(NULLIF(o.key, ''), r.user_id, '{UNOWNED}') AS user, COALESCE(o.backend, r.backend) AS backend,
                       COALESCE(o.file_count, 0) AS file_count, COALESCE(o.total_bytes, 0) AS total_bytes,
                       o.last_access, COALESCE(r.read_count, 0) AS read_count, COALESCE(r.bytes_read, 0) AS bytes_read,
                       r.last_read
                FROM ({_OWNED.format(key="owner_user", backend="backend_name")}) o
                FULL JOIN ({_READS}) r ON r.user_id = NULLIF(o.key, '') AND r.backend = o.backend
                ORDER BY total_bytes DESC, bytes_read DESC, 1, 2""",
}


async def usage(call: Call) -> JSONResponse:
    group_by: str = call.query["group_by"]
    backend: str | None = call.query["backend"]
    since = datetime.now(UTC).date() - timedelta(days=call.query["period"])
    async with call.db.acquire() as conn:
        rows = await conn.fetch(USAGE_SQL[group_by], backend, *((since,) if group_by == "user" else ()))
    items = [dict(r) for r in rows]
    body: dict[str, Any] = {
        "group_by": group_by,
        "backend": backend or "all",
        "items": items,
        "total_bytes": sum(x["total_bytes"] for x in items),
        "file_count": sum(x["file_count"] for x in items),
    }
    if group_by == "user":
        body["period_days"] = call.query["period"]
        body["read_count"] = sum(x["read_count"] for x in items)
        body["bytes_read"] = sum(x["bytes_read"] for x in items)
    return JSONResponse(body)


ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/usage", usage, "Bytes and files by owner (each byte once); reads by user", "usage",
        response="Usage",
        query=(
            Choice("group_by", "Group by owning team, owning user, or backend.", default="team", choices=("team", "user", "backend")),
            Backend("backend", "One backend, or all.", default="all", allow_all=True),
            Period("period", "group_by=user: reads over this many last days (30d, 12w, 1y, days).", default="30d"),
        ),
    ),
)
