"""Backend reachability for the heartbeat, probed in the background so a hung backend never delays it.

Each backend is probed (``info`` of its root) every heartbeat interval, one probe at a time, each in
a daemon thread of its own. A server that accepts connections and never answers holds only that
thread: not a shared pool that warm jobs and the other backends' probes need (a pool's threads
leaked by such probes starved them), and not the agent's exit (a pool's threads are joined at exit,
and botocore waits minutes before giving up). A probe unanswered after ``timeout`` seconds makes the
backend unreachable until it ends; its end, answer or error, is the next result.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from .backend import Backend
from .errors import error_text

PROBE_TIMEOUT = 5.0


def _probe(backend: Backend) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        backend.fs.info(backend.root)
    except Exception as e:
        return {"reachable": False, "error": error_text(e)}
    return {"reachable": True, "latency_ms": round((time.perf_counter() - t0) * 1000, 1)}


class Probes:
    """The latest reachability of every backend (runs on the agent's asyncio loop)."""

    def __init__(self, backends: dict[str, Backend], interval: float, timeout: float = PROBE_TIMEOUT) -> None:
        self.backends = backends
        self.interval = interval
        self.timeout = timeout
        self.results: dict[str, dict[str, Any]] = {}
        self.ready = asyncio.Event()  # every backend has a result (within ``timeout`` of the start)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for backend in self.backends.values():
                tg.create_task(self._follow(backend))

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return dict(self.results)

    async def _follow(self, backend: Backend) -> None:
        while True:
            await self._probe_once(backend)
            await asyncio.sleep(self.interval)

    def _report(self, name: str, result: dict[str, Any]) -> None:
        self.results[name] = result
        if len(self.results) == len(self.backends):
            self.ready.set()

    async def _probe_once(self, backend: Backend) -> None:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[dict[str, Any]] = loop.create_future()

        def probe() -> None:
            result = _probe(backend)

            def deliver() -> None:  # unless the agent stopping cancelled the wait for it meanwhile
                if not answer.done():
                    answer.set_result(result)

            loop.call_soon_threadsafe(deliver)

        threading.Thread(target=probe, name=f"probe-{backend.name}", daemon=True).start()
        try:
            self._report(backend.name, await asyncio.wait_for(asyncio.shield(answer), self.timeout))
        except TimeoutError:
            self._report(backend.name, {"reachable": False, "error": f"ETIMEDOUT: no answer in {self.timeout:g} s"})
            self._report(backend.name, await answer)  # one probe per backend at a time: the hung one first ends
