"""Coverage (schemas/stale.py): imported spans chain back from telemetry; the ones that do not are reported."""

from __future__ import annotations

from datetime import UTC, datetime

from warpdrive.schemas.stale import Coverage, note


def d(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def test_spans_that_do_not_chain_are_reported_not_counted() -> None:
    c = Coverage(
        telemetry_since=d("2026-06-01"),
        telemetry_until=d("2026-12-01"),
        history=[
            {"format": "s3-access-log", "since": d("2026-04-01"), "until": d("2026-05-31T12:00:00")},  # chains
            {"format": "jsonl", "since": d("2026-01-01"), "until": d("2026-02-28"), "events": 5000},  # a month missing
        ],
    )
    c.history[0]["events"] = 10
    assert c.since() == d("2026-04-01")
    [gap] = c.unchained()
    assert gap["format"] == "jsonl" and gap["gap_days"] == 32
    assert c.as_dict()["unchained"] == [gap]
    assert "NOT COUNTED: imported jsonl 2026-01-01..2026-02-28 (5,000 events) ends 32 days before" in note(c)
    # Importing the missing month chains everything back to January.
    c.history.append({"format": "jsonl", "since": d("2026-03-01"), "until": d("2026-03-31T23:00:00"), "events": 9})
    assert c.since() == d("2026-01-01") and c.unchained() == [] and "NOT COUNTED" not in note(c)


def test_without_telemetry_history_must_reach_now() -> None:
    now = d("2026-12-02")
    c = Coverage(history=[{"format": "jsonl", "since": d("2026-09-01"), "until": d("2026-11-01"), "events": 3}])
    assert c.since(now) is None and [h["gap_days"] for h in c.unchained(now)] == [31]
    atime = Coverage(history=c.history, atime="strict", first_crawl=d("2026-11-30"))
    assert atime.unchained(now) == []  # atime covers every period: nothing is left out


def test_the_cutoff_week_is_counted_on_its_shorter_side() -> None:
    from datetime import date, timedelta

    from warpdrive.schemas.stale import cutoff_week

    tue = datetime(2026, 11, 24, 6, tzinfo=UTC)  # 1.25 days into the week of Monday the 23rd: counted below the cutoff
    c = cutoff_week(tue)
    assert (c.week, c.below, c.since, c.until, c.weeks_sql, c.sign) == (
        date(2026, 11, 23),
        True,
        datetime(2026, 11, 23, tzinfo=UTC),
        tue,
        "<",
        1,
    )
    fri = datetime(2026, 11, 27, 18, tzinfo=UTC)  # 4.75 days in: the weeks up to it, less what follows the cutoff
    c = cutoff_week(fri)
    assert (c.week, c.below, c.since, c.until, c.weeks_sql, c.sign) == (
        date(2026, 11, 23),
        False,
        fri,
        datetime(2026, 11, 30, tzinfo=UTC),
        "<=",
        -1,
    )
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    assert cutoff_week(monday + timedelta(days=3.5)).below  # a tie is counted below
    c = cutoff_week(monday)  # at a week's very start nothing is counted file by file
    assert c.since == c.until == monday and c.weeks_sql == "<"
