"""What "stale" means, once, for the stale list, the directory tree, the CLI and the dashboard.

A live file is **stale for N days** when it has been *neither read nor modified* in the last N days: its
activity — the later of its last access (any reader, through a mount, imported history, or POSIX atime
where the backend trusts it) and its modification time — is before now − N days. A file written yesterday
is never stale; a never-read file is stale once its modification is older than N days.

The claim "not read in N days" rests on evidence only where that evidence covers the whole period: a
backend is *covered since* the earliest moment from which reads were observed without a gap up to now —
live telemetry (``telemetry_coverage``), imported history that reaches it (``history_coverage``, per log
format), or, with ``atime = strict|relatime``, everything from the backend's first crawl on (the crawl sees
the last read of every file). Coverage of a period of N days holds when covered-since ≤ now − N days.

atime: ``strict`` trusts each file's atime as its last read; ``relatime`` (Linux's default mount option)
only says the last read was within 24 h after it, so it counts as a read 24 h after the atime (conservative:
never stale earlier than the truth); ``off`` (the default) ignores it — right for ``noatime`` mounts, and
wherever backup or scanning tools read every file (they touch atime and would make everything look read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Sequence

from .tree import week

# SQL over storage_files: a file's activity (the expression of the partial index idx_files_stale).
ACTIVITY_SQL = "GREATEST(COALESCE(last_access, '-infinity'), COALESCE(last_modified, '-infinity'))"

RULE = "neither read nor modified"  # how every output names the rule ("stale: neither read nor modified in 90 d")

# relatime: an atime is only refreshed when older than a day, so the last read lies within this after it.
RELATIME_SLACK = timedelta(hours=24)

# Imported history joins live telemetry when it ends no more than this before telemetry starts.
JOIN_GAP = timedelta(days=1)


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
    history: list[dict[str, Any]] = field(default_factory=list)  # {format, since, until, events}
    atime: str = "off"
    first_crawl: datetime | None = None

    def since(self, now: datetime | None = None) -> datetime | None:
        """Covered since (None: not covered at all; datetime.min: every period, from atime). Live telemetry
        runs up to now; imported spans, newest first, extend the covered period back while each reaches
        the next (or, with no telemetry, now) within JOIN_GAP."""
        if self.atime != "off" and self.first_crawl is not None:
            return datetime.min.replace(tzinfo=self.first_crawl.tzinfo)
        since = self.telemetry_since
        reach = since if since is not None else (now or datetime.now(UTC))
        for h in sorted(self.history, key=lambda h: h["until"], reverse=True):
            if h["until"] >= reach - JOIN_GAP:
                since = h["since"] if since is None else min(since, h["since"])
                reach = since
        return since

    def unchained(self, now: datetime | None = None) -> list[dict[str, Any]]:
        """Imported spans that count for nothing: they end more than JOIN_GAP before the covered period starts
        (logs missing in between), each with ``gap_days``, the days between its end and the covered period."""
        if self.atime != "off" and self.first_crawl is not None:
            return []
        since = self.since(now)
        start = since if since is not None else (now or datetime.now(UTC))
        return [
            {**h, "gap_days": (start - h["until"]).days}
            for h in sorted(self.history, key=lambda h: h["since"])
            if h["since"] < start and h["until"] < start - JOIN_GAP
        ]

    def covers(self, threshold: datetime) -> bool:
        s = self.since()
        return s is not None and s <= threshold

    def as_dict(self, threshold: datetime | None = None) -> dict[str, Any]:
        s = self.since()
        out: dict[str, Any] = {
            "since": None if s is None or s.year == 1 else s,
            "from_atime": self.atime != "off" and self.first_crawl is not None,
            "telemetry_since": self.telemetry_since,
            "telemetry_until": self.telemetry_until,
            "history": self.history,
            "atime": self.atime,
            "first_crawl": self.first_crawl,
            "unchained": self.unchained(),
        }
        if threshold is not None:
            out["covers_period"] = self.covers(threshold)
        return out


def note(c: Coverage) -> str:
    """One line for people: where a backend's coverage comes from."""
    parts = []
    if c.telemetry_since is not None:
        parts.append(f"telemetry since {c.telemetry_since:%Y-%m-%d}")
    for h in sorted(c.history, key=lambda h: h["since"]):
        parts.append(f"imported {h['format']} {h['since']:%Y-%m-%d}..{h['until']:%Y-%m-%d} ({h['events']:,} events)")
    for h in c.unchained():
        parts.append(
            f"NOT COUNTED: imported {h['format']} {h['since']:%Y-%m-%d}..{h['until']:%Y-%m-%d} "
            f"({h['events']:,} events) ends {h['gap_days']} days before the covered period: import the "
            f"logs in between"
        )
    if c.atime != "off":
        parts.append(
            f"atime {c.atime}"
            + (f" since first crawl {c.first_crawl:%Y-%m-%d}" if c.first_crawl else " (not crawled yet)")
        )
    return "; ".join(parts) or "no read evidence yet"


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
    for r in await conn.fetch(
        "SELECT backend_name, format, first_event, last_event, events FROM history_coverage ORDER BY 1, 2"
    ):
        if (c := out.get(r["backend_name"])) is not None:
            c.history.append(
                {"format": r["format"], "since": r["first_event"], "until": r["last_event"], "events": r["events"]}
            )
    for r in await conn.fetch(
        "SELECT backend_name, min(started_at) AS first FROM crawls WHERE status = 'complete' GROUP BY 1"
    ):
        if (c := out.get(r["backend_name"])) is not None:
            c.first_crawl = r["first"]
    return out
