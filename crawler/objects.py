"""Object store listing (S3, GCS…) through the async fsspec file systems, concurrent over prefixes, streamed.

A pool of ``list_concurrency`` workers takes key prefixes from a queue. While there are fewer
prefixes waiting than workers, a prefix is listed one level deep (with the '/' delimiter) so its
sub-prefixes feed the other workers; once the pool is saturated, a prefix is listed flat (no
delimiter: one request per 1000 keys, whatever the shape of the tree). Each page becomes
ListingEvents at once, batched into a bounded queue: nothing holds a whole bucket in memory.

A prefix whose listing fails (after the store client's own retries of throttling and transient
errors) is retried from where it stopped — object stores list keys in lexicographic order, so keys at
or before the last one seen are skipped — and after ``RETRIES`` attempts it is counted as an error
and the crawl becomes partial; the other prefixes carry on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import AsyncIterator

from warpdrive.schemas.records import ListingEvent
from warpdrive.schemas.storage import Lister

from .local import WalkStats

log = logging.getLogger(__name__)

RETRIES = 3


def first_work(base: str, prefix: str) -> list[tuple[str, str]]:
    """The work a listing starts with, as (key prefix, mode): the whole backend, or the prefix both as a
    possible single object ("exact") and as a subtree."""
    prefix = prefix.strip("/")
    if not prefix:
        return [(base, "")]
    return [(base + prefix, "exact"), (base + prefix + "/", "")]


def should_split(waiting: int, active: int, concurrency: int) -> bool:
    """Whether a prefix is listed one level deep (its sub-prefixes feed idle workers) rather than flat."""
    return waiting + active <= concurrency


class PageFilter:
    """Which keys of a prefix's pages are new files, across retries that restart the listing: keys at
    or before the last one seen are skipped (stores list keys in order), as are directory placeholder
    objects (``…/``), keys in the left-out directory ``skip`` (a full key prefix ending in '/', '' = none)
    and, for an exact listing, keys other than the one asked for."""

    def __init__(self, key_prefix: str, exact: bool, skip: str = "") -> None:
        self.key_prefix, self.exact, self.skip = key_prefix, exact, skip
        self.last_key = self.last_prefix = ""

    def files(self, keys: list[str]) -> list[int]:
        """Indexes of the keys that are files seen for the first time."""
        out = []
        for i, key in enumerate(keys):
            if key <= self.last_key and self.last_key:
                continue  # seen before a retry
            self.last_key = key
            if key.endswith("/") or (self.exact and key != self.key_prefix):
                continue  # directory placeholder objects are not files
            if self.skip and key.startswith(self.skip):
                continue
            out.append(i)
        return out

    def prefixes(self, prefixes: list[str]) -> list[str]:
        """The sub-prefixes not handed out before (the left-out directory never)."""
        out = []
        for p in prefixes:
            if p > self.last_prefix:
                self.last_prefix = p
                if not (self.skip and p.startswith(self.skip)):
                    out.append(p)
        return out


class ObjectListing:
    """A pool of ``concurrency`` workers listing one backend (or one prefix of it) into batches of ListingEvents.

    ``base`` is the backend's key prefix ('' or ending in '/'); paths are relative to it. ``skip``: a directory
    (relative to ``base``; '' = none) left out with everything under it.
    """

    def __init__(
        self,
        store: Lister,
        base: str,
        crawl_id: str,
        backend: str,
        batch_size: int,
        concurrency: int,
        stats: WalkStats,
        skip: str,
    ) -> None:
        self.store, self.base, self.crawl_id, self.backend = store, base, crawl_id, backend
        self.batch_size, self.concurrency, self.stats = batch_size, concurrency, stats
        self.skip = f"{base}{skip}/" if skip else ""
        self.out: asyncio.Queue[list[ListingEvent] | None] = asyncio.Queue(maxsize=max(4, concurrency))
        self.work: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.buf: list[ListingEvent] = []
        self.active = 0

    async def batches(self, prefix: str) -> AsyncIterator[list[ListingEvent]]:
        """Batches for every object at or under ``base + prefix`` (``prefix``: relative, one file or one subtree)."""
        if not (self.skip and f"{self.base}{prefix.strip('/')}/".startswith(self.skip)):
            for item in first_work(self.base, prefix):
                self.work.put_nowait(item)
        producer = asyncio.create_task(self.produce())
        try:
            while (batch := await self.out.get()) is not None:
                yield batch
            await producer
        finally:
            if not producer.done():
                producer.cancel()
                try:
                    await producer
                except (asyncio.CancelledError, Exception):
                    pass

    async def produce(self) -> None:
        async with asyncio.TaskGroup() as tg:
            workers = [tg.create_task(self.worker()) for _ in range(self.concurrency)]
            await self.work.join()
            for w in workers:
                w.cancel()
        if self.buf:
            await self.out.put(self.buf)
        await self.out.put(None)

    async def worker(self) -> None:
        while True:
            key_prefix, mode = await self.work.get()
            self.active += 1
            try:
                if mode == "exact":
                    await self.list_prefix(key_prefix, "", exact=True)
                else:
                    # Split while there are idle workers, then list whole subtrees flat.
                    split = should_split(self.work.qsize(), self.active, self.concurrency)
                    await self.list_prefix(key_prefix, "/" if split else "", exact=False)
            finally:
                self.active -= 1
                self.work.task_done()

    async def emit(self, events: list[ListingEvent]) -> None:
        self.buf.extend(events)
        while len(self.buf) >= self.batch_size:
            chunk, self.buf = self.buf[: self.batch_size], self.buf[self.batch_size :]
            await self.out.put(chunk)

    async def list_prefix(self, key_prefix: str, delimiter: str, exact: bool) -> None:
        """Lists one prefix (``exact``: only the object named exactly ``key_prefix``, if any)."""
        store, stats, skip_base = self.store, self.stats, len(self.base)
        seen = PageFilter(key_prefix, exact, self.skip)
        for attempt in range(1, RETRIES + 1):
            try:
                async for page in store.pages(key_prefix, delimiter, single=exact):
                    names = [store.name(obj) for obj in page.keys]
                    events = [
                        store.event(page.keys[i], names[i][skip_base:], self.crawl_id, self.backend)
                        for i in seen.files(names)
                    ]
                    for p in seen.prefixes(page.prefixes):
                        self.work.put_nowait((p, ""))
                    if events:
                        await self.emit(events)
                return
            except (PermissionError, FileNotFoundError) as e:
                stats.error(key_prefix or "/", e)  # not transient: retrying cannot help
                return
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                if attempt == RETRIES:
                    stats.error(key_prefix or "/", e if isinstance(e, OSError) else OSError(str(e)))
                    return
                log.info("listing retry prefix=%r attempt=%d error=%r", key_prefix, attempt, str(e))
                await asyncio.sleep(0.5 * 2**attempt)
            except Exception as e:  # a bug or an unexpected answer: this prefix only, never the crawl
                log.exception("listing failed prefix=%r", key_prefix)
                stats.error(key_prefix or "/", OSError(f"{type(e).__name__}: {e}"))
                return


def list_objects(
    store: Lister,
    base: str,
    prefix: str,
    crawl_id: str,
    backend: str,
    batch_size: int,
    concurrency: int,
    stats: WalkStats,
    skip: str,
) -> AsyncIterator[list[ListingEvent]]:
    """Yields batches of ListingEvents for every object at or under ``base + prefix``, except in the directory
    ``skip`` (relative to ``base``; '' = none).

    ``base`` is the backend's key prefix ('' or ending in '/'); paths are relative to it.
    ``prefix`` (relative, no trailing '/') limits the listing to one file or one subtree.
    """
    return ObjectListing(store, base, crawl_id, backend, batch_size, concurrency, stats, skip).batches(prefix)
