"""Imported history (``warpdrive backfill``): each (source, line) applied once, however often it is imported.

An imported AccessEvent carries ``source`` (``<format>:<log file URL>``) and ``seq`` (its line); the importer sends
them folded per block of lines (``AccessBlock``: the rows they change, the runs of lines, and the lines themselves,
undecoded). Kafka's offsets make each *message* apply once (offsets.py); importing a file again publishes new
messages with the same lines, so the lines applied are kept as runs per source (``history_lines``) in the same
transaction as the aggregates. A batch takes a transaction-scoped advisory lock per source it carries (in one order
in every worker) and reads the stored runs overlapping its lines. When there are none and no two messages of the
batch share a line (the common case), it stores the batch's runs and its folded rows apply as they are; otherwise
it keeps, line by line, the lines no run covers and no earlier message of the batch carried (a block expanded into
its lines' events) and stores their runs. Two workers applying the same file at once serialize on the source, so a
line is counted once end to end. Telemetry (no ``source``) never comes here.

``history_coverage`` keeps, per backend and log format, the span and count of the imported events applied, and
``history_days`` the UTC days with at least one: where the coverage of stale answers comes from, beside
``telemetry_coverage`` (live telemetry only); the rule that reads them (covered since, holes) is schemas/stale.py.
A day is recorded for every imported line of a batch, applied before or not (a block's days are its rows'):
recording it twice changes nothing, and importing a log again records days an older worker did not.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Iterable, Sequence

import asyncpg

from warpdrive.schemas.aggregate import expand, merge_runs, runs
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import AccessBlock, AccessEvent, canonical_ts, parse_ts

# One lock per source, taken in key order in every worker (no deadlock between access batches).
_LOCK = """
SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtextextended('history:' || s, 0) AS k
                                      FROM unnest($1::text[]) AS s ORDER BY 1) l
"""
_COVERED = """
SELECT h.source, h.first_line, h.last_line
FROM history_lines h JOIN unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(s, lo, hi)
     ON h.source = u.s AND h.first_line <= u.hi AND h.last_line >= u.lo
"""
_RUNS = """
INSERT INTO history_lines (source, first_line, last_line)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) ORDER BY 1, 2
"""
_COVERAGE = """
INSERT INTO history_coverage AS c (backend_name, format, first_event, last_event, events)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[]) ORDER BY 1, 2
ON CONFLICT (backend_name, format) DO UPDATE SET
    first_event = LEAST(c.first_event, EXCLUDED.first_event),
    last_event = GREATEST(c.last_event, EXCLUDED.last_event),
    events = c.events + EXCLUDED.events
"""
_DAYS = """
INSERT INTO history_days (backend_name, format, day)
SELECT * FROM unnest($1::text[], $2::text[], $3::date[]) ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING
"""


def source_format(source: str) -> str:
    """The log format an imported event's source names (``s3-access-log:s3://logs/x`` → ``s3-access-log``)."""
    return source.partition(":")[0]


