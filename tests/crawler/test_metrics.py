"""The crawler's /metrics (crawler.metrics_listen): Prometheus text; files listed and crawls counted per backend,
the last complete crawl's time set — by a crawl job run through the real crawler process."""

from __future__ import annotations

import time

import pytest

from tests.crawler.test_crawl import populate
from tests.crawler.test_jobs import final, runner, send
from tests.helpers import metric_sum, scrape, wait_until
from warpdrive.compose.stack import free_port

pytestmark = pytest.mark.services


def test_crawler_metrics_count_a_crawl(make_env) -> None:
    env = make_env()
    populate(env, "local", {f"d{i}/f{j}.bin": b"x" * j for i in range(5) for j in range(20)})
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    runner(env, metrics_listen=f"127.0.0.1:{port}")
    wait_until(lambda: _try(url) is not None, 30, what="the crawler's /metrics", explain=lambda: env.procs.tail("jobs"))
    before = scrape(url)
    assert metric_sum(before, "warpdrive_crawler_files_listed_total", backend="local") == 0
    t0 = time.time()

    end = final(env, send(env, "crawl", backend="local"))
    assert end.state == "done", end.error
    after = scrape(url)
    assert metric_sum(after, "warpdrive_crawler_files_listed_total", backend="local") == 100
    assert metric_sum(after, "warpdrive_crawler_listing_errors_total", backend="local") == 0
    assert metric_sum(after, "warpdrive_crawler_crawls_total", backend="local", status="complete") == 1
    assert metric_sum(after, "warpdrive_crawler_last_complete_crawl_timestamp_seconds", backend="local") >= t0 - 1

    end = final(env, send(env, "crawl", backend="local"))
    assert end.state == "done", end.error
    assert metric_sum(scrape(url), "warpdrive_crawler_files_listed_total", backend="local") == 200


def _try(url: str) -> dict[str, float] | None:
    try:
        return scrape(url)
    except OSError:
        return None
