"""Request counters and latency histograms, rendered in the Prometheus text format (hand-written:
a few series do not need a client library)."""

from __future__ import annotations

import bisect
from collections import defaultdict
from typing import Any

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        # (method, route) → per-bucket counts (non-cumulative), sum, count
        self.latency: dict[tuple[str, str], list[Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, str(status))] += 1
        h = self.latency.setdefault((method, route), [[0] * (len(BUCKETS) + 1), 0.0, 0])
        h[0][bisect.bisect_left(BUCKETS, seconds)] += 1
        h[1] += seconds
        h[2] += 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        out = [
            "# HELP warpdrive_api_requests_total HTTP requests answered, by route and status.",
            "# TYPE warpdrive_api_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(f'warpdrive_api_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
        out += [
            "# HELP warpdrive_api_request_seconds Time to answer a request, by route.",
            "# TYPE warpdrive_api_request_seconds histogram",
        ]
        for (method, route), (counts, total, count) in sorted(self.latency.items()):
            labels = f'method="{method}",route="{_esc(route)}"'
            cumulative = 0
            for le, c in zip((*map(str, BUCKETS), "+Inf"), counts):
                cumulative += c
                out.append(f'warpdrive_api_request_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
            out.append(f"warpdrive_api_request_seconds_sum{{{labels}}} {total:.6f}")
            out.append(f"warpdrive_api_request_seconds_count{{{labels}}} {count}")
        for name, (help_, value) in sorted(gauges.items()):
            out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
