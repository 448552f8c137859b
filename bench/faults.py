"""Fault runs as figures: access events sent / applied / lost / duplicated while a process is killed mid-ingest.

Each event reads its own file (one ``access_log`` row, read_count 1), so after the run every row says exactly
what happened to its event: missing = lost, read_count > 1 = applied twice. "Sent" counts only events Kafka
acknowledged (the producer retries, as an agent's spool does, until each batch is acknowledged).

Scenarios (each on a PRIVATE stack — it kills Kafka and PostgreSQL — started and stopped by this script):
  worker-kill    the stream worker kill -9'd three times mid-ingest, restarted each time
  broker-kill    the Kafka broker kill -9'd mid-ingest while the producer keeps sending, restarted
  postgres-kill  PostgreSQL kill -9'd mid-ingest, restarted
  rebalance      a second worker joins mid-stream (partitions move), then the first is stopped
  agent-spool    the agent's own telemetry pipeline (collector → Kafka sink → disk spool) records events with
                 the broker down for --outage seconds (they go to the spool), stops with a non-empty spool, and a
                 restarted one (same spool) replays them once the broker is back

    .venv/bin/python bench/faults.py                      # every scenario, 20k events each (a few minutes)
    .venv/bin/python bench/faults.py --events 50000 --only worker-kill

Prints one table row per scenario, with the machine, load and date (paste it into docs/reliability.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import asyncpg
from aiokafka import AIOKafkaProducer

from warpdrive.compose.stack import Ports, Stack
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import connect_and_migrate
from warpdrive.schemas.records import AccessEvent, encode_batch
from warpdrive.schemas.topics import ACCESS, ensure_topics

PER_MESSAGE = 100
SCENARIOS = ["worker-kill", "broker-kill", "postgres-kill", "rebalance", "agent-spool"]
EXE = str(Path(sys.executable).with_name("warpdrive"))


def events(run: str, n: int) -> list[list[AccessEvent]]:
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    out, batch = [], []
    for i in range(n):
        # As an agent: one producer per message key (one partition), seq increasing in sending order
        # (streams/dedupe.py applies each (producer, seq) once).
        key = f"node{i // PER_MESSAGE % 8}"
        batch.append(
            AccessEvent(
                event_id=f"{run}/{i}",
                timestamp=ts,
                user_id="alice",
                backend_name="bench",
                path=f"{run}/f{i}",
                operation="read",
                node_host=key,
                seq=i + 1,
                count=1,
                bytes_read=1,
                bytes_written=0,
                cache_hit=False,
                error=None,
                producer=f"{run}/{key}",
            )
        )
        if len(batch) == PER_MESSAGE:
            out.append(batch)
            batch = []
    return out + ([batch] if batch else [])


class Run:
    def __init__(self, scenario: str, n: int) -> None:
        self.scenario, self.n = scenario, n
        self.stack = Stack(Path(f"/tmp/wdf-{uuid.uuid4().hex[:8]}"), Ports.free())
        self.workers: list[str] = []
        self.stopped: set[str] = set()  # killed or stopped on purpose (or already restarted)
        self.restarts = 0
        self.run_id = f"{scenario}-{uuid.uuid4().hex[:6]}"
        self.stalled: float | None = None  # seconds without progress when the final wait ran out

    def start(self) -> None:
        self.stack.infra_up(("postgres", "kafka"))
        raw = self.stack.config_dict(
            {
                "postgres": {"dsn": self.stack.postgres_dsn()},
                "streams": {"app_id": "faults", "batch_within": 0.2, "session_timeout": 6.0},
            }
        )
        self.config = self.stack.state_dir / "bench.toml"
        self.config.write_text(wconfig.dump_toml(raw))
        self.cfg = wconfig.load(self.config)

        async def prepare() -> None:
            await ensure_topics(self.cfg.kafka)
            await (await connect_and_migrate(self.cfg)).close()

        asyncio.run(prepare())

    def supervise(self) -> None:
        """Restarts a worker that exited on its own (as Kubernetes or systemd would): a worker that cannot reach
        Kafka at start, or loses it for good, exits with one line."""
        for name in list(self.workers):
            if name not in self.stopped and self.stack.pid(name) is None:
                self.restarts += 1
                self.stopped.add(name)
                self.worker()

    def live_workers(self) -> list[str]:
        return [n for n in self.workers if n not in self.stopped and self.stack.pid(n) is not None]

    def worker(self) -> str:
        """A worker process of the stack (pid file in its run dir: `stack down` stops it whatever happens)."""
        name = f"worker-{len(self.workers)}"
        self.stack.spawn(name, [EXE, "streams", "worker"], env={"WARPDRIVE_CONFIG": str(self.config)})
        self.workers.append(name)
        return name

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        self.stopped.add(name)
        if sig == signal.SIGKILL:
            self.stack.kill(name)
        else:
            self.stack.stop(name, timeout=60)

    def rows(self) -> tuple[int, int, int]:
        """(rows, sum of read_count, rows read more than once) of this run's events."""

        async def q() -> tuple[int, int, int]:
            conn = await asyncpg.connect(self.cfg.postgres.dsn, timeout=5)
            try:
                r = await conn.fetchrow(
                    "SELECT count(*) AS n, coalesce(sum(read_count), 0) AS s, "
                    "count(*) FILTER (WHERE read_count > 1) AS d FROM access_log "
                    "WHERE backend_name = 'bench' AND path LIKE $1",
                    self.run_id + "/%",
                )
                return r["n"], r["s"], r["d"]
            finally:
                await conn.close()

        try:
            return asyncio.run(q())
        except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
            return -1, -1, -1

    async def produce(self, on_progress: Callable[[int], None], rate: float) -> int:
        """Sends every batch at ``rate`` events/s, retrying each until Kafka acknowledges it (the first one is applied
        before the rest go out, so every fault lands mid-ingest); returns the events acknowledged."""
        sent = 0
        producer = None
        t0 = 0.0
        for i, batch in enumerate(events(self.run_id, self.n)):
            if i == 1:
                await asyncio.to_thread(self.wait_applied, sent, 120, settle=0)
                t0 = time.monotonic()
            elif i > 1:
                await asyncio.sleep(max(0.0, t0 + (sent - PER_MESSAGE) / rate - time.monotonic()))
            while True:
                try:
                    if producer is None:
                        producer = AIOKafkaProducer(
                            **self.cfg.kafka.client_options(),
                            acks="all",
                            enable_idempotence=True,
                            request_timeout_ms=5000,
                        )
                        await asyncio.wait_for(producer.start(), 10)
                    await asyncio.wait_for(
                        producer.send_and_wait(
                            ACCESS.full_name(self.cfg.kafka), encode_batch(batch), key=batch[0].node_host.encode()
                        ),
                        10,
                    )
                    break
                except Exception:  # the broker is away: as an agent's spool would, keep the batch and retry
                    if producer is not None:
                        try:
                            await asyncio.wait_for(producer.stop(), 5)
                        except Exception:
                            pass
                        producer = None
                    await asyncio.sleep(0.5)
            sent += len(batch)
            self.supervise()
            on_progress(i)
        if producer is not None:
            await producer.stop()
        return sent

    def wait_applied(self, sent: int, timeout: float = 300, settle: float = 5) -> tuple[int, int, int]:
        deadline = time.monotonic() + timeout
        last = self.rows()
        moved = time.monotonic()  # when the applied count last grew: slow (still growing) or stuck
        while time.monotonic() < deadline:
            self.supervise()
            now = self.rows()
            if now[0] != last[0]:
                moved = time.monotonic()
            last = now
            if last[0] >= sent:
                time.sleep(settle)  # a little longer: a duplicate would arrive after the last first-time apply
                return self.rows()
            time.sleep(0.5)
        self.stalled = time.monotonic() - moved
        print(
            f"# {self.scenario}: wait ran out; nothing applied for the last {self.stalled:.0f} s; "
            f"partition lag (Kafka end - PostgreSQL stored): {self.lag()}",
            file=sys.stderr,
        )
        for name in self.live_workers():
            log = self.stack.log_dir / f"{name}.log"
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            print(f"# {name} log tail:\n" + "\n".join(tail), file=sys.stderr)
        return last

    def lag(self) -> dict[int, int] | str:
        """Per partition of the access topic: messages in Kafka not yet applied (stored offset behind the end)."""

        async def q() -> dict[int, int]:
            from aiokafka import AIOKafkaConsumer, TopicPartition

            c = AIOKafkaConsumer(**self.cfg.kafka.client_options(), enable_auto_commit=False)
            await c.start()
            try:
                name = ACCESS.full_name(self.cfg.kafka)
                tps = [TopicPartition(name, p) for p in range(ACCESS.partitions or self.cfg.kafka.partitions)]
                ends = await c.end_offsets(tps)
            finally:
                await c.stop()
            conn = await asyncpg.connect(self.cfg.postgres.dsn, timeout=5)
            try:
                stored = {
                    r["partition"]: r["next_offset"]
                    for r in await conn.fetch(
                        "SELECT partition, next_offset FROM stream_offsets WHERE topic = $1", name
                    )
                }
            finally:
                await conn.close()
            return {
                tp.partition: end - stored.get(tp.partition, 0)
                for tp, end in ends.items()
                if end > stored.get(tp.partition, 0)
            }

        try:
            return asyncio.run(q())
        except Exception as e:  # a diagnosis only
            return f"unreadable ({type(e).__name__}: {e})"

    def stop(self) -> None:
        self.stack.down()
        subprocess.run(["rm", "-rf", str(self.stack.state_dir)], check=False)


