"""Prometheus metrics, one way for every process: a registry per process, series named
``warpdrive_<component>_<name>``, and a small HTTP endpoint for the processes that have no web server of their
own (stream worker, agent, crawler; the API serves the same text on its own /metrics) — /metrics, plus the
/healthz and /readyz their Kubernetes probes call.

Built on ``prometheus_client`` (the Prometheus project's own Python client): it gets the text format's
escaping, histogram buckets and counter ``_total``/``_created`` conventions right, and serves from a
thread, so a scrape never waits on (or blocks) the process's event loop — trio in the agent, asyncio
elsewhere. Values a process already keeps (queue depth, spool bytes, cache hits) are read at scrape
time through :meth:`Metrics.on_scrape` instead of being counted twice on the hot path.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# What an on-scrape callback returns: (name without prefix, help, "counter" | "gauge", {label values: value}).
Sample = tuple[str, str, str, dict[tuple[str, ...], float]]


class _Callback:
    """A collector that asks the process for current values at each scrape."""

    def __init__(self, prefix: str, labels: Sequence[str], fn: Callable[[], Iterable[Sample]]) -> None:
        self.prefix, self.labels, self.fn = prefix, list(labels), fn

    def collect(self) -> Iterator[Metric]:
        try:
            samples = list(self.fn())
        except Exception:  # a scrape must still answer with every other series
            log.exception("metrics callback failed")
            return
        for name, help_, kind, values in samples:
            family = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            m = family(self.prefix + name, help_, labels=self.labels)
            for label_values, value in values.items():
                m.add_metric(list(label_values), value)
            yield m


class Metrics:
    """One process's series."""

    def __init__(self, component: str) -> None:
        self.component = component
        self.prefix = f"warpdrive_{component}_"
        self.registry = CollectorRegistry()

    def counter(self, name: str, help_: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(self.prefix + name, help_, list(labels), registry=self.registry)

    def gauge(self, name: str, help_: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(self.prefix + name, help_, list(labels), registry=self.registry)

    def histogram(
        self, name: str, help_: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
    ) -> Histogram:
        return Histogram(self.prefix + name, help_, list(labels), buckets=buckets, registry=self.registry)

    def on_scrape(self, fn: Callable[[], Iterable[Sample]], labels: Sequence[str] = ()) -> None:
        """Series whose values ``fn`` reads from the process at each scrape (all with the same label names)."""
        self.registry.register(_Callback(self.prefix, labels, fn))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    @contextlib.contextmanager
    def serving(self, listen: str, ready: Callable[[], list[str]] | None = None) -> Iterator[tuple[str, int] | None]:
        """Serves /metrics, /healthz (the process answers) and, given ``ready`` (what keeps the process from
        being ready, [] when nothing: schemas/probes.readiness), /readyz — 200, or 503 naming the problems — on
        ``listen`` (HOST:PORT; port 0 = any free one) from a thread while the block runs. Yields the bound
        address, or None when ``listen`` is empty (off) or cannot be bound: metrics never stop a process from
        doing its work, so that is a warning, not a failure."""
        if not listen:
            yield None
            return
        host, _, port = listen.rpartition(":")
        try:
            server = _server(host.strip("[]") or "0.0.0.0", int(port), self._app(ready))
        except OSError as e:
            log.warning("metrics: cannot listen on %s (%s); serving no /metrics", listen, e)
            yield None
            return
        thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        address = (str(server.server_address[0]), int(server.server_address[1]))
        log.info("metrics: http://%s:%d/metrics", *address)
        try:
            yield address
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)

    def _app(self, ready: Callable[[], list[str]] | None) -> Callable[..., Iterable[bytes]]:
        metrics_app = make_wsgi_app(self.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                return _json(start_response, "200 OK", {"status": "ok"})
            if path == "/readyz" and ready is not None:
                try:
                    problems = ready()
                except Exception as e:  # a probe's own failure is an answer too: not ready, and why
                    problems = [f"readiness probe failed: {type(e).__name__}: {e}"]
                if problems:
                    return _json(
                        start_response, "503 Service Unavailable", {"status": "not ready", "problems": problems}
                    )
                return _json(start_response, "200 OK", {"status": "ready"})
            if path in ("/", "/metrics"):
                return metrics_app(environ, start_response)
            return _json(start_response, "404 Not Found", {"error": f"no {path} here: /metrics, /healthz, /readyz"})

        return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """A scrape or probe every few seconds is not worth a log line."""


def _server(host: str, port: int, app: Callable[..., Iterable[bytes]]) -> WSGIServer:
    """prometheus_client's own threaded WSGI server (what its start_http_server runs), with our app in front."""

    class Server(ThreadingWSGIServer):
        address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    return make_server(host, port, app, Server, handler_class=_Quiet)


def _json(start_response: Callable[..., Any], status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
