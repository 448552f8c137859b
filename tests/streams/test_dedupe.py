"""No live access event counted twice when its batch reaches Kafka twice (streams/dedupe.py).

The agent's own pipeline (collector → Kafka sink → disk spool) against the real broker: a spool replayed twice
by re-created producers (a crash after sending, before the spool file was removed), and the broker kill -9'd by
its recorded pid while the agent sends. A real worker applies the topic; every event's row must say 1.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.helpers import Procs, ready_config, wait_until
from tests.streams.events import access_log, produce_batches, query
from warpdrive.agent.loop import AsyncioThread, Producer
from warpdrive.agent.sinks import KafkaSink
from warpdrive.agent.spool import Spool
from warpdrive.agent.telemetry import Collector
from warpdrive.schemas.config import AgentSettings, Config, KafkaSettings
from warpdrive.schemas.records import AccessEvent, decode_batch, encode_batch
from warpdrive.schemas.topics import ACCESS


def _dead_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


class Agent:
    """The agent's telemetry pipeline, as agent/node.py wires it (without the mount)."""

    def __init__(self, kafka: KafkaSettings, node: str, spool_dir: Path) -> None:
        self.loop = AsyncioThread()
        self.loop.start()
        self.sink = KafkaSink(
            self.loop,
            Producer(kafka),
            ACCESS.full_name(kafka),
            node,  # the agent's own timeout
            Spool(spool_dir, 1 << 26),
        )
        self.collector = Collector(node, AgentSettings(batch_size=50, flush_interval=0.1), self.sink)
        self.collector.start()

    def read(self, backend: str, paths: list[str]) -> None:
        for p in paths:
            self.collector.record("read", "alice", 0, backend, p, bytes_read=1)

    def stop(self, drain: float = 0) -> None:
        """Stops; with ``drain``, first waits up to that long for the spool to empty into Kafka."""
        self.collector.stop()
        deadline = time.monotonic() + drain
        while self.sink.spool.pending and time.monotonic() < deadline:
            self.sink.idle()
            time.sleep(0.2)
        self.loop.submit(self.sink.producer.close()).result(10)
        self.loop.stop()


def _end_offsets(cfg: Config) -> dict[int, int]:
    async def run() -> dict[int, int]:
        c = AIOKafkaConsumer(**cfg.kafka.client_options(), enable_auto_commit=False)
        await c.start()
        try:
            name = ACCESS.full_name(cfg.kafka)
            tps = [TopicPartition(name, p) for p in range(ACCESS.partitions or cfg.kafka.partitions)]
            return {tp.partition: o for tp, o in (await c.end_offsets(tps)).items()}
        finally:
            await c.stop()

    return asyncio.run(run())


def _applied_through(cfg: Config, ends: dict[int, int]) -> bool:
    """Whether the worker has applied every message up to ``ends`` (its stored offsets reached them)."""
    try:
        rows = query(
            cfg.postgres.dsn,
            "SELECT partition, next_offset FROM stream_offsets WHERE topic = $1",
            ACCESS.full_name(cfg.kafka),
        )
    except Exception:  # PostgreSQL restarting
        return False
    stored = {r["partition"]: r["next_offset"] for r in rows}
    return all(stored.get(p, 0) >= o for p, o in ends.items())


