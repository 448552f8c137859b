"""GET /api/v1/tree over tree rollup rows set up directly (and, in test_integration, written by the workers)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from warpdrive.schemas.tree import NEVER, STALE_SORT_DAYS, stale_through

pytestmark = pytest.mark.services

# The stale-sort key as the workers keep it: the activity buckets up to the stored boundary.
STALE_KEY = """UPDATE tree_dirs d SET inactive_bytes = COALESCE((SELECT sum(total_bytes) FROM tree_inactive a
                   WHERE a.backend_name = d.backend_name AND a.dir = d.dir
                     AND a.period <= (SELECT through FROM tree_stale)), 0)"""


def monday(days_ago: int) -> date:
    d = (datetime.now(UTC) - timedelta(days=days_ago)).date()
    return d - timedelta(days=d.weekday())


def setup_tree(db, sharded: bool = False) -> None:
    """``sharded``: every week bucket split over shards as workers leave them (migration 0070): shard rows that are
    negative or hold bytes with no file, and a bucket whose shards cancel out (empty: it must not count)."""
    db.execute("TRUNCATE tree_dirs, tree_teams, tree_activity, tree_inactive")
    db.executemany(
        "INSERT INTO tree_dirs VALUES ('s3', $1, $2, $3, $4, $5)",
        [
            ("", None, 0, 6, 1100),
            ("data", "", 1, 4, 1000),
            ("tmp", "", 1, 1, 50),
            ("empty", "", 1, 0, 0),
            ("data/a", "data", 2, 1, 700),
            ("data/b", "data", 2, 2, 200),
            ("data/c_d", "data", 2, 1, 100),
        ],
    )
    db.executemany(
        "INSERT INTO tree_teams VALUES ('s3', $1, $2, $3, $4)",
        [
            ("", "vision", 5, 1000),
            ("", "unowned", 1, 100),
            ("data", "vision", 4, 1000),
            ("data/a", "vision", 1, 700),
            ("data/b", "vision", 2, 200),
            ("data/c_d", "vision", 1, 100),
            ("tmp", "unowned", 1, 50),
            ("data/b", "nlp", 0, 0),
        ],
    )
    # data/a: read 200 days ago; data/b: one file never read (modified 300 days ago), one read this week;
    # data/c_d: read 40 days ago. Kind 's' below: the activity buckets (the later of the two; tree_inactive).
    old, recent, mid = monday(200), monday(0), monday(40)
    acts = []
    for d, rows in {
        "data/a": [("a", old, 1, 700), ("m", monday(300), 1, 700), ("s", old, 1, 700)],
        "data/b": [
            ("a", NEVER, 1, 150),
            ("a", recent, 1, 50),
            ("m", monday(300), 1, 150),
            ("m", monday(10), 1, 50),
            ("s", monday(300), 1, 150),
            ("s", recent, 1, 50),
        ],
        "data/c_d": [("a", mid, 1, 100), ("m", NEVER, 1, 100), ("s", mid, 1, 100)],
    }.items():
        for parent in ("", "data", d):
            acts += [(parent, *r) for r in rows]
    for parent in ("tmp", ""):
        acts += [(parent, k, recent, 1, 50) for k in ("a", "m", "s")]
    merged: dict = {}
    for d, k, p, n, b in acts:
        v = merged.setdefault((d, k, p), [0, 0])
        v[0] += n
        v[1] += b
    rows = [(d, k, p, n, b, 0) for (d, k, p), (n, b) in merged.items()]
    if sharded:
        rows = [
            r
            for d, k, p, n, b, _ in rows
            for r in ((d, k, p, n + 1, b + 30, 0), (d, k, p, -1, -40, 1), (d, k, p, 0, 10, 2))
        ]
        rows += [(d, k, monday(0), 1, 60, 3) for d in ("", "data", "data/c_d") for k in "ams"]
        rows += [(d, k, monday(0), -1, -60, 4) for d in ("", "data", "data/c_d") for k in "ams"]
    db.executemany("INSERT INTO tree_activity VALUES ('s3', $1, $2, $3, $4, $5, $6)", [r for r in rows if r[1] != "s"])
    db.executemany(
        "INSERT INTO tree_inactive VALUES ('s3', $1, $2, $3, $4, $5)",
        [(d, p, n, b, shard) for d, k, p, n, b, shard in rows if k == "s"],
    )
    db.execute("UPDATE tree_stale SET through = $1", stale_through(STALE_SORT_DAYS, datetime.now(UTC)))
    db.execute(STALE_KEY)


@pytest.mark.parametrize("sharded", [False, True])
def test_tree_root_and_children(clean, viewer, sharded: bool) -> None:
    setup_tree(clean, sharded)
    body = viewer.get("/api/v1/tree?backend=s3").json()
    assert body["prefix"] == "" and body["breadcrumbs"] == [{"path": "", "name": "/"}]
    me = body["self"]
    assert (
        me["total_bytes"] == 1100 and me["file_count"] == 6 and me["bytes_by_team"] == {"vision": 1000, "unowned": 100}
    )
    assert me["files_here"] == 1 and me["bytes_here"] == 50  # 6 files, 5 in child directories
    assert [i["name"] for i in body["items"]] == ["data", "tmp"] and body["total"] == 2  # the empty dir is hidden
    data = body["items"][0]
    assert data["stale_bytes"] == {"30": 950, "90": 850, "180": 850} and data["stale_files"]["30"] == 3
    assert data["never_read_bytes"] == 150 and data["oldest_modified"] == monday(300).isoformat()
    assert data["newest_modified"] == monday(10).isoformat() and data["last_access"] == monday(0).isoformat()
    c_d = viewer.get("/api/v1/tree?backend=s3&prefix=data").json()["items"][2]
    assert c_d["last_access"] == monday(40).isoformat() and c_d["newest_modified"] is None  # not the empty bucket
    assert c_d["stale_bytes"] == {"30": 100, "90": 0, "180": 0} and c_d["stale_files"]["30"] == 1


@pytest.mark.parametrize("sharded", [False, True])
def test_tree_subdirectory_sorts_and_pages(clean, viewer, sharded: bool) -> None:
    setup_tree(clean, sharded)
    get = lambda q: viewer.get("/api/v1/tree?backend=s3&" + q).json()  # noqa: E731
    body = get("prefix=/data/")
    assert body["prefix"] == "data" and [b["name"] for b in body["breadcrumbs"]] == ["/", "data"]
    assert [i["path"] for i in body["items"]] == ["data/a", "data/b", "data/c_d"]
    assert body["items"][1]["bytes_by_team"] == {"vision": 200}
    assert [i["name"] for i in get("prefix=data&sort=files")["items"]] == ["b", "a", "c_d"]
    assert [i["name"] for i in get("prefix=data&sort=name")["items"]] == ["a", "b", "c_d"]
    assert [i["name"] for i in get("prefix=data&sort=stale")["items"]] == [
        "a",
        "b",
        "c_d",
    ]  # 700, 150, 0 stale for 90 d
    page = get("prefix=data&limit=1&offset=1")
    assert [i["name"] for i in page["items"]] == ["b"] and page["total"] == 3


def test_tree_sort_stale_trusts_the_stored_key_only_at_the_current_boundary(clean, viewer) -> None:
    setup_tree(clean)
    stale = lambda: [i["name"] for i in viewer.get("/api/v1/tree?backend=s3&prefix=data&sort=stale").json()["items"]]  # noqa: E731
    # The key read from the index orders the page while its boundary is this clock's ...
    clean.execute("UPDATE tree_dirs SET inactive_bytes = 0 WHERE dir = 'data/a'")
    assert stale() == ["b", "a", "c_d"]
    # ... and a boundary the workers have not moved yet (after a week ended) is never trusted: summed per child.
    clean.execute("UPDATE tree_stale SET through = through - 7")
    assert stale() == ["a", "b", "c_d"]
    clean.execute(STALE_KEY)
    body = viewer.get("/api/v1/tree?backend=s3&prefix=data&sort=stale").json()
    assert [i["stale_bytes"]["90"] for i in body["items"]] == [700, 150, 0]  # the figures shown: this clock's


def test_tree_keyset_pages_by_name(clean, viewer) -> None:
    setup_tree(clean)
    get = lambda q: viewer.get("/api/v1/tree?backend=s3&prefix=data&sort=name&limit=2" + q).json()  # noqa: E731
    first = get("")
    assert [i["name"] for i in first["items"]] == ["a", "b"] and first["next_after"] == "data/b"
    last = get("&after=" + first["next_after"])
    assert [i["name"] for i in last["items"]] == ["c_d"] and last["next_after"] is None
    assert get("&after=data/c_d")["items"] == []
    assert viewer.get("/api/v1/tree?backend=s3&sort=size&limit=1").json()["next_after"] is None
    r = viewer.get("/api/v1/tree?backend=s3&prefix=data&after=data/a")
    assert r.status_code == 400 and r.json()["error"]["param"] == "after"


def test_tree_errors(clean, viewer) -> None:
    setup_tree(clean)
    r = viewer.get("/api/v1/tree?backend=s3&prefix=nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for q, param in [
        ("", "backend"),
        ("backend=zz", "backend"),
        ("backend=s3&sort=big", "sort"),
        ("backend=s3&prefix=a/../b", "prefix"),
        ("backend=s3&limit=0", "limit"),
    ]:
        r = viewer.get("/api/v1/tree?" + q)
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (q, r.text)


def test_tree_children_count_cap(clean, viewer, monkeypatch) -> None:
    from warpdrive.api import tree

    setup_tree(clean)
    monkeypatch.setattr(tree, "COUNT_CAP", 2)
    body = viewer.get("/api/v1/tree?backend=s3&prefix=data").json()
    assert body["total"] == 2 and body["total_exact"] is False and len(body["items"]) == 3
    assert body["self"]["files_here"] is None and body["self"]["bytes_here"] is None
    assert viewer.get("/api/v1/tree?backend=s3").json()["total_exact"] is True
