"""One configured backend as the mount sees it: an fsspec file system behind a metadata cache.

Every fsspec call is blocking (s3fs/gcsfs run their own event loop in a thread), so the async
methods here run them in worker threads under one capacity limit shared by all backends. Stats
and listings are cached for ``metadata_ttl`` seconds; a missing path is cached too (negative entry),
because tools probe many names that do not exist (``.git``, locale files…); both caches are bounded
LRUs. Every call has a deadline (``backend_timeout``), so a dead backend costs a caller seconds, not
minutes.
"""

from __future__ import annotations

import os
import posixpath
import time
from collections import OrderedDict
from typing import Any, Callable, Literal, TypeVar

import trio

from warpdrive.schemas.config import BackendConfig
from warpdrive.schemas.storage import DIR, Entry, kind_of

T = TypeVar("T")


class TimedOut(TimeoutError):
    """A backend call that did not answer within the deadline (the caller gets ETIMEDOUT)."""


class Lru(OrderedDict[str, tuple[float, T]]):
    """A bounded map of expiring entries: the least recently used goes first when it is full."""

    def __init__(self, max_entries: int) -> None:
        super().__init__()
        self.max_entries = max_entries

    def fresh(self, key: str) -> tuple[float, T] | None:
        hit = self.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            del self[key]  # an expired entry (a missing name, typically) frees its room at once
            return None
        self.move_to_end(key)
        return hit

    def put(self, key: str, expiry: float, value: T) -> None:
        self[key] = (expiry, value)
        self.move_to_end(key)
        while len(self) > self.max_entries:
            self.popitem(last=False)


MiB = 1 << 20


class Backend:
    """A backend's file system plus the mount's metadata cache for it (touched only by the trio thread)."""

    def __init__(
        self,
        config: BackendConfig,
        limiter: trio.CapacityLimiter,
        ttl: float,
        timeout: float = 30.0,
        max_entries: int = 100_000,
    ) -> None:
        self.name = config.name
        self.config = config
        self.kind = kind_of(config)
        self.local = self.kind.posix
        # The mount keeps its own TTL cache; fsspec's listing cache would serve stale listings forever.
        self.fs = (
            self.kind.open_fs(config)
            if self.local
            else self.kind.open_fs(
                config, use_listings_cache=False, skip_instance_cache=True, **self.kind.bounded_options(config, timeout)
            )
        )
        self.root = self.kind.root_path(config)
        self.limiter = limiter
        self.ttl = ttl
        self.timeout = timeout
        self._stats: Lru[Entry | None] = Lru(max_entries)
        self._lists: Lru[dict[str, Entry]] = Lru(max(1, max_entries // 100))
        # Object stores have no empty directories: ones made through the mount are remembered until rmdir.
        self.pending_dirs: set[str] = set()
        self._root_fd: int | None = None

    @property
    def root_fd(self) -> int:
        """Local backends: an O_PATH fd of the root, beneath which every file is opened (kept open)."""
        if self._root_fd is None:
            self._root_fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        return self._root_fd

    def full(self, rel: str) -> str:
        if not rel:
            return self.root
        return f"{self.root.rstrip('/')}/{rel}"

    async def call(self, fn: Callable[..., T], *args: Any, size: int = 0) -> T:
        """Runs a blocking call in a worker thread, bounded by the deadline (transfers of ``size`` bytes
        get a second more per MiB). A call past it is abandoned: its thread finishes on its own."""
        deadline = self.timeout + size / MiB
        with trio.move_on_after(deadline) as scope:
            return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter, abandon_on_cancel=True)
        assert scope.cancelled_caught
        raise TimedOut(f"backend {self.name} did not answer within {deadline:g} s")

    def cached_stat(self, rel: str) -> Entry | None | Literal[False]:
        """The cached entry, None if cached as missing, False if not cached (or expired)."""
        hit = self._stats.fresh(rel)
        return False if hit is None else hit[1]

    async def stat(self, rel: str, fresh: bool = False) -> Entry:
        """The path's entry, from the cache unless ``fresh`` (an open revalidates: close-to-open)."""
        if rel in self.pending_dirs or (not rel and not self.local):
            return DIR
        if not fresh:
            cached = self.cached_stat(rel)
            if cached is None:
                raise FileNotFoundError(rel)
            if cached is not False:
                return cached
        try:
            entry = await self.call(self.kind.stat, self.fs, self.full(rel))
        except FileNotFoundError:
            self._stats.put(rel, time.monotonic() + self.ttl, None)
            raise
        self.remember(rel, entry)
        return entry

    async def list(self, rel: str) -> dict[str, Entry]:
        hit = self._lists.fresh(rel)
        if hit is not None:
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
            self._stats.put(f"{rel}/{name}" if rel else name, expiry, entry)
        prefix = f"{rel}/" if rel else ""
        for d in self.pending_dirs:
            if d.startswith(prefix) and "/" not in d[len(prefix) :]:
                entries.setdefault(d[len(prefix) :], DIR)
        self._lists.put(rel, expiry, entries)
        return entries

    def invalidate(self, rel: str) -> None:
        """Forgets what is cached about ``rel`` and its parent's listing (after a change through the mount)."""
        self._stats.pop(rel, None)
        self._lists.pop(rel, None)
        self._lists.pop(posixpath.dirname(rel), None)
        self._stats.pop(posixpath.dirname(rel), None)  # its mtime, ctime and links changed too
        if not self.local:
            self.fs.invalidate_cache(self.full(rel))

    def invalidate_tree(self, rel: str) -> None:
        """Forgets ``rel`` and everything cached below it (after a directory rename or removal)."""
        prefix = rel + "/"
        for cache in (self._stats, self._lists):
            for k in [k for k in cache if k.startswith(prefix)]:
                del cache[k]
        self.invalidate(rel)

    def move_pending(self, old: str, new: str) -> None:
        """Directories made through the mount follow a rename of theirs or of an ancestor's."""
        for d in [d for d in self.pending_dirs if d == old or d.startswith(old + "/")]:
            self.pending_dirs.discard(d)
            self.pending_dirs.add(new + d[len(old) :])

    def remember(self, rel: str, entry: Entry) -> None:
        self._stats.put(rel, time.monotonic() + self.ttl, entry)
