"""S3 and GCS listing through the async fsspec file systems, concurrent over prefixes, streamed.

A pool of ``list_concurrency`` workers takes key prefixes from a queue. While there are fewer
prefixes waiting than workers, a prefix is listed one level deep (with the '/' delimiter) so its
sub-prefixes feed the other workers; once the pool is saturated, a prefix is listed flat (no
delimiter: one request per 1000 keys, whatever the shape of the tree). Each page becomes
ListingEvents at once, batched into a bounded queue: nothing holds a whole bucket in memory.

A prefix whose listing fails (after the store client's own retries of throttling and transient
errors) is retried from where it stopped — both stores list keys in lexicographic order, so keys at
or before the last one seen are skipped — and after ``RETRIES`` attempts it is counted as an error
and the crawl becomes partial; the other prefixes carry on.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator

from warpdrive.schemas.backends import open_fs, root_path
from warpdrive.schemas.config import BackendConfig
from warpdrive.schemas.records import ListingEvent, format_ts, parse_ts

from .local import WalkStats

log = logging.getLogger(__name__)

RETRIES = 3
PAGE = 1000


@dataclass
class Page:
    keys: list[dict[str, Any]]  # raw object records of the store
    prefixes: list[str]  # sub-prefixes (delimiter listings only), each ending in '/'


class Store:
    """One bucket of one object store, listed page by page."""

    def __init__(self, fs: Any, scheme: str, bucket: str) -> None:
        self.fs, self.scheme, self.bucket = fs, scheme, bucket

    async def pages(self, prefix: str, delimiter: str, single: bool = False) -> AsyncIterator[Page]:
        """Pages of the listing of ``prefix``; ``single``: only the first key at or after it."""
        size = 1 if single else PAGE
        if self.scheme == "s3":
            kwargs = dict(Bucket=self.bucket, Prefix=prefix, Delimiter=delimiter, MaxKeys=size, **self.fs.req_kw)
            async for out in self.fs._list_pages("list_objects_v2", **kwargs):
                yield Page(out.get("Contents", []), [p["Prefix"] for p in out.get("CommonPrefixes", [])])
                if single:
                    return
        else:
            token = None
            while True:
                out = await self.fs._call_list_objects(
                    self.bucket, prefix=prefix or None, delimiter=delimiter or None, maxResults=size, pageToken=token)
                yield Page(out.get("items", []), out.get("prefixes", []))
                token = out.get("nextPageToken")
                if not token or single:
                    return

    def name(self, obj: dict[str, Any]) -> str:
        return obj["Key"] if self.scheme == "s3" else obj["name"]

    def event(self, obj: dict[str, Any], rel: str, crawl_id: str, backend: str) -> ListingEvent:
        if self.scheme == "s3":
            return ListingEvent(crawl_id, backend, rel, int(obj["Size"]), format_ts(obj["LastModified"]),
                                obj.get("ETag", "").strip('"') or None)
        return ListingEvent(crawl_id, backend, rel, int(obj.get("size", 0)),
                            format_ts(parse_ts(obj["updated"])) if obj.get("updated") else None, gcs_checksum(obj))


def gcs_checksum(obj: dict[str, Any]) -> str | None:
    """GCS md5Hash as hex (the same form as a single-part S3 ETag, so copies compare equal across
    stores); composite objects have only a CRC32C, written ``crc32c:<base64>`` so it never passes for an md5."""
    if md5 := obj.get("md5Hash"):
        return base64.b64decode(md5).hex()
    if crc := obj.get("crc32c"):
        return f"crc32c:{crc}"
    return None


async def list_objects(
    store: Store, base: str, prefix: str, crawl_id: str, backend: str, batch_size: int, concurrency: int,
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


@asynccontextmanager
async def open_store(backend: BackendConfig) -> AsyncIterator[tuple[Store, str]]:
    """An async file system of the backend's bucket, its session closed on exit; yields the store
    and the backend's key prefix ('' or ending in '/')."""
    fs = open_fs(backend, asynchronous=True, skip_instance_cache=True)
    bucket, _, key = root_path(backend).partition("/")
    # s3fs and gcsfs only expose their sessions' lifetimes through these (documented as internal)
    # calls; closing them here keeps a long-running crawler from leaking a connection pool per crawl.
    if backend.scheme == "s3":
        await fs.set_session()
    else:
        await fs._set_session()
    try:
        yield Store(fs, backend.scheme, bucket), (key.strip("/") + "/" if key.strip("/") else "")
    finally:
        if backend.scheme == "s3":
            await fs._s3.close()
        elif fs._session is not None:
            await fs._session.close()
