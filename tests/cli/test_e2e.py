"""End to end: a job submitted by the CLI runs on the real crawler, its events reach the jobs row through the
real stream workers, and what it indexed is what the CLI reports."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from warpdrive.schemas.backends import open_fs, root_path
from warpdrive.schemas.config import load

from tests.cli.support import Db, ok
from tests.helpers import wait_until

pytestmark = pytest.mark.services


def test_crawl_wait_follows_the_real_crawler_and_the_index_shows_the_files(ctl, db: Db, cli_stack, workers) -> None:
    files = {"runs/a/one.bin": 1000, "runs/a/two.bin": 2500, "runs/b/three.bin": 7}
    for rel, size in files.items():
        p = cli_stack.data_dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)

    r = ctl("crawl", "--backend", "cli", "--wait")
    out = ok(r)
    lines = out.splitlines()
    assert lines[0].endswith("queued") and lines[-1].split()[2] == "done", out
    job_id = lines[0].split()[1]
    job = json.loads(ok(ctl("jobs", "show", job_id, "--format", "json")))
    assert job["state"] == "done" and job["kind"] == "crawl"

    def indexed() -> dict | None:
        doc = json.loads(ok(ctl("usage", "--group-by", "backend", "--backend", "cli", "--format", "json")))
        return doc if doc["file_count"] == len(files) else None

    doc = wait_until(indexed, 30, what="the crawled files in the usage rollup")
    assert doc["total_bytes"] == sum(files.values())
    listed = json.loads(ok(ctl("stale", "--days", "0", "--backend", "cli", "--sort", "path", "--format", "json")))
    assert {i["path"]: i["size_bytes"] for i in listed["items"]} == files
    plan = json.loads(ok(ctl("move", "cli:runs/a/", "s3:archive/", "--dry-run", "--format", "json")))
    assert (plan["file_count"], plan["total_bytes"]) == (2, 3500)
    # The directory tree the stream workers built from the same crawl.
    tree = json.loads(ok(ctl("du", "cli:", "--depth", "2", "--format", "json")))
    assert [(r["path"], r["total_bytes"], r["file_count"]) for r in tree["rows"]] == [
        ("", 3507, 3), ("runs", 3507, 3), ("runs/a", 3500, 2), ("runs/b", 7, 1)]


def _put(fs, root: str, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        with fs.open(f"{root}/{rel}", "wb") as f:
            f.write(data)


def _read(fs, root: str) -> dict[str, bytes]:
    found = fs.find(root) if fs.exists(root) else []
    return {p[len(root) + 1:]: fs.cat_file(p) for p in found}


def _stores(cli_stack):
    """(fs, root) of the s3 and gcs backends; their buckets are created when the stack is fresh."""
    cfg = load(cli_stack.config_path)
    out = []
    for backend in (cfg.backend("s3"), cfg.backend("gcs")):
        fs, root = open_fs(backend), root_path(backend)
        bucket = root.split("/")[0]
        if not fs.exists(bucket):
            fs.mkdir(bucket)
        out.append((fs, root))
    return out


def test_move_s3_to_gcs_byte_for_byte_and_the_index_follows(ctl, db: Db, cli_stack, workers) -> None:
    (s3, s3_root), (gcs, gcs_root) = _stores(cli_stack)
    prefix = f"cli-move-{uuid.uuid4().hex[:8]}"
    files = {f"d{i % 2}/f{i}.bin": os.urandom(1000 * i + 1) for i in range(6)}
    _put(s3, f"{s3_root}/{prefix}", files)
    try:
        r = ctl("move", f"s3:{prefix}", f"gcs:archive/{prefix}", "--wait")
        out = ok(r)
        assert out.splitlines()[-1].split()[2:4] == ["done", "100%:"], out
        gcs.invalidate_cache()
        s3.invalidate_cache()
        assert _read(gcs, f"{gcs_root}/archive/{prefix}") == files
        assert _read(s3, f"{s3_root}/{prefix}") == {}

        # The move crawls both sides: the index now has the files on gcs only.
        def moved() -> dict | None:
            doc = json.loads(ok(ctl("stale", "--days", "0", "--prefix", f"archive/{prefix}/", "--format", "json")))
            return doc if doc["total"] == len(files) else None

        doc = wait_until(moved, 30, what="the moved files in the index")
        assert {(i["backend"], i["path"]) for i in doc["items"]} == {("gcs", f"archive/{prefix}/{k}") for k in files}
        left = json.loads(ok(ctl("stale", "--days", "0", "--prefix", f"{prefix}/", "--format", "json")))
        assert left["total"] == 0
    finally:
        for fs, path in ((s3, f"{s3_root}/{prefix}"), (gcs, f"{gcs_root}/archive/{prefix}")):
            if fs.exists(path):
                fs.rm(path, recursive=True)


def test_move_interrupted_mid_way_resumes_to_an_exact_copy(ctl, db: Db, cli_stack, workers) -> None:
    (s3, s3_root), (gcs, gcs_root) = _stores(cli_stack)
    prefix = f"cli-resume-{uuid.uuid4().hex[:8]}"
    files = {f"f{i:03}.bin": os.urandom(100_000 + i) for i in range(10)}
    _put(s3, f"{s3_root}/{prefix}", files)
    try:
        job = json.loads(ok(ctl("move", f"s3:{prefix}", f"gcs:{prefix}", "--format", "json")))

        def arriving() -> bool:
            gcs.invalidate_cache()
            return bool(gcs.exists(f"{gcs_root}/{prefix}") and gcs.find(f"{gcs_root}/{prefix}"))

        # Watching the destination itself (not the job's progress, reported once a second) to stop it early.
        wait_until(arriving, 60, interval=0.05, what="the move to copy its first file")
        workers.kill("crawler")  # SIGKILL mid-move: nothing gets to clean up
        s3.invalidate_cache()
        copied, remaining = _read(gcs, f"{gcs_root}/{prefix}"), _read(s3, f"{s3_root}/{prefix}")
        # Mid-way: a file is at the destination, and a source is not yet deleted (copy, verify, then delete).
        assert copied and remaining, "the move was not interrupted mid-way"
        assert all(files[k] == v for k, v in copied.items())  # whatever arrived is whole (else it is not there)
        assert json.loads(ok(ctl("jobs", "show", job["job_id"], "--format", "json")))["state"] != "done"

        workers.start("crawler", "crawler", "run", "--no-schedule")  # a new runner takes the uncommitted command
        out = ok(ctl("jobs", "show", job["job_id"], "--wait"))
        assert json.loads(ok(ctl("jobs", "show", job["job_id"], "--format", "json")))["state"] == "done", out
        gcs.invalidate_cache()
        s3.invalidate_cache()
        assert _read(gcs, f"{gcs_root}/{prefix}") == files
        assert _read(s3, f"{s3_root}/{prefix}") == {}
    finally:
        for fs, path in ((s3, f"{s3_root}/{prefix}"), (gcs, f"{gcs_root}/{prefix}")):
            if fs.exists(path):
                fs.rm(path, recursive=True)
