"""`warpdrive backfill` end to end: events/s from a log file to aggregates visible in PostgreSQL, beside the streams
ingest of the same events published as agents do, same run.

Writes ``--events`` AccessEvents (bench/streams_ingest.py's generator: nodes working through directories over
``--days`` days) as a JSON-lines log, then, into a fresh database and topic prefix each:

- backfill, end to end: one real ``warpdrive streams worker`` is started and assigned its partitions first (as in
  production, where workers run), then ``backfill()`` (file → parse → check → fold per block → Kafka) runs, timed
  from its start until every message's offset is stored in PostgreSQL (every aggregate committed, each line's run
  recorded);
- peer: the same events as agent batch messages (``--per-message`` events each, as agents send them), encoded
  beforehand and sent once the same kind of worker is assigned, timed from the first send.

Both check ``access_log`` against the generated events (every read, write and byte once) and report the worker's and
PostgreSQL's CPU per event.

First, the import alone (file → Kafka, no worker) beside its own peer: a bare aiokafka producer (same acks,
idempotence, batch limits) sending the very messages the import produces, pre-encoded, to a topic of the same
kind — the ratio says what reading, parsing, checking and encoding cost on top of Kafka itself. ``--import-only``
stops there. Run on a running stack (``warpdrive stack up --infra-only``):

    .venv/bin/python bench/backfill.py --stack /tmp/wds1 --events 500000
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import asyncpg
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from streams_ingest import applied, generate, produce  # noqa: E402
from streams_scale import wait_stable  # noqa: E402

from warpdrive.compose.stack import Stack  # noqa: E402
from aiokafka import AIOKafkaProducer  # noqa: E402

from warpdrive.crawler import backfill as bf  # noqa: E402
from warpdrive.crawler.backfill import backfill  # noqa: E402
from warpdrive.schemas import config as wconfig  # noqa: E402
from warpdrive.schemas.db import connect_and_migrate, create_database, drop_database  # noqa: E402
from warpdrive.schemas.records import encode_batch  # noqa: E402
from warpdrive.schemas.topics import ACCESS, ensure_topics  # noqa: E402


def fresh(st: Stack, base: str, name: str, tmp: Path) -> tuple[wconfig.Config, Path, str]:
    """A config with its own database, topic prefix and consumer group; topics created, database migrated."""
    dsn = asyncio.run(create_database(base, name))
    raw = st.config_dict(
        {"kafka": {"topic_prefix": f"{name}."}, "postgres": {"dsn": dsn}, "streams": {"app_id": f"{name}-streams"}}
    )
    raw["state_dir"] = str(tmp)
    path = tmp / f"{name}.toml"
    path.write_text(wconfig.dump_toml(raw))
    cfg = wconfig.load(path)

    async def prepare() -> None:
        await ensure_topics(cfg.kafka, (ACCESS,))
        await (await connect_and_migrate(cfg)).close()

    asyncio.run(prepare())
    return cfg, path, dsn


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parsing processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


async def bare_send(cfg: wconfig.Config, topic: str, messages: list[tuple[str, bytes, int]]) -> None:
    """The peer: a bare producer with the import's settings sending pre-encoded messages, at most as many in flight."""
    p = AIOKafkaProducer(
        **cfg.kafka.client_options(),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_request_size=4 << 20,
        max_batch_size=bf.PRODUCER_BATCH,
    )
    await p.start()
    try:
        pending = []
        for key, value, _ in messages:
            pending.append(await p.send(topic, value, key=key.encode()))
            if len(pending) > 64:
                await pending.pop(0)
        await asyncio.gather(*pending)
    finally:
        await p.stop()


