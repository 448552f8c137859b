"""Each endpoint's semantics against states set up directly in the real PostgreSQL database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from warpdrive.schemas.records import parse_ts

from tests.helpers import rollups_from_files

from .conftest import read_commands

pytestmark = pytest.mark.services

NOW = datetime.now(UTC)
GiB = 1 << 30


def days_ago(n: float) -> datetime:
    return NOW - timedelta(days=n)


def add_files(db, rows) -> None:
    """rows: (backend, path, size, last_modified, last_access, owner_team, owner_user, deleted); the tree and
    owner rollups follow, as the stream workers keep them."""
    db.executemany(
        """INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user, deleted_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 THEN NOW() END)""",
        rows,
    )
    rollups_from_files(db.dsn)


# ---------------------------------------------------------------- stale


def stale_setup(db) -> None:
    add_files(
        db,
        [
            ("s3", "old/big.bin", 5 * GiB, days_ago(400), None, "vision", "alice", False),
            ("s3", "old/read-lately.bin", 4 * GiB, days_ago(400), days_ago(3), "vision", "alice", False),
            ("s3", "new/written-yesterday.bin", 3 * GiB, days_ago(1), None, "vision", "bob", False),
            ("s3", "old/small.txt", 10, days_ago(200), days_ago(100), "nlp", "carol", False),
            ("s3", "old/deleted.bin", 9 * GiB, days_ago(400), None, "vision", "alice", True),
            ("local", "a_b/x%y.dat", 2 * GiB, days_ago(120), None, "unowned", None, False),
            ("local", "aXb/z.dat", GiB, days_ago(120), None, "unowned", None, False),
        ],
    )
    db.execute(
        "INSERT INTO telemetry_coverage VALUES ('s3', $1, $2), ('local', $3, $2)", days_ago(365), NOW, days_ago(10)
    )


def test_stale_is_neither_read_nor_modified_in_n_days(clean, viewer) -> None:
    stale_setup(clean)
    body = viewer.get("/api/v1/stale?days=90").json()
    paths = [i["path"] for i in body["items"]]
    assert paths == ["old/big.bin", "a_b/x%y.dat", "aXb/z.dat", "old/small.txt"]  # size desc
    assert body["total"] == 4 and body["total_bytes"] == 8 * GiB + 10 and body["total_exact"] is True
    big = body["items"][0]
    assert big["owner_team"] == "vision" and big["owner_user"] == "alice" and big["marked"] is False
    assert big["coverage_ok"] is True and body["items"][1]["coverage_ok"] is False
    assert body["coverage"]["s3"]["covers_period"] is True and body["coverage"]["local"]["covers_period"] is False
    gcs = body["coverage"]["gcs"]
    assert (gcs["since"], gcs["covers_period"], gcs["note"]) == (None, False, "no read evidence yet")


def test_stale_filters_sorting_and_paging(clean, viewer) -> None:
    stale_setup(clean)
    get = lambda q: viewer.get("/api/v1/stale?" + q).json()  # noqa: E731
    assert [i["path"] for i in get("days=90&min_size=1.5GiB")["items"]] == ["old/big.bin", "a_b/x%y.dat"]
    assert [i["path"] for i in get("days=90&min_size=2GB")["items"]] == ["old/big.bin", "a_b/x%y.dat"]
    assert [i["path"] for i in get("days=90&owner=nlp")["items"]] == ["old/small.txt"]
    assert [i["path"] for i in get("days=90&owner=alice")["items"]] == ["old/big.bin"]
    assert [i["path"] for i in get("days=90&backend=local&prefix=a_b/")["items"]] == ["a_b/x%y.dat"]  # _ is literal
    assert [i["path"] for i in get("days=90&covered_only=true")["items"]] == ["old/big.bin", "old/small.txt"]
    assert [i["path"] for i in get("days=90&sort=path&order=asc")["items"]] == [
        "aXb/z.dat",
        "a_b/x%y.dat",
        "old/big.bin",
        "old/small.txt",
    ]
    assert [i["path"] for i in get("days=90&sort=last_access&order=desc")["items"]][0] == "old/small.txt"
    page = get("days=90&limit=2&offset=1")
    assert [i["path"] for i in page["items"]] == ["a_b/x%y.dat", "aXb/z.dat"] and page["total"] == 4
    assert [i["path"] for i in get("days=2")["items"]][:2] == ["old/big.bin", "old/read-lately.bin"]


def test_stale_owner_is_team_or_user_each_file_once(clean, viewer) -> None:
    # "ops" owns files as a team and as a user: the two index ranges are merged in order, a file matching
    # both is listed once, and pages and totals span both.
    add_files(
        clean,
        [
            ("s3", "t/team-only.bin", 3 * GiB, days_ago(400), None, "ops", "bob", False),
            ("s3", "u/user-only.bin", 5 * GiB, days_ago(400), None, "vision", "ops", False),
            ("s3", "b/both.bin", 4 * GiB, days_ago(400), None, "ops", "ops", False),
            ("s3", "n/neither.bin", 6 * GiB, days_ago(400), None, "vision", "bob", False),
            ("s3", "u/user-fresh.bin", 7 * GiB, days_ago(1), None, "vision", "ops", False),
        ],
    )
    body = viewer.get("/api/v1/stale?days=90&owner=ops").json()
    assert [i["path"] for i in body["items"]] == ["u/user-only.bin", "b/both.bin", "t/team-only.bin"]
    assert body["total"] == 3 and body["total_bytes"] == 12 * GiB
    page = viewer.get("/api/v1/stale?days=90&owner=ops&limit=1&offset=1").json()
    assert [i["path"] for i in page["items"]] == ["b/both.bin"] and page["total"] == 3
    asc = viewer.get("/api/v1/stale?days=90&owner=ops&sort=size&order=asc").json()
    assert [i["path"] for i in asc["items"]] == ["t/team-only.bin", "b/both.bin", "u/user-only.bin"]


def test_stale_csv_by_accept_header_and_format(clean, viewer) -> None:
    stale_setup(clean)
    for r in (
        viewer.get("/api/v1/stale?days=90", headers={"Accept": "text/csv"}),
        viewer.get("/api/v1/stale?days=90&format=csv"),
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [x["path"] for x in rows] == ["old/big.bin", "a_b/x%y.dat", "aXb/z.dat", "old/small.txt"]
        assert (
            rows[0]["size_bytes"] == str(5 * GiB) and rows[0]["marked"] == "false" and r.headers["x-total-count"] == "4"
        )


def test_stale_marked_flag(clean, viewer) -> None:
    stale_setup(clean)
    clean.execute("INSERT INTO deletion_marks (backend_name, path) VALUES ('s3', 'old/big.bin')")
    assert viewer.get("/api/v1/stale?days=90").json()["items"][0]["marked"] is True


@pytest.mark.parametrize(
    "query,param",
    [
        ("days=-1", "days"),
        ("days=abc", "days"),
        ("days=99999999", "days"),
        ("min_size=5XB", "min_size"),
        ("min_size=-5", "min_size"),
        ("min_size=1.5", "min_size"),
        ("sort=owner", "sort"),
        ("order=up", "order"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("offset=-1", "offset"),
        ("backend=nope", "backend"),
        ("owner=a%20b", "owner"),
        ("prefix=a/../b", "prefix"),
        ("prefix=%00", "prefix"),
        ("format=xml", "format"),
        ("covered_only=maybe", "covered_only"),
    ],
)
def test_stale_validation(viewer, query, param) -> None:
    r = viewer.get(f"/api/v1/stale?{query}")
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


# ---------------------------------------------------------------- growth


def test_growth_fills_forward_and_sums_series(clean, viewer) -> None:
    today = NOW.date()
    clean.executemany(
        "INSERT INTO growth_daily VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (today - timedelta(days=5), "s3", "vision", 100, 1, 100, 0),
            (today - timedelta(days=2), "s3", "vision", 150, 2, 60, 10),
            (today - timedelta(days=4), "local", "nlp", 7, 1, 7, 0),
            (today - timedelta(days=40), "s3", "nlp", 1000, 9, 1000, 0),
        ],
    )
    body = viewer.get("/api/v1/growth?period=7d").json()
    assert body["period_days"] == 7 and body["backend"] == "all" and body["team"] == "all"
    pts = body["points"]
    assert [p["date"] for p in pts] == [(today - timedelta(days=6 - i)).isoformat() for i in range(7)]
    assert [p["total_bytes"] for p in pts] == [1000, 1100, 1107, 1107, 1157, 1157, 1157]
    assert pts[4]["added_bytes"] == 60 and pts[4]["removed_bytes"] == 10 and pts[3]["added_bytes"] == 0
    s3v = viewer.get("/api/v1/growth?period=7&backend=s3&team=vision").json()["points"]
    assert [p["total_bytes"] for p in s3v] == [0, 100, 100, 100, 150, 150, 150]
    assert [p["file_count"] for p in s3v] == [0, 1, 1, 1, 2, 2, 2]
    assert len(viewer.get("/api/v1/growth?period=2w").json()["points"]) == 14


@pytest.mark.parametrize(
    "query,param",
    [
        ("period=0d", "period"),
        ("period=30x", "period"),
        ("period=9999y", "period"),
        ("team=a%2Fb", "team"),
        ("backend=x", "backend"),
    ],
)
def test_growth_validation(viewer, query, param) -> None:
    r = viewer.get(f"/api/v1/growth?{query}")
    assert r.status_code == 400 and r.json()["error"]["param"] == param


# ---------------------------------------------------------------- user


def test_user_detail(clean, viewer) -> None:
    add_files(
        clean,
        [
            ("s3", "a/1", 500, days_ago(1), None, "vision", "alice", False),
            ("s3", "a/2", 900, days_ago(1), None, "vision", "alice", False),
            ("s3", "a/3", 9000, days_ago(1), None, "vision", "alice", True),
        ],
    )
    clean.execute("INSERT INTO usage_rollup VALUES ('s3', 'vision', 'alice', 2, 1400, NULL)")
    clean.execute("INSERT INTO teams VALUES ('alice', 'vision')")
    # The per-user rollups as the workers keep them (their upkeep is tested in tests/streams and test_integration).
    clean.executemany(
        "INSERT INTO user_files (user_id, backend_name, path, read_count, bytes_read, last_access) VALUES ($1,$2,$3,$4,$5,$6)",
        [("alice", "s3", "a/1", 2, 20, days_ago(19)), ("alice", "gcs", "z", 4, 400, days_ago(19))],
    )
    # s3's reads in two shards (two workers' partitions, migration 0057): the API answers their sum.
    clean.executemany(
        "INSERT INTO user_reads (user_id, backend_name, shard, read_count, bytes_read, files_accessed, last_access)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7)",
        [
            ("alice", "s3", 0, 1, 15, 1, days_ago(25)),
            ("alice", "s3", 3, 1, 5, 0, days_ago(19)),
            ("alice", "gcs", 0, 4, 400, 1, days_ago(19)),
        ],
    )
    body = viewer.get("/api/v1/user/alice?top=1").json()
    assert body["user"] == "alice" and "vision" in body["teams"]
    assert body["owned"] == [{"backend": "s3", "file_count": 2, "total_bytes": 1400, "last_access": None}]
    reads = {r["backend"]: r for r in body["reads"]}
    assert reads["s3"]["read_count"] == 2 and reads["s3"]["files_accessed"] == 1 and reads["gcs"]["bytes_read"] == 400
    assert reads["s3"]["bytes_read"] == 20 and parse_ts(reads["s3"]["last_access"]) == days_ago(19)
    assert [f["path"] for f in body["top_files"]] == ["a/2"]  # deleted a/3 is not listed
    assert [f["path"] for f in body["top_read"]] == ["z"]


def test_user_unknown_is_404_and_bad_id_400(clean, viewer) -> None:
    r = viewer.get("/api/v1/user/nobody")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = viewer.get("/api/v1/user/-bad")
    assert r.status_code == 400 and r.json()["error"]["param"] == "user_id"
    assert viewer.get("/api/v1/user/x?top=101").json()["error"]["param"] == "top"


# ---------------------------------------------------------------- backends


def test_backends_list(clean, viewer, api_cfg) -> None:
    clean.execute(
        "INSERT INTO usage_rollup VALUES ('s3', 'vision', '', 2, 1400, NULL), ('s3', 'nlp', '', 1, 100, NULL)"
    )
    clean.execute(
        "INSERT INTO crawls (crawl_id, backend_name, started_at, finished_at, files, status) VALUES "
        "('c1', 's3', $1, $2, 3, 'complete'), ('c2', 's3', $3, NULL, 0, 'running')",
        days_ago(2),
        days_ago(2),
        days_ago(1),
    )
    # two shards (migration 0057): coverage is the earliest first and the latest last event of both
    clean.execute(
        "INSERT INTO telemetry_coverage VALUES ('s3', $1, $2, 0), ('s3', $3, $4, 2)",
        days_ago(30),
        days_ago(3),
        days_ago(20),
        days_ago(0),
    )
    body = viewer.get("/api/v1/backends").json()
    assert [b["name"] for b in body["items"]] == [b.name for b in api_cfg.backends]
    s3 = next(b for b in body["items"] if b["name"] == "s3")
    assert s3["file_count"] == 3 and s3["total_bytes"] == 1500 and s3["scheme"] == "s3"
    assert s3["last_crawl"]["crawl_id"] == "c2" and s3["last_crawl"]["status"] == "running"
    assert "storage_options" not in s3
    assert (parse_ts(s3["coverage_since"]), parse_ts(s3["last_event"])) == (days_ago(30), NOW)
    local = next(b for b in body["items"] if b["name"] == "local")
    assert local["last_crawl"] is None and local["file_count"] == 0


# ---------------------------------------------------------------- quotas


def test_quota_crud(clean, admin, viewer, api_cfg) -> None:
    before = len(read_commands(api_cfg))
    clean.execute(
        "INSERT INTO usage_rollup VALUES ('s3', 'vision', '', 2, 1400, NULL), ('local', 'vision', '', 1, 100, NULL)"
    )
    r = admin.put("/api/v1/quota", json={"team": "vision", "backend": "s3", "soft": "500TB", "hard": "1.5PiB"})
    assert r.status_code == 201, r.text
    q = r.json()
    assert q["soft_limit"] == 500 * 10**12 and q["hard_limit"] == int(1.5 * 2**50) and q["usage_bytes"] == 1400
    assert q["level"] is None
    r = admin.put("/api/v1/quota", json={"team": "vision", "backend": "s3", "soft": 1000, "hard": "2K"})
    assert r.status_code == 200 and r.json()["hard_limit"] == 2048 and r.json()["id"] == q["id"]
    assert admin.put("/api/v1/quota", json={"team": "vision", "soft": "1GB", "hard": "2GB"}).status_code == 201
    assert (
        admin.put("/api/v1/quota", json={"team": "vision", "backend": None, "soft": "1GB", "hard": "3GB"}).status_code
        == 200
    )
    clean.execute(
        "INSERT INTO quota_state (team_name, backend_name, level, usage_bytes) VALUES ('vision', 's3', 'soft', 1400)"
    )
    items = viewer.get("/api/v1/quota").json()["items"]
    assert [(i["backend"], i["usage_bytes"], i["level"]) for i in items] == [(None, 1500, None), ("s3", 1400, "soft")]
    assert viewer.get("/api/v1/quota?team=other").json()["items"] == []
    assert admin.delete("/api/v1/quota?team=vision&backend=s3").status_code == 204
    assert admin.delete("/api/v1/quota?team=vision&backend=s3").status_code == 404
    assert admin.delete("/api/v1/quota?team=vision").status_code == 204
    assert viewer.get("/api/v1/quota").json()["total"] == 0
    cmds = [(c.kind, c.args) for c in read_commands(api_cfg)[before:]]
    assert cmds == [("quota", {"team": "vision", "backend": "s3"})] * 2 + [
        ("quota", {"team": "vision", "backend": None})
    ] * 2 + [("quota", {"team": "vision", "backend": "s3"}), ("quota", {"team": "vision", "backend": None})]


@pytest.mark.parametrize(
    "body,param",
    [
        ({"team": "v", "soft": "2GB", "hard": "1GB"}, "soft"),
        ({"team": "v", "soft": "1XB", "hard": "1GB"}, "soft"),
        ({"team": "v", "soft": -1, "hard": "1GB"}, "soft"),
        ({"team": "v", "soft": True, "hard": "1GB"}, "soft"),
        ({"team": "v", "soft": 1, "hard": "99999EiB"}, "hard"),
        ({"team": "", "soft": 1, "hard": 2}, "team"),
        ({"team": "v", "backend": "nope", "soft": 1, "hard": 2}, "backend"),
        ({"team": "v", "soft": 1}, "hard"),
        ({"team": 5, "soft": 1, "hard": 2}, "team"),
    ],
)
def test_quota_validation(admin, body, param) -> None:
    r = admin.put("/api/v1/quota", json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


# ---------------------------------------------------------------- teams and ownership (publish reown)


def test_teams_crud_publishes_reown(clean, admin, viewer, api_cfg) -> None:
    before = len(read_commands(api_cfg))
    assert admin.put("/api/v1/teams", json={"user": "alice", "team": "vision"}).status_code == 201
    assert admin.put("/api/v1/teams", json={"user": "alice", "team": "vision"}).status_code == 200
    assert admin.put("/api/v1/teams", json={"user": "bob", "team": "vision"}).status_code == 201
    body = viewer.get("/api/v1/teams?team=vision").json()
    assert (
        body["items"] == [{"user": "alice", "team": "vision"}, {"user": "bob", "team": "vision"}] and body["total"] == 2
    )
    assert admin.delete("/api/v1/teams?user=bob&team=vision").status_code == 204
    assert admin.delete("/api/v1/teams?user=bob&team=vision").status_code == 404
    cmds = read_commands(api_cfg)[before:]
    assert [(c.kind, c.args) for c in cmds] == [("reown", {}), ("reown", {}), ("reown", {})]


def test_ownership_crud_publishes_reown(clean, admin, viewer, api_cfg) -> None:
    before = len(read_commands(api_cfg))
    r = admin.put("/api/v1/ownership", json={"backend": "s3", "prefix": "datasets/", "team": "vision"})
    assert r.status_code == 201 and r.json()["user"] is None and r.json()["prefix"] == "datasets/"
    r = admin.put("/api/v1/ownership", json={"backend": "s3", "prefix": "datasets/", "team": "nlp", "user": "carol"})
    assert r.status_code == 200 and r.json()["team"] == "nlp"
    assert admin.put("/api/v1/ownership", json={"backend": "local", "team": "ops"}).json()["prefix"] == ""
    items = viewer.get("/api/v1/ownership?backend=s3").json()["items"]
    assert [(i["prefix"], i["team"], i["user"]) for i in items] == [("datasets/", "nlp", "carol")]
    assert admin.delete("/api/v1/ownership?backend=s3&prefix=datasets/").status_code == 204
    assert admin.delete("/api/v1/ownership?backend=s3&prefix=datasets/").status_code == 404
    cmds = [(c.kind, c.args) for c in read_commands(api_cfg)[before:]]
    assert cmds == [("reown", {"backend": "s3", "prefix": "datasets/"})] * 2 + [
        ("reown", {"backend": "local", "prefix": ""}),
        ("reown", {"backend": "s3", "prefix": "datasets/"}),
    ]


def test_ownership_validation(admin) -> None:
    for body, param in [
        ({"backend": "s3", "prefix": "../x", "team": "t"}, "prefix"),
        ({"backend": "zz", "team": "t"}, "backend"),
        ({"backend": "s3", "team": "t", "user": "bad user"}, "user"),
    ]:
        r = admin.put("/api/v1/ownership", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == param
    assert admin.delete("/api/v1/ownership?backend=s3").json()["error"]["param"] == "prefix"


# ---------------------------------------------------------------- marks


def test_marks_bulk_mark_list_unmark(clean, admin, viewer) -> None:
    add_files(clean, [("s3", "a/1", 500, days_ago(100), None, "vision", "alice", False)])
    files = [{"backend": "s3", "path": "a/1"}, {"backend": "s3", "path": "a/2"}, {"backend": "s3", "path": "a/1"}]
    r = admin.post("/api/v1/marks", json={"files": files, "note": "old run"})
    assert r.status_code == 200 and r.json() == {"marked": 2}
    body = viewer.get("/api/v1/marks?backend=s3").json()
    assert body["total"] == 2 and body["total_bytes"] == 500
    by_path = {i["path"]: i for i in body["items"]}
    assert by_path["a/1"]["exists"] is True and by_path["a/2"]["exists"] is False
    assert by_path["a/1"]["marked_by"] == "root-admin" and by_path["a/1"]["note"] == "old run"
    assert viewer.get("/api/v1/marks?prefix=a/2").json()["total"] == 1
    assert clean.fetchval("SELECT count(*) FROM storage_files") == 1  # marking never deletes
    r = admin.delete("/api/v1/marks", json={"files": files[:1] + [{"backend": "gcs", "path": "never"}]})
    assert r.json() == {"unmarked": 1}
    assert viewer.get("/api/v1/marks").json()["total"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"files": []},
        {"files": [{"backend": "s3"}]},
        {"files": [{"backend": "s3", "path": "x", "extra": 1}]},
        {"files": [{"backend": "nope", "path": "x"}]},
        {"files": "s3:x"},
        {"files": [{"backend": "s3", "path": "x"}], "note": 5},
        {"files": [{"backend": "s3", "path": "x"}] * 10_001},
    ],
)
def test_marks_validation(admin, body) -> None:
    r = admin.post("/api/v1/marks", json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] in ("files", "note"), r.text


# ---------------------------------------------------------------- jobs


def test_jobs_submit_publishes_a_command_and_cancel(clean, admin, viewer, api_cfg) -> None:
    r = admin.post("/api/v1/jobs", json={"kind": "crawl", "args": {"backend": "s3", "prefix": "datasets/"}})
    assert r.status_code == 201, r.text
    job = r.json()
    assert (
        job["state"] == "queued"
        and job["args"] == {"backend": "s3", "prefix": "datasets/"}
        and job["created_by"] == "root-admin"
    )
    warm = admin.post(
        "/api/v1/jobs", json={"kind": "warm", "args": {"backend": "gcs", "path": "m/w.bin", "node": "gpu-1"}}
    ).json()
    cmds = {c.command_id: c for c in read_commands(api_cfg)}
    assert cmds[job["job_id"]].kind == "crawl" and cmds[job["job_id"]].args == {"backend": "s3", "prefix": "datasets/"}
    assert cmds[warm["job_id"]].target == "gpu-1"
    assert viewer.get(f"/api/v1/jobs/{job['job_id']}").json()["job_id"] == job["job_id"]
    listing = viewer.get("/api/v1/jobs?kind=crawl").json()
    assert listing["total"] == 1 and listing["items"][0]["job_id"] == job["job_id"]
    r = admin.post(f"/api/v1/jobs/{job['job_id']}/cancel")
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert admin.post(f"/api/v1/jobs/{job['job_id']}/cancel").status_code == 409
    assert any(c.kind == "cancel" and c.args == {"job_id": job["job_id"]} for c in read_commands(api_cfg))
    assert viewer.get("/api/v1/jobs?state=cancelled").json()["total"] == 1
    assert viewer.get("/api/v1/jobs/nosuchjob").status_code == 404
    assert admin.post("/api/v1/jobs/nosuchjob/cancel").status_code == 404


@pytest.mark.parametrize(
    "body,param",
    [
        ({"kind": "delete", "args": {}}, "kind"),
        ({"kind": "crawl", "args": []}, "args"),
        ({"kind": "crawl", "args": {}}, "args.backend"),
        ({"kind": "move", "args": {"backend": "s3", "path": "a"}}, "args.dest_backend"),
        ({"kind": "warm", "args": {"backend": "s3", "path": "a", "speed": 1}}, "args.speed"),
        ({"kind": "crawl", "args": {"backend": "s3", "prefix": "../"}}, "args.prefix"),
    ],
)
def test_jobs_validation(admin, body, param) -> None:
    r = admin.post("/api/v1/jobs", json=body)
    assert r.status_code == 400 and r.json()["error"]["param"] == param, r.text


# ---------------------------------------------------------------- agents, ops, dashboard


def test_agents(clean, viewer) -> None:
    status = {"node_host": "gpu-1", "timestamp": "x", "mounts": [{"backend": "s3"}]}
    # A heartbeat of now, not of the module's import (a session that starts its own stack takes over a minute).
    clean.execute(
        "INSERT INTO agents VALUES ('gpu-1', now(), $1::jsonb), ('gpu-2', $2, '{}')",
        orjson.dumps(status).decode(),
        days_ago(1),
    )
    items = viewer.get("/api/v1/agents").json()["items"]
    assert [(a["node_host"], a["alive"]) for a in items] == [("gpu-1", True), ("gpu-2", False)]
    assert items[0]["status"]["mounts"] == [{"backend": "s3"}]
    assert viewer.get("/api/v1/agents?stale_after=0").json()["error"]["param"] == "stale_after"


def test_metrics_count_requests_by_route_template(viewer, app_client) -> None:
    viewer.get("/api/v1/user/someone-unknown")
    text = viewer.get("/metrics").text
    assert 'warpdrive_api_requests_total{method="GET",route="/api/v1/user/{user_id}",status="404"}' in text
    assert "warpdrive_api_request_seconds_bucket" in text and "warpdrive_api_db_pool_size" in text
    assert app_client.get("/metrics").status_code == 401


def test_stale_totals_past_the_count_cap_are_exact_within_the_budget(clean, viewer, monkeypatch) -> None:
    from warpdrive.api import stale

    stale_setup(clean)
    monkeypatch.setattr(stale, "COUNT_CAP", 2)
    body = viewer.get("/api/v1/stale?days=90&min_size=1").json()  # a size filter: the rollups cannot serve it
    assert body["total"] == 4 and body["total_exact"] is True and len(body["items"]) == 4
    assert body["total_basis"] == "count" and body["scope_bytes"] is None
    assert body["total_bytes"] == sum(i["size_bytes"] for i in body["items"])


def test_stale_totals_past_the_count_cap_are_lower_bounds(clean, viewer, monkeypatch) -> None:
    from warpdrive.api import stale

    stale_setup(clean)
    monkeypatch.setattr(stale, "COUNT_CAP", 2)
    monkeypatch.setattr(stale, "EXACT_BUDGET", 0)  # no time for the exact count
    body = viewer.get("/api/v1/stale?days=90&min_size=1").json()
    assert body["total"] == 2 and body["total_exact"] is False and len(body["items"]) == 4
    assert body["total_basis"] == "bound"
    r = viewer.get("/api/v1/stale?days=90&min_size=1&format=csv")
    assert r.headers["x-total-count"] == "2+"
    # Where the rollups serve the filter, neither the cap nor the budget applies: the totals are exact.
    body = viewer.get("/api/v1/stale?days=90").json()
    assert (body["total"], body["total_bytes"], body["total_exact"], body["total_basis"]) == (
        4,
        8 * GiB + 10,
        True,
        "rollup",
    )


# ---------------------------------------------------------------- quotas that hold (issue 16)


def test_quota_for_an_unknown_team_needs_force_and_sizes_keep_their_units(clean, admin) -> None:
    r = admin.put("/api/v1/quota", json={"team": "nobody", "soft": "500TB", "hard": "600TB"})
    assert r.status_code == 409 and r.json()["error"]["param"] == "force", r.text
    assert "no members and owns no data" in r.json()["error"]["message"]
    assert clean.fetch("SELECT 1 FROM quotas") == []  # refused: nothing stored
    r = admin.put("/api/v1/quota", json={"team": "nobody", "soft": "500TB", "hard": "600TB", "force": True})
    assert r.status_code == 201 and r.json()["unit_family"] == "decimal", r.text
    clean.execute("INSERT INTO teams VALUES ('alice', 'vision')")  # a member is enough
    r = admin.put("/api/v1/quota", json={"team": "vision", "soft": "1.5TiB", "hard": "2TiB"})
    assert r.status_code == 201 and r.json()["unit_family"] == "binary", r.text
    # Messages name sizes in the units typed, never a raw byte count.
    r = admin.put("/api/v1/quota", json={"team": "vision", "soft": "600TB", "hard": "500TB"})
    assert r.json()["error"]["message"] == "soft: 600 TB is above the hard limit (500 TB)"


def test_deleting_a_team_deletes_its_members_and_quotas(clean, admin, api_cfg) -> None:
    clean.execute("INSERT INTO teams VALUES ('alice', 'vision'), ('bob', 'vision'), ('carol', 'nlp')")
    clean.execute(
        "INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit) VALUES ('vision', NULL, 1, 2),"
        " ('vision', 's3', 1, 2), ('nlp', NULL, 1, 2)"
    )
    before = len(read_commands(api_cfg))
    assert admin.delete("/api/v1/teams?team=vision").status_code == 204
    assert [tuple(r) for r in clean.fetch("SELECT user_id, team_name FROM teams")] == [("carol", "nlp")]
    assert [r["team_name"] for r in clean.fetch("SELECT team_name FROM quotas")] == ["nlp"]
    cmds = [(c.kind, c.args) for c in read_commands(api_cfg)[before:]]
    assert cmds == [("quota", {"team": "vision", "backend": None}), ("reown", {})]  # the workers end the levels
    assert admin.delete("/api/v1/teams?team=vision").status_code == 404
