"""The API's Prometheus series: requests by route template and status, latency by route, and gauges the
/metrics handler sets at each scrape (pool, outbox). Built on the shared helper (schemas/metrics.py)."""

from __future__ import annotations

from warpdrive.schemas.metrics import Metrics as Registry

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

GAUGES = {
    "db_pool_size": "Connections open in the PostgreSQL pool.",
    "db_pool_idle": "Idle connections in the PostgreSQL pool.",
    "uptime_seconds": "Seconds since the API started.",
    "kafka_producer_connected": "1 when the commands producer is connected.",
    "commands_pending": "Commands in the outbox not yet acknowledged by Kafka.",
}


class Metrics:
    def __init__(self) -> None:
        self.registry = Registry("api")
        self.requests = self.registry.counter(
            "requests", "HTTP requests answered, by route and status.", ["method", "route", "status"]
        )
        self.latency = self.registry.histogram(
            "request_seconds", "Time to answer a request, by route.", ["method", "route"], buckets=BUCKETS
        )
        self.gauges = {name: self.registry.gauge(name, help_) for name, help_ in GAUGES.items()}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self, values: dict[str, float]) -> bytes:
        for name, value in values.items():
            self.gauges[name].set(value)
        return self.registry.render()
