"""Reading a range of a partition again, beside Faust's consumer: how a batch that skipped messages
PostgreSQL never applied (``offsets.OffsetGap``) gets them.

Seeking Faust's own consumer back does not work mid-stream: events it prefetched keep arriving first,
and it drops re-fetched offsets it has already handed out. A short-lived aiokafka consumer (no group,
nothing committed) reads exactly the missing offsets instead; this only happens after a worker stopped
with unapplied batches, so its start-up cost does not matter.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from warpdrive.schemas.config import KafkaSettings

from .offsets import Msg

log = logging.getLogger(__name__)

EMPTY_POLLS = 10  # consecutive empty polls (1 s each) before giving up on a range


async def read_ranges(
    kafka: KafkaSettings, ranges: dict[tuple[str, int], tuple[int, int]]
) -> tuple[list[Msg], set[tuple[str, int]]]:
    """The messages of each (topic, partition) from ``start`` up to (excluding) ``end``, in offset order,
    and the partitions where Kafka no longer has some of them (deleted by retention)."""
    consumer = AIOKafkaConsumer(
        **kafka.client_options(), group_id=None, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    out: list[Msg] = []
    lost: set[tuple[str, int]] = set()
    try:
        tps = {key: TopicPartition(*key) for key in ranges}
        consumer.assign(list(tps.values()))
        earliest = await consumer.beginning_offsets(list(tps.values()))
        for key, tp in sorted(tps.items()):
            start, end = ranges[key]
            if earliest[tp] > start:
                lost.add(key)
                start = earliest[tp]
            if start >= end:
                continue
            consumer.seek(tp, start)
            pos, empty = start, 0
            while pos < end and empty < EMPTY_POLLS:
                got = (await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)).get(tp, [])
                empty = 0 if got else empty + 1
                for r in got:
                    if r.offset < end:
                        out.append(Msg(r.topic, r.partition, r.offset, r.key, r.value))
                    pos = r.offset + 1
            if pos < end:
                log.warning("%s[%d]: offsets %d..%d could not be read again", *key, pos, end - 1)
                lost.add(key)
    finally:
        await consumer.stop()
    return out, lost
