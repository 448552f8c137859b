"""The stream worker's Prometheus series (served on ``streams.metrics_listen``).

Counted as batches commit: records and batches applied and batch latency per topic, quota transitions
published. Sampled every ``SAMPLE_INTERVAL`` from the sources of truth: consumer lag per assigned
partition (the broker's end offset minus the next offset PostgreSQL stored as applied — what is *not yet
in the database*, whatever Kafka's own committed offset says), dead letters waiting, and the age of the
oldest quota transition not yet published (the publisher's delay).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from warpdrive.schemas.metrics import Metrics

if TYPE_CHECKING:
    from .app import StreamsApp

log = logging.getLogger(__name__)

SAMPLE_INTERVAL = 5.0  # seconds between lag / dead-letter / outbox samples
SAMPLE_TIMEOUT = 4.0


class StreamsMetrics:
    def __init__(self) -> None:
        m = self.metrics = Metrics("streams")
        self.records = m.counter("records_applied", "Records applied to PostgreSQL (committed), by topic.", ["topic"])
        self.batches = m.counter(
            "batches_applied", "Batches of Kafka messages committed to PostgreSQL, by topic.", ["topic"]
        )
        self.batch_seconds = m.histogram(
            "batch_seconds", "Time to apply one batch (its transaction), by topic.", ["topic"]
        )
        self.quota_transitions = m.counter(
            "quota_transitions_published", "Quota level transitions published to the quota topics."
        )
        self.lag = m.gauge(
            "consumer_lag",
            "Messages in Kafka not yet applied to PostgreSQL, per assigned partition.",
            ["topic", "partition"],
        )
        self.dead_letters = m.gauge("dead_letters", "Dead letters stored for this consumer group, by topic.", ["topic"])
        self.publish_delay = m.gauge(
            "quota_publish_delay_seconds", "Age of the oldest quota transition not yet published (0 when none waits)."
        )
        self.last_sample = m.gauge(
            "last_sample_timestamp_seconds", "When lag, dead letters and publisher delay were last sampled (Unix time)."
        )

    def batch(self, topic: str, records: int, seconds: float) -> None:
        self.records.labels(topic).inc(records)
        self.batches.labels(topic).inc()
        self.batch_seconds.labels(topic).observe(seconds)

    async def sample(self, app: "StreamsApp") -> None:
        """Refreshes the sampled gauges; an unreachable broker or database leaves the last values."""
        from .offsets import stored_offsets

        consumer = app.cfg.streams.app_id
        assigned = sorted(app.consumer.assignment())
        async with asyncio.timeout(SAMPLE_TIMEOUT):
            ends: dict[Any, int] = dict(await app.consumer.highwaters(*assigned)) if assigned else {}
            stored = await stored_offsets(app.db(), consumer, sorted({tp.topic for tp in assigned}))
            async with app.db().acquire() as conn:
                dead = await conn.fetch(
                    "SELECT topic, count(*) AS n FROM dead_letters WHERE consumer = $1 GROUP BY topic", consumer
                )
                delay = await conn.fetchval(
                    "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM quota_outbox "
                    "WHERE published_at IS NULL"
                )
        self.lag.clear()  # partitions moved to another worker are no longer this one's to report
        for tp in assigned:
            end = ends.get(tp)
            if end is not None:
                self.lag.labels(tp.topic, str(tp.partition)).set(max(end - stored.get((tp.topic, tp.partition), 0), 0))
        self.dead_letters.clear()
        for r in dead:
            self.dead_letters.labels(r["topic"]).set(r["n"])
        self.publish_delay.set(float(delay))
        self.last_sample.set_to_current_time()
