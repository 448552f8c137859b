"""The directory tree's activity buckets ('a': the week of a file's activity, the later of its last access and
modification — the stale rule of schemas/stale.py; 'm': of its modification) and stale-sort key: rules shared by the stream workers, which keep
them (streams/tree.py), and the API, which reads them (api/tree.py). Tables: migrations 0004 and 0055."""

from __future__ import annotations

from datetime import date, datetime, timedelta

# The bucket of files with no activity known (never read, no modification time) or, for 'm', no modification time.
NEVER = date.min

# tree_dirs.stale_bytes holds the bytes not read in this many days: the key of GET /api/v1/tree?sort=stale.
STALE_SORT_DAYS = 90

# Workers hold it shared while they apply tree deltas, exclusively while they move the stale-sort boundary.
TREE_STALE_LOCK = 0x57447374  # "WDst"

_BACK = [timedelta(days=n) for n in range(7)]


def week(ts: datetime | None) -> date:
    """The bucket of ``ts``: the Monday (UTC) starting its week; NEVER for none."""
    if ts is None:
        return NEVER
    d = ts.date()
    return d - _BACK[d.weekday()]


def stale_through(days: int, now: datetime) -> date:
    """The newest activity bucket counted as stale for ``days`` days at ``now`` ("neither read nor modified",
    schemas/stale.py): the last whose whole week ended at least ``days`` ago (exact to the week, conservative
    within it — the stale list, exact, never has fewer; NEVER always counts)."""
    cutoff = (now - timedelta(days=days)).date() - timedelta(days=7)
    return cutoff - _BACK[cutoff.weekday()]
