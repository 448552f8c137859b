"""Telemetry into real Kafka: batches, the disk spool across a broker outage and an agent restart."""

from __future__ import annotations

import signal
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
from tests.helpers import wait_until

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


def test_one_producer_across_a_frozen_broker_sends_no_copy(private_stack, tmp_path: Path) -> None:
    """A batch whose acknowledgement does not come (the broker SIGSTOPped after the producer connected) stays with
    the same idempotent producer: trying it again waits for that delivery, and once the broker thaws Kafka holds
    the batch once, from the one producer id. (Rebuilding the producer on the timeout, as the agent did before,
    resends it from a new id while the first request still sits in the frozen broker's socket: two copies.)"""
    from warpdrive.agent.loop import Message
    from warpdrive.schemas.config import from_dict
    from warpdrive.schemas.topics import ensure_topics

    st = private_stack(("kafka",))
    cfg = from_dict(st.config_dict())
    loop = AsyncioThread()
    loop.start()
    producer = Producer(cfg.kafka, timeout=2)
    topic = ACCESS.full_name(cfg.kafka)
    try:
        loop.submit(ensure_topics(cfg.kafka)).result(60)
        warm_up = Message(topic, b"warm-up", b"frozen")  # connected, the new topic's leader known
        wait_until(lambda: loop.submit(producer.deliver(warm_up)).result(30), 60, what="the warm-up acknowledged")
        st.kill("kafka", signal.SIGSTOP)
        try:
            msg = Message(topic, b"the batch", b"frozen")
            assert not loop.submit(producer.deliver(msg)).result(30)  # no acknowledgement within 3 s
            assert not loop.submit(producer.deliver(msg)).result(30)  # still held: looked again, not resent
        finally:
            st.kill("kafka", signal.SIGCONT)
        wait_until(lambda: loop.submit(producer.deliver(msg)).result(30), 60, what="the held batch acknowledged")
        assert producer.started == 1
        ends = loop.submit(_end_offsets(cfg, topic)).result(60)
        held = [m.value for m in consume(cfg, topic, lambda msgs: _reached(msgs, ends)) if m.key == b"frozen"]
        assert held == [b"warm-up", b"the batch"]
    finally:
        loop.submit(producer.close()).result(30)
        loop.stop()


async def _end_offsets(cfg: Config, topic: str) -> dict[int, int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    c = AIOKafkaConsumer(**cfg.kafka.client_options(), enable_auto_commit=False)
    await c.start()
    try:
        partitions = c.partitions_for_topic(topic) or set(range(ACCESS.partitions or cfg.kafka.partitions))
        return {
            tp.partition: o for tp, o in (await c.end_offsets([TopicPartition(topic, p) for p in partitions])).items()
        }
    finally:
        await c.stop()


def _reached(msgs: list, ends: dict[int, int]) -> bool:
    """Whether ``msgs`` (read from the beginning) hold every message up to ``ends``, per partition."""
    last: dict[int, int] = {}
    for m in msgs:
        last[m.partition] = max(last.get(m.partition, -1), m.offset)
    return all(last.get(p, -1) >= end - 1 for p, end in ends.items())
