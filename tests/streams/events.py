"""Known event streams and their ground truth, computed independently of the workers' code."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Sequence

import asyncpg
from aiokafka import AIOKafkaProducer

from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AccessEvent, encode_batch, format_ts
from warpdrive.schemas.topics import Topic

USERS = ("alice", "bob", "carol", "dave")
OPS = ("read", "read", "read", "write", "stat", "create", "list")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def access_batches(
    seed: int,
    messages: int,
    per_message: int,
    backends: Sequence[str] = ("local", "s3"),
    files: int = 40,
    days: int = 3,
) -> list[list[AccessEvent]]:
    """``messages`` batches of ``per_message`` events on a few files, users and days."""
    rnd = random.Random(seed)
    out = []
    seq = 0
    for _ in range(messages):
        batch = []
        for _ in range(per_message):
            seq += 1
            op = rnd.choice(OPS)
            ts = T0 + timedelta(seconds=rnd.randrange(days * 86400), microseconds=rnd.randrange(1_000_000))
            batch.append(
                AccessEvent(
                    event_id=f"node{seed}/boot/{seq}",
                    timestamp=format_ts(ts),
                    user_id=rnd.choice(USERS),
                    backend_name=rnd.choice(backends),
                    path=f"data/dir{rnd.randrange(4)}/f{rnd.randrange(files)}.bin",
                    operation=op,
                    node_host=f"node{seed}",
                    seq=seq,
                    count=rnd.randint(1, 5),
                    bytes_read=rnd.randrange(10_000) if op == "read" else 0,
                    bytes_written=rnd.randrange(10_000) if op == "write" else 0,
                    cache_hit=rnd.random() < 0.3,
                    error="EIO" if rnd.random() < 0.02 else None,
                )
            )
        out.append(batch)
    return out


def access_truth(batches: Sequence[Sequence[AccessEvent]]) -> dict[tuple, tuple]:
    """(backend, path, user, day) → (reads, bytes_read, writes, bytes_written, errors, last_access)."""
    acc: dict[tuple, list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, ""])
    for b in batches:
        for e in b:
            r = acc[(e.backend_name, e.path, e.user_id, e.timestamp[:10])]
            r[0] += e.count if e.operation == "read" else 0
            r[1] += e.bytes_read
            r[2] += e.count if e.operation == "write" else 0
            r[3] += e.bytes_written
            r[4] += e.count if e.error else 0
            r[5] = max(r[5], e.timestamp)
    return {k: tuple(v) for k, v in acc.items()}


async def produce(cfg: Config, topic: Topic, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    """Sends (key, value) messages and waits until the broker has them all."""
    producer = AIOKafkaProducer(**cfg.kafka.client_options(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        futs = [await producer.send(topic.full_name(cfg.kafka), value=v, key=k) for k, v in messages]
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


def produce_batches(cfg: Config, topic: Topic, batches: Sequence[Sequence[Any]], key: str) -> None:
    asyncio.run(produce(cfg, topic, [(getattr(b[0], key).encode(), encode_batch(b)) for b in batches]))


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsn, timeout=5)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    return asyncio.run(run())


def access_log(dsn: str, backends: Sequence[str]) -> dict[tuple, tuple]:
    rows = query(dsn, "SELECT * FROM access_log WHERE backend_name = ANY($1::text[])", list(backends))
    return {
        (r["backend_name"], r["path"], r["user_id"], r["date"].isoformat()): (
            r["read_count"],
            r["bytes_read"],
            r["write_count"],
            r["bytes_written"],
            r["error_count"],
            format_ts(r["last_access"]),
        )
        for r in rows
    }


def shards_summed(table: str, key: str, sums: str, maxes: str) -> str:
    """A rollup kept per shard (migration 0057) as one row per key, the way the API reads it; $1 = backends."""
    return (
        f"SELECT {key}, {', '.join(f'sum({c})::bigint AS {c}' for c in sums.split(', '))},"
        f" {', '.join(f'max({c}) AS {c}' for c in maxes.split(', '))}"
        f" FROM {table} WHERE backend_name = ANY($1::text[]) GROUP BY {key}"
    )


def user_rollups(dsn: str, backends: Sequence[str]) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    """user_files: (user, backend, path) → (reads, bytes_read, writes, bytes_written, last_access);
    user_reads: (user, backend) → (reads, bytes_read, writes, bytes_written, files_accessed, last_access)."""
    figures = ("read_count", "bytes_read", "write_count", "bytes_written")
    files = {
        (r["user_id"], r["backend_name"], r["path"]): (*(r[f] for f in figures), format_ts(r["last_access"]))
        for r in query(dsn, "SELECT * FROM user_files WHERE backend_name = ANY($1::text[])", list(backends))
    }
    reads = {
        (r["user_id"], r["backend_name"]): (*(r[f] for f in figures), r["files_accessed"], format_ts(r["last_access"]))
        for r in query(
            dsn,
            shards_summed(
                "user_reads",
                "user_id, backend_name",
                "read_count, bytes_read, write_count, bytes_written, files_accessed",
                "last_access",
            ),
            list(backends),
        )
    }
    return files, reads


def user_truth(truth: dict[tuple, tuple]) -> tuple[dict[tuple, tuple], dict[tuple, tuple]]:
    """The same two rollups from ``access_truth`` (its days summed per file, then its files per backend)."""
    files: dict[tuple, list[Any]] = defaultdict(lambda: [0, 0, 0, 0, ""])
    for (backend, path, user, _), (rc, br, wc, bw, _, la) in truth.items():
        f = files[(user, backend, path)]
        f[0] += rc
        f[1] += br
        f[2] += wc
        f[3] += bw
        f[4] = max(f[4], la)
    reads: dict[tuple, list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, ""])
    for (user, backend, _), (rc, br, wc, bw, la) in files.items():
        r = reads[(user, backend)]
        r[0] += rc
        r[1] += br
        r[2] += wc
        r[3] += bw
        r[4] += 1
        r[5] = max(r[5], la)
    return {k: tuple(v) for k, v in files.items()}, {k: tuple(v) for k, v in reads.items()}


def daily(dsn: str, backends: Sequence[str]) -> dict[tuple, tuple]:
    """access_daily summed over shards: (day, backend, user) → (reads, bytes_read, writes, bytes_written, files,
    last_access)."""
    return {
        (r["date"].isoformat(), r["backend_name"], r["user_id"]): (
            r["read_count"],
            r["bytes_read"],
            r["write_count"],
            r["bytes_written"],
            r["files"],
            format_ts(r["last_access"]),
        )
        for r in query(
            dsn,
            shards_summed(
                "access_daily",
                "date, backend_name, user_id",
                "read_count, bytes_read, write_count, bytes_written, files",
                "last_access",
            ),
            list(backends),
        )
    }


def daily_truth(truth: dict[tuple, tuple]) -> dict[tuple, tuple]:
    """The same from ``access_truth``: its rows summed per day and reader, ``files`` = rows."""
    out: dict[tuple, list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, ""])
    for (backend, _, user, day), (rc, br, wc, bw, _, la) in truth.items():
        d = out[(day, backend, user)]
        for i, v in enumerate((rc, br, wc, bw, 1)):
            d[i] += v
        d[5] = max(d[5], la)
    return {k: tuple(v) for k, v in out.items()}


def coverage(dsn: str, backends: Sequence[str]) -> dict[str, tuple[str, str]]:
    """telemetry_coverage over shards: backend → (first event, last event)."""
    return {
        r["backend_name"]: (format_ts(r["first_event"]), format_ts(r["last_event"]))
        for r in query(
            dsn,
            "SELECT backend_name, min(first_event) AS first_event, max(last_event) AS last_event FROM telemetry_coverage"
            " WHERE backend_name = ANY($1::text[]) GROUP BY 1",
            list(backends),
        )
    }


def coverage_truth(batches: Sequence[Sequence[AccessEvent]]) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for b in batches:
        for e in b:
            first, last = out.get(e.backend_name, (e.timestamp, e.timestamp))
            out[e.backend_name] = (min(first, e.timestamp), max(last, e.timestamp))
    return out


def crawl(
    cfg: Config,
    crawl_id: str,
    backend: str,
    files: dict[str, dict[str, Any]],
    complete: bool = True,
    errors: int = 0,
    prefix: str = "",
    per_message: int = 2,
) -> None:
    """Publishes one crawl: start marker, the files (``path → ListingEvent fields``), finish marker."""
    from warpdrive.schemas.records import CrawlMarker, ListingEvent, utc_now

    events = [ListingEvent(crawl_id=crawl_id, backend_name=backend, path=p, **f) for p, f in files.items()]
    msgs: list[list[Any]] = [[CrawlMarker(crawl_id, backend, "start", utc_now(), prefix=prefix)]]
    msgs += [events[i : i + per_message] for i in range(0, len(events), per_message)]
    msgs.append(
        [
            CrawlMarker(
                crawl_id,
                backend,
                "finish",
                utc_now(),
                files=len(events),
                bytes=sum(e.size_bytes for e in events),
                errors=errors,
                complete=complete,
                prefix=prefix,
            )
        ]
    )
    from warpdrive.schemas.topics import LISTING

    produce_batches(cfg, LISTING, msgs, "backend_name")


def live_files(dsn: str, backend: str) -> dict[str, tuple]:
    """path → (size, owner_team, owner_user, owner_source) of the backend's live files."""
    return {
        r["path"]: (r["size_bytes"], r["owner_team"], r["owner_user"], r["owner_source"])
        for r in query(dsn, "SELECT * FROM storage_files WHERE backend_name = $1 AND deleted_at IS NULL", backend)
    }


