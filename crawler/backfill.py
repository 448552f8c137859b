"""Imports historical accesses (access logs) through the access topic, applied as agents' events are.

``backfill()`` reads each log file (a local path, or one object or a prefix of objects through fsspec),
parses it line by line (crawler/logformats.py), checks each event against the contract the workers apply
(schemas/checks.py: canonical path, no negative amounts), folds every ``batch_size`` events into one AccessBlock
(schemas/aggregate.py: the rows they change, their runs of lines, each line's own event) and publishes the blocks
to the access topic, keyed by source (``<format>:<file URL>``), so the workers apply every (source, line) once
however often a file is imported (streams/history.py). A bad line
never stops the import: it is counted and the first few are kept with their line numbers.

Callable as a function (the demo and tests load history with it) and from ``warpdrive backfill``.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import threading
from collections import Counter, deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Awaitable, Callable, Iterator

from warpdrive.schemas.aggregate import block_of
from warpdrive.schemas.checks import check_access
from warpdrive.schemas.config import BackendConfig, Config
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import AccessBlock, AccessFields, encode_batch
from warpdrive.schemas.stale import holes
from warpdrive.schemas.storage import KINDS, kind_of, open_fs
from warpdrive.schemas.topics import ACCESS

from .errors import CrawlerError
from .logformats import FORMATS, PARSERS, UNKNOWN_BACKEND, BadLine, Resolver, Skip, object_url, sniff

SHOWN = 5  # bad lines kept (with their line numbers) for the summary
SNIFF_LINES = 5
# Events per Kafka message, folded into one AccessBlock (schemas/aggregate.py): the more lines a block folds, the
# fewer rows the workers apply per event; ≤ ~150 B per event even unfolded (its row, its line).
BATCH = 4000
MAX_MESSAGE = 900_000  # bytes: under the broker's default 1 MiB message.max.bytes
CHUNK = 4 << 20  # bytes of log lines handed to a parser at a time (~10,000 JSON lines)
AHEAD = 16  # encoded messages the parsing thread may run ahead of the sender
PRODUCER_BATCH = (
    1_000_000  # bytes of messages aiokafka packs into one record batch: under the broker's 1 MiB message.max.bytes
)


class BackfillError(CrawlerError):
    """The import cannot start or continue (no such log, unknown format, Kafka unreachable)."""


@dataclass
class Span:
    first: str
    last: str
    events: int = 0
    days: set[str] = field(default_factory=set)  # UTC days with at least one event

    def gaps(self) -> list[tuple[str, str, int]]:
        """(first, last, days) of each hole between days with events (schemas/stale.py: the rule coverage applies):
        missing logs, most likely; the backend's coverage does not count what lies before one."""
        return [
            (a.isoformat(), b.isoformat(), (b - a).days + 1)
            for a, b in holes((d, d) for d in map(date.fromisoformat, self.days))
        ]


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

    def count(self, block: AccessBlock) -> None:
        """Counts a block's events per backend (its coverage, and the days of its rows)."""
        days: dict[str, set[str]] = {}
        for b, _, _, d, *_ in block.rows:
            days.setdefault(b, set()).add(d)
        self.merge_spans({b: Span(first, last, n, days[b]) for b, first, last, n in block.coverage})

    def merge(self, part: "Summary") -> None:
        """Adds what a chunk of lines counted (chunks merged in file order keep the first bad lines first)."""
        self.lines += part.lines
        self.skipped.update(part.skipped)
        self.unparseable += part.unparseable
        self.bad.extend(part.bad[: SHOWN - len(self.bad)])
        self.merge_spans(part.backends)

    def merge_spans(self, spans: dict[str, Span]) -> None:
        for name, p in spans.items():
            s = self.backends.get(name)
            if s is None:
                self.backends[name] = Span(p.first, p.last, p.events, set(p.days))
            else:
                s.first, s.last, s.events = min(s.first, p.first), max(s.last, p.last), s.events + p.events
                s.days |= p.days

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "files": self.files,
            "lines": self.lines,
            "imported": self.imported,
            "skipped": dict(self.skipped),
            "unknown_backend": self.unknown_backend,
            "unparseable": self.unparseable,
            "bad_lines": [list(b) for b in self.bad],
            "formats": dict(self.formats),
            "backends": {
                n: {"first": s.first, "last": s.last, "events": s.events, "gaps": [list(g) for g in s.gaps()]}
                for n, s in sorted(self.backends.items())
            },
        }


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


