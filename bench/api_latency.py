"""Latency of every GET of the control-plane API over a large generated index.

Generates ``--files`` rows of ``storage_files`` and ``--access`` rows of ``access_log`` (plus the rollups
the stream workers would keep: usage_rollup, access_daily, growth_daily, …) in a fresh database on a
running stack's PostgreSQL, serves the API as a real ``warpdrive api serve`` process, and measures
p50/p95 of each GET with ``--concurrency`` concurrent clients. As a peer in the same run it times the
spec's join-based usage and stale queries (M4.2's Go handlers) against the same data.

    .venv/bin/python bench/api_latency.py --stack /tmp/wds1 --name wdbench_10m --generate-only   # 10M / 50M, ~26 min
    .venv/bin/python bench/api_latency.py --stack /tmp/wds1 --reuse wdbench_10m --concurrency 4

The database is dropped at the end (``--keep`` or ``--generate-only`` keeps it, ``--reuse NAME`` measures an
existing one, applying any newer migration first).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

from warpdrive.compose.stack import Stack
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.db import create_database, database_dsn, drop_database, migrate

TOKEN = "bench-viewer-token-0123456789"
BACKENDS = ("local", "s3", "gcs")
TEAMS = 20
USERS = 500
WIDE = "datasets/samples"  # issue 9's wide directory: one child directory per 10 files, 100k at 10M files

# Tables written in bulk: UNLOGGED while loading (no WAL for tens of GB; reads are the same), their indexes and
# unique constraints dropped first and built once afterwards (several times faster than per row).
LOADED = (
    "storage_files",
    "access_log",
    "access_daily",
    "user_files",
    "user_reads",
    "file_activity",
    "usage_rollup",
    "growth_daily",
    "tree_dirs",
    "tree_teams",
    "tree_activity",
    "tree_inactive",
    "owner_inactive",
)
# The two ~50M-row tables: their keys and indexes are built on one connection, everything else's on the other.
BIG = ("access_log", "user_files")
SIDE_A = ("access_daily", "tree")

# Everything is generated server-side from generate_series: no rows cross the wire. Files come in directory
# groups (100 files; 10 in the wide directory) whose attributes are hashes of the group, as a crawl of real
# trees sees them: a run folder written in the same week, owned by one user, read by the same jobs.
# Depths 1–6 below a backend's root; {lo}/{hi} split the work between two connections.
FILES = """
    INSERT INTO storage_files (id, backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user,
                               owner_source, deleted_at, first_seen, last_crawled, crawl_id)
    SELECT i + 1, b, path, size, mtime, atime,
           CASE WHEN unowned THEN 'unowned' ELSE 'team' || (u % {teams}) END,
           CASE WHEN unowned THEN NULL ELSE 'user' || u END,
           CASE WHEN unowned THEN 'none' ELSE 'posix' END,
           CASE WHEN i % 50 = 0 THEN now() - make_interval(days => i % 30) END, mtime, now(), 'bench'
    FROM (
        SELECT i, g, wide, b, path, (1024 * power(2, (hashint4(i) & 2147483647) % 25000000 / 1000000.0))::bigint AS size,
               now() - make_interval(days => h2 % 730, mins => (i % 100) * 7) AS mtime,
               CASE WHEN h4 % 10 <> 0 AND hashint4(i + 3000017) & 3 <> 0
                    THEN date_trunc('day', now()) - make_interval(days => h4 / 10 % 400 + i % 5, secs => (i * 37) % 86400)
               END AS atime,
               h3 % {users} AS u, h3 / {users} % 20 = 0 AS unowned
        FROM (
            SELECT i, g, wide, CASE WHEN wide THEN 's3' ELSE (ARRAY['local','s3','gcs'])[1 + g % 3] END AS b,
                   CASE WHEN wide THEN '{wide}/s' || (g - 10000000) || '/f' || i || '.npz'
                        ELSE array_to_string((ARRAY['proj' || (g / 3 % 20), 'grp' || (g / 60 % 10), 'exp' || (g / 600 % 10),
                                                    'run' || (h % 16), 'ckpt' || (h / 16 % 8), 'rank' || (h / 128 % 32)])
                                             [1:1 + h / 4096 % 6], '/') || '/f' || i || '.dat' END AS path,
                   hashint4(g + 1000003) & 2147483647 AS h2, hashint4(g + 2000003) & 2147483647 AS h3,
                   hashint4(g + 4000037) & 2147483647 AS h4
            FROM (SELECT i, wide, CASE WHEN wide THEN 10000000 + (i - {narrow}) / 10 ELSE i / 100 END AS g,
                         hashint4(CASE WHEN wide THEN 0 ELSE i / 100 END) & 2147483647 AS h
                  FROM (SELECT i, i >= {narrow} AS wide FROM generate_series({lo}, {hi} - 1) AS i) s) s
        ) s
    ) s"""

# Per read file, {per_file} rows on average (one per day it was read, by one user), the newest at the file's
# last_access: storage_files.last_access is exactly the max over its access_log rows, as the workers keep it.
ACCESS = """
    INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, last_access, write_count,
                            bytes_written)
    SELECT backend_name, path, 'user' || ((hashint4(id::int) & 2147483647) % {users} + k * 7) % {users},
           (last_access - make_interval(days => k * gap))::date, 1 + (id + k) % 9, size_bytes * (1 + (id + k) % 9),
           last_access - make_interval(days => k * gap), (k = n - 1)::int, CASE WHEN k = n - 1 THEN size_bytes ELSE 0 END
    FROM (SELECT id, backend_name, path, size_bytes, last_access, 1 + (hashint4(id::int + 7) & 2147483647) % 14 AS gap,
                 1 + floor((hashint4(id::int + 4000037) & 2147483647) / 2147483648.0 * (2 * {per_file} - 1))::int AS n
          FROM storage_files WHERE last_access IS NOT NULL AND id % 2 = {half}) f,
         LATERAL generate_series(0, n - 1) AS k"""

# The tree of every backend, every level (max_tree_depth = 0), from the live files of storage_files: files folded
# per directory, team and last-access / last-modified week first, then those few rows spread to every ancestor —
# the rollups as the workers keep them (streams/tree.py; their NEVER bucket, date.min, is -infinity in
# PostgreSQL through asyncpg). Also bench/streams_scale.py's seed and its check.
TREE = """
        CREATE TEMP TABLE leaf AS
        SELECT backend_name AS b, CASE WHEN strpos(path, '/') = 0 THEN '' ELSE left(path, length(path) - strpos(reverse(path), '/')) END AS dir,
               owner_team AS t, COALESCE(date_trunc('week', last_access AT TIME ZONE 'UTC')::date, '-infinity') AS wa,
               COALESCE(date_trunc('week', last_modified AT TIME ZONE 'UTC')::date, '-infinity') AS wm,
               count(*) AS n, sum(size_bytes) AS s
        FROM storage_files WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4, 5;
        CREATE TEMP TABLE anc AS
        SELECT l.b, a.dir, l.t, l.wa, l.wm, l.n, l.s
        FROM leaf l, LATERAL (SELECT '' UNION ALL
                              SELECT array_to_string((string_to_array(l.dir, '/'))[1:k], '/')
                              FROM generate_series(1, cardinality(string_to_array(NULLIF(l.dir, ''), '/'))) k) a(dir);
        INSERT INTO tree_dirs (backend_name, dir, parent, depth, file_count, total_bytes, inactive_bytes)
        SELECT b, dir, CASE WHEN dir = '' THEN NULL WHEN strpos(dir, '/') = 0 THEN ''
                            ELSE left(dir, length(dir) - strpos(reverse(dir), '/')) END,
               CASE WHEN dir = '' THEN 0 ELSE 1 + length(dir) - length(replace(dir, '/', '')) END, sum(n), sum(s),
               COALESCE(sum(s) FILTER (WHERE dir <> '' AND GREATEST(wa, wm) <= (SELECT through FROM tree_stale)), 0)
        FROM anc GROUP BY b, dir;
        INSERT INTO tree_teams SELECT b, dir, t, sum(n), sum(s) FROM anc GROUP BY b, dir, t;
        INSERT INTO tree_activity SELECT b, dir, 'a', wa, sum(n), sum(s) FROM anc GROUP BY b, dir, wa;
        INSERT INTO tree_activity SELECT b, dir, 'm', wm, sum(n), sum(s) FROM anc GROUP BY b, dir, wm;
        -- the stale rule's activity week: the later of the two (a missing one is -infinity)
        INSERT INTO tree_inactive SELECT b, dir, GREATEST(wa, wm), sum(n), sum(s) FROM anc GROUP BY b, dir, GREATEST(wa, wm);
        DROP TABLE leaf, anc"""

# The rollups the workers keep per shard (migration 0057) as several workers leave them: every key in up to 6 shards
# (the default partition count), a row's shard a hash of the path it came from.
SHARD = "(hashtext(path) & 2147483647) % 6"

# The rollups as the stream workers keep them (streams/rollups.py, streams/tree.py, streams/access.py), in order
# (user_reads sums user_files). The ones named in SIDE_A run on one connection, the rest on the other.
ROLLUPS = [
    (
        "access_daily",
        """
        INSERT INTO access_daily (date, backend_name, user_id, shard, read_count, bytes_read, write_count, bytes_written,
                                  files, last_access)
        SELECT date, backend_name, user_id, {shard}, sum(read_count), sum(bytes_read), sum(write_count),
               sum(bytes_written), count(*), max(last_access)
        FROM access_log GROUP BY 1, 2, 3, 4 ORDER BY 1""",
    ),  # day by day, as the workers append it
    (
        "user_files",
        """
        INSERT INTO user_files (user_id, backend_name, path, read_count, bytes_read, write_count, bytes_written,
                                last_access)
        SELECT user_id, backend_name, path, sum(read_count), sum(bytes_read), sum(write_count), sum(bytes_written),
               max(last_access)
        FROM access_log GROUP BY 1, 2, 3""",
    ),
    (
        "user_reads",
        """
        INSERT INTO user_reads (user_id, backend_name, shard, read_count, bytes_read, write_count, bytes_written,
                                files_accessed, last_access)
        SELECT user_id, backend_name, {shard}, sum(read_count), sum(bytes_read), sum(write_count), sum(bytes_written),
               count(*), max(last_access)
        FROM user_files GROUP BY 1, 2, 3""",
    ),
    (
        "file_activity",
        """
        INSERT INTO file_activity (backend_name, path, last_access)
        SELECT backend_name, path, last_access FROM storage_files WHERE last_access IS NOT NULL""",
    ),
    (
        "usage_rollup",
        """
        INSERT INTO usage_rollup (backend_name, owner_team, owner_user, shard, file_count, total_bytes, last_access)
        SELECT backend_name, owner_team, COALESCE(owner_user, ''), {shard}, count(*), sum(size_bytes), max(last_access)
        FROM storage_files WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4""",
    ),
    # The owners' activity weeks (migration 0069): files by owner and week of the later of last access and modification.
    (
        "owner_inactive",
        """
        INSERT INTO owner_inactive (backend_name, owner_team, owner_user, period, shard, file_count, total_bytes)
        SELECT backend_name, owner_team, COALESCE(owner_user, ''),
               COALESCE(date_trunc('week', GREATEST(last_access, last_modified) AT TIME ZONE 'UTC')::date, '0001-01-01'),
               {shard}, count(*), sum(size_bytes)
        FROM storage_files WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4, 5""",
    ),
    # A row per (backend, team) and day the totals changed; here files arrive on their first_seen day.
    (
        "growth_daily",
        """
        INSERT INTO growth_daily (date, backend_name, owner_team, total_bytes, file_count, added_bytes, removed_bytes)
        SELECT d, b, t, sum(s) OVER w, sum(n) OVER w, s, 0
        FROM (SELECT (first_seen AT TIME ZONE 'UTC')::date AS d, backend_name AS b, owner_team AS t, sum(size_bytes) AS s,
                     count(*) AS n
              FROM storage_files WHERE deleted_at IS NULL GROUP BY 1, 2, 3) s
        WINDOW w AS (PARTITION BY b, t ORDER BY d) ORDER BY d""",
    ),
    ("tree", TREE),
    (
        "others",
        """
        INSERT INTO telemetry_coverage SELECT b, now() - interval '400 days', now(), sh
            FROM unnest(ARRAY['local','s3','gcs']) b, generate_series(0, 5) sh;
        INSERT INTO crawls (crawl_id, backend_name, started_at, finished_at, files, status)
            SELECT 'c' || i, (ARRAY['local','s3','gcs'])[1 + i % 3], now() - make_interval(days => i), now() - make_interval(days => i),
                   1000, 'complete' FROM generate_series(0, 299) i;
        INSERT INTO teams SELECT 'user' || u, 'team' || (u % {teams}) FROM generate_series(0, {users} - 1) u;
        INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit)
            SELECT 'team' || t, b, 10^12, 2 * 10^12 FROM generate_series(0, {teams} - 1) t, unnest(ARRAY['local','s3','gcs']) b;
        INSERT INTO quota_state (team_name, backend_name, level, usage_bytes) SELECT team_name, backend_name, 'ok', 0 FROM quotas;
        INSERT INTO ownership_rules (backend_name, path_prefix, team_name)
            SELECT 's3', 'archive/proj' || i || '/', 'team' || (i % {teams}) FROM generate_series(0, 19) i;
        INSERT INTO deletion_marks (backend_name, path, marked_by, size_bytes)
            SELECT backend_name, path, 'bench', CASE WHEN deleted_at IS NULL THEN size_bytes END
            FROM storage_files WHERE id % 1000 = 7 LIMIT 10000;
        INSERT INTO jobs (job_id, kind, args, state) SELECT 'job' || i, 'crawl', '{{"backend": "s3"}}', 'done'
            FROM generate_series(0, 999) i;
        INSERT INTO agents SELECT 'node' || i, now(), '{{}}' FROM generate_series(0, 49) i""",
    ),
]

GETS = [
    "/api/v1/usage?group_by=team",
    "/api/v1/usage?group_by=user",
    "/api/v1/usage?group_by=backend&backend=s3",
    "/api/v1/stale?days=90",
    "/api/v1/stale?days=90&min_size=1GiB",
    "/api/v1/stale?days=365&sort=last_access&order=asc",
    "/api/v1/stale?days=90&backend=s3&prefix=proj7/grp3/",
    "/api/v1/stale?days=90&owner=team3&limit=1000&format=csv",
    "/api/v1/growth?period=30d",
    "/api/v1/growth?period=1y&backend=s3&team=team3",
    "/api/v1/user/user42",
    "/api/v1/backends",
    "/api/v1/quota",
    "/api/v1/teams",
    "/api/v1/ownership",
    "/api/v1/marks",
    "/api/v1/jobs",
    "/api/v1/agents",
    "/api/v1/tree?backend=s3",
    "/api/v1/tree?backend=s3&prefix=proj7/grp3",
    "/api/v1/tree?backend=s3&prefix=proj7/grp3/exp2",
    "/api/v1/tree?backend=s3&prefix=proj7/grp3/exp2&sort=stale",
    f"/api/v1/tree?backend=s3&prefix={WIDE}",
    f"/api/v1/tree?backend=s3&prefix={WIDE}&sort=files",
    f"/api/v1/tree?backend=s3&prefix={WIDE}&sort=name&offset=50000",
    f"/api/v1/tree?backend=s3&prefix={WIDE}&sort=name&after={WIDE}/s5",  # keyset: as deep, from the index
    f"/api/v1/tree?backend=s3&prefix={WIDE}&sort=stale",
    "/readyz",
    "/metrics",
]

# The spec's handlers (M4.2 api.go), for comparison on the same data.
SPEC_QUERIES = {
    "spec usage by team (join access_log)": """
        SELECT t.team_name, sf.backend_name, COUNT(*), SUM(sf.size_bytes), MAX(al.last_access)
        FROM storage_files sf LEFT JOIN access_log al ON sf.backend_name = al.backend_name AND sf.path = al.path
        LEFT JOIN teams t ON al.user_id = t.user_id GROUP BY t.team_name, sf.backend_name ORDER BY 4 DESC""",
    "spec stale (join + group by file)": """
        SELECT sf.backend_name, sf.path, sf.size_bytes, sf.last_modified, COALESCE(MAX(al.last_access), sf.first_seen)
        FROM storage_files sf LEFT JOIN access_log al ON sf.backend_name = al.backend_name AND sf.path = al.path
        GROUP BY sf.id HAVING COALESCE(MAX(al.last_access), sf.first_seen) < NOW() - interval '90 days'
        ORDER BY sf.size_bytes DESC LIMIT 1000""",
}


async def _connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, command_timeout=7200, server_settings={"timezone": "UTC"})
    await conn.execute("SET synchronous_commit = off; SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'")
    return conn


async def _timed(conn: asyncpg.Connection, what: str, sql: str, took: dict[str, float]) -> None:
    t0 = time.perf_counter()
    await conn.execute(sql)
    took[what] = took.get(what, 0.0) + time.perf_counter() - t0
    print(f"  {what}: {time.perf_counter() - t0:.0f}s", flush=True)


async def _in_turn(conn: asyncpg.Connection, steps: list[tuple[str, str]], took: dict[str, float]) -> None:
    for what, sql in steps:
        await _timed(conn, what, sql, took)


async def migrate_reused(dsn: str) -> None:
    """Newer migrations (indexes over 50M rows) applied here, not inside the API's 60 s start-up."""
    conn = await _connect(dsn)
    try:
        applied = await migrate(conn)
        if applied:
            print(f"  applied migrations {applied}", flush=True)
    finally:
        await conn.close()


