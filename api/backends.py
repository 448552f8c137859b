"""GET /api/v1/backends: each configured backend with its files, bytes, last crawl and telemetry coverage."""

from __future__ import annotations

from warpdrive.schemas.stale import load_coverage, note

from .responses import JSONResponse
from .routing import Call, Endpoint


async def list_backends(call: Call) -> JSONResponse:
    async with call.db.acquire() as conn:
        usage = {
            r["backend_name"]: r
            for r in await conn.fetch(
                """SELECT backend_name, SUM(file_count)::bigint AS file_count, SUM(total_bytes)::bigint AS total_bytes,
                      MAX(last_access) AS last_access
               FROM usage_rollup GROUP BY backend_name"""
            )
        }
        crawls = {
            r["backend_name"]: r
            for r in await conn.fetch(
                """SELECT DISTINCT ON (backend_name) backend_name, crawl_id, prefix, started_at, finished_at, status,
                      files, bytes, errors
               FROM crawls ORDER BY backend_name, started_at DESC"""
            )
        }
        coverage = await load_coverage(conn, call.cfg.backends)
    items = []
    for b in call.cfg.backends:
        u, c, cov = usage.get(b.name), crawls.get(b.name), coverage[b.name]
        items.append(
            {
                "name": b.name,
                "url": b.url,
                "scheme": b.scheme,
                "max_tree_depth": b.max_tree_depth,
                "file_count": u["file_count"] if u else 0,
                "total_bytes": u["total_bytes"] if u else 0,
                "last_access": u["last_access"] if u else None,
                "last_crawl": {
                    k: c[k]
                    for k in ("crawl_id", "prefix", "started_at", "finished_at", "status", "files", "bytes", "errors")
                }
                if c
                else None,
                # Covered since (read evidence continuous up to now) and where that comes from (schemas/stale.py).
                "coverage_since": cov.as_dict()["since"],
                "last_event": cov.telemetry_until,
                "coverage": {**cov.as_dict(), "note": note(cov)},
            }
        )
    return JSONResponse({"items": items, "total": len(items)})


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/backends",
        list_backends,
        "Backends with files, bytes, last crawl and coverage",
        "backends",
        response="BackendList",
    ),
)
