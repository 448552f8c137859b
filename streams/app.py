"""The Faust app: broker settings, the PostgreSQL pool (owned by the app's lifecycle) and the agents.

One agent per input topic, concurrency 1 (Faust can commit past unprocessed messages with more), each
taking batches of Kafka messages — themselves batch envelopes of many records — and applying them with
``offsets.apply_exactly_once``. Every batch that changed usage also writes the usage deltas and
evaluates the affected quotas in the same transaction. State lives in PostgreSQL and Kafka only (the
memory store holds nothing), so any worker can die at any moment; N workers share partitions as one
consumer group.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, cast

import asyncpg
import faust
from aiokafka.errors import KafkaError
from faust.transport.consumer import Consumer
from faust.types import TP

from warpdrive.schemas.config import Config
from warpdrive.schemas.db import QUOTA_OUTBOX_CHANNEL, TEAMS_CHANNEL, listen
from warpdrive.schemas.topics import (
    ACCESS,
    AGENT_STATUS,
    COMMANDS,
    JOB_EVENTS,
    LISTING,
    QUOTA_BREACH,
    QUOTA_STATE,
    Topic,
)
from warpdrive.schemas.topics import TEAM_MEMBERSHIP

from . import membership, quotas
from .access import apply_access, prepare as prepare_access
from .commands import apply_commands
from .listing import apply_listing
from .metrics import SAMPLE_INTERVAL, StreamsMetrics
from .offsets import TRANSIENT, Abandoned, Apply, Msg, OffsetGap, apply_exactly_once, shard_of, stored_offsets
from .replay import read_ranges
from .rollups import Deltas, write_deltas
from .status import apply_agent_status, apply_job_events

log = logging.getLogger(__name__)

# A batch function applies fresh messages inside the exactly-once transaction and returns how many
# records it applied. Its last argument is what the topic's Prepare computed from exactly these messages,
# or None (no Prepare, or a redelivery/gap made the fresh messages differ from the batch prepared).
BatchFn = Callable[["StreamsApp", asyncpg.Connection, list[Msg], Any], Awaitable[int]]
# Work on a batch that needs no database (decoding, folding), done in a thread as its messages arrive, so it
# runs while PostgreSQL applies the previous batch (and the GIL hands the loop back within the switch interval
# whenever that batch's next statement is due): (new messages, the batch's state so far or None) → (state, records).
Prepare = Callable[[list[Msg], Any], tuple[Any, int]]


@dataclass
class _Pending:
    """The next batch, as its messages arrive."""

    msgs: list[Msg] = field(default_factory=list)
    prepared: Any = None
    records: int = 0
    since: float = 0.0  # loop time of its first message
    last: float = 0.0  # loop time of its latest chunk
    ends: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) → its next offset


def broker_settings(cfg: Config) -> dict[str, Any]:
    """Faust's broker options from the shared [kafka] settings."""
    k = cfg.kafka
    opts: dict[str, Any] = {"broker": [f"kafka://{s.strip()}" for s in k.bootstrap_servers.split(",")]}
    ssl_context = k.client_options().get("ssl_context")
    if k.sasl_mechanism:
        opts["broker_credentials"] = faust.SASLCredentials(
            username=k.sasl_username, password=k.sasl_password, mechanism=k.sasl_mechanism, ssl_context=ssl_context
        )
    elif ssl_context is not None:
        opts["broker_credentials"] = ssl_context
    return opts


