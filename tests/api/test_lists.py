"""The admin's lists at any size (issue 20): usage paged and sorted, `unowned` as a user, the stale filter's sorts,
CSV export of every row, marking a whole filter, the marks' filters and export, short job ids."""

from __future__ import annotations

import csv
import io

import pytest

from .test_endpoints import GiB, NOW, add_files, days_ago, stale_setup
from .test_usage import seed as usage_seed

pytestmark = pytest.mark.services


def test_usage_by_user_is_paged_sorted_and_totalled_over_every_row(clean, viewer) -> None:
    usage_seed(clean)
    full = viewer.get("/api/v1/usage?group_by=user&per_backend=false&limit=500").json()
    every = [(i["user"], i["total_bytes"], i["bytes_read"]) for i in full["items"]]
    assert full["total"] == len(every) == 5  # alice, unowned, bob, dave, erin (frank read 40 days ago)
    page = viewer.get("/api/v1/usage?group_by=user&per_backend=false&limit=2&offset=1").json()
    assert [(i["user"], i["total_bytes"], i["bytes_read"]) for i in page["items"]] == every[1:3]
    # the totals are the whole list's, not the page's
    assert page["total"] == 5 and page["total_bytes"] == full["total_bytes"] == 3750 and page["bytes_read"] == 141
    by_reads = viewer.get("/api/v1/usage?group_by=user&per_backend=false&sort=reads&limit=2").json()["items"]
    assert [i["user"] for i in by_reads] == ["alice", "dave"]  # 100 and 40 bytes read
    by_name = viewer.get("/api/v1/usage?group_by=user&per_backend=false&sort=name&order=asc").json()["items"]
    assert [i["user"] for i in by_name] == sorted(u for u, _, _ in every)
    alice = next(i for i in full["items"] if i["user"] == "alice")
    assert alice["backends"] == ["s3"] and "backend" not in alice


def test_usage_search_and_team_filter(clean, viewer) -> None:
    usage_seed(clean)
    body = viewer.get("/api/v1/usage?group_by=user&search=AL").json()
    assert [i["user"] for i in body["items"]] == ["alice"] and body["total"] == 1
    team = viewer.get("/api/v1/usage?group_by=user&team=vision").json()
    # the team's owners only (no reader who owns nothing there), with their reads
    assert {(i["user"], i["backend"]) for i in team["items"]} == {("alice", "s3"), ("unowned", "s3"), ("bob", "local")}
    assert team["total_bytes"] == 3700 and team["team"] == "vision"
    per_backend = viewer.get("/api/v1/usage?group_by=team&team=vision").json()
    assert [(i["team"], i["backend"], i["total_bytes"]) for i in per_backend["items"]] == [
        ("vision", "s3", 3500),
        ("vision", "local", 200),
    ]
    folded = viewer.get("/api/v1/usage?group_by=team&per_backend=false").json()
    assert [(i["team"], i["total_bytes"], i["backends"]) for i in folded["items"]] == [
        ("vision", 3700, ["s3", "local"]),
        ("unowned", 50, ["local"]),
    ]


def test_unowned_is_a_user_page(clean, viewer) -> None:
    stale_setup(clean)
    clean.execute("INSERT INTO usage_rollup VALUES ('local', 'unowned', '', 2, $1, NULL)", 3 * GiB)
    body = viewer.get("/api/v1/user/unowned").json()
    assert body["user"] == "unowned" and body["teams"] == []
    assert body["owned"] == [{"backend": "local", "file_count": 2, "total_bytes": 3 * GiB, "last_access": None}]
    assert [f["path"] for f in body["top_files"]] == ["a_b/x%y.dat", "aXb/z.dat"]


def test_stale_sorts_mean_what_they_say(clean, viewer) -> None:
    stale_setup(clean)
    add_files(clean, [("s3", "old/read-200.bin", GiB, days_ago(500), days_ago(200), "vision", None, False)])

    def order(sort: str, direction: str) -> list[str]:
        return [i["path"] for i in viewer.get(f"/api/v1/stale?days=90&sort={sort}&order={direction}").json()["items"]]

    # never read first (ties by backend, then path byte-wise), then the oldest read
    assert order("last_access", "asc") == [
        "aXb/z.dat",
        "a_b/x%y.dat",
        "old/big.bin",
        "old/read-200.bin",
        "old/small.txt",
    ]
    assert order("last_modified", "asc") == [
        "old/read-200.bin",
        "old/big.bin",
        "old/small.txt",
        "aXb/z.dat",
        "a_b/x%y.dat",
    ]
    # activity: the later of the two (read-200 was read 200 days ago, after its modification)
    assert order("activity", "asc") == ["old/big.bin", "old/read-200.bin", "aXb/z.dat", "a_b/x%y.dat", "old/small.txt"]