def import_phase(st: Stack, base: str, run: str, tmp: Path, log: Path, n: int, args: argparse.Namespace) -> int:
    """The import alone (file -> Kafka) beside a bare producer sending its messages pre-encoded; returns how many
    messages the import sends."""
    name = f"wdbi_{run}"
    cfg, _, dsn = fresh(st, base, name, tmp)
    try:
        c, t = cpu_seconds(), time.monotonic()
        s = asyncio.run(backfill(cfg, [str(log)], batch_size=args.batch_size, jobs=args.jobs))
        seconds, cpu = time.monotonic() - t, cpu_seconds() - c
        assert s.imported == n, s.as_dict()
        resolver = bf.Resolver(cfg.backends, {})
        messages = list(
            bf._messages(
                bf.log_files(cfg, str(log)),
                None,
                resolver,
                {b.name: b.url for b in cfg.backends},
                bf.Summary(),
                args.batch_size,
                1,
            )
        )
        peer = f"wdbj_{run}"
        pcfg, _, pdsn = fresh(st, base, peer, tmp)
        try:
            t = time.monotonic()
            asyncio.run(bare_send(pcfg, ACCESS.full_name(pcfg.kafka), messages))
            p_seconds = time.monotonic() - t
        finally:
            asyncio.run(drop_database(base, peer))
        print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            f"backfill import (file -> Kafka, --jobs {args.jobs}): {n:,} events, {len(messages)} messages, in "
            f"{seconds:.1f}s: {n / seconds:,.0f} events/s; {cpu:.1f} CPU-s: {n / cpu:,.0f} events per CPU-second"
        )
        print(
            f"peer, bare producer sending the same {len(messages)} messages pre-encoded: {p_seconds:.1f}s: "
            f"{n / p_seconds:,.0f} events/s"
        )
        print(
            f"ratio import/bare producer: {p_seconds / seconds:.2f}x; {sum(len(v) for _, v, _ in messages) / n:.0f} "
            "bytes per event on the wire",
            flush=True,
        )
        return len(messages)
    finally:
        asyncio.run(drop_database(base, name))


