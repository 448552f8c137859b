"""What the workers require of each record beyond its types, checked one record at a time.

A record that fails is refused alone (dead-lettered with its reason, streams/decoding.py); the other
records of its message are applied. Checking also canonicalises: paths (schemas/paths.py) and timestamps
come out in the one form the tables key on.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence, TypeVar

from .errors import DecodeError
from .paths import canonical_path
from .records import AccessBlock, AccessFields, ListingEvent, canonical_ts

R = TypeVar("R")
A = TypeVar("A", bound=AccessFields)

# Numbers that are counts, bytes or sizes: a negative one would be summed and shrink totals.
_ACCESS_AMOUNTS = ("count", "bytes_read", "bytes_written", "cache_hits", "weight", "seq")


def check_access(e: A, roots: Mapping[str, str]) -> A:
    """``e`` with its path and timestamp canonical; DecodeError naming the first problem.
    ``roots``: backend name → URL, to strip a backend's own URL from paths."""
    if e.count < 0 or e.bytes_read < 0 or e.bytes_written < 0 or e.cache_hits < 0 or e.weight < 0 or e.seq < 0:
        name = next(n for n in _ACCESS_AMOUNTS if getattr(e, n) < 0)
        raise DecodeError(f"{name} {getattr(e, name)} is negative")
    e.path = canonical_path(e.path, roots.get(e.backend_name))
    e.timestamp = canonical_ts(e.timestamp)
    if e.first_timestamp is not None:
        e.first_timestamp = canonical_ts(e.first_timestamp)
    return e


def check_block(b: AccessBlock, roots: Mapping[str, str]) -> AccessBlock:
    """``b`` with its paths and timestamps canonical (as ``check_access`` makes its lines' events); DecodeError naming
    the first problem. The lines themselves are checked only when expanded (schemas/aggregate.py)."""
    prev = 0
    for first, last in b.runs:
        if not prev < first <= last:
            raise DecodeError(f"runs {b.runs[:3]}…: not sorted, disjoint runs of line numbers")
        prev = last
    for i, (backend, path, user, day, rc, br, wc, bw, mc, ch, ec, la) in enumerate(b.rows):
        if min(rc, br, wc, bw, mc, ch, ec) < 0:
            raise DecodeError(f"row {i} ({path!r}): a negative count or byte total")
        la = canonical_ts(la)
        if la[:10] != day:
            raise DecodeError(f"row {i} ({path!r}): last access {la} is not on its day {day}")
        b.rows[i] = (backend, canonical_path(path, roots.get(backend)), user, day, rc, br, wc, bw, mc, ch, ec, la)
    for i, (backend, path, f_la, cb, ca) in enumerate(b.files):
        b.files[i] = (
            backend,
            canonical_path(path, roots.get(backend)),
            canonical_ts(f_la) if f_la is not None else None,
            cb,
            canonical_ts(ca) if ca is not None else None,
        )
    for i, (backend, since, until, n) in enumerate(b.coverage):
        if n <= 0:
            raise DecodeError(f"coverage of {backend}: {n} events")
        b.coverage[i] = (backend, canonical_ts(since), canonical_ts(until), n)
    return b


def check_listing(r: Any, roots: Mapping[str, str]) -> Any:
    """A ListingEvent with its path canonical (a CrawlMarker passes unchanged)."""
    if not isinstance(r, ListingEvent):
        return r
    if r.size_bytes < 0:
        raise DecodeError(f"size_bytes {r.size_bytes} is negative")
    r.path = canonical_path(r.path, roots.get(r.backend_name))
    if not r.path:
        raise DecodeError("path names the backend's root, not a file")
    return r


def split_checked(
    records: Sequence[R], check: Callable[[R, Mapping[str, str]], R], roots: Mapping[str, str]
) -> tuple[list[R], list[tuple[int, R, str]]]:
    """The records that pass ``check`` (canonicalised) and, for the others, (index in the message, record, reason)."""
    good: list[R] = []
    bad: list[tuple[int, R, str]] = []
    for i, r in enumerate(records):
        try:
            good.append(check(r, roots))
        except DecodeError as e:
            bad.append((i, r, str(e)))
    return good, bad