async def generate(dsn: str, files: int, access: int) -> dict[str, float]:
    """Fills a migrated, empty database; two connections share the work (the box has two cores)."""
    a, b = await _connect(dsn), await _connect(dsn)
    took: dict[str, float] = {}
    try:
        await migrate(a)
        # Keys and indexes of the loaded tables, built again after the load from their own definitions.
        keys = await a.fetch(
            """SELECT c.conrelid::regclass::text AS tbl, c.conname, pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY($1) AND c.contype IN ('p', 'u')""",
            LOADED,
        )
        indexes = await a.fetch(
            """SELECT i.tablename AS tbl, i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename = ANY($1) AND i.schemaname = 'public'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""",
            LOADED,
        )
        for r in indexes:
            await a.execute(f'DROP INDEX "{r["indexname"]}"')
        for r in keys:
            await a.execute(f'ALTER TABLE {r["tbl"]} DROP CONSTRAINT "{r["conname"]}"')
        for t in LOADED:
            await a.execute(f"ALTER TABLE {t} SET UNLOGGED")
        wide = min(1_000_000, files // 10)
        fmt = {"teams": TEAMS, "users": USERS, "wide": WIDE, "narrow": files - wide, "shard": SHARD}
        await asyncio.gather(
            *(
                _timed(c, "storage_files", FILES.format(lo=lo, hi=hi, **fmt), took)
                for c, lo, hi in ((a, 0, files // 2), (b, files // 2, files))
            )
        )
        read = await a.fetchval("SELECT count(*) FROM storage_files WHERE last_access IS NOT NULL")
        per_file = access / max(read, 1)
        await asyncio.gather(
            *(
                _timed(c, "access_log", ACCESS.format(half=h, per_file=f"{per_file:.4f}", **fmt), took)
                for c, h in ((a, 0), (b, 1))
            )
        )
        steps = [(what, sql.format(**fmt)) for what, sql in ROLLUPS]
        await asyncio.gather(
            _in_turn(a, [s for s in steps if s[0] in SIDE_A], took),
            _in_turn(b, [s for s in steps if s[0] not in SIDE_A], took),
        )
        # Keys first (the unique ones are what the workers' upserts need), the biggest tables on their own connection.
        builds: dict[str, list[tuple[str, str]]] = {}
        for r in keys:
            builds.setdefault(r["tbl"], []).append(
                (r["conname"], f'ALTER TABLE {r["tbl"]} ADD CONSTRAINT "{r["conname"]}" {r["def"]}')
            )
        for r in indexes:
            builds.setdefault(r["tbl"], []).append((r["indexname"], r["indexdef"]))
        await asyncio.gather(
            _in_turn(a, [s for t, ss in builds.items() if t in BIG for s in ss], took),
            _in_turn(b, [s for t, ss in builds.items() if t not in BIG for s in ss], took),
        )
        await a.execute("SELECT setval('storage_files_id_seq', (SELECT max(id) FROM storage_files))")
        # VACUUM sets the visibility map (index-only scans) as autovacuum would on the workers' tables.
        await asyncio.gather(
            _timed(a, "vacuum analyze", "VACUUM ANALYZE access_log", took),
            _in_turn(
                b,
                [("vacuum analyze", f"VACUUM ANALYZE {t}") for t in LOADED if t != "access_log"]
                + [("vacuum analyze", "ANALYZE")],
                took,
            ),
        )
    finally:
        await a.close()
        await b.close()
    return took


async def measure(base: str, requests: int, concurrency: int) -> dict[str, tuple[float, float, float, int]]:
    out = {}
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as client:
        for path in GETS:
            r = await client.get(path)  # warm-up, and a check that it answers
            if r.status_code != 200:
                raise SystemExit(f"{path}: {r.status_code} {r.text[:300]}")
            lat: list[float] = []
            todo = iter(range(requests))

            async def worker() -> None:
                for _ in todo:
                    t0 = time.perf_counter()
                    resp = await client.get(path)
                    lat.append(time.perf_counter() - t0)
                    resp.raise_for_status()

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            lat.sort()
            out[path] = (
                statistics.median(lat) * 1000,
                lat[int(len(lat) * 0.95) - 1] * 1000,
                lat[-1] * 1000,
                len(r.content),
            )
            p50, p95, mx, size = out[path]
            print(f"  {path:58} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms  max {mx:8.1f} ms  ({size} B)", flush=True)
    return out


async def spec_peer(dsn: str, timeout: float) -> dict[str, float | None]:
    conn = await asyncpg.connect(dsn)
    out: dict[str, float | None] = {}
    try:
        await conn.execute(f"SET statement_timeout = '{int(timeout * 1000)}'")
        for name, sql in SPEC_QUERIES.items():
            t0 = time.perf_counter()
            try:
                await conn.fetch(sql)
                out[name] = (time.perf_counter() - t0) * 1000
            except asyncpg.QueryCanceledError:
                out[name] = None
            print(
                f"  {name:58} {'> %.0f s (timed out)' % timeout if out[name] is None else '%.0f ms' % out[name]}",
                flush=True,
            )
    finally:
        await conn.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(dsn: str, stack: Stack, port: int, log: Path, web_dist: str = "") -> subprocess.Popen:
    """A real ``warpdrive api serve`` on ``port`` (its dashboard from ``web_dist``, default web/dist)."""
    cfg = {
        "state_dir": str(stack.state_dir),
        "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "topic_prefix": "bench."},
        "postgres": {"dsn": dsn, "pool_max": 10},
        "api": {
            "listen": f"127.0.0.1:{port}",
            "tokens": [{"token": TOKEN, "role": "viewer", "name": "bench"}],
            "web_dist": web_dist,
        },
        "backends": [{"name": b, "url": f"file:///tmp/bench-{b}"} for b in BACKENDS],
    }
    path = log.with_suffix(".toml")  # beside the server's log
    path.write_text(dump_toml(cfg))
    exe = str(Path(sys.executable).with_name("warpdrive"))
    p = subprocess.Popen(
        [exe, "api", "serve", "--config", str(path)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return p
        except httpx.TransportError:
            time.sleep(0.3)
    p.kill()
    raise SystemExit(f"the API did not start; see {log}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stack", default=os.environ.get("WARPDRIVE_TEST_STACK", "/tmp/wds1"), help="state dir of a running stack"
    )
    ap.add_argument("--files", type=int, default=10_000_000)
    ap.add_argument("--access", type=int, default=50_000_000)
    ap.add_argument("--requests", type=int, default=200, help="requests per GET")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--peer-timeout", type=float, default=120.0, help="seconds allowed to each spec query")
    ap.add_argument("--keep", action="store_true", help="keep the generated database")
    ap.add_argument("--reuse", help="measure an existing generated database (skip generation)")
    ap.add_argument("--name", help="name of the database to generate (default: a random wdbench_ name)")
    ap.add_argument("--generate-only", action="store_true", help="generate and keep the database, measure nothing")
    args = ap.parse_args()

    stack = Stack(Path(args.stack))
    base = stack.postgres_dsn()
    name = args.reuse or args.name or f"wdbench_{uuid.uuid4().hex[:8]}"
    dsn = database_dsn(base, name)
    sizes = "reused as generated before" if args.reuse else f"{args.files:,} files, {args.access:,} access rows"
    print(f"machine: {platform.node()} {os.cpu_count()} cores; database {name}; {sizes}")

    if args.reuse:
        asyncio.run(migrate_reused(dsn))
    else:
        asyncio.run(create_database(base, name))
    proc = None
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            took = asyncio.run(generate(dsn, args.files, args.access))
            print(f"generated in {time.perf_counter() - t0:.0f}s:", ", ".join(f"{k} {v:.0f}s" for k, v in took.items()))
            if args.generate_only:
                return
        port = free_port()
        proc = serve(dsn, stack, port, Path(tempfile.gettempdir()) / f"{name}-api.log")
        print(f"GET latency, {args.requests} requests each, {args.concurrency} concurrent clients:")
        asyncio.run(measure(f"http://127.0.0.1:{port}", args.requests, args.concurrency))
        print("peer: the spec's join-based queries on the same data, one run each:")
        asyncio.run(spec_peer(dsn, args.peer_timeout))
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
        if not (args.keep or args.reuse or args.generate_only):
            asyncio.run(drop_database(base, name))


if __name__ == "__main__":
    main()
