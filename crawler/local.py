"""The local/NFS fast path: an os.scandir walk that yields ListingEvents in batches.

fsspec's local ``find(detail=True)`` builds a dict per file and runs at a third of a plain scandir
walk, so local backends are walked directly. The walk is a generator over an explicit stack of
directories: memory holds one directory's entries and the pending directory names, never the tree.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import stat
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from warpdrive.schemas.records import ListingEvent
from warpdrive.schemas.trash import in_trash

log = logging.getLogger(__name__)


@dataclass
class WalkStats:
    """What the walk could not list; any error makes the crawl partial."""

    errors: int = 0
    vanished: int = 0
    error_samples: list[str] = field(default_factory=list)

    def error(self, where: str, e: OSError) -> None:
        self.errors += 1
        log.warning("listing error path=%r error=%r", where, e.strerror or str(e))
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{where}: {e.strerror or e}")


def time_formatter() -> Callable[[int], str]:
    """RFC 3339 UTC from nanosecond timestamps, truncated to microseconds (PostgreSQL's precision).

    Files of one tree share few distinct seconds, so the date-and-time part is cached per second:
    several times cheaper than datetime.fromtimestamp().isoformat() per file (a plain closure, as
    this runs twice per file on the crawler's hottest path).
    """
    last_sec, head = -1, ""

    def fmt(ns: int) -> str:
        nonlocal last_sec, head
        sec = ns // 1_000_000_000
        if sec != last_sec:
            last_sec, head = sec, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(sec))
        return f"{head}{ns // 1000 % 1_000_000:06d}Z"

    return fmt


user_names: dict[int, str | None] = {}


def user_name(uid: int) -> str | None:
    """The passwd name of a uid (None if it has none), remembered: a tree has few distinct owners."""
    try:
        name: str | None = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = None
    user_names[uid] = name
    return name


def walk(
    root: str, prefix: str, crawl_id: str, backend: str, batch_size: int, stats: WalkStats, skip: str
) -> Iterator[list[ListingEvent]]:
    """Yields batches of ListingEvents for every regular file at or under ``root/prefix``, except in the directory
    ``skip`` (relative to ``root``; '' = none), which is not entered.

    Paths are relative to ``root`` with '/' separators. Symlinks are not followed and are not files
    (their targets are indexed where they live). A directory that cannot be read is counted as an
    error and skipped; an entry that vanished between readdir and stat is counted as vanished, not
    as an error: it no longer exists, so leaving it out is the truth, and deletions stay safe.
    """
    mtime_fmt, atime_fmt = time_formatter(), time_formatter()
    user_names.clear()  # owners are re-resolved once per crawl (a renamed user shows up next time)
    batch: list[ListingEvent] = []
    root = root.rstrip("/") or "/"
    base = os.path.join(root, prefix) if prefix else root
    if skip and in_trash(prefix.strip("/"), skip):
        return

    Event, names = ListingEvent, user_names

    def event(rel: str, st: os.stat_result) -> ListingEvent:
        return ListingEvent(
            crawl_id,
            backend,
            rel,
            st.st_size,
            mtime_fmt(st.st_mtime_ns),
            None,
            st.st_uid,
            st.st_gid,
            user_name(st.st_uid),
            atime_fmt(st.st_atime_ns),
        )

    try:
        st = os.stat(base, follow_symlinks=False)
    except FileNotFoundError as e:
        if not prefix:  # a missing backend root is a fault (unmounted, misconfigured), never "no files"
            stats.error("/", e)
        return  # nothing under this prefix: an empty listing, not an error
    except OSError as e:
        stats.error(prefix or "/", e)
        return
    if stat.S_ISREG(st.st_mode):
        yield [event(prefix, st)]
        return
    if not stat.S_ISDIR(st.st_mode):
        return

    # (absolute dir, relative prefix with trailing '/' or '')
    stack: list[tuple[str, str]] = [(base, f"{prefix.strip('/')}/" if prefix.strip("/") else "")]
    while stack:
        path, rel = stack.pop()
        try:
            it = os.scandir(path)
        except FileNotFoundError:
            stats.vanished += 1
            continue
        except OSError as e:
            stats.error(rel or "/", e)
            continue
        with it:
            while True:
                try:
                    entry = next(it)
                except StopIteration:
                    break
                except OSError as e:  # readdir itself failed (e.g. NFS stale handle): the rest is unknown
                    stats.error(rel or "/", e)
                    break
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if rel + entry.name != skip:
                            stack.append((entry.path, f"{rel}{entry.name}/"))
                    elif entry.is_file(follow_symlinks=False):
                        # event() inlined: this line runs once per file of the tree.
                        st = entry.stat(follow_symlinks=False)
                        uid = st.st_uid
                        batch.append(
                            Event(
                                crawl_id,
                                backend,
                                rel + entry.name,
                                st.st_size,
                                mtime_fmt(st.st_mtime_ns),
                                None,
                                uid,
                                st.st_gid,
                                names[uid] if uid in names else user_name(uid),
                                atime_fmt(st.st_atime_ns),
                            )
                        )
                        if len(batch) >= batch_size:
                            yield batch
                            batch = []
                except OSError as e:
                    if e.errno == errno.ENOENT:
                        stats.vanished += 1
                    else:
                        stats.error(rel + entry.name, e)
    if batch:
        yield batch


def remove_empty_dirs(root: str, rel_dir: str, keep: str) -> None:
    """Removes the directory ``rel_dir`` (relative to ``root``) if it is empty, then each parent while it is,
    up to ``root`` — never ``root`` itself, nor ``keep`` (relative) or anything above it."""
    parts = [p for p in rel_dir.split("/") if p]
    while parts and "/".join(parts) != keep:
        try:
            os.rmdir(os.path.join(root, *parts))
        except OSError:  # not empty (ENOTEMPTY), or already gone: everything above it stays too
            return
        parts.pop()
