"""The API's /metrics: Prometheus text (parsed, not grepped) whose counters move with the requests served."""

from __future__ import annotations

import pytest

from tests.helpers import metric_sum, parse_metrics

from .conftest import Api

pytestmark = pytest.mark.services

ROUTE = "/api/v1/backends"


def test_api_metrics_parse_and_count_every_request(viewer: Api) -> None:
    before = parse_metrics(viewer.get("/metrics").text)
    for _ in range(5):
        assert viewer.get(ROUTE).status_code == 200
    assert viewer.get(ROUTE, headers={"Origin": "https://evil.example"}).status_code == 200  # a read: allowed
    assert viewer.post(ROUTE).status_code in (404, 405)
    after = parse_metrics(viewer.get("/metrics").text)
    key = dict(method="GET", route=ROUTE, status="200")
    assert (
        metric_sum(after, "warpdrive_api_requests_total", **key)
        - metric_sum(before, "warpdrive_api_requests_total", **key)
        == 6
    )
    assert metric_sum(after, "warpdrive_api_request_seconds_count", method="GET", route=ROUTE) >= 6
    assert after["warpdrive_api_db_pool_size"] >= 1 and "warpdrive_api_commands_pending" in after
