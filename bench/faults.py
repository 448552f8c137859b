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
  broker-outage  one agent pipeline records events steadily — a quarter in the 30 s before the broker is killed,
                 half during the --outage seconds it stays down, a quarter after it is back (and on while it
                 restarts) — and never restarts: its spool holds the outage, then drains into the broker

    .venv/bin/python bench/faults.py                      # every scenario, 20k events each (a few minutes)
    .venv/bin/python bench/faults.py --events 50000 --only worker-kill
    .venv/bin/python bench/faults.py --only broker-outage --outage 600   # Kafka down 10 minutes under agent load

The senders are the agent's own (``warpdrive.agent``: one idempotent producer, kept across an outage). "In Kafka"
counts the events the access topic holds: above "sent", a batch reached Kafka twice (a producer rebuilt after a
failure resent it) and the worker's dedupe had to skip the copy. "Producers" is how many producer ids the
senders used (one per agent start, plus one per rebuild after a failed send).

Prints one table row per scenario, with the machine, load and date (paste it into docs/reliability.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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

from warpdrive.compose.errors import StackError
from warpdrive.compose.stack import Ports, Stack, port_open
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import connect_and_migrate
from warpdrive.schemas.records import AccessEvent, encode_batch
from warpdrive.schemas.topics import ACCESS, ensure_topics

PER_MESSAGE = 100
SCENARIOS = ["worker-kill", "broker-kill", "postgres-kill", "rebalance", "agent-spool", "broker-outage"]
# A restart after kill -9 recovers the broker's logs in a JVM that starts slowly on a loaded 2-core machine (over
# 90 s at load 20-30): the bench waits that long before it calls the run failed.
RESTART_TIMEOUT = 600.0
BESIDE_OUTAGE = 30.0  # broker-outage: seconds of agent load before the broker is killed, and again after it is back
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
        self.failed: str | None = None  # why the run cannot go on (a service did not come back)
        self.producers = 0  # producer ids the senders used

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

    def restart(self, service: str) -> None:
        """Starts a killed service again once its old process is gone and its ports are closed (a broker still
        holding its data dir's lock would stop the new one at start). A service that does not come back fails
        the run with its log tail and the load, not a stall."""
        t0 = time.monotonic()
        ports = [self.stack.ports.kafka, self.stack.ports.kafka_controller] if service == "kafka" else []
        while self.stack.pid(service) is not None or any(port_open(p) for p in ports):
            if time.monotonic() - t0 > 60:
                self.failed = f"the killed {service} was still there after 60 s"
                raise StackError(self.failed)
            time.sleep(0.1)
        try:
            self.stack.start_kafka(RESTART_TIMEOUT) if service == "kafka" else self.stack.start_postgres()
        except StackError as e:
            self.failed = f"{service} restart failed at load {os.getloadavg()[0]:.1f}: {e}"
            raise
        print(
            f"# {self.scenario}: {service} back {time.monotonic() - t0:.0f} s after its restart began "
            f"(load {os.getloadavg()[0]:.1f})",
            file=sys.stderr,
        )

    def in_kafka(self) -> int:
        """Events of this run the access topic holds (copies included)."""

        async def q() -> int:
            from aiokafka import AIOKafkaConsumer

            from warpdrive.schemas.records import decode_batch

            c = AIOKafkaConsumer(
                ACCESS.full_name(self.cfg.kafka),
                **self.cfg.kafka.client_options(),
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            await c.start()
            n = 0
            try:
                while batch := await c.getmany(timeout_ms=3000):
                    n += sum(
                        e.path.startswith(self.run_id + "/")
                        for recs in batch.values()
                        for m in recs
                        for e in decode_batch(m.value)
                    )
            finally:
                await c.stop()
            return n

        return asyncio.run(q())

    def keep_logs(self) -> None:
        kept = Path(f"/tmp/wdf-logs-{self.run_id}")
        subprocess.run(["cp", "-r", str(self.stack.log_dir), str(kept)], check=False)
        print(f"# {self.scenario}: logs kept in {kept}", file=sys.stderr)

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
        """Sends every batch at ``rate`` events/s through the agent's producer, retrying each until Kafka acknowledges
        it, as an agent's sink does (the first one is applied before the rest go out, so every fault lands
        mid-ingest); returns the events acknowledged."""
        from warpdrive.agent.loop import Message, Producer

        producer = Producer(self.cfg.kafka, timeout=5)
        topic = ACCESS.full_name(self.cfg.kafka)
        sent = 0
        t0 = 0.0
        try:
            for i, batch in enumerate(events(self.run_id, self.n)):
                if i == 1:
                    await asyncio.to_thread(self.wait_applied, sent, 120, settle=0)
                    t0 = time.monotonic()
                elif i > 1:
                    await asyncio.sleep(max(0.0, t0 + (sent - PER_MESSAGE) / rate - time.monotonic()))
                msg = Message(topic, encode_batch(batch), batch[0].node_host.encode())
                while not await producer.deliver(msg):  # the broker is away: keep the batch and try again
                    if self.failed:
                        raise StackError(self.failed)
                    await asyncio.sleep(0.5)
                sent += len(batch)
                self.supervise()
                on_progress(i)
        finally:
            await producer.close()
            self.producers += producer.started
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


class Agent:
    """The agent's own telemetry pipeline (collector → Kafka sink → disk spool), as agent/node.py wires it."""

    def __init__(self, run: Run) -> None:
        from warpdrive.agent.loop import AsyncioThread, Producer
        from warpdrive.agent.sinks import KafkaSink
        from warpdrive.agent.spool import Spool
        from warpdrive.agent.telemetry import Collector
        from warpdrive.schemas.config import AgentSettings

        self.run = run
        self.loop = AsyncioThread()
        self.loop.start()
        self.sink = KafkaSink(
            self.loop,
            Producer(run.cfg.kafka, timeout=3),
            ACCESS.full_name(run.cfg.kafka),
            "bench-agent",
            Spool(run.stack.state_dir / "spool", 1 << 30),
        )
        self.collector = Collector(
            "bench-agent", AgentSettings(batch_size=100, flush_interval=0.2, sample_metadata_ops=1.0), self.sink
        )
        self.collector.start()

    def record(self, start: int, stop: int, seconds: float, until: Callable[[], bool] = lambda: True) -> None:
        """Records events ``start``..``stop`` spread over ``seconds`` (and on, at that pace, until ``until()``)."""
        t0 = time.monotonic()
        for i in range(start, stop):
            self.collector.record("read", "alice", 0, "bench", f"{self.run.run_id}/f{i}", bytes_read=1)
            if i % 10 == 0:
                time.sleep(max(0.0, seconds * (i - start) / (stop - start) - (time.monotonic() - t0)))
        while not until():
            time.sleep(0.1)

    def stop(self, drain: float = 0) -> int:
        """Stops (with ``drain``: first waits up to that long for the spool to empty); returns the events sent."""
        self.collector.stop()
        deadline = time.monotonic() + drain
        while self.sink.spool.pending and time.monotonic() < deadline:
            self.sink.idle()
            time.sleep(0.2)
        self.loop.submit(self.sink.producer.close()).result(30)
        self.loop.stop()
        self.run.producers += self.sink.producer.started
        assert self.collector.dropped == 0 and self.sink.spool.dropped == 0, "the agent dropped events"
        return self.collector.sent


def agent_spool(run: Run, outage: float) -> int:
    """Records run.n events through the agent's real sink with Kafka down, then restarts it with Kafka back."""
    run.stack.kill("kafka")
    first = Agent(run)
    first.record(0, run.n, outage)  # the outage: every event goes to the spool
    spooled = first.stop()
    assert first.sink.spool.pending, "nothing was spooled"
    run.restart("kafka")
    run.worker()
    Agent(run).stop(drain=RESTART_TIMEOUT)  # the restarted agent replays the spool first
    return spooled


def broker_outage(run: Run, outage: float) -> int:
    """One agent records run.n events steadily while the broker is killed and stays down for ``outage`` seconds."""
    run.worker()
    agent = Agent(run)
    quarter = run.n // 4
    agent.record(0, quarter, BESIDE_OUTAGE)
    run.stack.kill("kafka")  # kill -9 by the stack's recorded pid, the agent sending
    outage_ends = time.monotonic() + outage
    agent.record(quarter, run.n - quarter, outage, until=lambda: time.monotonic() >= outage_ends)
    print(f"# broker-outage: {agent.sink.spool.pending} batches spooled at the end of the outage", file=sys.stderr)
    restarting = threading.Thread(target=run.restart, args=("kafka",))  # the agent keeps recording meanwhile
    restarting.start()
    agent.record(run.n - quarter, run.n, BESIDE_OUTAGE, until=lambda: not restarting.is_alive())
    restarting.join()
    if run.failed:
        raise StackError(run.failed)
    return agent.stop(drain=RESTART_TIMEOUT)


def scenario(name: str, n: int, outage: float, rate: float) -> dict[str, object]:
    run = Run(name, n)
    t0 = time.monotonic()
    try:
        run.start()
        if name in ("agent-spool", "broker-outage"):
            sent = (agent_spool if name == "agent-spool" else broker_outage)(run, outage)
            label = f"{name} ({outage:.0f}s outage)"
        else:
            sent, label = injected(run, name, rate)
        rows, applied, _ = run.wait_applied(sent)
        if rows < sent:  # the wait ran out: not a proven loss (a slow or stuck consumer); say so
            label += " (wait ran out: 'lost' = not applied within 300 s)"
        return {
            "scenario": label + (f" ({run.restarts} worker restart(s) by the supervisor)" if run.restarts else ""),
            "sent": sent,
            "in_kafka": run.in_kafka(),
            "producers": run.producers,
            "applied": applied,
            "lost": sent - rows,
            "duplicated": applied - rows,
            "seconds": round(time.monotonic() - t0),
        }
    except BaseException:
        run.keep_logs()
        raise
    finally:
        run.stop()


def injected(run: Run, name: str, rate: float) -> tuple[int, str]:
    """Sends run.n events at ``rate`` while the scenario's faults are injected; returns (sent, label)."""
    run.worker()
    batches = (run.n + PER_MESSAGE - 1) // PER_MESSAGE
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
            run.restart(service)
        elif fault == "join":
            run.worker()
        elif fault == "leave":
            run.kill(run.live_workers()[0], signal.SIGTERM)

    sent = asyncio.run(run.produce(on_progress, rate))
    for t in threads:
        t.join()
    return sent, name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--only", choices=SCENARIOS, action="append")
    ap.add_argument("--rate", type=float, default=1000.0, help="Events/s sent (the faults land at 1/4, 1/3, 1/2 ...).")
    ap.add_argument(
        "--outage", type=float, default=60.0, help="Seconds the broker is down in agent-spool and broker-outage."
    )
    a = ap.parse_args()
    # aiokafka logs every reconnect attempt while the broker is away; the agent's process collapses those into one
    # line per outage (schemas/logs.py FloodGuard), here they would bury the figures.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    print(
        f"# {platform.node()} {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"load {os.getloadavg()[0]:.1f}; {a.events} events per run"
    )
    print("| fault | sent | in Kafka | producers | applied | lost | duplicated | seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in a.only or SCENARIOS:
        r = scenario(name, a.events, a.outage, a.rate)
        print(
            f"| {r['scenario']} | {r['sent']} | {r['in_kafka']} | {r['producers']} | {r['applied']} | {r['lost']} "
            f"| {r['duplicated']} | {r['seconds']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
