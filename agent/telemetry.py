"""The telemetry collector: records access events without ever slowing the file system.

``record()`` only appends the event's parts to a bounded deque (dropped and counted when full); a
drainer thread polls the deque, builds the events (ids, timestamps) and batches them into the
sink, so the FUSE thread spends a few µs per event. Polling, not a ``queue.Queue``: a queue wakes
the drainer on every event, and that wake-up plus the GIL hand-off back made a small file's release
many times slower on the FUSE thread (figures: docs/benchmarks.md). Metadata ops
are sampled (weight = 1/rate), and reads/writes are coalesced per open handle by ``Window`` so a
1 GiB sequential read is a few events.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from warpdrive.schemas.config import AgentSettings
from warpdrive.schemas.records import AccessEvent

log = logging.getLogger(__name__)

# What ``record`` queues: operation, user, uid, backend, path, time, first time (windows), other fields.
Pending = tuple[str, str, "int | None", str, str, float, "float | None", dict[str, Any]]
POLL_SECONDS = 0.25  # the drainer's wake-up period: each wake-up takes the GIL from the FUSE thread once


class Sink(Protocol):
    def send(self, batch: list[AccessEvent]) -> None: ...
    def idle(self) -> None: ...  # called when the queue is quiet: retry what is pending
    def close(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class Window:
    """Reads (or writes) of one open handle within one flush window, to become one event."""

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


class Timestamps:
    """``format_ts`` for the drainer: the date and time of day are formatted once per second.

    ``format_ts`` goes through ``datetime`` (slow per call); a read window's event needs two timestamps.
    """

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")

    def format(self, ts: float) -> str:
        sec = int(ts)
        us = round((ts - sec) * 1e6)
        if us == 1_000_000:
            sec, us = sec + 1, 0
        cached, prefix = self._second
        if cached != sec:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
            self._second = (sec, prefix)
        return f"{prefix}.{us:06d}Z"


class Collector:
    def __init__(self, node: str, settings: AgentSettings, sink: Sink | None) -> None:
        self.node = node
        self.settings = settings
        self.enabled = settings.telemetry_enabled and sink is not None
        self.sink = sink
        self.boot_id = uuid.uuid4().hex[:12]
        self.producer = f"{node}/{self.boot_id}"  # with seq: each event applied once (streams/dedupe.py)
        self.rate = settings.sample_metadata_ops
        self.metadata_weight = 1.0 / self.rate if self.rate else 0.0
        self._seq = itertools.count(1)
        self._ts = Timestamps()
        self._queue: deque[Pending] = deque()  # append/popleft are atomic: no lock on the hot path
        self._stopping = threading.Event()
        self.dropped = 0
        self.recorded = 0
        self.sent = 0
        self._thread: threading.Thread | None = None

    def sampled(self) -> bool:
        """Whether to record this metadata op (list/stat); recorded ones carry ``metadata_weight``."""
        return self.enabled and self.rate > 0 and (self.rate >= 1 or random.random() < self.rate)

    def record(self, operation: str, user: str, uid: int | None, backend: str, path: str, **fields: Any) -> None:
        if self.enabled:
            self._put((operation, user, uid, backend, path, time.time(), None, fields))

    def record_window(self, operation: str, user: str, uid: int | None, backend: str, path: str, w: Window) -> None:
        """One event for a handle's coalesced reads or writes; the window is then reset by the caller."""
        if self.enabled:
            self._put(
                (
                    operation,
                    user,
                    uid,
                    backend,
                    path,
                    w.last,
                    w.first,
                    {
                        "bytes_read" if operation == "read" else "bytes_written": w.nbytes,
                        "count": w.count,
                        "cache_hits": w.cache_hits,
                        "cache_hit": w.cache_hits == w.count,
                        "error": w.error,
                        "latency_ms": round(w.latency_sum / w.count, 3),
                        "latency_max_ms": round(w.latency_max, 3),
                    },
                )
            )

    def _put(self, item: Pending) -> None:
        if len(self._queue) >= self.settings.queue_size:
            self.dropped += 1
        else:
            self._queue.append(item)
            self.recorded += 1

    def _event(self, item: Pending) -> AccessEvent:
        """In the drainer thread: the event, numbered in queue order."""
        operation, user, uid, backend, path, ts, first, fields = item
        seq = next(self._seq)
        if not path.isascii():
            path = _printable(path)
        return AccessEvent(
            event_id=f"{self.node}/{self.boot_id}/{seq}",
            timestamp=self._ts.format(ts),
            first_timestamp=None if first is None else self._ts.format(first),
            user_id=user,
            backend_name=backend,
            path=path,
            operation=operation,
            node_host=self.node,
            seq=seq,
            uid=uid,
            producer=self.producer,
            **fields,
        )

    # -- the drainer thread --------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._drain, name="telemetry", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Flushes what is queued into the sink (or its spool) and stops the drainer."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None
        if self.sink is not None:
            self.sink.close()

    def _drain(self) -> None:
        """Full batches go at once; a partial one after ``flush_interval``; the sink retries when idle."""
        batch: list[AccessEvent] = []
        size = self.settings.batch_size
        deadline = time.monotonic() + self.settings.flush_interval
        while True:
            stopping = self._stopping.wait(POLL_SECONDS)
            while self._queue:
                batch.append(self._event(self._queue.popleft()))
                if len(batch) >= size:
                    self._send(batch)
                    batch = []
                    deadline = time.monotonic() + self.settings.flush_interval
            now = time.monotonic()
            if batch and (stopping or now >= deadline):
                self._send(batch)
                batch = []
                deadline = now + self.settings.flush_interval
            elif now >= deadline:
                self._idle()
                deadline = now + self.settings.flush_interval
            if stopping:
                return

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
        out = {
            "enabled": self.enabled,
            "queue_depth": len(self._queue),
            "queue_size": self.settings.queue_size,
            "recorded": self.recorded,
            "sent": self.sent,
            "dropped": self.dropped,
            "boot_id": self.boot_id,
        }
        if self.sink is not None:
            out.update(self.sink.stats())
        return out
