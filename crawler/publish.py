"""One idempotent Kafka producer per process, sending batches without awaiting each delivery.

``send`` hands a message to aiokafka's accumulator and keeps its delivery future; only every
``WINDOW`` messages are the oldest deliveries awaited, so the listing never waits on a round trip
per message, and memory stays bounded. ``settle`` awaits every outstanding delivery: a crawl calls
it before its finish marker, so a complete marker is only ever sent after every file was delivered.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer

from warpdrive.schemas.config import KafkaSettings
from warpdrive.schemas.records import encode, encode_batch
from warpdrive.schemas.topics import Topic

from .errors import PublishError

WINDOW = 64  # messages in flight before the oldest deliveries are awaited


class Publisher:
    def __init__(self, kafka: KafkaSettings, max_batch_size: int = 16384) -> None:
        """``max_batch_size``: bytes per partition in one produce request (aiokafka's default 16 KiB; an
        import of large batch messages sends several per request with more)."""
        self.kafka = kafka
        self.producer = AIOKafkaProducer(
            **kafka.client_options(),
            enable_idempotence=True,  # acks=all and ordered, duplicate-free retries per partition
            acks="all",
            linger_ms=5,
            max_request_size=4 << 20,
            max_batch_size=max_batch_size,
            request_timeout_ms=30_000,
        )

    async def __aenter__(self) -> "Publisher":
        try:
            await self.producer.start()
        except Exception as e:
            await self.producer.stop()
            raise PublishError(f"kafka {self.kafka.bootstrap_servers}: {type(e).__name__}: {e}") from None
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.producer.stop()

    def channel(self) -> "Channel":
        return Channel(self)


class Channel:
    """The deliveries of one crawl or job, settled on their own (a failure of one is never
    swallowed by another sharing the producer)."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.pending: deque[asyncio.Future[Any]] = deque()

    async def send(self, topic: Topic, key: str, value: bytes) -> None:
        try:
            fut = await self.publisher.producer.send(topic.full_name(self.publisher.kafka), value, key=key.encode())
        except Exception as e:
            raise PublishError(f"kafka send failed: {type(e).__name__}: {e}") from None
        self.pending.append(fut)
        while len(self.pending) > WINDOW:
            await self._wait(self.pending.popleft())

    async def send_batch(self, topic: Topic, key: str, records: list[Any]) -> None:
        await self.send(topic, key, encode_batch(records))

    async def send_one(self, topic: Topic, key: str, record: Any) -> None:
        await self.send(topic, key, encode(record))

    async def settle(self) -> None:
        """Waits until every message sent so far is acknowledged; raises PublishError otherwise."""
        while self.pending:
            await self._wait(self.pending.popleft())

    @staticmethod
    async def _wait(fut: asyncio.Future[Any]) -> None:
        try:
            await fut
        except Exception as e:
            raise PublishError(f"kafka delivery failed: {type(e).__name__}: {e}") from None
