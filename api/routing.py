"""Endpoints, declared once: method, path, role, parameters and response schema.

The declaration drives both the request pipeline (authenticate → authorize → validate → handler)
and the OpenAPI document, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from warpdrive.schemas.config import Config

from .auth import Principal, authenticate, authorize
from .errors import BadParameter, UnsupportedMediaType
from .params import Param, parse_body, parse_query

MAX_BODY = 8 << 20  # bulk marks of 10k paths fit; anything larger is a mistake


@dataclass
class Call:
    """What a handler gets: the validated inputs and the app's services."""

    request: Request
    cfg: Config
    principal: Principal
    query: dict[str, Any]
    body: dict[str, Any]
    path: dict[str, Any]

    @property
    def db(self) -> Any:  # asyncpg.Pool
        return self.request.state.services.pool

    @property
    def commands(self) -> Any:  # commands.CommandOutbox
        return self.request.state.services.commands

    def wants_csv(self) -> bool:
        if self.query.get("format") == "csv":
            return True
        if self.query.get("format") == "json":
            return False
        return "text/csv" in self.request.headers.get("accept", "")


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: str | None = None  # name of a component schema, None = no body (204)
    query: tuple[Param, ...] = ()
    body: tuple[Param, ...] = ()
    path_params: tuple[Param, ...] = ()
    status: int = 200
    extra_statuses: tuple[int, ...] = ()  # besides 400/401/403, e.g. 404, 409, 503
    csv: bool = False
    media: str = "application/json"
    public: bool = False  # no token needed (health, docs)
    role: str = ""  # default: viewer for GET, admin otherwise

    @property
    def needed_role(self) -> str:
        return self.role or ("viewer" if self.method == "GET" else "admin")


def _check_media_type(request: Request) -> None:
    """A mutation's body must be JSON: a form or text/plain body is what a cross-site form would send."""
    h = request.headers
    has_body = h.get("content-length", "0").strip() not in ("", "0") or "transfer-encoding" in h
    ctype = h.get("content-type", "").partition(";")[0].strip().lower()
    if has_body and ctype != "application/json":
        raise UnsupportedMediaType(f"the body must be application/json, not {ctype or 'untyped'}", param="body")


async def _read_body(request: Request) -> Any:
    chunks, size = [], 0
    async for chunk in request.stream():  # streamed, so an oversized body is refused before it is all in memory
        size += len(chunk)
        if size > MAX_BODY:
            raise BadParameter(f"body: larger than {MAX_BODY} bytes", param="body")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadParameter("body: not valid JSON", param="body") from None


def to_route(ep: Endpoint, cfg: Config, insecure_no_auth: bool) -> Route:
    async def endpoint(request: Request) -> Response:
        principal = authenticate(request.headers.get("authorization"), cfg, insecure_no_auth or ep.public)
        if not ep.public:
            authorize(principal, ep.needed_role)
        if ep.method != "GET":
            _check_media_type(request)
        path = {p.name: p.parse(request.path_params[p.name], cfg) for p in ep.path_params}
        query = parse_query(ep.query, request.query_params, cfg)
        body = parse_body(ep.body, await _read_body(request), cfg) if ep.body else {}
        return await ep.handler(Call(request, cfg, principal, query, body, path))

    return Route(ep.path, endpoint, methods=[ep.method], name=f"{ep.method} {ep.path}")
