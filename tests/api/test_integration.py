"""The API over data written by the real stream workers from real Kafka topics (the walking skeleton,
the ownership-rule round trip through the COMMANDS topic, a user's reads from the workers' rollups)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any, Sequence

import pytest
from aiokafka import AIOKafkaProducer

from tests.helpers import Procs, wait_until
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent, CrawlMarker, ListingEvent, encode_batch, utc_now
from warpdrive.schemas.topics import ACCESS, LISTING, Topic

pytestmark = pytest.mark.services


def produce(cfg: Config, topic: Topic, key: str, batches: Sequence[Sequence[Any]]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(**cfg.kafka.client_options(), enable_idempotence=True)
        await producer.start()
        try:
            for b in batches:
                await producer.send_and_wait(topic.full_name(cfg.kafka), encode_batch(list(b)), key=key.encode())
        finally:
            await producer.stop()

    asyncio.run(run())


def test_usage_from_events_through_the_real_stream_workers(clean, viewer, admin, api_cfg: Config, procs: Procs) -> None:
    run = uuid.uuid4().hex[:6]
    procs.start("streams", "streams", "worker")
    crawl_id = f"crawl-{run}"
    files = {f"proj/{run}/a.bin": ("alice", 1000), f"proj/{run}/b.bin": ("alice", 500), f"tmp/{run}/c.bin": (None, 70)}
    produce(api_cfg, LISTING, "s3", [
        [CrawlMarker(crawl_id, "s3", "start", utc_now())],
        [ListingEvent(crawl_id=crawl_id, backend_name="s3", path=p, size_bytes=s, owner_user=u,
                      last_modified="2026-01-01T00:00:00.000000Z") for p, (u, s) in files.items()],
        [CrawlMarker(crawl_id, "s3", "finish", utc_now(), files=len(files), bytes=1570, complete=True)],
    ])
    # The crawl first, then the reads of the indexed files (the usual order).
    def crawled() -> bool:
        s3 = next(b for b in viewer.get("/api/v1/backends").json()["items"] if b["name"] == "s3")
        return (s3["last_crawl"] or {}).get("status") == "complete"

    wait_until(crawled, 60, what="the crawl to be applied")
    run_dir = viewer.get(f"/api/v1/tree?backend=s3&prefix=proj/{run}").json()  # the workers keep the tree too
    assert run_dir["self"]["total_bytes"] == 1500 and run_dir["self"]["files_here"] == 2, run_dir
    assert run_dir["self"]["stale_bytes"]["30"] == 1500  # nothing read yet
    root = {i["name"]: i for i in viewer.get("/api/v1/tree?backend=s3").json()["items"]}
    assert root["proj"]["total_bytes"] == 1500 and root["tmp"]["total_bytes"] == 70
    now = utc_now()
    events = [AccessEvent(event_id=f"n1/{run}/{i}", timestamp=now, user_id=user, backend_name="s3", path=path,
                          operation="read", node_host="n1", seq=i, count=2, bytes_read=100)
              for i, (user, path) in enumerate([("dave", f"proj/{run}/a.bin"), ("dave", f"tmp/{run}/c.bin"),
                                                ("erin", f"proj/{run}/a.bin")])]
    produce(api_cfg, ACCESS, "n1", [events])

    def users() -> dict[str, dict] | None:
        body = viewer.get("/api/v1/usage?group_by=user&backend=s3").json()
        rows = {i["user"]: i for i in body["items"]}
        return rows if {"alice", "dave", "erin"} <= set(rows) and rows["alice"]["total_bytes"] == 1500 else None

    rows = wait_until(users, 60, what="usage by user from the stream workers")
    assert rows["alice"]["file_count"] == 2 and rows["alice"]["read_count"] == 0
    assert rows["dave"]["read_count"] == 4 and rows["dave"]["bytes_read"] == 200 and rows["dave"]["total_bytes"] == 0
    assert rows["erin"]["read_count"] == 2 and rows["unowned"]["total_bytes"] == 70

    # An ownership rule set through the API reaches the workers as a reown command.
    assert admin.put("/api/v1/ownership", json={"backend": "s3", "prefix": f"tmp/{run}/", "team": "ops"}).status_code == 201

    def ops_team() -> dict | None:
        items = viewer.get("/api/v1/usage?group_by=team&backend=s3").json()["items"]
        return next((i for i in items if i["team"] == "ops" and i["total_bytes"] == 70), None)

    wait_until(ops_team, 60, what="the ownership rule applied by the workers")
    # c.bin was read just now, so it is not stale; b.bin was never read.
    wait_until(lambda: viewer.get("/api/v1/stale?days=30&backend=s3&owner=ops").json()["total"] == 0, 30,
               what="the read of c.bin to reach storage_files.last_access")
    assert viewer.get(f"/api/v1/stale?days=30&backend=s3&prefix=proj/{run}/").json()["total"] == 1  # b.bin: never read


def test_marked_bytes_follow_file_changes_through_the_real_stream_workers(clean, viewer, admin, api_cfg: Config,
                                                                          procs: Procs) -> None:
    run = uuid.uuid4().hex[:6]
    prefix = f"m/{run}/"
    procs.start("streams", "streams", "worker")

    def crawl(crawl_id: str, files: dict[str, int]) -> None:
        produce(api_cfg, LISTING, "s3", [
            [CrawlMarker(crawl_id, "s3", "start", utc_now(), prefix=prefix)],
            [ListingEvent(crawl_id=crawl_id, backend_name="s3", path=prefix + p, size_bytes=s) for p, s in files.items()],
            [CrawlMarker(crawl_id, "s3", "finish", utc_now(), files=len(files), bytes=sum(files.values()), complete=True,
                         prefix=prefix)],
        ])

    def marked() -> dict:
        return viewer.get("/api/v1/marks?backend=s3&prefix=" + prefix).json()

    crawl(f"c1-{run}", {"grows.bin": 100, "goes.bin": 200, "stays.bin": 300})
    wait_until(lambda: viewer.get(f"/api/v1/tree?backend=s3&prefix={prefix}").status_code == 200, 60,
               what="the first crawl applied")
    names = ("grows.bin", "goes.bin", "stays.bin", "comes.bin")  # comes.bin: marked before it is indexed
    assert admin.post("/api/v1/marks", json={"files": [{"backend": "s3", "path": prefix + n} for n in names]}).json() == {
        "marked": 4}
    assert (marked()["total"], marked()["total_bytes"]) == (4, 600)
    # grows.bin grows, goes.bin is deleted, comes.bin appears: the workers keep each mark's size.
    crawl(f"c2-{run}", {"grows.bin": 150, "stays.bin": 300, "comes.bin": 50})
    body = wait_until(lambda: (m := marked())["total_bytes"] == 500 and m, 60, what="the marks' sizes kept by the workers")
    assert body["total"] == 4
    sizes = {i["path"]: (i["size_bytes"], i["exists"]) for i in body["items"]}
    assert sizes == {prefix + "grows.bin": (150, True), prefix + "goes.bin": (None, False),
                     prefix + "stays.bin": (300, True), prefix + "comes.bin": (50, True)}
    assert clean.fetchval("SELECT sum(size_bytes) FROM deletion_marks") == 500


def test_user_detail_from_events_through_the_real_stream_worker(clean, viewer, api_cfg: Config, procs: Procs) -> None:
    run = uuid.uuid4().hex[:6]
    user = f"u{run}"
    assert viewer.get(f"/api/v1/user/{user}").status_code == 404
    procs.start("streams", "streams", "worker")
    day1, day2 = "2026-11-20T10:00:00.000000Z", "2026-11-21T09:30:00.000000Z"
    # (timestamp, backend, file, operation, count, bytes read, bytes written), over two days and two messages
    spec = [[(day1, "s3", "a.bin", "read", 2, 300, 0), (day2, "s3", "a.bin", "read", 1, 100, 0),
             (day1, "s3", "b.bin", "read", 5, 1000, 0)],
            [(day2, "s3", "b.bin", "write", 1, 0, 50), (day2, "gcs", "c.bin", "stat", 1, 0, 0),
             (day1, "s3", "a.bin", "read", 1, 200, 0)]]
    produce(api_cfg, ACCESS, "n1", [[
        AccessEvent(event_id=f"n1/{run}/{m}/{i}", timestamp=ts, user_id=user, backend_name=b, path=f"{run}/{p}",
                    operation=op, node_host="n1", seq=10 * m + i, count=n, bytes_read=br, bytes_written=bw)
        for i, (ts, b, p, op, n, br, bw) in enumerate(msg)] for m, msg in enumerate(spec)])

    def detail() -> dict | None:
        body = viewer.get(f"/api/v1/user/{user}?top=2").json()
        return body if sum(r["files_accessed"] for r in body.get("reads", [])) == 3 else None

    body = wait_until(detail, 60, what="the user's reads from the stream worker")
    last = datetime.fromisoformat(day2.replace("Z", "+00:00"))
    assert [{**r, "last_access": datetime.fromisoformat(r["last_access"])} for r in body["reads"]] == [
        {"backend": "gcs", "read_count": 0, "bytes_read": 0, "write_count": 0, "bytes_written": 0, "files_accessed": 1,
         "last_access": last},
        {"backend": "s3", "read_count": 9, "bytes_read": 1600, "write_count": 1, "bytes_written": 50, "files_accessed": 2,
         "last_access": last}]
    assert [(f["backend"], f["path"], f["read_count"], f["bytes_read"]) for f in body["top_read"]] == [
        ("s3", f"{run}/b.bin", 5, 1000), ("s3", f"{run}/a.bin", 4, 600)]
    assert body["owned"] == [] and body["top_files"] == []
