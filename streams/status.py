"""Agent heartbeats → ``agents`` (the latest heartbeat wins); job progress → ``jobs`` (in order per job; a
finished or cancelled job is never set back to running)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import orjson

from warpdrive.schemas.jobs import FINISHED
from warpdrive.schemas.records import AgentStatus, JobEvent, parse_ts

from .decoding import decode_all
from .offsets import Msg, dead_letter


async def apply_agent_status(conn: asyncpg.Connection, consumer: str, msgs: list[Msg]) -> int:
    recs, bad = decode_all(msgs, AgentStatus)
    await dead_letter(conn, consumer, bad)
    latest: dict[str, tuple[datetime, AgentStatus]] = {}
    for r in recs:
        ts = parse_ts(r.timestamp)
        if r.node_host not in latest or ts > latest[r.node_host][0]:
            latest[r.node_host] = (ts, r)
    if latest:
        nodes = sorted(latest)
        await conn.execute(
            """INSERT INTO agents AS a (node_host, last_heartbeat, status)
               SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[]) ORDER BY 1
               ON CONFLICT (node_host) DO UPDATE SET last_heartbeat = EXCLUDED.last_heartbeat, status = EXCLUDED.status
               WHERE a.last_heartbeat <= EXCLUDED.last_heartbeat""",
            nodes,
            [latest[n][0] for n in nodes],
            [orjson.dumps(latest[n][1]).decode() for n in nodes],
        )
    return len(recs)


async def apply_job_events(conn: asyncpg.Connection, consumer: str, msgs: list[Msg]) -> int:
    recs, bad = decode_all(msgs, JobEvent)
    await dead_letter(conn, consumer, bad)
    latest: dict[str, JobEvent] = {}
    for r in recs:  # in order per job (the topic is keyed by job id): the last one wins
        latest[r.job_id] = r
    if latest:
        ids = sorted(latest)
        await conn.execute(
            """INSERT INTO jobs AS j (job_id, kind, args, state, progress, error, updated_at)
               SELECT id, coalesce(p->>'kind', 'unknown'), '{}', s, p, e, t
               FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::timestamptz[]) AS u(id, s, p, e, t)
               ORDER BY id
               ON CONFLICT (job_id) DO UPDATE SET state = EXCLUDED.state, progress = EXCLUDED.progress,
                   error = EXCLUDED.error, updated_at = EXCLUDED.updated_at
               WHERE j.state <> ALL($6::text[]) OR EXCLUDED.state = ANY($6::text[])""",
            ids,
            [latest[i].state for i in ids],
            [orjson.dumps(latest[i].progress).decode() for i in ids],
            [latest[i].error for i in ids],
            [parse_ts(latest[i].timestamp) for i in ids],
            list(FINISHED),
        )
    return len(recs)
