"""Every Kafka topic, defined once: name, key, retention or compaction, and (in its doc) its ordering needs.

Ordering: access events are commutative (sums and max(last_access)), so their key only spreads load.
Listing events and crawl markers of one backend must stay in order (a crawl's finish marker comes
after all its files), so they are keyed by backend. Compacted topics keep the latest value per key.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .config import KafkaSettings

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Topic:
    name: str  # versioned, without the configured prefix
    key: str  # what the message key is
    compacted: bool = False
    retention_ms: int = 7 * DAY_MS
    partitions: int | None = None  # None = kafka.partitions
    public: bool = False  # consumed by other teams: has a JSON Schema in schemas/json/
    doc: str = ""

    def full_name(self, kafka: KafkaSettings) -> str:
        return kafka.topic_prefix + self.name

    def configs(self) -> dict[str, str]:
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": str(3_600_000)}
        return {"cleanup.policy": "delete", "retention.ms": str(self.retention_ms)}


ACCESS = Topic(
    "warpdrive.access.v1",
    key="node_host",
    doc="AccessEvent batches from agents. Commutative aggregation: order does not matter.",
)
LISTING = Topic(
    "warpdrive.listing.v1",
    key="backend_name",
    doc="ListingEvent batches and CrawlMarkers from the crawler and move jobs; in order per backend.",
)
AGENT_STATUS = Topic(
    "warpdrive.agent-status.v1",
    key="node_host",
    compacted=True,
    partitions=1,
    doc="Latest AgentStatus heartbeat per node.",
)
QUOTA_BREACH = Topic(
    "warpdrive.quota-breach.v1",
    key="team",
    retention_ms=30 * DAY_MS,
    public=True,
    doc="QuotaBreach transitions (ok/soft/hard), self-describing JSON for any consumer.",
)
QUOTA_STATE = Topic(
    "warpdrive.quota-state.v1",
    key="team/backend",
    compacted=True,
    partitions=1,
    doc="Current QuotaBreach level per team and backend; agents enforce hard limits from it. A "
    "quota that ends (deleted, its team or backend removed) gets its 'ok' and then a tombstone.",
)
COMMANDS = Topic(
    "warpdrive.commands.v1",
    key="target",
    partitions=1,
    doc="Commands (move, warm, crawl, cancel, reown, quota) for workers, crawlers and agents.",
)
JOB_EVENTS = Topic(
    "warpdrive.job-events.v1", key="job_id", doc="Job progress and results, aggregated into the jobs table."
)

# Agents enforce hard quotas for the members of a team: they learn membership here, not from their config.
TEAM_MEMBERSHIP = Topic(
    "warpdrive.team-membership.v1",
    key="user",
    compacted=True,
    partitions=1,
    public=True,
    doc="TeamMembership per user (latest wins; a tombstone once the user is in no team), "
    "published by the stream workers from the teams table.",
)

ALL: tuple[Topic, ...] = (
    ACCESS,
    LISTING,
    AGENT_STATUS,
    QUOTA_BREACH,
    QUOTA_STATE,
    COMMANDS,
    JOB_EVENTS,
    TEAM_MEMBERSHIP,
)


async def ensure_topics(kafka: KafkaSettings, topics: tuple[Topic, ...] = ALL, timeout: float = 30.0) -> list[str]:
    """Creates missing topics (idempotent); returns the names it created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**kafka.client_options(), request_timeout_ms=int(timeout * 1000))
    await asyncio.wait_for(admin.start(), timeout)
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                t.full_name(kafka),
                t.partitions or kafka.partitions,
                kafka.replication_factor,
                topic_configs=t.configs(),
            )
            for t in topics
            if t.full_name(kafka) not in existing
        ]
        if new:
            try:
                await admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # a concurrent creator won the race; the topic is there either way
            log.info("created topics %s", [t.name for t in new])
        return [t.name for t in new]
    finally:
        await admin.close()
