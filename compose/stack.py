"""The local stack without containers: Kafka (KRaft), PostgreSQL, an S3 server, a GCS emulator, an
Azure Blob emulator (Azurite), and WarpDrive's own services, as processes under one state dir.

Each service has a pid file in ``<state>/run`` and a log in ``<state>/logs``; ``up`` is idempotent
(a healthy service is left alone), ``down`` stops everything it finds a pid file for, killing the
whole process group so nothing is left behind. ``up`` writes ``<state>/warpdrive.toml``, the config
every component and ``warpdrive-ctl`` read by default.

Why these servers: moto's server is what s3fs's own test suite runs against; gcp-storage-emulator is
a pip package (no Go toolchain or container needed) that gcsfs talks to once
``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` is set (see warpdrive.schemas.storage.gcs); Azurite is
Microsoft's own emulator, an npm package, installed once into the cache dir from the lock file in
``compose/azurite`` (pinned, outside the repo and the dashboard's node_modules: CI machines keep it
between runs like the Kafka jars).
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
from typing import Callable

from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import embedded_server_uri

from .errors import StackError
from .ledger import Ledger, same_process, start_time

KAFKA_VERSION = "4.4.0"
DEMO_BUCKET = "warpdrive-demo"
# Object-store credentials for the local servers only (moto accepts any).
S3_KEY, S3_SECRET = "testing", "testing"
AZURITE_VERSION = "3.37.0"  # keep in step with compose/azurite/package.json
# Azurite's built-in development account: a published, well-known key that only Azurite accepts.
AZURE_ACCOUNT = "devstoreaccount1"
AZURE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# The users of the optional SASL listener (``Stack.kafka_sasl_port``), for SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN.
KAFKA_SASL_USERS = {"warpdrive": "warpdrive-secret"}


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


def wait_for(
    what: str,
    check: Callable[[], bool],
    timeout: float,
    log: Path | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> None:
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


def install_once(
    dest: Path,
    tool: str,
    missing: str,
    doing: str,
    fill: Callable[[str, Path], subprocess.CompletedProcess[str]],
    progress: Callable[[str], None],
) -> Path:
    """Fills the cache folder ``dest`` once with ``fill(tool's path, temporary folder)``; the folder is renamed into
    place only when complete, so an interrupted install is redone. Later calls return it at once."""
    if (dest / ".complete").exists():
        return dest
    exe = shutil.which(tool)
    if not exe:
        raise StackError(missing)
    progress(f"{doing} into {dest} (once)")
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    r = fill(exe, tmp)
    if r.returncode != 0:
        raise StackError(f"{doing} failed: {(r.stdout + r.stderr).strip()[-2000:]}")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    (dest / ".complete").touch()
    return dest


def kafka_jars(progress: Callable[[str], None] = lambda m: None) -> Path:
    """Resolves the broker jars with Maven once; later calls return the cached folder."""

    def resolve(mvn: str, tmp: Path) -> subprocess.CompletedProcess[str]:
        pom = resources.files("warpdrive.compose").joinpath("kafka/pom.xml")
        with resources.as_file(pom) as pom_path:
            return subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom_path),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={tmp}",
                    "-DincludeScope=runtime",
                    f"-Dkafka.version={KAFKA_VERSION}",
                ],
                capture_output=True,
                text=True,
            )

    return install_once(
        cache_dir() / f"kafka-{KAFKA_VERSION}" / "jars",
        "mvn",
        "Maven (mvn) is not installed: it resolves the Kafka broker from Maven Central",
        f"resolving Kafka {KAFKA_VERSION} jars with Maven",
        resolve,
        progress,
    )


def azurite_exe(progress: Callable[[str], None] = lambda m: None) -> Path:
    """Installs Azurite with npm (``npm ci`` of compose/azurite's lock file) once; later calls return the cached one."""

    def install(npm: str, tmp: Path) -> subprocess.CompletedProcess[str]:
        tmp.mkdir(parents=True)
        for name in ("package.json", "package-lock.json"):
            tmp.joinpath(name).write_bytes(
                resources.files("warpdrive.compose").joinpath(f"azurite/{name}").read_bytes()
            )
        return subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=tmp, capture_output=True, text=True
        )

    home = install_once(
        cache_dir() / f"azurite-{AZURITE_VERSION}",
        "npm",
        "npm is not installed: it installs Azurite, the Azure Blob emulator (apt-get install npm)",
        f"installing Azurite {AZURITE_VERSION} with npm",
        install,
        progress,
    )
    return home / "node_modules" / ".bin" / "azurite-blob"


@dataclass
class Ports:
    kafka: int = 9092
    kafka_controller: int = 9093
    s3: int = 9100
    gcs: int = 9101
    api: int = 8080
    azure: int = 10000  # 0: a stack started before it had Azurite (one is picked when it starts)

    @classmethod
    def free(cls) -> "Ports":
        return cls(free_port(), free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass
class Stack:
    """One local stack under ``state_dir``. Tests make their own with free ports."""

    state_dir: Path
    ports: Ports = field(default_factory=Ports)
    progress: Callable[[str], None] = lambda m: None
    # > 0: Kafka also listens there with SASL_PLAINTEXT and on the next port with SASL_SSL (SCRAM-SHA-256,
    # SCRAM-SHA-512 and PLAIN; users KAFKA_SASL_USERS, created when the storage is formatted; the TLS certificate
    # signed by a CA of the stack's own, ``kafka_ca``), beside the PLAINTEXT listener the stack itself uses.
    kafka_sasl_port: int = 0

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir).resolve()
        self.run_dir = self.state_dir / "run"
        self.log_dir = self.state_dir / "logs"
        saved = self.run_dir / "ports"
        if saved.exists():  # a running stack keeps the ports it was started with
            ports = [int(p) for p in saved.read_text().split()]
            self.ports = Ports(*ports, *([0] if len(ports) == 5 else []))
        if (sasl := self.run_dir / "kafka-sasl-port").exists():
            self.kafka_sasl_port = int(sasl.read_text())

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
    def azure_connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURE_ACCOUNT};AccountKey={AZURE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.ports.azure}/{AZURE_ACCOUNT};"
        )

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
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
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
    def start_kafka(self, timeout: float = 180) -> None:
        """Starts the broker and waits until it answers a metadata request; ``timeout``: 180 s by default,
        ~10 s on an idle machine, but the JVM's start took over 90 s on a 2-core machine at load 20+."""
        if self.pid("kafka") and port_open(self.ports.kafka):
            return
        jars = kafka_jars(self.progress)
        data = self.state_dir / "kafka"
        props = self.state_dir / "kafka.properties"
        k = self.ports
        sasl = self._kafka_sasl_properties()
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{k.kafka_controller}",
                    f"listeners=PLAINTEXT://127.0.0.1:{k.kafka},CONTROLLER://127.0.0.1:{k.kafka_controller}{sasl['listener']}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{k.kafka}{sasl['listener']}",
                    "controller.listener.names=CONTROLLER",
                    f"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{sasl['map']}",
                    *sasl["lines"],
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
                ]
            )
            + "\n"
        )
        classpath = f"{jars}/*"
        java = shutil.which("java")
        if not java:
            raise StackError("Java is not installed: the Kafka broker needs a JRE (17+)")
        log4j = resources.files("warpdrive.compose").joinpath("kafka/log4j2.properties")
        jvm = [
            "-Xms128m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.log_dir}",
        ]
        if not (data / "meta.properties").exists():
            data.mkdir(parents=True, exist_ok=True)
            cluster_id = kafka_cluster_id()
            scram = [
                a
                for user, password in (KAFKA_SASL_USERS.items() if self.kafka_sasl_port else ())
                for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for a in ("--add-scram", f"{mech}=[name={user},password={password}]")
            ]
            r = subprocess.run(
                [
                    java,
                    *jvm,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    *scram,
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {(r.stdout + r.stderr).strip()[-1500:]}")
        self.spawn("kafka", [java, *jvm, "-cp", classpath, "kafka.Kafka", str(props)])
        wait_for(
            "Kafka",
            lambda: port_open(k.kafka) and self._kafka_ready(),
            timeout,
            self.log_dir / "kafka.log",
            lambda: self.pid("kafka") is not None,
        )

    @property
    def kafka_ca(self) -> Path:
        """The CA that signed the SASL_SSL listener's certificate (clients' ``kafka.ssl_cafile``)."""
        return self.state_dir / "kafka-tls" / "ca.pem"

    def _kafka_tls_keystore(self) -> Path:
        """A CA and a certificate for 127.0.0.1 signed by it (openssl), as a PEM keystore: key, then chain."""
        d = self.kafka_ca.parent
        keystore = d / "server.pem"
        if keystore.exists():
            return keystore
        d.mkdir(parents=True, exist_ok=True)
        (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        steps = [
            [
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "30",
                "-subj",
                "/CN=warpdrive local stack CA",
            ],
            [
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
            [
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.crt",
                "-days",
                "30",
                "-extfile",
                "san.ext",
            ],
            ["pkcs8", "-topk8", "-nocrypt", "-in", "server.key", "-out", "server.p8"],
        ]
        openssl = shutil.which("openssl")
        if not openssl:
            raise StackError("openssl is not installed: it makes the Kafka TLS listener's certificate")
        for args in steps:
            r = subprocess.run([openssl, *args], cwd=d, capture_output=True, text=True)
            if r.returncode != 0:
                raise StackError(f"openssl {args[0]} failed: {r.stderr.strip()[-500:]}")
        keystore.write_text((d / "server.p8").read_text() + (d / "server.crt").read_text() + self.kafka_ca.read_text())
        return keystore

    def _kafka_sasl_properties(self) -> dict:
        """The broker properties of the optional SASL listeners (empty without ``kafka_sasl_port``)."""
        if not self.kafka_sasl_port:
            return {"listener": "", "map": "", "lines": []}
        plain_users = " ".join(f'user_{u}="{p}"' for u, p in KAFKA_SASL_USERS.items())
        jaas = {
            "scram-sha-256": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "scram-sha-512": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "plain": f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
        }
        return {
            "listener": f",SASL_PLAINTEXT://127.0.0.1:{self.kafka_sasl_port},SASL_SSL://127.0.0.1:{self.kafka_sasl_port + 1}",
            "map": ",SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            "lines": [
                "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
                *(
                    f"listener.name.{listener}.{mech}.sasl.jaas.config={cfg}"
                    for listener in ("sasl_plaintext", "sasl_ssl")
                    for mech, cfg in jaas.items()
                ),
                "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                f"listener.name.sasl_ssl.ssl.keystore.location={self._kafka_tls_keystore()}",
            ],
        }

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
        wait_for(
            "S3 server (moto)",
            lambda: port_open(self.ports.s3),
            60,
            self.log_dir / "s3.log",
            lambda: self.pid("s3") is not None,
        )

    def start_gcs(self) -> None:
        if self.pid("gcs") and port_open(self.ports.gcs):
            return
        exe = _console_script("gcp-storage-emulator")
        data = self.state_dir / "gcs"
        data.mkdir(parents=True, exist_ok=True)
        self.spawn("gcs", [exe, "-d", str(data), "start", "--host", "127.0.0.1", "--port", str(self.ports.gcs)])
        wait_for(
            "GCS emulator",
            lambda: port_open(self.ports.gcs),
            60,
            self.log_dir / "gcs.log",
            lambda: self.pid("gcs") is not None,
        )

    def start_azure(self) -> None:
        if self.pid("azure") and port_open(self.ports.azure):
            return
        exe = azurite_exe(self.progress)
        data = self.state_dir / "azure"
        data.mkdir(parents=True, exist_ok=True)
        # --skipApiVersionCheck: the Python SDK may speak a newer API version than this Azurite knows;
        # --loose: ignore headers it does not implement rather than failing the request.
        self.spawn(
            "azure",
            [
                str(exe),
                "--blobHost",
                "127.0.0.1",
                "--blobPort",
                str(self.ports.azure),
                "--location",
                str(data),
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
                "--disableTelemetry",
            ],
        )
        wait_for(
            "Azure Blob emulator (Azurite)",
            lambda: port_open(self.ports.azure),
            60,
            self.log_dir / "azure.log",
            lambda: self.pid("azure") is not None,
        )

    def infra_up(self, services: tuple[str, ...] = ("postgres", "kafka", "s3", "gcs", "azure")) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if ledger := Ledger.current():  # before anything starts: a run killed mid-start still stops it
            ledger.stack(self.state_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        p = self.ports
        if not p.azure:
            p.azure = free_port()
        (self.run_dir / "ports").write_text(f"{p.kafka} {p.kafka_controller} {p.s3} {p.gcs} {p.api} {p.azure}")
        if self.kafka_sasl_port:
            (self.run_dir / "kafka-sasl-port").write_text(str(self.kafka_sasl_port))
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
                {
                    "name": "s3",
                    "url": f"s3://{DEMO_BUCKET}",
                    "storage_options": {"endpoint_url": self.s3_endpoint, "key": S3_KEY, "secret": S3_SECRET},
                },
                {
                    "name": "gcs",
                    "url": f"gs://{DEMO_BUCKET}",
                    "storage_options": {"endpoint_url": self.gcs_endpoint, "token": "anon", "project": "warpdrive"},
                },
                {
                    "name": "azure",
                    "url": f"az://{DEMO_BUCKET}",
                    "storage_options": {"connection_string": self.azure_connection_string},
                },
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
        for name in ("postgres", "kafka", "s3", "gcs", "azure", *self.app_services()):
            pid = self.pid(name)
            out[name] = {"running": pid is not None, "pid": pid, "log": str(self.log_dir / f"{name}.log")}
        return out

    def app_services(self) -> list[str]:
        known = {"postgres", "kafka", "s3", "gcs", "azure"}
        return (
            sorted(p.stem for p in self.run_dir.glob("*.pid") if p.stem not in known) if self.run_dir.exists() else []
        )

    def down(self) -> list[str]:
        """Stops every service this stack started (apps first, then infra); returns their names."""
        stopped = []
        for name in [*self.app_services(), "kafka", "s3", "gcs", "azure", "postgres"]:
            if self.stop(name):
                stopped.append(name)
        mnt = self.state_dir / "mnt"
        if os.path.ismount(mnt):  # an agent killed hard leaves its mount behind
            subprocess.run(["fusermount3", "-u", "-z", str(mnt)], capture_output=True)
        (self.run_dir / "ports").unlink(missing_ok=True)
        (self.run_dir / "kafka-sasl-port").unlink(missing_ok=True)
        return stopped


def _console_script(name: str) -> str:
    """A console script of this environment (next to the running interpreter), else from PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise StackError(f"{name} is not installed (pip install 'warpdrive[stack]')")
    return found
