"""What "stale" means, once, for the stale list, the directory tree, the CLI and the dashboard.

A live file is **stale for N days** when it has been *neither read nor modified* in the last N days: its
activity — the later of its last access (any reader, through a mount, imported history, or POSIX atime
where the backend trusts it) and its modification time — is before now − N days. A file written yesterday
is never stale; a never-read file is stale once its modification is older than N days.

The claim "not read in N days" rests on evidence only where that evidence covers the whole period: a
backend is *covered since* the earliest moment from which reads were observed without a hole up to now —
live telemetry (``telemetry_coverage``, from its first event on), imported history per UTC day
(``history_days``: the days with at least one imported event, per log format, merged over every import and
format), or, with ``atime = strict|relatime``, everything from the backend's first crawl on (the crawl sees
the last read of every file). A *hole* is a run of more than QUIET_DAYS days in a row without evidence (logs
missing, most likely; a single day without any read passes for a quiet day); covered-since is the start of the
run of evidence that reaches the present, so evidence before the latest hole counts for nothing. Coverage of a
period of N days holds when covered-since ≤ now − N days.

atime: ``strict`` trusts each file's atime as its last read; ``relatime`` (Linux's default mount option)
only says the last read was within 24 h after it, so it counts as a read 24 h after the atime (conservative:
never stale earlier than the truth); ``off`` (the default) ignores it — right for ``noatime`` mounts, and
wherever backup or scanning tools read every file (they touch atime and would make everything look read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Iterable, Sequence

from .tree import week

# SQL over storage_files: a file's activity (the expression of the partial index idx_files_stale).
ACTIVITY_SQL = "GREATEST(COALESCE(last_access, '-infinity'), COALESCE(last_modified, '-infinity'))"

RULE = "neither read nor modified"  # how every output names the rule ("stale: neither read nor modified in 90 d")

# relatime: an atime is only refreshed when older than a day, so the last read lies within this after it.
RELATIME_SLACK = timedelta(hours=24)

# Days in a row without read evidence that still pass for quiet days (nobody read anything) rather than a hole.
QUIET_DAYS = 1

Days = tuple[date, date]  # an inclusive run of UTC days


def atime_read(atime: datetime | None, policy: str) -> datetime | None:
    """The read a crawl's atime stands for under ``policy`` (None: no evidence)."""
    if atime is None or policy == "off":
        return None
    return atime + RELATIME_SLACK if policy == "relatime" else atime


def activity(last_access: datetime | None, last_modified: datetime | None) -> datetime | None:
    """A file's activity: the later of its last access and its modification (ACTIVITY_SQL in SQL)."""
    if last_access is None or (last_modified is not None and last_modified > last_access):
        return last_modified
    return last_access


def is_stale(last_access: datetime | None, last_modified: datetime | None, threshold: datetime) -> bool:
    """The rule for one file (``threshold`` = now − N days); ACTIVITY_SQL < threshold is the same in SQL.
    The tree counts it to the week (schemas/tree.py): exact at week ends, never more than this."""
    a = activity(last_access, last_modified)
    return a is None or a < threshold


def runs(intervals: Iterable[Days]) -> list[Days]:
    """Days of evidence (intervals in any order, overlapping or not; one day is (d, d)) as maximal runs, sorted:
    two join when at most QUIET_DAYS days without evidence lie between them."""
    out: list[Days] = []
    for first, last in sorted(intervals):
        if out and (first - out[-1][1]).days <= QUIET_DAYS + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def holes(intervals: Iterable[Days]) -> list[Days]:
    """The holes between days of evidence: each run of more than QUIET_DAYS days without any, sorted."""
    r = runs(intervals)
    return [(a[1] + timedelta(days=1), b[0] - timedelta(days=1)) for a, b in zip(r, r[1:])]


def day_of(t: datetime) -> date:
    """The UTC day of a moment (evidence and holes are counted in UTC days)."""
    return t.astimezone(UTC).date()


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


@dataclass(frozen=True)
class CutoffWeek:
    """How an exact stale total is read from weekly activity rollups (tree_inactive, owner_inactive: files per week
    of their activity, schemas/tree.py ``week``): every whole week before the cutoff's comes from the rollup, and
    only the cutoff's own week is counted file by file — whichever side of the cutoff in that week is shorter.
    ``below``: the rollup's weeks before the cutoff's (``period < week``) plus the files whose activity is in
    [since, until) = [week start, cutoff); else the weeks up to and with it (``period <= week``) minus the files in
    [cutoff, week end). Read in one snapshot with the rollup, either is what a full count says."""

    week: date
    below: bool
    since: datetime
    until: datetime

    @property
    def weeks_sql(self) -> str:
        """The rollup rows counted whole, as an operator against ``week`` (``period <op> week``)."""
        return "<" if self.below else "<="

    @property
    def sign(self) -> int:
        """How the files counted in [since, until) join the rollup's sum."""
        return 1 if self.below else -1


def cutoff_week(threshold: datetime) -> CutoffWeek:
    """The boundary rule for ``threshold`` (now − N days)."""
    start = datetime.combine(week(threshold), time(), UTC)
    end = start + timedelta(days=7)
    if threshold - start <= end - threshold:
        return CutoffWeek(week(threshold), True, start, threshold)
    return CutoffWeek(week(threshold), False, threshold, end)


