"""Deletion jobs of marked files, end to end on the real API, crawler job runner and stream workers: the dry run
lists exactly the marked files and moves nothing; the job moves them to the trash on local, S3 and GCS; restore
returns every byte to its path; an expired trash cannot be restored and a purge removes it (on request, and by itself
on the runner's timer); the trash is never indexed and leaves no empty local directories; viewers get 403; every
step is a jobs row (who, when, what, counts, bytes)."""

from __future__ import annotations

import json
import os
import signal
import uuid
from pathlib import Path

import pytest

from tests.cli.support import VIEWER, Db, object_stores, ok, put_files, read_files
from tests.helpers import wait_until

pytestmark = pytest.mark.services


def _index(ctl, backend: str, prefix: str, n: int) -> None:
    ok(ctl("crawl", "--backend", backend, "--prefix", prefix, "--wait"))

    def seen() -> bool:
        doc = json.loads(
            ok(ctl("stale", "--days", "0", "--backend", backend, "--prefix", f"{prefix}/", "--format", "json"))
        )
        return doc["total"] == n

    wait_until(seen, 60, what=f"{n} files of {backend}:{prefix} in the index")


def _local(root: Path, prefix: str) -> dict[str, bytes]:
    base = root / prefix
    return {str(p.relative_to(base)): p.read_bytes() for p in base.rglob("*") if p.is_file()} if base.exists() else {}


