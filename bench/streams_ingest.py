"""Stream-worker ingest: access records/s until visible in PostgreSQL, vs a naive Faust sink, same run.

Pre-produces ``--records`` AccessEvents in batch messages of ``--per-message`` (as agents send them: one
node's flush window — a few users working through a directory's files, time moving forward over
``--days`` days), starts one real ``warpdrive streams worker`` and measures the time until every
message's offset is stored in PostgreSQL (i.e. every aggregate committed). The peer: a naive Faust sink
(one message per event, one upsert per event) over ``--naive-records`` events, measured the same way.
Also: the worker's peak RSS, and the pre-aggregation ratio (records per upserted access_log row; the per-user
rollups' row counts beside it).

    .venv/bin/python bench/streams_ingest.py --stack /tmp/wds1 --records 1000000

Runs on a fresh database and topic prefix of a running stack (``warpdrive stack up --infra-only``); the
database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaProducer

from warpdrive.compose.stack import Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import create_database, drop_database
from warpdrive.schemas.records import AccessEvent, encode, encode_batch, format_ts
from warpdrive.schemas.retention import STATS_BY_TABLE
from warpdrive.schemas.topics import ACCESS, Topic

NAIVE = Topic("bench.naive-access.v1", key="node_host")
OPS = ("read",) * 12 + ("write",) * 3 + ("stat", "list", "create")


def generate(
    records: int, per_message: int, days: int, nodes: int = 32, users: int = 200, seed: int = 7
) -> list[tuple[str, list[AccessEvent]]]:
    """(node, batch) messages: each node runs jobs (one user, one directory of files) for a while."""
    rnd = random.Random(seed)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    span = days * 86400.0
    out: list[tuple[str, list[AccessEvent]]] = []
    jobs: dict[int, tuple[str, str, int]] = {}
    seq = 0
    n_msgs = records // per_message
    for i in range(n_msgs):
        node = i % nodes
        if node not in jobs or rnd.random() < 0.02:
            jobs[node] = (
                f"user{rnd.randrange(users)}",
                f"proj{rnd.randrange(50)}/run{rnd.randrange(400)}",
                rnd.choice((20, 50, 200, 1000)),
            )
        user, directory, width = jobs[node]
        base = t0 + timedelta(seconds=span * i / n_msgs)
        batch = []
        for j in range(per_message):
            seq += 1
            op = rnd.choice(OPS)
            batch.append(
                AccessEvent(
                    event_id=f"n{node}/b/{seq}",
                    timestamp=format_ts(base + timedelta(milliseconds=j)),
                    user_id=user,
                    backend_name=("local", "s3", "gcs")[node % 3],
                    path=f"{directory}/part-{rnd.randrange(width):05d}",
                    operation=op,
                    node_host=f"node{node}",
                    seq=seq,
                    count=rnd.randint(1, 8),
                    bytes_read=rnd.randrange(1 << 22) if op == "read" else 0,
                    bytes_written=rnd.randrange(1 << 22) if op == "write" else 0,
                    cache_hit=rnd.random() < 0.4,
                )
            )
        out.append((f"node{node}", batch))
    return out


async def produce(cfg: wconfig.Config, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    p = AIOKafkaProducer(
        **cfg.kafka.client_options(),
        acks="all",
        linger_ms=20,
        max_batch_size=1 << 20,
        max_request_size=16 << 20,
        compression_type=None,
    )
    await p.start()
    try:
        futs = [await p.send(topic, value=v, key=k) for k, v in messages]
        await asyncio.gather(*futs)
    finally:
        await p.stop()


async def applied(dsn: str, consumer: str, topic: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(
            "SELECT coalesce(sum(next_offset), 0) FROM stream_offsets WHERE consumer = $1 AND topic = $2",
            consumer,
            topic,
        )
    finally:
        await conn.close()


def run_until(
    argv: list[str], env: dict[str, str], dsn: str, consumer: str, topic: str, messages: int, log: Path, timeout: float
) -> tuple[float, float, int]:
    """Runs a worker until ``messages`` offsets are stored: (seconds from first progress, total, peak RSS)."""
    import os

    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    ps = psutil.Process(proc.pid)
    t0 = time.monotonic()
    first = None
    rss = 0
    try:
        while time.monotonic() - t0 < timeout:
            rss = max(rss, sum(p.memory_info().rss for p in [ps, *ps.children(recursive=True)]))
            n = asyncio.run(applied(dsn, consumer, topic))
            if n and first is None:
                first = time.monotonic()
            if n >= messages:
                end = time.monotonic()
                return end - (first or t0), end - t0, rss
            if proc.poll() is not None:
                raise SystemExit(f"worker exited early, see {log}")
            time.sleep(0.1)
        raise SystemExit(f"not done after {timeout}s, see {log}")
    finally:
        proc.terminate()
        proc.wait(30)


def naive_worker(config: str) -> None:
    """The peer: a Faust agent taking one event per message and upserting it alone (the spec's design)."""
    import faust

    cfg = wconfig.load(config)
    app = faust.App(
        cfg.streams.app_id + "-naive",
        broker=f"kafka://{cfg.kafka.bootstrap_servers}",
        value_serializer="raw",
        web_enabled=False,
        topic_disable_leader=True,
        datadir=tempfile.mkdtemp(prefix="wd-naive-"),
    )
    topic = app.topic(NAIVE.full_name(cfg.kafka), value_type=bytes)
    state: dict[str, asyncpg.Pool] = {}

    @app.agent(topic, concurrency=1)
    async def sink(stream):  # noqa: ANN001
        from warpdrive.schemas.records import decode

        pool = state.get("pool") or await asyncpg.create_pool(cfg.postgres.dsn, min_size=1, max_size=2)
        state["pool"] = pool
        async for event in stream.events():
            e = decode(event.value, AccessEvent)
            m = event.message
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    """INSERT INTO access_log AS a (backend_name, path, user_id, date, read_count, bytes_read, last_access)
                       VALUES ($1, $2, $3, $4::text::date, $5, $6, $7::text::timestamptz)
                       ON CONFLICT (backend_name, path, user_id, date) DO UPDATE SET
                           read_count = a.read_count + EXCLUDED.read_count, bytes_read = a.bytes_read + EXCLUDED.bytes_read,
                           last_access = GREATEST(a.last_access, EXCLUDED.last_access)""",
                    "naive-" + e.backend_name,
                    e.path,
                    e.user_id,
                    e.timestamp[:10],
                    e.count if e.operation == "read" else 0,
                    e.bytes_read,
                    e.timestamp,
                )
                await conn.execute(
                    """INSERT INTO stream_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4)
                       ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = EXCLUDED.next_offset""",
                    "naive",
                    m.topic,
                    m.partition,
                    m.offset + 1,
                )

    faust.Worker(app, loglevel="WARNING").execute_from_commandline()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--per-message", type=int, default=100, help="events per Kafka message (agent batch size)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--naive-records", type=int, default=20_000)
    ap.add_argument(
        "--pipeline-rounds",
        type=int,
        default=0,
        help="then N rounds of the worker with streams.pipeline true and false (alternated), same records",
    )
    ap.add_argument("--naive", help=argparse.SUPPRESS)  # internal: run the naive worker with this config
    args = ap.parse_args()
    if args.naive:
        naive_worker(args.naive)
        return

    st = Stack(Path(args.stack))
    run = uuid.uuid4().hex[:8]
    base = st.postgres_dsn()
    db = f"wdbench_{run}"
    dsn = asyncio.run(create_database(base, db))
    tmp = Path(tempfile.mkdtemp(prefix="wdbench-"))
    try:
        raw = st.config_dict(
            {
                "kafka": {"topic_prefix": f"b{run}."},
                "postgres": {"dsn": dsn},
                "streams": {"app_id": f"wdbench-{run}"},
                "state_dir": str(tmp),
            }
        )
        raw["state_dir"] = str(tmp)
        cfg_path = tmp / "warpdrive.toml"
        cfg_path.write_text(wconfig.dump_toml(raw))
        cfg = wconfig.load(cfg_path)
        from warpdrive.schemas.db import connect_and_migrate
        from warpdrive.schemas.topics import ensure_topics

        async def prepare() -> None:
            await ensure_topics(cfg.kafka, (ACCESS, NAIVE))
            await (await connect_and_migrate(cfg)).close()

        asyncio.run(prepare())
        t = time.monotonic()
        msgs = generate(args.records, args.per_message, args.days)
        records = sum(len(b) for _, b in msgs)
        asyncio.run(produce(cfg, ACCESS.full_name(cfg.kafka), [(k.encode(), encode_batch(b)) for k, b in msgs]))
        naive = [e for _, b in msgs for e in b][: args.naive_records]
        asyncio.run(produce(cfg, NAIVE.full_name(cfg.kafka), [(e.node_host.encode(), encode(e)) for e in naive]))
        print(
            f"produced {records} records in {len(msgs)} messages + {len(naive)} single-event messages"
            f" in {time.monotonic() - t:.1f}s",
            flush=True,
        )

        exe = str(Path(sys.executable).with_name("warpdrive"))
        env = {"WARPDRIVE_CONFIG": str(cfg_path)}
        busy, total, rss = run_until(
            [exe, "streams", "worker", "--loglevel", "warning"],
            env,
            dsn,
            cfg.streams.app_id,
            ACCESS.full_name(cfg.kafka),
            len(msgs),
            tmp / "worker.log",
            900,
        )
        rows = asyncio.run(_fetchval(dsn, "SELECT count(*) FROM access_log"))
        user_files, user_reads = (
            asyncio.run(_fetchval(dsn, f"SELECT count(*) FROM {t}")) for t in ("user_files", "user_reads")
        )
        # Updates that wrote no index entry (HOT): what a fillfactor below 100 buys the upserts.
        hot = asyncio.run(
            _fetchval(
                dsn,
                f"""
            SELECT string_agg(format('%s %s%% of %s', relname, round(100.0 * n_tup_hot_upd / greatest(n_tup_upd, 1)),
                                     n_tup_upd), ', ' ORDER BY relname)
            FROM (SELECT rel AS relname, sum(n_tup_hot_upd) AS n_tup_hot_upd, sum(n_tup_upd) AS n_tup_upd
                  FROM ({STATS_BY_TABLE}) s WHERE rel IN ('access_log', 'user_files') GROUP BY rel) t""",
            )
        )
        rounds = []
        for i in range(args.pipeline_rounds):
            # The same topic again, into a fresh database each, by a fresh consumer group; order alternates.
            order = (False, True) if i % 2 == 0 else (True, False)
            got = {
                p: worker_run(base, f"{db}_r{i}{int(p)}", env, exe, p, ACCESS.full_name(cfg.kafka), len(msgs), tmp)
                for p in order
            }
            rounds.append(got)
        n_busy, n_total, n_rss = run_until(
            [sys.executable, __file__, "--stack", args.stack, "--naive", str(cfg_path)],
            env,
            dsn,
            "naive",
            NAIVE.full_name(cfg.kafka),
            len(naive),
            tmp / "naive.log",
            900,
        )
        ours, theirs = records / busy, len(naive) / n_busy
        print(
            f"machine: {platform.node()} {psutil.cpu_count()} cores, {psutil.virtual_memory().total >> 30} GiB; "
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        )
        print(
            f"warpdrive streams worker: {records} records ({len(msgs)} messages of {args.per_message}) "
            f"in {busy:.1f}s after first commit ({total:.1f}s incl. start): {ours:,.0f} records/s; "
            f"peak RSS {rss / 2**20:.0f} MiB"
        )
        print(
            f"  pre-aggregation: {records} records -> {rows} access_log rows ({records / max(rows, 1):.1f} per row);"
            f" per-user rollups: {user_files} user_files rows ({records / max(user_files, 1):.1f} per row),"
            f" {user_reads} user_reads rows"
        )
        print(f"  HOT updates: {hot}")
        for i, got in enumerate(rounds):
            print(
                f"round {i + 1}: "
                + "; ".join(
                    f"pipeline={str(p).lower()} {records / got[p][0]:,.0f} records/s (RSS {got[p][1] / 2**20:.0f} MiB, "
                    f"{got[p][2]} rows)"
                    for p in got
                )
                + f"; pipelined/one-by-one {got[False][0] / got[True][0]:.2f}x"
            )
        if rounds:
            ratios = sorted(got[False][0] / got[True][0] for got in rounds)
            print(f"pipelined/one-by-one, median of {len(rounds)} alternated rounds: {ratios[len(ratios) // 2]:.2f}x")
        print(
            f"naive Faust sink (1 event/message, 1 upsert/event): {len(naive)} records in {n_busy:.1f}s: "
            f"{theirs:,.0f} records/s; peak RSS {n_rss / 2**20:.0f} MiB"
        )
        print(f"ratio: {ours / theirs:.1f}x")
    finally:
        asyncio.run(drop_database(base, db))


def worker_run(
    base: str, db: str, env: dict[str, str], exe: str, pipeline: bool, topic: str, messages: int, tmp: Path
) -> tuple[float, float, int]:
    """One more worker over the whole topic into a fresh database ``db``: (seconds, peak RSS, access_log rows)."""
    dsn = asyncio.run(create_database(base, db))
    try:
        asyncio.run(_migrate(dsn))
        app = f"wdbench-{db}"
        busy, _, rss = run_until(
            [exe, "streams", "worker", "--loglevel", "warning"],
            {
                **env,
                "WARPDRIVE_POSTGRES_DSN": dsn,
                "WARPDRIVE_STREAMS_APP_ID": app,
                "WARPDRIVE_STREAMS_PIPELINE": str(pipeline).lower(),
            },
            dsn,
            app,
            topic,
            messages,
            tmp / f"worker-{db}.log",
            900,
        )
        return busy, rss, asyncio.run(_fetchval(dsn, "SELECT count(*) FROM access_log"))
    finally:
        asyncio.run(drop_database(base, db))


async def _migrate(dsn: str) -> None:
    from warpdrive.schemas.db import migrate

    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()


async def _fetchval(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
