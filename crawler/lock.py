"""At most one crawl per backend at a time: a PostgreSQL advisory lock per backend.

Why PostgreSQL and not a lock file: crawlers may run on several hosts (one per NFS mount, or a
standby), which share the database but not a file system; and a session lock is released by the
server the moment its holder dies, even by kill -9, so a crashed crawl never leaves a stale lock
behind to clean up. The lock lives on its own connection, held for the whole crawl.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

import asyncpg

from warpdrive.schemas.locks import CRAWL_LOCK  # the first key of the two-key lock; the second is hashtext(backend)

from .errors import CrawlBusy, CrawlerError


@asynccontextmanager
async def backend_lock(dsn: str, backend: str, wait: bool) -> AsyncIterator[None]:
    """Holds the backend's crawl lock; ``wait`` False raises CrawlBusy when another crawl holds it."""
    try:
        conn = await asyncpg.connect(dsn, timeout=30)
    except (OSError, asyncpg.PostgresError) as e:
        raise CrawlerError(f"postgres: cannot take the crawl lock of {backend!r}: {e}") from None
    try:
        if wait:
            await conn.execute("SELECT pg_advisory_lock($1, hashtext($2))", CRAWL_LOCK, backend)
        elif not await conn.fetchval("SELECT pg_try_advisory_lock($1, hashtext($2))", CRAWL_LOCK, backend):
            raise CrawlBusy(f"backend {backend!r}: another crawl is running")
        yield
    finally:
        # Closing the session releases the lock; no explicit unlock can be forgotten.
        await conn.close()
