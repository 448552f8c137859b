"""The agent's Prometheus series (served on ``agent.metrics_listen``), read at scrape time from the counters
the agent keeps anyway for its heartbeat — nothing is added to the FUSE hot path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from warpdrive.schemas.metrics import Metrics, Sample

if TYPE_CHECKING:
    from .fs import WarpFS
    from .node import Agent


def agent_metrics(agent: "Agent", ops: "WarpFS") -> Metrics:
    m = Metrics("agent")

    def totals() -> Iterable[Sample]:
        c, cache, spool = agent.collector, agent.cache, agent.spool
        yield "events_recorded", "Access events recorded (queued for the sink).", "counter", {(): c.recorded}
        yield (
            "events_sent",
            "Access events handed to the sink (Kafka, or the spool while it is down).",
            "counter",
            {(): c.sent},
        )
        yield (
            "events_dropped",
            "Access events dropped: telemetry queue full, sink failure or spool full.",
            "counter",
            {(): c.dropped + spool.dropped},
        )
        yield "queue_depth", "Access events waiting in the telemetry queue.", "gauge", {(): len(c._queue)}
        yield (
            "spool_bytes",
            "Bytes of event batches spooled on disk while Kafka is unreachable.",
            "gauge",
            {(): spool.bytes},
        )
        yield "spool_batches", "Event batches waiting in the spool.", "gauge", {(): spool.pending}
        yield (
            "kafka_connected",
            "1 while the agent's Kafka producer is connected.",
            "gauge",
            {(): float(agent.producer.connected)},
        )
        yield "cache_hits", "Block cache hits.", "counter", {(): cache.hits}
        yield "cache_misses", "Block cache misses (read from the backend).", "counter", {(): cache.misses}
        yield "cache_bytes", "Bytes in the block cache.", "gauge", {(): cache.bytes}
        yield (
            "backend_errors",
            "File operations that failed with an I/O error from a backend.",
            "counter",
            {(): ops.errors},
        )
        yield "open_handles", "Open file handles on the mount.", "gauge", {(): len(ops.handles)}

    def backends() -> Iterable[Sample]:
        probes = agent.probes
        results = probes.snapshot() if probes is not None else {}
        yield (
            "backend_up",
            "1 when the backend answered the agent's last probe.",
            "gauge",
            {(name,): float(bool(r.get("reachable"))) for name, r in results.items()},
        )

    m.on_scrape(totals)
    m.on_scrape(backends, labels=["backend"])
    return m
