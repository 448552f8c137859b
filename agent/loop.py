"""The agent's asyncio side: one event loop in a dedicated thread for every Kafka client.

aiokafka is asyncio-only and the mount runs on trio, so Kafka lives here; the trio side and the
telemetry drainer hand work over with ``submit`` (thread-safe). ``Producer`` is one idempotent
producer shared by telemetry, heartbeats and job events, restarted after a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any, Coroutine, TypeVar

from aiokafka import AIOKafkaProducer

from warpdrive.schemas.config import KafkaSettings

log = logging.getLogger(__name__)
T = TypeVar("T")


class AsyncioThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="kafka-loop", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)


class Producer:
    """An idempotent, acks=all producer, started lazily and rebuilt after a failure (runs on the loop)."""

    def __init__(self, kafka: KafkaSettings, timeout: float = 10.0) -> None:
        self.kafka = kafka
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock: asyncio.Lock | None = None
        self.connected = False

    async def _get(self) -> AIOKafkaProducer:
        if self._producer is None:
            p = AIOKafkaProducer(
                **self.kafka.client_options(),
                acks="all",
                enable_idempotence=True,
                request_timeout_ms=int(self.timeout * 1000),
                linger_ms=5,
                max_request_size=16 << 20,
            )
            try:
                await asyncio.wait_for(p.start(), self.timeout)
            except BaseException:
                await self._close(p)
                raise
            self._producer = p
        return self._producer

    @staticmethod
    async def _close(p: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(p.stop(), 5)
        except Exception:  # closing a producer to a dead broker may itself fail; it is discarded anyway
            pass

    async def send(self, topic: str, value: bytes, key: bytes) -> bool:
        """Sends and waits for the acknowledgement; False (and a fresh producer next time) on failure."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:  # one send at a time keeps telemetry batches in order
            try:
                p = await self._get()
                await asyncio.wait_for(p.send_and_wait(topic, value, key=key), self.timeout * 1.5)
                self.connected = True
                return True
            except Exception as e:
                if self.connected:
                    log.warning("kafka send to %s failed: %s", topic, e)
                self.connected = False
                if self._producer is not None:
                    p, self._producer = self._producer, None
                    await self._close(p)
                return False

    async def close(self) -> None:
        if self._producer is not None:
            p, self._producer = self._producer, None
            await self._close(p)
