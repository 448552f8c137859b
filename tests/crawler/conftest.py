"""Fixtures for the crawler tests: private backends per test on the session's real services.

Every test gets its own config whose backends are private: a local directory, a key prefix in a
session bucket on the S3 server and one on the GCS emulator. Topics and database are the session's.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.storage import kind_of, open_fs
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.records import decode, decode_batch
from warpdrive.schemas.topics import Topic

from tests.helpers import Procs

KINDS = ("local", "s3", "gcs", "azure")


@dataclass
class Env:
    cfg: wconfig.Config
    config_path: Path
    procs: Procs
    roots: dict[str, str]  # backend name -> fsspec root path

    def fs(self, name: str) -> Any:
        return open_fs(self.cfg.backend(name))

    def put(self, name: str, rel: str, data: bytes) -> None:
        path = f"{self.roots[name]}/{rel}"
        if kind_of(self.cfg.backend(name)).posix:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Path(path).write_bytes(data)
        else:
            self.fs(name).pipe_file(path, data)


@pytest.fixture(scope="session")
def crawl_base(cfg: wconfig.Config, config_dict: dict, session_id: str) -> dict:
    """Session buckets on the object stores (created here) and the session config to derive from."""
    buckets = {}
    for b in config_dict["backends"]:
        if b["name"] != "local":
            bucket = f"wdcrawl-{session_id}"
            fs = open_fs(
                wconfig.BackendConfig(b["name"], f"{b['url'].split('://')[0]}://{bucket}", b.get("storage_options", {}))
            )
            if not fs.exists(bucket):
                fs.mkdir(bucket)
            buckets[b["name"]] = bucket
    return {"config": config_dict, "buckets": buckets}


@pytest.fixture
def make_env(crawl_base: dict, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Env]]:
    """Builds a config whose backends are private to this test; extra settings merge into it."""
    made: list[Procs] = []
    test = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40] + "-" + uuid.uuid4().hex[:6]
    local_root = tmp_path / "local"
    local_root.mkdir()

    def make(**extra: Any) -> Env:
        raw = dict(crawl_base["config"])
        backends = []
        for b in raw["backends"]:
            if b["name"] == "local":
                backends.append({"name": "local", "url": f"file://{local_root}"})
            else:
                backends.append({**b, "url": f"{b['url'].split('://')[0]}://{crawl_base['buckets'][b['name']]}/{test}"})
        raw["backends"] = backends
        for k, v in extra.items():
            raw[k] = {**raw.get(k, {}), **v}
        path = tmp_path / f"crawler-{len(made)}.toml"
        path.write_text(dump_toml(raw))
        cfg = wconfig.load(path)
        procs = Procs(path, tmp_path)
        made.append(procs)
        roots = {
            "local": str(local_root),
            **{name: f"{bucket}/{test}" for name, bucket in crawl_base["buckets"].items()},
        }
        return Env(cfg, path, procs, roots)

    try:
        yield make
    finally:
        for p in made:
            p.stop_all()


def topic_end(cfg: wconfig.Config, topic: Topic) -> dict[int, int]:
    """The topic's end offset per partition now: pass it to read_topic(since=) to read only what follows."""
    return read_topic(cfg, topic, ends_only=True)  # type: ignore[return-value]


def read_topic(
    cfg: wconfig.Config,
    topic: Topic,
    expect: type | None = None,
    since: dict[int, int] | None = None,
    ends_only: bool = False,
) -> list[tuple[bytes | None, Any]]:
    """Every record on the topic so far (or after ``since``), as (message key, record), in partition order."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    async def run() -> Any:
        # earliest: assign() starts a position lookup with the reset policy, which could otherwise race a
        # seek and land on the end (missing the very records just acknowledged).
        consumer = AIOKafkaConsumer(
            **cfg.kafka.client_options(), enable_auto_commit=False, group_id=None, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            name = topic.full_name(cfg.kafka)
            parts = consumer.partitions_for_topic(name) or set()
            if not parts:
                await consumer._client.force_metadata_update()
                parts = consumer.partitions_for_topic(name) or set()
            tps = [TopicPartition(name, p) for p in sorted(parts)]
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            if ends_only:
                return {tp.partition: end[tp] for tp in tps}
            for tp in tps:
                consumer.seek(tp, (since or {}).get(tp.partition, 0))
            out: list[tuple[bytes | None, Any]] = []
            while [tp for tp in tps if await consumer.position(tp) < end[tp]]:
                for msgs in (await consumer.getmany(timeout_ms=1000)).values():
                    for m in msgs:
                        if m.offset < end[TopicPartition(m.topic, m.partition)]:
                            recs = (
                                decode_batch(m.value, expect) if b'"records"' in m.value else [decode(m.value, expect)]
                            )
                            out.extend((m.key, r) for r in recs)
            return out
        finally:
            await consumer.stop()

    return asyncio.run(run())
