"""Where a listing batch's time goes, statement by statement: a first crawl of ``--files`` files, then the same
crawl again unchanged, applied in process by the listing batch functions (as ``bench/streams_apply.py``, tree
kept), with PostgreSQL's CPU and the wall time of every statement the worker sends, per file.

    .venv/bin/python bench/listing_statements.py --stack /tmp/wds1 --files 300000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))
from streams_apply import listing_messages, server_cpu  # noqa: E402

from warpdrive.schemas import config as wconfig  # noqa: E402
from warpdrive.schemas.db import create_database, drop_database, migrate, resolve_dsn  # noqa: E402
from warpdrive.schemas.records import utc_now  # noqa: E402
from warpdrive.streams.listing import apply_listing  # noqa: E402
from warpdrive.streams.rollups import Deltas, write_deltas  # noqa: E402

TIMED = ("execute", "fetch", "fetchrow", "fetchval", "copy_records_to_table")


class Timed:
    """The worker's connection, timing each statement (PostgreSQL CPU from /proc, wall) under its first words."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.pid = conn, conn.get_server_pid()
        self.stats: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])

    def __getattr__(self, name: str) -> Any:
        f = getattr(self.conn, name)
        if name not in TIMED:
            return f

        async def timed(query: str, *args: Any, **kw: Any) -> Any:
            t0, c0 = time.perf_counter(), server_cpu(self.pid)
            out = await f(query, *args, **kw)
            s = self.stats[f"{name}: {' '.join(str(query).split())[:70]}"]
            s[0] += 1
            s[1] += time.perf_counter() - t0
            s[2] += server_cpu(self.pid) - c0
            return out

        return timed


async def run(dsn: str, files: int, per_batch: int) -> None:
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    ts = utc_now()
    for crawl_id, label in (("c1", "first crawl (all new)"), ("c2", "re-crawl (all unchanged)")):
        timed = Timed(conn)
        msgs = listing_messages(files, crawl_id, ts)
        t0, p0, s0 = time.perf_counter(), time.process_time(), server_cpu(timed.pid)
        for i in range(0, len(msgs), per_batch):
            async with conn.transaction():
                d = Deltas({})
                await apply_listing(timed, "bench", msgs[i : i + per_batch], {}, d)
                await write_deltas(timed, d)
        wall, cpu, pg = time.perf_counter() - t0, time.process_time() - p0, server_cpu(timed.pid) - s0
        print(
            f"{label}: {files / wall:,.0f} files/s; worker CPU {cpu / files * 1e6:.1f} µs/file, PostgreSQL CPU"
            f" {pg / files * 1e6:.1f} µs/file; load {os.getloadavg()[0]:.1f}"
        )
        for key, (n, w, c) in sorted(timed.stats.items(), key=lambda kv: -kv[1][2]):
            if c / files * 1e6 >= 0.05:
                print(f"   {c / files * 1e6:6.2f} µs/file PostgreSQL CPU, {w / files * 1e6:6.2f} wall, x{n:<4} {key}")
    await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--files", type=int, default=300_000)
    ap.add_argument("--batch-records", type=int, default=20_000, help="files per transaction")
    args = ap.parse_args()
    base = resolve_dsn(wconfig.load(Path(args.stack) / "warpdrive.toml"))
    name = f"bench_stmts_{uuid.uuid4().hex[:8]}"
    dsn = asyncio.run(create_database(base, name))
    try:
        asyncio.run(run(dsn, args.files, max(1, args.batch_records // 1000)))
    finally:
        asyncio.run(drop_database(base, name))


if __name__ == "__main__":
    main()
