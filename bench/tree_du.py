"""`du -s` on a local tree of 1M files against the same answer from ``GET /api/v1/tree`` (issue 9).

Generates a tree of small files at realistic depths under --dir (kept for reruns), times `du -s` /
`du -sb` and a `find` count on it (warm cache), then indexes it into a fresh database on a running
stack and asks the API for the root and a few directories: totals must equal du's, and the API's
latency is compared with du's as a ratio.

Indexing: ``--load crawl`` runs the real path (``warpdrive crawler run --once`` publishing to Kafka,
a ``warpdrive streams worker`` applying it, tree rollups kept by the worker); ``--load scan`` walks the
tree with os.scandir, COPYs the rows into ``storage_files`` and builds the rollups in PostgreSQL with
bench/api_latency.py's SQL (the same tables the workers keep), for when the crawl path is too slow.

    .venv/bin/python bench/tree_du.py --stack /tmp/wds1 --files 1000000 --load crawl
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

import trees
from api_latency import ROLLUPS, TOKEN, free_port, serve
from warpdrive.compose.stack import Stack
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.db import create_database, database_dsn, drop_database, migrate
from warpdrive.schemas.topics import ensure_topics
from warpdrive.schemas import config as wconfig

PER_DIR = 50


def rel_dir(g: int) -> str:
    """Directory of file group ``g``: 1 to 6 levels, like project/user/experiment/run/checkpoint/rank trees."""
    h = (g * 2654435761) % 2**32
    parts = [
        f"proj{g % 10}",
        f"user{g // 10 % 20}",
        f"exp{g // 200 % 10}",
        f"run{h >> 3 & 15}",
        f"ckpt{h >> 7 & 7}",
        f"rank{h >> 10 & 31}",
    ]
    return "/".join(parts[: 1 + h % 6])


def generate(root: Path, n: int) -> None:
    trees.generate(root, n, PER_DIR, rel_dir, lambda j: j * 7919 % 4096)


def timed(cmd: list[str]) -> tuple[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return out, time.perf_counter() - t0


def du_figures(root: Path, quiet: bool = False) -> dict[str, float]:
    timed(["du", "-s", str(root)])  # warm the dentry and inode caches
    out, t_du = timed(["du", "-s", "-B1", str(root)])
    out_b, t_dub = timed(["du", "-sb", str(root)])
    listing, t_find = timed(["find", str(root), "-printf", "%y %s\n"])
    files = dirs = file_bytes = dir_bytes = 0
    for line in listing.splitlines():
        kind, size = line.split()
        if kind == "f":
            files, file_bytes = files + 1, file_bytes + int(size)
        elif kind == "d":
            dirs, dir_bytes = dirs + 1, dir_bytes + int(size)
    apparent = int(out_b.split()[0])
    if quiet:
        return {"files": files, "file_bytes": file_bytes}
    print(f"du -s -B1 {root}: {int(out.split()[0]):,} bytes on disk in {t_du * 1000:.0f} ms")
    print(
        f"du -sb {root}: {apparent:,} apparent bytes in {t_dub * 1000:.0f} ms"
        f" = files {file_bytes:,} + {dirs:,} directories {dir_bytes:,}: {apparent == file_bytes + dir_bytes}"
    )
    print(f"find -printf: {files:,} files in {t_find * 1000:.0f} ms")
    return {
        "du_s": t_du,
        "du_sb": t_dub,
        "apparent": apparent,
        "files": files,
        "file_bytes": file_bytes,
        "dirs": dirs,
        "dir_bytes": dir_bytes,
    }


def scan_rows(root: Path):
    stack = [root]
    base = len(str(root)) + 1
    while stack:
        for e in os.scandir(stack.pop()):
            if e.is_dir(follow_symlinks=False):
                stack.append(Path(e.path))
            elif e.is_file(follow_symlinks=False):
                st = e.stat(follow_symlinks=False)
                yield (
                    "local",
                    e.path[base:],
                    st.st_size,
                    datetime.fromtimestamp(st.st_mtime, UTC),
                    st.st_uid,
                    st.st_gid,
                    "unowned",
                    "none",
                    "scan",
                )


async def load_scan(dsn: str, root: Path) -> None:
    conn = await asyncpg.connect(dsn, command_timeout=3600, server_settings={"timezone": "UTC"})
    try:
        await conn.execute("SET work_mem = '256MB'")
        t0 = time.perf_counter()
        await conn.copy_records_to_table(
            "storage_files",
            records=scan_rows(root),
            columns=(
                "backend_name",
                "path",
                "size_bytes",
                "last_modified",
                "owner_uid",
                "owner_gid",
                "owner_team",
                "owner_source",
                "crawl_id",
            ),
        )
        for what, sql in ROLLUPS:
            if what in ("usage_rollup", "tree"):
                await conn.execute(sql)
        await conn.execute("ANALYZE")
        print(f"indexed by os.scandir walk + COPY + rollups in PostgreSQL in {time.perf_counter() - t0:.0f}s")
    finally:
        await conn.close()


def load_crawl(cfg_path: Path, dsn: str, n: int, log: Path) -> None:
    exe = str(Path(sys.executable).with_name("warpdrive"))
    env = {**os.environ, "WARPDRIVE_CONFIG": str(cfg_path)}
    worker = subprocess.Popen(
        [exe, "streams", "worker"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        time.sleep(8)  # let the worker join its group
        t0 = time.perf_counter()
        out = subprocess.run(
            [exe, "crawler", "run", "--once", "--backend", "local"], env=env, capture_output=True, text=True, check=True
        ).stdout
        crawl_id = out.rsplit("(crawl ", 1)[1].split(")")[0]

        async def status() -> tuple[str | None, int]:
            conn = await asyncpg.connect(dsn)
            try:
                return (
                    await conn.fetchval("SELECT status FROM crawls WHERE crawl_id = $1", crawl_id),
                    await conn.fetchval("SELECT COALESCE(sum(file_count), 0) FROM tree_dirs WHERE dir = ''"),
                )
            finally:
                await conn.close()

        while True:
            st, rows = asyncio.run(status())
            if st == "complete" and rows >= n:
                break
            if worker.poll() is not None:
                raise SystemExit(f"the stream worker exited; see {log}")
            time.sleep(1)
        print(
            f"indexed by the real crawl (crawler → Kafka → streams worker, tree kept by the worker) in"
            f" {time.perf_counter() - t0:.0f}s"
        )
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)


async def ask(base: str, prefixes: list[str], requests: int) -> dict[str, dict]:
    out = {}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
        for p in prefixes:
            url = f"/api/v1/tree?backend=local&prefix={p}"
            body = (await client.get(url)).raise_for_status().json()
            lat = []
            for _ in range(requests):
                t0 = time.perf_counter()
                (await client.get(url)).raise_for_status()
                lat.append(time.perf_counter() - t0)
            lat.sort()
            out[p] = {
                "self": body["self"],
                "children": body["total"],
                "p50": statistics.median(lat) * 1000,
                "p95": lat[int(len(lat) * 0.95) - 1] * 1000,
            }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stack", default=os.environ.get("WARPDRIVE_TEST_STACK", "/tmp/wds1"), help="state dir of a running stack"
    )
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/dutree", help="where the tree is generated (kept for reruns)")
    ap.add_argument("--load", choices=("crawl", "scan"), default="crawl")
    ap.add_argument("--requests", type=int, default=100)
    args = ap.parse_args()

    root = Path(args.dir)
    stack = Stack(Path(args.stack))
    run_id = uuid.uuid4().hex[:8]
    base = stack.postgres_dsn()
    db = f"wdbench_du_{run_id}"
    dsn = database_dsn(base, db)
    print(
        f"machine: {platform.node()} {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};"
        f" {args.files:,} files of 0-4 KiB, {PER_DIR} per directory, 1-6 levels deep; load average"
        f" {os.getloadavg()[0]:.1f}"
    )
    generate(root, args.files)
    du = du_figures(root)

    raw = stack.config_dict(
        {
            "kafka": {"topic_prefix": f"bench{run_id}."},
            "postgres": {"dsn": dsn, "pool_max": 10},
            "streams": {"app_id": f"wd-bench-{run_id}", "batch_within": 0.2},
            "api": {"tokens": [{"token": TOKEN, "role": "viewer", "name": "bench"}]},
        }
    )
    raw["backends"] = [{"name": "local", "url": f"file://{root}"}]
    cfg_path = Path(tempfile.mkdtemp(prefix="wd-du-")) / "du.toml"
    cfg_path.write_text(dump_toml(raw))
    cfg = wconfig.load(cfg_path)
    asyncio.run(create_database(base, db))
    proc = None
    try:

        async def prepare() -> None:
            await ensure_topics(cfg.kafka)
            conn = await asyncpg.connect(dsn)
            await migrate(conn)
            await conn.close()

        asyncio.run(prepare())
        if args.load == "crawl":
            load_crawl(cfg_path, dsn, args.files, Path(f"/tmp/wdbench-du-{run_id}-streams.log"))
        else:
            asyncio.run(load_scan(dsn, root))
        port = free_port()
        proc = serve(dsn, stack, port, Path(f"/tmp/wdbench-du-{run_id}-api.log"))
        res = asyncio.run(ask(f"http://127.0.0.1:{port}", ["", "proj3", "proj3/user13/exp0"], args.requests))
        r = res[""]
        print(
            f"API /tree root: {r['self']['file_count']:,} files, {r['self']['total_bytes']:,} bytes;"
            f" p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms ({args.requests} sequential requests)"
        )
        ok = r["self"]["file_count"] == du["files"] and r["self"]["total_bytes"] == du["file_bytes"]
        print(
            f"equal to du: {ok} (du -sb {du['apparent']:,} = files {du['file_bytes']:,} + {du['dirs']:,} directories"
            f" {du['dir_bytes']:,} B; the index counts files only)"
        )
        print(
            f"ratio: du -s {du['du_s'] * 1000:.0f} ms / API p50 {r['p50']:.1f} ms = {du['du_s'] * 1000 / r['p50']:,.0f}×"
        )
        for p in ("proj3", "proj3/user13/exp0"):
            _, t = timed(["du", "-s", str(root / p)])
            sub = du_figures(root / p, quiet=True)
            s = res[p]["self"]
            print(
                f"  {p}: API {s['file_count']:,} files {s['total_bytes']:,} B (p50 {res[p]['p50']:.1f} ms); du -s in"
                f" {t * 1000:.0f} ms; find: {sub['files']:,} files {sub['file_bytes']:,} B; equal:"
                f" {(s['file_count'], s['total_bytes']) == (sub['files'], sub['file_bytes'])}"
            )
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        asyncio.run(drop_database(base, db))
        shutil.rmtree(cfg_path.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
