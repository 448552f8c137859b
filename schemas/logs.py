"""How every process logs: one line per record on stderr, as text or as JSON lines (``[log] format``), and an
outage told once instead of once per retry.

While Kafka or PostgreSQL is down, the clients underneath (aiokafka, Faust, asyncpg) and our own retry loops
log the same failure every few hundred milliseconds, often with a traceback: thousands of ERROR lines that
bury everything else. :class:`FloodGuard` sits on the handler and turns each run of a repeated warning or
error — same logger, same message template (digits aside) — into an *episode*:

- the first record passes, at its own level, without the traceback of a connection-type error (the one-line
  reason is kept);
- repeats are counted, not written; every ``summary_interval`` seconds one WARNING sums them up
  (count, first and last time, the last message);
- once no repeat came for ``quiet`` seconds, one INFO says it ended and how long it lasted.

A genuine bug's traceback (any other exception type) is kept on its first occurrence.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Callable

import orjson

if TYPE_CHECKING:
    from .config import Config

# Exception types whose traceback says nothing (the peer is away): their record keeps a one-line reason.
QUIET_EXCEPTIONS = frozenset(
    {
        "OSError",
        "TimeoutError",
        "CancelledError",
        "KafkaError",
        "PostgresConnectionError",
        "InterfaceError",
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "ClientConnectorError",
    }
)
_DIGITS = re.compile(r"\d+")


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")


@dataclass
class Episode:
    level: int
    first: float
    last: float
    last_message: str
    repeats: int = 0  # since the first record
    summarised: int = 0  # repeats already told by a summary
    last_summary: float = 0.0


class FloodGuard(logging.Filter):
    def __init__(
        self, summary_interval: float = 30.0, quiet: float = 10.0, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__()
        self.summary_interval, self.quiet, self.clock = summary_interval, quiet, clock
        self.episodes: dict[tuple[str, str], Episode] = {}
        self.lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or getattr(record, "flood_guard", False):
            return True
        key = (record.name, _DIGITS.sub("#", str(record.msg))[:300])
        now = self.clock()
        with self.lock:
            ep = self.episodes.get(key)
            if ep is None:
                self.episodes[key] = Episode(record.levelno, now, now, record.getMessage(), last_summary=now)
                _shorten(record)
                return True
            ep.repeats += 1
            ep.last = now
            ep.last_message = record.getMessage()
            if now - ep.last_summary < self.summary_interval:
                return False
            n, ep.summarised, ep.last_summary = ep.repeats - ep.summarised, ep.repeats, now
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.msg = "still failing: %d more like this since %s (first %s); last: %s"
        record.args = (n, _stamp(now - self.summary_interval), _stamp(ep.first), ep.last_message)
        record.exc_info = record.exc_text = None
        return True

    def ended(self) -> list[logging.LogRecord]:
        """The INFO records of episodes with no repeat for ``quiet`` seconds (and forgets them)."""
        now = self.clock()
        out = []
        with self.lock:
            for key, ep in list(self.episodes.items()):
                if now - ep.last >= self.quiet:
                    del self.episodes[key]
                    if ep.repeats:
                        out.append(
                            _record(
                                key[0],
                                logging.INFO,
                                "ended after %.0fs: %d repeats of %r (first %s, last %s)",
                                (
                                    ep.last - ep.first,
                                    ep.repeats,
                                    _first_line(ep.last_message),
                                    _stamp(ep.first),
                                    _stamp(ep.last),
                                ),
                            )
                        )
        return out


def _first_line(text: str) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 200 else line[:197] + "..."


def _shorten(record: logging.LogRecord) -> None:
    """Drops the traceback of a connection-type error, keeping its one-line reason."""
    if not record.exc_info or record.exc_info[1] is None:
        return
    exc = record.exc_info[1]
    if {c.__name__ for c in type(exc).__mro__} & QUIET_EXCEPTIONS:
        record.msg = f"{record.msg} ({type(exc).__name__}: {str(exc)[:300]})"
        record.exc_info = record.exc_text = None


def _record(name: str, level: int, msg: str, args: tuple) -> logging.LogRecord:
    r = logging.LogRecord(name, level, __file__, 0, msg, args, None)
    r.flood_guard = True
    return r


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, component, node, logger, message (and the traceback, if any)."""

    def __init__(self, component: str, node: str) -> None:
        super().__init__()
        self.component, self.node = component, node

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "component": self.component,
            "node": self.node,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Handler(logging.StreamHandler):
    """stderr, guarded; a daemon thread writes the 'ended' lines of finished episodes."""

    def __init__(self, guard: FloodGuard) -> None:
        super().__init__()
        self.guard = guard
        self.addFilter(guard)
        self._stop = threading.Event()
        threading.Thread(target=self._watch, name="log-episodes", daemon=True).start()

    @property
    def stream(self):  # whatever sys.stderr is now (a test runner may swap it)
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for r in self.guard.ended():
                self.handle(r)

    def close(self) -> None:
        self._stop.set()
        super().close()


def configure(
    component: str, fmt: str = "text", node: str = "", level: int | None = None, summary_interval: float = 30.0
) -> None:
    """(Re)configures the root logger for this process: one guarded stderr handler in ``fmt`` (text | json)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _Handler):
            root.removeHandler(h)
            h.close()
    handler = _Handler(FloodGuard(summary_interval=summary_interval, quiet=min(10.0, summary_interval)))
    handler.setFormatter(
        JsonFormatter(component, node or socket.gethostname()) if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root.addHandler(handler)
    if level is not None:
        root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every step at INFO


def apply(cfg: "Config", component: str, node: str = "") -> None:
    """Applies a loaded config's [log] settings (called by each component once its config is loaded)."""
    configure(component, cfg.log.format, node, summary_interval=cfg.log.summary_interval)
