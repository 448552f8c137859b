"""Event records: the contract between agents, crawler, stream workers and outside consumers.

A Kafka message carries a *batch* envelope ``{"v": 1, "type": "<record type>", "records": [...]}``
(the spec's ``IngestEventsRequest`` carries ``repeated AccessEvent``): Faust's cost is per message,
not per record. Records are orjson-encoded dataclasses; timestamps are RFC 3339 UTC strings
ending in ``Z`` so the UTC day of an event is ``timestamp[:10]``.

``decode_batch`` checks every record against its declared fields and types (msgspec, in one C pass)
and raises ``DecodeError`` with the reason; consumers log and count such messages instead of crashing.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec
import orjson

from .errors import DecodeError

VERSION = 1
OPERATIONS = ("read", "write", "list", "stat", "create", "unlink", "mkdir", "rmdir", "rename")


def utc_now() -> str:
    """The current time as the records' RFC 3339 form, e.g. ``2026-11-25T14:03:07.123456Z``."""
    return format_ts(datetime.now(UTC))


def format_ts(ts: datetime | float) -> str:
    if isinstance(ts, (int, float)):
        ts = datetime.fromtimestamp(ts, UTC)
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_ts(value: str) -> datetime:
    """Parses an RFC 3339 timestamp (``Z`` or an offset) to an aware UTC datetime."""
    try:
        dt = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise DecodeError(f"timestamp {value!r} is not RFC 3339") from None
    if dt.tzinfo is UTC:  # the records' own form ('Z'): already what we return
        return dt
    if dt.tzinfo is None:
        raise DecodeError(f"timestamp {value!r} has no time zone")
    return dt.astimezone(UTC)


_CANON_LEN = len("2026-01-01T00:00:00.000000Z")


def canonical_ts(ts: str) -> str:
    """The records' canonical UTC form, so timestamps compare as strings and ``ts[:10]`` is the UTC day;
    raises DecodeError for what is not an RFC 3339 timestamp with a zone."""
    if len(ts) == _CANON_LEN and ts[-1] == "Z":
        return ts
    return format_ts(parse_ts(ts))


def parse_optional_ts(value: str | None) -> datetime | None:
    """``parse_ts`` for optional fields: None (or empty) stays None."""
    return parse_ts(value) if value else None


@dataclass(slots=True)
class AccessEvent:
    """One or more coalesced file operations by one user on one path (spec M4.1 plus what correctness needs).

    ``count`` operations were coalesced into this event (reads per open handle and flush window);
    ``weight`` is 1/sampling-rate for sampled metadata ops, so ``count * weight`` estimates the true count.
    ``event_id`` is ``<node_host>/<boot id>/<seq>``: unique, so a replayed event is recognisable.

    Imported history (``warpdrive backfill``) sets ``source`` (``<format>:<log file URL>``) and ``seq`` (the
    line number in that file), and ``event_id`` is ``<source>#<line>``: the stream workers apply each
    (source, line) once, however often it is imported (streams/history.py). Telemetry leaves ``source`` None.

    ``producer`` (agents since 0065; None in older messages) names the sending instance (``<node_host>/<boot id>``)
    whose events carry strictly increasing ``seq`` in the order it sends them: the stream workers apply each
    (producer, seq) once, so a batch resent after a lost acknowledgement or replayed from the spool counts once
    (streams/dedupe.py).
    """

    TYPE: ClassVar[str] = "access"
    event_id: str
    timestamp: str
    user_id: str
    backend_name: str
    path: str
    operation: str
    node_host: str
    seq: int = 0
    count: int = 1
    bytes_read: int = 0
    bytes_written: int = 0
    cache_hit: bool = False
    cache_hits: int = 0
    latency_ms: float = 0.0
    latency_max_ms: float = 0.0
    weight: float = 1.0
    first_timestamp: str | None = None
    uid: int | None = None
    error: str | None = None
    source: str | None = None
    producer: str | None = None


class AccessFields(typing.Protocol):
    """What checking (schemas/checks.py) and folding (schemas/aggregate.py) read of an access event: an AccessEvent,
    or a line the importer decoded straight into these fields (crawler/logformats.py), never built into one."""

    timestamp: str
    user_id: str
    backend_name: str
    path: str
    operation: str
    seq: int
    count: int
    bytes_read: int
    bytes_written: int
    cache_hit: bool
    cache_hits: int
    weight: float
    first_timestamp: str | None
    error: str | None


