"""GET /api/v1/growth: a daily series of bytes and files, for one backend or all, one team or all.

``growth_daily`` holds a row per (backend, team) for each day its totals changed; a day without a row
carries the previous day's totals. One statement reads, per (backend, team) series (found by a skip
scan of the primary key, one probe each), the last row before the period and the rows inside it; the
series are then filled forward and summed here, so the cost is series × changed days, never a probe per
series and day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from .params import Backend, Name, Period
from .responses import JSONResponse
from .routing import Call, Endpoint

# {filter} is built from constant fragments (only the filters given), so the probes use the primary key.
SERIES_SQL = """
    WITH RECURSIVE series AS (
        (SELECT backend_name, owner_team FROM growth_daily WHERE TRUE {filter}
         ORDER BY backend_name, owner_team LIMIT 1)
        UNION ALL
        SELECT n.backend_name, n.owner_team FROM series s CROSS JOIN LATERAL (
            SELECT backend_name, owner_team FROM growth_daily g
            WHERE (g.backend_name, g.owner_team) > (s.backend_name, s.owner_team) {filter}
            ORDER BY backend_name, owner_team LIMIT 1) n
    )
    SELECT s.backend_name, s.owner_team, g.date, g.total_bytes, g.file_count, g.added_bytes, g.removed_bytes
    FROM series s CROSS JOIN LATERAL (
        (SELECT date, total_bytes, file_count, added_bytes, removed_bytes FROM growth_daily g
         WHERE g.backend_name = s.backend_name AND g.owner_team = s.owner_team AND g.date < $1
         ORDER BY g.date DESC LIMIT 1)
        UNION ALL
        SELECT date, total_bytes, file_count, added_bytes, removed_bytes FROM growth_daily g
        WHERE g.backend_name = s.backend_name AND g.owner_team = s.owner_team AND g.date BETWEEN $1 AND $2
    ) g
    ORDER BY s.backend_name, s.owner_team, g.date"""


def fill_forward(rows: list[Any], start: date, days: int) -> list[dict[str, Any]]:
    """Sums the series day by day, each carrying its last known totals (rows ordered per series by date)."""
    total, files, added, removed = [0] * days, [0] * days, [0] * days, [0] * days

    def carry(cur: Any, lo: int, hi: int) -> None:
        if cur is not None:
            for i in range(max(lo, 0), hi):
                total[i] += cur["total_bytes"]
                files[i] += cur["file_count"]

    cur, pos, series = None, 0, None
    for r in rows:
        if (r["backend_name"], r["owner_team"]) != series:
            carry(cur, pos, days)
            cur, pos, series = None, 0, (r["backend_name"], r["owner_team"])
        i = (r["date"] - start).days
        if i >= 0:
            added[i] += r["added_bytes"]
            removed[i] += r["removed_bytes"]
        carry(cur, pos, i)
        cur, pos = r, max(i, 0)
    carry(cur, pos, days)
    return [
        {
            "date": start + timedelta(days=i),
            "total_bytes": total[i],
            "file_count": files[i],
            "added_bytes": added[i],
            "removed_bytes": removed[i],
        }
        for i in range(days)
    ]


# Growth reconstructed from modification times at each backend's first crawl (streams/reconstruct.py).
RECONSTRUCTED_SQL = """
    SELECT r.backend_name, r.owner_team, r.date, r.added_bytes, r.added_files, a.boundary
    FROM growth_reconstructed r JOIN growth_reconstructed_at a USING (backend_name)
    WHERE r.date <= a.boundary {filter}
    ORDER BY 1, 2, 3"""


def with_reconstruction(rows: list[Any], recon: list[Any]) -> tuple[list[dict[str, Any]], date | None]:
    """The measured rows with, per series, the reconstructed days before its backend's first crawl (cumulative
    totals from modification times) in front; on the first crawl's day, bytes added are those modified that
    day (the rest was found, not added). Returns the rows and the latest boundary (None: no reconstruction)."""
    bounds = {r["backend_name"]: r["boundary"] for r in recon}
    added_on = {(r["backend_name"], r["owner_team"], r["date"]): r["added_bytes"] for r in recon}
    out = []
    for r in rows:
        d = dict(r)
        if bounds.get(d["backend_name"]) == d["date"]:
            d["added_bytes"] = added_on.get((d["backend_name"], d["owner_team"], d["date"]), 0)
        out.append(d)
    cum: dict[tuple[str, str], list[int]] = {}
    for r in recon:  # ordered by series and date
        c = cum.setdefault((r["backend_name"], r["owner_team"]), [0, 0])
        c[0] += r["added_bytes"]
        c[1] += r["added_files"]
        if r["date"] < r["boundary"]:
            out.append(
                {
                    "backend_name": r["backend_name"],
                    "owner_team": r["owner_team"],
                    "date": r["date"],
                    "total_bytes": c[0],
                    "file_count": c[1],
                    "added_bytes": r["added_bytes"],
                    "removed_bytes": 0,
                }
            )
    out.sort(key=lambda r: (r["backend_name"], r["owner_team"], r["date"]))
    return out, max(bounds.values(), default=None)


def filters(q: dict[str, Any], team: str | None, first: int, alias: str = "") -> tuple[str, list[Any]]:
    """The backend/team conditions (constant fragments, numbered from ``first``) and their arguments."""
    conds, args = "", []
    for column, value in (("backend_name", q["backend"]), ("owner_team", team)):
        if value is not None:
            args.append(value)
            conds += f" AND {alias}{column} = ${first + len(args) - 1}"
    return conds, args


async def growth(call: Call) -> JSONResponse:
    q = call.query
    team = None if q["team"] in (None, "all") else q["team"]
    today = datetime.now(UTC).date()
    start = today - timedelta(days=q["period"] - 1)
    conds, fargs = filters(q, team, 3)
    async with call.db.acquire() as conn:
        rows = await conn.fetch(SERIES_SQL.format(filter=conds), start, today, *fargs)
        rconds, rargs = filters(q, team, 1, "r.")
        recon = await conn.fetch(RECONSTRUCTED_SQL.format(filter=rconds), *rargs)
    merged, boundary = with_reconstruction(rows, recon)
    points = fill_forward(merged, start, q["period"])
    for p in points:
        p["reconstructed"] = boundary is not None and p["date"] < boundary
    # reconstructed_until: the first crawl's day (the latest, over the backends summed): before it, totals come
    # from modification times — a lower bound, since files deleted before that crawl are unknown.
    return JSONResponse(
        {
            "backend": q["backend"] or "all",
            "team": team or "all",
            "period_days": q["period"],
            "reconstructed_until": boundary,
            "points": points,
        }
    )


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/growth",
        growth,
        "Daily totals over a period, by backend and team",
        "growth",
        response="Growth",
        query=(
            Backend("backend", "One backend, or all.", default="all", allow_all=True),
            Name("team", "One owning team, or all.", default="all"),
            Period("period", "How far back: 30d, 12w, 1y or days.", default="30d"),
        ),
    ),
)