def test_stale_export_streams_every_row_of_the_filter(clean, viewer, monkeypatch) -> None:
    from warpdrive.api import responses

    monkeypatch.setattr(responses, "STREAM_BATCH", 2)  # several batches for 4 rows
    stale_setup(clean)
    r = viewer.get("/api/v1/stale/export?days=90&sort=path&order=asc")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    page = viewer.get("/api/v1/stale?days=90&sort=path&order=asc&format=csv").text
    assert rows == list(csv.DictReader(io.StringIO(page)))
    assert [x["path"] for x in rows] == ["aXb/z.dat", "a_b/x%y.dat", "old/big.bin", "old/small.txt"]
    owned = list(csv.DictReader(io.StringIO(viewer.get("/api/v1/stale/export?days=90&owner=vision").text)))
    assert [x["path"] for x in owned] == ["old/big.bin"]


def test_mark_a_whole_stale_filter(clean, viewer, admin) -> None:
    stale_setup(clean)
    body = {"days": 90, "backend": "s3", "note": "all of it", "expect": 2}
    assert viewer.post("/api/v1/marks/stale", json=body).status_code == 403
    r = admin.post("/api/v1/marks/stale", json={**body, "expect": 3})  # what the admin saw is no longer the filter
    assert r.status_code == 409 and "nothing was marked" in r.json()["error"]["message"]
    assert clean.fetchval("SELECT count(*) FROM deletion_marks") == 0
    r = admin.post("/api/v1/marks/stale", json=body)
    assert r.status_code == 200 and r.json() == {"marked": 2, "total_bytes": 5 * GiB + 10}
    marks = clean.fetch("SELECT path, note, marked_by, size_bytes FROM deletion_marks ORDER BY path")
    assert [tuple(m) for m in marks] == [
        ("old/big.bin", "all of it", "root-admin", 5 * GiB),
        ("old/small.txt", "all of it", "root-admin", 10),
    ]


def test_marks_filters_read_since_marking_and_export(clean, viewer, admin) -> None:
    stale_setup(clean)
    files = [{"backend": "s3", "path": p} for p in ("old/big.bin", "old/small.txt")] + [
        {"backend": "local", "path": "aXb/z.dat"}
    ]
    assert admin.post("/api/v1/marks", json={"files": files}).status_code == 200
    clean.execute("UPDATE storage_files SET last_access = $1 WHERE path = 'old/small.txt'", NOW)
    clean.execute("UPDATE deletion_marks SET marked_at = $1", days_ago(1))
    body = viewer.get("/api/v1/marks").json()
    assert body["total"] == 3 and body["read_since_mark"] == 1
    read = {m["path"]: m["read_since_mark"] for m in body["items"]}
    assert read == {"old/big.bin": False, "old/small.txt": True, "aXb/z.dat": False}
    assert [m["path"] for m in viewer.get("/api/v1/marks?read_since_mark=true").json()["items"]] == ["old/small.txt"]
    assert viewer.get("/api/v1/marks?read_since_mark=false").json()["total"] == 2
    assert [m["path"] for m in viewer.get("/api/v1/marks?owner=nlp").json()["items"]] == ["old/small.txt"]
    exported = list(csv.DictReader(io.StringIO(viewer.get("/api/v1/marks/export?backend=s3").text)))
    assert sorted(x["path"] for x in exported) == ["old/big.bin", "old/small.txt"]
    assert {x["path"]: x["read_since_mark"] for x in exported}["old/small.txt"] == "true"


def test_jobs_answer_to_a_unique_start_of_their_id(clean, viewer, admin) -> None:
    clean.execute("INSERT INTO jobs (job_id, kind, args) VALUES ('abc123', 'crawl', '{}'), ('abd456', 'crawl', '{}')")
    assert viewer.get("/api/v1/jobs/abc").json()["job_id"] == "abc123"
    r = viewer.get("/api/v1/jobs/ab")
    assert r.status_code == 400 and "abc123, abd456" in r.json()["error"]["message"]
    assert viewer.get("/api/v1/jobs/zz").status_code == 404
    assert admin.post("/api/v1/jobs/abd/cancel").json()["job_id"] == "abd456"
