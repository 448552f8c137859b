"""Coverage per day for history imported before it existed: the upgrade migration reads the days with events of each
imported span back from access_daily, so a hole inside an old span shows (real PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Iterator

import pytest

from tests.helpers import on_connection, scratch_database
from warpdrive.compose.stack import Stack
from warpdrive.schemas import db
from warpdrive.schemas.stale import load_coverage

pytestmark = pytest.mark.services

NOW = datetime(2026, 7, 2, 9, tzinfo=UTC)


@pytest.fixture
def dsn(stack: Stack) -> Iterator[str]:
    with scratch_database(stack, "wdhdays") as d:
        yield d


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_upgrade_fills_history_days_from_access_daily(dsn: str) -> None:
    version = next(m.version for m in db.migrations() if m.name.endswith("history_days"))
    on_connection(dsn, lambda c: db.migrate(c, upto=version - 1))
    # "old": one jsonl import 2026-01-10..2026-07-01; the logs of 2026-04-10..2026-04-19 were missing. access_daily
    # holds March on (retention dropped January and February), with one day of live reads only (2026-05-05).
    old_rows = [d for d in days(date(2026, 3, 1), date(2026, 7, 1)) if not date(2026, 4, 10) <= d <= date(2026, 4, 19)]
    # "two": S3 logs 2026-05-01..2026-06-15 and jsonl 2026-06-01..2026-07-01 overlap; one day before both (live).
    two_rows = days(date(2026, 4, 28), date(2026, 7, 1))
    # "gone": imported history whose every access_daily month was dropped (older than what the others keep).
    coverage = [
        ("old", "jsonl", at(date(2026, 1, 10), 8), at(date(2026, 7, 1), 20), 5000),
        ("two", "s3-access-log", at(date(2026, 5, 1), 3), at(date(2026, 6, 15)), 300),
        ("two", "jsonl", at(date(2026, 6, 1)), at(date(2026, 7, 1)), 200),
        ("gone", "jsonl", at(date(2025, 11, 1)), at(date(2026, 1, 31)), 50),
    ]

    async def seed(c: Any) -> None:
        await c.executemany("INSERT INTO history_coverage VALUES ($1, $2, $3, $4, $5)", coverage)
        await c.executemany(
            "INSERT INTO access_daily (date, backend_name, user_id, read_count, last_access) VALUES ($1, $2, $3, 1, $4)",
            [(d, b, u, at(d)) for b, rows in (("old", old_rows), ("two", two_rows)) for d in rows for u in ("a", "b")],
        )

    on_connection(dsn, seed)
    on_connection(dsn, db.migrate)

    got = on_connection(dsn, lambda c: c.fetch("SELECT backend_name, format, day FROM history_days"))
    want = (
        {("old", "jsonl", d) for d in days(date(2026, 1, 10), date(2026, 2, 28))}  # dropped months: the claim kept
        | {("old", "jsonl", d) for d in old_rows}
        | {("two", "s3-access-log", d) for d in days(date(2026, 5, 1), date(2026, 6, 15))}
        | {("two", "jsonl", d) for d in days(date(2026, 6, 1), date(2026, 7, 1))}
        | {("gone", "jsonl", d) for d in days(date(2025, 11, 1), date(2026, 1, 31))}
    )
    assert {(r["backend_name"], r["format"], r["day"]) for r in got} == want

    backends = [SimpleNamespace(name=n, atime="off") for n in ("old", "two", "gone")]
    cov = on_connection(dsn, lambda c: load_coverage(c, backends))
    assert cov["old"].since(NOW) == at(date(2026, 4, 20), 0)  # the hole inside the old span bounds it now
    assert cov["old"].holes(NOW) == [{"first": date(2026, 4, 10), "last": date(2026, 4, 19), "days": 10}]
    assert cov["old"].history[0]["days"] == 50 + len(old_rows)
    assert cov["two"].since(NOW) == at(date(2026, 5, 1), 3) and cov["two"].holes(NOW) == []
    assert cov["gone"].since(NOW) is None and [h["first"] for h in cov["gone"].holes(NOW)] == [date(2026, 2, 1)]
