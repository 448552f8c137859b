"""Commands for the workers and agents (jobs, reown, quota), through an outbox.

A change and the Command it needs are written in ONE PostgreSQL transaction (``enqueue`` inserts into
``command_outbox``); the publisher, a background task of the app's lifespan, sends pending rows to the
COMMANDS topic in order and deletes them once Kafka has acknowledged. So Kafka being down never loses
a command nor stores a change without its command: the command waits and goes out when Kafka is back
(at least once — consumers key on ``command_id``). The API never runs a command itself.

Each message is the usual batch envelope (``records.encode_batch``) holding one Command, keyed by target.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import asyncpg

from warpdrive.schemas import records, topics
from warpdrive.schemas.config import Config
from warpdrive.schemas.db import COMMAND_OUTBOX_CHANNEL, listen
from warpdrive.schemas.locks import PUBLISH_LOCK  # one outbox publisher at a time

log = logging.getLogger(__name__)

BATCH = 500  # rows published per round


class CommandOutbox:
    def __init__(self, cfg: Config, pool: asyncpg.Pool, retry_interval: float = 2.0, timeout: float = 10.0) -> None:
        self.cfg = cfg
        self.pool = pool
        self.retry_interval = retry_interval
        self.timeout = timeout
        self.topic = topics.COMMANDS.full_name(cfg.kafka)
        self.connected = False
        self._wake = asyncio.Event()
        self._stopping = False

    async def enqueue(
        self,
        conn: asyncpg.Connection,
        kind: str,
        args: dict[str, Any],
        target: str = "*",
        command_id: str | None = None,
    ) -> records.Command:
        """Adds a Command to the outbox inside the caller's transaction; it is sent after the commit."""
        cmd = records.Command(
            command_id=command_id or uuid.uuid4().hex, kind=kind, timestamp=records.utc_now(), args=args, target=target
        )
        await conn.execute(
            "INSERT INTO command_outbox (target, payload) VALUES ($1, $2)", target, records.encode_batch([cmd])
        )
        return cmd  # the publisher is woken by the outbox's NOTIFY, at commit

    def stop(self) -> None:
        """Ends ``run`` at its next step. Beside the task's cancellation, which asyncio.wait_for on Python 3.11
        can swallow when the awaited call finishes at the same moment (an app stopped right after its start
        then waited on the publisher forever)."""
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        """Publishes soon: rows were added beside ``enqueue`` (a dead-letter replay)."""
        self._wake.set()

    async def pending(self) -> int:
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT count(*) FROM command_outbox")

    async def run(self) -> None:
        """Publishes until cancelled, woken when rows commit (LISTEN) or every ``retry_interval``;
        a Kafka or PostgreSQL failure is logged and retried, never fatal."""
        producer = None
        listener = asyncio.create_task(listen(self.pool, (COMMAND_OUTBOX_CHANNEL,), self._wake))
        try:
            while not self._stopping:
                try:
                    if producer is None:
                        producer = await self._start_producer()
                    while await self._publish_round(producer):
                        pass
                except Exception as e:  # Kafka's or PostgreSQL's: the rows stay in the outbox for the next round
                    log.warning(
                        "commands not published yet (%s); retrying in %.0fs", type(e).__name__, self.retry_interval
                    )
                    if producer is not None:
                        await self._stop_producer(producer)
                        producer = None
                try:
                    await asyncio.wait_for(self._wake.wait(), self.retry_interval)
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            if producer is not None:
                await self._stop_producer(producer)

    async def _start_producer(self) -> Any:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            **self.cfg.kafka.client_options(), enable_idempotence=True, request_timeout_ms=int(self.timeout * 1000)
        )
        try:
            async with asyncio.timeout(self.timeout):
                await producer.start()
        except BaseException:
            await self._stop_producer(producer)
            raise
        self.connected = True
        return producer

    async def _stop_producer(self, producer: Any) -> None:
        self.connected = False
        try:
            await asyncio.wait_for(producer.stop(), self.timeout)
        except Exception as e:  # a broker that is gone cannot take the flush; the rows stay in the outbox
            log.warning("Kafka producer did not stop cleanly: %s", type(e).__name__)

    async def _publish_round(self, producer: Any) -> bool:
        """Sends the oldest pending rows and deletes them once acknowledged; True if a full batch went out."""
        async with self.pool.acquire() as conn, conn.transaction():
            # Several API processes share the outbox, and all wake at the same commit: one publishes at a time
            # (the others wait, then find only what is left), so rows are neither sent twice at once nor reordered.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", PUBLISH_LOCK)
            rows = await conn.fetch("SELECT id, target, payload, topic FROM command_outbox ORDER BY id LIMIT $1", BATCH)
            if not rows:
                return False
            # topic: a replayed dead letter goes back to its own topic; NULL is a command.
            futures = [
                await producer.send(r["topic"] or self.topic, r["payload"], key=r["target"].encode()) for r in rows
            ]
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout)
            await conn.execute("DELETE FROM command_outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        log.info("published %d command(s) or replayed message(s)", len(rows))
        return len(rows) == BATCH
