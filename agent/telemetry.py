"""The telemetry collector: records access events without ever slowing the file system.

``record()`` only builds an event and puts it on a bounded queue (dropped and counted when full);
a drainer thread batches the queue into the sink. Metadata ops are sampled (weight = 1/rate), and
reads/writes are coalesced per open handle by ``Window`` so a 1 GiB sequential read is a few events.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from warpdrive.schemas.config import AgentSettings
from warpdrive.schemas.records import AccessEvent, format_ts, utc_now

log = logging.getLogger(__name__)


class Sink(Protocol):
    def send(self, batch: list[AccessEvent]) -> None: ...
    def idle(self) -> None: ...  # called when the queue is quiet: retry what is pending
    def close(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class Window:
    """Reads (or writes) of one open handle within one flush window, to become one event."""

    opened: float = field(default_factory=time.time)
    count: int = 0
    nbytes: int = 0
    cache_hits: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0
    first: float = 0.0
    last: float = 0.0
    error: str | None = None

    def add(self, nbytes: int, hit: bool, latency_ms: float, now: float, error: str | None = None) -> None:
        if not self.count:
            self.first = now
        self.count += 1
        self.nbytes += nbytes
        self.cache_hits += hit
        self.latency_sum += latency_ms
        self.latency_max = max(self.latency_max, latency_ms)
        self.last = now
        self.error = error or self.error

    def due(self, now: float, interval: float) -> bool:
        """Flush when the window is old, or before it would straddle a UTC day (per-day counts stay exact)."""
        return bool(self.count) and (now - self.first >= interval or int(now // 86400) != int(self.first // 86400))


def _printable(path: str) -> str:
    """Event paths are UTF-8 JSON: a POSIX name that is not UTF-8 keeps its odd bytes as ``\\xNN``."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Collector:
    def __init__(self, node: str, settings: AgentSettings, sink: Sink | None) -> None:
        self.node = node
        self.settings = settings
        self.enabled = settings.telemetry_enabled and sink is not None
        self.sink = sink
        self.boot_id = uuid.uuid4().hex[:12]
        self.rate = settings.sample_metadata_ops
        self.metadata_weight = 1.0 / self.rate if self.rate else 0.0
        self._seq = itertools.count(1)
        self._queue: queue.Queue[AccessEvent | None] = queue.Queue(settings.queue_size)
        self.dropped = 0
        self.recorded = 0
        self.sent = 0
        self._thread: threading.Thread | None = None

    def sampled(self) -> bool:
        """Whether to record this metadata op (list/stat); recorded ones carry ``metadata_weight``."""
        return self.enabled and self.rate > 0 and (self.rate >= 1 or random.random() < self.rate)

    def record(self, operation: str, user: str, uid: int | None, backend: str, path: str, **fields: Any) -> None:
        if not self.enabled:
            return
        seq = next(self._seq)
        if not path.isascii():
            path = _printable(path)
        event = AccessEvent(
            event_id=f"{self.node}/{self.boot_id}/{seq}", timestamp=fields.pop("timestamp", None) or utc_now(),
            user_id=user, backend_name=backend, path=path, operation=operation, node_host=self.node,
            seq=seq, uid=uid, **fields,
        )
        try:
            self._queue.put_nowait(event)
            self.recorded += 1
        except queue.Full:
            self.dropped += 1

    def record_window(self, operation: str, user: str, uid: int | None, backend: str, path: str, w: Window) -> None:
        """One event for a handle's coalesced reads or writes; the window is then reset by the caller."""
        size_field = "bytes_read" if operation == "read" else "bytes_written"
        self.record(
            operation, user, uid, backend, path, timestamp=format_ts(w.last), first_timestamp=format_ts(w.first),
            count=w.count, cache_hits=w.cache_hits, cache_hit=w.cache_hits == w.count,
            latency_ms=round(w.latency_sum / w.count, 3), latency_max_ms=round(w.latency_max, 3),
            error=w.error, **{size_field: w.nbytes},
        )

    # -- the drainer thread --------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._drain, name="telemetry", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flushes what is queued into the sink (or its spool) and stops the drainer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.sink is not None:
            self.sink.close()

    def _drain(self) -> None:
        batch: list[AccessEvent] = []
        deadline = time.monotonic() + self.settings.flush_interval
        while True:
            timeout = deadline - time.monotonic()
            try:
                event = self._queue.get(timeout=max(timeout, 0)) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                event = ...  # type: ignore[assignment]
            if event is None or event is ... or len(batch) + 1 >= self.settings.batch_size:
                if isinstance(event, AccessEvent):
                    batch.append(event)
                if batch:
                    self._send(batch)
                    batch = []
                elif event is ...:
                    self._idle()
                deadline = time.monotonic() + self.settings.flush_interval
                if event is None:
                    return
                continue
            batch.append(event)

    def _send(self, batch: list[AccessEvent]) -> None:
        assert self.sink is not None
        try:
            self.sink.send(batch)
            self.sent += len(batch)
        except Exception:  # a sink bug must not kill the drainer; the batch is counted as dropped
            log.exception("telemetry sink failed; %d events dropped", len(batch))
            self.dropped += len(batch)

    def _idle(self) -> None:
        assert self.sink is not None
        try:
            self.sink.idle()
        except Exception:
            log.exception("telemetry sink retry failed")

    def stats(self) -> dict[str, Any]:
        out = {"enabled": self.enabled, "queue_depth": self._queue.qsize(), "queue_size": self.settings.queue_size,
               "recorded": self.recorded, "sent": self.sent, "dropped": self.dropped, "boot_id": self.boot_id}
        if self.sink is not None:
            out.update(self.sink.stats())
        return out
