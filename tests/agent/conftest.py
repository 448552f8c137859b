"""Fixtures for the agent's tests: private buckets and dirs, a mounted agent process, Kafka readers."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import orjson
import pytest

from warpdrive.compose.ledger import Ledger
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.storage import kind_of, open_fs, root_path
from warpdrive.schemas.config import dump_toml

from tests.helpers import Procs, wait_until

TEAMS = {"alice": "vision", "bob": "nlp"}
USERS = {"0": "alice", "1000": "bob"}  # the test process runs as root: it is alice; uid 1000 is bob


def blob(n: int, rnd: random.Random | None = None) -> bytes:
    """Random bytes not ending in CR: gcp-storage-emulator 2026.7 drops a trailing b"\\r" of uploads."""
    data = rnd.randbytes(n) if rnd else os.urandom(n)
    return data[:-1] + b"." if data else data


@pytest.fixture(scope="session")
def agent_config_dict(
    config_dict: dict, cfg: wconfig.Config, session_id: str, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    """The session config with private backends: a fresh local dir and a fresh bucket on S3, GCS and Azure.

    Depends on ``cfg`` so the session's topics exist before any agent subscribes (a broker that
    auto-creates topics would otherwise make them with the wrong partitions and no compaction).
    """
    local = tmp_path_factory.mktemp("local-backend")
    local.chmod(0o755)  # the mount shows the backend root's true mode: other users may enter it
    bucket = f"wda-{session_id}"
    backends = []
    for b in config_dict["backends"]:
        if b["name"] == "local":
            backends.append({**b, "url": f"file://{local}"})
        else:
            backends.append({**b, "url": f"{b['url'].split('://')[0]}://{bucket}"})
    d = {**config_dict, "backends": backends, "teams": TEAMS}
    for b in wconfig.from_dict(d).backends:
        if not kind_of(b).posix:
            open_fs(b).mkdir(root_path(b))
    return d


def write_config(
    base: dict,
    path: Path,
    state: Path,
    node: str,
    kafka: dict | None = None,
    backends: list[dict] | None = None,
    **agent: Any,
) -> Path:
    d = {**base, "state_dir": str(state), "kafka": {**base["kafka"], **(kafka or {})}}
    if backends is not None:
        d["backends"] = backends
    d["agent"] = {
        "node_name": node,
        "telemetry_sink": "file",
        "telemetry_file": str(state / "events.jsonl"),
        "sample_metadata_ops": 1.0,
        "flush_interval": 0.3,
        "batch_size": 50,
        "metadata_ttl": 0.5,
        "heartbeat_interval": 1.0,
        "block_size": 1 << 20,
        "users": USERS,
        **agent,
    }
    path.write_text(dump_toml(d))
    return path


class Mounted:
    """A `warpdrive agent mount` process on a temp mount point."""

    def __init__(self, procs: Procs, config: Path, mnt: Path, state: Path) -> None:
        self.procs, self.config, self.mnt, self.state = procs, config, mnt, state
        self.cfg = wconfig.load(config)
        self.name = f"agent-{mnt.name}"

    def start(self) -> "Mounted":
        if ledger := Ledger.current():  # unmounted by the run's reaper even if this session is killed
            ledger.mount(self.mnt)
        self.procs.start(self.name, "agent", "mount", str(self.mnt), "--config", str(self.config))
        wait_until(
            lambda: os.path.ismount(self.mnt) or self.procs.procs[self.name].poll() is not None,
            timeout=30,
            what="the mount",
        )
        assert os.path.ismount(self.mnt), self.procs.log(self.name)
        return self

    def stop(self) -> None:
        """SIGTERM (a clean unmount); a lazy unmount as the last resort, so no mount is ever left."""
        if self.name in self.procs.procs:
            self.procs.kill(self.name, signal.SIGTERM)
        if os.path.ismount(self.mnt):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mnt)], check=False)

    def log(self) -> str:
        return "\n" + self.procs.log(self.name)[-3000:]

    def backend(self, name: str):  # -> (fsspec fs, root)
        b = self.cfg.backend(name)
        return open_fs(b), root_path(b)

    def events(self) -> list[dict]:
        f = self.state / "events.jsonl"
        return [orjson.loads(line) for line in f.read_bytes().splitlines()] if f.exists() else []

    def wait_events(self, check: Callable[[list[dict]], Any], what: str, timeout: float = 20) -> Any:
        return wait_until(lambda: check(self.events()), timeout=timeout, what=what)


@pytest.fixture
def mount_agent(agent_config_dict: dict, procs: Procs, tmp_path: Path) -> Iterator[Callable[..., Mounted]]:
    """Starts agents with agent settings (and optionally the backends) overridden per test; every one is
    unmounted at the end."""
    started: list[Mounted] = []
    # Mount points other users can reach (pytest's tmp dirs are private to root).
    mnt_base = Path(tempfile.mkdtemp(prefix="wda-", dir="/tmp"))
    mnt_base.chmod(0o755)

    def start(name: str = "a", kafka: dict | None = None, backends: list[dict] | None = None, **agent: Any) -> Mounted:
        state = tmp_path / f"state-{name}"
        state.mkdir(exist_ok=True)
        mnt = mnt_base / name
        mnt.mkdir(exist_ok=True)
        node = f"{tmp_path.name}-{name}"[-60:]  # unique per test, stable across a restart of the agent
        config = write_config(agent_config_dict, tmp_path / f"agent-{name}.toml", state, node, kafka, backends, **agent)
        m = Mounted(procs, config, mnt, state)
        started.append(m)
        return m.start()

    try:
        yield start
    finally:
        for m in started:
            m.stop()
        for mnt in {m.mnt for m in started}:
            if not os.path.ismount(mnt):
                mnt.rmdir()
        mnt_base.rmdir()


def consume(cfg: wconfig.Config, topic: str, until: Callable[[list[Any]], bool], timeout: float = 30) -> list[Any]:
    """Every message value of a topic from the beginning (as aiokafka ConsumerRecords) until ``until`` holds."""
    from aiokafka import AIOKafkaConsumer

    async def run() -> list[Any]:
        c = AIOKafkaConsumer(
            topic, **cfg.kafka.client_options(), auto_offset_reset="earliest", enable_auto_commit=False
        )
        await c.start()
        out: list[Any] = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for recs in (await c.getmany(timeout_ms=500)).values():
                    out.extend(recs)
                if until(out):
                    return out
            pytest.fail(f"timed out reading {topic} ({len(out)} messages)")
        finally:
            await c.stop()

    return asyncio.run(run())


def produce(cfg: wconfig.Config, topic: str, value: bytes, key: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    async def run() -> None:
        p = AIOKafkaProducer(**cfg.kafka.client_options(), acks="all")
        await p.start()
        try:
            await p.send_and_wait(topic, value, key=key)
        finally:
            await p.stop()

    asyncio.run(run())
