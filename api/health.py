"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time

from starlette.responses import Response

from warpdrive.schemas import probes
from warpdrive.schemas.metrics import CONTENT_TYPE

from .errors import Unavailable
from .responses import JSONResponse
from .routing import Call, Endpoint


async def healthz(call: Call) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(call: Call) -> JSONResponse:
    """Ready when PostgreSQL and Kafka both answer a probe now, within ``api.ready_timeout`` (not when the last
    publish worked: an idle API would otherwise stay ready with the broker long gone)."""
    deadline = call.cfg.api.ready_timeout
    if problems := await probes.problems(call.cfg.kafka, call.db, deadline):
        raise Unavailable("not ready: " + "; ".join(problems))
    try:
        async with asyncio.timeout(deadline):
            pending = await call.commands.pending()
            async with call.db.acquire() as conn:
                dead = await conn.fetchval("SELECT count(*) FROM dead_letters")
    except Exception as e:  # PostgreSQL went away since the probe
        raise Unavailable(f"not ready: PostgreSQL unreachable: {type(e).__name__}") from None
    return JSONResponse(
        {
            "status": "ready",
            "postgres": True,
            "kafka": True,
            "kafka_producer": call.commands.connected,
            "commands_pending": pending,
            "dead_letters": dead,
        }
    )


async def metrics(call: Call) -> Response:
    services = call.request.state.services
    pool = services.pool
    text = services.metrics.render(
        {
            "db_pool_size": pool.get_size(),
            "db_pool_idle": pool.get_idle_size(),
            "uptime_seconds": time.time() - services.started,
            "kafka_producer_connected": float(services.commands.connected),
            "commands_pending": await services.commands.pending(),
        }
    )
    return Response(text, media_type=CONTENT_TYPE)


ENDPOINTS = (
    Endpoint("GET", "/healthz", healthz, "Liveness: the process answers", "health", response="Status", public=True),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        "Readiness: PostgreSQL and Kafka answer within api.ready_timeout (503 names what does not)",
        "health",
        response="Status",
        public=True,
        extra_statuses=(503,),
    ),
    Endpoint("GET", "/metrics", metrics, "Prometheus metrics (text format)", "health", media="text/plain"),
)
