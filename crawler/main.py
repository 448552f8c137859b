"""`warpdrive crawler run`: crawl backends into listing events, once or periodically, and run jobs.

Without ``--once`` the process is long-running: it crawls every selected backend every
``crawler.interval`` seconds and executes crawl/move/cancel commands from the commands topic.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Awaitable, TypeVar

import click

from warpdrive.schemas import config as wconfig
from warpdrive.schemas import logs
from warpdrive.schemas.db import require_schema, resolve_dsn
from warpdrive.schemas.errors import SchemaError

from .crawl import CrawlResult
from .errors import CrawlerError
from .service import Service

log = logging.getLogger(__name__)
T = TypeVar("T")


@click.group()
def cli() -> None:
    """Crawl every backend into listing events; run move and crawl jobs."""


def _run(coro: Awaitable[T]) -> T:
    """Runs the coroutine; SIGTERM cancels it like Ctrl-C, so crawls end with an incomplete marker."""

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await coro

    try:
        return asyncio.run(main())
    except BaseExceptionGroup as eg:  # task groups wrap errors; the CLI shows the first one, one line
        raise first_leaf(eg) from None


def first_leaf(eg: BaseExceptionGroup) -> BaseException:
    e: BaseException = eg
    while isinstance(e, BaseExceptionGroup):
        e = e.exceptions[0]
    return e


@cli.command("run")
@click.option("--once", is_flag=True, help="Crawl the selected backends once and exit (progress bar on a terminal).")
@click.option(
    "--backend", "backends", multiple=True, metavar="NAME", help="Only this backend (repeatable; default all)."
)
@click.option("--no-schedule", is_flag=True, help="Without --once: run jobs only, no periodic crawls.")
@click.option(
    "--config",
    "config_path",
    envvar="WARPDRIVE_CONFIG",
    type=click.Path(dir_okay=False),
    help="Config file (default: the one `warpdrive stack up` wrote).",
)
def run(once: bool, backends: tuple[str, ...], no_schedule: bool, config_path: str | None) -> None:
    """Crawl backends and publish one ListingEvent per file, bracketed by crawl markers.

    \b
    Examples:
      warpdrive crawler run --once                 # every backend, now
      warpdrive crawler run --once --backend s3    # one backend
      warpdrive crawler run                        # every crawler.interval seconds, plus jobs
    """
    try:
        cfg = wconfig.load(config_path)
        logs.apply(cfg, "crawler")
        selected = [cfg.backend(n) for n in backends] if backends else list(cfg.backends)
        if not selected:
            raise click.ClickException("no backends configured ([[backends]] in the config)")
        dsn = resolve_dsn(cfg)
        _run(require_schema(dsn))  # `warpdrive migrate` changes the schema, never the crawler
        service = Service(cfg, dsn, selected, tty=once and sys.stderr.isatty())
        if not once:
            try:
                _run(service.serve(schedule=not no_schedule))
            except (KeyboardInterrupt, asyncio.CancelledError):
                # A service asked to stop: unfinished jobs were not committed and run again on restart.
                log.info("crawler stopped")
            return
        results: list[CrawlResult] = _run(service.crawl_once())
    except (SchemaError, CrawlerError) as e:
        raise click.ClickException(str(e)) from None
    except (KeyboardInterrupt, asyncio.CancelledError):
        raise click.ClickException("interrupted: crawls in progress were recorded as partial") from None
    bad = [r for r in results if r.status != "complete"]
    for r in results:
        click.echo(f"{r.backend}: {r.status}, {r.files} files, {r.bytes} bytes, {r.errors} errors (crawl {r.crawl_id})")
    if bad:
        raise click.ClickException(
            "; ".join(f"{r.backend}: {r.status}" + (f" ({r.error})" if r.error else "") for r in bad)
        )