@pytest.mark.timeout(900)  # five jobs on the real runner: 90 s idle, past the 300 s default at load ~29
def test_dry_run_trash_restore_expiry_and_purge(ctl, db: Db, cli_stack, workers) -> None:
    (s3, s3_root), (gcs, gcs_root) = object_stores(cli_stack.config_path)
    prefix = f"trash-{uuid.uuid4().hex[:8]}"
    data: dict[str, dict[str, bytes]] = {
        "s3": {"old/a.bin": os.urandom(9 << 20), "old/b.txt": b"b" * 1000},  # a.bin: more than one copy chunk
        "gcs": {"old/c.bin": os.urandom(70_001), "keep/d.bin": b"d" * 10},
        "cli": {"old/e.bin": os.urandom(5000), "old/changed.bin": b"before", "old/read.bin": b"r" * 77},
    }
    put_files(s3, f"{s3_root}/{prefix}", data["s3"])
    put_files(gcs, f"{gcs_root}/{prefix}", data["gcs"])
    for rel, b in data["cli"].items():
        (cli_stack.data_dir / prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (cli_stack.data_dir / prefix / rel).write_bytes(b)

    def stores() -> dict[str, dict[str, bytes]]:
        s3.invalidate_cache()
        gcs.invalidate_cache()
        return {
            "s3": read_files(s3, f"{s3_root}/{prefix}"),
            "gcs": read_files(gcs, f"{gcs_root}/{prefix}"),
            "cli": _local(cli_stack.data_dir, prefix),
        }

    try:
        for backend, files in data.items():
            _index(ctl, backend, prefix, len(files))
        marked = [f"{b}:{prefix}/{rel}" for b, files in data.items() for rel in files if not rel.startswith("keep/")]
        ok(ctl("marks", "add", *marked, "--note", "unread"))
        # Read after marking (the index says so): held back by the dry run, never deleted.
        db.execute(
            "UPDATE storage_files SET last_access = NOW() + interval '1 second' WHERE backend_name = 'cli' "
            "AND path = $1",
            f"{prefix}/old/read.bin",
        )
        # Modified on the store after marking, not crawled since: the dry run cannot know; the job checks and skips it.
        (cli_stack.data_dir / prefix / "old/changed.bin").write_bytes(b"after, and longer")
        data["cli"]["old/changed.bin"] = b"after, and longer"

        # Viewers may not even ask for the dry run.
        r = ctl("marks", "delete", "--dry-run", token=VIEWER)
        assert r.exit_code != 0 and "admin" in r.output, r.output

        before = stores()
        plan = json.loads(ok(ctl("marks", "delete", "--dry-run", "--prefix", f"{prefix}/", "--format", "json")))
        expected = {
            (b, f"{prefix}/{rel}")
            for b, files in data.items()
            for rel in files
            if rel.startswith("old/") and rel != "old/read.bin"
        }
        assert {(f["backend"], f["path"]) for f in plan["files"]} == expected
        sizes = {(b, f"{prefix}/{rel}"): len(v) for b, files in data.items() for rel, v in files.items()}
        sizes[("cli", f"{prefix}/old/changed.bin")] = len(b"before")  # the mark carries the size the index knew
        assert plan["total"] == len(expected) and plan["total_bytes"] == sum(sizes[k] for k in expected)
        assert [(h["backend"], h["path"], h["reason"]) for h in plan["held"]] == [
            ("cli", f"{prefix}/old/read.bin", "read since it was marked")
        ]
        table = ctl("marks", "delete", "--dry-run", "--prefix", f"{prefix}/")
        assert f"{len(expected)} marked files" in table.stderr and "held back" in table.stderr, table.output
        assert stores() == before  # the dry run moved nothing

        # Refused without confirmation; then submitted and followed to its end.
        r = ctl("marks", "delete", "--prefix", f"{prefix}/", input="n\n")
        assert r.exit_code != 0 and stores() == before
        job = json.loads(ok(ctl("marks", "delete", "--prefix", f"{prefix}/", "--yes", "--wait", "--format", "json")))
        assert job["kind"] == "trash" and job["state"] == "done", job
        p = job["progress"]
        moved = expected - {("cli", f"{prefix}/old/changed.bin")}
        assert (p["files_done"], p["bytes_done"]) == (len(moved), sum(sizes[k] for k in moved))
        assert [(s["backend"], s["path"], s["reason"]) for s in p["skipped"]] == [
            ("cli", f"{prefix}/old/changed.bin", "modified since it was marked")
        ]
        after = stores()
        for b, files in data.items():
            left = {rel: v for rel, v in files.items() if (b, f"{prefix}/{rel}") not in moved}
            assert after[b] == left, b
        trash_dir = job["args"]["trash"]
        assert trash_dir.startswith(".warpdrive-trash/") and trash_dir.endswith(job["job_id"])
        s3.invalidate_cache()
        gcs.invalidate_cache()
        assert read_files(s3, f"{s3_root}/{trash_dir}/{prefix}") == {k: v for k, v in data["s3"].items()}
        assert read_files(gcs, f"{gcs_root}/{trash_dir}/{prefix}") == {"old/c.bin": data["gcs"]["old/c.bin"]}
        assert _local(cli_stack.data_dir / trash_dir, prefix) == {"old/e.bin": data["cli"]["old/e.bin"]}

        # Audited: who, when, what, counts, bytes, state.
        row = db.fetch(
            "SELECT kind, state, created_by, created_at, args, progress FROM jobs WHERE job_id = $1", job["job_id"]
        )[0]
        args, progress = json.loads(row["args"]), json.loads(row["progress"])
        assert (row["kind"], row["state"], row["created_by"]) == ("trash", "done", "cli-admin")
        assert (args["files"], args["bytes"], args["held"]) == (len(expected), plan["total_bytes"], 1)
        assert progress["files_done"] == len(moved)
        listed = json.loads(ok(ctl("jobs", "list", "--kind", "trash", "--format", "json")))
        assert [j["job_id"] for j in listed["items"]] == [job["job_id"]]
        # The job took the marks of its files (the skipped one's too: its result names it); the held one stays.
        left_marks = json.loads(ok(ctl("marks", "list", "--prefix", f"{prefix}/", "--format", "json")))
        assert {m["path"] for m in left_marks["items"]} == {f"{prefix}/old/read.bin"}

        trash = json.loads(ok(ctl("trash", "list", "--format", "json")))["items"]
        assert [(t["job_id"], t["status"]) for t in trash] == [(job["job_id"], "restorable")]
        r = ctl("trash", "restore", job["job_id"][:10], token=VIEWER)
        assert r.exit_code != 0 and "admin" in r.output

        restored = json.loads(ok(ctl("trash", "restore", job["job_id"][:10], "--wait", "--format", "json")))
        assert restored["kind"] == "restore" and restored["state"] == "done", restored
        assert restored["progress"]["files_done"] == len(moved)
        assert stores() == {b: dict(files) for b, files in data.items()}  # every byte back at its path
        s3.invalidate_cache()
        assert read_files(s3, f"{s3_root}/{trash_dir}/{prefix}") == {}
        trash = json.loads(ok(ctl("trash", "list", "--format", "json")))["items"]
        assert trash[0]["status"] == "restored"
        r = ctl("trash", "restore", job["job_id"])
        assert r.exit_code != 0 and "restored" in r.output

        # Retention 0: expired at once, so not restorable; a purge removes it from the stores.
        _index(ctl, "s3", prefix, len(data["s3"]))  # the restored files are in the index again
        ok(ctl("marks", "add", f"gcs:{prefix}/keep/d.bin", f"s3:{prefix}/old/b.txt"))
        gone = _delete_expired(ctl, prefix, 2)
        r = ctl("trash", "restore", gone["job_id"])
        assert r.exit_code != 0 and "expired" in r.output, r.output
        purge = json.loads(ok(ctl("trash", "purge", "--wait", "--format", "json")))
        assert purge["kind"] == "purge" and purge["state"] == "done", purge
        dirs = {(d["backend"], d["directory"]) for d in purge["progress"]["purged"]}
        assert dirs >= {("s3", gone["args"]["trash"]), ("gcs", gone["args"]["trash"])}
        s3.invalidate_cache()
        gcs.invalidate_cache()
        assert not s3.exists(f"{s3_root}/{gone['args']['trash']}/{prefix}/old/b.txt")
        assert not gcs.exists(f"{gcs_root}/{gone['args']['trash']}/{prefix}/keep/d.bin")
        statuses = {t["job_id"]: t["status"] for t in json.loads(ok(ctl("trash", "list", "--format", "json")))["items"]}
        assert statuses == {job["job_id"]: "restored", gone["job_id"]: "purged"}
    finally:
        for fs, root in ((s3, s3_root), (gcs, gcs_root)):
            for path in (f"{root}/{prefix}", f"{root}/.warpdrive-trash"):
                fs.invalidate_cache()
                if fs.exists(path):
                    fs.rm(path, recursive=True)


def _crawled(ctl, db: Db, backend: str) -> None:
    """A full crawl of ``backend``, applied by the workers."""
    job = json.loads(ok(ctl("crawl", "--backend", backend, "--wait", "--format", "json")))
    (c,) = job["progress"]["crawls"]
    assert c["status"] == "complete", job
    wait_until(
        lambda: (
            [r["status"] for r in db.fetch("SELECT status FROM crawls WHERE crawl_id = $1", c["crawl_id"])]
            == ["complete"]
        ),
        60,
        what=f"the crawl of {backend} applied",
    )


@pytest.mark.timeout(900)
def test_trash_is_not_data_leaves_no_empty_directories_and_expired_trash_purges_itself(
    ctl, db: Db, cli_stack, workers
) -> None:
    """A full crawl never indexes the trash (not in usage or stale); moving files to the trash and back removes the
    local directories it empties (never the backend's root); the job runner purges expired trash by itself, as a
    purge job in the jobs list."""
    ((s3, s3_root),) = object_stores(cli_stack.config_path, "s3")
    prefix = f"tidy-{uuid.uuid4().hex[:8]}"
    root = cli_stack.data_dir
    local = {"a/b/x.bin": b"x" * 300, "a/b/y.bin": b"y" * 20, "a/keep.bin": b"k", "c/z.bin": os.urandom(4096)}
    for rel, b in local.items():
        (root / prefix / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / prefix / rel).write_bytes(b)
    put_files(s3, f"{s3_root}/{prefix}", {"o/p.bin": b"p" * 50})
    try:
        _index(ctl, "cli", prefix, len(local))
        _index(ctl, "s3", prefix, 1)
        ok(ctl("marks", "add", *(f"cli:{prefix}/{rel}" for rel in ("a/b/x.bin", "a/b/y.bin", "c/z.bin"))))
        job = json.loads(ok(ctl("marks", "delete", "--prefix", f"{prefix}/", "--yes", "--wait", "--format", "json")))
        assert job["state"] == "done" and job["progress"]["files_done"] == 3, job
        trashed = root / job["args"]["trash"]
        assert _local(trashed, prefix) == {k: v for k, v in local.items() if k != "a/keep.bin"}
        # a/b and c held only trashed files: gone; a still holds keep.bin.
        assert sorted(str(p.relative_to(root / prefix)) for p in (root / prefix).rglob("*")) == ["a", "a/keep.bin"]

        # A full crawl: the trash is not data, so it is not in the index, usage or stale.
        _crawled(ctl, db, "cli")
        on_disk = sum(1 for p in root.rglob("*") if p.is_file() and ".warpdrive-trash" not in p.parts)
        indexed = db.fetch("SELECT path FROM storage_files WHERE backend_name = 'cli' AND deleted_at IS NULL")
        assert [r["path"] for r in indexed if r["path"].startswith(".warpdrive-trash")] == []
        stale = json.loads(ok(ctl("stale", "--days", "0", "--backend", "cli", "--format", "json", "--limit", "1")))
        assert stale["total"] == len(indexed) == on_disk, stale
        usage = json.loads(ok(ctl("usage", "--group-by", "backend", "--format", "json")))
        assert sum(i["file_count"] for i in usage["items"] if i.get("backend") == "cli") == on_disk, usage

        # Back from the trash: every byte at its path, and the job's emptied trash directories gone.
        restored = json.loads(ok(ctl("trash", "restore", job["job_id"], "--wait", "--format", "json")))
        assert restored["state"] == "done" and restored["progress"]["files_done"] == 3, restored
        assert _local(root, prefix) == local
        assert not trashed.exists() and root.is_dir()

        # Expired at once (retention 0): a runner purging every second removes it by itself, on S3 and locally.
        _index(ctl, "cli", prefix, len(local))
        ok(ctl("marks", "add", f"cli:{prefix}/c/z.bin", f"s3:{prefix}/o/p.bin"))
        gone = _delete_expired(ctl, prefix, 2)
        trash_dir = gone["args"]["trash"]
        assert (root / trash_dir / prefix / "c/z.bin").is_file() and not (root / prefix / "c").exists()
        workers.start("purger", "crawler", "run", "--no-schedule", env={"WARPDRIVE_CRAWLER_TRASH_PURGE_INTERVAL": "1"})

        def purged() -> dict | None:
            jobs = json.loads(ok(ctl("jobs", "list", "--kind", "purge", "--format", "json")))["items"]
            return next(
                (
                    j
                    for j in jobs
                    if j["state"] == "done"
                    and (j["progress"] or {}).get("scheduled")
                    and ("s3", trash_dir) in {(p["backend"], p["directory"]) for p in j["progress"]["purged"]}
                ),
                None,
            )

        purge = wait_until(purged, 120, what="a scheduled purge job", explain=lambda: workers.tail("purger"))
        assert ("cli", trash_dir) in {(p["backend"], p["directory"]) for p in purge["progress"]["purged"]}  # type: ignore[index]
        s3.invalidate_cache()
        assert not s3.exists(f"{s3_root}/{trash_dir}/{prefix}/o/p.bin") and not (root / trash_dir).exists()
        statuses = {t["job_id"]: t["status"] for t in json.loads(ok(ctl("trash", "list", "--format", "json")))["items"]}
        assert statuses[gone["job_id"]] == "purged" and statuses[job["job_id"]] == "restored"
    finally:
        if "purger" in workers.procs:
            workers.kill("purger", signal.SIGTERM)
        s3.invalidate_cache()
        for path in (f"{s3_root}/{prefix}", f"{s3_root}/.warpdrive-trash"):
            if s3.exists(path):
                s3.rm(path, recursive=True)


def _delete_expired(ctl, prefix: str, files: int) -> dict:
    """Deletes the marks under ``prefix`` with retention 0 (expired at once), waits, and returns the done job."""
    args = ("marks", "delete", "--prefix", f"{prefix}/", "--retention", "0", "--yes", "--wait", "--format", "json")
    gone = json.loads(ok(ctl(*args)))
    assert gone["state"] == "done" and gone["progress"]["files_done"] == files, gone
    return gone
