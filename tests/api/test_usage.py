"""GET /api/v1/usage against rows set up in the real database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

pytestmark = pytest.mark.services

NOW = datetime.now(UTC).replace(microsecond=0)
T1 = NOW - timedelta(days=5)
T2 = NOW - timedelta(days=4)
D1, D2 = T1.date(), T2.date()


def ts(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def seed(db) -> None:
    db.executemany(
        "INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes, last_access) VALUES ($1,$2,$3,$4,$5,$6)",
        [
            ("s3", "vision", "alice", 3, 3000, T1),
            ("s3", "vision", "", 1, 500, None),
            ("local", "vision", "bob", 2, 200, T2),
            ("local", "unowned", "", 5, 50, None),
            ("gcs", "nlp", "carol", 0, 0, None),
        ],
    )
    db.executemany(
        "INSERT INTO access_daily (backend_name, user_id, date, read_count, bytes_read, files, last_access) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        [
            ("s3", "alice", D1, 2, 100, 1, T1),
            ("s3", "dave", D2, 1, 10, 1, T2),
            ("s3", "dave", D1, 3, 30, 1, T1),
            ("local", "erin", D1, 1, 1, 1, T1),
            ("s3", "frank", NOW.date() - timedelta(days=40), 9, 9, 1, NOW - timedelta(days=40)),
        ],
    )


def test_usage_by_team_counts_each_byte_once(clean, viewer) -> None:
    seed(clean)
    r = viewer.get("/api/v1/usage", params={"group_by": "team"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    rows = {(i["team"], i["backend"]): i for i in body["items"]}
    assert rows[("vision", "s3")]["total_bytes"] == 3500 and rows[("vision", "s3")]["file_count"] == 4
    assert rows[("unowned", "local")]["total_bytes"] == 50
    assert ("nlp", "gcs") not in rows  # an owner with nothing left is not a row
    assert body["total_bytes"] == 3750 and body["file_count"] == 11
    assert body["items"][0]["total_bytes"] == 3500  # largest first
    assert rows[("vision", "s3")]["last_access"] == ts(T1)


def test_usage_by_user_has_owned_and_read_figures(clean, viewer) -> None:
    seed(clean)
    body = viewer.get("/api/v1/usage?group_by=user&backend=s3").json()
    rows = {i["user"]: i for i in body["items"]}
    assert set(rows) == {"alice", "unowned", "dave"}
    assert rows["alice"] == {
        "user": "alice",
        "backend": "s3",
        "file_count": 3,
        "total_bytes": 3000,
        "last_access": ts(T1),
        "read_count": 2,
        "bytes_read": 100,
        "last_read": ts(T1),
    }
    # a user who only reads appears with reads and nothing owned
    assert rows["dave"]["total_bytes"] == 0 and rows["dave"]["read_count"] == 4 and rows["dave"]["bytes_read"] == 40
    assert rows["dave"]["last_read"] == ts(T2)
    assert (
        body["total_bytes"] == 3500
        and body["read_count"] == 6
        and body["backend"] == "s3"
        and body["period_days"] == 30
    )
    # frank read 40 days ago: outside the default 30 days, inside 60
    rows = {i["user"]: i for i in viewer.get("/api/v1/usage?group_by=user&backend=s3&period=60d").json()["items"]}
    assert rows["frank"]["read_count"] == 9


def test_usage_by_backend(clean, viewer) -> None:
    seed(clean)
    body = viewer.get("/api/v1/usage?group_by=backend").json()
    assert [(i["backend"], i["total_bytes"], i["file_count"]) for i in body["items"]] == [
        ("s3", 3500, 4),
        ("local", 250, 7),
    ]


@pytest.mark.parametrize(
    "query,param",
    [
        ("group_by=owner", "group_by"),
        ("backend=nope", "backend"),
        ("group_by=team&group_by=user", "group_by"),
        ("colour=red", "colour"),
        ("period=0d", "period"),
        ("group_by=user&period=x", "period"),
    ],
)
def test_usage_rejects_bad_parameters(viewer, query: str, param: str) -> None:
    r = viewer.get(f"/api/v1/usage?{query}")
    assert r.status_code == 400
    assert r.json()["error"]["param"] == param and r.json()["error"]["code"] == "bad_parameter"
