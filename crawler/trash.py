"""Deletion jobs of marked files: to the trash, back from it, and purging expired trash.

A "trash" job moves each of its files (fixed in ``trash_items`` when the API accepted the job) to
``<trash_prefix>/<expiry>-<job id>/<path>`` on the file's own backend, with the mover's copy, verify and only-then
delete. A file changed since it was marked (modified later, or not the size the job was given) is not moved but
reported in the job's result: the admin reviews it and marks it again. "restore" moves every file of the job's
trash directory back to its path (byte for byte, verified); a path taken again meanwhile is reported, not
overwritten. "purge" removes every trash directory whose expiry (in its name) has passed: on request (a purge job
from the API), and by itself every ``crawler.trash_purge_interval`` seconds (crawler/jobs.py).

The trash directories are self-describing (expiry and job in the name), so purging needs nothing but the stores.
On a local backend, a directory a move empties (the file's own and each parent up to the backend's root) is removed,
except the root and the trash's top directory (``crawler.trash_prefix``: another job may be creating its directory
in it); object stores have no directories to leave behind.
"""

from __future__ import annotations

import asyncio
import logging
import posixpath
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from warpdrive.schemas.config import BackendConfig, Config
from warpdrive.schemas.records import ListingEvent
from warpdrive.schemas.storage import kind_of
from warpdrive.schemas.storage.base import mtime_of
from warpdrive.schemas.trash import expiry_of, trash_root

from .errors import CrawlerError, MoveError
from .local import remove_empty_dirs
from .move import Cancelled, Location, Mover

log = logging.getLogger(__name__)

# Files a result names per outcome (skipped, failed): enough to act on, small enough for one JobEvent.
REPORTED = 100


@dataclass
class Item:
    backend: str
    path: str
    size_bytes: int | None
    marked_at: datetime


@dataclass
class TrashProgress:
    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)  # not moved on purpose: changed, missing, taken
    errors: list[dict[str, Any]] = field(default_factory=list)  # failed: the source is kept

    def as_dict(self) -> dict[str, Any]:
        return {
            "files_total": self.files_total,
            "bytes_total": self.bytes_total,
            "files_done": self.files_done,
            "bytes_done": self.bytes_done,
            "files_skipped": len(self.skipped),
            "errors": len(self.errors),
        }

    def result(self) -> dict[str, Any]:
        return {**self.as_dict(), "skipped": self.skipped[:REPORTED], "failed": self.errors[:REPORTED]}


async def items(dsn: str, job_id: str) -> list[Item]:
    """The job's files, as the API fixed them when it accepted the job."""
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        rows = await conn.fetch(
            "SELECT backend_name, path, size_bytes, marked_at FROM trash_items WHERE job_id = $1 "
            "ORDER BY backend_name, path",
            job_id,
        )
    finally:
        await conn.close()
    return [Item(r["backend_name"], r["path"], r["size_bytes"], r["marked_at"]) for r in rows]


