"""Exactly once into PostgreSQL: a batch's effects and its consumed offsets commit in one transaction.

For every topic-partition in a batch, the ``stream_offsets`` row is locked first (so two workers that
briefly share a partition during a rebalance serialize on it), messages below the stored
``next_offset`` are skipped as already applied, the rest are applied by the caller's function, and the
new ``next_offset`` is stored — all in the same transaction. Faust's own Kafka commits only follow,
so a replay after a crash re-reads messages that this table then skips. Transient failures
(PostgreSQL restarting, deadlocks between workers) retry the whole batch, forever, with backoff: a
batch is never dropped and never applied twice.

Faust's commits can also run *ahead*: ``take_events`` acks a batch even when its processing was
cancelled (a worker stopped while PostgreSQL was down), and the next consumer starts at that commit.
So a batch that starts past the stored ``next_offset`` of a partition is refused with ``OffsetGap``
(nothing applied) and the caller re-reads from the stored offset.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable, Mapping, Sequence

import asyncpg

from .errors import StreamsError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Msg:
    """The part of a Kafka message a batch function needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


Apply = Callable[[asyncpg.Connection, list[Msg]], Awaitable[None]]


class Abandoned(StreamsError):
    """The worker is stopping while PostgreSQL is unreachable: the batch is left unapplied for whichever
    worker gets the partitions next (the stored offsets still point at it)."""


class OffsetGap(StreamsError):
    """A batch skips messages PostgreSQL has not applied: (topic, partition) → (next stored, first in batch)."""

    def __init__(self, gaps: dict[tuple[str, int], tuple[int, int]]) -> None:
        super().__init__(
            ", ".join(
                f"{t}[{p}] expects offset {want}, batch starts at {got}" for (t, p), (want, got) in sorted(gaps.items())
            )
        )
        self.gaps = gaps


# Rows are locked in (topic, partition) order, the same in every worker, so lockers never deadlock here.
_LOCK = """
INSERT INTO stream_offsets AS s (consumer, topic, partition, next_offset)
SELECT $1, t, p, 0 FROM unnest($2::text[], $3::int[]) AS u(t, p) ORDER BY t, p
ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = s.next_offset
RETURNING topic, partition, next_offset
"""
_STORE = """
UPDATE stream_offsets AS s SET next_offset = u.n, updated_at = now()
FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
WHERE s.consumer = $1 AND s.topic = u.t AND s.partition = u.p
"""

# What retrying can fix: the server went away or restarted, or two workers' transactions collided.
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection lost mid-operation can leave it in this state
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


TP = tuple[str, int]


def first_offsets(msgs: Sequence[Msg]) -> dict[TP, int]:
    """The lowest offset of ``msgs`` per (topic, partition)."""
    first: dict[TP, int] = {}
    for m in msgs:
        tp = (m.topic, m.partition)
        first[tp] = min(first.get(tp, m.offset), m.offset)
    return first


def gaps(msgs: Sequence[Msg], stored: Mapping[TP, int]) -> dict[TP, tuple[int, int]]:
    """The partitions whose messages in ``msgs`` start past their ``stored`` next offset:
    (topic, partition) → (stored next offset, first offset in ``msgs``)."""
    return {tp: (stored[tp], o) for tp, o in first_offsets(msgs).items() if o > stored[tp]}


def fresh_messages(msgs: Sequence[Msg], stored: Mapping[TP, int]) -> list[Msg]:
    """The messages at or past their partition's ``stored`` next offset (the rest were applied before)."""
    return [m for m in msgs if m.offset >= stored[(m.topic, m.partition)]]


def end_offsets(msgs: Sequence[Msg]) -> dict[TP, int]:
    """The next offset to store per (topic, partition) once ``msgs`` are applied: one past the highest."""
    ends: dict[TP, int] = {}
    for m in msgs:
        tp = (m.topic, m.partition)
        ends[tp] = max(ends.get(tp, 0), m.offset + 1)
    return ends


async def _apply_in(
    conn: asyncpg.Connection, consumer: str, msgs: Sequence[Msg], apply: Apply, contiguous: bool
) -> int:
    """One attempt, inside the caller's transaction: lock the partitions' rows, check for gaps, apply the
    fresh messages and store their end offsets. Returns how many messages were fresh."""
    tps = sorted({(m.topic, m.partition) for m in msgs})
    rows = await conn.fetch(_LOCK, consumer, [t for t, _ in tps], [p for _, p in tps])
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    if contiguous and (found := gaps(msgs, stored)):
        raise OffsetGap(found)
    fresh = fresh_messages(msgs, stored)
    if len(fresh) < len(msgs):
        log.info("skipped %d already applied messages (redelivery)", len(msgs) - len(fresh))
    if fresh:
        await apply(conn, fresh)
        ends = end_offsets(fresh)
        keys = sorted(ends)
        await conn.execute(_STORE, consumer, [t for t, _ in keys], [p for _, p in keys], [ends[k] for k in keys])
    return len(fresh)


