"""`warpdrive backfill` end to end: events/s from a log file to aggregates visible in PostgreSQL, beside the streams
ingest of the same events published as agents do, same run.

Writes ``--events`` AccessEvents (bench/streams_ingest.py's generator: nodes working through directories over
``--days`` days) as a JSON-lines log, then, into a fresh database and topic prefix each:

- backfill: ``backfill()`` (file → parse → check → Kafka) runs while one real ``warpdrive streams worker`` applies
  what it publishes; timed from the start of the import until every message's offset is stored in PostgreSQL
  (every aggregate committed, each line's id recorded);
- peer: the same events pre-produced as agent batch messages of the same size, applied by the same worker.

Both report events/s after the worker's first commit (the apply rate; worker start excluded) and the backfill also
its end-to-end rate including the worker's start.

First, the import alone (file → Kafka, no worker) beside its own peer: a bare aiokafka producer (same acks,
idempotence, batch limits) sending the very messages the import produces, pre-encoded, to a topic of the same
kind — the ratio says what reading, parsing, checking and encoding cost on top of Kafka itself. ``--import-only``
stops there. Run on a running stack (``warpdrive stack up --infra-only``):

    .venv/bin/python bench/backfill.py --stack /tmp/wds1 --events 500000
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from streams_ingest import generate, produce, run_until  # noqa: E402

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


def import_phase(st: Stack, base: str, run: str, tmp: Path, log: Path, n: int, args: argparse.Namespace) -> None:
    """The import alone (file -> Kafka) beside a bare producer sending its messages pre-encoded."""
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
        print(f"ratio import/bare producer: {p_seconds / seconds:.2f}x", flush=True)
    finally:
        asyncio.run(drop_database(base, name))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--batch-size", type=int, default=bf.BATCH, help="events per Kafka message (both sides)")
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parsing processes of the import")
    ap.add_argument("--import-only", action="store_true", help="only the import (file -> Kafka) and its peer")
    args = ap.parse_args()

    st = Stack(Path(args.stack))
    base = st.postgres_dsn()
    run = uuid.uuid4().hex[:8]
    tmp = Path(tempfile.mkdtemp(prefix="wdbench-backfill-"))
    exe = str(Path(sys.executable).with_name("warpdrive"))
    msgs = generate(args.events, args.batch_size, args.days)
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
        import_phase(st, base, run, tmp, log, len(events), args)
        if args.import_only:
            return
        # The backfill, with the worker applying while it publishes.
        name = f"wdbf_{run}"
        dbs.append(name)
        cfg, path, dsn = fresh(st, base, name, tmp)
        messages = math.ceil(len(events) / args.batch_size)  # one file: every message but the last is full
        published: dict[str, float] = {}

        def importer() -> None:
            t = time.monotonic()
            s = asyncio.run(backfill(cfg, [str(log)], batch_size=args.batch_size, jobs=args.jobs))
            published["seconds"], published["imported"] = time.monotonic() - t, s.imported

        t0 = time.monotonic()
        th = threading.Thread(target=importer)
        th.start()
        busy, total, rss = run_until(
            [exe, "streams", "worker", "--loglevel", "warning"],
            {"WARPDRIVE_CONFIG": str(path)},
            dsn,
            cfg.streams.app_id,
            ACCESS.full_name(cfg.kafka),
            messages,
            tmp / "backfill-worker.log",
            1800,
        )
        e2e = time.monotonic() - t0
        th.join()
        assert published["imported"] == len(events), published
        n = len(events)
        print(
            f"backfill import (file -> Kafka): {n:,} events in {published['seconds']:.1f}s: "
            f"{n / published['seconds']:,.0f} events/s"
        )
        print(
            f"backfill end to end (file -> Kafka -> worker -> visible): {e2e:.1f}s incl. worker start: "
            f"{n / e2e:,.0f} events/s; {busy:.1f}s after the worker's first commit: {n / busy:,.0f} events/s; "
            f"worker peak RSS {rss / 2**20:.0f} MiB",
            flush=True,
        )

        # The peer: the same events as agent batches, pre-produced, applied by the same worker.
        name = f"wdbp_{run}"
        dbs.append(name)
        pcfg, ppath, pdsn = fresh(st, base, name, tmp)
        asyncio.run(produce(pcfg, ACCESS.full_name(pcfg.kafka), [(k.encode(), encode_batch(b)) for k, b in msgs]))
        p_busy, _, p_rss = run_until(
            [exe, "streams", "worker", "--loglevel", "warning"],
            {"WARPDRIVE_CONFIG": str(ppath)},
            pdsn,
            pcfg.streams.app_id,
            ACCESS.full_name(pcfg.kafka),
            len(msgs),
            tmp / "peer-worker.log",
            1800,
        )

        print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            f"peer, streams ingest of the same events as agent batches: {p_busy:.1f}s after first commit: "
            f"{n / p_busy:,.0f} events/s; worker peak RSS {p_rss / 2**20:.0f} MiB"
        )
        print(f"ratio backfill/peer (after first commit): {p_busy / busy:.2f}x")
    finally:
        for name in dbs:
            asyncio.run(drop_database(base, name))


if __name__ == "__main__":
    main()
