"""Outages are told once, not once per retry: a 30 s broker outage and a PostgreSQL restart under a real worker and
a real API process give a handful of ERROR lines each, no traceback, a periodic summary and one 'ended' line.
Runs on a PRIVATE stack (it kills Kafka and stops PostgreSQL); JSON-lines output is checked on the way."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.helpers import Procs, ready_config, wait_until
from tests.streams.events import access_batches, produce_batches, query
from warpdrive.compose.stack import free_port
from warpdrive.schemas.topics import ACCESS

pytestmark = pytest.mark.services

OUTAGE = 30.0  # seconds the broker stays down
HANDFUL = 8  # ERROR lines a process may write for one outage: one per distinct failure (fetch, connect, metadata,
# heartbeat send, heartbeat retry, session expiry when the outage outlasts the session: 6 seen in CI), never a flood


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def _lines(procs: Procs, name: str, since: int) -> list[dict]:
    out = []
    for line in procs.log(name).splitlines()[since:]:
        if line.startswith("{"):
            out.append(orjson.loads(line))
        else:  # faust's own banner / a crash outside logging: counted as text
            out.append({"level": "TEXT", "message": line})
    return out


def _applied(dsn: str) -> int:
    try:
        return query(dsn, "SELECT coalesce(sum(next_offset), 0) AS n FROM stream_offsets")[0]["n"]
    except Exception:
        return -1


def test_broker_outage_and_postgres_restart_are_told_once(tmp_path: Path, private_stack) -> None:
    st = private_stack(("postgres", "kafka"))
    port = free_port()
    raw = st.config_dict(
        {
            "postgres": {"dsn": st.postgres_dsn()},
            "api": {"listen": f"127.0.0.1:{port}"},
            "streams": {"app_id": "outage-test", "batch_within": 0.2},
            "log": {"format": "json", "summary_interval": 10.0},
        }
    )
    path = tmp_path / "warpdrive.toml"
    cfg = ready_config(path, raw)
    procs = Procs(path, tmp_path)
    try:
        procs.start("streams", "streams", "worker")
        procs.start("api", "api", "serve", "--insecure-no-auth")
        ready = f"http://127.0.0.1:{port}/readyz"
        wait_until(lambda: _status(ready) == 200, 60, what="the API ready", explain=lambda: procs.tail("api"))
        produce_batches(cfg, ACCESS, access_batches(1, 5, 20, ("o1",)), "node_host")
        wait_until(
            lambda: _applied(cfg.postgres.dsn) >= 5,
            60,
            what="the worker applying",
            explain=lambda: procs.tail("streams"),
        )
        mark = {n: len(procs.log(n).splitlines()) for n in ("streams", "api")}

        # Kafka down for 30 s: the worker's consumer, the API's outbox and /readyz all retry meanwhile.
        st.kill("kafka")
        t0 = time.monotonic()
        wait_until(
            lambda: _status(ready) == 503 and time.monotonic() - t0 >= OUTAGE,
            OUTAGE + 30,
            what=f"{OUTAGE:.0f}s of broker outage",
        )
        st.start_kafka()
        wait_until(lambda: _status(ready) == 200, 60, what="ready again after the outage")
        before = _applied(cfg.postgres.dsn)
        produce_batches(cfg, ACCESS, access_batches(2, 5, 20, ("o1",)), "node_host")
        wait_until(
            lambda: _applied(cfg.postgres.dsn) >= before + 5,
            90,
            what="the worker applying after the outage",
            explain=lambda: procs.tail("streams"),
        )
        # Each episode ends with one INFO once its failure has not repeated for a while.
        wait_until(
            lambda: any("ended after" in r["message"] for r in _lines(procs, "streams", mark["streams"])),
            60,
            what="the worker's 'ended' line",
            explain=lambda: procs.tail("streams"),
        )
        for name in ("streams", "api"):
            lines = _lines(procs, name, mark[name])
            errors = [r["message"] for r in lines if r["level"] == "ERROR"]
            assert len(errors) <= HANDFUL, f"{name}: {len(errors)} ERROR lines for one outage:\n" + "\n".join(
                errors[:20]
            )
            assert not [r for r in lines if "exc" in r or "Traceback" in r["message"]], procs.tail(name)
            assert all(r.get("component") == name and r.get("node") for r in lines if r["level"] != "TEXT")
        worker = _lines(procs, "streams", mark["streams"])
        assert any(r["level"] == "WARNING" and r["message"].startswith("still failing") for r in worker), (
            "no periodic summary during a 30 s outage"
        )

        # PostgreSQL restarted under the worker and the API: no traceback, a handful of errors.
        mark = {n: len(procs.log(n).splitlines()) for n in ("streams", "api")}
        st.stop("postgres")
        wait_until(lambda: _status(ready) == 503, 30, what="not ready without PostgreSQL")
        st.start_postgres()
        wait_until(lambda: _status(ready) == 200, 60, what="ready again after PostgreSQL's restart")
        before = _applied(cfg.postgres.dsn)
        produce_batches(cfg, ACCESS, access_batches(3, 5, 20, ("o1",)), "node_host")
        wait_until(
            lambda: _applied(cfg.postgres.dsn) >= before + 5,
            90,
            what="the worker applying after the restart",
            explain=lambda: procs.tail("streams"),
        )
        for name in ("streams", "api"):
            lines = _lines(procs, name, mark[name])
            assert len([r for r in lines if r["level"] == "ERROR"]) <= HANDFUL, procs.tail(name)
            assert not [r for r in lines if "exc" in r or "Traceback" in r["message"]], procs.tail(name)
    finally:
        procs.stop_all()