def _blocks(fs: Any, path: str) -> Iterator[bytes]:
    """The file (decompressed by its name: .gz, .bz2, …) in blocks of whole lines of about CHUNK bytes."""
    with fs.open(path, "rb", compression="infer") as f:
        rest = b""
        while block := f.read(CHUNK):
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut:
                rest = block[cut:]
                yield block[:cut]
            else:
                rest = block
        if rest:
            yield rest


def _chunks(
    files: list[tuple[Any, str, str]], fmt: str | None, summary: Summary
) -> Iterator[tuple[str, str, int, bytes]]:
    """(format, file URL, number of the block's first line, block of lines) of every file in turn (the format
    sniffed per file from its first block unless given; files and formats counted). Only bytes are handled here:
    splitting into lines and decoding is the parsers' work, wherever they run."""
    for fs, path, url in files:
        first, blocks = 1, _blocks(fs, path)
        head = next(blocks, b"")
        this = fmt or sniff(head[: 1 << 16].decode("utf-8", "replace").split("\n")[:SNIFF_LINES])
        if this is None:
            raise BackfillError(
                f"{url}: cannot tell the format from its first lines; give --format ({', '.join(FORMATS)})"
            )
        summary.files += 1
        summary.formats[this] += 1
        for block in itertools.chain((head,), blocks):
            yield this, url, first, block
            first += block.count(b"\n")


def parse_chunk(
    fmt: str, url: str, first: int, block: bytes, resolver: Resolver, roots: dict[str, str], batch_size: int
) -> tuple[list[tuple[str, bytes, int]], Summary]:
    """Lines ``first``… of one log file → (key, encoded batch message, events) and what was counted: the CPU-bound
    part of an import, run in the parsing thread or in worker processes (``jobs``)."""
    summary = Summary()
    parse, source = PARSERS[fmt], f"{fmt}:{url}"
    batch: list[AccessFields] = []
    for n, text in enumerate(block.decode("utf-8", "replace").split("\n"), first):
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
        batch.append(e)
    out: list[tuple[str, bytes, int]] = []
    for i in range(0, len(batch), batch_size):
        _encode_blocks(source, batch[i : i + batch_size], out, summary)
    return out, summary


def _encode_blocks(
    source: str, events: list[AccessFields], out: list[tuple[str, bytes, int]], summary: Summary
) -> None:
    """``events`` as one block message, or halved until each fits in a Kafka message (long paths)."""
    block = block_of(source, events)
    value = encode_batch([block])
    if len(value) <= MAX_MESSAGE or len(events) == 1:
        out.append((source, value, len(events)))
        summary.count(block)
        return
    half = len(events) // 2
    _encode_blocks(source, events[:half], out, summary)
    _encode_blocks(source, events[half:], out, summary)


_context: tuple[Resolver, dict[str, str]] | None = None  # a worker process's resolver and roots


def _init_worker(resolver: Resolver, roots: dict[str, str]) -> None:
    global _context
    _context = (resolver, roots)


def _parse_in_worker(
    fmt: str, url: str, first: int, block: bytes, batch_size: int
) -> tuple[list[tuple[str, bytes, int]], Summary]:
    assert _context is not None
    return parse_chunk(fmt, url, first, block, *_context, batch_size)


def _result(f: Future[Any]) -> Any:
    try:
        return f.result()
    except BrokenProcessPool as e:
        raise BackfillError(
            f"a parsing process died ({e}); importing again adds only the lines not applied yet"
        ) from None


