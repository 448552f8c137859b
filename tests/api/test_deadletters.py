"""Dead letters through the API: listed with counts per topic (also on /readyz), shown with their payload, replayed
onto their own topic with their own key (through the outbox, onto the real broker), dropped; admin only."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.helpers import wait_until
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent, decode_batch, encode, encode_batch
from warpdrive.schemas.topics import ACCESS, LISTING

from .conftest import Api, Db

pytestmark = pytest.mark.services


def _insert(db: Db, topic: str, n: int, key: str | None = "node-7") -> list[int]:
    rows = db.fetch(
        """INSERT INTO dead_letters (consumer, topic, partition, "offset", error, payload, msg_key)
           SELECT 'wd', $1, 0, o, 'JSONDecodeError: bad', convert_to('payload-' || $2 || '-' || o, 'UTF8'), $3
           FROM generate_series(1, $4) AS o RETURNING id""",
        topic,
        uuid.uuid4().hex[:8],
        key,
        n,
    )
    return [r["id"] for r in rows]


def _messages(cfg: Config, topic: str, wanted: set[bytes]) -> dict[bytes, bytes | None]:
    """payload → key of the messages on ``topic`` whose value is in ``wanted``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> dict[bytes, bytes | None]:
        c = AIOKafkaConsumer(**cfg.kafka.client_options(), enable_auto_commit=False, auto_offset_reset="earliest")
        await c.start()
        try:
            tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
            if not tps:
                await c._client.force_metadata_update()
                tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or ()]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            end = await c.end_offsets(tps)
            found: dict[bytes, bytes | None] = {}
            while [tp for tp in tps if await c.position(tp) < end[tp]]:
                for msgs in (await c.getmany(timeout_ms=1000)).values():
                    found.update({m.value: m.key for m in msgs if m.value in wanted})
            return found
        finally:
            await c.stop()

    return asyncio.run(run())


def test_list_show_replay_and_drop(admin: Api, viewer: Api, clean: Db, cfg: Config) -> None:
    access, listing = ACCESS.full_name(cfg.kafka), LISTING.full_name(cfg.kafka)
    a = _insert(clean, access, 3)
    b = _insert(clean, listing, 2, key=None)

    doc = admin.get("/api/v1/deadletters").json()
    assert doc["total"] == 5 and doc["by_topic"] == {access: 3, listing: 2}
    assert [i["id"] for i in doc["items"]] == a + b
    assert admin.get(f"/api/v1/deadletters?topic={listing}").json()["total"] == 2
    assert admin.get("/readyz").json()["dead_letters"] == 5
    assert viewer.get("/api/v1/deadletters").status_code == 403  # payloads name files and users: admin only

    one = admin.get(f"/api/v1/deadletters/{a[0]}").json()
    assert one["payload_preview"].startswith("payload-") and one["key"] == "node-7" and one["topic"] == access
    assert admin.get("/api/v1/deadletters/999999999").status_code == 404

    payloads = {clean.fetchval("SELECT payload FROM dead_letters WHERE id = $1", i) for i in a}
    r = admin.post("/api/v1/deadletters/replay", json={"ids": [*a, 999999999]})
    assert r.status_code == 200 and r.json() == {"replayed": 3, "foreign": 0, "missing": 1}, r.text
    wait_until(lambda: clean.fetchval("SELECT count(*) FROM command_outbox") == 0, 30, what="the outbox to send them")
    assert _messages(cfg, access, payloads) == {p: b"node-7" for p in payloads}
    assert admin.get("/api/v1/deadletters").json()["by_topic"] == {listing: 2}

    # A record refused alone (its payload is that record by itself) goes back as a batch of one record.
    # A user of its own: the session's later worker tests consume this topic and count its reads.
    rec = AccessEvent(
        event_id=f"x/{uuid.uuid4().hex}",
        timestamp="2026-11-20T08:00:00.000000Z",
        user_id="dl-replayer",
        backend_name="s3",
        path="a/b.bin",
        operation="read",
        node_host="node-9",
        seq=1,
        count=1,
    )
    (single,) = clean.fetch(
        """INSERT INTO dead_letters (consumer, topic, partition, "offset", record, error, payload, msg_key)
                               VALUES ('wd', $1, 0, 99, 3, 'path: refused', $2, 'node-9') RETURNING id""",
        access,
        encode(rec),
    )
    assert admin.get(f"/api/v1/deadletters/{single['id']}").json()["record"] == 3
    assert admin.post("/api/v1/deadletters/replay", json={"ids": [single["id"]]}).json()["replayed"] == 1
    wait_until(lambda: clean.fetchval("SELECT count(*) FROM command_outbox") == 0, 30, what="the outbox to send it")
    (value,) = [v for v in _messages(cfg, access, {encode_batch([rec])})]
    assert decode_batch(value) == [rec]

    # A row naming a topic this deployment does not serve stays: queued, it would hold back every command behind it.
    (alien,) = clean.fetch("""INSERT INTO dead_letters (consumer, topic, partition, "offset", error, payload)
                              VALUES ('wd', 'elsewhere.warpdrive.access.v1', 0, 1, 'x', 'p') RETURNING id""")
    assert admin.post("/api/v1/deadletters/replay", json={"ids": [alien["id"]]}).json() == {
        "replayed": 0,
        "foreign": 1,
        "missing": 0,
    }
    assert clean.fetchval("SELECT count(*) FROM command_outbox") == 0
    assert admin.post("/api/v1/deadletters/drop", json={"ids": [*b, alien["id"]]}).json() == {
        "dropped": 3,
        "missing": 0,
    }
    assert admin.get("/api/v1/deadletters").json()["total"] == 0
    for bad in ({"ids": []}, {"ids": ["1"]}, {"ids": [0]}, {}):
        assert admin.post("/api/v1/deadletters/drop", json=bad).json()["error"]["param"] == "ids"
