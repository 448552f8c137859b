"""GET /api/v1/growth: a daily series of bytes and files, for one backend or all, one team or all.

``growth_daily`` holds a row per (backend, team) for each day its totals changed; a day without a row
carries the previous day's totals. The series is filled forward per (backend, team) with an indexed
lookup of the latest row at or before each day, then summed, so the cost is days × series.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .params import Backend, Name, Period
from .responses import JSONResponse
from .routing import Call, Endpoint

SERIES_SQL = """
    WITH days AS (SELECT generate_series($1::date, $2::date, interval '1 day')::date AS d),
    series AS (
        SELECT DISTINCT backend_name, owner_team FROM growth_daily
        WHERE ($3::text IS NULL OR backend_name = $3) AND ($4::text IS NULL OR owner_team = $4)
    )
    SELECT days.d AS date,
           COALESCE(SUM(g.total_bytes), 0)::bigint AS total_bytes,
           COALESCE(SUM(g.file_count), 0)::bigint AS file_count,
           COALESCE(SUM(g.added_bytes) FILTER (WHERE g.date = days.d), 0)::bigint AS added_bytes,
           COALESCE(SUM(g.removed_bytes) FILTER (WHERE g.date = days.d), 0)::bigint AS removed_bytes
    FROM days CROSS JOIN series s
    LEFT JOIN LATERAL (
        SELECT date, total_bytes, file_count, added_bytes, removed_bytes FROM growth_daily g
        WHERE g.backend_name = s.backend_name AND g.owner_team = s.owner_team AND g.date <= days.d
        ORDER BY g.date DESC LIMIT 1
    ) g ON TRUE
    GROUP BY days.d ORDER BY days.d"""


async def growth(call: Call) -> JSONResponse:
    q = call.query
    team = None if q["team"] in (None, "all") else q["team"]
    today = datetime.now(UTC).date()
    start = today - timedelta(days=q["period"] - 1)
    async with call.db.acquire() as conn:
        rows = await conn.fetch(SERIES_SQL, start, today, q["backend"], team)
    by_day = {r["date"]: r for r in rows}
    points = []
    for i in range(q["period"]):
        d = start + timedelta(days=i)
        r = by_day.get(d)
        points.append({
            "date": d, "total_bytes": r["total_bytes"] if r else 0, "file_count": r["file_count"] if r else 0,
            "added_bytes": r["added_bytes"] if r else 0, "removed_bytes": r["removed_bytes"] if r else 0,
        })
    return JSONResponse({"backend": q["backend"] or "all", "team": team or "all", "period_days": q["period"], "points": points})


ENDPOINTS = (
    Endpoint(
        "GET", "/api/v1/growth", growth, "Daily totals over a period, by backend and team", "growth", response="Growth",
        query=(
            Backend("backend", "One backend, or all.", default="all", allow_all=True),
            Name("team", "One owning team, or all.", default="all"),
            Period("period", "How far back: 30d, 12w, 1y or days.", default="30d"),
        ),
    ),
)