def _messages(
    files: list[tuple[Any, str, str]],
    fmt: str | None,
    resolver: Resolver,
    roots: dict[str, str],
    summary: Summary,
    batch_size: int,
    jobs: int,
) -> Iterator[tuple[str, bytes, int]]:
    """(key, encoded batch message, events) of every file in order. With ``jobs`` > 1, chunks of lines are
    parsed, checked and encoded by that many worker processes (results taken in order; at most 2 per
    worker ahead), the reading stays here."""
    chunks = _chunks(files, fmt, summary)
    if jobs <= 1:
        for fmt_, url, first, block in chunks:
            out, part = parse_chunk(fmt_, url, first, block, resolver, roots, batch_size)
            summary.merge(part)
            yield from out
        return
    ctx = multiprocessing.get_context("spawn")  # never fork a process that runs threads
    with ProcessPoolExecutor(jobs, ctx, initializer=_init_worker, initargs=(resolver, roots)) as pool:
        ahead: deque[Future[tuple[list[tuple[str, bytes, int]], Summary]]] = deque()
        try:
            for fmt_, url, first, block in chunks:
                ahead.append(pool.submit(_parse_in_worker, fmt_, url, first, block, batch_size))
                while len(ahead) > 2 * jobs or (ahead and ahead[0].done()):
                    out, part = _result(ahead.popleft())
                    summary.merge(part)
                    yield from out
            while ahead:
                out, part = _result(ahead.popleft())
                summary.merge(part)
                yield from out
        finally:
            for f in ahead:
                f.cancel()


_END = object()


async def _in_thread(it: Iterator[Any], consume: Callable[[Any], Awaitable[None]]) -> None:
    """Runs ``it`` in its own thread, ``consume`` awaiting each item on the event loop, so parsing and encoding
    the next messages overlap with sending the last ones; at most ``AHEAD`` items wait between the two."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    room = threading.Semaphore(AHEAD)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in it:
                room.acquire()
                if stop.is_set():
                    return
                loop.call_soon_threadsafe(queue.put_nowait, item)
            loop.call_soon_threadsafe(queue.put_nowait, _END)
        except BaseException as e:  # handed to the loop, raised there
            loop.call_soon_threadsafe(queue.put_nowait, e)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator stopped early still shuts its worker processes down

    thread = threading.Thread(target=run, name="backfill-parse", daemon=True)
    thread.start()
    try:
        while (item := await queue.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            room.release()
            await consume(item)
    finally:
        stop.set()
        room.release()
        await asyncio.to_thread(thread.join)


async def backfill(
    cfg: Config,
    locations: list[str],
    fmt: str | None = None,
    dry_run: bool = False,
    users: dict[str, str] | None = None,
    storage_options: dict[str, Any] | None = None,
    batch_size: int = BATCH,
    progress: Callable[[Summary], None] | None = None,
    jobs: int = 1,
) -> Summary:
    """Imports the access logs at ``locations`` (``fmt``: one of FORMATS, else sniffed per file); with
    ``dry_run`` publishes nothing and only counts. ``users``: requester → user, over ``[history.users]``.
    Returns the summary; raises BackfillError when a location or Kafka fails (what was sent stays sent:
    importing again adds only the lines not applied yet). ``jobs``: processes parsing in parallel."""
    if fmt is not None and fmt not in FORMATS:
        raise BackfillError(f"format {fmt!r}: use one of {', '.join(FORMATS)}")
    summary = Summary(dry_run=dry_run)
    resolver = Resolver(cfg.backends, {**cfg.history.users, **(users or {})})
    roots = {b.name: b.url for b in cfg.backends}
    files = [f for loc in locations for f in await asyncio.to_thread(log_files, cfg, loc, storage_options)]
    messages = _messages(files, fmt, resolver, roots, summary, batch_size, jobs)

    if dry_run:

        async def count(item: tuple[str, bytes, int]) -> None:
            if progress is not None:
                progress(summary)

        await _in_thread(messages, count)
        return summary
    from .publish import Publisher

    async with Publisher(cfg.kafka, max_batch_size=PRODUCER_BATCH) as pub:
        channel = pub.channel()

        async def send(item: tuple[str, bytes, int]) -> None:
            key, value, n = item
            await channel.send(ACCESS, key, value)
            summary.imported += n
            if progress is not None:
                progress(summary)

        await _in_thread(messages, send)
        await channel.settle()
    return summary
