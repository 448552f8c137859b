"""Hard quotas as the agent enforces them: the latest level per (team, backend) from QUOTA_STATE.

The stream workers publish a QuotaBreach per (team, backend) on every level change to a compacted
topic (backend ``None`` = all backends); the agent reads it from the beginning, keeps the latest
level per key, and refuses writes by members of a team at ``hard``. Reads are never blocked.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

from warpdrive.schemas.config import KafkaSettings
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import QuotaBreach, decode
from warpdrive.schemas.topics import QUOTA_STATE

log = logging.getLogger(__name__)

Key = tuple[str, str | None]  # (team, backend or None for all backends)


class Quotas:
    def __init__(self, teams: dict[str, str]) -> None:
        self.teams = teams
        self.levels: dict[Key, str] = {}
        self._hard: frozenset[Key] = frozenset()  # replaced whole, so the trio thread reads it lock-free

    def apply(self, breach: QuotaBreach) -> None:
        log.info("quota of team %s on %s: %s", breach.team, breach.backend_name or "all backends", breach.level)
        self.levels[(breach.team, breach.backend_name or None)] = breach.level
        self._refresh()

    def forget(self, key: bytes | None) -> None:
        team, _, backend = (key or b"").decode(errors="replace").partition("/")
        self.levels.pop((team, backend if backend not in ("", "*") else None), None)
        self._refresh()

    def _refresh(self) -> None:
        self._hard = frozenset(k for k, level in self.levels.items() if level == "hard")

    def blocked(self, user: str, backend: str) -> bool:
        team = self.teams.get(user)
        return team is not None and ((team, backend) in self._hard or (team, None) in self._hard)

    async def follow(self, kafka: KafkaSettings) -> None:
        """Consumes the quota state forever (from the beginning: it is compacted), reconnecting on failure."""
        topic = QUOTA_STATE.full_name(kafka)
        while True:
            # No group: every agent reads every partition of the (compacted) state from the beginning.
            consumer = AIOKafkaConsumer(topic, **kafka.client_options(), group_id=None, enable_auto_commit=False,
                                        auto_offset_reset="earliest", request_timeout_ms=10_000)
            try:
                await consumer.start()
                while True:
                    for records in (await consumer.getmany(timeout_ms=1000)).values():
                        for rec in records:
                            if rec.value is None:  # a deleted quota (tombstone), keyed team/backend
                                self.forget(rec.key)
                                continue
                            try:
                                self.apply(decode(rec.value, QuotaBreach))
                            except DecodeError as e:
                                log.warning("quota state: skipping a malformed record: %s", e)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("quota state: %s; retrying", e)
                await asyncio.sleep(2)
            finally:
                await consumer.stop()
