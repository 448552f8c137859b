"""The walking skeleton, every hop real: AccessEvents produced to Kafka → a Faust worker aggregates them into
`access_log` → `GET /api/v1/usage?group_by=user` answers from PostgreSQL → `warpdrive-ctl usage --group-by user`
prints it."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import asyncpg
import orjson
import pytest

from tests.helpers import Procs, wait_until
from warpdrive.compose.stack import free_port, port_open
from warpdrive.schemas import records, topics
from warpdrive.schemas.config import Config
from warpdrive.schemas.db import resolve_dsn


async def produce(cfg: Config, batches: list[list[records.AccessEvent]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(**cfg.kafka.client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futures = [
            await producer.send(
                topics.ACCESS.full_name(cfg.kafka), records.encode_batch(b), key=b[0].node_host.encode()
            )
            for b in batches
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def events(node: str, user: str, n: int, size: int) -> list[records.AccessEvent]:
    return [
        records.AccessEvent(
            event_id=f"{node}/boot/{i}",
            seq=i,
            timestamp=records.utc_now(),
            user_id=user,
            backend_name="s3",
            path=f"datasets/{user}/shard-{i % 3}.tar",
            operation="read",
            node_host=node,
            count=2,
            bytes_read=size,
        )
        for i in range(n)
    ]


@pytest.mark.services
def test_access_events_reach_the_cli(cfg: Config, procs: Procs) -> None:
    batches = [events("node-a", "alice", 30, 1000), events("node-b", "bob", 12, 500), events("node-a", "alice", 6, 10)]
    asyncio.run(produce(cfg, batches))

    procs.start("streams", "streams", "worker")
    port = free_port()
    procs.start("api", "api", "serve", "--listen", f"127.0.0.1:{port}", "--insecure-no-auth")

    async def log_rows() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(resolve_dsn(cfg))
        try:
            return await conn.fetch(
                "SELECT user_id, SUM(read_count) AS reads, SUM(bytes_read) AS bytes FROM access_log GROUP BY user_id ORDER BY 1"
            )
        finally:
            await conn.close()

    rows = wait_until(
        lambda: (r := asyncio.run(log_rows())) and sum(x["reads"] for x in r) == 96 and r,
        90,
        what="access_log to hold all 48 events",
        explain=lambda: procs.tail("streams"),
    )
    # count=2 operations per event; bytes per event
    assert [(r["user_id"], r["reads"], r["bytes"]) for r in rows] == [("alice", 72, 30_060), ("bob", 24, 6_000)]

    wait_until(lambda: port_open(port), 60, what="the API to listen", explain=lambda: procs.tail("api"))
    ctl = str(Path(sys.executable).with_name("warpdrive-ctl"))
    url = f"http://127.0.0.1:{port}"
    out = subprocess.run(
        [ctl, "--control-plane", url, "--format", "json", "usage", "--group-by", "user"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = orjson.loads(out.stdout)
    items = doc["items"] if isinstance(doc, dict) else doc
    by_user = {i["user"]: i for i in items}
    assert by_user["alice"]["read_count"] == 72 and by_user["alice"]["bytes_read"] == 30_060
    assert by_user["bob"]["read_count"] == 24 and by_user["bob"]["bytes_read"] == 6_000

    table = subprocess.run(
        [ctl, "--control-plane", url, "usage", "--group-by", "user"], capture_output=True, text=True, timeout=60
    )
    assert table.returncode == 0, table.stderr
    assert "alice" in table.stdout and "bob" in table.stdout
