"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time

from starlette.responses import PlainTextResponse

from warpdrive.schemas import probes

from .errors import Unavailable
from .responses import JSONResponse
from .routing import Call, Endpoint


async def healthz(call: Call) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(call: Call) -> JSONResponse:
    """Ready when PostgreSQL and Kafka both answer a probe now, within ``api.ready_timeout`` (not when the last
    publish worked: an idle API would otherwise stay ready with the broker long gone)."""
    deadline = call.cfg.api.ready_timeout
    problems = [p for p in await asyncio.gather(probes.postgres(call.db, deadline), probes.kafka(call.cfg.kafka, deadline))
                if p]
    if problems:
        raise Unavailable("not ready: " + "; ".join(problems))
    try:
        async with asyncio.timeout(deadline):
            pending = await call.commands.pending()
    except Exception as e:  # PostgreSQL went away since the probe
        raise Unavailable(f"not ready: PostgreSQL unreachable: {type(e).__name__}") from None
    return JSONResponse({"status": "ready", "postgres": True, "kafka": True, "kafka_producer": call.commands.connected,
                         "commands_pending": pending})


async def metrics(call: Call) -> PlainTextResponse:
    services = call.request.state.services
    pool = services.pool
    gauges = {
        "warpdrive_api_db_pool_size": ("Connections open in the PostgreSQL pool.", pool.get_size()),
        "warpdrive_api_db_pool_idle": ("Idle connections in the PostgreSQL pool.", pool.get_idle_size()),
        "warpdrive_api_uptime_seconds": ("Seconds since the API started.", time.time() - services.started),
        "warpdrive_api_kafka_producer_connected": ("1 when the commands producer is connected.", float(services.commands.connected)),
        "warpdrive_api_commands_pending": ("Commands in the outbox not yet acknowledged by Kafka.", await services.commands.pending()),
    }
    return PlainTextResponse(services.metrics.render(gauges), media_type="text/plain; version=0.0.4; charset=utf-8")


ENDPOINTS = (
    Endpoint("GET", "/healthz", healthz, "Liveness: the process answers", "health", response="Status", public=True),
    Endpoint("GET", "/readyz", readyz, "Readiness: PostgreSQL and Kafka answer within api.ready_timeout (503 names what does not)", "health",
             response="Status", public=True,
             extra_statuses=(503,)),
    Endpoint("GET", "/metrics", metrics, "Prometheus metrics (text format)", "health", media="text/plain"),
)
