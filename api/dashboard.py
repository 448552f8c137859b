"""The built dashboard (``web/dist``) at ``/``: files as they are, the SPA's index.html for any other
path (client-side routes), long-lived caching for content-hashed ``assets/*``, sent brotli- or gzip-compressed
from the copies the build wrote beside them (``web/vite.config.ts``) when the browser accepts it."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from warpdrive.schemas.config import Config

from .errors import NotFound

ROUTE_NAME = "dashboard"
IMMUTABLE = "public, max-age=31536000, immutable"  # assets/* names carry a content hash
REVALIDATE = "no-cache"  # index.html names the current hashes: always revalidate it
# Precompressed copies the build writes beside an asset, in order of preference: (suffix, Content-Encoding).
ENCODINGS = ((".br", "br"), (".gz", "gzip"))

NO_DASHBOARD = """<!doctype html><html><head><meta charset="utf-8"><title>WarpDrive Governance</title></head>
<body><h1>WarpDrive Governance API</h1><p>The dashboard is not built ({dist} does not exist): run
<code>npm run build</code> in <code>web/</code>. The API is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>"""


def dist_dir(cfg: Config) -> Path:
    if cfg.api.web_dist:
        return Path(cfg.api.web_dist).expanduser().resolve()
    return (Path(__file__).resolve().parent.parent / "web" / "dist").resolve()


def accepted(accept_encoding: str) -> set[str]:
    """The codings an Accept-Encoding header allows (``q=0`` refuses one; ``*`` stands for any)."""
    out = set()
    for part in accept_encoding.lower().split(","):
        coding, *params = (p.strip() for p in part.split(";"))
        q = next((p[2:] for p in params if p.startswith("q=")), "1")
        try:
            if coding and float(q) > 0:
                out.add(coding)
        except ValueError:  # a malformed weight allows nothing
            pass
    return out


def asset_response(target: Path, accept_encoding: str) -> FileResponse:
    """A hashed asset, immutable: its precompressed copy when there is one the browser accepts."""
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    ok = accepted(accept_encoding)
    for suffix, coding in ENCODINGS:
        packed = target.with_name(target.name + suffix)
        if (coding in ok or "*" in ok) and packed.is_file():
            # Content-Encoding set: the GZip middleware passes the response through as it is.
            return FileResponse(packed, media_type=media_type, headers={**headers, "Content-Encoding": coding})
    return FileResponse(target, media_type=media_type, headers=headers)


def routes(cfg: Config) -> list[Route]:
    dist = dist_dir(cfg)

    async def serve(request: Request) -> Response:
        rel = request.path_params.get("path", "")
        if rel == "api" or rel.startswith("api/"):
            # An unknown API route is a JSON 404, never the dashboard's index.html.
            raise NotFound(f"no such route: {request.method} {request.url.path}")
        index = dist / "index.html"
        if not index.is_file():
            return HTMLResponse(NO_DASHBOARD.format(dist=dist), headers={"Cache-Control": REVALIDATE})
        try:
            target = (dist / rel).resolve()
            is_file = bool(rel) and target.is_file() and target.is_relative_to(dist)
        except (ValueError, OSError):  # a NUL byte, a name too long: no such file (the guard refuses most before)
            raise NotFound(f"no such file: {rel[:200]!r}") from None
        if is_file and rel.startswith("assets/"):
            return asset_response(target, request.headers.get("accept-encoding", ""))
        if is_file:
            return FileResponse(target, headers={"Cache-Control": REVALIDATE})
        if rel.startswith("assets/"):
            raise NotFound(f"no such asset: {rel}")  # a missing hashed file must not become index.html
        return FileResponse(index, headers={"Cache-Control": REVALIDATE})

    return [
        Route("/", serve, methods=["GET"], name=ROUTE_NAME),
        Route("/{path:path}", serve, methods=["GET"], name=ROUTE_NAME),
    ]
