"""Stream workers scaling out: 1, 2, 4 … workers of one consumer group on the same access records.

The records (``--records`` AccessEvents in messages of ``--per-message``, generated like
``bench/streams_ingest.py``) are encoded once. Each run gets a fresh database, a fresh, empty access topic
and a fresh consumer group; its N ``warpdrive streams worker`` processes start first, and the clock starts
only once the group is stable with N members (every partition assigned). Then the same pre-encoded
messages are sent, and the clock stops when PostgreSQL has stored the offset of the last one (every
aggregate committed). After every run the database is checked against the ground truth computed from the
records (``access_log`` row by row, and every rollup summed), so a faster run that counted something twice
or lost it fails loudly.

``--indexed``: every file the records touch is in the storage index first (``storage_files``, with the tree
rollups built from it by bench/api_latency.py's SQL; last access and modification months before the records),
as on a site whose backends are crawled — so a read moves the file's last-access and activity weeks in
``tree_activity`` / ``tree_inactive`` / ``tree_dirs`` of every ancestor directory up to the backend's root. The
check then also compares every file's ``last_access`` with the records and the tree rollups with a
recomputation from ``storage_files``.

During each run ``pg_stat_activity`` is sampled every 0.1 s: a sample counts as a lock wait when a worker's
session waits on a heavyweight lock (``wait_event_type = 'Lock'``: another worker's row or transaction).
The CPU of the worker processes and of the PostgreSQL backends serving them is reported per record.

    .venv/bin/python bench/streams_scale.py --stack /tmp/wds-shared --workers 1,2,4 --rounds 3
    .venv/bin/python bench/streams_scale.py --stack /tmp/wds-shared --workers 1,2 --code before=/tmp/main-tree --code after=/tmp/this-tree
    .venv/bin/python bench/streams_scale.py --stack /tmp/wds-scale --workers 1,2,4 --rounds 2 --indexed

Runs are alternated (1, 2, 4, 1, 2, 4 …) so that the load of a shared machine falls on every count
alike; ratios are medians over rounds of each count against one worker. Needs a running stack
(``warpdrive stack up --infra-only``); every database and topic it made is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from warpdrive.compose.stack import Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import create_database, drop_database
from warpdrive.schemas.owners import UNOWNED
from warpdrive.schemas.records import AccessEvent, encode_batch, format_ts, parse_ts
from warpdrive.schemas.retention import STATS_BY_TABLE
from warpdrive.schemas.topics import ACCESS, ensure_topics

sys.path.insert(0, str(Path(__file__).parent))
from api_latency import TREE  # noqa: E402  (the tree rollups from storage_files, as the workers keep them)
from streams_ingest import generate  # noqa: E402  (the same records as the ingest bench)

# Whose rows the tree check compares: table → (key columns, summed columns); shards, if any, summed.
TREE_TABLES = {
    # a root's stale-sort key is never read (it is no one's child); since 0070 it is not kept
    "tree_dirs": (
        "backend_name, dir, parent, depth",
        ("file_count", "total_bytes", "CASE WHEN dir = '' THEN 0 ELSE inactive_bytes END"),
    ),
    "tree_teams": ("backend_name, dir, owner_team", ("file_count", "total_bytes")),
    "tree_activity": ("backend_name, dir, kind, period", ("file_count", "total_bytes")),
    "tree_inactive": ("backend_name, dir, period", ("file_count", "total_bytes")),
}


@dataclass
class Run:
    workers: int
    seconds: float = 0.0
    samples: int = 0
    lock_samples: int = 0  # samples in which a worker's session waited on a lock
    waits: dict[str, int] = field(default_factory=dict)  # wait event → samples
    worker_cpu: float = 0.0
    pg_cpu: float = 0.0
    row_writes: dict[str, int] = field(default_factory=dict)  # table → inserted + updated rows
    load: tuple[float, float, float] = (0.0, 0.0, 0.0)


def truth_of(msgs: list[tuple[str, list[AccessEvent]]]) -> dict[str, Any]:
    """Ground truth from the records alone: access_log rows and the totals every rollup must sum to."""
    rows: dict[tuple, list[Any]] = defaultdict(lambda: [0, 0, 0, 0, ""])
    first: dict[str, str] = {}
    last: dict[str, str] = {}
    files: dict[tuple[str, str], list[Any]] = {}  # (backend, path) → [last read/write, first create/write, its user]
    for _, batch in msgs:
        for e in batch:
            ts = format_ts(parse_ts(e.timestamp))
            f = files.setdefault((e.backend_name, e.path), [None, None, None])
            if e.operation in ("read", "write") and (f[0] is None or ts > f[0]):
                f[0] = ts
            if e.operation in ("create", "write") and (f[1] is None or ts < f[1]):
                f[1], f[2] = ts, e.user_id
            r = rows[(e.backend_name, e.path, e.user_id, ts[:10])]
            r[0] += e.count if e.operation == "read" else 0
            r[1] += e.bytes_read
            r[2] += e.count if e.operation == "write" else 0
            r[3] += e.bytes_written
            r[4] = max(r[4], ts)
            first[e.backend_name] = min(first.get(e.backend_name, ts), ts)
            last[e.backend_name] = max(last.get(e.backend_name, ts), ts)
    user_files = {(u, b, p) for (b, p, u, _) in rows}
    return {
        "rows": {k: tuple(v) for k, v in rows.items()},
        "files": len(user_files),
        "reads": sum(v[0] for v in rows.values()),
        "bytes": sum(v[1] for v in rows.values()),
        "coverage": {b: (first[b], last[b]) for b in first},
        "index": {k: (parse_ts(f[0]) if f[0] else None, f[2]) for k, f in files.items()},
    }


def seeded(backend: str, path: str) -> tuple[int, datetime, datetime | None]:
    """A file's size, modification and last access in the seeded index: months before the records (Nov 2026), a
    third never read, all stale for 90 days at the records' time — so reads move every activity week."""
    h = zlib.crc32(f"{backend}/{path}".encode())
    mtime = datetime(2025, 6, 2, tzinfo=UTC) + timedelta(days=h % 180, seconds=h % 86400)
    return 1 + h % (1 << 26), mtime, None if h % 3 == 0 else datetime(2026, 2, 2, tzinfo=UTC) + timedelta(days=h % 60)


