"""`warpdrive streams worker`: runs the Faust stream workers."""

from __future__ import annotations

import asyncio
import logging

import click

from warpdrive.schemas import logs, probes
from warpdrive.schemas.config import Config, load
from warpdrive.schemas.errors import SchemaError

from .errors import StartupError

log = logging.getLogger(__name__)


@click.group()
def cli() -> None:
    """Faust stream workers: aggregate topics into PostgreSQL, evaluate quotas."""


async def prepare(cfg: Config) -> str:
    """Creates missing topics, checks the schema is this release's and seeds teams; returns the DSN."""
    import asyncpg

    from warpdrive.schemas.db import check_schema, resolve_dsn
    from warpdrive.schemas.topics import ensure_topics

    from .ownership import seed_teams

    dsn = resolve_dsn(cfg)
    cfg.state_dir.mkdir(parents=True, exist_ok=True)  # Faust's data dir goes in it (a fresh container has none)
    try:
        await ensure_topics(cfg.kafka)
    except Exception as e:  # the client's own errors, as one line
        raise StartupError(f"kafka {cfg.kafka.bootstrap_servers}: {type(e).__name__}: {e}") from None
    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 30)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as e:
        raise StartupError(f"postgres: cannot connect: {type(e).__name__}: {e}") from None
    try:
        await check_schema(conn)  # `warpdrive migrate` changes the schema, never a worker
        await seed_teams(conn, cfg.teams)
    finally:
        await conn.close()
    return dsn


@cli.command()
@click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: the one `warpdrive stack up` wrote, else built-in defaults).",
)
@click.option("--loglevel", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
def worker(config_path: str | None, loglevel: str) -> None:
    """Run a stream worker (start N of them to share the partitions)."""
    try:
        cfg = load(config_path)
        logs.apply(cfg, "streams")
        logging.getLogger().setLevel(loglevel.upper())
        dsn = asyncio.run(prepare(cfg))
    except (SchemaError, StartupError) as e:
        raise click.ClickException(str(e)) from None
    import faust

    from .app import create_app

    app = create_app(cfg, dsn)
    ready = probes.readiness(cfg.kafka, dsn, cfg.streams.ready_timeout)
    with app.metrics.metrics.serving(cfg.streams.metrics_listen, ready):
        # Our logging (text or JSON lines, outages told once) stays: Faust would replace it with its own.
        faust.Worker(app, loglevel=loglevel.upper(), override_logging=False).execute_from_commandline()
