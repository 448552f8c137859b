"""`warpdrive backfill` end to end: events/s from a log file to aggregates visible in PostgreSQL, beside the streams
ingest of the same events published as agents do, same run.

Writes ``--events`` AccessEvents (bench/streams_ingest.py's generator: nodes working through directories over
``--days`` days) as a JSON-lines log, then, into a fresh database and topic prefix each:

- backfill: ``backfill()`` (file → parse → check → Kafka) runs while one real ``warpdrive streams worker`` applies
  what it publishes; timed from the start of the import until every message's offset is stored in PostgreSQL
  (every aggregate committed, each line's id recorded);
- peer: the same events pre-produced as agent batch messages of the same size, applied by the same worker.

Both report events/s after the worker's first commit (the apply rate; worker start excluded) and the backfill also
its end-to-end rate including the worker's start. Run on a running stack (``warpdrive stack up --infra-only``):

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
from warpdrive.crawler.backfill import backfill  # noqa: E402
from warpdrive.schemas import config as wconfig  # noqa: E402
from warpdrive.schemas.db import connect_and_migrate, create_database, drop_database  # noqa: E402
from warpdrive.schemas.records import encode_batch  # noqa: E402
from warpdrive.schemas.topics import ACCESS, ensure_topics  # noqa: E402


def fresh(st: Stack, base: str, name: str, tmp: Path) -> tuple[wconfig.Config, Path, str]:
    """A config with its own database, topic prefix and consumer group; topics created, database migrated."""
    dsn = asyncio.run(create_database(base, name))
    raw = st.config_dict({"kafka": {"topic_prefix": f"{name}."}, "postgres": {"dsn": dsn},
                          "streams": {"app_id": f"{name}-streams"}})
    raw["state_dir"] = str(tmp)
    path = tmp / f"{name}.toml"
    path.write_text(wconfig.dump_toml(raw))
    cfg = wconfig.load(path)

    async def prepare() -> None:
        await ensure_topics(cfg.kafka, (ACCESS,))
        await (await connect_and_migrate(cfg)).close()

    asyncio.run(prepare())
    return cfg, path, dsn


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--batch-size", type=int, default=500, help="events per Kafka message (both sides)")
    ap.add_argument("--days", type=int, default=90)
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
            f.write(orjson.dumps({"timestamp": e.timestamp, "user_id": e.user_id, "backend_name": e.backend_name,
                                  "path": "/" + e.path, "operation": e.operation, "bytes_read": e.bytes_read,
                                  "bytes_written": e.bytes_written, "count": e.count, "cache_hit": e.cache_hit,
                                  "node_host": e.node_host, "latency_ms": 1.0, "error": None}) + b"\n")
    print(f"{len(events):,} events, log {log.stat().st_size / 2**20:.0f} MiB", flush=True)
    dbs = []
    try:
        # The backfill, with the worker applying while it publishes.
        name = f"wdbf_{run}"
        dbs.append(name)
        cfg, path, dsn = fresh(st, base, name, tmp)
        messages = math.ceil(len(events) / args.batch_size)
        published: dict[str, float] = {}

        def importer() -> None:
            t = time.monotonic()
            s = asyncio.run(backfill(cfg, [str(log)], batch_size=args.batch_size))
            published["seconds"], published["imported"] = time.monotonic() - t, s.imported

        t0 = time.monotonic()
        th = threading.Thread(target=importer)
        th.start()
        busy, total, rss = run_until([exe, "streams", "worker", "--loglevel", "warning"],
                                     {"WARPDRIVE_CONFIG": str(path)}, dsn, cfg.streams.app_id,
                                     ACCESS.full_name(cfg.kafka), messages, tmp / "backfill-worker.log", 1800)
        e2e = time.monotonic() - t0
        th.join()
        assert published["imported"] == len(events), published
        n = len(events)
        print(f"machine: {platform.node()} {psutil.cpu_count()} cores, {psutil.virtual_memory().total >> 30} GiB; "
              f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"backfill import (file -> Kafka): {n:,} events in {published['seconds']:.1f}s: "
              f"{n / published['seconds']:,.0f} events/s")
        print(f"backfill end to end (file -> Kafka -> worker -> visible): {e2e:.1f}s incl. worker start: "
              f"{n / e2e:,.0f} events/s; {busy:.1f}s after the worker's first commit: {n / busy:,.0f} events/s; "
              f"worker peak RSS {rss / 2**20:.0f} MiB", flush=True)

        # The peer: the same events as agent batches, pre-produced, applied by the same worker.
        name = f"wdbp_{run}"
        dbs.append(name)
        pcfg, ppath, pdsn = fresh(st, base, name, tmp)
        asyncio.run(produce(pcfg, ACCESS.full_name(pcfg.kafka), [(k.encode(), encode_batch(b)) for k, b in msgs]))
        p_busy, _, p_rss = run_until([exe, "streams", "worker", "--loglevel", "warning"],
                                     {"WARPDRIVE_CONFIG": str(ppath)}, pdsn, pcfg.streams.app_id,
                                     ACCESS.full_name(pcfg.kafka), len(msgs), tmp / "peer-worker.log", 1800)

        print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"peer, streams ingest of the same events as agent batches: {p_busy:.1f}s after first commit: "
              f"{n / p_busy:,.0f} events/s; worker peak RSS {p_rss / 2**20:.0f} MiB")
        print(f"ratio backfill/peer (after first commit): {p_busy / busy:.2f}x")
    finally:
        for name in dbs:
            asyncio.run(drop_database(base, name))


if __name__ == "__main__":
    main()