def usage(dsn: str, backend: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(team, user) → (files, bytes) from usage_rollup, zero rows left out."""
    rows = query(
        dsn,
        shards_summed("usage_rollup", "backend_name, owner_team, owner_user", "file_count, total_bytes", "last_access"),
        [backend],
    )
    return {
        (r["owner_team"], r["owner_user"]): (r["file_count"], r["total_bytes"])
        for r in rows
        if (r["file_count"], r["total_bytes"]) != (0, 0)
    }


def usage_recomputed(dsn: str, backend: str) -> dict[tuple[str, str], tuple[int, int]]:
    """The same, recomputed from the index."""
    return {
        (r["owner_team"], r["u"]): (r["n"], r["s"])
        for r in query(
            dsn,
            "SELECT owner_team, coalesce(owner_user, '') AS u, count(*) AS n, sum(size_bytes) AS s"
            " FROM storage_files WHERE backend_name = $1 AND deleted_at IS NULL GROUP BY 1, 2",
            backend,
        )
    }


def tree(dsn: str, backend: str) -> tuple[dict, dict, dict, dict]:
    """The stored tree of a backend: dirs (dir → (files, bytes, stale bytes)), teams, week buckets (tree_activity's
    kinds, and tree_inactive's as kind 's'), and the owners' activity weeks (owner_inactive summed over its shards:
    (team, user, week) → (files, bytes)); zeros left out."""
    dirs = {
        r["dir"]: (r["file_count"], r["total_bytes"], r["inactive_bytes"])
        for r in query(
            dsn, "SELECT * FROM tree_dirs WHERE backend_name = $1 AND (file_count, total_bytes) <> (0, 0)", backend
        )
    }
    teams = {
        (r["dir"], r["owner_team"]): (r["file_count"], r["total_bytes"])
        for r in query(
            dsn, "SELECT * FROM tree_teams WHERE backend_name = $1 AND (file_count, total_bytes) <> (0, 0)", backend
        )
    }

    # The week buckets (and the owners' weeks) summed over the workers' shards (migrations 0069, 0070).
    def summed(table: str, keys: str) -> dict[tuple, tuple[int, int]]:
        rows = query(
            dsn,
            f"SELECT {keys}, sum(file_count) AS n, sum(total_bytes) AS s FROM {table} WHERE backend_name = $1"
            f" GROUP BY {keys} HAVING (sum(file_count), sum(total_bytes)) <> (0, 0)",
            backend,
        )
        return {tuple(r[k.strip()] for k in keys.split(",")): (r["n"], r["s"]) for r in rows}

    act = summed("tree_activity", "dir, kind, period")
    act.update({(d, "s", p): v for (d, p), v in summed("tree_inactive", "dir, period").items()})
    owners = summed("owner_inactive", "owner_team, owner_user, period")
    return dirs, teams, act, owners


def tree_recomputed(dsn: str, backend: str, max_depth: int = 0) -> tuple[dict, dict, dict, dict]:
    """The same, recomputed from the live files of storage_files (stale bytes: activity — the later of last access
    and modification — in a week up to the stored stale-sort boundary, or never)."""
    from datetime import date, timedelta

    def bucket(ts: Any) -> date:
        return date.min if ts is None else ts.date() - timedelta(days=ts.date().weekday())

    (boundary,) = query(dsn, "SELECT through FROM tree_stale")
    dirs: dict = defaultdict(lambda: [0, 0, 0])
    teams: dict = defaultdict(lambda: [0, 0])
    act: dict = defaultdict(lambda: [0, 0])
    owners: dict = defaultdict(lambda: [0, 0])
    for r in query(dsn, "SELECT * FROM storage_files WHERE backend_name = $1 AND deleted_at IS NULL", backend):
        active = bucket(max((t for t in (r["last_access"], r["last_modified"]) if t is not None), default=None))
        o = owners[(r["owner_team"], r["owner_user"] or "", active)]
        o[0] += 1
        o[1] += r["size_bytes"]
        parts = r["path"].strip("/").split("/")[:-1]
        if max_depth:
            parts = parts[:max_depth]
        for i in range(len(parts) + 1):
            d = "/".join(parts[:i])
            # 's' (tree_inactive): the week of the later of last access and modification (the stale rule)
            act_week = bucket(max((t for t in (r["last_access"], r["last_modified"]) if t is not None), default=None))
            for table, key in (
                (dirs, d),
                (teams, (d, r["owner_team"])),
                (act, (d, "a", bucket(r["last_access"]))),
                (act, (d, "m", bucket(r["last_modified"]))),
                (act, (d, "s", act_week)),
            ):
                table[key][0] += 1
                table[key][1] += r["size_bytes"]
            if act_week <= boundary["through"] and d:  # no stale-sort key at the root (migration 0070)
                dirs[d][2] += r["size_bytes"]
    return (
        {k: tuple(v) for k, v in dirs.items()},
        {k: tuple(v) for k, v in teams.items()},
        {k: tuple(v) for k, v in act.items()},
        {k: tuple(v) for k, v in owners.items()},
    )
