"""Kafka security and shared clusters: every Kafka client of WarpDrive takes the shared [kafka] settings (unit tier),
and the real broker with SASL enabled (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) serves the whole path — topics created
by the admin client, events produced, the Faust worker consuming them into PostgreSQL, the crawler publishing —
on a private stack; a wrong password is a one-line error."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers import Procs, remove_stack, wait_until
from tests.streams.events import access_batches, access_log, access_truth, produce_batches, query
from warpdrive.compose.stack import KAFKA_SASL_USERS, Ports, Stack, free_port, port_open
from warpdrive.schemas import config as wconfig
from warpdrive.schemas.db import connect_and_migrate, create_database, drop_database
from warpdrive.schemas.errors import ConfigError
from warpdrive.schemas.topics import ACCESS

ROOT = Path(__file__).resolve().parents[2]
WARPDRIVE = str(Path(sys.executable).with_name("warpdrive"))
PACKAGES = ("agent", "api", "crawler", "streams", "schemas", "cli")


# ---- unit tier ------------------------------------------------------------------------------------------------


def test_every_kafka_client_takes_the_shared_settings() -> None:
    """Each aiokafka producer, consumer and admin client in the product is built with ``client_options()``, and the
    Faust app with ``broker_settings`` (which derives from it): TLS and SASL reach every connection."""
    built = 0
    for pkg in PACKAGES:
        for path in (ROOT / pkg).glob("*.py"):
            text = path.read_text()
            for m in re.finditer(r"\b(AIOKafkaProducer|AIOKafkaConsumer|AIOKafkaAdminClient)\(", text):
                call = text[m.end() : m.end() + 400]
                assert "client_options()" in call.split("\n\n")[0], (
                    f"{path.name}: {m.group(1)} without client_options()"
                )
                built += 1
            if "faust.App(" in text or "(faust.App)" in text:
                assert "broker_settings(cfg)" in text, f"{path.name}: a Faust app without broker_settings"
    assert built >= 8  # producers and consumers of the agent, API, crawler and workers; the topics admin


def test_sasl_and_tls_options_reach_aiokafka_and_faust(tmp_path: Path) -> None:
    from warpdrive.streams.app import broker_settings

    cfg = wconfig.from_dict(
        {
            "kafka": {
                "bootstrap_servers": "k1:9093,k2:9093",
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_username": "wd",
                "sasl_password": "pw",
            }
        }
    )
    opts = cfg.kafka.client_options()
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (opts["sasl_plain_username"], opts["sasl_plain_password"]) == ("wd", "pw") and opts["ssl_context"]
    creds = broker_settings(cfg)["broker_credentials"]
    assert (creds.mechanism.value, creds.username, creds.protocol.value) == ("SCRAM-SHA-512", "wd", "SASL_SSL")


@pytest.mark.parametrize(
    "kafka, message",
    [
        ({"security_protocol": "SASL_SSL"}, "kafka.sasl_mechanism: required"),
        ({"sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "u", "sasl_password": "p"}, "kafka.security_protocol"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-1"},
            "kafka.sasl_mechanism: must be one of",
        ),
        ({"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN"}, "kafka.sasl_username"),
        ({"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"}, "kafka.ssl_cafile: file"),
    ],
)
def test_inconsistent_security_settings_fail_at_start(kafka: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        wconfig.from_dict({"kafka": kafka})


# ---- a private stack with a SASL listener -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sasl_stack() -> Iterator[Stack]:
    port = next(p for p in iter(free_port, 0) if not port_open(p + 1))  # SASL_PLAINTEXT there, SASL_SSL on the next
    st = Stack(Path(f"/tmp/wdk-{uuid.uuid4().hex[:8]}"), Ports.free(), kafka_sasl_port=port)
    try:
        st.infra_up(("postgres", "kafka"))
        yield st
    finally:
        remove_stack(st)


def _config(
    st: Stack,
    mechanism: str,
    tmp_path: Path,
    dsn: str,
    password: str | None = None,
    tls: bool = False,
    cafile: str | None = None,
) -> Path:
    ((user, secret),) = KAFKA_SASL_USERS.items()
    run = uuid.uuid4().hex[:6]
    backend_root = tmp_path / "local"
    backend_root.mkdir(exist_ok=True)
    raw = {
        "state_dir": str(tmp_path / "state"),
        "kafka": {
            "bootstrap_servers": f"127.0.0.1:{st.kafka_sasl_port + tls}",
            "security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
            "sasl_mechanism": mechanism,
            "sasl_username": user,
            "sasl_password": password or secret,
            "topic_prefix": f"sec{run}.",
            **({"ssl_cafile": cafile if cafile is not None else str(st.kafka_ca)} if tls else {}),
        },
        "postgres": {"dsn": dsn},
        "streams": {"app_id": f"sec-{run}", "batch_within": 0.2},
        "backends": [{"name": "local", "url": f"file://{backend_root}"}],
    }
    path = tmp_path / f"sasl-{run}.toml"
    path.write_text(wconfig.dump_toml(raw))
    return path


def _warpdrive(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WARPDRIVE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "WARPDRIVE_CONFIG": str(config)},
    )


@pytest.mark.services
@pytest.mark.parametrize(
    "mechanism, tls", [("SCRAM-SHA-256", False), ("SCRAM-SHA-512", False), ("PLAIN", False), ("SCRAM-SHA-512", True)]
)
def test_the_whole_path_over_sasl(sasl_stack: Stack, mechanism: str, tls: bool, tmp_path: Path) -> None:
    base = sasl_stack.postgres_dsn()
    name = f"wdsasl_{uuid.uuid4().hex[:8]}"
    dsn = asyncio.run(create_database(base, name))
    try:
        path = _config(sasl_stack, mechanism, tmp_path, dsn, tls=tls)
        cfg = wconfig.load(path)
        asyncio.run(_migrate(cfg))
        topics = _warpdrive(path, "topics", "create")
        assert topics.returncode == 0 and "created:" in topics.stdout, topics.stderr

        # Producer (aiokafka, SASL) → Faust worker (SASL) → PostgreSQL.
        procs = Procs(path, tmp_path)
        try:
            procs.start("streams", "streams", "worker")
            batches = access_batches(7, 10, 20, ("local",))
            produce_batches(cfg, ACCESS, batches, "node_host")
            truth = access_truth(batches)
            wait_until(
                lambda: access_log(dsn, ("local",)) == truth,
                90,
                what=f"events applied over {mechanism}",
                explain=lambda: procs.tail("streams"),
            )
            # The crawler's publisher (SASL) → the worker: the files appear in the index.
            for i in range(3):
                (tmp_path / "local" / f"f{i}.bin").write_bytes(b"x" * (i + 1))
            crawl = _warpdrive(path, "crawler", "run", "--once")
            assert crawl.returncode == 0 and "complete, 3 files" in crawl.stdout, crawl.stdout + crawl.stderr
            wait_until(
                lambda: (
                    query(
                        dsn,
                        "SELECT count(*) AS n FROM storage_files WHERE backend_name = 'local' AND deleted_at IS NULL",
                    )[0]["n"]
                    == 3
                ),
                60,
                what="the crawl indexed",
                explain=lambda: procs.tail("streams"),
            )
        finally:
            procs.stop_all()
    finally:
        asyncio.run(drop_database(base, name))


@pytest.mark.services
def test_a_wrong_password_is_a_one_line_error(sasl_stack: Stack, tmp_path: Path) -> None:
    path = _config(sasl_stack, "SCRAM-SHA-256", tmp_path, "postgresql://unused@127.0.0.1:1/none", password="wrong")
    r = _warpdrive(path, "topics", "create", timeout=180)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    # The client's own log line says why; the command's error is one line naming the setting's broker.
    assert "Authentication failed" in r.stderr and r.stderr.strip().splitlines()[-1].startswith("Error: kafka "), (
        r.stderr
    )


async def _migrate(cfg: wconfig.Config) -> None:
    await (await connect_and_migrate(cfg)).close()


@pytest.mark.services
def test_a_broker_certificate_from_an_unknown_ca_is_refused(sasl_stack: Stack, tmp_path: Path) -> None:
    """TLS verifies the broker: without the stack's CA (the system's CAs only) the connection is refused."""
    path = _config(sasl_stack, "SCRAM-SHA-512", tmp_path, "postgresql://unused@127.0.0.1:1/none", tls=True, cafile="")
    r = _warpdrive(path, "topics", "create", timeout=180)
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert "CERTIFICATE_VERIFY_FAILED" in r.stderr and r.stderr.strip().splitlines()[-1].startswith("Error: kafka "), (
        r.stderr
    )
