"""Telemetry into real Kafka: batches, the disk spool across a broker outage and an agent restart."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from warpdrive.agent.loop import AsyncioThread, Producer
from warpdrive.agent.sinks import KafkaSink
from warpdrive.agent.spool import Spool
from warpdrive.agent.telemetry import Collector
from warpdrive.schemas.config import AgentSettings, Config, KafkaSettings
from warpdrive.schemas.records import decode_batch
from warpdrive.schemas.topics import ACCESS

from tests.agent.conftest import consume

pytestmark = pytest.mark.services


def dead_address() -> str:
    """A loopback port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def events_of(cfg: Config, node: str, expected: int) -> list:
    topic = ACCESS.full_name(cfg.kafka)

    def mine(msgs: list) -> list:
        return [e for m in msgs if m.key == node.encode() for e in decode_batch(m.value)]

    return mine(consume(cfg, topic, lambda msgs: len(mine(msgs)) >= expected))


def run_collector(kafka: KafkaSettings, spool_dir: Path, node: str, n: int, tag: str) -> Collector:
    loop = AsyncioThread()
    loop.start()
    settings = AgentSettings(batch_size=50, flush_interval=0.2)
    sink = KafkaSink(loop, Producer(kafka, timeout=3), ACCESS.full_name(kafka), node, Spool(spool_dir, 1 << 20))
    c = Collector(node, settings, sink)
    c.start()
    for i in range(n):
        c.record("read", "alice", 0, "s3", f"{tag}/{i}", bytes_read=i)
    c.stop()
    loop.submit(sink.producer.close()).result(10)
    loop.stop()
    return c


def test_spool_survives_an_outage_and_a_restart_with_zero_loss(cfg: Config, tmp_path: Path, session_id: str) -> None:
    node = f"spool-{session_id}"
    dead = KafkaSettings(bootstrap_servers=dead_address(), topic_prefix=cfg.kafka.topic_prefix)
    first = run_collector(dead, tmp_path / "spool", node, 300, "outage")
    assert first.stats()["spool_batches"] >= 6 and first.stats()["spool_dropped"] == 0
    assert first.sent == 300  # handed to the sink, which spooled them
    # A restarted agent (new boot id, same spool dir) with Kafka back: old events first, then new ones.
    second = run_collector(cfg.kafka, tmp_path / "spool", node, 100, "after")
    assert second.stats()["spool_batches"] == 0
    events = events_of(cfg, node, 400)
    assert len(events) == 400 and len({e.event_id for e in events}) == 400
    assert [e.path for e in events] == [f"outage/{i}" for i in range(300)] + [f"after/{i}" for i in range(100)]
    assert {e.event_id.split("/")[1] for e in events} == {first.boot_id, second.boot_id}
    assert not list((tmp_path / "spool").glob("*.batch"))


def test_a_full_spool_drops_and_counts(cfg: Config, tmp_path: Path, session_id: str) -> None:
    dead = KafkaSettings(bootstrap_servers=dead_address(), topic_prefix=cfg.kafka.topic_prefix)
    loop = AsyncioThread()
    loop.start()
    spool = Spool(tmp_path / "spool", 20_000)
    sink = KafkaSink(loop, Producer(dead, timeout=2), ACCESS.full_name(dead), "full", spool)
    c = Collector("full", AgentSettings(batch_size=50, flush_interval=0.2), sink)
    c.start()
    for i in range(1000):
        c.record("read", "alice", 0, "s3", f"f/{i}")
    c.stop()
    loop.stop()
    assert spool.bytes <= 20_000 and spool.dropped > 0
    assert spool.spooled + spool.dropped == 1000
