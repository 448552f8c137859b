"""End to end with the real stream worker: crawl → Kafka → storage_files equals each backend's truth;
changes between crawls are inserted, updated and marked deleted; an interrupted crawl deletes nothing."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import asyncpg
import pytest

from warpdrive.schemas.db import resolve_dsn
from warpdrive.schemas.records import ListingEvent
from warpdrive.schemas.topics import LISTING

from tests.crawler.conftest import KINDS, Env, read_topic, topic_end
from tests.crawler.test_crawl import TREE, crawl_ids, ground_truth, populate, run_cli
from tests.helpers import wait_until

pytestmark = pytest.mark.services


def query(env: Env, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(resolve_dsn(env.cfg))
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def crawl_status(env: Env, crawl_id: str) -> str | None:
    rows = query(env, "SELECT status FROM crawls WHERE crawl_id = $1", crawl_id)
    return rows[0]["status"] if rows else None


def crawl_and_wait(env: Env, name: str) -> str:
    crawl_id = crawl_ids(run_cli(env, "--once", "--backend", name).stdout)[name]
    wait_until(lambda: crawl_status(env, crawl_id) == "complete", 60, what=f"crawl {crawl_id} applied")
    return crawl_id


def live_index(env: Env, name: str) -> dict[str, tuple[Any, ...]]:
    rows = query(
        env,
        "SELECT path, size_bytes, last_modified, etag, owner_uid, owner_gid, atime FROM storage_files"
        " WHERE backend_name = $1 AND deleted_at IS NULL",
        name,
    )
    if name == "local":
        return {
            r["path"]: (r["size_bytes"], r["last_modified"], r["etag"], r["owner_uid"], r["owner_gid"], r["atime"])
            for r in rows
        }
    return {r["path"]: (r["size_bytes"], r["last_modified"], r["etag"]) for r in rows}


@pytest.fixture
def worker_env(make_env) -> Env:
    env = make_env()
    env.procs.start("streams", "streams", "worker")
    return env


@pytest.mark.parametrize("name", KINDS)
def test_index_equals_backend_after_a_crawl(worker_env: Env, name: str) -> None:
    env = worker_env
    populate(env, name)
    crawl_and_wait(env, name)
    truth = ground_truth(env, name)
    assert set(truth) == set(TREE)
    assert live_index(env, name) == truth


@pytest.mark.parametrize("name", KINDS)
def test_added_changed_removed_between_crawls(worker_env: Env, name: str) -> None:
    env = worker_env
    populate(env, name, {"keep.txt": b"k", "change.txt": b"v1", "remove.txt": b"r", "sub/remove2.txt": b"rr"})
    crawl_and_wait(env, name)
    first = {r["path"]: r for r in query(env, "SELECT * FROM storage_files WHERE backend_name = $1", name)}

    env.put(name, "new/added.txt", b"added")
    env.put(name, "change.txt", b"version two")
    fs = env.fs(name)
    fs.rm_file(f"{env.roots[name]}/remove.txt")
    fs.rm_file(f"{env.roots[name]}/sub/remove2.txt")
    second_id = crawl_and_wait(env, name)

    assert live_index(env, name) == ground_truth(env, name)
    rows = {r["path"]: r for r in query(env, "SELECT * FROM storage_files WHERE backend_name = $1", name)}
    assert rows["new/added.txt"]["deleted_at"] is None and rows["new/added.txt"]["size_bytes"] == 5
    assert rows["change.txt"]["size_bytes"] == len(b"version two")
    assert rows["change.txt"]["first_seen"] == first["change.txt"]["first_seen"], "an update keeps first_seen"
    assert rows["change.txt"]["last_crawled"] > first["change.txt"]["last_crawled"]
    assert rows["change.txt"]["crawl_id"] == second_id
    for gone in ("remove.txt", "sub/remove2.txt"):
        assert rows[gone]["deleted_at"] is not None, gone
    assert rows["keep.txt"]["deleted_at"] is None


def test_interrupted_crawls_delete_nothing(worker_env: Env) -> None:
    env = worker_env
    files = {f"d{i:03}/f.txt": b"x" for i in range(150)}
    populate(env, "s3", files)
    crawl_and_wait(env, "s3")
    deleted_sql = "SELECT path FROM storage_files WHERE backend_name = 's3' AND deleted_at IS NOT NULL ORDER BY path"
    deleted_before = query(env, deleted_sql)  # earlier tests' files, gone from this test's backend
    fs = env.fs("s3")
    removed = sorted(files)[100:]
    fs.rm([f"{env.roots['s3']}/{p}" for p in removed])
    slow = {"WARPDRIVE_CRAWLER_LIST_CONCURRENCY": "1", "WARPDRIVE_CRAWLER_BATCH_SIZE": "1"}

    for sig in (signal.SIGKILL, signal.SIGTERM):
        before = topic_end(env.cfg, LISTING)
        env.procs.start("crawl", "crawler", "run", "--once", "--backend", "s3", env=slow)

        def started() -> str | None:
            new = [r for _, r in read_topic(env.cfg, LISTING, since=before)]
            return new[0].crawl_id if any(isinstance(r, ListingEvent) for r in new) else None

        crawl_id = wait_until(started, 60, 0.05, "the crawl's first listing events")
        env.procs.kill("crawl", sig)
        published = {
            r.path for _, r in read_topic(env.cfg, LISTING) if r.crawl_id == crawl_id and isinstance(r, ListingEvent)
        }
        assert 0 < len(published) < 100, f"the crawl must be stopped half-way (saw {len(published)} files)"
        wait_until(
            lambda: len(query(env, "SELECT 1 FROM storage_files WHERE crawl_id = $1", crawl_id)) == len(published),
            60,
            what="the interrupted crawl's files applied",
        )
        assert crawl_status(env, crawl_id) == ("running" if sig == signal.SIGKILL else "failed")
        assert query(env, deleted_sql) == deleted_before, "an interrupted crawl deletes nothing"

    crawl_and_wait(env, "s3")
    deleted = {r["path"] for r in query(env, deleted_sql)} - {r["path"] for r in deleted_before}
    assert sorted(deleted) == removed
    assert live_index(env, "s3") == ground_truth(env, "s3")
