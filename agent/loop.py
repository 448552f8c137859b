"""The agent's asyncio side: one event loop in a dedicated thread for every Kafka client.

aiokafka is asyncio-only and the mount runs on trio, so Kafka lives here; the trio side and the
telemetry drainer hand work over with ``submit`` (thread-safe). ``Producer`` is one idempotent
producer shared by telemetry, heartbeats and job events, kept across a broker outage and rebuilt only
after a failure.
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


class Message:
    """One message on its way to Kafka, kept by its sender until acknowledged.

    A send whose acknowledgement does not come in time leaves the message with the producer that took it:
    an idempotent producer retries it under its own id and sequence until the broker has it, and the broker
    drops a retry it already wrote. So sending the same Message again waits for that delivery instead of
    handing Kafka a second copy from a new producer id. Only a failed delivery (aiokafka fails an idempotent
    batch only on a non-retriable error, or when its partition has no leader past the request timeout)
    rebuilds the producer and sends the message anew: a copy then, which the stream worker skips by the
    events' (producer, seq) (streams/dedupe.py)."""

    def __init__(self, topic: str, value: bytes, key: bytes) -> None:
        self.topic, self.value, self.key = topic, value, key
        self.holder: AIOKafkaProducer | None = None  # the producer that took it
        self.delivery: asyncio.Future[Any] | None = None  # its acknowledgement


class Producer:
    """An idempotent, acks=all producer, started lazily and kept across a broker outage; rebuilt only after a
    failure (runs on the loop)."""

    RECHECK_SECONDS = 1.0  # how long a try waits while acknowledgements are overdue (the broker is away)

    def __init__(self, kafka: KafkaSettings, timeout: float = 10.0) -> None:
        self.kafka = kafka
        self.timeout = timeout
        self._producer: AIOKafkaProducer | None = None
        self._lock: asyncio.Lock | None = None
        self.connected = False
        self.started = 0  # producers built: a new one is a new producer id for Kafka
        self._overdue = False  # the last acknowledgement did not come in time

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
            self.started += 1
        return self._producer

    @staticmethod
    async def _close(p: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(p.stop(), 5)
        except Exception:  # closing a producer to a dead broker may itself fail; it is discarded anyway
            pass

    async def send(self, topic: str, value: bytes, key: bytes) -> bool:
        """Sends and waits for the acknowledgement; False when it did not come (see ``deliver``)."""
        return await self.deliver(Message(topic, value, key))

    async def deliver(self, msg: Message) -> bool:
        """Hands ``msg`` to the producer unless it already holds it, and waits for the acknowledgement. False
        when none came in time (the message stays with the producer: deliver it again to look again) or when
        the send failed (the producer is rebuilt; the next ``deliver`` sends it anew)."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:  # one send at a time keeps telemetry batches in order
            delivery = await self._hand_over(msg)
            if delivery is None:
                return False
            # Once an acknowledgement is overdue, a try only looks again briefly: the producer retries on its own,
            # and the caller (the telemetry drainer's thread) must not stall a whole timeout per try.
            wait = self.RECHECK_SECONDS if self._overdue else self.timeout * 1.5
            try:
                await asyncio.wait_for(asyncio.shield(delivery), wait)
            except TimeoutError:
                if not self._overdue:
                    log.warning(
                        "kafka send to %s not acknowledged within %gs; the producer retries it", msg.topic, wait
                    )
                self._overdue = True
                self.connected = False
                return False
            except Exception as e:  # the producer gave the message up: a new producer sends it anew
                msg.holder = msg.delivery = None
                await self._failed(msg.topic, e)
                return False
            self._overdue = False
            self.connected = True
            return True

    async def _hand_over(self, msg: Message) -> asyncio.Future[Any] | None:
        """The acknowledgement of ``msg`` from the producer: the one it holds, or a new send; None when the
        producer could not take it (no broker at start, no metadata), and the producer is rebuilt."""
        try:
            p = await self._get()
            if msg.holder is p and msg.delivery is not None:
                return msg.delivery
            delivery: asyncio.Future[Any] = await asyncio.wait_for(
                p.send(msg.topic, msg.value, key=msg.key), self.timeout
            )
        except Exception as e:
            msg.holder = msg.delivery = None
            await self._failed(msg.topic, e)
            return None
        msg.delivery, msg.holder = delivery, p
        return delivery

    async def _failed(self, topic: str, e: BaseException) -> None:
        if self.connected:
            log.warning("kafka send to %s failed: %s", topic, e)
        self.connected = False
        self._overdue = False  # a new producer gets the full timeout again
        if self._producer is not None:
            p, self._producer = self._producer, None
            await self._close(p)

    async def close(self) -> None:
        if self._producer is not None:
            p, self._producer = self._producer, None
            await self._close(p)
