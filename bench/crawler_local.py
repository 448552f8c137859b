"""Crawler throughput: a generated tree of small local files, listed alone, published to Kafka, and
indexed end to end (listing → Kafka → stream worker → PostgreSQL rows visible), beside peers measured
in the same run on the same (warm) tree: `find -printf` with sizes and times, a plain Python os.scandir
walk with a stat per file, fsspec's local ``find(detail=True)`` and `rclone lsf -R` (when installed). Then files/s against the S3 server.

    .venv/bin/python bench/crawler_local.py --stack /tmp/wds1 --files 1000000 --s3-files 10000

Uses a running stack (its Kafka, PostgreSQL and S3 server) with a private database and topic prefix,
dropped at the end. The tree is generated under --dir (reused when it already holds --files files).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg

import trees
from warpdrive.compose.stack import Stack
from warpdrive.crawler.crawl import crawl, listing
from warpdrive.crawler.local import WalkStats
from warpdrive.crawler.publish import Publisher
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.storage import open_fs
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.db import create_database, database_dsn, drop_database, migrate
from warpdrive.schemas.records import encode_batch
from warpdrive.schemas.topics import ensure_topics
from warpdrive.schemas.trash import trash_root

PER_DIR = 100


def generate(root: Path, n: int) -> None:
    trees.generate(root, n, PER_DIR, lambda g: f"t{g // 100:03}/d{g:06}", lambda j: j % 4096)


def timed(label: str, n_expected: int, fn) -> float:
    t0 = time.perf_counter()
    n = fn()
    dt = time.perf_counter() - t0
    assert n == n_expected, f"{label}: saw {n} files, expected {n_expected}"
    print(f"  {label:44} {n / dt:>10,.0f} files/s  ({dt:.2f}s)")
    return n / dt


def find_printf(root: Path) -> int:
    out = subprocess.run(
        ["find", str(root), "-type", "f", "-printf", "%P\t%s\t%T@\n"], capture_output=True, check=True
    ).stdout
    return out.count(b"\n")


def rclone_lsf(root: Path) -> int:
    out = subprocess.run(
        ["rclone", "lsf", "-R", "--files-only", "--format", "pst", str(root)], capture_output=True, check=True
    ).stdout
    return out.count(b"\n")


def scandir_walk(root: Path) -> int:
    n, stack = 0, [str(root)]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=False):
                    e.stat(follow_symlinks=False)
                    n += 1
    return n


def fsspec_find(root: Path) -> int:
    import fsspec

    return len(fsspec.filesystem("file").find(str(root), detail=True))


def crawler_listing(cfg: wconfig.Config, name: str, encode: bool) -> int:
    """The crawler's own listing (ListingEvents in batches, orjson-encoded as for Kafka), no Kafka."""

    async def run() -> int:
        n = 0
        async for batch in listing(
            cfg.backend(name),
            "",
            "bench",
            cfg.crawler.batch_size,
            cfg.crawler.list_concurrency,
            WalkStats(),
            trash_root(cfg),
        ):
            if encode:
                encode_batch(batch)
            n += len(batch)
        return n

    return asyncio.run(run())


def crawl_to_kafka(cfg: wconfig.Config, dsn: str, name: str) -> tuple[int, str]:
    async def run() -> tuple[int, str]:
        async with Publisher(cfg.kafka) as pub:
            r = await crawl(cfg, cfg.backend(name), pub, dsn)
        assert r.status == "complete", r
        return r.files, r.crawl_id

    return asyncio.run(run())


def end_to_end(cfg: wconfig.Config, config_path: Path, dsn: str, label: str, log: Path) -> float:
    """Crawl with the stream worker running; time until the crawl is complete in PostgreSQL."""
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("warpdrive")), "streams", "worker"],
        env={**os.environ, "WARPDRIVE_CONFIG": str(config_path)},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        async def applied(crawl_id: str) -> tuple[str | None, int]:
            conn = await asyncpg.connect(dsn)
            try:
                status = await conn.fetchval("SELECT status FROM crawls WHERE crawl_id = $1", crawl_id)
                rows = await conn.fetchval("SELECT count(*) FROM storage_files WHERE crawl_id = $1", crawl_id)
                return status, rows
            finally:
                await conn.close()

        time.sleep(8)  # let the worker join its group before the clock starts
        t0 = time.perf_counter()
        # The real command, under time(1) for its peak memory alone.
        p = subprocess.run(
            [
                "/usr/bin/time",
                "-f",
                "maxrss_kb=%M",
                str(Path(sys.executable).with_name("warpdrive")),
                "crawler",
                "run",
                "--once",
                "--backend",
                "local",
            ],
            env={**os.environ, "WARPDRIVE_CONFIG": str(config_path)},
            capture_output=True,
            text=True,
            check=True,
        )
        out = p.stdout
        t_pub = time.perf_counter() - t0
        rss = int(p.stderr.rsplit("maxrss_kb=", 1)[1].split()[0]) / 1024
        files, crawl_id = int(out.split(", ")[1].split()[0]), out.rsplit("(crawl ", 1)[1].split(")")[0]
        while True:
            status, rows = asyncio.run(applied(crawl_id))
            if status == "complete" and rows >= files:
                break
            if worker.poll() is not None:
                raise SystemExit(f"the stream worker exited; see {log}")
            time.sleep(0.2)
        dt = time.perf_counter() - t0
        print(
            f"  {'end to end, ' + label:44} {files / dt:>10,.0f} files/s  ({dt:.2f}s;"
            f" `crawler run --once` took {t_pub:.2f}s, max RSS {rss:.0f} MiB; {rows:,} rows)"
        )
        return files / dt
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)


