"""Which stale filters the weekly activity rollups answer exactly (api/stale.py ``rollup_scope``). Unit tier; the
totals themselves are checked against a recount on the real workers' rollups in test_integration.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from warpdrive.api.stale import Selection, rollup_scope
from warpdrive.schemas.stale import Coverage


def scope(depths: dict[str, int] | None = None, **q: Any) -> tuple[str, str, list[str] | None, dict] | None:
    query = {"days": 90, "min_size": 0, "backend": None, "owner": None, "prefix": None, "covered_only": False, **q}
    now = datetime.now(UTC)
    cov = {"s3": Coverage(telemetry_since=datetime(2020, 1, 1, tzinfo=UTC)), "gcs": Coverage()}
    s = rollup_scope(Selection(query, now, cov, ["s3", "gcs"]), depths or {"s3": 0, "gcs": 0})
    return None if s is None else (s.table, s.arg, s.backends, {k: s.q[k] for k in ("backend", "owner", "prefix")})


def test_directories_come_from_the_tree_and_owners_from_their_rollup() -> None:
    assert scope() == ("tree_inactive", "", None, {"backend": None, "owner": None, "prefix": None})
    assert scope(backend="s3", prefix="a/b/") == (
        "tree_inactive",
        "a/b",
        ["s3"],
        {"backend": None, "owner": None, "prefix": "a/b/"},
    )
    assert scope(owner="vision") == (
        "owner_inactive",
        "vision",
        None,
        {"backend": None, "owner": "vision", "prefix": None},
    )
    assert scope(owner="alice", backend="gcs") == (
        "owner_inactive",
        "alice",
        ["gcs"],
        {"backend": None, "owner": "alice", "prefix": None},
    )
    assert scope(owner="alice", covered_only=True)[2] == ["s3"]  # type: ignore[index]


def test_filters_no_rollup_holds_are_counted() -> None:
    assert scope(min_size=1) is None and scope(owner="vision", min_size=1) is None
    assert scope(owner="vision", prefix="a/") is None  # the owners' rollup has no directories
    assert scope(prefix="a/b") is None and scope(prefix="/a/") is None and scope(prefix="a//b/") is None
    assert scope({"s3": 1, "gcs": 0}, prefix="a/b/") is None  # below the tree's deepest kept level on s3
    assert scope({"s3": 1, "gcs": 0}, prefix="a/b/", backend="gcs") is not None
