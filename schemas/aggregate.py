"""How access events fold into the rows they change: the one rule the stream workers apply (streams/access.py) and
the history importer folds its blocks with (crawler/backfill.py, ``AccessBlock``).

Aggregation is commutative (sums, max; the earliest create wins), so events folded in any grouping — line by line
in a worker, or first per block of log lines in the importer and then block by block — give the same rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import msgspec
import orjson

from .errors import DecodeError
from .checks import check_access
from .records import AccessBlock, AccessEvent, AccessFields

# Operations that count as using a file (per-file last_access, stale queries); list/stat do not.
LAST_ACCESS = frozenset({"read", "write"})
# Operations that make a user the creator of a file (through a mount).
CREATES = frozenset({"create", "write"})
ACTIVITY = LAST_ACCESS | CREATES


@dataclass(slots=True)
class Row:
    """One access_log row's increments from one batch."""

    read_count: int = 0
    bytes_read: int = 0
    write_count: int = 0
    bytes_written: int = 0
    meta_count: float = 0.0
    cache_hits: int = 0
    error_count: int = 0
    last_access: str = ""


@dataclass(slots=True)
class FileActivity:
    """Per file: last read/write, and its creator (first create or write seen through a mount)."""

    last_access: str | None = None
    creator: str | None = None
    created_at: str | None = None

    def merge(self, last_access: str | None, creator: str | None, created_at: str | None) -> None:
        if last_access is not None and (self.last_access is None or last_access > self.last_access):
            self.last_access = last_access
        if created_at is not None and (self.created_at is None or created_at < self.created_at):
            self.creator, self.created_at = creator, created_at


@dataclass
class Aggregate:
    """Access events folded into the rows they change."""

    rows: dict[tuple[str, str, str, str], Row] = field(default_factory=dict)
    files: dict[tuple[str, str], FileActivity] = field(default_factory=dict)
    coverage: dict[str, tuple[str, str]] = field(default_factory=dict)  # backend → (first, last)
    events: int = 0

    def add_all(self, recs: Sequence[AccessFields], keys: list[tuple[str, str, str, str]] | None = None) -> None:
        """Folds checked records in (schemas/checks.py: canonical paths and timestamps); ``keys``: gets each
        record's row key, in order."""
        rows, files, coverage = self.rows, self.files, self.coverage
        for e in recs:
            backend, path, op, ts = e.backend_name, e.path, e.operation, e.timestamp
            count = e.count
            key = (backend, path, e.user_id, ts[:10])
            if keys is not None:
                keys.append(key)
            row = rows.get(key)
            if row is None:
                row = rows[key] = Row(last_access=ts)
            elif ts > row.last_access:
                row.last_access = ts
            if op == "read":
                row.read_count += count
            elif op == "write":
                row.write_count += count
            else:
                row.meta_count += count * e.weight
            row.bytes_read += e.bytes_read
            row.bytes_written += e.bytes_written
            if e.cache_hit or e.cache_hits:
                row.cache_hits += e.cache_hits or count
            if e.error:
                row.error_count += count
            if op in ACTIVITY:
                fa = files.get((backend, path))
                if fa is None:
                    fa = files[(backend, path)] = FileActivity()
                if op in LAST_ACCESS and (fa.last_access is None or ts > fa.last_access):
                    fa.last_access = ts
                if op in CREATES and (fa.created_at is None or ts < fa.created_at):
                    fa.creator, fa.created_at = e.user_id, ts
            cov = coverage.get(backend)
            if cov is None:
                coverage[backend] = (ts, ts)
            elif ts < cov[0] or ts > cov[1]:
                coverage[backend] = (min(cov[0], ts), max(cov[1], ts))
        self.events += len(recs)

    def add_block(self, block: AccessBlock) -> None:
        """Folds an importer's block in, as its lines' events would be (no telemetry coverage: it is history)."""
        rows, files = self.rows, self.files
        for b, p, u, d, rc, br, wc, bw, mc, ch, ec, la in block.rows:
            row = rows.get((b, p, u, d))
            if row is None:
                rows[(b, p, u, d)] = Row(rc, br, wc, bw, mc, ch, ec, la)
                continue
            row.read_count += rc
            row.bytes_read += br
            row.write_count += wc
            row.bytes_written += bw
            row.meta_count += mc
            row.cache_hits += ch
            row.error_count += ec
            if la > row.last_access:
                row.last_access = la
        for b, p, f_la, cb, ca in block.files:
            fa = files.get((b, p))
            if fa is None:
                files[(b, p)] = FileActivity(f_la, cb, ca)
            else:
                fa.merge(f_la, cb, ca)
        self.events += block.events


