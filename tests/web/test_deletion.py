"""The deletion job on the Marks page, in Debian's Chromium, on the real API, crawler job runner and stream workers:
the dry run lists exactly the marked files and moves nothing; the confirmation names the count and bytes; the job
moves them to the trash on S3 and GCS and shows up in the trash and Status lists; Restore puts every byte back."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from warpdrive.compose.stack import Stack
from aiokafka import AIOKafkaConsumer

from warpdrive.schemas.db import create_database, drop_database
from warpdrive.schemas.storage import open_fs, root_path
from warpdrive.schemas.topics import ALL

from tests.helpers import Procs, ready_config, wait_until
from tests.web.test_dashboard import _drive, _start_api, web_dist  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.services, pytest.mark.browser]

JOB_WAIT_MS = 240_000  # a job on the real runner, on a machine other test sessions load


@pytest.fixture
def live(stack: Stack, config_dict: dict, session_id: str, procs: Procs, web_dist: Path, tmp_path: Path) -> Iterator[dict]:
    """A database and topics of this test's own, with the API (serving web/dist), a crawler and stream workers."""
    base, name = stack.postgres_dsn(), f"wddel_{session_id}"
    dsn = asyncio.run(create_database(base, name))
    conf = {**config_dict, "postgres": {**config_dict["postgres"], "dsn": dsn},
            "kafka": {**config_dict["kafka"], "topic_prefix": f"t{session_id}del."},
            "streams": {**config_dict.get("streams", {}), "app_id": f"wd-streams-{session_id}-del"}}
    path = tmp_path / "deletion.toml"
    workers = Procs(path, tmp_path)
    try:
        cfg = ready_config(path, conf)
        # A broker under load lists a new topic in its metadata some time after creating it; a runner started
        # before then exits (unknown topic).
        wait_until(lambda: asyncio.run(_topics_known(cfg)), 120, 1, "the test's topics in the broker's metadata")
        workers.start("streams", "streams", "worker")
        workers.start("crawler", "crawler", "run", "--no-schedule")
        url = _start_api(procs, "api-deletion", "--config", str(path), "--insecure-no-auth")
        yield {"url": url, "cfg": cfg, "logs": lambda: workers.tail("crawler") + workers.tail("streams")}
    finally:
        workers.stop_all()
        asyncio.run(drop_database(base, name))


async def _topics_known(cfg: Any) -> bool:
    consumer = AIOKafkaConsumer(**cfg.kafka.client_options())
    await consumer.start()
    try:
        return {t.full_name(cfg.kafka) for t in ALL} <= await consumer.topics()
    finally:
        await consumer.stop()


def _call(url: str, method: str = "GET", body: Any = None) -> Any:
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def _job_done(url: str, job_id: str, logs: Any) -> None:
    def done() -> bool:
        state = _call(f"{url}/api/v1/jobs/{job_id}")["state"]
        assert state in ("queued", "running", "done"), state
        return state == "done"

    wait_until(done, JOB_WAIT_MS / 1000, 0.5, f"job {job_id} done", logs)


@pytest.mark.timeout(900)
def test_dry_run_confirm_trash_and_restore_in_the_browser(live: dict, tmp_path: Path) -> None:
    url, cfg = live["url"], live["cfg"]
    prefix = f"webdel-{uuid.uuid4().hex[:8]}"
    data = {"s3": {"a/one.bin": os.urandom(300_001), "a/two.txt": b"two" * 1000},
            "gcs": {"b/three.bin": os.urandom(123_457), "b/keep.bin": b"keep"}}
    fss = {b: (open_fs(cfg.backend(b)), root_path(cfg.backend(b))) for b in data}
    for b, (fs, root) in fss.items():
        bucket = root.split("/")[0]
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        for rel, content in data[b].items():
            fs.pipe_file(f"{root}/{prefix}/{rel}", content)

    def stores() -> dict[str, dict[str, bytes]]:
        out = {}
        for b, (fs, root) in fss.items():
            fs.invalidate_cache()
            base = f"{root}/{prefix}"
            out[b] = {p[len(base) + 1:]: fs.cat_file(p) for p in (fs.find(base) if fs.exists(base) else [])}
        return out

    try:
        for b in data:
            job = _call(f"{url}/api/v1/jobs", "POST", {"kind": "crawl", "args": {"backend": b, "prefix": prefix}})
            _job_done(url, job["job_id"], live["logs"])
        wait_until(lambda: _call(f"{url}/api/v1/stale?days=0&prefix={prefix}/&limit=10")["total"] == 4, 60,
                   what="the crawled files in the index")
        marked = [("s3", f"{prefix}/a/one.bin"), ("s3", f"{prefix}/a/two.txt"), ("gcs", f"{prefix}/b/three.bin")]
        _call(f"{url}/api/v1/marks", "POST", {"files": [{"backend": b, "path": p} for b, p in marked], "note": "web"})
        total_bytes = sum(len(data[b][p[len(prefix) + 1:]]) for b, p in marked)
        before = stores()

        plan = _drive({"scenario": "deletion", "step": "plan", "base": url, "shots": str(tmp_path), "shotPrefix": ""})
        assert sorted(plan["planFiles"]) == sorted(p for _, p in marked) and plan["planHeld"] == []
        assert plan["planTotal"].startswith("Would move 3 file(s)") and f"{total_bytes:,} bytes" in plan["planTotal"]
        assert stores() == before  # the dry run moved nothing
        assert plan["consoleErrors"] == []

        deleted = _drive({"scenario": "deletion", "step": "delete", "base": url, "shots": str(tmp_path),
                          "shotPrefix": "", "waitMs": JOB_WAIT_MS})
        assert deleted["confirm"].startswith("Move 3 file(s),") and "to the trash?" in deleted["confirm"]
        assert "Deletion job" in deleted["notice"]
        [(job_id, status)] = deleted["after"]
        assert status == "restorable"
        trash = _call(f"{url}/api/v1/trash/{job_id}")
        assert trash["progress"]["files_done"] == 3 and trash["progress"]["bytes_done"] == total_bytes
        assert stores() == {"s3": {}, "gcs": {"b/keep.bin": b"keep"}}
        for b, (fs, root) in fss.items():
            fs.invalidate_cache()
            base = f"{root}/{trash['args']['trash']}/{prefix}"
            moved = {p[len(base) + 1:]: fs.cat_file(p) for p in fs.find(base)}
            assert moved == {k: v for k, v in data[b].items() if k != "b/keep.bin"}, b
        assert deleted["consoleErrors"] == []

        restored = _drive({"scenario": "deletion", "step": "restore", "base": url, "shots": str(tmp_path),
                           "shotPrefix": "", "waitMs": JOB_WAIT_MS})
        assert restored["after"] == [[job_id, "restored"]]
        assert stores() == data  # every byte back at its path, on S3 and GCS
        kinds = [(row[1], row[2]) for row in restored["jobs"]]
        assert ("trash", "done") in kinds and ("restore", "done") in kinds
        trash_row = next(r for r in restored["jobs"] if r[1] == "trash")
        assert "marked files → .warpdrive-trash/" in trash_row[5] and trash_row[6] == "anonymous (insecure-no-auth)"
        assert restored["consoleErrors"] == [] and len(restored["shots"]) == 1
    finally:
        for fs, root in fss.values():
            for p in (f"{root}/{prefix}", f"{root}/.warpdrive-trash"):
                fs.invalidate_cache()
                if fs.exists(p):
                    fs.rm(p, recursive=True)
