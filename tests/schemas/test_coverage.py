"""Coverage (schemas/stale.py): imported days and telemetry form runs of evidence; covered since is the start of the
run that reaches the present, and every hole (more than a quiet day without evidence) is listed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from warpdrive.schemas.stale import QUIET_DAYS, Coverage, holes, note, runs

NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)


def d(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def day(s: str) -> date:
    return date.fromisoformat(s)


def span(first: str, last: str) -> tuple[date, date]:
    return day(first), day(last)


def fmt(name: str, since: str, until: str, events: int, days: int) -> dict[str, Any]:
    return {"format": name, "since": d(since), "until": d(until), "events": events, "days": days}


def test_runs_join_across_one_quiet_day_and_holes_are_the_rest() -> None:
    assert QUIET_DAYS == 1
    days = [span("2026-01-05", "2026-01-05"), span("2026-01-01", "2026-01-03"), span("2026-01-02", "2026-01-04")]
    assert runs(days) == [span("2026-01-01", "2026-01-05")]  # unsorted, overlapping, adjacent: one run
    # One day without evidence (01-06) passes for a quiet day; two (01-09..01-10) are a hole.
    days += [span("2026-01-07", "2026-01-08"), span("2026-01-11", "2026-01-11")]
    assert runs(days) == [span("2026-01-01", "2026-01-08"), span("2026-01-11", "2026-01-11")]
    assert holes(days) == [span("2026-01-09", "2026-01-10")]
    assert runs([]) == [] and holes([]) == [] and holes([span("2026-01-01", "2026-01-01")]) == []


def test_a_hole_inside_an_imported_span_bounds_coverage_and_is_named() -> None:
    # One import 2026-06-01..2026-11-30 whose logs of 2026-09-10..2026-09-16 are missing.
    c = Coverage(
        history=[fmt("jsonl", "2026-06-01T08:00:00", "2026-11-30T20:00:00", 9_000, 176)],
        days=[span("2026-06-01", "2026-09-09"), span("2026-09-17", "2026-11-30")],
    )
    assert c.since(NOW) == d("2026-09-17")  # the run that reaches today starts after the hole
    assert c.holes(NOW) == [{"first": day("2026-09-10"), "last": day("2026-09-16"), "days": 7}]
    assert c.covers(d("2026-10-01"), NOW) and not c.covers(d("2026-09-01"), NOW)  # 60 days rest on evidence, 90 do not
    assert c.as_dict(d("2026-09-01"), NOW)["covers_period"] is False and c.as_dict(now=NOW)["holes"] == c.holes(NOW)
    assert (
        "HOLE 2026-09-10..2026-09-16 (7 days without read evidence): evidence before 2026-09-17 is NOT COUNTED"
        in note(c, NOW)
    )
    assert "imported jsonl 2026-06-01..2026-11-30 (9,000 events on 176 days)" in note(c, NOW)
    # Importing the missing week (another file, same format) closes the hole: covered since the first event.
    c.days.append(span("2026-09-10", "2026-09-16"))
    assert c.since(NOW) == d("2026-06-01T08:00:00") and c.holes(NOW) == [] and "HOLE" not in note(c, NOW)
    # Importing it twice (the same days again) changes nothing.
    c.days.append(span("2026-09-10", "2026-09-16"))
    assert c.since(NOW) == d("2026-06-01T08:00:00") and c.holes(NOW) == []


def test_formats_merge_and_telemetry_runs_to_today() -> None:
    c = Coverage(
        telemetry_since=d("2026-06-01T15:00:00"),
        telemetry_until=NOW,
        history=[
            fmt("s3-access-log", "2026-04-01T00:10:00", "2026-05-31T12:00:00", 10, 60),  # reaches telemetry
            fmt("jsonl", "2026-01-01", "2026-02-28", 5000, 59),  # March missing
        ],
        days=[span("2026-01-01", "2026-02-28"), span("2026-04-01", "2026-05-31")],
    )
    assert c.since(NOW) == d("2026-04-01T00:10:00")
    assert c.holes(NOW) == [{"first": day("2026-03-01"), "last": day("2026-03-31"), "days": 31}]
    assert "evidence before 2026-04-01 is NOT COUNTED; import the logs of those days" in note(c, NOW)
    c.days.append(span("2026-03-01", "2026-03-30"))  # the last day of March is a quiet day, not a hole
    assert c.since(NOW) == d("2026-01-01") and c.holes(NOW) == []
    # Telemetry alone: covered from its first event, not from the start of its day.
    live = Coverage(telemetry_since=d("2026-06-01T15:00:00"))
    assert live.since(NOW) == d("2026-06-01T15:00:00") and live.holes(NOW) == []


def test_without_telemetry_history_must_reach_today() -> None:
    old = Coverage(history=[fmt("jsonl", "2026-09-01", "2026-11-01", 3, 62)], days=[span("2026-09-01", "2026-11-01")])
    assert old.since(NOW) is None
    assert old.holes(NOW) == [{"first": day("2026-11-02"), "last": day("2026-12-01"), "days": 30}]
    assert "HOLE 2026-11-02..2026-12-01 (30 days" in note(old, NOW)
    # Logs up to the day before yesterday: yesterday passes for a quiet day.
    recent = Coverage(
        history=[fmt("jsonl", "2026-09-01", "2026-11-30", 3, 91)],
        days=[span("2026-09-01", "2026-11-30")],
    )
    assert recent.since(NOW) == d("2026-09-01") and recent.holes(NOW) == []
    assert recent.since(NOW + timedelta(days=1)) is None  # a day later, two days are missing
    atime = Coverage(history=old.history, days=old.days, atime="strict", first_crawl=d("2026-11-30"))
    assert atime.holes(NOW) == [] and atime.as_dict(now=NOW)["from_atime"]  # atime covers every period: no hole
    assert (
        Coverage().since(NOW) is None
        and Coverage().holes(NOW) == []
        and note(Coverage(), NOW) == "no read evidence yet"
    )


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
