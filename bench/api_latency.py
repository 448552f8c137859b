"""Latency of every GET of the control-plane API over a large generated index.

Generates ``--files`` rows of ``storage_files`` and ``--access`` rows of ``access_log`` (plus the rollups
the stream workers would keep: usage_rollup, access_daily, growth_daily, …) in a fresh database on a
running stack's PostgreSQL, serves the API as a real ``warpdrive api serve`` process, and measures
p50/p95 of each GET with ``--concurrency`` concurrent clients. As a peer in the same run it times the
spec's join-based usage and stale queries (M4.2's Go handlers) against the same data.

    .venv/bin/python bench/api_latency.py --stack /tmp/wds1 --files 2000000 --access 10000000

The database is dropped at the end (``--keep`` keeps it, ``--reuse NAME`` measures an existing one).
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
DAYS = 365

# Everything is generated server-side (generate_series): no rows cross the wire.
GENERATE = [
    ("storage_files", """
        INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, last_access, owner_team, owner_user,
                                   owner_source, deleted_at, first_seen, last_crawled)
        SELECT (ARRAY['local','s3','gcs'])[1 + i % 3],
               'proj' || (i % 50) || '/run' || ((i / 1000) % 200) || '/part' || ((i / 100) % 10) || '/f' || i || '.bin',
               -- heavy-tailed sizes (1 KiB .. 32 GiB, log-uniform), few exact ties as in real data
               (1024 * power(2, ((hashint4(i) & 2147483647) % 25000000) / 1000000.0))::bigint,
               now() - make_interval(days => (i * 7) % 730, secs => i % 86400),
               CASE WHEN i % 3 = 0 THEN NULL ELSE now() - make_interval(days => (i * 13) % 400) END,
               'team' || (i % {teams}), 'user' || ((i * 31) % {users}), 'posix',
               CASE WHEN i % 50 = 0 THEN now() END, now(), now()
        FROM generate_series(0, {files} - 1) AS i"""),
    ("access_log", """
        INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, last_access, write_count)
        SELECT (ARRAY['local','s3','gcs'])[1 + f % 3],
               'proj' || (f % 50) || '/run' || ((f / 1000) % 200) || '/part' || ((f / 100) % 10) || '/f' || f || '.bin',
               'user' || ((f * 7 + k) % {users}), current_date - (k % {days}), 1 + i % 9, (i % 1000) * 4096,
               (current_date - (k % {days}))::timestamptz + make_interval(secs => i % 86400), i % 2
        FROM (SELECT i, i % {files} AS f, i / {files} AS k FROM generate_series(0, {access} - 1) AS i) s"""),
    ("access_daily", """
        INSERT INTO access_daily (date, backend_name, user_id, read_count, bytes_read, write_count, files, last_access)
        SELECT date, backend_name, user_id, sum(read_count), sum(bytes_read), sum(write_count), count(*), max(last_access)
        FROM access_log GROUP BY 1, 2, 3"""),
    ("usage_rollup", """
        INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count, total_bytes, last_access)
        SELECT backend_name, owner_team, COALESCE(owner_user, ''), count(*), sum(size_bytes), max(last_access)
        FROM storage_files WHERE deleted_at IS NULL GROUP BY 1, 2, 3"""),
    ("growth_daily", """
        INSERT INTO growth_daily (date, backend_name, owner_team, total_bytes, file_count, added_bytes, removed_bytes)
        SELECT current_date - d, b, 'team' || t, (1000000000 - d * 1000000)::bigint * (t + 1), 10000 - d, 1000000, 1000
        FROM generate_series(0, {days} - 1) d, unnest(ARRAY['local','s3','gcs']) b, generate_series(0, {teams} - 1) t"""),
    # The directory tree of backend s3 as the workers keep it (4 levels: root, projN, projN/runM, …/partK),
    # plus one directory with 100k child directories (issue 9's wide case).
    ("tree", """
        CREATE TEMP TABLE anc AS
        SELECT dir, parent, depth, size_bytes, owner_team, last_access, last_modified FROM storage_files f,
        LATERAL (VALUES ('', NULL, 0),
                        (split_part(path, '/', 1), '', 1),
                        (split_part(path, '/', 1) || '/' || split_part(path, '/', 2), split_part(path, '/', 1), 2),
                        (array_to_string((string_to_array(path, '/'))[1:3], '/'),
                         split_part(path, '/', 1) || '/' || split_part(path, '/', 2), 3)) AS a(dir, parent, depth)
        WHERE backend_name = 's3' AND deleted_at IS NULL;
        INSERT INTO tree_dirs SELECT 's3', dir, min(parent), min(depth), count(*), sum(size_bytes) FROM anc GROUP BY dir;
        INSERT INTO tree_teams SELECT 's3', dir, owner_team, count(*), sum(size_bytes) FROM anc GROUP BY dir, owner_team;
        INSERT INTO tree_activity
            SELECT 's3', dir, 'a', COALESCE(date_trunc('week', last_access)::date, '0001-01-01'), count(*), sum(size_bytes)
            FROM anc GROUP BY 2, 4
            UNION ALL
            SELECT 's3', dir, 'm', COALESCE(date_trunc('week', last_modified)::date, '0001-01-01'), count(*), sum(size_bytes)
            FROM anc GROUP BY 2, 4;
        INSERT INTO tree_dirs VALUES ('s3', 'wide', '', 1, 10000000, 10000000000);
        INSERT INTO tree_dirs SELECT 's3', 'wide/d' || i, 'wide', 2, 100, (i * 7919) % 1000000 FROM generate_series(0, 99999) i;
        INSERT INTO tree_activity SELECT 's3', 'wide/d' || i, k, current_date - (i % 300), 100, (i * 7919) % 1000000
            FROM generate_series(0, 99999) i, unnest(ARRAY['a', 'm']) k"""),
    ("others", """
        INSERT INTO telemetry_coverage SELECT b, now() - interval '200 days', now() FROM unnest(ARRAY['local','s3','gcs']) b;
        INSERT INTO crawls (crawl_id, backend_name, started_at, finished_at, files, status)
            SELECT 'c' || i, (ARRAY['local','s3','gcs'])[1 + i % 3], now() - make_interval(days => i), now() - make_interval(days => i),
                   1000, 'complete' FROM generate_series(0, 299) i;
        INSERT INTO teams SELECT 'user' || u, 'team' || (u % {teams}) FROM generate_series(0, {users} - 1) u;
        INSERT INTO quotas (team_name, backend_name, soft_limit, hard_limit)
            SELECT 'team' || t, b, 10^12, 2 * 10^12 FROM generate_series(0, {teams} - 1) t, unnest(ARRAY['local','s3','gcs']) b;
        INSERT INTO quota_state (team_name, backend_name, level, usage_bytes) SELECT team_name, backend_name, 'ok', 0 FROM quotas;
        INSERT INTO ownership_rules (backend_name, path_prefix, team_name)
            SELECT 's3', 'proj' || i || '/', 'team' || (i % {teams}) FROM generate_series(0, 49) i;
        INSERT INTO deletion_marks (backend_name, path, marked_by)
            SELECT backend_name, path, 'bench' FROM storage_files WHERE id % 1000 = 7 LIMIT 10000;
        INSERT INTO jobs (job_id, kind, args, state) SELECT 'job' || i, 'crawl', '{{"backend": "s3"}}', 'done'
            FROM generate_series(0, 999) i;
        INSERT INTO agents SELECT 'node' || i, now(), '{{}}' FROM generate_series(0, 49) i"""),
]

GETS = [
    "/api/v1/usage?group_by=team",
    "/api/v1/usage?group_by=user",
    "/api/v1/usage?group_by=backend&backend=s3",
    "/api/v1/stale?days=90",
    "/api/v1/stale?days=90&min_size=1GiB",
    "/api/v1/stale?days=365&sort=last_access&order=asc",
    "/api/v1/stale?days=90&backend=s3&prefix=proj7/run12/",
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
    "/api/v1/tree?backend=s3&prefix=proj7/run12",
    "/api/v1/tree?backend=s3&prefix=proj7/run12/part3",
    "/api/v1/tree?backend=s3&prefix=wide",
    "/api/v1/tree?backend=s3&prefix=wide&sort=name&offset=50000",
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


async def generate(dsn: str, files: int, access: int) -> dict[str, float]:
    conn = await asyncpg.connect(dsn, command_timeout=3600)
    took: dict[str, float] = {}
    try:
        await migrate(conn)
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        # Building the secondary indexes once after the load is several times faster than maintaining them per row.
        indexes = await conn.fetch(
            """SELECT i.indexname, i.indexdef FROM pg_indexes i
               WHERE i.tablename IN ('storage_files', 'access_log') AND i.schemaname = 'public'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)""")
        for r in indexes:
            await conn.execute(f'DROP INDEX "{r["indexname"]}"')
        for table, sql in GENERATE:
            t0 = time.perf_counter()
            await conn.execute(sql.format(files=files, access=access, teams=TEAMS, users=USERS, days=DAYS))
            took[table] = time.perf_counter() - t0
            print(f"  generated {table} in {took[table]:.1f}s", flush=True)
        t0 = time.perf_counter()
        for r in indexes:
            await conn.execute(r["indexdef"])
        took["indexes"] = time.perf_counter() - t0
        print(f"  built {len(indexes)} indexes in {took['indexes']:.1f}s", flush=True)
        t0 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        took["vacuum analyze"] = time.perf_counter() - t0
    finally:
        await conn.close()
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
            out[path] = (statistics.median(lat) * 1000, lat[int(len(lat) * 0.95) - 1] * 1000, lat[-1] * 1000, len(r.content))
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
            print(f"  {name:58} {'> %.0f s (timed out)' % timeout if out[name] is None else '%.0f ms' % out[name]}", flush=True)
    finally:
        await conn.close()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(dsn: str, stack: Stack, port: int, log: Path) -> subprocess.Popen:
    cfg = {
        "state_dir": str(stack.state_dir),
        "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "topic_prefix": "bench."},
        "postgres": {"dsn": dsn, "pool_max": 10},
        "api": {"listen": f"127.0.0.1:{port}", "tokens": [{"token": TOKEN, "role": "viewer", "name": "bench"}]},
        "backends": [{"name": b, "url": f"file:///tmp/bench-{b}"} for b in BACKENDS],
    }
    path = Path(tempfile.mkdtemp(prefix="wd-bench-")) / "bench.toml"
    path.write_text(dump_toml(cfg))
    exe = str(Path(sys.executable).with_name("warpdrive"))
    p = subprocess.Popen([exe, "api", "serve", "--config", str(path)], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                         start_new_session=True)
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
    ap.add_argument("--stack", default=os.environ.get("WARPDRIVE_TEST_STACK", "/tmp/wds1"), help="state dir of a running stack")
    ap.add_argument("--files", type=int, default=2_000_000)
    ap.add_argument("--access", type=int, default=10_000_000)
    ap.add_argument("--requests", type=int, default=200, help="requests per GET")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--peer-timeout", type=float, default=120.0, help="seconds allowed to each spec query")
    ap.add_argument("--keep", action="store_true", help="keep the generated database")
    ap.add_argument("--reuse", help="measure an existing generated database (skip generation)")
    args = ap.parse_args()

    stack = Stack(Path(args.stack))
    base = stack.postgres_dsn()
    name = args.reuse or f"wdbench_{uuid.uuid4().hex[:8]}"
    dsn = database_dsn(base, name)
    sizes = "reused as generated before" if args.reuse else f"{args.files:,} files, {args.access:,} access rows"
    print(f"machine: {platform.node()} {os.cpu_count()} cores; database {name}; {sizes}")

    if not args.reuse:
        asyncio.run(create_database(base, name))
    proc = None
    try:
        if not args.reuse:
            t0 = time.perf_counter()
            asyncio.run(generate(dsn, args.files, args.access))
            print(f"generated in {time.perf_counter() - t0:.0f}s")
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
        if not args.keep and not args.reuse:
            asyncio.run(drop_database(base, name))


if __name__ == "__main__":
    main()
