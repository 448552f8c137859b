"""Where telemetry batches go: Kafka (with a disk spool while it is unreachable) or JSON lines."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import IO, Any

import orjson

from warpdrive.schemas.records import AccessEvent, encode_batch

from .loop import AsyncioThread, Message, Producer
from .spool import Spool


class JsonLinesSink:
    """One JSON object per line, on stdout (for K8s log aggregation) or appended to a file."""

    def __init__(self, stream: IO[bytes], owned: bool) -> None:
        self.stream = stream
        self.owned = owned

    @classmethod
    def stdout(cls) -> "JsonLinesSink":
        return cls(sys.stdout.buffer, owned=False)

    @classmethod
    def file(cls, path: Path) -> "JsonLinesSink":
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(open(path, "ab"), owned=True)

    def send(self, batch: list[AccessEvent]) -> None:
        # orjson serialises the dataclasses itself, far faster than dataclasses.asdict (docs/benchmarks.md).
        self.stream.write(b"".join(orjson.dumps(e) + b"\n" for e in batch))
        self.stream.flush()

    def idle(self) -> None:
        pass

    def close(self) -> None:
        if self.owned:
            self.stream.close()

    def stats(self) -> dict[str, Any]:
        return {"sink": "file" if self.owned else "stdout"}


class KafkaSink:
    """Batches to the access topic keyed by node; the spool takes over whenever a send fails.

    Order is kept: while anything is spooled, new batches are spooled behind it, and the spool is
    replayed oldest first before anything new goes out directly.
    """

    RETRY_SECONDS = 1.0

    def __init__(self, loop: AsyncioThread, producer: Producer, topic: str, node: str, spool: Spool) -> None:
        self.loop = loop
        self.producer = producer
        self.topic = topic
        self.key = node.encode()
        self.spool = spool
        self._next_retry = 0.0
        self._unacknowledged: Message | None = None

    def _try(self, payload: bytes) -> bool:
        """One send, unless a recent failure says to wait (a dead broker costs a timeout per try). A batch
        whose acknowledgement did not come is the spool's oldest: trying it again waits for the producer that
        still holds it rather than sending a copy."""
        if time.monotonic() < self._next_retry:
            return False
        if self._unacknowledged is None or self._unacknowledged.value != payload:
            self._unacknowledged = Message(self.topic, payload, self.key)
        if self.loop.submit(self.producer.deliver(self._unacknowledged)).result():
            self._unacknowledged = None
            return True
        self._next_retry = time.monotonic() + self.RETRY_SECONDS
        return False

    def send(self, batch: list[AccessEvent]) -> None:
        payload = encode_batch(batch)
        self.idle()
        if self.spool.pending or not self._try(payload):
            self.spool.append(payload, len(batch))

    def idle(self) -> None:
        """Replays the spool, oldest first, while Kafka takes it."""
        while (item := self.spool.oldest()) is not None:
            path, payload = item
            if not self._try(payload):
                return
            self.spool.remove(path)

    def close(self) -> None:
        self.idle()

    def stats(self) -> dict[str, Any]:
        return {
            "sink": "kafka",
            "kafka_connected": self.producer.connected,
            "spool_bytes": self.spool.bytes,
            "spool_batches": self.spool.pending,
            "spool_dropped": self.spool.dropped,
            "spooled": self.spool.spooled,
        }