class Trasher:
    """Moves one job's files between their paths and its trash directory, ``concurrency`` files at a time."""

    def __init__(self, cfg: Config, directory: str, cancel: threading.Event) -> None:
        self.cfg, self.directory, self.cancel = cfg, directory, cancel

    async def run(self, todo: list[Item], progress: TrashProgress, restore: bool) -> None:
        progress.files_total = len(todo)
        progress.bytes_total = sum(i.size_bytes or 0 for i in todo)
        sem = asyncio.Semaphore(self.cfg.crawler.move_concurrency)

        async def one(item: Item) -> None:
            async with sem:
                if self.cancel.is_set():
                    return
                try:
                    reason = await asyncio.to_thread(self.move_one, item, restore)
                except Cancelled:
                    return
                except (OSError, CrawlerError) as e:
                    log.warning(
                        "trash %s failed %s:%s error=%s", "restore" if restore else "move", item.backend, item.path, e
                    )
                    progress.errors.append({"backend": item.backend, "path": item.path, "error": str(e)})
                    return
                if reason:
                    progress.skipped.append({"backend": item.backend, "path": item.path, "reason": reason})
                    return
                progress.files_done += 1
                progress.bytes_done += item.size_bytes or 0

        async with asyncio.TaskGroup() as tg:
            for item in todo:
                tg.create_task(one(item))
        if self.cancel.is_set():
            raise Cancelled("cancelled")

    def move_one(self, item: Item, restore: bool) -> str | None:
        """Moves one file (blocking); returns why it was left where it is, or None once it moved."""
        try:
            backend = self.cfg.backend(item.backend)
        except Exception:
            return f"no backend {item.backend!r} in this crawler's configuration"
        home, trashed = Location(backend, item.path), Location(backend, f"{self.directory}/{item.path}")
        src, dst = (trashed, home) if restore else (home, trashed)
        mover = Mover(self.cfg, src, dst, self.cancel)
        mover.src_fs.invalidate_cache(src.full())
        try:
            info = mover.src_fs.info(src.full())
        except FileNotFoundError:
            if item.size_bytes is not None and self.size_of(mover, dst.full()) == item.size_bytes:
                self.tidy(src)
                return None  # moved by an earlier run of this job (a resumed job)
            return "not in the trash" if restore else "no longer exists"
        if info.get("type") != "file":
            return "not a file"
        size = int(info.get("size") or 0)
        if restore:
            if self.exists(mover, dst.full()) and not mover.verified(
                dst.full(), size, mover.src_kind.md5(info), src.full()
            ):
                return "its path holds another file now: left in the trash"
        else:
            if mtime_of(info) > item.marked_at.timestamp():
                return "modified since it was marked"
            if item.size_bytes is not None and size != item.size_bytes:
                return f"size changed since the dry run ({item.size_bytes} -> {size} bytes)"
        ev = ListingEvent("trash", backend.name, src.path, size, etag=mover.src_kind.md5(info))
        mover.move_file(ev)
        self.tidy(src)
        return None

    def tidy(self, moved: Location) -> None:
        """The directories a moved file leaves empty on a local backend, removed (module docstring)."""
        kind = kind_of(moved.backend)
        if kind.posix:
            remove_empty_dirs(kind.root_path(moved.backend), posixpath.dirname(moved.path), keep=trash_root(self.cfg))

    @staticmethod
    def exists(mover: Mover, path: str) -> bool:
        mover.dst_fs.invalidate_cache(path)
        return bool(mover.dst_fs.exists(path))

    @staticmethod
    def size_of(mover: Mover, path: str) -> int | None:
        mover.dst_fs.invalidate_cache(path)
        try:
            return int(mover.dst_fs.info(path).get("size") or 0)
        except FileNotFoundError:
            return None


def common_dir(paths: list[str]) -> str:
    """The deepest directory holding every path ('' = the backend's root): what a crawl re-lists afterwards."""
    dirs = [posixpath.dirname(p) for p in paths]
    return posixpath.commonpath(dirs) if dirs and all(dirs) else ""


def expired(
    cfg: Config, backends: list[BackendConfig], now: datetime, only_job: str | None = None
) -> list[tuple[BackendConfig, str]]:
    """Every trash directory expired at ``now`` (or, with ``only_job``, that job's expired one) on the backends, as
    (backend, directory name). Blocking."""
    out = []
    for backend in backends:
        top = Location(backend, trash_root(cfg))
        fs = kind_of(backend).open_fs(backend)
        fs.invalidate_cache()
        try:
            entries = fs.ls(top.full(), detail=True)
        except FileNotFoundError:
            continue
        for e in entries:
            name = posixpath.basename(str(e["name"]).rstrip("/"))
            expires = expiry_of(name)
            if e.get("type") != "directory" or expires is None or expires > now:
                continue
            if only_job and not name.endswith(f"-{only_job}"):
                continue
            out.append((backend, name))
    return out


def purge(
    cfg: Config, backends: list[BackendConfig], now: datetime, only_job: str | None = None
) -> list[dict[str, Any]]:
    """Removes every trash directory ``expired`` at ``now`` on the backends; returns what went: backend, directory,
    files, bytes. Blocking."""
    out = []
    prefix = trash_root(cfg)
    for backend, name in expired(cfg, backends, now, only_job):
        fs = kind_of(backend).open_fs(backend)
        where = Location(backend, prefix).full(name)
        found = fs.find(where, detail=True)
        files, size = len(found), sum(int(i.get("size") or 0) for i in found.values())
        try:
            fs.rm(where, recursive=True)
        except FileNotFoundError:
            pass  # an object store's "directory" of objects another purge removed meanwhile
        log.info("trash purged backend=%s dir=%s files=%d bytes=%d", backend.name, name, files, size)
        out.append({"backend": backend.name, "directory": f"{prefix}/{name}", "files": files, "bytes": size})
    return out


def check_args(args: dict[str, Any], *keys: str) -> None:
    missing = [k for k in keys if not args.get(k)]
    if missing:
        raise MoveError(f"the job has no {', '.join(missing)}")