def s3_bench(cfg: wconfig.Config, dsn: str, n: int) -> None:
    fs = open_fs(cfg.backend("s3"))
    root = cfg.backend("s3").url[len("s3://") :]
    if not fs.exists(root.split("/")[0]):
        fs.mkdir(root.split("/")[0])
    t0 = time.perf_counter()
    fs.pipe({f"{root}/p{i // 100:04}/o{i:06}": b"y" * (i % 1000) for i in range(n)})
    print(f"uploaded {n:,} objects to the S3 server in {time.perf_counter() - t0:.0f}s")
    print(f"S3 server (moto), {n:,} objects in {n // 100} prefixes:")
    timed("crawler listing (concurrent prefixes)", n, lambda: crawler_listing(cfg, "s3", True))
    timed("crawler → Kafka (acked)", n, lambda: crawl_to_kafka(cfg, dsn, "s3")[0])
    fs.invalidate_cache()
    timed("peer: s3fs find(detail=True)", n, lambda: len(fs.find(root, detail=True)))
    fs.rm(root, recursive=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stack", default=os.environ.get("WARPDRIVE_TEST_STACK", "/tmp/wds1"), help="state dir of a running stack"
    )
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/wdbench-crawl-tree", help="where the tree is generated (kept for reruns)")
    ap.add_argument("--s3-files", type=int, default=10_000)
    args = ap.parse_args()

    stack = Stack(Path(args.stack))
    run_id = uuid.uuid4().hex[:8]
    base = stack.postgres_dsn()
    root = Path(args.dir)

    def make_config(name: str) -> tuple[wconfig.Config, Path, str, str]:
        """A private database and topic prefix: the end-to-end runs start from an empty index."""
        db = f"wdbench_crawl_{run_id}_{name}"
        dsn = database_dsn(base, db)
        raw = stack.config_dict(
            {
                "kafka": {"topic_prefix": f"bench{run_id}{name}."},
                "postgres": {"dsn": dsn},
                "streams": {"app_id": f"wd-bench-{run_id}-{name}", "batch_within": 0.2},
            }
        )
        raw["backends"] = [
            {"name": "local", "url": f"file://{root}"},
            {**raw["backends"][1], "url": f"s3://wdbench-{run_id}/tree"},
        ]
        path = Path(f"/tmp/wdbench-crawl-{run_id}-{name}.toml")
        path.write_text(dump_toml(raw))
        return wconfig.load(path), path, db, dsn

    cfg, config_path, db, dsn = make_config("a")
    e2e_cfg, e2e_path, e2e_db, e2e_dsn = make_config("e")
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
        f" {args.files:,} files of 0-4 KiB in {args.files // PER_DIR:,} dirs"
    )

    asyncio.run(create_database(base, db))
    asyncio.run(create_database(base, e2e_db))
    try:

        async def prepare() -> None:
            for c, d in ((cfg, dsn), (e2e_cfg, e2e_dsn)):
                await ensure_topics(c.kafka)
                conn = await asyncpg.connect(d)
                await migrate(conn)
                await conn.close()

        asyncio.run(prepare())
        generate(root, args.files)
        find_printf(root)  # warm the dentry and inode caches for every contender alike
        n = args.files
        print("local tree, warm cache:")
        peer_find = timed("peer: find -printf '%P %s %T@'", n, lambda: find_printf(root))
        peer_scandir = timed("peer: Python os.scandir walk + stat", n, lambda: scandir_walk(root))
        peer_fsspec = timed("peer: fsspec local find(detail=True)", n, lambda: fsspec_find(root))
        if shutil.which("rclone"):
            timed("peer: rclone lsf -R (path, size, time)", n, lambda: rclone_lsf(root))
        walk = timed("crawler listing (ListingEvents, encoded)", n, lambda: crawler_listing(cfg, "local", True))
        kafka = timed("crawler → Kafka (acked, batches of 1000)", n, lambda: crawl_to_kafka(cfg, dsn, "local")[0])
        e2e = end_to_end(
            e2e_cfg, e2e_path, e2e_dsn, "first crawl (empty index)", Path(f"/tmp/wdbench-crawl-{run_id}-streams.log")
        )
        again = end_to_end(
            e2e_cfg, e2e_path, e2e_dsn, "re-crawl (nothing changed)", Path(f"/tmp/wdbench-crawl-{run_id}-streams2.log")
        )
        print(
            f"ratios: listing/find {walk / peer_find:.2f}, listing/scandir {walk / peer_scandir:.2f},"
            f" listing/fsspec {walk / peer_fsspec:.2f}, kafka/listing {kafka / walk:.2f}, end-to-end/listing"
            f" {e2e / walk:.2f} (first crawl), {again / walk:.2f} (re-crawl)"
        )
        s3_bench(cfg, dsn, args.s3_files)
    finally:
        for d, p in ((db, config_path), (e2e_db, e2e_path)):
            asyncio.run(drop_database(base, d))
            p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
