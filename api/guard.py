"""Who may reach the API from a browser: the Host it serves, the origin a request comes from, odd bytes.

The local stack serves without auth on loopback, so any web page the user visits could otherwise POST to
it (cross-site request forgery) or, through a DNS name rebound to 127.0.0.1, read it. Hence, before any
route runs:

- the ``Host`` header must name a host the API serves (``api.allowed_hosts``; by default the listen
  host, the host of ``api.url`` and the loopback names, or any host on a wildcard listen address): a
  rebound name is refused;
- a mutation — and, with auth off, every request — must come from the API's own origin or from no
  browser at all: ``Sec-Fetch-Site`` same-origin/none, or an ``Origin`` equal to the request's own
  (or listed in ``api.allowed_origins``), or neither header (curl, warpdrive-ctl). A top-level
  navigation to a dashboard page is allowed (a link from elsewhere; it cannot read the answer);
- a path or query with a NUL byte, a control character or bytes that are not UTF-8 is a 400.

Each refusal is a JSON 403 (or 400) naming what was wrong; nothing reaches a handler.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from warpdrive.schemas.config import Config

from .errors import ApiError, BadParameter, Forbidden
from .responses import JSONResponse

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def host_name(host: str) -> str:
    """The host name of a Host header or ``host:port`` value, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host  # a bare name, or an unbracketed IPv6 address


def allowed_hosts(cfg: Config) -> frozenset[str] | None:
    """The host names the API answers to; None = any."""
    if cfg.api.allowed_hosts:
        names = {host_name(h) for h in cfg.api.allowed_hosts}
        return None if "*" in names else frozenset(names)
    listen = host_name(cfg.api.listen.rpartition(":")[0] or cfg.api.listen)
    if listen in WILDCARDS:
        return None  # serving every interface on purpose (a container): auth, which is required there, guards it
    names = {listen, *LOOPBACK_NAMES}
    if cfg.api.url:
        names.add(host_name(urlsplit(cfg.api.url).netloc))
    return frozenset(names)


class Guard:
    """ASGI middleware applying the rules above to every HTTP request."""

    def __init__(self, app: ASGIApp, cfg: Config) -> None:
        self.app = app
        self.hosts = allowed_hosts(cfg)
        self.origins = frozenset(o.rstrip("/").lower() for o in cfg.api.allowed_origins)
        self.check_reads = cfg.api.insecure_no_auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                self.check(scope)
            except ApiError as e:
                await JSONResponse(e.body(), status_code=e.status)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> None:
        _check_bytes(scope)
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.hosts is not None and host_name(host) not in self.hosts:
            raise Forbidden(f"Host {host!r} is not served here (api.allowed_hosts); DNS rebinding is refused")
        method = scope["method"]
        if method in SAFE_METHODS and not self.check_reads:
            return
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if (
            method in SAFE_METHODS
            and headers.get("sec-fetch-mode") == "navigate"
            and not scope["path"].startswith("/api/")
        ):
            return  # a link to a dashboard page from elsewhere: the linking page never sees the answer
        if origin is not None:
            # Host and port decide (not the scheme: behind a TLS proxy the browser's https is our http).
            origin = origin.rstrip("/").lower()
            if urlsplit(origin).netloc != host.lower() and origin not in self.origins:
                raise Forbidden(
                    f"cross-site request refused: Origin {origin!r} is not this API's origin (Host {host!r}; "
                    f"api.allowed_origins lists others)"
                )
        elif site is not None and site not in ("same-origin", "none"):
            raise Forbidden(f"cross-site request refused (Sec-Fetch-Site: {site})")


def _check_bytes(scope: Scope) -> None:
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    _check_text(unquote_to_bytes(raw), "path", "the path")
    for part in scope.get("query_string", b"").split(b"&"):
        key, _, value = part.partition(b"=")
        name = unquote_to_bytes(key.replace(b"+", b" "))
        _check_text(name, "query", "a query parameter name")
        label = name.decode("utf-8")
        _check_text(unquote_to_bytes(value.replace(b"+", b" ")), label, label)


def _check_text(decoded: bytes, param: str, what: str) -> None:
    if any(b < 0x20 or b == 0x7F for b in decoded):
        raise BadParameter(f"{what}: contains a NUL byte or a control character", param=param)
    try:
        decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise BadParameter(f"{what}: not valid UTF-8", param=param) from None