def runs(lines: Iterable[int]) -> list[tuple[int, int]]:
    """Distinct line numbers as sorted maximal runs [first, last]."""
    out: list[tuple[int, int]] = []
    first = last = -2
    for n in sorted(set(lines)):
        if n != last + 1:
            if last >= 0:
                out.append((first, last))
            first = n
        last = n
    if last >= 0:
        out.append((first, last))
    return out


def merge_runs(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Runs [first, last] (overlapping or adjacent ones joined), sorted."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def block_of(source: str, events: Sequence[AccessFields]) -> AccessBlock:
    """The AccessBlock of ``events`` (checked, canonical, all of ``source``, one per line, ``seq`` = line)."""
    agg = Aggregate()
    keys: list[tuple[str, str, str, str]] = []
    agg.add_all(events, keys)
    index = {key: i for i, key in enumerate(agg.rows)}
    rows = [
        (b, p, u, d, r.read_count, r.bytes_read, r.write_count, r.bytes_written, r.meta_count, r.cache_hits,
         r.error_count, r.last_access)
        for (b, p, u, d), r in agg.rows.items()
    ]  # fmt: skip
    files = [(b, p, f.last_access, f.creator, f.created_at) for (b, p), f in agg.files.items()]
    # add_all kept each backend's first and last event (as telemetry coverage: the block's history coverage here)
    counts = Counter(k[0] for k in keys)
    lines = [
        (e.seq, index[k], e.timestamp, e.operation, e.count, e.bytes_read, e.bytes_written,
         (e.cache_hits or e.count) if (e.cache_hit or e.cache_hits) else 0, 1 if e.error else 0, e.weight)
        for e, k in zip(events, keys)
    ]  # fmt: skip
    return AccessBlock(
        source,
        runs(e.seq for e in events),
        rows,
        files,
        [(b, first, last, counts[b]) for b, (first, last) in agg.coverage.items()],
        msgspec.Raw(orjson.dumps(lines)),
    )


_LINES = msgspec.json.Decoder(list[tuple[int, int, str, str, int, int, int, int, int, float]])


def expand(block: AccessBlock) -> list[AccessEvent]:
    """A block's lines as the events they were (for what aggregates, the same events), checked: what a worker
    applies when only some of the block's lines are new. DecodeError if a line is refused or the lines do not match
    the block."""
    try:
        lines = _LINES.decode(block.lines)
    except msgspec.DecodeError as e:
        raise DecodeError(f"access_block lines: {e}") from None
    rows, source, out = block.rows, block.source, []
    for n, r, ts, op, count, br, bw, ch, err, weight in lines:
        if not 0 <= r < len(rows):
            raise DecodeError(f"access_block line {n}: no row {r}")
        b, p, u = rows[r][:3]
        out.append(
            check_access(
                AccessEvent(
                    f"{source}#{n}",
                    ts,
                    u,
                    b,
                    p,
                    op,
                    "backfill",
                    seq=n,
                    count=count,
                    bytes_read=br,
                    bytes_written=bw,
                    cache_hits=ch,
                    error="error" if err else None,
                    weight=weight,
                    source=source,
                ),
                {},  # the rows' paths are canonical (check_block)
            )
        )
    if sum(b - a + 1 for a, b in block.runs) != len(out) or runs(e.seq for e in out) != list(block.runs):
        raise DecodeError("access_block lines do not match its runs")
    return out
