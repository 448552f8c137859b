"""Reachability probes with a deadline: is Kafka answering, is PostgreSQL answering — now, not at the last
publish. Used by the API's /readyz and by the stream worker's and crawler's /readyz (on their metrics port,
schemas/metrics.py); each probe returns None when the service answered within the deadline, else a one-line
reason (never a traceback, never a log line: the callers decide what an outage is worth saying)."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from .config import KafkaSettings


async def kafka(settings: KafkaSettings, deadline: float) -> str | None:
    """One metadata request to any bootstrap server (what every Kafka client does first), within ``deadline``.

    A TCP connect alone would call a broker that accepts connections but cannot answer healthy. aiokafka's
    own ``bootstrap()`` logs an ERROR per unreachable server; the connection it is built on does not."""
    from aiokafka.conn import collect_hosts, create_conn
    from aiokafka.protocol.metadata import MetadataRequest

    opts = settings.client_options()
    auth: dict[str, Any] = {k: v for k, v in opts.items() if k != "bootstrap_servers"}
    reasons = []
    try:
        async with asyncio.timeout(deadline):
            for host, port, _ in collect_hosts(settings.bootstrap_servers):
                conn = None
                try:
                    conn = await create_conn(host, port, request_timeout_ms=int(deadline * 1000), **auth)
                    await conn.send(MetadataRequest([]))
                    return None
                except Exception as e:  # this server cannot answer: try the next one
                    reasons.append(f"{host}:{port}: {_reason(e)}")
                finally:
                    if conn is not None:
                        conn.close()
    except TimeoutError:
        reasons.append(f"no answer within {deadline:g}s")
    return "Kafka unreachable: " + "; ".join(reasons)


async def postgres(source: Any, deadline: float) -> str | None:
    """``SELECT 1`` within ``deadline``, on a pooled connection (``source``: an asyncpg.Pool) or on a connection
    of its own (``source``: a DSN)."""
    import asyncpg

    try:
        async with asyncio.timeout(deadline):
            if isinstance(source, str):
                conn = await asyncpg.connect(source)
                try:
                    await conn.fetchval("SELECT 1")
                finally:
                    await conn.close()
            else:
                async with source.acquire() as pooled:
                    await pooled.fetchval("SELECT 1")
        return None
    except TimeoutError:
        return f"PostgreSQL unreachable: no answer within {deadline:g}s"
    except Exception as e:
        return f"PostgreSQL unreachable: {_reason(e)}"


async def problems(kafka_settings: KafkaSettings, postgres_source: Any, deadline: float) -> list[str]:
    """What keeps a process from being ready: Kafka and PostgreSQL probed side by side; [] when both answer."""
    found = await asyncio.gather(postgres(postgres_source, deadline), kafka(kafka_settings, deadline))
    return [p for p in found if p]


def readiness(kafka_settings: KafkaSettings, dsn: str, deadline: float) -> Callable[[], list[str]]:
    """``problems`` as a blocking call, for a /readyz served from a thread of its own (schemas/metrics.py): each
    call probes on an event loop and connections of its own, so readiness never waits on (or for) the
    process's loop."""
    return lambda: asyncio.run(problems(kafka_settings, dsn, deadline))


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text and type(e).__name__ not in text else (text or type(e).__name__)
