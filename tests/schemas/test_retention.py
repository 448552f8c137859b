"""The month arithmetic `warpdrive retention` plans with (the partitions themselves: tests/compose/test_retention.py)."""

from __future__ import annotations

from datetime import date

import pytest

from warpdrive.schemas.retention import Step, add_months, cutoff, producers_cutoff


@pytest.mark.parametrize(
    ("d", "n", "want"),
    [
        (date(2026, 12, 2), 0, date(2026, 12, 1)),
        (date(2026, 12, 31), 1, date(2027, 1, 1)),
        (date(2026, 1, 15), -1, date(2025, 12, 1)),
        (date(2026, 3, 1), -14, date(2025, 1, 1)),
        (date(2026, 11, 30), 2, date(2027, 1, 1)),
    ],
)
def test_add_months_lands_on_the_first_of_the_month(d: date, n: int, want: date) -> None:
    assert add_months(d, n) == want


def test_keep_months_counts_the_current_month() -> None:
    assert cutoff(date(2026, 12, 2), 1) == date(2026, 12, 1)
    assert cutoff(date(2026, 12, 2), 3) == date(2026, 10, 1)
    assert cutoff(date(2026, 12, 2), 13) == date(2025, 12, 1)


def test_steps_say_what_they_do() -> None:
    assert Step("create", "access_log", date(2027, 1, 1)).describe() == "create access_log 2027-01"
    assert (
        Step("create", "access_log", date(2026, 5, 1), rows=12).describe()
        == "create access_log 2026-05, moving 12 row(s) from access_log_default"
    )
    assert (
        Step("drop", "access_daily", date(2025, 1, 1), "access_daily_y2025m01", 1500, 3 * 2**20).describe()
        == "drop   access_daily 2025-01 (access_daily_y2025m01: ~1,500 rows, 3.0 MiB)"
    )
    assert (
        Step("purge", "access_log", date(2026, 10, 1), rows=2).describe()
        == "purge  access_log_default: 2 row(s) dated before 2026-10-01"
    )
    assert (
        Step("prune", "access_producers", date(2026, 11, 2), rows=3).describe()
        == "prune  access_producers: 3 agent instance(s) not seen since 2026-11-02"
    )


def test_dedupe_marks_are_kept_whole_days() -> None:
    assert producers_cutoff(date(2026, 12, 2), 30) == date(2026, 11, 2)
    assert producers_cutoff(date(2026, 12, 2), 7.5) == date(2026, 11, 24)  # a part of a day keeps the whole day
