"""One crawl of one backend (or of one prefix of it): start marker, listing batches, finish marker.

The trash of deletion jobs (``crawler.trash_prefix``) is never listed: it is not data (schemas/trash.py).

The finish marker says ``complete`` only when every directory/prefix was listed without error and
every listing message was acknowledged by Kafka before it; the stream workers only mark unseen files
deleted after a complete finish. A crawl that is cancelled (SIGTERM, a cancel command) still tries
to publish an incomplete finish so the crawl shows as partial; one killed outright publishes none,
and a crawl with no complete finish never deletes anything.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import AsyncGenerator

from warpdrive.schemas.config import BackendConfig, Config
from warpdrive.schemas.records import CrawlMarker, ListingEvent, utc_now
from warpdrive.schemas.storage import kind_of
from warpdrive.schemas.topics import LISTING
from warpdrive.schemas.trash import trash_root

from .errors import PublishError
from .local import WalkStats, walk
from .lock import backend_lock
from .objects import list_objects
from .progress import Counter, Reporter
from .publish import Channel, Publisher

log = logging.getLogger(__name__)


@dataclass
class CrawlResult:
    crawl_id: str
    backend: str
    prefix: str
    files: int
    bytes: int
    errors: int
    status: str  # complete | partial | failed | busy
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def new_crawl_id(backend: str) -> str:
    return f"{backend}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


async def listing(
    backend: BackendConfig,
    prefix: str,
    crawl_id: str,
    batch_size: int,
    concurrency: int,
    stats: WalkStats,
    skip: str,
) -> AsyncGenerator[list[ListingEvent], None]:
    """Batches of ListingEvents of the backend at or under ``prefix`` (relative to its root), leaving out the
    directory ``skip`` (relative to the root: the trash, schemas/trash.py) and everything under it."""
    kind = kind_of(backend)
    if kind.posix:
        gen = walk(kind.root_path(backend), prefix, crawl_id, backend.name, batch_size, stats, skip)
        # The walk is blocking I/O: each batch is read in a thread while the loop keeps sending.
        while (batch := await asyncio.to_thread(next, gen, None)) is not None:
            yield batch
    else:
        async with kind.open_lister(backend) as (store, base):
            async for batch in list_objects(
                store, base, prefix, crawl_id, backend.name, batch_size, concurrency, stats, skip
            ):
                yield batch


async def _finish(channel: Channel, marker: CrawlMarker) -> None:
    await channel.send_batch(LISTING, marker.backend_name, [marker])
    await channel.settle()


async def crawl(
    cfg: Config,
    backend: BackendConfig,
    publisher: Publisher,
    dsn: str,
    *,
    prefix: str = "",
    reporter: Reporter | None = None,
    wait_lock: bool = False,
) -> CrawlResult:
    """Crawls the backend (or one prefix of it) under its lock; never raises for listing errors."""
    prefix = prefix.strip("/")
    crawl_id = new_crawl_id(backend.name)
    async with backend_lock(dsn, backend.name, wait=wait_lock):
        channel = publisher.channel()
        counter = Counter(backend.name + (f":{prefix}" if prefix else ""))
        if reporter:
            reporter.track(counter)
        stats = WalkStats()
        log.info("crawl start backend=%s crawl_id=%s prefix=%r", backend.name, crawl_id, prefix)
        start = CrawlMarker(crawl_id, backend.name, "start", utc_now(), prefix=prefix)
        finish = CrawlMarker(crawl_id, backend.name, "finish", "", prefix=prefix)
        try:
            await channel.send_batch(LISTING, backend.name, [start])
            async for batch in listing(
                backend, prefix, crawl_id, cfg.crawler.batch_size, cfg.crawler.list_concurrency, stats, trash_root(cfg)
            ):
                await channel.send_batch(LISTING, backend.name, batch)
                counter.add(len(batch), sum(e.size_bytes for e in batch))
                counter.errors = stats.errors
            await channel.settle()
        except asyncio.CancelledError:
            log.warning("crawl interrupted backend=%s crawl_id=%s files=%d", backend.name, crawl_id, counter.files)
            finish.timestamp, finish.files, finish.bytes, finish.errors = (
                utc_now(),
                counter.files,
                counter.bytes,
                stats.errors,
            )
            try:  # best effort, bounded: record the crawl as partial (complete=False never deletes)
                await asyncio.wait_for(asyncio.shield(_finish(channel, finish)), 10)
            except (asyncio.TimeoutError, asyncio.CancelledError, PublishError):
                pass
            raise
        except PublishError as e:
            log.error("crawl failed backend=%s crawl_id=%s error=%s", backend.name, crawl_id, e)
            return CrawlResult(
                crawl_id, backend.name, prefix, counter.files, counter.bytes, stats.errors, "failed", str(e)
            )
        finally:
            if reporter:
                reporter.done(counter)
        finish.timestamp, finish.files, finish.bytes, finish.errors = (
            utc_now(),
            counter.files,
            counter.bytes,
            stats.errors,
        )
        finish.complete = stats.errors == 0
        try:
            await _finish(channel, finish)
        except PublishError as e:
            return CrawlResult(
                crawl_id, backend.name, prefix, counter.files, counter.bytes, stats.errors, "failed", str(e)
            )
    status = "complete" if finish.complete else "partial"
    log.info("crawl %s crawl_id=%s %s vanished=%d", status, crawl_id, counter.fields(), stats.vanished)
    error = f"{stats.errors} listing errors, e.g. {stats.error_samples[0]}" if stats.errors else None
    return CrawlResult(crawl_id, backend.name, prefix, counter.files, counter.bytes, stats.errors, status, error)
