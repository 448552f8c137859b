"""The crawler's Prometheus series (served on ``crawler.metrics_listen``): files listed and listing errors per
backend as crawls progress, crawls by outcome, and when each backend last had a complete crawl — the
series to alert on when a backend's view goes stale."""

from __future__ import annotations

import time
from typing import Iterable

from warpdrive.schemas.metrics import Metrics, Sample

from .crawl import CrawlResult
from .progress import Reporter


class CrawlerMetrics:
    def __init__(self, reporter: Reporter) -> None:
        m = self.metrics = Metrics("crawler")
        self.crawls = m.counter(
            "crawls", "Crawls ended, by backend and status (complete, partial, failed, busy).", ["backend", "status"]
        )
        self.last_complete = m.gauge(
            "last_complete_crawl_timestamp_seconds",
            "When the backend's last complete full crawl ended (Unix time).",
            ["backend"],
        )

        def live() -> Iterable[Sample]:
            totals = reporter.totals()
            yield (
                "files_listed",
                "Files listed and published, by backend (running crawls included).",
                "counter",
                {(b,): files for b, (files, _) in totals.items()},
            )
            yield (
                "listing_errors",
                "Directories or prefixes that could not be listed, by backend.",
                "counter",
                {(b,): errors for b, (_, errors) in totals.items()},
            )

        m.on_scrape(live, labels=["backend"])

    async def seed(self, dsn: str) -> None:
        """The last complete crawls the database knows (from before this process started)."""
        import asyncpg

        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT backend_name, extract(epoch FROM max(finished_at))::float8 AS t FROM crawls "
                "WHERE status = 'complete' AND prefix = '' GROUP BY backend_name"
            )
        finally:
            await conn.close()
        for r in rows:
            if r["t"] is not None:
                self.last_complete.labels(r["backend_name"]).set(r["t"])

    def ended(self, result: CrawlResult) -> None:
        self.crawls.labels(result.backend, result.status).inc()
        if result.status == "complete" and not result.prefix:
            self.last_complete.labels(result.backend).set(time.time())
