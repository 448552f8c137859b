"""The crawler process: one Kafka producer, crawls (one-shot or periodic) and the job runner."""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from warpdrive.schemas import probes
from warpdrive.schemas.config import BackendConfig, Config

from .crawl import CrawlResult, crawl
from .errors import CrawlBusy, CrawlerError
from .metrics import CrawlerMetrics
from .progress import Reporter
from .publish import Publisher

log = logging.getLogger(__name__)


class Service:
    def __init__(self, cfg: Config, dsn: str, backends: Sequence[BackendConfig], tty: bool = False) -> None:
        self.cfg, self.dsn, self.backends = cfg, dsn, list(backends)
        self.reporter = Reporter(tty=tty)
        self.metrics = CrawlerMetrics(self.reporter)

    async def crawl_all(
        self, publisher: Publisher, backends: Sequence[BackendConfig], wait_lock: bool = False
    ) -> list[CrawlResult]:
        """Crawls the backends concurrently; a backend whose lock is held is reported busy, not waited for
        (unless ``wait_lock``)."""

        async def one(b: BackendConfig) -> CrawlResult:
            try:
                result = await crawl(self.cfg, b, publisher, self.dsn, reporter=self.reporter, wait_lock=wait_lock)
            except CrawlBusy as e:
                log.warning("crawl skipped backend=%s reason=%r", b.name, str(e))
                result = CrawlResult("", b.name, "", 0, 0, 0, "busy", str(e))
            except CrawlerError as e:  # e.g. the lock's database unreachable: this backend only
                log.error("crawl failed backend=%s error=%s", b.name, e)
                result = CrawlResult("", b.name, "", 0, 0, 0, "failed", str(e))
            self.metrics.ended(result)
            return result

        return list(await asyncio.gather(*(one(b) for b in backends)))

    async def crawl_once(self) -> list[CrawlResult]:
        async with Publisher(self.cfg.kafka) as publisher, asyncio.TaskGroup() as tg:
            reporter = tg.create_task(self.reporter.run())
            try:
                return await self.crawl_all(publisher, self.backends)
            finally:
                reporter.cancel()

    async def serve(self, schedule: bool) -> None:
        """Runs until cancelled: periodic crawls (if ``schedule``) and the job runner; /metrics meanwhile."""
        try:
            await self.metrics.seed(self.dsn)
        except Exception as e:  # only the gauge's history is missing: the next complete crawl sets it
            log.warning("last complete crawls unknown until the next one (%s: %s)", type(e).__name__, e)
        ready = probes.readiness(self.cfg.kafka, self.dsn, self.cfg.crawler.ready_timeout)
        with self.metrics.metrics.serving(self.cfg.crawler.metrics_listen, ready):
            await self._serve(schedule)

    async def _serve(self, schedule: bool) -> None:
        from .jobs import JobRunner

        async with Publisher(self.cfg.kafka) as publisher, asyncio.TaskGroup() as tg:
            tg.create_task(self.reporter.run())
            tg.create_task(JobRunner(self, publisher).run())
            if schedule:
                tg.create_task(self._periodic(publisher))

    async def _periodic(self, publisher: Publisher) -> None:
        while True:
            results = await self.crawl_all(publisher, self.backends)
            log.info(
                "periodic crawls done %s next_in=%.0fs",
                " ".join(f"{r.backend}={r.status}" for r in results),
                self.cfg.crawler.interval,
            )
            await asyncio.sleep(self.cfg.crawler.interval)
