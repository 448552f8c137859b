"""Imported history (``warpdrive backfill``): each (source, line) applied once, however often it is imported.

An imported AccessEvent carries ``source`` (``<format>:<log file URL>``) and ``seq`` (its line). Kafka's
offsets make each *message* apply once (offsets.py); importing a file again publishes new messages with
the same lines, so the lines applied are kept as runs per source (``history_lines``) in the same transaction
as the aggregates. A batch takes a transaction-scoped advisory lock per source it carries (in one order in
every worker), reads the runs overlapping its lines, keeps the lines no run covers (and no earlier message of
the batch carried), and stores their runs: two workers applying the same file at once serialize on the
source, so a line is counted once end to end. Telemetry (no ``source``) never comes here.

``history_coverage`` keeps, per backend and log format, the span and count of the imported events applied, and
``history_days`` the UTC days with at least one: where the coverage of stale answers comes from, beside
``telemetry_coverage`` (live telemetry only); the rule that reads them (covered since, holes) is schemas/stale.py.
A day is recorded for every imported event of a batch, applied before or not: recording it twice changes nothing,
and importing a log again records days an older worker did not.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Sequence

import asyncpg

from warpdrive.schemas.records import AccessEvent, canonical_ts, parse_ts

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


def runs(lines: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted distinct line numbers as maximal runs [first, last]."""
    out: list[tuple[int, int]] = []
    for n in sorted(set(lines)):
        if out and n == out[-1][1] + 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


async def fresh_lines(conn: asyncpg.Connection, imported: Sequence[AccessEvent]) -> list[AccessEvent] | None:
    """Marks the lines of ``imported`` applied and returns the events to apply: None when every one is
    new (the common case: the caller's aggregate already holds them), else the ones that are."""
    if not imported:
        return None
    lines: dict[str, list[int]] = defaultdict(list)
    for e in imported:
        lines[e.source].append(e.seq)  # type: ignore[index]
    sources = sorted(lines)
    await conn.execute(_LOCK, sources)
    spans = [(s, min(lines[s]), max(lines[s])) for s in sources]
    covered: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in await conn.fetch(_COVERED, *map(list, zip(*spans))):
        covered[r["source"]].append((r["first_line"], r["last_line"]))
    fresh = imported
    if covered or any(len(set(v)) < len(v) for v in lines.values()):
        seen: set[tuple[str, int]] = set()
        fresh = []
        for e in imported:
            key = (e.source, e.seq)
            if key in seen or any(a <= e.seq <= b for a, b in covered.get(e.source, ())):  # type: ignore[arg-type]
                continue
            seen.add(key)  # type: ignore[arg-type]
            fresh.append(e)
        lines = defaultdict(list)
        for e in fresh:
            lines[e.source].append(e.seq)  # type: ignore[index]
    new_runs = [(s, a, b) for s in sorted(lines) for a, b in runs(lines[s])]
    if new_runs:
        await conn.execute(_RUNS, *map(list, zip(*new_runs)))
    await _write_coverage(conn, fresh)
    await _write_days(conn, _days_of(imported))
    return None if fresh is imported else list(fresh)


async def _write_coverage(conn: asyncpg.Connection, events: Sequence[AccessEvent]) -> None:
    span: dict[tuple[str, str], list] = {}
    for e in events:
        key = (e.backend_name, source_format(e.source or ""))
        v = span.get(key)
        if v is None:
            span[key] = [e.timestamp, e.timestamp, 1]
        else:
            v[0] = min(v[0], e.timestamp)
            v[1] = max(v[1], e.timestamp)
            v[2] += 1
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


def _days_of(events: Sequence[AccessEvent]) -> set[tuple[str, str, str]]:
    """(backend, log format, UTC day) of each event."""
    return {(e.backend_name, source_format(e.source or ""), canonical_ts(e.timestamp)[:10]) for e in events}


async def _write_days(conn: asyncpg.Connection, days: set[tuple[str, str, str]]) -> None:
    """Records days with imported events (history_days): idempotent, so every imported line of a batch counts,
    applied before or not."""
    rows = sorted(days)
    await conn.execute(_DAYS, [r[0] for r in rows], [r[1] for r in rows], [date.fromisoformat(r[2]) for r in rows])
