"""One configured backend as the mount sees it: an fsspec file system behind a metadata cache.

Every fsspec call is blocking (s3fs/gcsfs run their own event loop in a thread), so the async
methods here run them in worker threads under one capacity limit shared by all backends. Stats
and listings are cached for ``metadata_ttl`` seconds; a missing path is cached too (negative entry),
because tools probe many names that do not exist (``.git``, locale files…).
"""

from __future__ import annotations

import posixpath
import time
from typing import Any, Callable, TypeVar

import trio

from warpdrive.schemas.config import BackendConfig
from warpdrive.schemas.storage import DIR, Entry, kind_of

T = TypeVar("T")


class Backend:
    """A backend's file system plus the mount's metadata cache for it (touched only by the trio thread)."""

    def __init__(self, config: BackendConfig, limiter: trio.CapacityLimiter, ttl: float) -> None:
        self.name = config.name
        self.config = config
        self.kind = kind_of(config)
        self.local = self.kind.posix
        # The mount keeps its own TTL cache; fsspec's listing cache would serve stale listings forever.
        self.fs = (self.kind.open_fs(config) if self.local
                   else self.kind.open_fs(config, use_listings_cache=False, skip_instance_cache=True))
        self.root = self.kind.root_path(config)
        self.limiter = limiter
        self.ttl = ttl
        self._stats: dict[str, tuple[float, Entry | None]] = {}
        self._lists: dict[str, tuple[float, dict[str, Entry]]] = {}
        # Object stores have no empty directories: ones made through the mount are remembered until rmdir.
        self.pending_dirs: set[str] = set()

    def full(self, rel: str) -> str:
        if not rel:
            return self.root
        return f"{self.root.rstrip('/')}/{rel}"

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        # Cancelled only when the agent stops with the call still running after its grace period:
        # the thread is left to finish on its own rather than holding the unmount.
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter, abandon_on_cancel=True)

    def cached_stat(self, rel: str) -> Entry | None | bool:
        """The cached entry, None if cached as missing, False if not cached (or expired)."""
        hit = self._stats.get(rel)
        if hit is None or hit[0] < time.monotonic():
            return False
        return hit[1]

    async def stat(self, rel: str) -> Entry:
        if not rel or rel in self.pending_dirs:
            return DIR
        cached = self.cached_stat(rel)
        if cached is None:
            raise FileNotFoundError(rel)
        if cached is not False:
            return cached
        try:
            entry = await self.call(self.kind.stat, self.fs, self.full(rel))
        except FileNotFoundError:
            self._stats[rel] = (time.monotonic() + self.ttl, None)
            raise
        self._stats[rel] = (time.monotonic() + self.ttl, entry)
        return entry

    async def list(self, rel: str) -> dict[str, Entry]:
        hit = self._lists.get(rel)
        if hit is not None and hit[0] >= time.monotonic():
            return hit[1]
        try:
            listed = await self.call(self.kind.list, self.fs, self.full(rel))
        except FileNotFoundError:
            if rel not in self.pending_dirs:
                raise
            listed = []  # a directory made through the mount, still without objects
        expiry = time.monotonic() + self.ttl
        entries: dict[str, Entry] = {}
        for name, entry in listed:
            entries[name] = entry
            self._stats[f"{rel}/{name}" if rel else name] = (expiry, entry)
        prefix = f"{rel}/" if rel else ""
        for d in self.pending_dirs:
            if d.startswith(prefix) and "/" not in d[len(prefix):]:
                entries.setdefault(d[len(prefix):], DIR)
        self._lists[rel] = (expiry, entries)
        return entries

    def invalidate(self, rel: str) -> None:
        """Forgets what is cached about ``rel`` and its parent's listing (after a change through the mount)."""
        self._stats.pop(rel, None)
        self._lists.pop(rel, None)
        self._lists.pop(posixpath.dirname(rel), None)
        if not self.local:
            self.fs.invalidate_cache(self.full(rel))

    def remember(self, rel: str, entry: Entry) -> None:
        self._stats[rel] = (time.monotonic() + self.ttl, entry)