async def apply_exactly_once(
    pool: asyncpg.Pool,
    consumer: str,
    msgs: Sequence[Msg],
    apply: Apply,
    contiguous: bool = True,
    stopping: Callable[[], bool] = lambda: False,
) -> int:
    """Applies the not-yet-applied ``msgs`` with ``apply`` in one transaction; returns how many were new.

    ``contiguous``: raise ``OffsetGap`` when a partition's messages start past its stored offset (off
    for compacted topics, whose offsets have holes by design, and for a gap known to be retention's).
    ``stopping``: checked between retries; when true, raise ``Abandoned`` instead of retrying.
    Transient failures retry the whole transaction with backoff; data PostgreSQL refuses is isolated
    message by message and the refused one dead-lettered."""
    if not msgs:
        return 0
    delay = 0.2
    while True:
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await _apply_in(conn, consumer, msgs, apply, contiguous)
        except TRANSIENT as e:
            if stopping():
                raise Abandoned(f"batch of {len(msgs)} messages left unapplied ({type(e).__name__}: {e})") from None
            log.warning(
                "batch of %d messages not applied (%s: %s); retrying in %.1fs", len(msgs), type(e).__name__, e, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        except (asyncpg.PostgresError, OverflowError) as e:
            # Data the database refuses (a poison message): isolate it rather than block the partition.
            # OverflowError: a value beyond its column's range, refused while encoding COPY rows.
            if len(msgs) == 1:
                await _reject(pool, consumer, msgs[0], f"{type(e).__name__}: {e}")
                return 0
            log.warning(
                "batch of %d messages failed (%s: %s); applying them one by one", len(msgs), type(e).__name__, e
            )
            return sum([await apply_exactly_once(pool, consumer, [m], apply, contiguous, stopping) for m in msgs])


async def _reject(pool: asyncpg.Pool, consumer: str, m: Msg, error: str) -> None:
    """Dead-letters one message PostgreSQL refused, and moves its partition's offset past it."""

    async def keep(conn: asyncpg.Connection, fresh: list[Msg]) -> None:
        await dead_letter(conn, consumer, [(m, error)])

    await apply_exactly_once(pool, consumer, [m], keep)


def shard_of(msgs: Sequence[Msg]) -> int:
    """The rollup shard a batch writes (migration 0057): its lowest partition.

    Every batch locks its partitions' ``stream_offsets`` rows first, so two batches writing the same shard
    share a locked row and never run at once; batches of different workers (disjoint partitions) write
    different rows of the shared rollups and never wait for each other there. Exactness does not depend on
    it: readers sum over shards, and any shard a delta lands in gives the same sums."""
    return min(m.partition for m in msgs)


async def stored_offsets(pool: asyncpg.Pool, consumer: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
    """The next offset to apply per (topic, partition), for seeking on partition assignment."""
    rows = await pool.fetch(
        "SELECT topic, partition, next_offset FROM stream_offsets WHERE consumer = $1 AND topic = ANY($2::text[])",
        consumer,
        list(topics),
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}


async def dead_letter(conn: asyncpg.Connection, consumer: str, bad: Sequence[tuple[Msg, str]]) -> None:
    """Keeps undecodable messages for inspection (one statement for the batch's bad messages)."""
    if not bad:
        return
    for m, err in bad:
        log.error("dead letter %s[%d]@%d: %s", m.topic, m.partition, m.offset, err)
    await conn.execute(
        """INSERT INTO dead_letters (consumer, topic, partition, "offset", error, payload, msg_key)
           SELECT $1, t, p, o, e, v, k FROM unnest($2::text[], $3::int[], $4::bigint[], $5::text[], $6::bytea[], $7::text[])
                AS u(t, p, o, e, v, k)
           ON CONFLICT DO NOTHING""",
        consumer,
        [m.topic for m, _ in bad],
        [m.partition for m, _ in bad],
        [m.offset for m, _ in bad],
        [e for _, e in bad],
        [m.value for m, _ in bad],
        # The key, for a replay to the same partition; keys are names (node, backend, team), text.
        [m.key.decode("utf-8", "replace") if m.key is not None else None for m, _ in bad],
    )
