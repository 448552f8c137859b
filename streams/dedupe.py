"""Live access events applied once per (producer, seq), however often Kafka carries them.

Kafka's idempotence only covers one producer session's own retries: an agent that resends a batch whose
acknowledgement died with the broker (a fresh producer after the failure), or replays its spool after a crash
before the spool file was removed, puts a second copy of the batch in the log, at a new offset that offsets.py
cannot recognise. Every event of one agent instance carries ``producer`` (``<node>/<boot id>``) and a ``seq``
that increases in the order it sends; its batches go out one at a time, in order, under one key (one
partition). So a copy is always an event whose seq is not above the highest one applied for its producer.

``access_producers`` keeps that high-water mark, one row per producer instance (not per event), updated in the
batch's exactly-once transaction: a batch's events and the marks move together or not at all. Rows are locked
in producer order (one order in every worker) so two workers briefly sharing a partition serialize here too.
Its ``updated_at`` says when an event of the producer last arrived, a copy included: `warpdrive retention` deletes
the rows not seen for ``retention.producer_days`` (schemas/retention.py says why that is safe).
Events without ``producer`` (older agents, imported history: streams/history.py) pass through unchanged.
"""

from __future__ import annotations

import logging
from typing import Sequence

import asyncpg

from warpdrive.schemas.records import AccessEvent

log = logging.getLogger(__name__)

# Locks (creating at -1: nothing applied) each producer's row in one order, stamps it seen, returns the mark.
_LOCK = """
INSERT INTO access_producers AS a (producer, last_seq)
SELECT p, -1 FROM unnest($1::text[]) AS p ORDER BY 1
ON CONFLICT (producer) DO UPDATE SET updated_at = now()
RETURNING producer, last_seq
"""
_STORE = """
UPDATE access_producers AS a SET last_seq = u.s
FROM unnest($1::text[], $2::bigint[]) AS u(p, s) WHERE a.producer = u.p
"""


async def fresh_events(conn: asyncpg.Connection, live: Sequence[AccessEvent]) -> list[AccessEvent] | None:
    """Records the producers' new marks and returns the events to apply: None when every one is new (the
    common case: the caller's aggregate already holds them), else the ones that are."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    ordered = True
    for e in live:
        p = e.producer
        if p is None:
            continue
        prev = last.get(p)
        if prev is None:
            first[p] = e.seq
        elif e.seq <= prev:
            ordered = False  # a copy inside this batch (or out of order): filtered below
        if prev is None or e.seq > prev:
            last[p] = e.seq
    if not last:
        return None
    producers = sorted(last)
    marks = {r["producer"]: r["last_seq"] for r in await conn.fetch(_LOCK, producers)}
    fresh: Sequence[AccessEvent] = live
    if not ordered or any(first[p] <= marks[p] for p in producers):
        high = dict(marks)
        kept = []
        for e in live:
            p = e.producer
            if p is not None:
                if e.seq <= high[p]:
                    continue
                high[p] = e.seq
            kept.append(e)
        fresh = kept
        log.info("skipped %d access events already applied (resent by their producer)", len(live) - len(kept))
    moved = [p for p in producers if last[p] > marks[p]]
    if moved:
        await conn.execute(_STORE, moved, [last[p] for p in moved])
    return None if fresh is live else list(fresh)