def apply(
    exe: str, cfg: wconfig.Config, path: Path, dsn: str, messages: int, log: Path, start: Callable[[], None]
) -> tuple[float, float, int, tuple[float, float]]:
    """Starts a worker, waits until it is assigned its partitions, calls ``start`` and waits until ``messages``
    offsets are stored: (seconds since start, seconds since the first commit, peak RSS, (worker, PostgreSQL) CPU-s)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, "streams", "worker", "--loglevel", "warning"],
            env={**os.environ, "WARPDRIVE_CONFIG": str(path)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    ps = psutil.Process(proc.pid)
    try:
        asyncio.run(wait_stable(cfg, cfg.streams.app_id, 1, [proc], 120))
        pg = asyncio.run(_pg_cpu(dsn))
        c0 = ps.cpu_times()
        t0 = time.monotonic()
        start()
        first, rss = None, 0
        topic = ACCESS.full_name(cfg.kafka)
        while time.monotonic() - t0 < 1800:
            rss = max(rss, ps.memory_info().rss)
            n = asyncio.run(applied(dsn, cfg.streams.app_id, topic))
            if n and first is None:
                first = time.monotonic()
            if n >= messages:
                end = time.monotonic()
                c1 = ps.cpu_times()
                cpu = (c1.user + c1.system - c0.user - c0.system, asyncio.run(_pg_cpu(dsn)) - pg)
                return end - t0, end - (first or t0), rss, cpu
            if proc.poll() is not None:
                raise SystemExit(f"worker exited early, see {log}")
            time.sleep(0.05)
        raise SystemExit(f"not done after 1800s, see {log}")
    finally:
        proc.terminate()
        proc.wait(30)


async def _pg_cpu(dsn: str) -> float:
    """CPU-seconds of every PostgreSQL process serving this database (the worker's sessions)."""
    conn = await asyncpg.connect(dsn)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    total = 0.0
    for r in pids:
        try:
            t = psutil.Process(r["pid"]).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def check(dsn: str, truth: tuple[int, int, int]) -> None:
    """Every read, write and byte counted exactly once (access_log against the generated events)."""

    async def sums() -> tuple[int, int, int]:
        conn = await asyncpg.connect(dsn)
        try:
            r = await conn.fetchrow("SELECT sum(read_count), sum(write_count), sum(bytes_read) FROM access_log")
            return (r[0], r[1], r[2])
        finally:
            await conn.close()

    got = asyncio.run(sums())
    if got != truth:
        raise SystemExit(f"not exactly once: access_log sums {got}, truth {truth}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--batch-size", type=int, default=bf.BATCH, help="lines per message of the import (one block)")
    ap.add_argument("--per-message", type=int, default=500, help="events per agent message of the generator and peer")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parsing processes of the import")
    ap.add_argument("--import-only", action="store_true", help="only the import (file -> Kafka) and its peer")
    args = ap.parse_args()

    st = Stack(Path(args.stack))
    base = st.postgres_dsn()
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="wdbench-backfill-"))
    exe = str(Path(sys.executable).with_name("warpdrive"))
    msgs = generate(args.events, args.per_message, args.days)
    events = [e for _, b in msgs for e in b]
    log = tmp / "history.jsonl"
    with open(log, "wb") as f:
        for e in events:
            f.write(
                orjson.dumps(
                    {
                        "timestamp": e.timestamp,
                        "user_id": e.user_id,
                        "backend_name": e.backend_name,
                        "path": "/" + e.path,
                        "operation": e.operation,
                        "bytes_read": e.bytes_read,
                        "bytes_written": e.bytes_written,
                        "count": e.count,
                        "cache_hit": e.cache_hit,
                        "node_host": e.node_host,
                        "latency_ms": 1.0,
                        "error": None,
                    }
                )
                + b"\n"
            )
    print(f"{len(events):,} events, log {log.stat().st_size / 2**20:.0f} MiB", flush=True)
    dbs = []
    print(
        f"machine: {platform.node()} {psutil.cpu_count()} cores, {psutil.virtual_memory().total >> 30} GiB; "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    try:
        messages = import_phase(st, base, run, tmp, log, len(events), args)
        if args.import_only:
            return
        n = len(events)
        truth = (
            sum(e.count for e in events if e.operation == "read"),
            sum(e.count for e in events if e.operation == "write"),
            sum(e.bytes_read for e in events),
        )
        # The backfill, with a worker already running (assigned) as in production: clock from the import's start.
        name = f"wdbf_{run}"
        dbs.append(name)
        cfg, path, dsn = fresh(st, base, name, tmp)
        published: dict[str, float] = {}

        def importer() -> None:
            t = time.monotonic()
            s = asyncio.run(backfill(cfg, [str(log)], batch_size=args.batch_size, jobs=args.jobs))
            published["seconds"], published["imported"] = time.monotonic() - t, s.imported

        th = threading.Thread(target=importer)
        e2e, busy, rss, cpu = apply(exe, cfg, path, dsn, messages, tmp / "backfill-worker.log", th.start)
        th.join()
        assert published["imported"] == n, published
        check(dsn, truth)
        print(
            f"backfill import (file -> Kafka, beside the worker): {n:,} events in {published['seconds']:.1f}s: "
            f"{n / published['seconds']:,.0f} events/s"
        )
        print(
            f"backfill END TO END (file -> Kafka -> worker -> visible, worker running): {e2e:.1f}s: "
            f"{n / e2e:,.0f} events/s ({busy:.1f}s after the worker's first commit: {n / busy:,.0f} events/s); "
            f"CPU per event: worker {1e6 * cpu[0] / n:.1f} µs, PostgreSQL {1e6 * cpu[1] / n:.1f} µs; "
            f"worker peak RSS {rss / 2**20:.0f} MiB; exact",
            flush=True,
        )

        # The peer: the same events as agent batches, encoded beforehand, sent once the same worker is assigned,
        # clocked from the first send.
        name = f"wdbp_{run}"
        dbs.append(name)
        pcfg, ppath, pdsn = fresh(st, base, name, tmp)
        encoded = [(k.encode(), encode_batch(b)) for k, b in msgs]
        sender = threading.Thread(target=lambda: asyncio.run(produce(pcfg, ACCESS.full_name(pcfg.kafka), encoded)))
        p_e2e, p_busy, p_rss, p_cpu = apply(exe, pcfg, ppath, pdsn, len(msgs), tmp / "peer-worker.log", sender.start)
        sender.join()
        check(pdsn, truth)
        print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            f"peer, streams ingest of the same events as agent batches of {args.per_message} (sent pre-encoded): "
            f"{p_e2e:.1f}s: {n / p_e2e:,.0f} events/s; CPU per event: worker "
            f"{1e6 * p_cpu[0] / n:.1f} µs, PostgreSQL {1e6 * p_cpu[1] / n:.1f} µs; worker peak RSS "
            f"{p_rss / 2**20:.0f} MiB; exact"
        )
        print(f"ratio backfill end to end / peer: {p_e2e / e2e:.2f}x")
    finally:
        for name in dbs:
            asyncio.run(drop_database(base, name))


if __name__ == "__main__":
    main()
