"""/healthz and /readyz of the stream worker and the crawler, on their metrics port (streams/crawler.metrics_listen,
schemas/metrics.py): the Kubernetes probes of compose/k8s. Real processes on a PRIVATE stack (it kills Kafka and
stops PostgreSQL): /readyz is 503 naming Kafka right after the broker's kill -9, 503 naming PostgreSQL while it is
stopped, 200 once each is back; /healthz stays 200 throughout."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import Procs, ready_config, wait_until
from warpdrive.compose.stack import free_port

pytestmark = pytest.mark.services


def _get(url: str) -> tuple[int, dict]:
    """(status, JSON body); (0, {}) while nothing listens yet."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
    except OSError:
        return 0, {}


def test_worker_and_crawler_readiness_follow_kafka_and_postgres(private_stack, tmp_path: Path) -> None:
    st = private_stack(("postgres", "kafka"))
    (tmp_path / "data").mkdir()
    path = tmp_path / "warpdrive.toml"
    ready_config(
        path,
        st.config_dict(
            {
                "postgres": {"dsn": st.postgres_dsn()},
                "backends": [{"name": "local", "url": f"file://{tmp_path / 'data'}"}],
                "streams": {"app_id": "ready", "ready_timeout": 1.5},
                "crawler": {"ready_timeout": 1.5},
            }
        ),
    )
    procs = Procs(path, tmp_path)
    ports = {"streams": free_port(), "crawler": free_port()}
    try:
        procs.start(
            "streams", "streams", "worker", env={"WARPDRIVE_STREAMS_METRICS_LISTEN": f"127.0.0.1:{ports['streams']}"}
        )
        procs.start(
            "crawler", "crawler", "run", env={"WARPDRIVE_CRAWLER_METRICS_LISTEN": f"127.0.0.1:{ports['crawler']}"}
        )
        url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

        def all_ready() -> bool:
            return all(_get(u + "/readyz")[0] == 200 for u in url.values())

        def explain() -> str:
            return procs.tail("streams") + procs.tail("crawler")

        wait_until(all_ready, 120, what="worker and crawler ready", explain=explain)
        for u in url.values():
            assert _get(u + "/readyz") == (200, {"status": "ready"})
            assert _get(u + "/healthz") == (200, {"status": "ok"})

        st.kill("kafka", signal.SIGKILL)  # by the pid the stack recorded
        wait_until(lambda: st.pid("kafka") is None, 30, what="the broker gone")
        for name, u in url.items():
            status, body = _get(u + "/readyz")  # the first probe after the kill already tells
            assert status == 503 and any(p.startswith("Kafka unreachable") for p in body["problems"]), (name, body)
            assert not any("PostgreSQL" in p for p in body["problems"]), (name, body)
            assert _get(u + "/healthz")[0] == 200, name
        st.start_kafka()
        wait_until(all_ready, 120, what="ready again after the broker restarted", explain=explain)

        st.stop("postgres")
        for name, u in url.items():
            status, body = _get(u + "/readyz")
            assert status == 503 and any(p.startswith("PostgreSQL unreachable") for p in body["problems"]), (name, body)
            assert _get(u + "/healthz")[0] == 200, name
        st.start_postgres()
        wait_until(all_ready, 120, what="ready again after PostgreSQL restarted", explain=explain)
    finally:
        procs.stop_all()
