"""Decoding topics whose messages are either batch envelopes or single self-describing records."""

from __future__ import annotations

from typing import Any

import orjson

from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import decode, decode_batch

from .offsets import Msg


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
