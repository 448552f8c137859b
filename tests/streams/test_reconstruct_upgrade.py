"""Growth reconstruction for backends crawled before it existed: the upgrade migration reconstructs them from the
day of their first complete root crawl, and redoes one made with a later crawl's day (real PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, Iterator

import pytest

from tests.helpers import on_connection, scratch_database
from warpdrive.compose.stack import Stack
from warpdrive.schemas import db

pytestmark = pytest.mark.services

FIRST = date(2026, 6, 1)  # the first complete root crawl of both backends
LATER = date(2026, 9, 1)  # a later one, whose worker reconstructed "wrong" with its own day


@pytest.fixture
def dsn(stack: Stack) -> Iterator[str]:
    with scratch_database(stack, "wdrec") as d:
        yield d


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def test_upgrade_reconstructs_backends_crawled_before(dsn: str) -> None:
    version = next(m.version for m in db.migrations() if m.name.endswith("history_backfill_growth"))
    on_connection(dsn, lambda c: db.migrate(c, upto=version - 1))
    files: list[tuple[str, str, int, datetime, str, datetime | None]] = []
    for backend in ("old", "wrong"):
        for i in range(60):
            mtime = at(FIRST - timedelta(days=200 - 5 * i), i % 24)  # 200 days before FIRST .. 95 days after
            files.append(
                (backend, f"d/{i}", 1000 + i, mtime, ("vision", "nlp")[i % 2], at(LATER) if i % 7 == 0 else None)
            )
    files.append(("never-crawled", "x", 5, at(FIRST), "vision", None))
    crawls = [
        ("c1", "old", "", FIRST),
        ("c2", "old", "", LATER),
        ("c3", "wrong", "", FIRST),
        ("c4", "wrong", "", LATER),
        ("c0", "old", "d", FIRST - timedelta(days=30)),  # a prefix crawl is not a root crawl
        ("c5", "never-crawled", "", FIRST),
    ]

    async def seed(c: Any) -> None:
        await c.executemany(
            "INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, owner_team,"
            " deleted_at) VALUES ($1, $2, $3, $4, $5, $6)",
            files,
        )
        await c.executemany(
            "INSERT INTO crawls (crawl_id, backend_name, prefix, started_at, finished_at, status)"
            " VALUES ($1, $2, $3, $4, $4, $5)",
            [(cid, b, p, at(d), "failed" if cid == "c5" else "complete") for cid, b, p, d in crawls],
        )
        # What a worker of 0061 wrote for "wrong" at its first crawl after the upgrade: LATER as the boundary.
        await c.execute("INSERT INTO growth_reconstructed_at VALUES ('wrong', $1, 'c4')", LATER)
        await c.execute("INSERT INTO growth_reconstructed VALUES ('wrong', 'vision', $1, 1, 1)", LATER)

    on_connection(dsn, seed)
    on_connection(dsn, db.migrate)

    truth: dict[tuple[str, str, date], list[int]] = defaultdict(lambda: [0, 0])
    for backend, _, size, mtime, team, deleted in files:
        if backend != "never-crawled" and deleted is None and mtime.date() <= FIRST:
            t = truth[(backend, team, mtime.date())]
            t[0] += size
            t[1] += 1

    async def read(c: Any) -> tuple[dict, dict]:
        rows = await c.fetch("SELECT * FROM growth_reconstructed")
        at_ = await c.fetch("SELECT * FROM growth_reconstructed_at")
        return (
            {(r["backend_name"], r["owner_team"], r["date"]): [r["added_bytes"], r["added_files"]] for r in rows},
            {r["backend_name"]: (r["boundary"], r["crawl_id"]) for r in at_},
        )

    got, boundaries = on_connection(dsn, read)
    assert got == dict(truth) and len(got) > 40
    assert boundaries == {"old": (FIRST, "c1"), "wrong": (FIRST, "c3")}
    cols = on_connection(
        dsn, lambda c: c.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'tree_dirs'")
    )
    assert "stale_bytes" not in {r["column_name"] for r in cols} and "inactive_bytes" in {
        r["column_name"] for r in cols
    }
    # Running the reconstruction statements again changes nothing (the worker's path: once per backend).
    from warpdrive.streams.reconstruct import reconstruct_growth

    assert on_connection(dsn, lambda c: reconstruct_growth(c, "old")) is False
    assert on_connection(dsn, read)[0] == got