def agent_spool(run: Run, outage: float) -> int:
    """Records run.n events through the agent's real sink with Kafka down, then restarts it with Kafka back."""
    from warpdrive.agent.loop import AsyncioThread, Producer
    from warpdrive.agent.sinks import KafkaSink
    from warpdrive.agent.spool import Spool
    from warpdrive.agent.telemetry import Collector
    from warpdrive.schemas.config import AgentSettings

    spool_dir = run.stack.state_dir / "spool"

    def agent(record: int, start: int) -> int:
        loop = AsyncioThread()
        loop.start()
        sink = KafkaSink(
            loop,
            Producer(run.cfg.kafka, timeout=3),
            ACCESS.full_name(run.cfg.kafka),
            "bench-agent",
            Spool(spool_dir, 1 << 30),
        )
        c = Collector("bench-agent", AgentSettings(batch_size=100, flush_interval=0.2, sample_metadata_ops=1.0), sink)
        c.start()
        t0 = time.monotonic()
        for i in range(start, start + record):
            c.record("read", "alice", 0, "bench", f"{run.run_id}/f{i}", bytes_read=1)
            if record and i % 100 == 0:  # spread the load over the outage
                time.sleep(max(0.0, outage * (i - start) / record - (time.monotonic() - t0)))
        c.stop()
        loop.submit(sink.producer.close()).result(30)
        loop.stop()
        return c.sent

    run.stack.kill("kafka")
    spooled = agent(run.n, 0)  # the outage: every event goes to the spool
    assert any(spool_dir.glob("*.batch")), "nothing was spooled"
    run.stack.start_kafka()
    run.worker()
    agent(0, run.n)  # the restarted agent replays the spool first
    return spooled


