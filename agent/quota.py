"""Hard quotas as the agent enforces them: levels from QUOTA_STATE, membership from TEAM_MEMBERSHIP.

The stream workers publish a QuotaBreach per (team, backend) on every level change to a compacted
topic (backend ``None`` = all backends; a quota that ends gets ``ok`` and then a tombstone), and every
user's teams to another compacted topic (from the ``teams`` table: the API, the CLI, the config's
``[teams]`` seed). The agent reads both from the beginning with one consumer, keeps the latest value
per key, and refuses creates, writes and extensions by a member of a team at ``hard`` (EDQUOT, in
fs.py); reads and deletes always work. Changes apply as the records arrive, without a restart.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer

from warpdrive.schemas.config import KafkaSettings
from warpdrive.schemas.errors import DecodeError
from warpdrive.schemas.records import QuotaBreach, TeamMembership, decode
from warpdrive.schemas.topics import QUOTA_STATE, TEAM_MEMBERSHIP

log = logging.getLogger(__name__)

Key = tuple[str, str | None]  # (team, backend or None for all backends)


class Quotas:
    def __init__(self) -> None:
        self.levels: dict[Key, str] = {}
        self.members: dict[str, frozenset[str]] = {}  # user → teams
        # Both replaced whole, so the trio thread reads them lock-free.
        self._hard: frozenset[Key] = frozenset()
        self._teams: dict[str, frozenset[str]] = {}

    def apply(self, breach: QuotaBreach) -> None:
        log.info("quota of team %s on %s: %s", breach.team, breach.backend_name or "all backends", breach.level)
        self.levels[(breach.team, breach.backend_name or None)] = breach.level
        self._hard = frozenset(k for k, level in self.levels.items() if level == "hard")

    def forget(self, key: bytes | None) -> None:
        team, _, backend = (key or b"").decode(errors="replace").partition("/")
        self.levels.pop((team, backend if backend not in ("", "*") else None), None)
        self._hard = frozenset(k for k, level in self.levels.items() if level == "hard")

    def membership(self, user: str, teams: list[str]) -> None:
        """The user's teams from now on (empty: in no team, after a tombstone)."""
        log.info("user %s: teams %s", user, ", ".join(teams) or "none")
        members = dict(self._teams)
        if teams:
            members[user] = frozenset(teams)
        else:
            members.pop(user, None)
        self._teams = members

    def teams_of(self, user: str) -> frozenset[str]:
        return self._teams.get(user, frozenset())

    def blocked(self, user: str, backend: str) -> bool:
        """Whether a team of ``user`` is at its hard limit on ``backend`` or over all backends."""
        hard = self._hard
        return any((t, backend) in hard or (t, None) in hard for t in self._teams.get(user, ()))

    def receive(self, topic: str, key: bytes | None, value: bytes | None, membership_topic: str) -> None:
        """One record of either topic; a malformed one is logged and skipped."""
        try:
            if topic == membership_topic:
                user = (key or b"").decode(errors="replace")
                self.membership(user, [] if value is None else decode(value, TeamMembership).teams)
            elif value is None:  # an ended quota (tombstone), keyed team/backend
                self.forget(key)
            else:
                self.apply(decode(value, QuotaBreach))
        except DecodeError as e:
            log.warning("%s: skipping a malformed record: %s", topic, e)

    async def follow(self, kafka: KafkaSettings) -> None:
        """Consumes quota state and membership forever (from the beginning: both are compacted),
        reconnecting on failure."""
        state, membership = QUOTA_STATE.full_name(kafka), TEAM_MEMBERSHIP.full_name(kafka)
        while True:
            # No group: every agent reads every partition of both topics from the beginning.
            consumer = AIOKafkaConsumer(
                state,
                membership,
                **kafka.client_options(),
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                request_timeout_ms=10_000,
                fetch_max_wait_ms=100,
            )
            try:
                await consumer.start()
                while True:
                    for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                        for rec in records:
                            self.receive(tp.topic, rec.key, rec.value, membership)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("quota state: %s; retrying", e)
                await asyncio.sleep(2)
            finally:
                await consumer.stop()