@dataclass
class Coverage:
    """Where a backend's read evidence comes from, and since when it is continuous up to now."""

    telemetry_since: datetime | None = None
    telemetry_until: datetime | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # per log format {format, since, until, events, days}
    days: list[Days] = field(default_factory=list)  # the days with imported events, any format
    atime: str = "off"
    first_crawl: datetime | None = None

    def _evidence(self, now: datetime | None) -> tuple[list[Days], date]:
        """(runs of evidence, today): imported days, telemetry from its first day up to today."""
        today = day_of(now or datetime.now(UTC))
        live = [(day_of(self.telemetry_since), today)] if self.telemetry_since is not None else []
        return runs([*self.days, *live]), today

    def since(self, now: datetime | None = None) -> datetime | None:
        """Covered since (None: not covered at all; datetime.min: every period, from atime): the start of the first
        day of the run of evidence that reaches today (QUIET_DAYS allowed before today) — or the first event ever
        seen (telemetry's, or a log format's), when that was on that day: evidence starts with it."""
        if self.atime != "off" and self.first_crawl is not None:
            return datetime.min.replace(tzinfo=self.first_crawl.tzinfo)
        r, today = self._evidence(now)
        if not r or (today - r[-1][1]).days > QUIET_DAYS + 1:
            return None
        first = r[-1][0]
        on_first = [t for t in (self.telemetry_since, *(h["since"] for h in self.history)) if t and day_of(t) == first]
        return min(on_first, default=_midnight(first))

    def holes(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Every hole between the first day of evidence and today, oldest first, as {first, last, days}: the
        latest one bounds the coverage (nothing before it counts)."""
        if self.atime != "off" and self.first_crawl is not None:
            return []
        r, today = self._evidence(now)
        found = holes([*r, (today, today)]) if r else []
        return [{"first": a, "last": b, "days": (b - a).days + 1} for a, b in found]

    def covers(self, threshold: datetime, now: datetime | None = None) -> bool:
        s = self.since(now)
        return s is not None and s <= threshold

    def as_dict(self, threshold: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
        s = self.since(now)
        out: dict[str, Any] = {
            "since": None if s is None or s.year == 1 else s,
            "from_atime": self.atime != "off" and self.first_crawl is not None,
            "telemetry_since": self.telemetry_since,
            "telemetry_until": self.telemetry_until,
            "history": self.history,
            "atime": self.atime,
            "first_crawl": self.first_crawl,
            "holes": self.holes(now),
        }
        if threshold is not None:
            out["covers_period"] = self.covers(threshold, now)
        return out


def note(c: Coverage, now: datetime | None = None) -> str:
    """One line for people: where a backend's coverage comes from, and the holes in it."""
    parts = []
    if c.telemetry_since is not None:
        parts.append(f"telemetry since {c.telemetry_since:%Y-%m-%d}")
    for h in sorted(c.history, key=lambda h: h["since"]):
        parts.append(
            f"imported {h['format']} {h['since']:%Y-%m-%d}..{h['until']:%Y-%m-%d} "
            f"({h['events']:,} events on {h['days']:,} days)"
        )
    for h in c.holes(now):
        parts.append(
            f"HOLE {h['first']:%Y-%m-%d}..{h['last']:%Y-%m-%d} ({h['days']:,} days without read evidence): "
            f"evidence before {h['last'] + timedelta(days=1):%Y-%m-%d} is NOT COUNTED; import the logs of those days"
        )
    if c.atime != "off":
        parts.append(
            f"atime {c.atime}"
            + (f" since first crawl {c.first_crawl:%Y-%m-%d}" if c.first_crawl else " (not crawled yet)")
        )
    return "; ".join(parts) or "no read evidence yet"


_HISTORY = """
SELECT c.backend_name, c.format, c.first_event, c.last_event, c.events,
       (SELECT count(*) FROM history_days d WHERE d.backend_name = c.backend_name AND d.format = c.format) AS days
FROM history_coverage c ORDER BY 1, 2
"""
# Consecutive days with imported events (any format) as runs per backend: a day minus its rank is constant along
# a run. The database returns runs, not every day; runs() then lets quiet days join them.
_DAY_RUNS = """
SELECT backend_name, min(day) AS first, max(day) AS last
FROM (SELECT backend_name, day, day - (row_number() OVER (PARTITION BY backend_name ORDER BY day))::int AS run
      FROM (SELECT DISTINCT backend_name, day FROM history_days) d) r
GROUP BY backend_name, run ORDER BY 1, 2
"""


async def load_coverage(conn: Any, backends: Sequence[Any]) -> dict[str, Coverage]:
    """Coverage of each configured backend (``backends``: BackendConfig) from the workers' tables."""
    out = {b.name: Coverage(atime=b.atime) for b in backends}
    # telemetry_coverage has a row per worker shard (migration 0057_ingest_shards): read it summed over shards.
    for r in await conn.fetch(
        "SELECT backend_name, MIN(first_event) AS first_event, MAX(last_event) AS last_event"
        " FROM telemetry_coverage GROUP BY 1"
    ):
        if (c := out.get(r["backend_name"])) is not None:
            c.telemetry_since, c.telemetry_until = r["first_event"], r["last_event"]
    for r in await conn.fetch(_HISTORY):
        if (c := out.get(r["backend_name"])) is not None:
            c.history.append(
                {
                    "format": r["format"],
                    "since": r["first_event"],
                    "until": r["last_event"],
                    "events": r["events"],
                    "days": r["days"],
                }
            )
    for r in await conn.fetch(_DAY_RUNS):
        if (c := out.get(r["backend_name"])) is not None:
            c.days.append((r["first"], r["last"]))
    for r in await conn.fetch(
        "SELECT backend_name, min(started_at) AS first FROM crawls WHERE status = 'complete' GROUP BY 1"
    ):
        if (c := out.get(r["backend_name"])) is not None:
            c.first_crawl = r["first"]
    return out
