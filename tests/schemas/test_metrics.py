"""The shared metrics helper: Prometheus text a parser accepts, values read at scrape time, a /metrics server
that starts on a free port, refuses nothing the process needs when its port is taken, and stops with its block."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from tests.helpers import metric_sum, parse_metrics
from warpdrive.schemas.metrics import Metrics


def test_series_render_as_parseable_prometheus_text() -> None:
    m = Metrics("unit")
    c = m.counter("things", "Things done.", ["kind"])
    h = m.histogram("op_seconds", "Op time.")
    state = {"depth": 3}
    m.on_scrape(lambda: [("depth", "Queue depth.", "gauge", {(): state["depth"]})])
    c.labels("x").inc(2)
    h.observe(0.02)
    samples = parse_metrics(m.render().decode())
    assert samples['warpdrive_unit_things_total{kind="x"}'] == 2
    assert samples["warpdrive_unit_op_seconds_count"] == 1
    assert samples["warpdrive_unit_depth"] == 3
    state["depth"] = 7  # read at each scrape, not copied once
    assert parse_metrics(m.render().decode())["warpdrive_unit_depth"] == 7


def test_labelled_scrape_values_are_escaped() -> None:
    m = Metrics("unit")
    m.on_scrape(lambda: [("seen", "Seen.", "counter", {('a"b\\c\nd',): 2})], labels=["label"])
    assert metric_sum(parse_metrics(m.render().decode()), "warpdrive_unit_seen_total", label='a"b\\c\nd') == 2


def test_serving_on_a_free_port_then_stopping() -> None:
    m = Metrics("unit")
    m.counter("hits", "Hits.").inc()
    with m.serving("127.0.0.1:0") as address:
        assert address is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{address[1]}/metrics", timeout=5) as r:
            assert parse_metrics(r.read().decode())["warpdrive_unit_hits_total"] == 1
    with socket.socket() as s:  # the port is free again (TIME_WAIT aside)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", address[1]))


def test_serving_is_off_when_empty_and_a_warning_when_the_port_is_taken(caplog) -> None:
    m = Metrics("unit")
    with m.serving("") as address:
        assert address is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with m.serving(f"127.0.0.1:{taken.getsockname()[1]}") as address:
            assert address is None
    assert "cannot listen" in caplog.text


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_metrics_port_answers_health_and_readiness() -> None:
    """/healthz always; /readyz 200 or 503 naming each problem, asked anew at every request; other paths 404."""
    m = Metrics("unit")
    problems: list[str] = []
    with m.serving("127.0.0.1:0", ready=lambda: list(problems)) as address:
        assert address is not None
        base = f"http://127.0.0.1:{address[1]}"
        assert _get(base + "/healthz") == (200, b'{"status": "ok"}')
        assert _get(base + "/readyz") == (200, b'{"status": "ready"}')
        problems[:] = ["Kafka unreachable: x", "PostgreSQL unreachable: y"]
        status, body = _get(base + "/readyz")
        assert status == 503 and json.loads(body)["problems"] == problems
        assert _get(base + "/healthz")[0] == 200  # liveness does not follow the dependencies
        assert _get(base + "/nope")[0] == 404
        assert _get(base + "/metrics")[0] == 200


def test_readiness_that_raises_is_not_ready_and_without_a_check_there_is_no_readyz() -> None:
    def broken() -> list[str]:
        raise RuntimeError("probe bug")

    with Metrics("unit").serving("127.0.0.1:0", ready=broken) as address:
        assert address is not None
        status, body = _get(f"http://127.0.0.1:{address[1]}/readyz")
        assert status == 503 and "probe bug" in json.loads(body)["problems"][0]
    with Metrics("unit").serving("127.0.0.1:0") as address:
        assert address is not None
        assert _get(f"http://127.0.0.1:{address[1]}/readyz")[0] == 404
        assert _get(f"http://127.0.0.1:{address[1]}/healthz")[0] == 200
