"""Decoding topics whose messages are either batch envelopes or single self-describing records, and
checking batches record by record (a refused record is dead-lettered alone, the rest applied)."""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Sequence

import asyncpg
import orjson

from warpdrive.schemas.checks import split_checked
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import decode, decode_batch, encode_batch

from .offsets import Msg

log = logging.getLogger(__name__)


def records(raw: bytes | None, expect: type) -> list[Any]:
    """A message's records, whether it is a batch envelope or one record alone."""
    try:
        doc = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        doc = None  # decode() below names the problem
    if isinstance(doc, dict) and "records" in doc:
        return decode_batch(raw, expect)
    return [decode(raw, expect)]


def decode_all(msgs: list[Msg], expect: type) -> tuple[list[Any], list[tuple[Msg, str]]]:
    """Every decodable record of ``msgs`` in order, and the undecodable messages with the reason."""
    out, bad = [], []
    for m in msgs:
        try:
            out.extend(records(m.value, expect))
        except DecodeError as e:
            bad.append((m, str(e)))
    return out, bad


# A record refused alone: its message, its index in the message, the record and the reason.
Rejected = tuple[Msg, int, Any, str]


def checked_batch(
    m: Msg, expect: type | None, check: Callable[[Any, Mapping[str, str]], Any], roots: Mapping[str, str]
) -> tuple[list[Any], list[Rejected]]:
    """A batch message's records that pass ``check`` (schemas/checks.py), and the refused ones; raises
    DecodeError when the message itself is undecodable."""
    good, bad = split_checked(decode_batch(m.value, expect), check, roots)
    return good, [(m, i, r, reason) for i, r, reason in bad]


async def dead_letter_records(conn: asyncpg.Connection, consumer: str, rejected: Sequence[Rejected]) -> None:
    """Keeps each refused record by itself: payload = a batch message of that record alone (what the topic
    carries, so a replay sends it back as such), ``record`` = its index in the message, ``msg_key`` its key."""
    if not rejected:
        return
    for m, i, _, err in rejected:
        log.error("dead letter %s[%d]@%d record %d: %s", m.topic, m.partition, m.offset, i, err)
    await conn.execute(
        """INSERT INTO dead_letters (consumer, topic, partition, "offset", record, error, payload, msg_key)
           SELECT $1, t, p, o, i, e, v, k
           FROM unnest($2::text[], $3::int[], $4::bigint[], $5::int[], $6::text[], $7::bytea[], $8::text[])
                AS u(t, p, o, i, e, v, k)
           ON CONFLICT DO NOTHING""",
        consumer,
        [m.topic for m, *_ in rejected],
        [m.partition for m, *_ in rejected],
        [m.offset for m, *_ in rejected],
        [i for _, i, _, _ in rejected],
        [e for *_, e in rejected],
        [encode_batch([r]) for _, _, r, _ in rejected],
        # The message key, for a replay to the same partition (warpdrive-ctl deadletters replay).
        [m.key.decode("utf-8", "replace") if m.key is not None else None for m, *_ in rejected],
    )
