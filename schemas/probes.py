"""Reachability probes with a deadline: is Kafka answering, is PostgreSQL answering — now, not at the last
publish. Used by the API's /readyz and every process's readiness gauge; each returns None when the service
answered within the deadline, else a one-line reason (never a traceback, never a log line: the callers
decide what an outage is worth saying)."""

from __future__ import annotations

import asyncio
from typing import Any

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


async def postgres(pool: Any, deadline: float) -> str | None:
    """``SELECT 1`` on a pooled connection (asyncpg.Pool), within ``deadline``."""
    try:
        async with asyncio.timeout(deadline):
            async with pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
        return None
    except TimeoutError:
        return f"PostgreSQL unreachable: no answer within {deadline:g}s"
    except Exception as e:
        return f"PostgreSQL unreachable: {_reason(e)}"


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text}" if text and type(e).__name__ not in text else (text or type(e).__name__)