@dataclass(slots=True)
class AccessBlock:
    """Imported history (``warpdrive backfill``) folded by the importer: the AccessEvents of some lines of one log
    file, as the rows they change (the fold of ``schemas/aggregate.py``), so a worker applies a few rows, not every
    line, and Kafka carries a fraction of the bytes. Exactly the aggregate of its lines' events:

    - ``source`` as the events' (``<format>:<log file URL>``); ``runs``: the lines folded in, as sorted, disjoint
      [first, last] runs (lines without an event — skipped, unparseable — are in none);
    - ``rows``: per (backend, path, user, UTC day), ``[backend, path, user, day, read_count, bytes_read,
      write_count, bytes_written, meta_count, cache_hits, error_count, last_access]``;
    - ``files``: per (backend, path) with a read, write or create, ``[backend, path, last_access, creator,
      created_at]``;
    - ``coverage``: per backend, ``[backend, first_event, last_event, events]``;
    - ``lines``: every line's own event, ``[line, row index, timestamp, operation, count, bytes_read,
      bytes_written, cache_hits, error (0/1), weight]``, kept undecoded (``msgspec.Raw``): a worker decodes it
      only when some of the lines were applied before (streams/history.py), to apply exactly the others.
    """

    TYPE: ClassVar[str] = "access_block"
    source: str
    runs: list[tuple[int, int]]
    rows: list[tuple[str, str, str, str, int, int, int, int, float, int, int, str]]
    files: list[tuple[str, str, str | None, str | None, str | None]]
    coverage: list[tuple[str, str, str, int]]
    lines: msgspec.Raw

    @property
    def events(self) -> int:
        return sum(last - first + 1 for first, last in self.runs)


@dataclass(slots=True)
class ListingEvent:
    """One file seen by a crawl (or written/moved by a job)."""

    TYPE: ClassVar[str] = "listing"
    crawl_id: str
    backend_name: str
    path: str
    size_bytes: int
    last_modified: str | None = None
    etag: str | None = None
    owner_uid: int | None = None
    owner_gid: int | None = None
    owner_user: str | None = None
    atime: str | None = None


@dataclass(slots=True)
class CrawlMarker:
    """Brackets one crawl of one backend. ``phase`` is start or finish; a finish with ``complete``
    true (no listing errors, not interrupted) lets the stream workers mark unseen files deleted."""

    TYPE: ClassVar[str] = "crawl"
    crawl_id: str
    backend_name: str
    phase: str
    timestamp: str
    files: int = 0
    bytes: int = 0
    errors: int = 0
    complete: bool = False
    prefix: str = ""


@dataclass(slots=True)
class QuotaBreach:
    """A team crossed a quota level (published on transitions only, keyed by team)."""

    TYPE: ClassVar[str] = "quota_breach"
    team: str
    backend_name: str | None
    level: str  # ok | soft | hard
    previous_level: str
    usage_bytes: int
    soft_limit: int
    hard_limit: int
    timestamp: str


@dataclass(slots=True)
class AgentStatus:
    """An agent heartbeat, on a compacted topic keyed by node."""

    TYPE: ClassVar[str] = "agent_status"
    node_host: str
    timestamp: str
    mounts: list[dict[str, Any]] = field(default_factory=list)
    backends: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    telemetry: dict[str, Any] = field(default_factory=dict)
    jobs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Command:
    """A job or request for the workers or agents: move, warm, crawl, cancel, reown, quota."""

    TYPE: ClassVar[str] = "command"
    command_id: str
    kind: str  # move | warm | crawl | cancel | reown | quota
    timestamp: str
    args: dict[str, Any] = field(default_factory=dict)
    target: str = "*"  # node name for agent commands, '*' = all


@dataclass(slots=True)
class JobEvent:
    """Progress or the end of a job, reported by whoever runs it."""

    TYPE: ClassVar[str] = "job_event"
    job_id: str
    state: str  # running | done | failed | cancelled (schemas/jobs.py)
    timestamp: str
    node_host: str = ""
    progress: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(slots=True)
class TeamMembership:
    """The teams one user belongs to, on a compacted topic keyed by user (no teams: a tombstone)."""

    TYPE: ClassVar[str] = "team_membership"
    user: str
    teams: list[str]
    timestamp: str


