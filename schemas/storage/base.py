"""What every store kind provides: the interface (``StoreKind``), and the types it speaks in.

A store kind is one module of this package (local.py, s3.py, gcs.py…) holding one ``StoreKind``
subclass, registered by URL scheme in ``__init__.py``. Agent, crawler and mover reach a backend's
storage only through it: opening its fsspec file system, naming its root, turning the store's
metadata into an ``Entry``, the checksum it keeps, ranged reads pinned to a version, and the
crawler's page-by-page object listing.
"""

from __future__ import annotations

import errno
import re
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, AsyncIterator, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from ..config import BackendConfig
    from ..records import ListingEvent


# A content MD5 as hex: what single-part S3 ETags and GCS md5Hash (decoded) are, and what the mover compares.
MD5_HEX = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Entry:
    """What the mount needs to know about one path."""

    is_dir: bool
    size: int = 0
    mtime: float = 0.0
    # Changes whenever the content may have: S3 ETag, GCS generation, local size+mtime+ctime+inode.
    version: str = ""
    uid: int | None = None
    gid: int | None = None
    mode: int | None = None  # permission bits where the backend has them (POSIX); None = object store
    # POSIX kinds only (None on object stores): (atime, mtime, ctime) in ns and the link count, which the
    # mount reports as they are (pjdfstest checks ctime updates, a directory's links, an unlinked file's 0).
    times_ns: tuple[int, int, int] | None = None
    nlink: int | None = None


DIR = Entry(is_dir=True)


class VersionChanged(OSError):
    """The object is no longer the version a pinned read asked for (changed or deleted): ESTALE."""

    def __init__(self, path: str, version: str, now: str | None = None) -> None:
        what = f"now {now}" if now else "changed or deleted"
        super().__init__(errno.ESTALE, f"{path}: no longer version {version} ({what})")
        self.path, self.version, self.now = path, version, now


@dataclass
class Page:
    """One page of an object listing."""

    keys: list[dict[str, Any]]  # raw object records of the store
    prefixes: list[str]  # sub-prefixes (delimiter listings only), each ending in '/'


class Lister:
    """One bucket of one object store, listed page by page by the crawler (async file system)."""

    def __init__(self, fs: Any, bucket: str) -> None:
        self.fs, self.bucket = fs, bucket

    def pages(self, prefix: str, delimiter: str, single: bool = False) -> AsyncIterator[Page]:
        """Pages of the listing of ``prefix`` in key order; ``single``: only the first key at or after it."""
        raise NotImplementedError

    def name(self, obj: dict[str, Any]) -> str:
        """The object's key."""
        raise NotImplementedError

    def event(self, obj: dict[str, Any], rel: str, crawl_id: str, backend: str) -> ListingEvent:
        """The object as a ListingEvent at ``rel`` (its path relative to the backend's root)."""
        raise NotImplementedError


def mtime_of(info: dict[str, Any]) -> float:
    """Seconds since the epoch from whichever modification-time field the store reports."""
    for key in ("mtime", "LastModified", "updated", "last_modified"):
        v = info.get(key)
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, datetime):
            return v.timestamp()
        if isinstance(v, str):
            try:
                return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


