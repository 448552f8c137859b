"""`warpdrive api serve`: the control-plane REST API (and the dashboard) under uvicorn."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
import socket

import click

from warpdrive.schemas import config as wconfig
from warpdrive.schemas import logs
from warpdrive.schemas.errors import SchemaError

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """True only if every address the host name resolves to is a loopback address."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.ClickException(f"--listen: {listen!r} must be HOST:PORT")
    return host.strip("[]"), int(port)


async def _check_database(cfg: wconfig.Config) -> None:
    """Fails fast with one line (not uvicorn's startup traceback) when PostgreSQL cannot be reached or its schema is
    not this release's."""
    from warpdrive.schemas.db import require_schema, resolve_dsn

    try:
        await require_schema(resolve_dsn(cfg), timeout=15)
    except SchemaError as e:
        raise click.ClickException(str(e)) from None


@click.group()
def cli() -> None:
    """Control-plane REST API (and the dashboard)."""


@cli.command("serve")
@click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: the one `warpdrive stack up` wrote, else built-in defaults).",
)
@click.option("--listen", help="HOST:PORT to listen on (default: api.listen).")
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Serve without tokens, every caller an admin (local demos only; refused unless on loopback).",
)
def serve(config_path: str | None, listen: str | None, insecure_no_auth: bool) -> None:
    """Serve the API and dashboard until interrupted.

    \b
    Example:
      warpdrive api serve --listen 127.0.0.1:8080
      curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/usage?group_by=team
    """
    try:
        cfg = wconfig.load(config_path)
    except SchemaError as e:
        raise click.ClickException(str(e)) from None
    logs.apply(cfg, "api")
    host, port = split_listen(listen or cfg.api.listen)
    insecure = insecure_no_auth or cfg.api.insecure_no_auth
    if insecure and not is_loopback(host):
        raise click.ClickException(
            f"refusing to serve without auth on {host}: --insecure-no-auth (api.insecure_no_auth) is for loopback only"
        )
    cfg = dataclasses.replace(cfg, api=dataclasses.replace(cfg.api, insecure_no_auth=insecure, listen=f"{host}:{port}"))
    if insecure:
        log.warning("serving WITHOUT authentication on %s:%d (every caller is an admin)", host, port)

    asyncio.run(_check_database(cfg))

    import uvicorn

    from .app import create_app

    # access_log off: uvicorn's access log would be one more place to keep tokens out of; /metrics counts requests.
    uvicorn.run(create_app(cfg), host=host, port=port, log_level="info", access_log=False, proxy_headers=False)