class StreamsApp(faust.App):
    """The worker's Faust app; ``pool`` exists from start until every agent has stopped."""

    def __init__(self, cfg: Config, dsn: str) -> None:
        super().__init__(
            cfg.streams.app_id,
            **broker_settings(cfg),
            value_serializer="raw",
            key_serializer="raw",
            store="memory://",
            web_enabled=False,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            autodiscover=False,
            # Faust keeps nothing we need on disk, but wants a data dir: never the current directory.
            datadir=str(cfg.state_dir / "streams"),
            # A killed worker's partitions move on after this, not after Faust's default minute.
            broker_session_timeout=cfg.streams.session_timeout,
            broker_heartbeat_interval=max(cfg.streams.session_timeout / 5, 0.5),
        )
        self.cfg = cfg
        self.dsn = dsn
        self.pool: asyncpg.Pool | None = None
        self.applied: dict[str, int] = {}  # records applied per topic, for the log
        self.metrics = StreamsMetrics()
        self.outbox = asyncio.Event()  # set (after commit, by NOTIFY) when quota transitions or teams changed
        self.uid_names = cfg.agent.users
        self.roots = {b.name: b.url for b in cfg.backends}  # inbound paths are made relative to these
        self.atime = {b.name: b.atime for b in cfg.backends}  # where a crawl's atime counts as a read

    async def on_start(self) -> None:
        await super().on_start()
        # Created before the agents (children) start; closed in on_shutdown, after they stopped.
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=self.cfg.postgres.pool_min, max_size=self.cfg.postgres.pool_max
        )

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        if self.pool is not None:
            await self.pool.close()

    def on_rebalance_end(self) -> None:
        """Every rebalance ends with Faust seeking the assigned partitions to Kafka's committed offsets (its
        recovery service, after the on_partitions_assigned signal); only then is a seek to PostgreSQL's stored
        offsets final. Seeking at the signal raced with it: after a restore from a backup (Kafka's commits ahead
        of the restored offsets, no new messages) the worker then waited at the commits forever."""
        super().on_rebalance_end()
        if assigned := self.consumer.assignment():
            self.add_future(_seek_to_stored(self, set(assigned)))

    def deltas(self, msgs: list[Msg]) -> Deltas:
        """An empty change set for the batch of ``msgs`` (tree depth per configured backend; others: every
        level), writing its rollups into the batch's shard."""
        return Deltas({b.name: b.max_tree_depth for b in self.cfg.backends}, shard_of(msgs))

    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "agents run only while the app is started"
        return self.pool

    def batch_agent(
        self, topic: Topic, fn: BatchFn, prepare: Prepare | None = None, within: float | None = None
    ) -> None:
        """Registers an agent applying ``fn`` exactly once to each batch of ``topic``'s messages.

        A batch is sized by records and time, not by Kafka messages: messages are taken from Faust in chunks of
        up to ``streams.batch_size`` and folded (``prepare``) into the next batch as they arrive, and the batch
        is applied once it holds ``streams.batch_records`` records, or ``streams.batch_within`` seconds after its
        first message once the previous batch has committed — so while PostgreSQL is busy, batches grow
        (group commit) instead of shrinking with every worker added, and an idle stream waits at most
        ``batch_within``.

        Batches are pipelined one deep (``streams.pipeline``): batch N+1 fills and is prepared while N's
        transaction runs (the worker's CPU and PostgreSQL's overlap on two cores), and N+1's transaction
        starts only after N's committed, so they still apply in offset order. Faust acks a chunk when the next
        one is taken, before its batch has committed: a worker that dies then leaves Kafka's commit ahead of
        PostgreSQL's stored offsets, the case the seek on assignment and the ``OffsetGap`` replay exist for
        (offsets.py)."""
        name = topic.full_name(self.cfg.kafka)
        channel = self.topic(name, value_type=bytes, key_type=bytes, internal=False)
        consumer = self.cfg.streams.app_id
        size = self.cfg.streams.batch_size
        within = min(within, self.cfg.streams.batch_within) if within is not None else self.cfg.streams.batch_within
        batch_records = self.cfg.streams.batch_records
        pipelined = self.cfg.streams.pipeline
        short = topic.name.split(".")[1]

        async def run(msgs: list[Msg], prepared: Any) -> None:
            applied = 0

            async def apply(conn: asyncpg.Connection, fresh: list[Msg]) -> None:
                nonlocal applied
                n = await fn(self, conn, fresh, prepared if fresh == msgs else None)
                self.applied[short] = self.applied.get(short, 0) + n
                applied += n

            t0 = time.perf_counter()
            try:
                await apply_exactly_once(
                    self.db(), consumer, msgs, apply, contiguous=not topic.compacted, stopping=lambda: self.should_stop
                )
            except OffsetGap as gap:
                await self.close_gap(gap, msgs, apply)
            self.metrics.batch(name, applied, time.perf_counter() - t0)

        async def agent(stream: faust.StreamT) -> None:
            loop = asyncio.get_running_loop()
            inflight: asyncio.Future | None = None
            pending = _Pending()
            # Faust's StreamT interface omits take_events; what an agent is given is always a faust.Stream.
            chunks = cast(faust.Stream, stream).take_events(size, within=within).__aiter__()
            # Always one take outstanding, so Faust keeps filling its buffer while a batch folds or applies.
            nxt: asyncio.Future = asyncio.ensure_future(chunks.__anext__())

            async def dispatch() -> None:
                nonlocal inflight, pending
                batch, pending = pending, _Pending()
                if inflight is not None:
                    await inflight
                inflight = asyncio.ensure_future(run(batch.msgs, batch.prepared))
                if not pipelined:
                    await inflight

            try:
                while True:
                    busy = inflight is not None and not inflight.done()
                    due = self._due(pending, within)
                    if pending.msgs and (pending.records >= batch_records or (not busy and due <= loop.time())):
                        await dispatch()
                        continue
                    waits: set[asyncio.Future] = {nxt}
                    timeout = None
                    if pending.msgs and busy:
                        waits.add(inflight)  # type: ignore[arg-type]  # (busy: not None)
                    elif pending.msgs:
                        timeout = due - loop.time()
                    done, _ = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                    if nxt not in done:
                        continue
                    try:
                        events = nxt.result()
                    except StopAsyncIteration:
                        break
                    nxt = asyncio.ensure_future(chunks.__anext__())
                    msgs = [
                        Msg(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
                        for e in events
                    ]
                    if not pending.msgs:
                        pending.since = loop.time()
                    pending.last = loop.time()
                    for m in msgs:
                        pending.ends[(m.topic, m.partition)] = m.offset + 1
                    if prepare is not None:
                        pending.prepared, pending.records = await asyncio.to_thread(prepare, msgs, pending.prepared)
                    else:
                        pending.records += len(msgs)
                    pending.msgs += msgs
                if pending.msgs:
                    await dispatch()
                if inflight is not None:
                    await inflight
            except Abandoned as e:
                log.warning("stopping: %s", e)
            finally:
                # Stopped or cancelled mid-batch: its transaction rolls back, as an unpipelined one would.
                for f in (inflight, nxt):
                    if f is not None and not f.done():
                        f.cancel()

        agent.__name__ = agent.__qualname__ = f"{short}_agent"
        self.agent(channel, name=f"{consumer}.{short}", concurrency=1)(agent)

    def _due(self, pending: _Pending, within: float) -> float:
        """When the pending batch is due by time: ``within`` after its first message once this worker has read
        everything Kafka holds for its partitions; while Kafka holds more (a backlog), only once no message
        arrived for ``within`` — so that a backlog is applied in batches of ``batch_records``, whatever share of
        the partitions (and of the CPU) this worker has, and pre-aggregation does not shrink with more workers."""
        for (topic, partition), end in pending.ends.items():
            try:
                highwater = self.consumer.highwater(TP(topic, partition))
            except AssertionError:  # no longer assigned here (a rebalance): nothing more will come for it
                continue
            if highwater is not None and end < highwater:
                return pending.last + within
        return pending.since + within

    async def close_gap(self, gap: OffsetGap, msgs: list[Msg], apply: Apply) -> None:
        """A batch started past the offsets PostgreSQL stored (nothing of it was applied): read the missing
        messages again from Kafka and apply them with the batch, in one transaction."""
        log.warning("batch skips messages never applied (%s): reading them again", gap)
        missing, lost = await read_ranges(self.cfg.kafka, gap.gaps)
        if lost:
            log.warning(
                "messages of %s are no longer in Kafka (retention) and were never applied",
                ", ".join(f"{t}[{p}]" for t, p in sorted(lost)),
            )
        await apply_exactly_once(
            self.db(),
            self.cfg.streams.app_id,
            missing + msgs,
            apply,
            contiguous=not lost,
            stopping=lambda: self.should_stop,
        )

    async def finish(self, conn: asyncpg.Connection, deltas: Deltas, all_quotas: bool = False) -> None:
        """Usage deltas and quota evaluation, at the end of a batch's transaction."""
        if deltas:
            await write_deltas(conn, deltas)
        if deltas.usage or all_quotas:
            # The publisher is woken by the outbox's NOTIFY at commit, not from here (before it).
            await quotas.evaluate(conn, None if all_quotas else deltas.teams(), self.backend_names())

    def backend_names(self) -> set[str]:
        """The configured backends: a quota on any other has ended (its backend was removed)."""
        return {b.name for b in self.cfg.backends}

    async def publish_outbox(self) -> int:
        """Sends queued quota transitions to both quota topics (a tombstone to the state topic only),
        then marks them sent."""
        breach = self.topic(QUOTA_BREACH.full_name(self.cfg.kafka), value_type=bytes, key_type=bytes)
        state = self.topic(QUOTA_STATE.full_name(self.cfg.kafka), value_type=bytes, key_type=bytes)
        async with self.db().acquire() as conn, conn.transaction():
            rows = await quotas.pending(conn)
            futs = []
            for r in rows:
                if r["payload"] is not None:
                    futs.append(await breach.send(key=r["team_name"].encode(), value=r["payload"]))
                futs.append(
                    await state.send(
                        key=quotas.state_key(r["team_name"], r["backend_name"]).encode(), value=r["payload"]
                    )
                )
            await asyncio.gather(*futs)  # delivered before they are marked
            if rows:
                await quotas.mark_published(conn, [r["id"] for r in rows])
        self.metrics.quota_transitions.inc(len(rows))
        return len(rows)

    async def publish_membership(self) -> int:
        """Sends the users whose teams changed to the membership topic, then records them as sent."""
        topic = self.topic(TEAM_MEMBERSHIP.full_name(self.cfg.kafka), value_type=bytes, key_type=bytes)
        async with self.db().acquire() as conn, conn.transaction():
            changed = await membership.changes(conn)
            futs = []
            for user, teams in changed:
                key, value = membership.message(user, teams)
                futs.append(await topic.send(key=key, value=value))
            await asyncio.gather(*futs)  # delivered before they are recorded
            if changed:
                await membership.mark_published(conn, changed)
                log.info("published the teams of %d user(s)", len(changed))
        return len(changed)


async def _seek_to_stored(app: StreamsApp, assigned: set) -> None:
    """After an assignment, resume where PostgreSQL says, as soon as it answers.

    Kafka's committed offsets may lag (records already applied are then skipped) or run ahead of what
    was applied (see offsets.py): a partition with no new messages would never show that gap, so the
    seek is retried until PostgreSQL is reachable. Runs beside the consumer: batches read meanwhile are
    skipped or refused as gaps by ``apply_exactly_once``, never misapplied.
    """
    delay = 0.5
    while not app.should_stop:
        try:
            stored = await asyncio.wait_for(
                stored_offsets(app.db(), app.cfg.streams.app_id, sorted({tp.topic for tp in assigned})), 5
            )
            break
        except (*TRANSIENT, asyncpg.PostgresError) as e:
            log.warning("stored offsets unreadable (%s: %s); seeking when PostgreSQL answers", type(e).__name__, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    else:
        return
    current = app.consumer.assignment()  # a later rebalance may have moved some away meanwhile
    # Faust's recovery has just sought every partition to Kafka's committed offset; seek again only where that
    # differs from PostgreSQL's (no stored offset: nothing of it was ever applied, so from the beginning).
    committed = cast(Consumer, app.consumer)._committed_offset  # Faust keeps no public view of it
    moves = {
        tp: want
        for tp in assigned & current
        if (committed.get(tp) or 0) != (want := stored.get((tp.topic, tp.partition), 0))
    }
    if moves:
        # Through the consumer's own thread and loop, as Faust's recovery seeks: `Consumer.seek` calls aiokafka's
        # seek from this (the app's) thread while the fetcher runs in the consumer thread, which crashed a worker
        # with KeyError in aiokafka's fetched_records.
        await app.consumer.seek_wait(moves)


async def _access(app: StreamsApp, conn: asyncpg.Connection, msgs: list[Msg], prepared: Any) -> int:
    deltas = app.deltas(msgs)
    agg = await apply_access(conn, app.cfg.streams.app_id, msgs, app.uid_names, deltas, prepared, app.roots)
    await app.finish(conn, deltas)
    return agg.events


async def _listing(app: StreamsApp, conn: asyncpg.Connection, msgs: list[Msg], prepared: Any) -> int:
    deltas = app.deltas(msgs)
    n = await apply_listing(conn, app.cfg.streams.app_id, msgs, app.uid_names, deltas, app.roots, app.atime)
    await app.finish(conn, deltas)
    return n


async def _commands(app: StreamsApp, conn: asyncpg.Connection, msgs: list[Msg], prepared: Any) -> int:
    deltas = app.deltas(msgs)
    all_quotas = await apply_commands(conn, app.cfg.streams.app_id, msgs, app.uid_names, deltas)
    await app.finish(conn, deltas, all_quotas)
    return len(msgs)


async def _agent_status(app: StreamsApp, conn: asyncpg.Connection, msgs: list[Msg], prepared: Any) -> int:
    return await apply_agent_status(conn, app.cfg.streams.app_id, msgs)


async def _job_events(app: StreamsApp, conn: asyncpg.Connection, msgs: list[Msg], prepared: Any) -> int:
    return await apply_job_events(conn, app.cfg.streams.app_id, msgs)


QUOTA_INTERVAL = 30.0  # seconds between full quota evaluations (catches quota edits made via the API)
COMMANDS_WITHIN = 0.05  # seconds the commands agent waits for a batch to fill
PUBLISH_POLL = 10.0  # seconds between publisher rounds without a NOTIFY (only a lost one needs it)


def create_app(cfg: Config, dsn: str) -> StreamsApp:
    app = StreamsApp(cfg, dsn)
    app.batch_agent(ACCESS, _access, functools.partial(prepare_access, roots=app.roots))
    app.batch_agent(LISTING, _listing)
    # Commands are few and someone waits for them (a quota change → its breach): no batching delay.
    app.batch_agent(COMMANDS, _commands, within=COMMANDS_WITHIN)
    app.batch_agent(AGENT_STATUS, _agent_status)
    app.batch_agent(JOB_EVENTS, _job_events)

    @app.task
    async def publisher() -> None:
        """Publishes quota transitions and membership changes as soon as their transaction committed
        (PostgreSQL NOTIFYs at commit), and every PUBLISH_POLL seconds."""
        async with asyncio.TaskGroup() as tg:
            listener = tg.create_task(listen(app.db(), (QUOTA_OUTBOX_CHANNEL, TEAMS_CHANNEL), app.outbox))
            await evaluate_quotas()  # at once: quotas on backends removed from the config end now
            while not app.should_stop:
                try:
                    await asyncio.wait_for(app.outbox.wait(), PUBLISH_POLL)
                except asyncio.TimeoutError:
                    pass
                app.outbox.clear()
                try:
                    await app.publish_outbox()
                    await app.publish_membership()
                except (*TRANSIENT, asyncpg.PostgresError, KafkaError) as e:
                    log.warning("quota transitions or membership not published yet (%s: %s)", type(e).__name__, e)
                    await asyncio.sleep(1.0)
            listener.cancel()

    async def evaluate_quotas() -> None:
        try:
            async with app.db().acquire() as conn, conn.transaction():
                await quotas.evaluate(conn, None, app.backend_names())
        except (*TRANSIENT, asyncpg.PostgresError) as e:
            log.warning("quota evaluation skipped (%s: %s)", type(e).__name__, e)

    app.timer(QUOTA_INTERVAL)(evaluate_quotas)

    @app.timer(SAMPLE_INTERVAL)
    async def sample_metrics() -> None:
        try:
            await app.metrics.sample(app)
        except (*TRANSIENT, asyncpg.PostgresError, KafkaError) as e:  # the outage itself is logged elsewhere
            log.debug("metrics not sampled (%s: %s)", type(e).__name__, e)

    @app.timer(30.0)
    async def report() -> None:
        if app.applied:
            log.info("records applied so far: %s", app.applied)

    return app
