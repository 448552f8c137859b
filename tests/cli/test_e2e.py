"""End to end: a job submitted by the CLI runs on the real crawler, its events reach the jobs row through the
real stream workers, and what it indexed is what the CLI reports."""

from __future__ import annotations

import csv
import io
import json
import os
import uuid

import pytest

from tests.cli.support import Db, notes, object_stores, ok, put_files, read_files
from warpdrive.schemas.units import format_size
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
        ("", 3507, 3),
        ("runs", 3507, 3),
        ("runs/a", 3500, 2),
        ("runs/b", 7, 1),
    ]


def test_move_s3_to_gcs_byte_for_byte_and_the_index_follows(ctl, db: Db, cli_stack, workers) -> None:
    (s3, s3_root), (gcs, gcs_root) = object_stores(cli_stack.config_path)
    prefix = f"cli-move-{uuid.uuid4().hex[:8]}"
    files = {f"d{i % 2}/f{i}.bin": os.urandom(1000 * i + 1) for i in range(6)}
    put_files(s3, f"{s3_root}/{prefix}", files)
    try:
        r = ctl("move", f"s3:{prefix}", f"gcs:archive/{prefix}", "--wait")
        out = ok(r)
        assert out.splitlines()[-1].split()[2:4] == ["done", "100%:"], out
        gcs.invalidate_cache()
        s3.invalidate_cache()
        assert read_files(gcs, f"{gcs_root}/archive/{prefix}") == files
        assert read_files(s3, f"{s3_root}/{prefix}") == {}

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
    (s3, s3_root), (gcs, gcs_root) = object_stores(cli_stack.config_path)
    prefix = f"cli-resume-{uuid.uuid4().hex[:8]}"
    files = {f"f{i:03}.bin": os.urandom(100_000 + i) for i in range(10)}
    put_files(s3, f"{s3_root}/{prefix}", files)
    try:
        job = json.loads(ok(ctl("move", f"s3:{prefix}", f"gcs:{prefix}", "--format", "json")))

        def arriving() -> bool:
            gcs.invalidate_cache()
            return bool(gcs.exists(f"{gcs_root}/{prefix}") and gcs.find(f"{gcs_root}/{prefix}"))

        # Watching the destination itself (not the job's progress, reported once a second) to stop it early.
        wait_until(arriving, 60, interval=0.05, what="the move to copy its first file")
        workers.kill("crawler")  # SIGKILL mid-move: nothing gets to clean up
        s3.invalidate_cache()
        copied, remaining = read_files(gcs, f"{gcs_root}/{prefix}"), read_files(s3, f"{s3_root}/{prefix}")
        # Mid-way: a file is at the destination, and a source is not yet deleted (copy, verify, then delete).
        assert copied and remaining, "the move was not interrupted mid-way"
        assert all(files[k] == v for k, v in copied.items())  # whatever arrived is whole (else it is not there)
        assert json.loads(ok(ctl("jobs", "show", job["job_id"], "--format", "json")))["state"] != "done"

        workers.start("crawler", "crawler", "run", "--no-schedule")  # a new runner takes the uncommitted command
        out = ok(ctl("jobs", "show", job["job_id"], "--wait"))
        assert json.loads(ok(ctl("jobs", "show", job["job_id"], "--format", "json")))["state"] == "done", out
        gcs.invalidate_cache()
        s3.invalidate_cache()
        assert read_files(gcs, f"{gcs_root}/{prefix}") == files
        assert read_files(s3, f"{s3_root}/{prefix}") == {}
    finally:
        for fs, path in ((s3, f"{s3_root}/{prefix}"), (gcs, f"{gcs_root}/{prefix}")):
            if fs.exists(path):
                fs.rm(path, recursive=True)


