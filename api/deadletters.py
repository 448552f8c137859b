"""Dead letters: messages the stream workers could not decode or store, kept in ``dead_letters`` instead of
blocking their partition. Admins list and inspect them, replay them (after a fix: each goes back onto its own
topic with its own key, through the command outbox — so Kafka being down loses none — and leaves the table in
the same transaction) or drop them. Counts per topic are on every list and on /readyz (status, dashboard)."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from warpdrive.schemas import topics

from .errors import NotFound
from .params import Ids, Name, page_params
from .responses import JSONResponse
from .routing import Call, Endpoint

PREVIEW = 4096  # bytes of a payload shown as text

ROW = """SELECT id, consumer, topic, partition, "offset", record, error, received_at, msg_key,
                octet_length(payload) AS size_bytes"""


def _item(r: Any) -> dict[str, Any]:
    return {
        "id": r["id"],
        "consumer": r["consumer"],
        "topic": r["topic"],
        "partition": r["partition"],
        "offset": r["offset"],
        "record": r["record"],
        "key": r["msg_key"],
        "error": r["error"],
        "received_at": r["received_at"],
        "size_bytes": r["size_bytes"] or 0,
    }


async def counts(conn: Any) -> dict[str, int]:
    return {
        r["topic"]: r["n"] for r in await conn.fetch("SELECT topic, count(*) AS n FROM dead_letters GROUP BY topic")
    }


async def list_dead_letters(call: Call) -> JSONResponse:
    q = call.query
    async with call.db.acquire() as conn:
        rows = await conn.fetch(
            f"""{ROW} FROM dead_letters WHERE ($1::text IS NULL OR topic = $1) ORDER BY id LIMIT $2 OFFSET $3""",
            q["topic"],
            q["limit"],
            q["offset"],
        )
        by_topic = await counts(conn)
    total = by_topic.get(q["topic"], 0) if q["topic"] else sum(by_topic.values())
    return JSONResponse(
        {
            "items": [_item(r) for r in rows],
            "total": total,
            "by_topic": by_topic,
            "limit": q["limit"],
            "offset": q["offset"],
        }
    )


async def show_dead_letter(call: Call) -> JSONResponse:
    given = call.path["dead_letter_id"]
    r = None
    if given.isdigit() and int(given) < 2**63:  # anything else names no dead letter either
        async with call.db.acquire() as conn:
            r = await conn.fetchrow(f"{ROW}, payload FROM dead_letters WHERE id = $1", int(given))
    if r is None:
        raise NotFound(f"no dead letter {call.path['dead_letter_id']}")
    payload: bytes = r["payload"] or b""
    return JSONResponse(
        {
            **_item(r),
            "payload_base64": base64.b64encode(payload).decode(),
            "payload_preview": payload[:PREVIEW].decode("utf-8", "replace"),
            "payload_truncated": len(payload) > PREVIEW,
        }
    )


def _as_message(payload: bytes, record: int | None) -> bytes:
    """What goes back onto the topic: a whole message as it came, or — for a record refused alone (``record`` set,
    its payload that record by itself) — a batch message of that one record, as the workers read their topics."""
    if record is None:
        return payload
    try:
        doc = orjson.loads(payload)
        fields = {k: v for k, v in doc.items() if k not in ("v", "type")}
        return orjson.dumps({"v": doc["v"], "type": doc["type"], "records": [fields]})
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return payload  # not a record we can wrap: sent as it is (and dead-lettered again if still refused)


async def replay(call: Call) -> JSONResponse:
    ids = call.body["ids"]
    # Only onto this deployment's own topics: a row naming another topic (another prefix, a renamed topic) would
    # stay at the head of the outbox, unpublishable, and hold back every command behind it.
    ours = [t.full_name(call.cfg.kafka) for t in topics.ALL]
    async with call.db.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """DELETE FROM dead_letters WHERE id = ANY($1::bigint[]) AND payload IS NOT NULL AND topic = ANY($2::text[])
               RETURNING id, topic, coalesce(msg_key, '') AS target, payload, record""",
            ids,
            ours,
        )
        foreign = await conn.fetchval(
            "SELECT count(*) FROM dead_letters WHERE id = ANY($1::bigint[]) AND NOT topic = ANY($2::text[])", ids, ours
        )
        rows = sorted(rows, key=lambda r: r["id"])  # the outbox sends in id order: the order they arrived in
        await conn.execute(
            """INSERT INTO command_outbox (target, payload, topic)
               SELECT t, p, o FROM unnest($1::text[], $2::bytea[], $3::text[]) WITH ORDINALITY AS u(t, p, o, n) ORDER BY n""",
            [r["target"] for r in rows],
            [_as_message(r["payload"], r["record"]) for r in rows],
            [r["topic"] for r in rows],
        )
    call.commands.wake()
    return JSONResponse({"replayed": len(rows), "foreign": foreign, "missing": len(ids) - len(rows) - foreign})


async def drop(call: Call) -> JSONResponse:
    ids = call.body["ids"]
    async with call.db.acquire() as conn:
        n = await conn.fetchval(
            "WITH d AS (DELETE FROM dead_letters WHERE id = ANY($1::bigint[]) RETURNING 1) SELECT count(*) FROM d", ids
        )
    return JSONResponse({"dropped": n, "missing": len(ids) - n})


_IDS = Ids("ids", "Dead letter ids (from the list), 1 to 10000.", required=True)
_ID = Name("dead_letter_id", "Dead letter id (a number, from the list).")

ENDPOINTS = (
    Endpoint(
        "GET",
        "/api/v1/deadletters",
        list_dead_letters,
        "Dead letters, oldest first, with counts per topic",
        "deadletters",
        response="DeadLetterList",
        role="admin",
        query=(Name("topic", "Only this topic (its full name)."), *page_params()),
    ),
    Endpoint(
        "GET",
        "/api/v1/deadletters/{dead_letter_id}",
        show_dead_letter,
        "One dead letter with its payload",
        "deadletters",
        response="DeadLetter",
        role="admin",
        path_params=(_ID,),
        extra_statuses=(404,),
    ),
    Endpoint(
        "POST",
        "/api/v1/deadletters/replay",
        replay,
        "Send dead letters back onto their topics (via the outbox) and remove them",
        "deadletters",
        response="ReplayResult",
        body=(_IDS,),
    ),
    Endpoint(
        "POST",
        "/api/v1/deadletters/drop",
        drop,
        "Delete dead letters for good",
        "deadletters",
        response="DropResult",
        body=(_IDS,),
    ),
)
