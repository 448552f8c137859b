"""The local stack without containers: Kafka (KRaft), PostgreSQL, an S3 server, a GCS emulator,
and WarpDrive's own services, as processes under one state dir.

Each service has a pid file in ``<state>/run`` and a log in ``<state>/logs``; ``up`` is idempotent
(a healthy service is left alone), ``down`` stops everything it finds a pid file for, killing the
whole process group so nothing is left behind. ``up`` writes ``<state>/warpdrive.toml``, the config
every component and ``warpdrive-ctl`` read by default.

Why these servers: moto's server is what s3fs's own test suite runs against; gcp-storage-emulator is
a pip package (no Go toolchain or container needed) that gcsfs talks to once
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` is set (see warpdrive.schemas.storage.gcs).
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Callable, Iterator

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import embedded_server_uri

from .errors import StackError
from .ledger import Ledger, same_process, start_time

KAFKA_VERSION = "4.4.0"
DEMO_BUCKET = "warpdrive-demo"
# Object-store credentials for the local servers only (moto accepts any).
S3_KEY, S3_SECRET = "testing", "testing"


def cache_dir() -> Path:
    if v := os.environ.get("WARPDRIVE_CACHE_DIR"):
        return Path(v)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "warpdrive"


def kafka_cluster_id() -> str:
    """A random cluster id as Kafka makes them (``Uuid.randomUuid``): URL-safe base64 of 16 bytes, never starting
    with '-', which the storage tool's argument parser would take for an option (1 id in 64 did, failing CI)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None,
             alive: Callable[[], bool] = lambda: True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            timeout = 0  # exited: report now, with its log
            break
        time.sleep(0.1)
    tail = ""
    if log and log.exists():
        tail = "\n  last log lines:\n    " + "\n    ".join(log.read_text(errors="replace").splitlines()[-15:])
    problem = "exited at start" if timeout == 0 else f"did not become healthy within {timeout:.0f}s"
    raise StackError(f"{what} {problem} (log: {log}){tail}")


