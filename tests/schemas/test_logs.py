"""The flood guard: a repeated failure is one ERROR, then periodic summaries, then one INFO when it stops; other
records pass untouched; JSON lines carry component and node."""

from __future__ import annotations

import logging

import orjson

from warpdrive.schemas.logs import FloodGuard, JsonFormatter


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def record(
    msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka", exc: BaseException | None = None
):
    r = logging.LogRecord(name, level, __file__, 1, msg, args, (type(exc), exc, None) if exc else None)
    return r


def test_an_outage_is_one_error_periodic_summaries_and_one_end() -> None:
    clock = Clock()
    guard = FloodGuard(summary_interval=30, quiet=10, clock=clock)
    passed = []
    for i in range(480):  # 60 s of a retry every 125 ms, each with another port number in its text
        r = record('Unable connect to "%s:%s": %s', "127.0.0.1", 9000 + i % 3, "refused")
        if guard.filter(r):
            passed.append(r)
        clock.t += 0.125
    assert [r.levelname for r in passed] == ["ERROR", "WARNING"]  # the first one, then a summary at 30 s
    assert "still failing: 240 more like this" in passed[1].getMessage()
    assert guard.ended() == []  # still within the quiet period
    clock.t += 10
    (end,) = guard.ended()
    assert end.levelno == logging.INFO and "ended after 60s: 479 repeats" in end.getMessage()
    assert guard.filter(record('Unable connect to "%s:%s": %s', "h", 1, "x")), "a new outage starts a new episode"


def test_connection_errors_lose_their_traceback_bugs_keep_it() -> None:
    guard = FloodGuard()
    r = record("fetch failed", exc=ConnectionRefusedError(111, "refused"))
    assert guard.filter(r) and r.exc_info is None and "ConnectionRefusedError" in r.getMessage()
    bug = record("unexpected", exc=KeyError("x"))
    assert guard.filter(bug) and bug.exc_info is not None


def test_info_and_distinct_warnings_pass() -> None:
    guard = FloodGuard()
    assert all(guard.filter(record("applied %d", i, level=logging.INFO)) for i in range(100))
    assert guard.filter(record("one thing", level=logging.WARNING))
    assert guard.filter(record("another thing", level=logging.WARNING))


def test_json_lines_carry_component_and_node() -> None:
    line = JsonFormatter("streams", "gpu-1").format(record("hello %s", "world", level=logging.WARNING))
    doc = orjson.loads(line)
    assert (doc["component"], doc["node"], doc["level"], doc["message"]) == (
        "streams",
        "gpu-1",
        "WARNING",
        "hello world",
    )
    assert doc["ts"].endswith("Z") and "\n" not in line