async def fresh_lines(
    conn: asyncpg.Connection, imported: Sequence[AccessEvent], blocks: Sequence[AccessBlock] = ()
) -> tuple[list[AccessEvent] | None, list[tuple[AccessBlock, str]]]:
    """Marks the lines of ``imported`` events and ``blocks`` applied and returns the events to apply: None when
    every line is new (the common case: the caller's aggregate already holds them), else the ones that are (the
    blocks expanded into their lines' events: only then are a block's lines decoded) — and the blocks whose lines
    could not be expanded, with the reason (none of their lines applied: dead letters)."""
    if not imported and not blocks:
        return None, []
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for e in imported:
        spans[e.source or ""].append((e.seq, e.seq))  # imported events always have a source (their log's)
    for b in blocks:
        spans[b.source] += b.runs
    sources = sorted(spans)
    await conn.execute(_LOCK, sources)
    bounds = [(s, min(a for a, _ in spans[s]), max(b for _, b in spans[s])) for s in sources]
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in await conn.fetch(_COVERED, *map(list, zip(*bounds))):
        covered[r["source"]].append((r["first_line"], r["last_line"]))
    if not covered and not any(_overlap(v) for v in spans.values()):
        await _store(conn, {s: merge_runs(v) for s, v in spans.items()})
        await _write_coverage(conn, _span_of(imported, blocks))
        await _write_days(conn, _days_of(imported, blocks))
        return None, []
    # Some lines were applied before (or come twice in this batch): line by line, blocks expanded.
    events, broken = list(imported), []
    for b in blocks:
        try:
            events += expand(b)
        except DecodeError as err:
            broken.append((b, str(err)))
    seen: set[tuple[str, int]] = set()
    fresh = []
    for e in events:
        key = (e.source or "", e.seq)
        if key in seen or any(a <= e.seq <= b for a, b in covered.get(key[0], ())):
            continue
        seen.add(key)
        fresh.append(e)
    lines: dict[str, list[int]] = defaultdict(list)
    for e in fresh:
        lines[e.source or ""].append(e.seq)
    await _store(conn, {s: runs(v) for s, v in lines.items()})
    await _write_coverage(conn, _span_of(fresh, ()))
    dead = {id(b) for b, _ in broken}  # no line of theirs applied: no evidence either
    await _write_days(conn, _days_of(imported, [b for b in blocks if id(b) not in dead]))
    return fresh, broken


def _overlap(spans: list[tuple[int, int]]) -> bool:
    """Whether any two runs share a line."""
    spans = sorted(spans)
    return any(a <= prev_b for (_, prev_b), (a, _) in zip(spans, spans[1:]))


async def _store(conn: asyncpg.Connection, runs_by_source: dict[str, list[tuple[int, int]]]) -> None:
    new_runs = [(s, a, b) for s in sorted(runs_by_source) for a, b in runs_by_source[s]]
    if new_runs:
        await conn.execute(_RUNS, *map(list, zip(*new_runs)))


def _span_of(events: Sequence[AccessEvent], blocks: Sequence[AccessBlock]) -> dict[tuple[str, str], list]:
    """(backend, log format) → [first event, last event, events] of ``events`` and ``blocks``."""
    span: dict[tuple[str, str], list] = {}

    def add(backend: str, source: str, first: str, last: str, n: int) -> None:
        key = (backend, source_format(source))
        v = span.get(key)
        if v is None:
            span[key] = [first, last, n]
        else:
            v[0], v[1], v[2] = min(v[0], first), max(v[1], last), v[2] + n

    for e in events:
        add(e.backend_name, e.source or "", e.timestamp, e.timestamp, 1)
    for b in blocks:
        for backend, first, last, n in b.coverage:
            add(backend, b.source, first, last, n)
    return span


async def _write_coverage(conn: asyncpg.Connection, span: dict[tuple[str, str], list]) -> None:
    if span:
        keys = sorted(span)
        await conn.execute(
            _COVERAGE,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [parse_ts(span[k][0]) for k in keys],
            [parse_ts(span[k][1]) for k in keys],
            [span[k][2] for k in keys],
        )


def _days_of(events: Sequence[AccessEvent], blocks: Iterable[AccessBlock]) -> set[tuple[str, str, str]]:
    """(backend, log format, UTC day) of each imported event, and of each row of the blocks (a row is one day)."""
    days = {(e.backend_name, source_format(e.source or ""), canonical_ts(e.timestamp)[:10]) for e in events}
    for b in blocks:
        f = source_format(b.source)
        days.update((r[0], f, r[3]) for r in b.rows)
    return days


async def _write_days(conn: asyncpg.Connection, days: set[tuple[str, str, str]]) -> None:
    """Records days with imported events (history_days): idempotent, so every imported line of a batch counts,
    applied before or not."""
    rows = sorted(days)
    if rows:
        await conn.execute(_DAYS, [r[0] for r in rows], [r[1] for r in rows], [date.fromisoformat(r[2]) for r in rows])
