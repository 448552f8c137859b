"""The agent on one node: the mount plus its Kafka-side services (telemetry, quotas, warm, heartbeat).

The mount runs on trio in the main thread; everything Kafka runs on one asyncio loop in its own
thread (``AsyncioThread``) under one TaskGroup, cancelled when the mount ends.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pyfuse3
import trio
from aiokafka import AIOKafkaConsumer

from warpdrive.schemas.config import Config
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.jobs import AGENT_KINDS
from warpdrive.schemas.records import AgentStatus, Command, decode, decode_batch, encode, parse_ts, utc_now
from warpdrive.schemas.topics import ACCESS, AGENT_STATUS, COMMANDS

from .backend import Backend
from .cache import BlockCache
from .errors import MountError
from .fs import WarpFS
from .identity import Identities
from .loop import AsyncioThread, Producer
from .metrics import agent_metrics
from .probe import Probes
from .quota import Quotas
from .sinks import JsonLinesSink, KafkaSink
from .spool import Spool
from .telemetry import Collector, Sink
from .warm import Warmer

log = logging.getLogger(__name__)

# A warm request older than this is history, not a request (a new node replays the commands topic).
COMMAND_MAX_AGE = 3600.0
READ_AHEAD_KB = 1024  # FUSE's default 128 KiB read-ahead halves sequential throughput
# After SIGINT/SIGTERM, calls still running this long (a hung backend) are abandoned, so the mount
# still goes away and telemetry is still flushed; their callers get an error from the kernel.
STOP_GRACE = 5.0


def _report_end(done: "concurrent.futures.Future[None]") -> None:
    """The Kafka-side services only end by cancellation; anything else is a bug worth a log line."""
    if not done.cancelled() and done.exception() is not None:
        log.error("agent services stopped: %s", done.exception())


def node_name(cfg: Config) -> str:
    return cfg.agent.node_name or socket.gethostname()


class Agent:
    def __init__(self, cfg: Config, mountpoint: Path) -> None:
        self.cfg = cfg
        self.mountpoint = mountpoint
        self.node = node_name(cfg)
        a = cfg.agent
        self.loop = AsyncioThread()
        self.producer = Producer(cfg.kafka)
        self.spool = Spool(Path(a.spool_dir or cfg.state_dir / "spool"), a.spool_max_bytes)
        self.collector = Collector(self.node, a, self._sink())
        self.cache = BlockCache(Path(a.cache_dir or cfg.state_dir / "cache"), a.cache_max_bytes, a.block_size)
        self.quotas = Quotas()  # levels and membership both come from Kafka (quota.py)
        self.started = utc_now()
        self._services_task: asyncio.Task[None] | None = None
        self.probes: Probes | None = None  # the backends' reachability, once the services run

    def _sink(self) -> Sink | None:
        a = self.cfg.agent
        if not a.telemetry_enabled:
            return None
        if a.telemetry_sink == "stdout":
            return JsonLinesSink.stdout()
        if a.telemetry_sink == "file":
            return JsonLinesSink.file(Path(a.telemetry_file or self.cfg.state_dir / "telemetry.jsonl"))
        return KafkaSink(self.loop, self.producer, ACCESS.full_name(self.cfg.kafka), self.node, self.spool)

    async def run(self) -> None:
        """Mounts, serves until SIGINT/SIGTERM or an external unmount, then unmounts and flushes."""
        limiter = trio.CapacityLimiter(self.cfg.agent.max_threads)
        a = self.cfg.agent
        backends = [
            Backend(b, limiter, a.metadata_ttl, a.backend_timeout, a.metadata_cache_entries) for b in self.cfg.backends
        ]
        ops = WarpFS(
            backends,
            self.cache,
            self.collector,
            Identities(a.users),
            self.quotas,
            self.cache.root.parent / "writes",
            a.metadata_ttl,
            a.flush_interval,
            a.read_only,
            a.object_uid,
            a.object_gid,
            a.object_umask,
        )
        options = set(pyfuse3.default_options) | {"fsname=warpdrive", "subtype=warpdrive"}
        if os.getuid() == 0:
            options.add("allow_other")  # jobs of every user read through one node-wide mount
        if self.cfg.agent.read_only:
            # The kernel then refuses writes itself, and no longer invalidates atime after every read
            # from the daemon (on a read-write mount the next fstat of the file costs a GETATTR).
            options.add("ro")
        self.loop.start()
        self.collector.start()
        self.loop.submit(self._services(ops)).add_done_callback(_report_end)  # stopped by _stop_services
        with agent_metrics(self, ops).serving(self.cfg.agent.metrics_listen):
            await self._serve(ops, options)

    async def _serve(self, ops: WarpFS, options: set[str]) -> None:
        try:
            try:
                pyfuse3.init(ops, str(self.mountpoint), options)
            except RuntimeError as e:
                raise MountError(f"cannot mount {self.mountpoint}: {e}") from None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._signals, nursery.cancel_scope)
                    nursery.start_soon(ops.flush_windows)
                    nursery.start_soon(self._raise_read_ahead)
                    await pyfuse3.main()
                    nursery.cancel_scope.cancel()
            finally:
                pyfuse3.close(unmount=True)
                ops.close_windows()
        finally:
            self.loop.submit(self._stop_services()).result(15)
            self.collector.stop()
            self.loop.submit(self.producer.close()).result(15)
            self.loop.stop()

    async def _signals(self, mount_scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for sig in signals:
                log.info("%s: unmounting %s", signal.Signals(sig).name, self.mountpoint)
                pyfuse3.terminate()  # the main loop ends once the requests in flight are answered
                break
        await trio.sleep(STOP_GRACE)
        log.warning("backend calls still running after %g s: abandoning them to unmount", STOP_GRACE)
        mount_scope.cancel()

    async def _raise_read_ahead(self) -> None:
        """Best effort (needs root): raise the mount's kernel read-ahead for sequential throughput."""
        try:
            st = await trio.to_thread.run_sync(os.stat, self.mountpoint)
            bdi = Path(f"/sys/class/bdi/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/read_ahead_kb")
            await trio.to_thread.run_sync(bdi.write_text, str(READ_AHEAD_KB))
        except OSError as e:
            log.debug("read-ahead stays at the kernel default: %s", e)

    # -- the asyncio side ------------------------------------------------------------------------

    async def _services(self, ops: WarpFS) -> None:
        self._services_task = asyncio.current_task()
        warmer = Warmer(self.node, ops.backends, self.cache, self.producer, self.cfg.kafka)
        probes = self.probes = Probes(ops.backends, self.cfg.agent.heartbeat_interval)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.quotas.follow(self.cfg.kafka))
            tg.create_task(self._commands(warmer, tg))
            tg.create_task(probes.run())
            tg.create_task(self._heartbeat(ops, warmer, probes))

    async def _stop_services(self) -> None:
        task = self._services_task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])

    async def _commands(self, warmer: Warmer, tg: asyncio.TaskGroup) -> None:
        topic = COMMANDS.full_name(self.cfg.kafka)
        while True:
            consumer = AIOKafkaConsumer(
                topic,
                **self.cfg.kafka.client_options(),
                group_id=f"warpdrive-agent.{self.node}",
                auto_offset_reset="earliest",
                enable_auto_commit=True,
            )
            try:
                await consumer.start()
                async for msg in consumer:
                    for cmd in self._decode_commands(msg.value):
                        if (
                            cmd.kind in AGENT_KINDS
                            and cmd.target in ("*", self.node)
                            and cmd.command_id not in warmer.jobs
                        ):
                            if time.time() - parse_ts(cmd.timestamp).timestamp() < COMMAND_MAX_AGE:
                                tg.create_task(warmer.run(cmd))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("commands: %s; retrying", e)
                await asyncio.sleep(2)
            finally:
                await consumer.stop()

    @staticmethod
    def _decode_commands(raw: bytes | None) -> list[Command]:
        """Commands arrive as single records or as batches; a malformed one is logged and skipped."""
        try:
            try:
                return decode_batch(raw, Command)
            except DecodeError:
                return [decode(raw, Command)]
        except DecodeError as e:
            log.warning("commands: skipping a malformed message: %s", e)
            return []

    def status(self, ops: WarpFS, warmer: Warmer, reach: dict[str, Any]) -> AgentStatus:
        return AgentStatus(
            node_host=self.node,
            timestamp=utc_now(),
            mounts=[
                {
                    "mountpoint": str(self.mountpoint),
                    "backends": sorted(ops.backends),
                    "since": self.started,
                    "open_handles": len(ops.handles),
                    "errors": ops.errors,
                }
            ],
            backends=reach,
            cache=self.cache.stats(),
            telemetry=self.collector.stats(),
            jobs=dict(warmer.jobs),
        )

    async def _heartbeat(self, ops: WarpFS, warmer: Warmer, probes: Probes) -> None:
        topic = AGENT_STATUS.full_name(self.cfg.kafka)
        await probes.ready.wait()  # the first heartbeat already says which backends answer
        while True:
            status = self.status(ops, warmer, probes.snapshot())
            await self.producer.send(topic, encode(status), self.node.encode())
            await asyncio.sleep(self.cfg.agent.heartbeat_interval)
