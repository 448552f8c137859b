"""The deletion job's API (api/trash.py): the dry run lists exactly the marks a job would take and holds back the
changed ones, changing nothing; submitting needs the confirmed count and bytes (409 otherwise, nothing changed), and
writes the jobs row (the audit), its files and its command in one go; restore only while restorable; admin-only."""

from __future__ import annotations

import json

import pytest

from .conftest import read_commands
from .test_endpoints import GiB, add_files, days_ago

pytestmark = pytest.mark.services


def _setup(db, admin) -> None:
    add_files(
        db,
        [
            ("s3", "old/a.bin", 5 * GiB, days_ago(400), None, "vision", "alice", False),
            ("s3", "old/b.bin", 7, days_ago(300), days_ago(200), "vision", "bob", False),
            ("gcs", "old/c.bin", 3 * GiB, days_ago(400), None, "nlp", "carol", False),
            ("gcs", "old/modified.bin", 11, days_ago(400), None, "nlp", "carol", False),
            ("gcs", "old/read.bin", 13, days_ago(400), None, "nlp", "carol", False),
            ("s3", "old/gone.bin", 17, days_ago(400), None, "vision", "alice", True),
            ("s3", "new/unmarked.bin", 19, days_ago(400), None, "vision", "alice", False),
        ],
    )
    files = [
        {"backend": b, "path": p}
        for b, p in (
            ("s3", "old/a.bin"),
            ("s3", "old/b.bin"),
            ("gcs", "old/c.bin"),
            ("gcs", "old/modified.bin"),
            ("gcs", "old/read.bin"),
            ("s3", "old/gone.bin"),
        )
    ]
    assert admin.post("/api/v1/marks", json={"files": files, "note": "stale"}).status_code == 200
    db.execute("UPDATE storage_files SET last_modified = NOW() + interval '1 second' WHERE path = 'old/modified.bin'")
    db.execute("UPDATE storage_files SET last_access = NOW() + interval '1 second' WHERE path = 'old/read.bin'")


TAKEN = [("gcs", "old/c.bin", 3 * GiB), ("s3", "old/a.bin", 5 * GiB), ("s3", "old/b.bin", 7)]


