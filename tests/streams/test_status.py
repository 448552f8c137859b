"""Agent heartbeats → agents; job events → jobs; the exactly-once core against real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tests.helpers import Procs, wait_until
from tests.streams.events import produce, query
from warpdrive.schemas.config import Config
from warpdrive.schemas.records import AgentStatus, JobEvent, encode, encode_batch
from warpdrive.streams.offsets import Msg, apply_exactly_once

pytestmark = pytest.mark.services


def test_agent_status_and_job_events(cfg: Config, procs: Procs) -> None:
    from warpdrive.schemas.topics import AGENT_STATUS, JOB_EVENTS

    dsn = cfg.postgres.dsn
    job = uuid.uuid4().hex
    query(dsn, "INSERT INTO jobs (job_id, kind, args) VALUES ($1, 'move', '{\"src\": \"a\"}')", job)
    node = f"node-{job[:6]}"
    asyncio.run(
        produce(
            cfg,
            AGENT_STATUS,
            [
                (node.encode(), encode(AgentStatus(node, "2026-11-25T10:00:00.000000Z", cache={"bytes": 1}))),
                (node.encode(), encode(AgentStatus(node, "2026-11-25T10:00:10.000000Z", cache={"bytes": 2}))),
            ],
        )
    )
    asyncio.run(
        produce(
            cfg,
            JOB_EVENTS,
            [
                (
                    job.encode(),
                    encode_batch(
                        [
                            JobEvent(job, "running", "2026-11-25T10:00:01.000000Z", progress={"files": 1}),
                            JobEvent(job, "running", "2026-11-25T10:00:02.000000Z", progress={"files": 5}),
                        ]
                    ),
                ),
                (job.encode(), encode(JobEvent(job, "done", "2026-11-25T10:00:03.000000Z", progress={"files": 9}))),
            ],
        )
    )
    procs.start("streams", "streams", "worker")

    def agent() -> object:
        r = query(dsn, "SELECT status->'cache'->>'bytes' AS b FROM agents WHERE node_host = $1", node)
        return r and r[0]["b"] == "2"

    wait_until(agent, 30, what="latest heartbeat stored")
    wait_until(
        lambda: query(dsn, "SELECT state FROM jobs WHERE job_id = $1", job)[0]["state"] == "done", 30, what="job done"
    )
    (row,) = query(dsn, "SELECT kind, progress->>'files' AS f, args->>'src' AS src FROM jobs WHERE job_id = $1", job)
    assert (row["kind"], row["f"], row["src"]) == ("move", "9", "a")


def test_the_same_messages_twice_apply_once(cfg: Config) -> None:
    """The guarantee itself: a redelivered batch (even mixed with new messages) is skipped, not re-applied."""
    topic = f"unit-{uuid.uuid4().hex[:6]}"

    async def run() -> list[int]:
        pool = await asyncpg.create_pool(cfg.postgres.dsn, min_size=1, max_size=2)
        applied: list[int] = []

        async def apply(conn: asyncpg.Connection, fresh: list[Msg]) -> None:
            applied.extend(m.offset for m in fresh)

        msgs = [Msg(topic, p, o, None, b"") for p in (0, 1) for o in range(5)]
        try:
            counts = [
                await apply_exactly_once(pool, "unit", msgs[:7], apply),
                await apply_exactly_once(pool, "unit", msgs, apply),
                await apply_exactly_once(pool, "unit", msgs, apply),
            ]
        finally:
            await pool.close()
        assert sorted(applied) == sorted(m.offset for m in msgs)
        return counts

    assert asyncio.run(run()) == [7, 3, 0]
