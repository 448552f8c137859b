"""GET /api/v1/agents: the latest heartbeat of every node agent."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from .params import Int
from .responses import JSONResponse
from .routing import Call, Endpoint


async def list_agents(call: Call) -> JSONResponse:
    stale_after = call.query["stale_after"]
    async with call.db.acquire() as conn:
        rows = await conn.fetch("SELECT node_host, last_heartbeat, status FROM agents ORDER BY node_host")
    now = datetime.now(UTC)
    items = []
    for r in rows:
        age = (now - r["last_heartbeat"]).total_seconds()
        items.append(
            {
                "node_host": r["node_host"],
                "last_heartbeat": r["last_heartbeat"],
                "age_seconds": round(age, 3),
                "alive": age <= stale_after,
                "status": orjson.loads(r["status"]),
            }
        )
    return JSONResponse({"items": items, "total": len(items)})


ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/agents",
        list_agents,
        "Node agents and their latest status",
        "agents",
        response="AgentList",
        query=(
            Int(
                "stale_after",
                "Seconds without a heartbeat after which an agent is not alive.",
                default=60,
                minimum=1,
                maximum=86_400,
            ),
        ),
    ),
)
