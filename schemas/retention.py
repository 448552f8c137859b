"""Retention: the monthly partitions of the tables that grow with days (migration 0064, `warpdrive retention`).

``plan`` reads what exists and returns the steps that bring it in line with ``retention.keep_months``:

- create the partition of this month and of the next ``AHEAD`` months, so rows land in their month's partition
  rather than the DEFAULT one, and of any kept month whose rows sit in the DEFAULT partition (late or backfilled
  events, or months before the job first ran): ``warpdrive_month_partition`` moves them;
- drop the partitions of months older than the kept ones (a DROP TABLE: no row-by-row delete, no bloat);
- delete the DEFAULT partition's rows older than the kept months (late events of a month already dropped);
- delete the dedupe marks of agent instances (``access_producers``, streams/dedupe.py) no event arrived from for
  ``retention.producer_days``: one row per agent start, which would otherwise grow forever. A mark may go once no
  copy of its producer's events can still arrive: none is left in Kafka after the access topic's retention (the
  setting's floor), and the producer itself is gone (a new start is a new producer), so only a spool left on a
  node that stayed down longer could still hold one.

Nothing here is derived from the dropped rows: per-file last access (storage_files, file_activity) and per-user
totals (user_files, user_reads) are rollups the workers keep in the same transaction as access_log. ``apply`` runs
each step in its own short transaction, so a run stopped half-way is finished by the next (the plan is recomputed).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from .errors import MigrationError

PARTITIONED = ("access_log", "access_daily")  # RANGE-partitioned by month on `date`, each with a DEFAULT partition
AHEAD = 2  # months created ahead of the current one: a monthly job that misses a run never sends rows to DEFAULT
LOCK_TIMEOUT = "10s"  # a DROP waits for the workers' batches on the table; it gives up rather than stall them
_UNSEEN = "updated_at < ($1::date)::timestamp AT TIME ZONE 'UTC'"  # a mark last seen before the cutoff day
_BOUND = re.compile(r"FOR VALUES FROM \('(\d{4}-\d\d-\d\d)'\) TO \('(\d{4}-\d\d-\d\d)'\)")


def add_months(d: date, n: int) -> date:
    """The first day of the month ``n`` months after ``d``'s."""
    m = d.year * 12 + d.month - 1 + n
    return date(m // 12, m % 12 + 1, 1)


def cutoff(today: date, keep_months: int) -> date:
    """The first day kept: ``keep_months`` months, the current one included."""
    return add_months(today, 1 - keep_months)


PRODUCERS = "access_producers"


@dataclass(frozen=True)
class Step:
    kind: str  # create | drop | purge | prune
    table: str  # the partitioned table (prune: access_producers)
    month: date  # create/drop: the partition's month; purge: the cutoff; prune: marks not seen since this day
    partition: str = ""
    rows: int = 0  # drop: PostgreSQL's estimate; create: rows moved from DEFAULT; purge: rows deleted
    bytes: int = 0

    def describe(self) -> str:
        if self.kind == "create":
            moved = f", moving {self.rows:,} row(s) from {self.table}_default" if self.rows else ""
            return f"create {self.table} {self.month:%Y-%m}{moved}"
        if self.kind == "drop":
            return (
                f"drop   {self.table} {self.month:%Y-%m} ({self.partition}: ~{self.rows:,} rows, "
                f"{self.bytes / 2**20:,.1f} MiB)"
            )
        if self.kind == "prune":
            return f"prune  {self.table}: {self.rows:,} agent instance(s) not seen since {self.month}"
        return f"purge  {self.table}_default: {self.rows:,} row(s) dated before {self.month}"


def producers_cutoff(today: date, producer_days: float) -> date:
    """The first day whose dedupe marks are kept: marks last seen before it are pruned."""
    return today - timedelta(days=math.ceil(producer_days))


async def plan(conn, keep_months: int, today: date, producer_days: float) -> list[Step]:  # conn: asyncpg.Connection
    """What `warpdrive retention` would do today, table by table."""
    if keep_months < 1:
        raise MigrationError(f"retention.keep_months: must be >= 1, got {keep_months}")
    seen_since = producers_cutoff(today, producer_days)
    first_kept = cutoff(today, keep_months)
    steps: list[Step] = []
    for table in PARTITIONED:
        kind = await conn.fetchval("SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)", table)
        if kind != "p":
            raise MigrationError(f"{table} is not partitioned by month: run `warpdrive migrate` first")
        months: dict[date, tuple[str, int, int]] = {}
        for r in await conn.fetch(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound, greatest(c.reltuples, 0)::bigint AS rows,"
            " pg_total_relation_size(c.oid) AS bytes"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass",
            table,
        ):
            if m := _BOUND.fullmatch(r["bound"]):
                months[date.fromisoformat(m[1])] = (r["relname"], r["rows"], r["bytes"])
        late = {
            r["m"]: r["n"]
            for r in await conn.fetch(
                f"SELECT date_trunc('month', date)::date AS m, count(*) AS n FROM \"{table}_default\" GROUP BY 1"
            )
        }
        wanted = {add_months(today, i) for i in range(AHEAD + 1)} | {m for m in late if m >= first_kept}
        steps += [Step("create", table, m, rows=late.get(m, 0)) for m in sorted(wanted - months.keys())]
        steps += [
            Step("drop", table, m, partition=p, rows=n, bytes=b)
            for m, (p, n, b) in sorted(months.items())
            if add_months(m, 1) <= first_kept
        ]
        if old := sum(n for m, n in late.items() if m < first_kept):
            steps.append(Step("purge", table, first_kept, rows=old))
    if unseen := await conn.fetchval(f"SELECT count(*) FROM {PRODUCERS} WHERE {_UNSEEN}", seen_since):
        steps.append(Step("prune", PRODUCERS, seen_since, rows=unseen))
    return steps


async def apply(conn, steps: list[Step], progress: Callable[[str], None]) -> None:  # conn: asyncpg.Connection
    """Runs the steps, each in its own transaction, telling ``progress`` as each one is done."""
    import asyncpg

    for s in steps:
        try:
            async with conn.transaction():
                await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                if s.kind == "create":
                    await conn.fetchval("SELECT warpdrive_month_partition($1, $2)", s.table, s.month)
                elif s.kind == "drop":
                    await conn.execute(f'DROP TABLE "{s.partition}"')
                elif s.kind == "prune":
                    # A worker that takes a mark meanwhile stamps it seen: the DELETE rechecks the row and keeps it.
                    await conn.execute(f"DELETE FROM {PRODUCERS} WHERE {_UNSEEN}", s.month)
                else:
                    await conn.execute(f'DELETE FROM "{s.table}_default" WHERE date < $1', s.month)
        except asyncpg.exceptions.LockNotAvailableError:
            raise MigrationError(
                f"{s.describe().split(' (')[0].strip()}: {s.table} stayed locked for {LOCK_TIMEOUT} "
                "(long transactions on it?); nothing of this step changed, run again"
            ) from None
        progress(s.describe())


# pg_stat_user_tables with each partition's row named by its table (`rel`), for statistics summed per table.
STATS_BY_TABLE = (
    "SELECT coalesce((SELECT i.inhparent::regclass::text FROM pg_inherits i WHERE i.inhrelid = s.relid),"
    " s.relname) AS rel, s.* FROM pg_stat_user_tables s"
)