def test_move_dry_run_is_a_real_job_that_moves_nothing(ctl, db: Db, cli_stack, workers) -> None:
    (s3, s3_root), (gcs, gcs_root) = object_stores(cli_stack.config_path)
    prefix = f"cli-dry-{uuid.uuid4().hex[:8]}"
    files = {f"d{i % 2}/f{i}.bin": os.urandom(1000 * i + 1) for i in range(6)}
    put_files(s3, f"{s3_root}/{prefix}", files)
    try:
        r = ctl("move", f"s3:{prefix}", f"gcs:archive/{prefix}", "--dry-run", "--format", "json")
        plan = json.loads(ok(r))
        assert (plan["file_count"], plan["total_bytes"]) == (len(files), sum(map(len, files.values())))
        assert (plan["src"], plan["dst"]) == (f"s3:{prefix}", f"gcs:archive/{prefix}")
        biggest = sorted(files, key=lambda k: -len(files[k]))
        assert [(f["path"], f["dest_path"], f["size_bytes"]) for f in plan["files"]] == [
            (f"{prefix}/{k}", f"archive/{prefix}/{k}", len(files[k])) for k in biggest
        ]
        assert f"done: counted {len(files)} files" in r.stderr  # progress on stderr: stdout stays JSON
        job = json.loads(ok(ctl("jobs", "show", plan["job_id"], "--format", "json")))
        assert (job["kind"], job["state"], job["args"]["dry_run"], job["progress"]["files_done"]) == (
            "move",
            "done",
            True,
            0,
        )

        r = ctl("move", f"s3:{prefix}/", f"gcs:archive/{prefix}/", "--dry-run", "--limit", "2")
        out, said = ok(r), notes(r)
        total = sum(map(len, files.values()))
        assert (
            f"would move 6 files, {format_size(total)} ({total:,} bytes) from s3:{prefix} to gcs:archive/{prefix}"
            in said
        )
        assert "(2 of 6 files listed, biggest first; --limit for more)" in said
        assert out.splitlines()[0].split() == ["PATH", "SIZE", "MODIFIED", "DESTINATION"]
        assert out.splitlines()[2].split()[0] == f"{prefix}/{biggest[0]}"

        rows = list(
            csv.DictReader(
                io.StringIO(ok(ctl("move", f"s3:{prefix}/d0/f4.bin", "gcs:", "--dry-run", "--format", "csv")))
            )
        )
        assert [(r["path"], r["dest_path"], r["size_bytes"]) for r in rows] == [
            (f"{prefix}/d0/f4.bin", f"{prefix}/d0/f4.bin", str(len(files["d0/f4.bin"])))
        ]

        r = ctl("move", f"s3:{prefix}-none", "gcs:", "--dry-run")
        assert r.exit_code == 1 and r.stdout == "" and "Traceback" not in r.stderr, r.output
        line = r.stderr.splitlines()[-1]  # after the progress lines
        assert line.startswith("Error: job ") and line.endswith(f"failed: s3:{prefix}-none: no such file or prefix"), (
            line
        )

        # Nothing moved: every source byte still there, nothing at either destination.
        s3.invalidate_cache()
        gcs.invalidate_cache()
        assert read_files(s3, f"{s3_root}/{prefix}") == files
        assert read_files(gcs, f"{gcs_root}/archive/{prefix}") == {} and read_files(gcs, f"{gcs_root}/{prefix}") == {}
    finally:
        s3.rm(f"{s3_root}/{prefix}", recursive=True)


def test_azure_crawl_usage_stale_and_moves_to_and_from_s3_and_gcs(ctl, db: Db, cli_stack, workers) -> None:
    (az, az_root), (s3, s3_root), (gcs, gcs_root) = object_stores(cli_stack.config_path, "azure", "s3", "gcs")
    prefix = f"cli-az-{uuid.uuid4().hex[:8]}"
    files = {f"d{i % 2}/f{i}.bin": os.urandom(1000 * i + 1) for i in range(4)}
    put_files(az, f"{az_root}/{prefix}", files)
    places = [
        (az, f"{az_root}/{prefix}"),
        (s3, f"{s3_root}/az-{prefix}"),
        (gcs, f"{gcs_root}/az-{prefix}"),
        (az, f"{az_root}/home-{prefix}"),
    ]
    try:
        ok(ctl("crawl", "--backend", "azure", "--wait"))
        az.invalidate_cache()
        truth = {p: info["size"] for p, info in az.find(az_root, detail=True).items()}

        def indexed() -> dict | None:
            doc = json.loads(ok(ctl("usage", "--group-by", "backend", "--backend", "azure", "--format", "json")))
            return doc if doc["file_count"] == len(truth) else None

        doc = wait_until(indexed, 30, what="the crawled Azure blobs in the usage rollup")
        assert doc["total_bytes"] == sum(truth.values())
        listed = json.loads(
            ok(
                ctl(
                    "stale",
                    "--days",
                    "0",
                    "--backend",
                    "azure",
                    "--prefix",
                    f"{prefix}/",
                    "--sort",
                    "path",
                    "--format",
                    "json",
                )
            )
        )
        assert {i["path"]: i["size_bytes"] for i in listed["items"]} == {
            f"{prefix}/{k}": len(v) for k, v in files.items()
        }

        # Azure → S3 → GCS → Azure, each byte for byte, and the index follows every hop.
        for src, dst in (
            (f"azure:{prefix}", f"s3:az-{prefix}"),
            (f"s3:az-{prefix}", f"gcs:az-{prefix}"),
            (f"gcs:az-{prefix}", f"azure:home-{prefix}"),
        ):
            out = ok(ctl("move", src, dst, "--wait"))
            assert out.splitlines()[-1].split()[2:4] == ["done", "100%:"], out
        for fs, _path in places:
            fs.invalidate_cache()
        assert [read_files(fs, path) for fs, path in places] == [{}, {}, {}, files]

        def moved() -> dict | None:
            doc = json.loads(ok(ctl("stale", "--days", "0", "--prefix", f"home-{prefix}/", "--format", "json")))
            return doc if doc["total"] == len(files) else None

        doc = wait_until(moved, 30, what="the files moved back to Azure in the index")
        assert {(i["backend"], i["path"]) for i in doc["items"]} == {("azure", f"home-{prefix}/{k}") for k in files}
        for gone in (prefix, f"az-{prefix}"):
            assert json.loads(ok(ctl("stale", "--days", "0", "--prefix", f"{gone}/", "--format", "json")))["total"] == 0
    finally:
        for fs, path in places:
            if fs.exists(path):
                fs.rm(path, recursive=True)
