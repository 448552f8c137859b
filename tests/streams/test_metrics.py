"""The stream worker's /metrics (streams.metrics_listen): Prometheus text whose counters move under load — records
and batches applied, batch latency, consumer lag per partition draining to 0, dead letters counted."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.helpers import Procs, metric_sum, scrape, wait_until
from tests.streams.events import access_batches, produce, produce_batches
from warpdrive.compose.stack import free_port
from warpdrive.schemas.config import Config
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services


def test_worker_metrics_move_under_load(cfg: Config, procs: Procs) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    topic = ACCESS.full_name(cfg.kafka)
    # Its own consumer group: it reads the topic from the start, whatever other tests left there.
    group = f"wd-metrics-{uuid.uuid4().hex[:6]}"
    procs.start(
        "streams",
        "streams",
        "worker",
        env={"WARPDRIVE_STREAMS_METRICS_LISTEN": f"127.0.0.1:{port}", "WARPDRIVE_STREAMS_APP_ID": group},
    )

    def lag_zero() -> dict[str, float] | None:
        try:
            m = scrape(url)
        except OSError:
            return None
        lags = {k: v for k, v in m.items() if k.startswith("warpdrive_streams_consumer_lag{") and topic in k}
        return m if lags and not any(lags.values()) else None

    before = wait_until(
        lag_zero,
        90,
        what="the worker to catch up (lag 0 on every access partition)",
        explain=lambda: procs.tail("streams"),
    )
    assert isinstance(before, dict)
    applied0 = metric_sum(before, "warpdrive_streams_records_applied_total", topic=topic)
    batches0 = metric_sum(before, "warpdrive_streams_batches_applied_total", topic=topic)

    batches = access_batches(77, 20, 25, ("met-a",))
    produce_batches(cfg, ACCESS, batches, "node_host")
    asyncio.run(produce(cfg, ACCESS, [(b"bad", b"{not json")]))

    def moved() -> dict[str, float] | None:
        m = lag_zero()
        if m and metric_sum(m, "warpdrive_streams_records_applied_total", topic=topic) >= applied0 + 500:
            return m
        return None

    after = wait_until(
        moved, 60, what="500 more records applied and the lag back to 0", explain=lambda: procs.tail("streams")
    )
    assert isinstance(after, dict)
    assert metric_sum(after, "warpdrive_streams_records_applied_total", topic=topic) == applied0 + 500
    assert metric_sum(after, "warpdrive_streams_batches_applied_total", topic=topic) > batches0
    assert metric_sum(after, "warpdrive_streams_batch_seconds_count", topic=topic) >= metric_sum(
        after, "warpdrive_streams_batches_applied_total", topic=topic
    )
    partitions = {k for k in after if k.startswith("warpdrive_streams_consumer_lag{") and topic in k}
    assert len(partitions) == (ACCESS.partitions or cfg.kafka.partitions), partitions
    wait_until(
        lambda: metric_sum(scrape(url), "warpdrive_streams_dead_letters", topic=topic) >= 1,
        30,
        what="the dead letter to be counted",
    )
    assert "warpdrive_streams_quota_publish_delay_seconds" in after
    assert "Traceback" not in procs.log("streams")
