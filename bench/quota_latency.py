"""Quota breach latency: a quota change through the API → its transition on the breach topic.

Starts a real ``warpdrive api serve`` and ``warpdrive streams worker`` on a fresh database and topic
prefix of a running stack, gives a team some usage, then alternates its hard limit below and above that
usage through ``PUT /api/v1/quota`` (``--changes`` times, a random pause between), and times each PUT's
start to the arrival of its transition on the breach topic at a consumer already waiting on it. The
path measured: API transaction → command outbox → COMMANDS topic → worker evaluation → quota outbox →
breach topic.

The peer, in the same run: the same measurement with another build's ``warpdrive`` (``--peer-bin``, e.g.
main's ``/work/main/.venv/bin/warpdrive``, the publishers woken before commit); the ratio is printed.

    .venv/bin/python bench/quota_latency.py --stack /tmp/wds-shared --changes 40 \
        --peer-bin /work/main/.venv/bin/warpdrive

The databases are dropped at the end; every process started is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from warpdrive.compose.stack import Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.db import create_database, drop_database
from warpdrive.schemas.topics import QUOTA_BREACH, ensure_topics

TEAM, GB = "benchteam", 1000**3


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def measure(stack: Stack, binary: str, changes: int, label: str) -> list[float]:
    run = uuid.uuid4().hex[:8]
    base, name = stack.postgres_dsn(), f"wdbench_quota_{run}"
    dsn = await create_database(base, name)
    tmp = Path(tempfile.mkdtemp(prefix=f"wdq-{run}-"))
    port = _port()
    conf = stack.config_dict(
        {
            "state_dir": str(tmp),
            "kafka": {"bootstrap_servers": stack.kafka_bootstrap, "topic_prefix": f"bq{run}."},
            "postgres": {"dsn": dsn},
            "streams": {"app_id": f"wd-bench-quota-{run}"},
            "api": {"listen": f"127.0.0.1:{port}", "insecure_no_auth": True},
        }
    )
    path = tmp / "warpdrive.toml"
    path.write_text(dump_toml(conf))
    cfg = wconfig.load(path)
    await ensure_topics(cfg.kafka)
    env = {**os.environ, "WARPDRIVE_CONFIG": str(path)}
    subprocess.run([binary, "migrate"], env=env, check=True, capture_output=True)
    procs = [
        subprocess.Popen(
            [binary, *args],
            env=env,
            stdout=open(tmp / f"{args[0]}.log", "wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for args in (("api", "serve"), ("streams", "worker"))
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit(f"{label}: the API did not start (log: {tmp / 'api.log'})")
            conn = await asyncpg.connect(dsn)
            await conn.execute("INSERT INTO teams VALUES ('benchuser', $1)", TEAM)
            await conn.execute(
                "INSERT INTO usage_rollup (backend_name, owner_team, owner_user, file_count,"
                " total_bytes) VALUES ('local', $1, 'benchuser', 1, $2)",
                TEAM,
                10 * GB,
            )
            await conn.close()
            consumer = AIOKafkaConsumer(
                QUOTA_BREACH.full_name(cfg.kafka),
                **cfg.kafka.client_options(),
                group_id=None,
                auto_offset_reset="latest",
                fetch_max_wait_ms=50,
            )
            await consumer.start()
            try:
                while not consumer.assignment():
                    await asyncio.sleep(0.05)
                await consumer.seek_to_end()
                # The worker evaluates a new quota without a transition (it starts 'ok'), and its consumer
                # group needs its partitions first: one warm-up transition, not timed.
                latencies: list[float] = []
                rnd = random.Random(3)
                for i in range(changes + 1):
                    hard = 5 * GB if i % 2 == 0 else 50 * GB  # below, then above the 10 GB used
                    level = "hard" if i % 2 == 0 else "ok"
                    t0 = time.perf_counter()
                    r = await http.put("/api/v1/quota", json={"team": TEAM, "soft": hard // 2, "hard": hard})
                    r.raise_for_status()
                    while True:
                        got = [
                            orjson.loads(m.value)
                            for ms in (await consumer.getmany(timeout_ms=100)).values()
                            for m in ms
                        ]
                        if any(v["team"] == TEAM and v["level"] == level for v in got):
                            break
                        if time.perf_counter() - t0 > 60:
                            raise SystemExit(f"{label}: no '{level}' transition after 60 s (log: {tmp})")
                    if i:
                        latencies.append(time.perf_counter() - t0)
                    await asyncio.sleep(rnd.uniform(0.05, 0.5))
                return latencies
            finally:
                await consumer.stop()
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(p.pid, signal.SIGKILL)
        await drop_database(base, name)
        shutil.rmtree(tmp, ignore_errors=True)


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20, method="inclusive")[18]


def summary(xs: list[float]) -> str:
    return f"p50 {statistics.median(xs) * 1000:.0f} ms, p95 {p95(xs) * 1000:.0f} ms, max {max(xs) * 1000:.0f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--stack", default=os.environ.get("WARPDRIVE_TEST_STACK", "/tmp/wds1"), help="state dir of a running stack"
    )
    ap.add_argument("--changes", type=int, default=40, help="timed quota changes (transitions) per build")
    ap.add_argument(
        "--bin",
        default=str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "warpdrive"),
        help="the warpdrive executable measured",
    )
    ap.add_argument("--peer-bin", help="another build's warpdrive executable, measured the same way (the peer)")
    a = ap.parse_args()
    stack = Stack(Path(a.stack))
    print(f"{platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; {a.changes} transitions per build")
    mine = asyncio.run(measure(stack, a.bin, a.changes, "this build"))
    print(f"this build: quota change → breach message: {summary(mine)}")
    if a.peer_bin:
        peer = asyncio.run(measure(stack, a.peer_bin, a.changes, "peer"))
        print(f"peer ({a.peer_bin}): {summary(peer)}")
        print(
            f"ratio peer/this: p50 {statistics.median(peer) / statistics.median(mine):.1f}x, "
            f"p95 {p95(peer) / p95(mine):.1f}x"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