def kafka_jars(progress: Callable[[str], None] = lambda m: None) -> Path:
    """Resolves the broker jars with Maven once; later calls return the cached folder."""
    jars = cache_dir() / f"kafka-{KAFKA_VERSION}" / "jars"
    if (jars / ".complete").exists():
        return jars
    mvn = shutil.which("mvn")
    if not mvn:
        raise StackError("Maven (mvn) is not installed: it resolves the Kafka broker from Maven Central")
    progress(f"resolving Kafka {KAFKA_VERSION} jars with Maven into {jars} (once)")
    tmp = jars.with_name("jars.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    pom = resources.files("warpdrive.compose").joinpath("kafka/pom.xml")
    with resources.as_file(pom) as pom_path:
        r = subprocess.run(
            [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies",
             f"-DoutputDirectory={tmp}", "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}"],
            capture_output=True, text=True,
        )
    if r.returncode != 0:
        raise StackError(f"Maven could not resolve the Kafka jars: {(r.stdout + r.stderr).strip()[-2000:]}")
    shutil.rmtree(jars, ignore_errors=True)
    tmp.rename(jars)
    (jars / ".complete").touch()
    return jars


@dataclass
class Ports:
    kafka: int = 9092
    kafka_controller: int = 9093
    s3: int = 9100
    gcs: int = 9101
    api: int = 8080

    @classmethod
    def free(cls) -> "Ports":
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass
class Stack:
    """One local stack under ``state_dir``. Tests make their own with free ports."""

    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    progress: Callable[[str], None] = lambda m: None

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        self.run_dir = self.state_dir / "run"
        self.log_dir = self.state_dir / "logs"
        saved = self.run_dir / "ports"
        if saved.exists():  # a running stack keeps the ports it was started with
            self.ports = Ports(*map(int, saved.read_text().split()))

    # ---- endpoints -------------------------------------------------------------------------
    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3}"

    @property
    def gcs_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports.gcs}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "warpdrive.toml"

    @property
    def pgdata(self) -> Path:
        return self.state_dir / "pg"

    def postgres_dsn(self) -> str:
        return embedded_server_uri(self.pgdata)

    # ---- process bookkeeping -----------------------------------------------------------------
    def _pidfile(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        p = self._pidfile(name)
        if name == "postgres":
            p = self.pgdata / "postmaster.pid"
        try:
            fields = p.read_text().split()
            pid = int(fields[0])
            # `spawn` records the start time too: a pid reused by another process since is not ours.
            recorded = int(fields[1]) if name != "postgres" and len(fields) > 1 else None
        except (OSError, ValueError, IndexError):
            return None
        if recorded is not None and not same_process(pid, recorded):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        with contextlib.suppress(OSError):  # a zombie counts as stopped
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
                return None
        return pid

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
        """Starts a process in its own session (so `down` can kill its whole group)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, **(env or {})}, cwd=cwd,
        )
        log.close()
        self._pidfile(name).write_text(f"{proc.pid} {start_time(proc.pid) or ''}".strip())
        return proc.pid

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Sends ``sig`` to a service's process group (for fault tests: SIGKILL, no clean-up)."""
        pid = self.pid(name)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig) if name != "postgres" else os.kill(pid, sig)

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        pid = self.pid(name)
        if pid is None:
            self._pidfile(name).unlink(missing_ok=True)
            return False
        if name == "postgres":
            self._stop_postgres(pid, timeout)
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid(name) is not None:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self._pidfile(name).unlink(missing_ok=True)
        return True

    def _reap_orphan_backends(self, timeout: float = 10.0) -> None:
        """Backends of a killed postmaster linger until they notice; a new one cannot start beside them.
        They are the processes whose working directory is this data dir."""
        def orphans() -> list[int]:
            found = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/cwd") == str(self.pgdata):
                        found.append(int(pid))
            return found

        deadline = time.monotonic() + timeout
        while (pids := orphans()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)

    def _stop_postgres(self, pid: int, timeout: float) -> None:
        # SIGINT = PostgreSQL's "fast" shutdown: rolls back open transactions, stops in a second.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid("postgres") is not None:
            time.sleep(0.1)
        if self.pid("postgres") is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # ---- services ----------------------------------------------------------------------------
    def start_kafka(self) -> None:
        if self.pid("kafka") and port_open(self.ports.kafka):
            return
        jars = kafka_jars(self.progress)
        data = self.state_dir / "kafka"
        props = self.state_dir / "kafka.properties"
        k = self.ports
        props.write_text(
            "\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{k.kafka_controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{k.kafka},CONTROLLER://127.0.0.1:{k.kafka_controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{k.kafka}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=6",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=6",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",  # topics come from `warpdrive topics create`, with their configs
                "log.retention.check.interval.ms=60000",
            ]) + "\n"
        )
        classpath = f"{jars}/*"
        java = shutil.which("java")
        if not java:
            raise StackError("Java is not installed: the Kafka broker needs a JRE (17+)")
        log4j = resources.files("warpdrive.compose").joinpath("kafka/log4j2.properties")
        jvm = ["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", f"-Dlog4j2.configurationFile={log4j}",
               f"-Dkafka.logs.dir={self.log_dir}"]
        if not (data / "meta.properties").exists():
            data.mkdir(parents=True, exist_ok=True)
            cluster_id = kafka_cluster_id()
            r = subprocess.run([java, *jvm, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                                "-c", str(props)], capture_output=True, text=True)
            if r.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {(r.stdout + r.stderr).strip()[-1500:]}")
        self.spawn("kafka", [java, *jvm, "-cp", classpath, "kafka.Kafka", str(props)])
        wait_for("Kafka", lambda: port_open(k.kafka) and self._kafka_ready(), 90, self.log_dir / "kafka.log",
                 lambda: self.pid("kafka") is not None)

    def _kafka_ready(self) -> bool:
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, request_timeout_ms=3000)
            try:
                await asyncio.wait_for(admin.start(), 5)
                await asyncio.wait_for(admin.list_topics(), 5)
                return True
            except Exception:
                return False
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

        return asyncio.run(probe())

    def start_postgres(self) -> str:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self.pid("postgres") is None:
            # After a kill -9 the stale postmaster.pid (and pgserver's per-process cache of the
            # server) would make pgserver believe it still runs: forget both so it starts anew.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            self._reap_orphan_backends()
            for lock in self.pgdata.glob(".s.PGSQL.*.lock"):
                lock.unlink(missing_ok=True)
            with contextlib.suppress(ImportError, AttributeError):
                from pgserver.postgres_server import PostgresServer

                PostgresServer._instances.pop(self.pgdata, None)
        return self.postgres_dsn()

    def start_s3(self) -> None:
        if self.pid("s3") and port_open(self.ports.s3):
            return
        exe = _console_script("moto_server")
        self.spawn("s3", [exe, "-H", "127.0.0.1", "-p", str(self.ports.s3)])
        wait_for("S3 server (moto)", lambda: port_open(self.ports.s3), 60, self.log_dir / "s3.log",
                 lambda: self.pid("s3") is not None)

    def start_gcs(self) -> None:
        if self.pid("gcs") and port_open(self.ports.gcs):
            return
        exe = _console_script("gcp-storage-emulator")
        data = self.state_dir / "gcs"
        data.mkdir(parents=True, exist_ok=True)
        self.spawn("gcs", [exe, "-d", str(data), "start", "--host", "127.0.0.1", "--port", str(self.ports.gcs)])
        wait_for("GCS emulator", lambda: port_open(self.ports.gcs), 60, self.log_dir / "gcs.log",
                 lambda: self.pid("gcs") is not None)

    def infra_up(self, services: tuple[str, ...] = ("postgres", "kafka", "s3", "gcs")) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if ledger := Ledger.current():  # before anything starts: a run killed mid-start still stops it
            ledger.stack(self.state_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        p = self.ports
        (self.run_dir / "ports").write_text(f"{p.kafka} {p.kafka_controller} {p.s3} {p.gcs} {p.api}")
        for name in services:
            t0 = time.monotonic()
            getattr(self, f"start_{name}")()
            self.progress(f"{name:9} up in {time.monotonic() - t0:5.1f}s")
        self.write_config()

    def config_dict(self, extra: dict | None = None) -> dict:
        """The generated config: endpoints of this stack, demo backends on each kind of store."""
        local_root = self.state_dir / "data" / "local"
        local_root.mkdir(parents=True, exist_ok=True)
        cfg: dict = {
            "state_dir": str(self.state_dir),
            "kafka": {"bootstrap_servers": self.kafka_bootstrap},
            "postgres": {"dsn": ""},
            "api": {"listen": f"127.0.0.1:{self.ports.api}", "insecure_no_auth": True},
            "backends": [
                {"name": "local", "url": f"file://{local_root}"},
                {"name": "s3", "url": f"s3://{DEMO_BUCKET}",
                 "storage_options": {"endpoint_url": self.s3_endpoint, "key": S3_KEY, "secret": S3_SECRET}},
                {"name": "gcs", "url": f"gs://{DEMO_BUCKET}",
                 "storage_options": {"endpoint_url": self.gcs_endpoint, "token": "anon", "project": "warpdrive"}},
            ],
        }
        for k, v in (extra or {}).items():
            cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
        return cfg

    def write_config(self, extra: dict | None = None) -> Path:
        self.config_path.write_text(
            "# Written by `warpdrive stack up`: the endpoints of the local stack. Edit a copy, not this file.\n"
            + wconfig.dump_toml(self.config_dict(extra))
        )
        return self.config_path

    def status(self) -> dict[str, dict]:
        out = {}
        for name in ("postgres", "kafka", "s3", "gcs", *self.app_services()):
            pid = self.pid(name)
            out[name] = {"running": pid is not None, "pid": pid, "log": str(self.log_dir / f"{name}.log")}
        return out

    def app_services(self) -> list[str]:
        known = {"postgres", "kafka", "s3", "gcs"}
        return sorted(p.stem for p in self.run_dir.glob("*.pid") if p.stem not in known) if self.run_dir.exists() else []

    def down(self) -> list[str]:
        """Stops every service this stack started (apps first, then infra); returns their names."""
        stopped = []
        for name in [*self.app_services(), "kafka", "s3", "gcs", "postgres"]:
            if self.stop(name):
                stopped.append(name)
        mnt = self.state_dir / "mnt"
        if os.path.ismount(mnt):  # an agent killed hard leaves its mount behind
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
        (self.run_dir / "ports").unlink(missing_ok=True)
        return stopped

    def iter_logs(self) -> Iterator[Path]:
        return iter(sorted(self.log_dir.glob("*.log"))) if self.log_dir.exists() else iter(())


def _console_script(name: str) -> str:
    """A console script of this environment (next to the running interpreter), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise StackError(f"{name} is not installed (pip install 'warpdrive[stack]')")
    return found