def scenario(name: str, n: int, outage: float, rate: float) -> dict[str, object]:
    run = Run(name, n)
    t0 = time.monotonic()
    try:
        run.start()
        if name == "agent-spool":
            sent = agent_spool(run, outage)
            rows, applied, _ = run.wait_applied(sent)
            return {
                "scenario": f"{name} ({outage:.0f}s outage)",
                "sent": sent,
                "applied": applied,
                "lost": sent - rows,
                "duplicated": applied - rows,
                "seconds": round(time.monotonic() - t0),
            }
        run.worker()
        batches = (n + PER_MESSAGE - 1) // PER_MESSAGE
        faults = {  # batch index → fault, spread over the run
            "worker-kill": {batches // 4: "worker", batches // 2: "worker", 3 * batches // 4: "worker"},
            "broker-kill": {batches // 3: "broker"},
            "postgres-kill": {batches // 3: "postgres"},
            "rebalance": {batches // 3: "join", 2 * batches // 3: "leave"},
        }[name]

        threads: list[threading.Thread] = []

        def on_progress(i: int) -> None:  # in a thread: the producer keeps sending (and retrying) meanwhile
            if i in faults:
                threads.append(threading.Thread(target=inject, args=(faults[i],)))
                threads[-1].start()

        def inject(fault: str) -> None:
            if fault == "worker":
                for p in run.live_workers():
                    run.kill(p)
                run.worker()
            elif fault in ("broker", "postgres"):
                service = "kafka" if fault == "broker" else "postgres"
                run.stack.kill(service)
                while run.stack.pid(service) is not None:  # gone, or the start below would find it still there
                    time.sleep(0.05)
                run.stack.start_kafka() if service == "kafka" else run.stack.start_postgres()
            elif fault == "join":
                run.worker()
            elif fault == "leave":
                run.kill(run.live_workers()[0], signal.SIGTERM)

        sent = asyncio.run(run.produce(on_progress, rate))
        for t in threads:
            t.join()
        rows, applied, _ = run.wait_applied(sent)
        if rows < sent:  # the wait ran out: not a proven loss (a slow or stuck consumer); say so
            name += " (wait ran out: 'lost' = not applied within 300 s)"
        return {
            "scenario": name + (f" ({run.restarts} worker restart(s) by the supervisor)" if run.restarts else ""),
            "sent": sent,
            "applied": applied,
            "lost": sent - rows,
            "duplicated": applied - rows,
            "seconds": round(time.monotonic() - t0),
        }
    finally:
        run.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--only", choices=SCENARIOS, action="append")
    ap.add_argument("--rate", type=float, default=1000.0, help="Events/s sent (the faults land at 1/4, 1/3, 1/2 ...).")
    ap.add_argument("--outage", type=float, default=60.0, help="Seconds the broker is down in agent-spool.")
    a = ap.parse_args()
    print(
        f"# {platform.node()} {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load {os.getloadavg()[0]:.1f}; {a.events} events per run"
    )
    print("| fault | sent | applied | lost | duplicated | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in a.only or SCENARIOS:
        r = scenario(name, a.events, a.outage, a.rate)
        print(
            f"| {r['scenario']} | {r['sent']} | {r['applied']} | {r['lost']} | {r['duplicated']} | {r['seconds']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