async def seed_index(dsn: str, truth: dict[str, Any]) -> None:
    """Every file the records touch into storage_files (its creator already known: the records' first create or
    write, so ownership stays put and only activity moves), then the tree rollups from them."""
    rows = []
    for (b, p), (_, creator) in sorted(truth["index"].items()):
        size, mtime, atime = seeded(b, p)
        rows.append((b, p, size, mtime, atime, creator, "creator" if creator else "none"))
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO storage_files (backend_name, path, size_bytes, last_modified, last_access, created_by,
                                              owner_user, owner_team, owner_source)
                   SELECT b, p, s, m, a, c, c, $8, o
                   FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                               $7::text[]) AS u(b, p, s, m, a, c, o)""",
                *map(list, zip(*rows)),
                UNOWNED,
            )
            await conn.execute(TREE)
    finally:
        await conn.close()


async def _tree_rows(conn: asyncpg.Connection) -> dict[str, set[tuple]]:
    out = {}
    for table, (keys, sums) in TREE_TABLES.items():
        summed = ", ".join(f"sum({c})" for c in sums)
        nonzero = " OR ".join(f"sum({c}) <> 0" for c in sums)
        out[table] = {
            tuple(r) for r in await conn.fetch(f"SELECT {keys}, {summed} FROM {table} GROUP BY {keys} HAVING {nonzero}")
        }
    return out


async def check_index(conn: asyncpg.Connection, truth: dict[str, Any]) -> list[str]:
    """--indexed: every file's last access against the records, and the tree rollups against a recomputation
    from storage_files (in a transaction rolled back)."""
    errors = []
    got = {(r[0], r[1]): r[2] for r in await conn.fetch("SELECT backend_name, path, last_access FROM storage_files")}
    want = {}
    for k, (la, _) in truth["index"].items():
        seed = seeded(*k)[2]
        want[k] = max(la, seed) if la and seed else la or seed
    if got != want:
        bad = sum(1 for k in want.keys() | got.keys() if got.get(k) != want.get(k))
        errors.append(f"storage_files.last_access: {bad} of {len(want)} files differ")
    tx = conn.transaction()
    await tx.start()
    try:
        kept = await _tree_rows(conn)
        await conn.execute("TRUNCATE tree_dirs, tree_teams, tree_activity, tree_inactive")
        await conn.execute(TREE)
        recomputed = await _tree_rows(conn)
    finally:
        await tx.rollback()
    for table, rows in recomputed.items():
        if kept[table] != rows:
            errors.append(
                f"{table}: {len(kept[table] ^ rows)} rows differ from a recomputation of {len(rows)}, e.g. kept "
                f"{sorted(kept[table] - rows)[:3]}, recomputed {sorted(rows - kept[table])[:3]}"
            )
    return errors


async def check(dsn: str, truth: dict[str, Any], indexed: bool) -> list[str]:
    """Differences between the database and the truth (empty = exactly once held)."""
    conn = await asyncpg.connect(dsn)
    try:
        got = {
            (r[0], r[1], r[2], r[3].isoformat()): (r[4], r[5], r[6], r[7], format_ts(r[8]))
            for r in await conn.fetch(
                "SELECT backend_name, path, user_id, date, read_count, bytes_read, write_count, bytes_written, last_access"
                " FROM access_log"
            )
        }
        errors = []
        if got != truth["rows"]:
            bad = sum(1 for k in truth["rows"].keys() | got.keys() if got.get(k) != truth["rows"].get(k))
            errors.append(f"access_log: {bad} of {len(truth['rows'])} rows differ")
        # Every rollup, through the same sums the API reads (shards, if any, summed).
        daily = await conn.fetchrow(
            "SELECT sum(read_count) AS r, sum(bytes_read) AS b, sum(files) AS f FROM access_daily"
        )
        if (daily["r"], daily["b"], daily["f"]) != (truth["reads"], truth["bytes"], len(truth["rows"])):
            errors.append(f"access_daily totals {tuple(daily)}")
        reads = await conn.fetchrow(
            "SELECT sum(read_count) AS r, sum(bytes_read) AS b, sum(files_accessed) AS f FROM user_reads"
        )
        if (reads["r"], reads["b"], reads["f"]) != (truth["reads"], truth["bytes"], truth["files"]):
            errors.append(f"user_reads totals {tuple(reads)}")
        cov = {
            r[0]: (format_ts(r[1]), format_ts(r[2]))
            for r in await conn.fetch(
                "SELECT backend_name, min(first_event), max(last_event) FROM telemetry_coverage GROUP BY 1"
            )
        }
        if cov != truth["coverage"]:
            errors.append(f"telemetry_coverage {cov}")
        if indexed:
            errors += await check_index(conn, truth)
        return errors
    finally:
        await conn.close()


async def wait_stable(
    cfg: wconfig.Config,
    group: str,
    members: int,
    procs: list[subprocess.Popen],
    timeout: float,
) -> None:
    """Until the consumer group is stable with ``members`` members (every partition assigned)."""
    admin = AIOKafkaAdminClient(**cfg.kafka.client_options())
    await admin.start()
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited before its partitions were assigned")
            try:
                (g,) = await admin.describe_consumer_groups([group])
            except KafkaError:  # no coordinator yet: the group is still forming
                g = None
            if g is not None:
                state, n = (
                    g.groups[0][2],
                    len(g.groups[0][5]),
                )  # (error, group, state, protocol_type, protocol, members)
                if state == "Stable" and n == members:
                    return
            await asyncio.sleep(0.2)
        raise SystemExit(f"group {group} not stable with {members} members after {timeout}s")
    finally:
        await admin.close()


async def send(cfg: wconfig.Config, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    p = AIOKafkaProducer(
        **cfg.kafka.client_options(), acks="all", linger_ms=20, max_batch_size=1 << 20, max_request_size=16 << 20
    )
    await p.start()
    try:
        await asyncio.gather(*[await p.send(topic, value=v, key=k) for k, v in messages])
    finally:
        await p.stop()


def cpu(proc: psutil.Process) -> float:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return 0.0


async def measure(
    dsn: str, topic: str, consumer: str, messages: int, run: Run, deadline: float, procs: list[subprocess.Popen]
) -> None:
    """Polls stored offsets (the clock's end) and samples pg_stat_activity until every message is applied."""
    conn = await asyncpg.connect(dsn)
    backends: dict[int, psutil.Process] = {}
    cpu_seen: dict[int, float] = {}
    try:
        db = await conn.fetchval("SELECT current_database()")
        me = await conn.fetchval("SELECT pg_backend_pid()")
        while True:
            acts = await conn.fetch(
                "SELECT pid, wait_event_type, wait_event, left(query, 60) AS query FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> $2"
                " AND backend_type = 'client backend'",
                db,
                me,
            )
            run.samples += 1
            waiting = [a for a in acts if a["wait_event_type"] == "Lock"]
            if waiting:
                run.lock_samples += 1
            for a in acts:
                if a["wait_event_type"]:
                    key = f"{a['wait_event_type']}:{a['wait_event']}"
                    if a["wait_event_type"] == "Lock":  # which statement waits: names the rows or lock
                        key += f" [{' '.join(a['query'].split())}]"
                    run.waits[key] = run.waits.get(key, 0) + 1
                if a["pid"] not in backends:
                    try:
                        backends[a["pid"]] = psutil.Process(a["pid"])
                    except psutil.Error:
                        continue
                cpu_seen[a["pid"]] = cpu(backends[a["pid"]])  # the last value seen: a backend may exit
            n = await conn.fetchval(
                "SELECT coalesce(sum(next_offset), 0) FROM stream_offsets WHERE consumer = $1 AND topic = $2",
                consumer,
                topic,
            )
            if n >= messages:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"not done in time ({n} of {messages} messages applied)")
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a worker exited mid-run")
            await asyncio.sleep(0.1)
        for pid, proc in backends.items():
            cpu_seen[pid] = max(cpu_seen.get(pid, 0.0), cpu(proc))
        run.pg_cpu = sum(cpu_seen.values())
    finally:
        await conn.close()