def _events_in_kafka(cfg: Config, node: str) -> list[AccessEvent]:
    async def run() -> list[AccessEvent]:
        c = AIOKafkaConsumer(
            ACCESS.full_name(cfg.kafka),
            **cfg.kafka.client_options(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await c.start()
        out: list[AccessEvent] = []
        try:
            while batch := await c.getmany(timeout_ms=2000):
                out += [
                    e for recs in batch.values() for m in recs if m.key == node.encode() for e in decode_batch(m.value)
                ]
        finally:
            await c.stop()
        return out

    return asyncio.run(run())


def _counts(cfg: Config, backend: str) -> dict[str, int]:
    return {k[1]: v[0] for k, v in access_log(cfg.postgres.dsn, [backend]).items()}


def test_old_messages_without_producer_still_decode() -> None:
    e = AccessEvent(
        event_id="n/b/1",
        timestamp="2026-12-01T00:00:00.000000Z",
        user_id="u",
        backend_name="b",
        path="p",
        operation="read",
        node_host="n",
        seq=1,
    )
    old = orjson.loads(encode_batch([e]))
    del old["records"][0]["producer"]
    (back,) = decode_batch(orjson.dumps(old))
    assert back.producer is None and back.seq == 1


@pytest.mark.services
def test_a_spool_replayed_twice_counts_once(cfg: Config, procs: Procs, tmp_path: Path, session_id: str) -> None:
    node, backend = f"dup-{session_id}", "dup-spool"
    dead = KafkaSettings(bootstrap_servers=_dead_address(), topic_prefix=cfg.kafka.topic_prefix)
    outage = Agent(dead, node, tmp_path / "spool")
    outage.read(backend, [f"f{i}" for i in range(300)])
    outage.stop()
    assert outage.sink.spool.pending >= 6
    # The agent crashed after Kafka took the spool but before the files were removed: the restarted agent
    # replays the same batches again, each time through a new producer (a new idempotence id).
    shutil.copytree(tmp_path / "spool", tmp_path / "spool-copy")
    for spool in ("spool", "spool-copy"):
        replay = Agent(cfg.kafka, node, tmp_path / spool)
        replay.stop(drain=120)
        assert replay.sink.spool.pending == 0
    # An older agent's events (no producer) still apply, once per message as before.
    old = [
        AccessEvent(
            event_id=f"{node}/old/{i}",
            timestamp="2026-12-01T10:00:00.000000Z",
            user_id="alice",
            backend_name=backend,
            path=f"old{i}",
            operation="read",
            node_host=node,
            seq=i,
        )
        for i in range(1, 11)
    ]
    produce_batches(cfg, ACCESS, [old], "node_host")
    in_kafka = _events_in_kafka(cfg, node)
    assert len(in_kafka) == 610 and len({e.event_id for e in in_kafka}) == 310  # every batch of the spool twice

    ends = _end_offsets(cfg)
    procs.start("streams", "streams", "worker")
    wait_until(lambda: _applied_through(cfg, ends), 90, what="the worker applied every message")
    counts = _counts(cfg, backend)
    assert counts == {**{f"f{i}": 1 for i in range(300)}, **{f"old{i}": 1 for i in range(1, 11)}}
    marks = query(
        cfg.postgres.dsn, "SELECT producer, last_seq FROM access_producers WHERE producer LIKE $1", node + "/%"
    )
    assert [(r["producer"], r["last_seq"]) for r in marks] == [(outage.collector.producer, 300)]


@pytest.mark.services
def test_broker_killed_while_the_agent_sends_counts_each_event_once(tmp_path: Path, private_stack) -> None:
    st = private_stack(("postgres", "kafka"))
    path = tmp_path / "warpdrive.toml"
    cfg = ready_config(
        path,
        st.config_dict(
            {"postgres": {"dsn": st.postgres_dsn()}, "streams": {"app_id": "dedupe-kill", "batch_within": 0.1}}
        ),
    )
    procs = Procs(path, tmp_path)
    node, backend, n = "killed-broker", "dup-kill", 6000
    try:
        procs.start("streams", "streams", "worker")
        agent = Agent(cfg.kafka, node, tmp_path / "spool")
        sent = threading.Event()

        def send() -> None:  # ~2000 events/s, in batches of 50, before, during and after the kill
            for i in range(0, n, 50):
                agent.read(backend, [f"f{j}" for j in range(i, i + 50)])
                if i == n // 3:
                    sent.set()
                time.sleep(0.025)

        t = threading.Thread(target=send)
        t.start()
        assert sent.wait(60)
        st.kill("kafka")  # kill -9 by the stack's recorded pid, mid-send
        wait_until(lambda: st.pid("kafka") is None, 30, what="the broker gone")
        st.start_kafka()
        t.join()
        agent.stop(drain=120)
        assert agent.sink.spool.pending == 0 and agent.collector.dropped == 0
        if procs.procs["streams"].poll() is not None:  # it gave up on Kafka: a supervisor restarts it
            procs.start("streams", "streams", "worker")
        ends = _end_offsets(cfg)
        wait_until(lambda: _applied_through(cfg, ends), 180, interval=0.5, what="the worker applied every message")
        in_kafka = len(_events_in_kafka(cfg, node))
        counts = _counts(cfg, backend)
        assert in_kafka >= n
        assert len(counts) == n and set(counts.values()) == {1}, (in_kafka, sum(counts.values()))
        print(
            f"events in Kafka {in_kafka} (copies {in_kafka - n}), applied {sum(counts.values())} of {n}; "
            f"producers the agent built: {agent.sink.producer.started}"
        )
    finally:
        procs.stop_all()


@pytest.mark.services
def test_a_copy_stamps_its_producer_seen_and_is_skipped(cfg: Config, session_id: str) -> None:
    """`warpdrive retention` prunes marks by when their producer was last seen (schemas/retention.py): a batch of
    copies only, arriving long after the mark last moved, must count as seen — and still be skipped."""
    from warpdrive.streams.dedupe import fresh_events

    producer = f"seen-{session_id}/boot"

    def event(seq: int) -> AccessEvent:
        return AccessEvent(
            event_id=f"{producer}/{seq}",
            timestamp="2026-12-01T10:00:00.000000Z",
            user_id="alice",
            backend_name="dup-seen",
            path=f"f{seq}",
            operation="read",
            node_host="seen",
            seq=seq,
            producer=producer,
        )

    async def run() -> tuple[list[AccessEvent] | None, Any]:
        conn = await asyncpg.connect(cfg.postgres.dsn)
        try:
            await conn.execute(
                "INSERT INTO access_producers (producer, last_seq, updated_at) VALUES ($1, 5, now() - interval '40 days')",
                producer,
            )
            async with conn.transaction():
                fresh = await fresh_events(conn, [event(4), event(5)])
            row = await conn.fetchrow(
                "SELECT last_seq, now() - updated_at < interval '1 minute' AS seen FROM access_producers "
                "WHERE producer = $1",
                producer,
            )
            return fresh, row
        finally:
            await conn.close()

    fresh, row = asyncio.run(run())
    assert fresh == [] and row["last_seq"] == 5 and row["seen"]
