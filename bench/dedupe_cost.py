"""What applying each live access event once per (producer, seq) costs (streams/dedupe.py): the access batch
function alone, in process, on the same events with ``producer`` set (as agents send them) and without (as
before), each into a fresh database, in alternating order, same run.

    .venv/bin/python bench/dedupe_cost.py --stack /tmp/wds1 --records 200000

Prints records/s, the worker's and the PostgreSQL backend's CPU µs per record, and the ratio without/with.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))
from streams_apply import server_cpu  # noqa: E402
from streams_ingest import generate  # noqa: E402

from warpdrive.schemas import config as wconfig  # noqa: E402
from warpdrive.schemas.db import create_database, drop_database, migrate, resolve_dsn  # noqa: E402
from warpdrive.schemas.records import encode_batch  # noqa: E402
from warpdrive.streams.access import apply_access  # noqa: E402
from warpdrive.streams.offsets import Msg  # noqa: E402
from warpdrive.streams.rollups import Deltas, write_deltas  # noqa: E402


def messages(records: int, producer: bool) -> list[Msg]:
    out = []
    for n, (node, batch) in enumerate(generate(records, 100, 7)):
        if producer:
            batch = [dataclasses.replace(e, producer=f"{node}/b") for e in batch]
        out.append(Msg("access", 0, n, node.encode(), encode_batch(batch)))
    return out


async def run(dsn: str, msgs: list[Msg], per_batch: int) -> tuple[float, float, float]:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
        pid = conn.get_server_pid()
        t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu(pid)
        for i in range(0, len(msgs), per_batch):
            async with conn.transaction():
                d = Deltas({})
                await apply_access(conn, "bench", msgs[i : i + per_batch], {}, d)
                await write_deltas(conn, d)
        return time.perf_counter() - t0, time.process_time() - c0, server_cpu(pid) - s0
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-records", type=int, default=20_000, help="records per transaction")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    cfg = wconfig.load(Path(args.stack) / "warpdrive.toml")
    base = resolve_dsn(cfg)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
        f" load average {os.getloadavg()[0]:.1f}; {args.records:,} records, {args.batch_records:,} per transaction"
    )
    data = {p: messages(args.records, p) for p in (False, True)}
    best: dict[bool, tuple[float, float, float]] = {}
    for r in range(args.rounds):
        for producer in (False, True) if r % 2 == 0 else (True, False):
            name = f"bench_dedupe_{uuid.uuid4().hex[:8]}"
            dsn = asyncio.run(create_database(base, name))
            try:
                got = asyncio.run(run(dsn, data[producer], max(1, args.batch_records // 100)))
            finally:
                asyncio.run(drop_database(base, name))
            best[producer] = min(best.get(producer, got), got)
    n = args.records
    for producer, label in ((False, "without producer (before)"), (True, "with producer (deduplicated)")):
        wall, cpu, pg = best[producer]
        print(
            f"{label:30s} {n / wall:10,.0f} records/s   worker cpu {cpu / n * 1e6:6.1f} µs/rec"
            f"   postgres cpu {pg / n * 1e6:6.1f} µs/rec"
        )
    print(f"ratio with/without (records/s, best of {args.rounds}): {best[False][0] / best[True][0]:.2f}")


if __name__ == "__main__":
    main()
