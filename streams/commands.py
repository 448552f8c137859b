"""Commands for the stream workers: ``reown`` (ownership rules or teams changed: recompute owners of
``args.backend`` / ``args.prefix``, or of everything) and ``quota`` (quotas changed: re-evaluate).
Other kinds on the commands topic are for agents and crawlers and are ignored here."""

from __future__ import annotations

import logging
from typing import Mapping

import asyncpg

from warpdrive.schemas.records import Command

from .decoding import decode_all
from .offsets import Msg, dead_letter
from .ownership import reown
from .rollups import Deltas

log = logging.getLogger(__name__)


async def apply_commands(
    conn: asyncpg.Connection, consumer: str, msgs: list[Msg], uid_names: Mapping[str, str], deltas: Deltas
) -> bool:
    """Runs the batch's commands in order; returns whether every quota should be re-evaluated."""
    recs, bad = decode_all(msgs, Command)
    await dead_letter(conn, consumer, bad)
    quotas = False
    for c in recs:
        args = c.args
        if c.kind == "reown":
            backend, prefix = args.get("backend"), args.get("prefix") or ""
            if backend is not None and not isinstance(backend, str) or not isinstance(prefix, str):
                log.error("command %s: reown args must be strings, got %r", c.command_id, args)
                continue
            n = await reown(conn, backend, prefix, uid_names, deltas)
            log.info("reown %s:%s — %d files changed owner", backend or "*", prefix or "/", n)
            quotas = True
        elif c.kind == "quota":
            quotas = True
    return quotas
