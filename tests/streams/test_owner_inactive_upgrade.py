"""The owners' activity weeks for an existing database: the upgrade migration builds ``owner_inactive`` from the live
files exactly as the workers fold them (streams/owner_inactive.py), and running it again changes nothing (real
PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Iterator

import pytest

from tests.helpers import on_connection, rebuild_rollups, scratch_database
from warpdrive.compose.stack import Stack
from warpdrive.schemas import db

pytestmark = pytest.mark.services

T0 = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def dsn(stack: Stack) -> Iterator[str]:
    with scratch_database(stack, "wdown") as d:
        yield d


def test_upgrade_builds_the_owner_weeks_the_workers_keep(dsn: str) -> None:
    migration = next(m for m in db.migrations() if m.name == "owner_inactive")
    on_connection(dsn, lambda c: db.migrate(c, upto=migration.version - 1))
    files = [
        (
            ("s3", "gcs")[i % 2],
            f"d{i % 4}/f{i}",
            100 + i,
            None if i % 11 == 0 else T0 - timedelta(hours=29 * i),  # some with no known modification
            T0 - timedelta(hours=13 * i) if i % 3 == 0 else None,  # some read, after or before their modification
            ("vision", "nlp", "unowned")[i % 3],
            (None, "alice", "bob", "nlp")[i % 4],  # no user; users; a user named like a team
            T0 if i % 7 == 0 else None,  # deleted ones count nowhere
        )
        for i in range(150)
    ]

    async def seed(c: Any) -> None:
        await c.executemany(
            "INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, last_access, owner_team,"
            " owner_user, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            files,
        )

    on_connection(dsn, seed)
    on_connection(dsn, db.migrate)

    async def weeks(c: Any) -> dict[tuple, tuple[int, int]]:
        rows = await c.fetch(
            "SELECT backend_name, owner_team, owner_user, period, sum(file_count) AS n, sum(total_bytes) AS s"
            " FROM owner_inactive GROUP BY 1, 2, 3, 4"
        )
        return {(r[0], r[1], r[2], r[3]): (r["n"], r["s"]) for r in rows if (r["n"], r["s"]) != (0, 0)}

    built = on_connection(dsn, weeks)
    truth: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for backend, _, size, modified, accessed, team, user, deleted in files:
        if deleted is None:
            active = max((t for t in (modified, accessed) if t is not None), default=None)
            period = (active.date() - timedelta(days=active.weekday())) if active else datetime.min.date()
            truth[(backend, team, user or "", period)][0] += 1
            truth[(backend, team, user or "", period)][1] += size
    assert built == {k: tuple(v) for k, v in truth.items()} and len(built) > 50
    on_connection(dsn, lambda c: rebuild_rollups(c))  # the workers' own fold of the same files
    assert on_connection(dsn, weeks) == built
    on_connection(dsn, lambda c: c.execute(migration.sql))  # a rebuild: the same table again
    assert on_connection(dsn, weeks) == built
