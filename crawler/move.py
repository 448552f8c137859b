"""Moving a file or a prefix between backends: copy, verify, and only then delete the source.

Each file is streamed from the source to the destination in chunks while its MD5 is computed.
Verification compares the destination's size and MD5 with the bytes read: the destination's own
MD5 when the store keeps one (single-part S3 ETag, GCS md5Hash), else the destination is read back
and hashed. The source's own MD5 (when its store keeps one) must match the bytes read too, so a
source changed mid-copy is never deleted. The source is deleted only after that verification.

Resumable: a destination file that already has the source's size and MD5 is not copied again, so
a move interrupted anywhere (kill -9 included) is finished by running it again. A half-written
destination never passes for a copy: object stores only show an upload once it is committed (an
interrupted one is discarded), and local files are written under a temporary name and renamed.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import os
import threading
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from warpdrive.schemas.config import BackendConfig, Config
from warpdrive.schemas.records import ListingEvent
from warpdrive.schemas.storage import MD5_HEX, kind_of
from warpdrive.schemas.trash import trash_root

from .crawl import listing
from .errors import CrawlerError, MoveError, VerifyError
from .local import WalkStats

log = logging.getLogger(__name__)

CHUNK = 8 << 20


class Cancelled(CrawlerError):
    """The job was cancelled between two chunks."""


@dataclass(frozen=True)
class Location:
    backend: BackendConfig
    path: str  # relative to the backend's root, no leading or trailing '/'

    def full(self, rel: str = "") -> str:
        """The file system path of ``rel`` (relative to this location) as fsspec names it."""
        kind = kind_of(self.backend)
        parts = [p for p in (kind.root_path(self.backend).rstrip("/"), self.path, rel) if p]
        joined = "/".join(parts)
        return joined if not kind.posix or joined.startswith("/") else "/" + joined

    def __str__(self) -> str:
        return f"{self.backend.name}:{self.path}"


def parse_location(cfg: Config, spec: str) -> Location:
    """``backend:path`` → Location; raises MoveError with a one-line reason."""
    name, sep, path = str(spec).partition(":")
    if not sep or not name:
        raise MoveError(f"{spec!r}: expected BACKEND:PATH")
    try:
        backend = cfg.backend(name)
    except Exception as e:
        raise MoveError(str(e)) from None
    path = path.strip("/")
    if any(p in (".", "..") for p in path.split("/")):
        raise MoveError(f"{spec!r}: '.' and '..' are not allowed in paths")
    return Location(backend, path)


def move_locations(cfg: Config, args: dict[str, Any]) -> tuple[Location, Location]:
    """The source and destination of a move command. Two spellings are accepted: ``src``/``dst`` as
    ``backend:path``, or the API's ``backend``, ``path``, ``dest_backend``, ``dest_path`` (default: the
    same path)."""
    if "src" in args or "dst" in args:
        return parse_location(cfg, str(args.get("src", ""))), parse_location(cfg, str(args.get("dst", "")))
    path = str(args.get("path") or "")
    return (
        parse_location(cfg, f"{args.get('backend') or ''}:{path}"),
        parse_location(cfg, f"{args.get('dest_backend') or ''}:{args.get('dest_path') or path}"),
    )


@dataclass
class MoveProgress:
    files_total: int = 0
    bytes_total: int = 0
    files_done: int = 0
    bytes_done: int = 0
    files_skipped: int = 0  # already at the destination, verified
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "files_total": self.files_total,
            "bytes_total": self.bytes_total,
            "files_done": self.files_done,
            "bytes_done": self.bytes_done,
            "files_skipped": self.files_skipped,
            "errors": len(self.errors),
        }


class Mover:
    def __init__(self, cfg: Config, src: Location, dst: Location, cancel: threading.Event) -> None:
        if src.backend.name == dst.backend.name and (
            dst.path == src.path or dst.path.startswith(src.path + "/") or not src.path
        ):
            raise MoveError(f"{dst} is inside {src}")
        self.cfg, self.src, self.dst, self.cancel = cfg, src, dst, cancel
        self.src_kind, self.dst_kind = kind_of(src.backend), kind_of(dst.backend)
        self.src_fs, self.dst_fs = self.src_kind.open_fs(src.backend), self.dst_kind.open_fs(dst.backend)

    def rel(self, ev: ListingEvent) -> str:
        """The listed file's path relative to the moved prefix ('' when the source is one file)."""
        return ev.path[len(self.src.path) :].lstrip("/") if self.src.path else ev.path

    async def files(self, stats: WalkStats):
        async for batch in listing(
            self.src.backend,
            self.src.path,
            "move",
            self.cfg.crawler.batch_size,
            self.cfg.crawler.list_concurrency,
            stats,
            trash_root(self.cfg),
        ):
            yield batch

    def dest(self, ev: ListingEvent) -> str:
        """Where a listed file goes, relative to the destination backend's root."""
        return "/".join(p for p in (self.dst.path, self.rel(ev)) if p)

    async def plan(self, progress: MoveProgress, keep: int = 0) -> list[ListingEvent]:
        """Counts what would move, updating ``progress`` as the listing goes; returns the ``keep``
        biggest files (biggest first, then by path): what a dry run shows. A streamed pass: the file
        list is never held whole, only the ``keep`` biggest so far."""
        stats = WalkStats()
        biggest: list[ListingEvent] = []
        async for batch in self.files(stats):
            progress.files_total += len(batch)
            progress.bytes_total += sum(e.size_bytes for e in batch)
            if keep:
                biggest = heapq.nlargest(keep, [*biggest, *batch], key=lambda e: e.size_bytes)
        if stats.errors:
            raise MoveError(f"cannot list {self.src}: {stats.error_samples[0]}")
        if not progress.files_total and not await self.arrived():
            raise MoveError(f"{self.src}: no such file or prefix")
        return sorted(biggest, key=lambda e: (-e.size_bytes, e.path))

    async def arrived(self) -> bool:
        """Whether the destination already holds files: a move run again after it finished (a
        replayed command) then finds nothing left to do, and that is success, not an error."""
        async with aclosing(
            listing(self.dst.backend, self.dst.path, "move", 1, 1, WalkStats(), trash_root(self.cfg))
        ) as files:
            async for _ in files:
                return True
        return False

    async def run(self, progress: MoveProgress) -> None:
        """Moves every file; files that fail are recorded in progress.errors (their sources kept)."""
        stats = WalkStats()
        sem = asyncio.Semaphore(self.cfg.crawler.move_concurrency)

        async def one(ev: ListingEvent) -> None:
            async with sem:
                if self.cancel.is_set():
                    return
                try:
                    copied = await asyncio.to_thread(self.move_file, ev)
                except Cancelled:
                    return
                except (OSError, MoveError) as e:
                    log.warning("move failed src=%s/%s error=%s", self.src, self.rel(ev), e)
                    progress.errors.append(f"{ev.path}: {e}")
                    return
                progress.files_done += 1
                progress.bytes_done += ev.size_bytes
                progress.files_skipped += not copied

        async for batch in self.files(stats):
            async with asyncio.TaskGroup() as tg:
                for ev in batch:
                    tg.create_task(one(ev))
            if self.cancel.is_set():
                raise Cancelled("cancelled")
        if stats.errors:
            progress.errors.extend(stats.error_samples)

    # --- blocking, per file, in a worker thread ---------------------------------------------------

    def move_file(self, ev: ListingEvent) -> bool:
        """Copies (unless already there), verifies, deletes the source. Returns whether it copied."""
        rel = self.rel(ev)
        src, dst = self.src.full(rel), self.dst.full(rel)
        src_md5 = ev.etag if ev.etag and MD5_HEX.fullmatch(ev.etag) else None
        copied = False
        if not self.verified(dst, ev.size_bytes, src_md5, src):
            md5 = self.copy(src, dst)
            if src_md5 and md5 != src_md5:
                raise VerifyError(f"source changed while copying (md5 {md5} != {src_md5})")
            if not self.verified(dst, ev.size_bytes, md5, src):
                raise VerifyError(f"destination {dst} does not match the source after copying")
            copied = True
        self.src_fs.rm_file(src)
        return copied

    def verified(self, dst: str, size: int, md5: str | None, src: str) -> bool:
        """Whether ``dst`` exists with the source's size and MD5 (hashing what the stores don't keep)."""
        self.dst_fs.invalidate_cache(dst)
        try:
            info = self.dst_fs.info(dst)
        except FileNotFoundError:
            return False
        if info.get("type") != "file" or int(info.get("size") or 0) != size:
            return False
        dst_md5 = self.dst_kind.md5(info) or self.hash(self.dst_fs, dst)
        return dst_md5 == (md5 or self.hash(self.src_fs, src))

    def hash(self, fs: Any, path: str) -> str:
        h = hashlib.md5()
        with fs.open(path, "rb", block_size=CHUNK) as f:
            while chunk := f.read(CHUNK):
                if self.cancel.is_set():
                    raise Cancelled("cancelled")
                h.update(chunk)
        return h.hexdigest()

    def copy(self, src: str, dst: str) -> str:
        """Streams src to dst; returns the MD5 of the bytes copied. Nothing is committed on failure."""
        h = hashlib.md5()
        local = self.dst_kind.posix
        target = f"{dst}.wd-partial" if local else dst
        if local:
            os.makedirs(os.path.dirname(dst), exist_ok=True)
        # An fsspec file (remote, discardable) or the OS's (local, renamed into place once complete).
        out: Any = self.dst_fs.open(target, "wb", block_size=CHUNK) if not local else open(target, "wb")
        try:
            with self.src_fs.open(src, "rb", block_size=CHUNK) as f:
                while chunk := f.read(CHUNK):
                    if self.cancel.is_set():
                        raise Cancelled("cancelled")
                    h.update(chunk)
                    out.write(chunk)
        except BaseException:
            if local:
                out.close()
                os.unlink(target)
            else:
                out.discard()  # abort the upload: an interrupted copy never appears at the destination
                # fsspec's __del__ would otherwise close() the file, which commits what was buffered.
                out.closed = True
            raise
        out.close()
        if local:
            os.replace(target, dst)
        return h.hexdigest()
