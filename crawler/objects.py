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


async def list_objects(
    store: Lister, base: str, prefix: str, crawl_id: str, backend: str, batch_size: int, concurrency: int,
    stats: WalkStats,
) -> AsyncIterator[list[ListingEvent]]:
    """Yields batches of ListingEvents for every object at or under ``base + prefix``.

    ``base`` is the backend's key prefix ('' or ending in '/'); paths are relative to it.
    ``prefix`` (relative, no trailing '/') limits the listing to one file or one subtree.
    """
    out: asyncio.Queue[list[ListingEvent] | None] = asyncio.Queue(maxsize=max(4, concurrency))
    work: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    buf: list[ListingEvent] = []
    active = 0
    skip_base = len(base)

    async def emit(events: list[ListingEvent]) -> None:
        nonlocal buf
        buf.extend(events)
        while len(buf) >= batch_size:
            chunk, buf = buf[:batch_size], buf[batch_size:]
            await out.put(chunk)

    async def list_prefix(key_prefix: str, delimiter: str, exact: bool) -> None:
        """Lists one prefix (``exact``: only the object named exactly ``key_prefix``, if any)."""
        last_key = last_prefix = ""
        for attempt in range(1, RETRIES + 1):
            try:
                async for page in store.pages(key_prefix, delimiter, single=exact):
                    events = []
                    for obj in page.keys:
                        key = store.name(obj)
                        if key <= last_key and last_key:
                            continue  # seen before a retry
                        last_key = key
                        if key.endswith("/") or (exact and key != key_prefix):
                            continue  # directory placeholder objects are not files
                        events.append(store.event(obj, key[skip_base:], crawl_id, backend))
                    for p in page.prefixes:
                        if p > last_prefix:
                            last_prefix = p
                            work.put_nowait((p, ""))
                    if events:
                        await emit(events)
                return
            except (PermissionError, FileNotFoundError) as e:
                stats.error(key_prefix or "/", e)  # not transient: retrying cannot help
                return
            except (OSError, asyncio.TimeoutError, ValueError) as e:
                if attempt == RETRIES:
                    stats.error(key_prefix or "/", e if isinstance(e, OSError) else OSError(str(e)))
                    return
                log.info("listing retry prefix=%r attempt=%d error=%r", key_prefix, attempt, str(e))
                await asyncio.sleep(0.5 * 2 ** attempt)
            except Exception as e:  # a bug or an unexpected answer: this prefix only, never the crawl
                log.exception("listing failed prefix=%r", key_prefix)
                stats.error(key_prefix or "/", OSError(f"{type(e).__name__}: {e}"))
                return

    async def worker() -> None:
        nonlocal active
        while True:
            key_prefix, mode = await work.get()
            active += 1
            try:
                if mode == "exact":
                    await list_prefix(key_prefix, "", exact=True)
                else:
                    # Split while there are idle workers, then list whole subtrees flat.
                    split = work.qsize() + active <= concurrency
                    await list_prefix(key_prefix, "/" if split else "", exact=False)
            finally:
                active -= 1
                work.task_done()

    async def produce() -> None:
        async with asyncio.TaskGroup() as tg:
            workers = [tg.create_task(worker()) for _ in range(concurrency)]
            await work.join()
            for w in workers:
                w.cancel()
        if buf:
            await out.put(buf)
        await out.put(None)

    prefix = prefix.strip("/")
    if prefix:
        work.put_nowait((base + prefix, "exact"))  # the prefix may name a single object
        work.put_nowait((base + prefix + "/", ""))
    else:
        work.put_nowait((base, ""))
    producer = asyncio.create_task(produce())
    try:
        while (batch := await out.get()) is not None:
            yield batch
        await producer
    finally:
        if not producer.done():
            producer.cancel()
            try:
                await producer
            except (asyncio.CancelledError, Exception):
                pass
