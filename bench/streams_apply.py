"""The stream workers' batch functions alone, in process: records/s applied into PostgreSQL without Kafka,
with and without the directory tree (issue 9: the tree's extra ingest cost), same run, same data.

Two workloads, each applied in transactions of ``--batch-records`` records as the worker does:
- ``listing``: a first crawl of ``--files`` files (1,000 per message, 100 per directory, 3 levels), then
  the same crawl again unchanged (a periodic re-crawl), then its complete finish marker;
- ``access``: ``--records`` AccessEvents from ``bench/streams_ingest.py``'s generator, applied after the
  listing so per-file last access, owners and tree activity move for real.

Prints wall time, the worker's CPU time and the PostgreSQL backend's CPU time per phase: on a shared
machine the CPU seconds are the steadier figure.

    .venv/bin/python bench/streams_apply.py --stack /tmp/wds1 --files 200000 --records 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import asyncpg

sys.path.insert(0, str(Path(__file__).parent))
from streams_ingest import generate  # noqa: E402

from warpdrive.schemas import config as wconfig  # noqa: E402
from warpdrive.schemas.db import create_database, drop_database, migrate, resolve_dsn  # noqa: E402
from warpdrive.schemas.records import CrawlMarker, ListingEvent, encode_batch, utc_now  # noqa: E402
from warpdrive.streams import rollups  # noqa: E402
from warpdrive.streams.access import apply_access  # noqa: E402
from warpdrive.streams.listing import apply_listing  # noqa: E402
from warpdrive.streams.offsets import Msg  # noqa: E402
from warpdrive.streams.rollups import Deltas, write_deltas  # noqa: E402


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a local PostgreSQL backend process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listing_messages(files: int, crawl_id: str, ts: str) -> list[Msg]:
    out = [encode_batch([CrawlMarker(crawl_id, "local", "start", ts)])]
    for i in range(0, files, 1000):
        out.append(
            encode_batch(
                [
                    ListingEvent(
                        crawl_id,
                        "local",
                        f"proj{j // 100_000}/run{j // 1000 % 100:03d}/part{j // 100 % 10}/f{j:07d}.bin",
                        j % 4096,
                        ts,
                        None,
                        0,
                        0,
                        "root",
                        ts,
                    )
                    for j in range(i, min(files, i + 1000))
                ]
            )
        )
    return [Msg("listing", 0, n, b"local", v) for n, v in enumerate(out)]


def finish_message(crawl_id: str, files: int, offset: int) -> Msg:
    return Msg(
        "listing",
        0,
        offset,
        b"local",
        encode_batch([CrawlMarker(crawl_id, "local", "finish", utc_now(), files, 0, 0, True)]),
    )


async def run(dsn: str, args: argparse.Namespace, tree: bool) -> list[tuple[str, int, float, float, float]]:
    conn = await asyncpg.connect(dsn)
    await migrate(conn)
    pid = conn.get_server_pid()
    if not tree:
        # The same batches, with the tree's folding and writes left out (everything else unchanged).
        async def no_tree(c: asyncpg.Connection, t: Any) -> None:
            return None

        rollups.write_tree = no_tree  # type: ignore[assignment]
    results = []

    async def phase(name: str, msgs: list[Msg], per_batch: int, fn: Callable[..., Awaitable[Any]], n: int) -> None:
        t0, c0, s0 = time.perf_counter(), time.process_time(), server_cpu(pid)
        for i in range(0, len(msgs), per_batch):
            async with conn.transaction():
                d = Deltas({})
                if not tree:
                    d.tree.add_parts = lambda *a: None  # type: ignore[method-assign]  # every file's fold
                await fn(conn, "bench", msgs[i : i + per_batch], {}, d)
                await write_deltas(conn, d)
        results.append((name, n, time.perf_counter() - t0, time.process_time() - c0, server_cpu(pid) - s0))

    per_msg_batch = max(1, args.batch_records // 1000)
    ts = utc_now()  # the files' times: the same in both crawls
    first = listing_messages(args.files, "c1", ts)
    await phase("listing: first crawl (all new)", first, per_msg_batch, apply_listing, args.files)
    again = [
        Msg(m.topic, m.partition, m.offset + len(first) + 1, m.key, m.value)
        for m in listing_messages(args.files, "c2", ts)
    ]
    await phase("listing: re-crawl (all unchanged)", again, per_msg_batch, apply_listing, args.files)
    fin = [finish_message("c2", args.files, again[-1].offset + 1)]
    await phase("listing: complete finish marker", fin, 1, apply_listing, args.files)
    access = [
        Msg("access", 0, n, k.encode(), encode_batch(b)) for n, (k, b) in enumerate(generate(args.records, 100, 7))
    ]
    await phase("access events", access, max(1, args.batch_records // 100), apply_access, args.records)
    await conn.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch-records", type=int, default=20_000, help="records per transaction")
    args = ap.parse_args()
    cfg = wconfig.load(Path(args.stack) / "warpdrive.toml")
    base = resolve_dsn(cfg)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    figures: dict[bool, list] = {}
    for tree in (True, False):  # without last: it patches the tree out for the rest of the process
        name = f"bench_apply_{uuid.uuid4().hex[:8]}"
        dsn = asyncio.run(create_database(base, name))
        try:
            figures[tree] = asyncio.run(run(dsn, args, tree))
        finally:
            asyncio.run(drop_database(base, name))
    print(
        f"{'phase':36s} {'records':>9s} {'with tree/s':>12s} {'without/s':>10s} {'ratio':>6s}"
        f"   worker cpu µs/rec (with/without)   postgres cpu µs/rec (with/without)"
    )
    for (name, n, wall, cpu, pg), (_, _, wall2, cpu2, pg2) in zip(figures[True], figures[False]):
        print(
            f"{name:36s} {n:9,d} {n / wall:12,.0f} {n / wall2:10,.0f} {wall2 / wall:6.2f}"
            f"   {cpu / n * 1e6:8.1f} / {cpu2 / n * 1e6:<8.1f}             {pg / n * 1e6:8.1f} / {pg2 / n * 1e6:<8.1f}"
        )


if __name__ == "__main__":
    main()