def one_run(
    st: Stack,
    base_cfg: dict,
    workers: int,
    encoded: list[tuple[bytes, bytes]],
    truth: dict[str, Any],
    tmp: Path,
    timeout: float,
    extra_env: dict[str, str],
    code: str = "",
    indexed: bool = False,
) -> Run:
    """One run of ``workers`` workers into a fresh database, topic and group; ``code``: a source tree for the
    workers (on their PYTHONPATH, see --code), or "" for the installed one."""
    run_id = uuid.uuid4().hex[:8]
    base = st.postgres_dsn()
    db = f"wdscale_{run_id}"
    dsn = asyncio.run(create_database(base, db))
    procs: list[subprocess.Popen] = []
    ps: list[psutil.Process] = []
    try:
        raw = {
            **base_cfg,
            "kafka": {**base_cfg["kafka"], "topic_prefix": f"s{run_id}."},
            "postgres": {**base_cfg["postgres"], "dsn": dsn},
            "streams": {**base_cfg.get("streams", {}), "app_id": f"wdscale-{run_id}"},
            "state_dir": str(tmp / run_id),
        }
        cfg_path = tmp / f"{run_id}.toml"
        cfg_path.write_text(wconfig.dump_toml(raw))
        cfg = wconfig.load(cfg_path)
        topic = ACCESS.full_name(cfg.kafka)

        asyncio.run(ensure_topics(cfg.kafka))
        exe = str(Path(sys.executable).with_name("warpdrive"))
        env = {**os.environ, "WARPDRIVE_CONFIG": str(cfg_path), **extra_env}
        if code:
            env["PYTHONPATH"] = code
        # The schema of the workers' code (workers only check it), then the index of --indexed into it.
        subprocess.run([exe, "migrate"], env=env, check=True, capture_output=True)
        if indexed:
            asyncio.run(seed_index(dsn, truth))
        for i in range(workers):
            (tmp / run_id / f"w{i}").mkdir(parents=True)
            env["WARPDRIVE_STATE_DIR"] = str(tmp / run_id / f"w{i}")
            with open(tmp / f"{run_id}-w{i}.log", "wb") as out:
                procs.append(
                    subprocess.Popen(
                        [exe, "streams", "worker", "--loglevel", "warning"],
                        env=dict(env),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
            ps.append(psutil.Process(procs[-1].pid))
        asyncio.run(wait_stable(cfg, cfg.streams.app_id, workers, procs, 120))
        run = Run(workers, load=os.getloadavg())
        cpu0 = sum(cpu(p) for p in ps)

        async def go() -> None:
            t0 = time.monotonic()
            sender = asyncio.ensure_future(send(cfg, topic, encoded))
            await measure(dsn, topic, cfg.streams.app_id, len(encoded), run, t0 + timeout, procs)
            run.seconds = time.monotonic() - t0
            await sender

        asyncio.run(go())
        run.worker_cpu = sum(cpu(p) for p in ps) - cpu0
        errors = asyncio.run(check(dsn, truth, indexed))
        if errors:
            raise SystemExit(f"{workers} workers: exactly-once broken: {'; '.join(errors)} (logs in {tmp})")
        run.row_writes = asyncio.run(_row_writes(dsn))
        return run
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        asyncio.run(drop_database(base, db))


async def _row_writes(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            r[0]: r[1]
            for r in await conn.fetch(
                f"SELECT rel, sum(n_tup_ins + n_tup_upd)::bigint FROM ({STATS_BY_TABLE}) s"
                " WHERE rel IN ('access_log', 'access_daily', 'user_files', 'user_reads', 'telemetry_coverage', 'tree_dirs',"
                " 'tree_activity', 'tree_inactive') GROUP BY rel"
            )
        }
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="state dir of a running stack")
    ap.add_argument("--records", type=int, default=800_000)
    ap.add_argument("--per-message", type=int, default=100, help="events per Kafka message (agent batch size)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="alternated rounds of every worker count")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument(
        "--indexed", action="store_true", help="every file the records touch is in the storage index first (see above)"
    )
    ap.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the workers (e.g. WARPDRIVE_STREAMS_BATCH_SIZE=500)",
    )
    ap.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also run the workers of another source tree (DIR on their PYTHONPATH holding a `warpdrive`"
        " package, e.g. a checkout of main), alternated with the others in every round",
    )
    args = ap.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    extra_env = dict(e.split("=", 1) for e in args.env)

    st = Stack(Path(args.stack))
    base_cfg = st.config_dict()
    tmp = Path(tempfile.mkdtemp(prefix="wdscale-"))
    msgs = generate(args.records, args.per_message, args.days)
    encoded = [(k.encode(), encode_batch(b)) for k, b in msgs]
    records = sum(len(b) for _, b in msgs)
    truth = truth_of(msgs)
    del msgs
    print(
        f"machine: {platform.node()} {psutil.cpu_count()} cores; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"{records} records in {len(encoded)} messages; {len(truth['rows'])} access_log rows; "
        f"{str(len(truth['index'])) + ' files indexed; ' if args.indexed else ''}"
        f"workers {counts} x {args.rounds} rounds (alternated){'; env ' + str(extra_env) if extra_env else ''}",
        flush=True,
    )
    codes = dict(c.split("=", 1) for c in args.code) or {"this": ""}
    runs: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for rnd in range(args.rounds):
        for label, code in codes.items():
            for n in counts:
                r = one_run(st, base_cfg, n, encoded, truth, tmp, args.timeout, extra_env, code, args.indexed)
                runs[(label, n)].append(r)
                waits = ", ".join(f"{k} {v}" for k, v in sorted(r.waits.items(), key=lambda kv: -kv[1])[:4])
                print(
                    f"round {rnd + 1}, {label}, {n} worker(s): {records / r.seconds:,.0f} records/s ({r.seconds:.1f}s); "
                    f"lock waits in {r.lock_samples} of {r.samples} samples "
                    f"({100 * r.lock_samples / r.samples:.1f} %); CPU per record: workers "
                    f"{1e6 * r.worker_cpu / records:.1f} µs, PostgreSQL {1e6 * r.pg_cpu / records:.1f} µs; "
                    f"row writes {r.row_writes}; exactly once OK; load {r.load[0]:.1f} {r.load[1]:.1f}; waits: {waits}",
                    flush=True,
                )
    print(
        f"summary ({records} records; medians over {args.rounds} alternated rounds; ratios against "
        f"{counts[0]} worker(s) of the same code, per round):"
    )
    for label in codes:
        peer = runs[(label, counts[0])]
        for n in counts:
            rs = runs[(label, n)]
            rate = statistics.median(records / r.seconds for r in rs)
            # per round, against the peer of the same round: less sensitive to load drifting over the run
            ratios = [p.seconds / r.seconds for r, p in zip(rs, peer)]
            print(
                f"  {label}, {n} worker(s): {rate:,.0f} records/s, {statistics.median(ratios):.2f}x (per round "
                f"{', '.join(f'{x:.2f}' for x in ratios)}); lock-wait samples "
                f"{statistics.median(100 * r.lock_samples / r.samples for r in rs):.1f} %; CPU per record: workers "
                f"{statistics.median(1e6 * r.worker_cpu / records for r in rs):.1f} µs, PostgreSQL "
                f"{statistics.median(1e6 * r.pg_cpu / records for r in rs):.1f} µs; access_log row writes "
                f"{statistics.median(r.row_writes.get('access_log', 0) for r in rs):,.0f}; load "
                f"{', '.join(f'{r.load[0]:.1f}' for r in rs)}"
            )
    if len(codes) > 1:
        first = next(iter(codes))
        for label in list(codes)[1:]:
            for n in counts:
                ratios = [a.seconds / b.seconds for a, b in zip(runs[(first, n)], runs[(label, n)])]
                print(
                    f"  {label} / {first}, {n} worker(s): {statistics.median(ratios):.2f}x "
                    f"(per round {', '.join(f'{x:.2f}' for x in ratios)})"
                )


if __name__ == "__main__":
    main()