# Any record of the contract (each has a TYPE class attribute naming it on the wire).
Record: typing.TypeAlias = (
    AccessEvent
    | AccessBlock
    | ListingEvent
    | CrawlMarker
    | QuotaBreach
    | AgentStatus
    | Command
    | JobEvent
    | TeamMembership
)

RECORD_TYPES: dict[str, type[Record]] = {cls.TYPE: cls for cls in typing.get_args(Record)}


class _Head(msgspec.Struct):
    """What every message starts with: the contract version and the record type."""

    v: Any = None
    type: Any = None


def _batch_struct(cls: type[Record]) -> type:
    # A tagged Struct per record type: one C pass decodes and type-checks a whole batch message into
    # the record dataclasses (cheaper than orjson plus a check per field in Python: docs/benchmarks.md).
    return msgspec.defstruct(
        f"{cls.__name__}Batch",
        [("v", int), ("records", list[cls])],  # type: ignore[valid-type]
        tag_field="type",
        tag=cls.TYPE,
    )


_BATCH = msgspec.json.Decoder(typing.Union[tuple(_batch_struct(c) for c in RECORD_TYPES.values())])
_HEAD = msgspec.json.Decoder(_Head)
_SINGLE: dict[str, msgspec.json.Decoder[Any]] = {name: msgspec.json.Decoder(cls) for name, cls in RECORD_TYPES.items()}


def encode_batch(records: typing.Sequence[Any]) -> bytes:
    """One Kafka message value carrying records of one type."""
    if not records:
        raise ValueError("empty batch")
    return orjson.dumps({"v": VERSION, "type": records[0].TYPE, "records": records}, default=_raw)


def _raw(value: Any) -> Any:
    """JSON kept undecoded (AccessBlock.lines) goes out as it came."""
    if isinstance(value, msgspec.Raw):
        return orjson.Fragment(bytes(value))
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode(record: Any) -> bytes:
    """One record alone (compacted and public topics carry single records, self-describing)."""
    return orjson.dumps({"v": VERSION, "type": record.TYPE, **dataclasses.asdict(record)}, default=_raw)


def _head(raw: bytes | str | None) -> str:
    """The record type of a message of this contract version, or a DecodeError naming the problem."""
    if raw is None:
        raise DecodeError("empty message")
    try:
        head = _HEAD.decode(raw)
    except msgspec.ValidationError:
        raise DecodeError("message is not a JSON object") from None
    except msgspec.DecodeError as e:
        raise DecodeError(f"not JSON: {e}") from None
    if head.v != VERSION:
        raise DecodeError(f"unsupported version {head.v!r} (this build reads v{VERSION})")
    if head.type not in RECORD_TYPES:
        raise DecodeError(f"unknown record type {head.type!r}")
    return head.type


def decode_batch(raw: bytes | str | None, expect: type[Record] | None = None) -> list[Any]:
    """Validates a batch message and returns its records as dataclasses: the stream workers' hot path.

    Types are checked strictly (a string is not a number, ``true`` is not an int); fields this build
    does not know are ignored, so producers may add optional fields without a new contract version.
    """
    if raw is None:
        raise DecodeError("empty message")
    try:
        batch = _BATCH.decode(raw)
    except msgspec.DecodeError as e:  # ValidationError included
        kind = _head(raw)  # the clearer reason when the envelope itself is wrong
        raise DecodeError(f"{kind} batch: {e}") from None
    if batch.v != VERSION:
        raise DecodeError(f"unsupported version {batch.v!r} (this build reads v{VERSION})")
    if expect is not None and batch.records and not isinstance(batch.records[0], expect):
        raise DecodeError(f"expected {expect.TYPE} records, got {batch.records[0].TYPE}")
    return batch.records


def decode(raw: bytes | str | None, expect: type[Record] | None = None) -> Any:
    """Validates a single-record message (see ``encode``)."""
    kind = _head(raw)
    if expect is not None and kind != expect.TYPE:
        raise DecodeError(f"expected a {expect.TYPE} record, got {kind}")
    try:
        return _SINGLE[kind].decode(raw)  # type: ignore[arg-type]
    except msgspec.DecodeError as e:
        raise DecodeError(f"{kind} record: {e}") from None
