"""`warm` commands: prefetch a path or prefix of a backend into the block cache, reporting progress.

Runs on the agent's asyncio thread; file listing and block fetches go to worker threads. Progress
is kept per job for the heartbeat and published as JobEvents (job_id = command_id) about once a second.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from warpdrive.schemas.config import KafkaSettings
from warpdrive.schemas.records import Command, JobEvent, encode, utc_now
from warpdrive.schemas.storage import VersionChanged
from warpdrive.schemas.topics import JOB_EVENTS

from .backend import Backend
from .cache import BlockCache
from .errors import error_text
from .loop import Producer

PROGRESS_SECONDS = 1.0


class Warmer:
    def __init__(
        self, node: str, backends: dict[str, Backend], cache: BlockCache, producer: Producer, kafka: KafkaSettings
    ) -> None:
        self.node = node
        self.backends = backends
        self.cache = cache
        self.producer = producer
        self.topic = JOB_EVENTS.full_name(kafka)
        self.jobs: dict[str, dict[str, Any]] = {}  # job id → state and progress, for the heartbeat

    async def _publish(self, job_id: str, error: str | None = None) -> None:
        job = self.jobs[job_id]
        event = JobEvent(
            job_id, job["state"], utc_now(), self.node, {k: v for k, v in job.items() if k != "state"}, error
        )
        await self.producer.send(self.topic, encode(event), job_id.encode())

    async def run(self, cmd: Command) -> None:
        # The API's contract for warm jobs: {"backend": NAME, "path": file or directory, "node": optional}.
        name, prefix = str(cmd.args.get("backend", "")), str(cmd.args.get("path", "")).strip("/")
        path = f"{name}:{prefix}"
        job = self.jobs[cmd.command_id] = {
            "state": "running",
            "path": path,
            "files": 0,
            "files_total": 0,
            "bytes": 0,
            "bytes_total": 0,
            "bytes_fetched": 0,
        }
        error = None
        try:
            backend = self.backends.get(name)
            if backend is None:
                raise FileNotFoundError(f"no backend named {name!r}")
            full = backend.full(prefix)
            infos: dict[str, dict[str, Any]] = await asyncio.to_thread(lambda: backend.fs.find(full, detail=True))
            if not infos:
                raise FileNotFoundError(f"nothing at {path!r}")
            job["files_total"] = len(infos)
            job["bytes_total"] = sum(int(i.get("size") or 0) for i in infos.values())
            await self._publish(cmd.command_id)
            last = time.monotonic()
            root = backend.root.rstrip("/") + "/"
            for fullname, info in sorted(infos.items()):
                entry = backend.kind.entry(info)
                rel = str(fullname)[len(root) :]
                if not backend.local:  # local files are read directly, never through the cache

                    def fetch(start: int, end: int, f: str = fullname, v: str = entry.version) -> bytes:
                        return backend.kind.read_range(
                            backend.fs, f, start, end, v
                        )  # blocks of the listed version only

                    try:
                        job["bytes_fetched"] += await asyncio.to_thread(
                            self.cache.prefetch, backend.name, rel, entry.version, entry.size, fetch
                        )
                    except VersionChanged:
                        pass  # changed since the listing: its new version is fetched when read
                job["files"] += 1
                job["bytes"] += entry.size
                if time.monotonic() - last >= PROGRESS_SECONDS:
                    await self._publish(cmd.command_id)
                    last = time.monotonic()
            job["state"] = "done"
        except asyncio.CancelledError:
            job["state"] = "cancelled"
            raise
        except Exception as e:
            job["state"], error = "failed", error_text(e)
        finally:
            await asyncio.shield(self._publish(cmd.command_id, error))