class StoreKind:
    """One kind of store (local/NFS, S3, GCS…): stateless, one instance registered per kind."""

    label: ClassVar[str]  # for messages: "S3"
    schemes: ClassVar[tuple[str, ...]]  # URL schemes it serves; the first is fsspec's protocol
    # A POSIX tree: files are read and written in place through os.*, and the crawler walks it.
    posix: ClassVar[bool] = False

    @property
    def protocol(self) -> str:
        return self.schemes[0]

    # -- configuration ---------------------------------------------------------------------------

    def check_url(self, url: str) -> str | None:
        """What is wrong with a backend URL of this kind (for the config error), or None."""
        return None if urlsplit(url).netloc else f"{url!r} names no bucket"

    def root_path(self, backend: BackendConfig) -> str:
        """The backend's root as the file system names it: ``/data/x`` or ``bucket/prefix`` (no trailing /)."""
        parts = urlsplit(backend.url)
        return (parts.netloc + parts.path).rstrip("/")

    def open_fs(self, backend: BackendConfig, **overrides: Any) -> Any:
        """An fsspec file system for the backend (cached per options by fsspec itself)."""
        import fsspec

        return fsspec.filesystem(self.protocol, **self.options(backend, overrides))

    def options(self, backend: BackendConfig, overrides: dict[str, Any]) -> dict[str, Any]:
        """The fsspec options of the backend; kinds add their quirks here."""
        return {**backend.storage_options, **overrides}

    def bounded_options(self, backend: BackendConfig, timeout: float) -> dict[str, Any]:
        """fsspec options that keep the client's own timeouts and retries within a ``timeout`` deadline
        per call (the mount abandons a call at its deadline; its thread should end soon after)."""
        return {}

    # -- metadata --------------------------------------------------------------------------------

    def entry(self, info: dict[str, Any]) -> Entry:
        """An fsspec info/listing dict as an Entry."""
        if info.get("type") == "directory":
            return DIR
        size = int(info.get("size") or 0)
        mtime = mtime_of(info)
        return Entry(False, size, mtime, self.version(info) or f"{mtime:.6f}-{size}")

    def version(self, info: dict[str, Any]) -> str | None:
        """The store's version of the object's content (None: it keeps none)."""
        return None

    def stat(self, fs: Any, path: str) -> Entry:
        """The entry at ``path`` (blocking; FileNotFoundError if there is none)."""
        return self.entry(fs.info(path))

    def list(self, fs: Any, path: str) -> list[tuple[str, Entry]]:
        """(name, entry) of each child of the directory ``path`` (blocking), the directory itself excluded."""
        full = path.rstrip("/")
        out = []
        for info in fs.ls(full, detail=True):
            name = str(info["name"]).rstrip("/")
            base = name.rsplit("/", 1)[-1]
            if base and name != full:  # some stores list the directory itself
                out.append((base, self.entry(info)))
        return out

    def md5(self, info: dict[str, Any]) -> str | None:
        """The MD5 (hex) the store keeps for the object's content, or None (the mover then hashes)."""
        return None

    # -- reads -----------------------------------------------------------------------------------

    def read_range(self, fs: Any, path: str, start: int, end: int, version: str) -> bytes:
        """Bytes [start, end) of ``path`` exactly as of ``version``; VersionChanged if it is no longer that."""
        raise NotImplementedError

    def read_versioned(self, fs: Any, path: str, start: int, end: int) -> tuple[bytes, str | None]:
        """Bytes [start, end) of the current object and the version they belong to, as the store
        reported it with the response (None: it reported none, so the caller must pin with read_range)."""
        raise NotImplementedError

    # -- crawler listing -------------------------------------------------------------------------

    def lister(self, fs: Any, bucket: str) -> Lister:
        raise NotImplementedError(f"{self.label} backends are walked, not listed by pages")

    async def open_session(self, fs: Any) -> None:
        """Opens the async file system's session (so close_session can end it)."""

    async def close_session(self, fs: Any) -> None:
        """Closes the async file system's connection pool (a long-running crawler must not leak one per crawl)."""

    @asynccontextmanager
    async def open_lister(self, backend: BackendConfig) -> AsyncIterator[tuple[Lister, str]]:
        """A Lister of the backend's bucket, its session closed on exit; yields the lister and the
        backend's key prefix ('' or ending in '/')."""
        fs = self.open_fs(backend, asynchronous=True, skip_instance_cache=True)
        bucket, base = self.bucket_and_base(backend)
        await self.open_session(fs)
        try:
            yield self.lister(fs, bucket), base
        finally:
            await self.close_session(fs)

    def bucket_and_base(self, backend: BackendConfig) -> tuple[str, str]:
        """The backend's bucket and its key prefix within it ('' or ending in '/')."""
        bucket, _, key = self.root_path(backend).partition("/")
        return bucket, (key.strip("/") + "/" if key.strip("/") else "")
