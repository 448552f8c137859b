"""Access events → access_log through a real worker process, real Kafka and real PostgreSQL."""

from __future__ import annotations

import asyncio
import signal

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.helpers import Procs, wait_until
from tests.streams.events import (
    access_batches,
    access_log,
    access_truth,
    produce,
    produce_batches,
    query,
    user_rollups,
    user_truth,
)
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import encode_batch
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services


def _reset_group(cfg: Config) -> None:
    """Rewinds the (idle) worker group's committed offsets on the access topic to the beginning."""

    async def run() -> None:
        c = AIOKafkaConsumer(**cfg.kafka.client_options(), group_id=cfg.streams.app_id, enable_auto_commit=False)
        await c.start()
        try:
            name = ACCESS.full_name(cfg.kafka)
            tps = [TopicPartition(name, p) for p in range(ACCESS.partitions or cfg.kafka.partitions)]
            c.assign(tps)
            await c.commit({tp: 0 for tp in tps})
        finally:
            await c.stop()

    asyncio.run(run())


def test_access_batches_aggregate_exactly_and_survive_bad_messages(cfg: Config, procs: Procs) -> None:
    backends = ("acc-a", "acc-b")
    first = access_batches(1, 30, 50, backends)
    second = access_batches(2, 30, 50, backends)
    produce_batches(cfg, ACCESS, first, "node_host")
    # An undecodable message between good ones: dead-lettered, counted, never a crash.
    asyncio.run(produce(cfg, ACCESS, [(b"bad", b"{not json"), (b"bad", encode_batch(second[0])[:-5])]))
    procs.start("streams", "streams", "worker")
    produce_batches(cfg, ACCESS, second, "node_host")
    truth = access_truth(first + second)
    wait_until(lambda: access_log(cfg.postgres.dsn, backends) == truth, 60, what="access_log == ground truth")
    dead = query(
        cfg.postgres.dsn,
        "SELECT error FROM dead_letters WHERE topic = $1 AND record IS NULL",  # whole messages
        ACCESS.full_name(cfg.kafka),
    )
    assert len(dead) == 2 and all("JSON" in r["error"] for r in dead), dead
    daily = query(
        cfg.postgres.dsn,
        "SELECT sum(read_count) AS r, sum(bytes_written) AS w, sum(files) AS f FROM access_daily"
        " WHERE backend_name = ANY($1::text[])",
        list(backends),
    )[0]
    assert (daily["r"], daily["w"], daily["f"]) == (
        sum(v[0] for v in truth.values()),
        sum(v[3] for v in truth.values()),
        len(truth),
    )
    assert user_rollups(cfg.postgres.dsn, backends) == user_truth(truth)
    assert "Traceback" not in procs.log("streams")


def test_redelivery_counts_nothing_twice(cfg: Config, procs: Procs) -> None:
    backends = ("redo-a",)
    batches = access_batches(3, 20, 40, backends)
    produce_batches(cfg, ACCESS, batches, "node_host")
    procs.start("streams", "streams", "worker")
    truth = access_truth(batches)
    wait_until(lambda: access_log(cfg.postgres.dsn, backends) == truth, 60, what="first delivery applied")
    procs.kill("streams", signal.SIGTERM)  # leaves the group, so its offsets can be rewound to 0
    _reset_group(cfg)
    more = access_batches(4, 5, 40, backends)
    produce_batches(cfg, ACCESS, more, "node_host")
    procs.start("streams", "streams", "worker")
    truth = access_truth(batches + more)
    wait_until(lambda: access_log(cfg.postgres.dsn, backends) == truth, 60, what="after replay == ground truth")
    # The per-user rollups after the replay: equal to the ground truth and to a recomputation from access_log.
    rollups = user_rollups(cfg.postgres.dsn, backends)
    assert rollups == user_truth(truth) == user_truth(access_log(cfg.postgres.dsn, backends))
