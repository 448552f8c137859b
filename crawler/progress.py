"""Crawl progress: a one-line bar on a terminal, periodic structured log lines otherwise."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


@dataclass
class Counter:
    """Live counts of one crawl (or job), read by the reporter."""

    name: str
    files: int = 0
    bytes: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def add(self, files: int, nbytes: int) -> None:
        self.files += files
        self.bytes += nbytes

    @property
    def rate(self) -> float:
        return self.files / max(time.monotonic() - self.started, 1e-6)

    def line(self) -> str:
        err = f" {self.errors} errors" if self.errors else ""
        return f"{self.name}: {self.files:,} files {human_bytes(self.bytes)} {self.rate:,.0f} files/s{err}"

    def fields(self) -> str:
        return f"backend={self.name} files={self.files} bytes={self.bytes} errors={self.errors} rate={self.rate:.0f}/s"


class Reporter:
    """Shows every live counter: redrawn in place on a TTY, logged every ``log_every`` s otherwise."""

    def __init__(self, tty: bool | None = None, log_every: float = 10.0) -> None:
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.interval = 0.2 if self.tty else log_every
        self.counters: list[Counter] = []
        self.finished: dict[str, Counter] = {}  # per backend: the sum of every finished crawl's counts

    def totals(self) -> dict[str, tuple[int, int]]:
        """(files, errors) per backend, finished and running crawls together: a count that only grows."""
        out = {b: (c.files, c.errors) for b, c in self.finished.items()}
        for c in self.counters:
            backend = c.name.split(":")[0]
            files, errors = out.get(backend, (0, 0))
            out[backend] = (files + c.files, errors + c.errors)
        return out

    def track(self, counter: Counter) -> Counter:
        self.counters.append(counter)
        return counter

    def done(self, counter: Counter) -> None:
        self.counters.remove(counter)
        total = self.finished.setdefault(counter.name.split(":")[0], Counter(counter.name.split(":")[0]))
        total.add(counter.files, counter.bytes)
        total.errors += counter.errors
        if self.tty:
            sys.stderr.write("\r\033[K" + counter.line() + "\n")
            sys.stderr.flush()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.counters:
                continue
            if self.tty:
                sys.stderr.write("\r\033[K" + " | ".join(c.line() for c in self.counters))
                sys.stderr.flush()
            else:
                for c in self.counters:
                    log.info("crawl progress %s", c.fields())
