"""The on-disk block cache: fixed-size blocks of remote objects, LRU within a byte limit.

A block's key includes the object's version (etag/generation, else mtime+size), so a changed
object maps to new keys and is never served stale; the old blocks age out. One file per block
under ``<dir>/<2 hex>/<sha1>``; the LRU order is rebuilt from file mtimes after a restart.
Used from worker threads, so the index is guarded by a lock (file I/O happens outside it).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

Fetch = Callable[[int, int], bytes]  # (start, end) → the object's bytes in [start, end)


class BlockCache:
    def __init__(self, root: Path, max_bytes: int, block_size: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.block_size = block_size
        self._lock = threading.Lock()
        self._lru: OrderedDict[str, int] = OrderedDict()  # block file name → size, oldest first
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        root.mkdir(parents=True, exist_ok=True)
        found = []
        for sub in root.iterdir():
            if sub.is_dir():
                for f in sub.iterdir():
                    if f.name.endswith(".tmp"):
                        f.unlink(missing_ok=True)  # a write cut short by a crash
                    else:
                        st = f.stat()
                        found.append((st.st_mtime, f.name, st.st_size))
        for _, name, size in sorted(found):
            self._lru[name] = size
            self.bytes += size

    @staticmethod
    def key(backend: str, path: str, version: str, index: int) -> str:
        raw = f"{backend}\0{path}\0{version}\0{index}".encode("utf-8", "surrogateescape")
        return hashlib.sha1(raw).hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / key

    def _get(self, key: str, offset: int, length: int) -> bytes | None:
        with self._lock:
            if key not in self._lru:
                return None
            self._lru.move_to_end(key)
        try:
            with open(self._file(key), "rb") as f:
                return os.pread(f.fileno(), length, offset)
        except FileNotFoundError:  # evicted between the index check and the open
            with self._lock:
                self.bytes -= self._lru.pop(key, 0)
            return None

    def _put(self, key: str, data: bytes) -> None:
        path = self._file(key)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f"{key}.{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        evict: list[str] = []
        with self._lock:
            self.bytes += len(data) - self._lru.pop(key, 0)
            self._lru[key] = len(data)
            while self.bytes > self.max_bytes and len(self._lru) > 1:
                old, size = self._lru.popitem(last=False)
                self.bytes -= size
                evict.append(old)
        for old in evict:
            self._file(old).unlink(missing_ok=True)

    def contains(self, key: str) -> bool:
        with self._lock:
            return key in self._lru

    def read(
        self,
        backend: str,
        path: str,
        version: str,
        size: int,
        offset: int,
        length: int,
        fetch: Fetch,
        memo: dict[int, bytes],
    ) -> tuple[bytes, bool]:
        """Bytes [offset, offset+length) of the object, and whether every block came from the cache.

        ``memo`` is the caller's (one open handle's) last fetched block, so sequential small reads
        of a block just fetched do not go back to disk.
        """
        end = min(offset + length, size)
        if offset >= end:
            return b"", True
        bs = self.block_size
        parts: list[bytes] = []
        hit = True
        for index in range(offset // bs, (end - 1) // bs + 1):
            lo, hi = max(offset, index * bs) - index * bs, min(end, (index + 1) * bs) - index * bs
            if index in memo:
                parts.append(memo[index][lo:hi])
                hit = False  # fetched from the backend by this handle
                continue
            key = self.key(backend, path, version, index)
            data = self._get(key, lo, hi - lo)
            if data is not None and len(data) == hi - lo:
                self.hits += 1
                parts.append(data)
                continue
            self.misses += 1
            hit = False
            block = fetch(index * bs, min(size, (index + 1) * bs))
            self._put(key, block)
            memo.clear()
            memo[index] = block
            parts.append(block[lo:hi])
        return b"".join(parts), hit

    def prefetch(self, backend: str, path: str, version: str, size: int, fetch: Fetch) -> int:
        """Loads every missing block of one object; returns the bytes fetched."""
        fetched = 0
        bs = self.block_size
        for index in range((size + bs - 1) // bs):
            key = self.key(backend, path, version, index)
            if not self.contains(key):
                block = fetch(index * bs, min(size, (index + 1) * bs))
                self._put(key, block)
                fetched += len(block)
        return fetched

    def stats(self) -> dict[str, float]:
        total = self.hits + self.misses
        return {
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            "blocks": len(self._lru),
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / total, 4) if total else 0.0,
        }
