"""The job runner: executes crawl, move and cancel commands from the commands topic.

Commands are consumed by the group ``<topic prefix>warpdrive-jobs`` (the topic has one partition,
so exactly one crawler process runs each command). A command's offset is committed only once its
job has ended and every earlier one has too: a runner killed mid-job runs the job again when it (or
another) restarts — moves are resumable and crawls are repeatable, so running again is safe.

Progress and results go to the job-events topic as JobEvents (job_id = command_id): ``running``
with progress about once a second, then ``done``, ``failed`` or ``cancelled``.

Besides commands, the runner purges expired trash by itself every ``crawler.trash_purge_interval`` seconds (from
its start) on its crawler's backends: when anything expired, as a purge job of its own (a new job id, its progress
``scheduled``), so the jobs list audits it like a requested one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import uuid
from datetime import UTC, datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from warpdrive.schemas.errors import DecodeError, SchemaError
from warpdrive.schemas.jobs import CRAWLER_KINDS, TRASH_KINDS
from warpdrive.schemas.records import Command, JobEvent, decode_batch, utc_now
from warpdrive.schemas.topics import COMMANDS, JOB_EVENTS

from .crawl import crawl
from .errors import CrawlerError
from .move import Cancelled, Mover, MoveProgress, move_locations
from .publish import Publisher
from . import trash

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)

PROGRESS_EVERY = 1.0
# Files a dry run's result lists (the biggest): enough to review, small enough for one JobEvent and jobs row.
DRY_RUN_FILES = 100


@dataclass
class Job:
    command: Command
    tp: TopicPartition
    offset: int
    cancel: threading.Event = field(default_factory=threading.Event)
    task: asyncio.Task[None] | None = None


class JobRunner:
    def __init__(self, service: "Service", publisher: Publisher) -> None:
        self.service, self.publisher, self.cfg = service, publisher, service.cfg
        self.node = socket.gethostname()
        self.jobs: dict[str, Job] = {}
        self.in_flight: dict[TopicPartition, list[int]] = {}  # offsets some message or job still holds
        self.next_offset: dict[TopicPartition, int] = {}  # one past the last offset dispatched
        self.to_commit: dict[TopicPartition, int] = {}
        self.commit_wanted = asyncio.Event()
        self.consumer = AIOKafkaConsumer(
            COMMANDS.full_name(self.cfg.kafka),
            **self.cfg.kafka.client_options(),
            group_id=f"{self.cfg.kafka.topic_prefix}warpdrive-jobs",
            enable_auto_commit=False,
            # A command sent before any runner ever started must still run.
            auto_offset_reset="earliest",
        )

    async def run(self) -> None:
        await self.consumer.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._committer())
                if self.cfg.crawler.trash_purge_interval:
                    tg.create_task(self._purge_timer())
                while True:
                    batches = await self.consumer.getmany(timeout_ms=1000)
                    for tp, messages in batches.items():
                        for msg in messages:
                            self._dispatch(tg, tp, msg.offset, msg.value)
        finally:
            await self.consumer.stop()

    async def _committer(self) -> None:
        """Commits the latest safe offsets, one commit at a time, so commits never go backwards."""
        while True:
            await self.commit_wanted.wait()
            self.commit_wanted.clear()
            offsets, self.to_commit = self.to_commit, {}
            try:
                await self.consumer.commit(offsets)
            except Exception as e:  # e.g. a rebalance: the next owner may re-run a finished job, safely
                log.warning("command offset commit failed offsets=%s error=%s", offsets, e)

    def _dispatch(self, tg: asyncio.TaskGroup, tp: TopicPartition, offset: int, raw: bytes | None) -> None:
        try:
            commands = decode_batch(raw, Command)  # the API sends batch envelopes of one Command
        except DecodeError as e:
            log.warning("bad command skipped offset=%d error=%s", offset, e)
            commands = []
        self.in_flight.setdefault(tp, []).append(offset)
        self.next_offset[tp] = offset + 1
        for c in commands:
            if c.kind == "cancel":
                self._cancel(str(c.args.get("job_id") or c.args.get("command_id") or ""))
            elif c.kind in CRAWLER_KINDS and c.target in ("*", "", self.node) and c.command_id not in self.jobs:
                job = self.jobs[c.command_id] = Job(c, tp, offset)
                self.in_flight[tp].append(offset)  # released when the job ends
                job.task = tg.create_task(self._run(job))
        self._release(tp, offset)

    def _cancel(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is None or job.task is None:
            log.info("cancel: no job %r running here", job_id)
            return
        log.info("cancelling job=%s", job_id)
        job.cancel.set()
        job.task.cancel()

    def _release(self, tp: TopicPartition, offset: int) -> None:
        """Drops one hold on ``offset``; the group may then commit up to the oldest offset still held."""
        held = self.in_flight[tp]
        held.remove(offset)
        self.to_commit[tp] = min(held) if held else self.next_offset[tp]
        self.commit_wanted.set()

    async def _event(self, job: Job, state: str, progress: dict[str, Any], error: str | None = None) -> None:
        await self._send(job.command.command_id, state, progress, error)

    async def _send(self, job_id: str, state: str, progress: dict[str, Any], error: str | None = None) -> None:
        ev = JobEvent(job_id, state, utc_now(), self.node, progress, error)
        channel = self.publisher.channel()
        await channel.send_one(JOB_EVENTS, job_id, ev)
        await channel.settle()

    async def _purge_timer(self) -> None:
        """Purges expired trash every crawler.trash_purge_interval seconds; a failure is logged and retried next
        time, and never stops the runner."""
        while True:
            now = datetime.now(UTC)
            try:
                if await asyncio.to_thread(trash.expired, self.cfg, self.service.backends, now):
                    await self._scheduled_purge(now)
            except Exception as e:  # e.g. a backend unreachable: the next round tries again
                log.warning(
                    "scheduled trash purge failed error=%s: %s; next try in %.0fs",
                    type(e).__name__,
                    e,
                    self.cfg.crawler.trash_purge_interval,
                )
            await asyncio.sleep(self.cfg.crawler.trash_purge_interval)

    async def _scheduled_purge(self, now: datetime) -> None:
        job_id = uuid.uuid4().hex
        progress: dict[str, Any] = {"kind": "purge", "before": now.isoformat(), "scheduled": True}
        log.info("job start job=%s kind=purge scheduled", job_id)
        await self._send(job_id, "running", progress)
        try:
            result = await self._purge(progress, now, None)
        except Exception as e:
            await self._send(job_id, "failed", progress, f"{type(e).__name__}: {e}")
            raise
        await self._send(job_id, "done", result)
        log.info("job done job=%s %s", job_id, result)

    async def _purge(self, progress: dict[str, Any], before: datetime, only_job: str | None) -> dict[str, Any]:
        """Removes the trash expired at ``before`` (only ``only_job``'s, when given) on this crawler's backends."""
        purged = await asyncio.to_thread(trash.purge, self.cfg, self.service.backends, before, only_job)
        return {
            **progress,
            "purged": purged,
            "directories": len(purged),
            "files_done": sum(p["files"] for p in purged),
            "bytes_done": sum(p["bytes"] for p in purged),
        }

    @contextlib.asynccontextmanager
    async def _reporting(
        self, job: Job, progress: dict[str, Any], counters: Callable[[], dict[str, Any]]
    ) -> AsyncIterator[None]:
        """Sends the job's progress (``counters`` merged in) about once a second while the body runs. Stopped before
        the body's caller sends the final event, so no "running" ever follows "done"."""

        async def report() -> None:
            while True:
                await asyncio.sleep(PROGRESS_EVERY)
                progress.update(counters())
                await self._event(job, "running", dict(progress))

        reporter = asyncio.create_task(report())
        try:
            yield
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)
            progress.update(counters())

    async def _run(self, job: Job) -> None:
        c = job.command
        log.info("job start job=%s kind=%s args=%s", c.command_id, c.kind, c.args)
        progress: dict[str, Any] = {"kind": c.kind}
        try:
            await self._event(job, "running", progress)
            if c.kind == "crawl":
                result = await self._crawl(job, progress)
            elif c.kind in TRASH_KINDS:
                result = await self._trash(job, progress)
            else:
                result = await self._move(job, progress)
            failed = result.pop("error", None)
            await self._event(job, "failed" if failed else "done", result, failed)
            log.info("job %s job=%s %s", "failed" if failed else "done", c.command_id, result)
        except (asyncio.CancelledError, Cancelled):
            if not job.cancel.is_set():
                raise  # the process is stopping: the job stays uncommitted and runs again on restart
            log.info("job cancelled job=%s", c.command_id)
            await self._event(job, "cancelled", progress)
        except (CrawlerError, SchemaError) as e:
            await self._event(job, "failed", progress, str(e))
        except Exception as e:  # a bug or an unexpected store error fails this job, never the runner
            log.exception("job crashed job=%s", c.command_id)
            await self._event(job, "failed", progress, f"{type(e).__name__}: {e}")
        finally:
            if job.cancel.is_set() or not asyncio.current_task().cancelling():  # type: ignore[union-attr]
                self._release(job.tp, job.offset)
            self.jobs.pop(c.command_id, None)

    async def _crawl(self, job: Job, progress: dict[str, Any]) -> dict[str, Any]:
        """``args``: ``backend`` (absent = every backend of this crawler) and ``prefix`` (one subtree)."""
        name, prefix = job.command.args.get("backend"), str(job.command.args.get("prefix") or "")
        backends = [self.cfg.backend(name)] if name else self.service.backends
        # A requested crawl waits for a running one of the same backend, so it really lists after the request.
        if prefix:
            results = [
                await crawl(self.cfg, b, self.publisher, self.service.dsn, prefix=prefix, wait_lock=True)
                for b in backends
            ]
        else:
            results = await self.service.crawl_all(self.publisher, backends, wait_lock=True)
        out: dict[str, Any] = {"kind": "crawl", "crawls": [r.as_dict() for r in results]}
        bad = [r for r in results if r.status != "complete"]
        if bad:
            out["error"] = "; ".join(f"{r.backend}: {r.status}" + (f" ({r.error})" if r.error else "") for r in bad)
        return out

    async def _move(self, job: Job, progress: dict[str, Any]) -> dict[str, Any]:
        """``args``: source and destination (see ``move_locations``); ``dry_run`` only lists and counts:
        its result has the totals and the ``DRY_RUN_FILES`` biggest files, and nothing is copied or deleted."""
        args = job.command.args
        dry_run = bool(args.get("dry_run"))
        src, dst = move_locations(self.cfg, args)
        mover = Mover(self.cfg, src, dst, job.cancel)
        mp = MoveProgress()
        progress.update(kind="move", src=str(src), dst=str(dst), dry_run=dry_run, **mp.as_dict())

        # Progress from the first listed file on (a big prefix takes a while to count, dry run or not).
        async with self._reporting(job, progress, mp.as_dict):
            sample = await mover.plan(mp, keep=DRY_RUN_FILES if dry_run else 0)
            if not dry_run:
                progress.update(mp.as_dict())
                await self._event(job, "running", dict(progress))  # the totals, before the first copy
                await mover.run(mp)
        if dry_run:
            files = [
                {
                    "path": ev.path,
                    "dest_path": mover.dest(ev),
                    "size_bytes": ev.size_bytes,
                    "last_modified": ev.last_modified,
                }
                for ev in sample
            ]
            return {**progress, "files": files}
        # The index follows through listing events: a complete crawl of the moved prefix on each side
        # inserts the new destination files and marks the moved-away sources deleted.
        crawls = [
            await crawl(self.cfg, loc.backend, self.publisher, self.service.dsn, prefix=loc.path, wait_lock=True)
            for loc in (src, dst)
        ]
        out = {**progress, "crawls": [r.as_dict() for r in crawls]}
        if mp.errors:
            out["error"] = f"{len(mp.errors)} file(s) not moved, e.g. {mp.errors[0]}"
        return out

    async def _trash(self, job: Job, progress: dict[str, Any]) -> dict[str, Any]:
        """A deletion job (crawler/trash.py). ``trash`` args: ``trash`` (its directory), its files are in
        ``trash_items``; ``restore``: ``trash_job`` and ``trash``; ``purge``: ``before`` (ISO time, default now) and
        optionally ``trash_job`` (only that job's trash)."""
        args, kind = job.command.args, job.command.kind
        if kind == "purge":
            before = datetime.fromisoformat(str(args["before"])) if args.get("before") else datetime.now(UTC)
            return await self._purge(progress, before, args.get("trash_job") or None)
        trash.check_args(args, "trash", *(("trash_job",) if kind == "restore" else ()))
        source_job = str(args.get("trash_job") or job.command.command_id)
        todo = await trash.items(self.service.dsn, source_job)
        tp = trash.TrashProgress()
        progress.update(trash=args["trash"], **tp.as_dict())

        async with self._reporting(job, progress, tp.as_dict):
            await trash.Trasher(self.cfg, str(args["trash"]), job.cancel).run(todo, tp, restore=kind == "restore")
        progress.update(tp.result())
        # The index follows through a crawl of the directory holding the job's files on each backend.
        crawls = []
        for name in sorted({i.backend for i in todo}):
            try:
                backend = self.cfg.backend(name)
            except Exception:
                continue
            prefix = trash.common_dir([i.path for i in todo if i.backend == name])
            crawls.append(
                await crawl(self.cfg, backend, self.publisher, self.service.dsn, prefix=prefix, wait_lock=True)
            )
        out = {**progress, "crawls": [r.as_dict() for r in crawls]}
        if tp.errors:
            out["error"] = f"{len(tp.errors)} file(s) not moved, e.g. {tp.errors[0]['path']}: {tp.errors[0]['error']}"
        return out
