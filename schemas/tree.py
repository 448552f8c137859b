"""The directory tree's week buckets — last access ('a') and modification ('m') in tree_activity, activity (the
later of the two: the stale rule of schemas/stale.py) in tree_inactive — and its stale-sort key: rules shared by
the stream workers, which keep them (streams/tree.py), and the API, which reads them (api/tree.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

NEVER = date.min  # the bucket of files never accessed (or with no known modification time, or no activity known)

# tree_dirs.inactive_bytes holds the bytes stale for this many days (neither read nor modified): the key of
# GET /api/v1/tree?sort=stale.
STALE_SORT_DAYS = 90

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
