"""Imports historical accesses (access logs) through the access topic, as an agent publishes them.

``backfill()`` reads each log file (a local path, or one object or a prefix of objects through fsspec),
parses it line by line (crawler/logformats.py), checks each event against the contract the workers apply
(schemas/checks.py: canonical path, no negative amounts), and publishes batches of AccessEvents to the access
topic, keyed by source. Each event carries its ``source`` (``<format>:<file URL>``) and line number, so the
workers apply every (source, line) once however often a file is imported (streams/history.py). A bad line
never stops the import: it is counted and the first few are kept with their line numbers.

Callable as a function (the demo and tests load history with it) and from ``warpdrive backfill``.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from warpdrive.schemas.checks import check_access
from warpdrive.schemas.config import BackendConfig, Config
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import AccessEvent
from warpdrive.schemas.storage import KINDS, kind_of, open_fs
from warpdrive.schemas.topics import ACCESS

from .errors import CrawlerError
from .logformats import FORMATS, PARSERS, UNKNOWN_BACKEND, BadLine, Resolver, Skip, object_url, sniff

SHOWN = 5  # bad lines kept (with their line numbers) for the summary
SNIFF_LINES = 5


class BackfillError(CrawlerError):
    """The import cannot start or continue (no such log, unknown format, Kafka unreachable)."""


@dataclass
class Span:
    first: str
    last: str
    events: int = 0


@dataclass
class Summary:
    """What an import read and did; ``backends``: per backend, the span and count of events (imported, or
    that would be with ``dry_run``)."""

    dry_run: bool = False
    files: int = 0
    lines: int = 0
    imported: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason → lines
    unparseable: int = 0
    bad: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, reason), the first SHOWN
    backends: dict[str, Span] = field(default_factory=dict)
    formats: Counter = field(default_factory=Counter)  # format → files

    @property
    def unknown_backend(self) -> int:
        return self.skipped[UNKNOWN_BACKEND]

    def bad_line(self, file: str, line: int, reason: str) -> None:
        self.unparseable += 1
        if len(self.bad) < SHOWN:
            self.bad.append((file, line, reason))

    def count(self, e: AccessEvent) -> None:
        s = self.backends.get(e.backend_name)
        if s is None:
            s = self.backends[e.backend_name] = Span(e.timestamp, e.timestamp)
        elif e.timestamp < s.first:
            s.first = e.timestamp
        elif e.timestamp > s.last:
            s.last = e.timestamp
        s.events += 1

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "files": self.files, "lines": self.lines, "imported": self.imported,
                "skipped": dict(self.skipped), "unknown_backend": self.unknown_backend,
                "unparseable": self.unparseable, "bad_lines": [list(b) for b in self.bad],
                "formats": dict(self.formats),
                "backends": {n: {"first": s.first, "last": s.last, "events": s.events} for n, s in sorted(self.backends.items())}}


def _fs_for(cfg: Config, url: str, storage_options: dict[str, Any] | None) -> tuple[Any, str, str]:
    """(file system, scheme, path as it names it) of a log location. Object stores take the storage options
    of the configured backend in that bucket, else of any backend of the scheme (same endpoint and
    credentials); ``storage_options`` override them."""
    try:
        scheme, loc = object_url(url)
    except ValueError as e:
        raise BackfillError(str(e)) from None
    if KINDS[scheme].posix:
        path = os.path.abspath(loc)
        return open_fs(BackendConfig("logs", "file://" + path), **(storage_options or {})), scheme, path
    bucket = loc.split("/", 1)[0]
    same = [b for b in cfg.backends if kind_of(b) is KINDS[scheme]]
    mine = [b for b in same if object_url(b.url)[1].split("/", 1)[0] == bucket]
    options = dict((mine or same)[0].storage_options) if (mine or same) else {}
    options.update(storage_options or {})
    return open_fs(BackendConfig("logs", f"{scheme}://{loc}", options)), scheme, loc


def log_files(cfg: Config, location: str, storage_options: dict[str, Any] | None = None) -> list[tuple[Any, str, str]]:
    """Every log file at ``location`` (a file, or a directory / prefix: every file below it, in name order),
    as (file system, path, URL: the file's identity in event sources)."""
    fs, scheme, path = _fs_for(cfg, location, storage_options)
    prefix = f"{scheme}://"  # file:// + an absolute path, or s3:// + bucket/key
    try:
        if fs.isdir(path):
            return [(fs, n, prefix + n) for n in sorted(fs.find(path))]
        if not fs.exists(path):
            raise BackfillError(f"{location}: no such file, directory or prefix")
    except OSError as e:
        raise BackfillError(f"{location}: {e}") from None
    return [(fs, path, prefix + path)]


def _lines(fs: Any, path: str) -> Iterator[str]:
    with fs.open(path, "rt", compression="infer", encoding="utf-8", errors="replace", newline="\n") as f:
        yield from f


def _parse_file(fs: Any, path: str, url: str, fmt: str | None, resolver: Resolver, roots: dict[str, str],
                summary: Summary, batch_size: int) -> Iterator[list[AccessEvent]]:
    """Batches of checked events of one log file (summary counted as it goes)."""
    if fmt is None:
        head: list[str] = []
        for text in _lines(fs, path):
            head.append(text)
            if len(head) >= SNIFF_LINES:
                break
        fmt = sniff(head)
        if fmt is None:
            raise BackfillError(f"{url}: cannot tell the format from its first lines; give --format "
                                f"({', '.join(FORMATS)})")
    summary.files += 1
    summary.formats[fmt] += 1
    parse, source = PARSERS[fmt], f"{fmt}:{url}"
    batch: list[AccessEvent] = []
    for n, text in enumerate(_lines(fs, path), 1):
        if not text.strip():
            continue
        summary.lines += 1
        try:
            e = check_access(parse(text, n, source, resolver), roots)
        except Skip as s:
            summary.skipped[str(s)] += 1
            continue
        except (BadLine, DecodeError) as b:
            summary.bad_line(url, n, str(b))
            continue
        summary.count(e)
        batch.append(e)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


async def backfill(cfg: Config, locations: list[str], fmt: str | None = None, dry_run: bool = False,
                   users: dict[str, str] | None = None, storage_options: dict[str, Any] | None = None,
                   batch_size: int = 500, progress: Callable[[Summary], None] | None = None) -> Summary:
    """Imports the access logs at ``locations`` (``fmt``: one of FORMATS, else sniffed per file); with
    ``dry_run`` publishes nothing and only counts. ``users``: requester → user, over ``[history.users]``.
    Returns the summary; raises BackfillError when a location or Kafka fails (what was sent stays sent:
    importing again adds only the lines not applied yet)."""
    if fmt is not None and fmt not in FORMATS:
        raise BackfillError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    summary = Summary(dry_run=dry_run)
    resolver = Resolver(cfg.backends, {**cfg.history.users, **(users or {})})
    roots = {b.name: b.url for b in cfg.backends}
    files = [f for loc in locations for f in await asyncio.to_thread(log_files, cfg, loc, storage_options)]

    async def each_batch(send: Callable[[str, list[AccessEvent]], Any]) -> None:
        for fs, path, url in files:
            it = _parse_file(fs, path, url, fmt, resolver, roots, summary, batch_size)
            while (batch := await asyncio.to_thread(next, it, None)) is not None:
                await send(batch[0].source or url, batch)
                if progress is not None:
                    progress(summary)

    if dry_run:
        async def count(key: str, batch: list[AccessEvent]) -> None:
            pass

        await each_batch(count)
        return summary
    from .publish import Publisher

    async with Publisher(cfg.kafka) as pub:
        channel = pub.channel()

        async def send(key: str, batch: list[AccessEvent]) -> None:
            await channel.send_batch(ACCESS, key, batch)
            summary.imported += len(batch)

        await each_batch(send)
        await channel.settle()
    return summary
