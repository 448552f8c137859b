"""The Starlette application: lifespan-owned PostgreSQL pool and Kafka producer, JSON errors, metrics,
every endpoint module's routes, the OpenAPI document and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator

import asyncpg
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warpdrive.schemas.config import Config
from warpdrive.schemas.db import check_schema, resolve_dsn

from . import (
    admin,
    agents,
    backends,
    dashboard,
    deadletters,
    growth,
    health,
    jobs,
    marks,
    openapi,
    quotas,
    stale,
    tree,
    trash,
    usage,
    users,
)
from .commands import CommandOutbox
from .errors import ApiError, BadParameter, MethodNotAllowed, NotFound, Unavailable
from .guard import Guard
from .metrics import Metrics
from .responses import JSONResponse
from .routing import Endpoint, to_route

log = logging.getLogger(__name__)

QUERY_TIMEOUT = 30.0  # seconds: no request waits on PostgreSQL forever

ENDPOINT_MODULES = (
    usage,
    stale,
    growth,
    users,
    backends,
    quotas,
    admin,
    marks,
    jobs,
    agents,
    tree,
    health,
    openapi,
    deadletters,
    trash,
)


def all_endpoints() -> tuple[Endpoint, ...]:
    return tuple(ep for m in ENDPOINT_MODULES for ep in m.ENDPOINTS)


@dataclass
class Services:
    """What the lifespan owns, handed to every request as ``request.state.services``."""

    pool: asyncpg.Pool
    commands: CommandOutbox
    metrics: Metrics
    started: float


def _lifespan(cfg: Config, metrics: Metrics):
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        pool = await asyncpg.create_pool(
            resolve_dsn(cfg),
            min_size=cfg.postgres.pool_min,
            max_size=cfg.postgres.pool_max,
            # JIT compiles a query the planner thinks big, for 50-200 ms: more than the API's indexed reads take.
            # 32 MB per sort or hash keeps a user's per-file read totals (100k rows) in memory.
            server_settings={"application_name": "warpdrive-api", "timezone": "UTC", "jit": "off", "work_mem": "32MB"},
            command_timeout=QUERY_TIMEOUT,
        )
        try:
            async with pool.acquire() as conn:
                await check_schema(conn)  # `warpdrive migrate` changes the schema, never a service
            commands = CommandOutbox(cfg, pool)
            if not cfg.api.insecure_no_auth and not cfg.api.tokens:
                log.warning("no [[api.tokens]] configured: every request will be refused with 401")
            async with asyncio.TaskGroup() as tasks:
                publisher = tasks.create_task(commands.run(), name="command-outbox")
                try:
                    yield {"services": Services(pool, commands, metrics, time.time())}
                finally:
                    commands.stop()
                    publisher.cancel()
        finally:
            await pool.close()

    return lifespan


# PostgreSQL going away (or not answering in time) mid-request is the caller's 503, not a 500 with a traceback.
_DB_DOWN = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,
)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    route = request.scope.get("route")
    # Only the dashboard's catch-all matched (e.g. DELETE /api/v1/nope): there is no such route at all.
    if exc.status_code == 404 or (exc.status_code == 405 and getattr(route, "name", None) == dashboard.ROUTE_NAME):
        err: ApiError = NotFound(f"no such route: {request.method} {request.url.path}")
    elif exc.status_code == 405:
        err = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}")
    else:
        err = ApiError(str(exc.detail))
        err.status = exc.status_code
        err.code = "http_error"
    return JSONResponse(err.body(), status_code=err.status, headers=exc.headers)


async def _db_down(request: Request, exc: Exception) -> Response:
    log.warning("PostgreSQL unavailable during %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return await _api_error(request, Unavailable("PostgreSQL is unavailable or did not answer in time; retry shortly"))


async def _bad_text(request: Request, exc: Exception) -> Response:
    # PostgreSQL refuses NUL bytes (and text its encoding cannot hold) in any string a request carried.
    return await _api_error(request, BadParameter("a value contains a NUL byte or a character PostgreSQL cannot store"))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error in %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": {"status": 500, "code": "internal", "message": "internal error (logged)"}}, status_code=500
    )


class MetricsMiddleware:
    """Counts every request by its route template (not its raw path: bounded label values)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            self.metrics.observe(scope["method"], getattr(route, "path", "unmatched"), status, time.perf_counter() - t0)


def create_app(cfg: Config) -> Starlette:
    metrics = Metrics()
    insecure = cfg.api.insecure_no_auth
    endpoints = all_endpoints()
    routes: list[Any] = [to_route(ep, cfg, insecure) for ep in endpoints]
    routes += dashboard.routes(cfg)
    app = Starlette(
        routes=routes,
        lifespan=_lifespan(cfg, metrics),
        exception_handlers={
            ApiError: _api_error,
            HTTPException: _http_error,
            Exception: _unexpected,
            **{t: _db_down for t in _DB_DOWN},
            asyncpg.CharacterNotInRepertoireError: _bad_text,
            asyncpg.UntranslatableCharacterError: _bad_text,
        },
    )
    app.state.cfg = cfg
    app.state.openapi = openapi.document(cfg, endpoints)
    app.add_middleware(Guard, cfg=cfg)  # inside the metrics: refusals are counted too
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    # The dashboard bundle and large JSON/CSV answers shrink 3-4x; small answers are left alone.
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    return app
