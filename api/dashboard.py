"""The built dashboard (``web/dist``) at ``/``: files as they are, the SPA's index.html for any other
path (client-side routes), long-lived caching for content-hashed ``assets/*``."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from warpdrive.schemas.config import Config

from .errors import NotFound

ROUTE_NAME = "dashboard"
IMMUTABLE = "public, max-age=31536000, immutable"  # assets/* names carry a content hash
REVALIDATE = "no-cache"  # index.html names the current hashes: always revalidate it

NO_DASHBOARD = """<!doctype html><html><head><meta charset="utf-8"><title>WarpDrive Governance</title></head>
<body><h1>WarpDrive Governance API</h1><p>The dashboard is not built ({dist} does not exist): run
<code>npm run build</code> in <code>web/</code>. The API is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>
</body></html>"""


def dist_dir(cfg: Config) -> Path:
    if cfg.api.web_dist:
        return Path(cfg.api.web_dist).expanduser().resolve()
    return (Path(__file__).resolve().parent.parent / "web" / "dist").resolve()


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
        if is_file:
            cache = IMMUTABLE if rel.startswith("assets/") else REVALIDATE
            return FileResponse(target, headers={"Cache-Control": cache})
        if rel.startswith("assets/"):
            raise NotFound(f"no such asset: {rel}")  # a missing hashed file must not become index.html
        return FileResponse(index, headers={"Cache-Control": REVALIDATE})

    return [
        Route("/", serve, methods=["GET"], name=ROUTE_NAME),
        Route("/{path:path}", serve, methods=["GET"], name=ROUTE_NAME),
    ]