def test_dry_run_lists_exactly_the_marks_a_job_takes_and_changes_nothing(clean, admin, viewer) -> None:
    _setup(clean, admin)
    r = admin.post("/api/v1/marks/delete/dry-run", json={})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert [(f["backend"], f["path"], f["size_bytes"]) for f in plan["files"]] == TAKEN
    assert (plan["total"], plan["total_bytes"]) == (3, 8 * GiB + 7)
    assert {(h["path"], h["reason"]) for h in plan["held"]} == {
        ("old/modified.bin", "modified since it was marked"),
        ("old/read.bin", "read since it was marked"),
        ("old/gone.bin", "no longer in the index"),
    }
    assert plan["held_total"] == 3 and plan["trash_prefix"] == ".warpdrive-trash" and plan["retention_days"] == 7
    by_owner = admin.post("/api/v1/marks/delete/dry-run", json={"owner": "vision", "backend": "s3"}).json()
    assert [f["path"] for f in by_owner["files"]] == ["old/a.bin", "old/b.bin"]
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 6
    assert clean.fetchval("SELECT count(*) FROM jobs") == 0 and clean.fetchval("SELECT count(*) FROM trash_items") == 0

    # Admin-only, every step; the trash list is for anyone with a token.
    for path, body in (
        ("/api/v1/marks/delete/dry-run", {}),
        ("/api/v1/marks/delete", {"expect": 3, "expect_bytes": 1}),
        ("/api/v1/trash/purge", None),
    ):
        r = viewer.post(path, json=body)
        assert r.status_code == 403 and "admin" in r.json()["error"]["message"], (path, r.text)
    assert viewer.get("/api/v1/trash").status_code == 200
    r = admin.post("/api/v1/marks/delete/dry-run", json={"retention_days": -1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "retention_days"


def test_delete_needs_the_confirmed_totals_and_writes_job_items_and_command(clean, admin, viewer, api_cfg) -> None:
    _setup(clean, admin)
    for expect, size in ((2, 8 * GiB + 7), (3, 8 * GiB)):
        r = admin.post("/api/v1/marks/delete", json={"expect": expect, "expect_bytes": size})
        assert r.status_code == 409 and "nothing was deleted" in r.json()["error"]["message"], r.text
    assert (
        clean.fetchval("SELECT count(*) FROM jobs") == 0 and clean.fetchval("SELECT count(*) FROM deletion_marks") == 6
    )
    r = admin.post("/api/v1/marks/delete", json={"expect": 3, "expect_bytes": 8 * GiB + 7, "retention_days": 30})
    assert r.status_code == 201, r.text
    job = r.json()
    assert (job["kind"], job["state"], job["created_by"]) == ("trash", "queued", "root-admin")
    args = job["args"]
    assert (args["files"], args["bytes"], args["held"], args["retention_days"]) == (3, 8 * GiB + 7, 3, 30)
    assert args["trash"].startswith(".warpdrive-trash/") and args["trash"].endswith(f"-{job['job_id']}")
    items = clean.fetch(
        "SELECT backend_name, path, size_bytes FROM trash_items WHERE job_id = $1 ORDER BY 1, 2", job["job_id"]
    )
    assert [tuple(i) for i in items] == TAKEN
    # The job took its marks; the held ones stay for review.
    left = {r["path"] for r in clean.fetch("SELECT path FROM deletion_marks")}
    assert left == {"old/modified.bin", "old/read.bin", "old/gone.bin"}
    sent = [c for c in read_commands(api_cfg) if c.command_id == job["job_id"]]
    assert [(c.kind, c.args["trash"]) for c in sent] == [("trash", args["trash"])]

    listed = viewer.get("/api/v1/trash").json()
    assert [(t["job_id"], t["status"]) for t in listed["items"]] == [(job["job_id"], "running")]
    # Not restorable before it ran; once done, restorable; a restore running blocks another.
    r = admin.post(f"/api/v1/trash/{job['job_id'][:8]}/restore")
    assert r.status_code == 409 and "running" in r.json()["error"]["message"]
    progress = {"files_done": 3, "bytes_done": 8 * GiB + 7}
    clean.execute(
        "UPDATE jobs SET state = 'done', progress = $2::jsonb WHERE job_id = $1", job["job_id"], json.dumps(progress)
    )
    detail = viewer.get(f"/api/v1/trash/{job['job_id']}").json()
    assert detail["status"] == "restorable" and [f["path"] for f in detail["files"]] == [p for _, p, _ in TAKEN]
    r = viewer.post(f"/api/v1/trash/{job['job_id']}/restore")
    assert r.status_code == 403
    r = admin.post(f"/api/v1/trash/{job['job_id']}/restore")
    assert r.status_code == 201, r.text
    restore = r.json()
    assert restore["kind"] == "restore" and restore["args"]["trash_job"] == job["job_id"]
    assert admin.post(f"/api/v1/trash/{job['job_id']}/restore").status_code == 409
    clean.execute("UPDATE jobs SET state = 'done' WHERE job_id = $1", restore["job_id"])
    assert viewer.get("/api/v1/trash").json()["items"][0]["status"] == "restored"


def test_an_expired_trash_is_not_restorable_and_a_purge_is_a_job(clean, admin) -> None:
    _setup(clean, admin)
    job = admin.post(
        "/api/v1/marks/delete", json={"expect": 3, "expect_bytes": 8 * GiB + 7, "retention_days": 0}
    ).json()
    clean.execute("UPDATE jobs SET state = 'done' WHERE job_id = $1", job["job_id"])
    r = admin.post(f"/api/v1/trash/{job['job_id']}/restore")
    assert r.status_code == 409 and "expired" in r.json()["error"]["message"], r.text
    r = admin.post("/api/v1/trash/purge")
    assert r.status_code == 201 and r.json()["kind"] == "purge" and r.json()["created_by"] == "root-admin"
    # Nothing to delete: a clear 400, no job.
    r = admin.post("/api/v1/marks/delete", json={"expect": 0, "expect_bytes": 0, "prefix": "new/"})
    assert r.status_code == 400 and "no marked file" in r.json()["error"]["message"]
