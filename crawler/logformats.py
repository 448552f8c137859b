"""Access-log formats `warpdrive backfill` reads, one line at a time, into AccessEvents.

- ``jsonl``: JSON lines in the spec's AccessEvent shape (``timestamp, user_id, backend_name, path,
  operation, bytes_read, cache_hit, node_host, latency_ms, error``; ``count``, ``bytes_written`` optional).
- ``s3-access-log``: S3 server access logs (the space-separated format, one request per line).
  ``REST.GET.OBJECT`` and ``REST.HEAD.OBJECT`` are reads, ``REST.PUT.OBJECT``/``REST.POST.UPLOAD``/
  ``REST.COPY.OBJECT`` writes, ``REST.DELETE.OBJECT`` unlinks; other operations are skipped. Bucket and
  key name the file (a backend by its URL); the requester (ARN or canonical id) is the user, through
  ``[history.users]``.
- ``gcs-audit-log``: Cloud Audit Logs data-access entries as exported to Cloud Storage (JSON lines of
  LogEntry): ``storage.objects.get`` is a read, ``storage.objects.create`` a write, ``storage.objects.delete``
  an unlink; ``principalEmail`` is the user (through ``[history.users]``).
- ``gcs-usage-log``: GCS usage logs (CSV, the documented columns ``time_micros, c_ip, c_ip_type, c_ip_region,
  cs_method, cs_uri, sc_status, cs_bytes, sc_bytes, time_taken_micros, cs_host, cs_referer, cs_user_agent,
  s_request_id, cs_operation, cs_bucket, cs_object``; the header line is skipped). ``GET`` and ``HEAD`` of an object
  with a 2xx status are reads (``sc_bytes`` read by a GET); other methods, bucket requests and failed requests are
  skipped and counted. Usage logs carry no identity: the client address ``c_ip`` is the user, mapped through
  ``[history.users]`` (``"10.1.2.3" = "alice"``).

A parser returns an AccessEvent (jsonl: its fields, ``JsonlLine``), raises ``Skip`` for a valid line that is not a file access worth importing
(another operation, a failed request, an unknown bucket), or ``BadLine`` for a line it cannot read.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import unquote, urlsplit

import msgspec
import orjson

from warpdrive.schemas.config import BackendConfig
from warpdrive.schemas.paths import backend_prefix
from warpdrive.schemas.storage import KINDS, kind_of
from warpdrive.schemas.records import OPERATIONS, AccessEvent, AccessFields, format_ts

FORMATS = ("jsonl", "s3-access-log", "gcs-audit-log", "gcs-usage-log")


class BadLine(Exception):
    """The line cannot be read in this format (counted as unparseable, shown with its line number)."""


class Skip(Exception):
    """A readable line that is not imported; the message is the reason counted in the summary."""


UNKNOWN_BACKEND = "unknown backend"


@dataclass(frozen=True)
class Resolver:
    """Maps a bucket object to a configured backend and a requester to a user."""

    backends: Sequence[BackendConfig]
    users: Mapping[str, str]

    @functools.cached_property
    def names(self) -> frozenset[str]:
        return frozenset(b.name for b in self.backends)

    def object(self, scheme: str, bucket: str, key: str) -> tuple[str, str]:
        """(backend, path inside it) of ``scheme://bucket/key``: the backend whose URL is the longest prefix."""
        full = f"{bucket}/{key}"
        best: tuple[int, str, str] | None = None
        kind = KINDS[scheme]
        for b in self.backends:
            if kind_of(b) is not kind:
                continue
            root = backend_prefix(b.url)
            if (full == root or full.startswith(root + "/")) and (best is None or len(root) > best[0]):
                best = (len(root), b.name, full[len(root) :].lstrip("/"))
        if best is None:
            raise Skip(UNKNOWN_BACKEND)
        return best[1], best[2]

    def user(self, requester: str) -> str:
        """``[history.users]`` first; else an IAM user's name (``arn:…:user/alice`` → ``alice``), an assumed
        role's session, or the requester as logged."""
        if (u := self.users.get(requester)) is not None:
            return u
        if requester in ("", "-"):
            return "anonymous"
        if requester.startswith("arn:"):
            resource = requester.split(":", 5)[-1]
            kind, _, rest = resource.partition("/")
            if kind == "user":
                return rest.rsplit("/", 1)[-1]
            if kind == "assumed-role":
                return rest.rsplit("/", 1)[-1]
        return requester


def _event(
    source: str,
    line: int,
    ts: str,
    user: str,
    backend: str,
    path: str,
    op: str,
    node: str,
    bytes_read: int = 0,
    **fields: Any,
) -> AccessEvent:
    return AccessEvent(
        event_id=f"{source}#{line}",
        timestamp=ts,
        user_id=user,
        backend_name=backend,
        path=path,
        operation=op,
        node_host=node,
        seq=line,
        bytes_read=bytes_read,
        source=source,
        **fields,
    )


# --- JSON lines (spec AccessEvent) ---


class JsonlLine(msgspec.Struct):
    """One JSON line, decoded and type-checked in one C pass (strict: a string is not a number) straight into the
    fields an import checks and folds (``AccessFields``): the hot path of a large import builds no AccessEvent.
    ``cache_hits``, ``weight`` and ``first_timestamp`` as an AccessEvent written out has them; ``seq`` becomes the
    line number."""

    timestamp: str
    user_id: str
    backend_name: str
    path: str
    operation: str
    bytes_read: int = 0
    bytes_written: int = 0
    count: int = 1
    cache_hit: bool = False
    cache_hits: int = 0
    weight: float = 1.0
    first_timestamp: str | None = None
    latency_ms: float = 0.0
    node_host: str | None = None
    error: str | None = None
    seq: int = 0


_JSONL = msgspec.json.Decoder(JsonlLine)


def parse_jsonl(text: str, line: int, source: str, r: Resolver) -> JsonlLine:
    try:
        d = _JSONL.decode(text)
    except msgspec.ValidationError as e:
        raise BadLine(str(e)) from None
    except msgspec.DecodeError as e:
        raise BadLine(f"not JSON: {e}") from None
    if d.operation not in OPERATIONS:
        raise BadLine(f"operation {d.operation!r} is not one of {', '.join(OPERATIONS)}")
    if d.backend_name not in r.names:
        raise Skip(UNKNOWN_BACKEND)
    d.seq = line
    if r.users:
        d.user_id = r.users.get(d.user_id, d.user_id)
    return d


# --- S3 server access logs ---

# Fields: bracketed time, quoted strings, or runs of non-spaces.
_S3_TOKEN = re.compile(r'\[[^\]]*\]|"(?:[^"\\]|\\.)*"|\S+')
_S3_OPS = {
    "REST.GET.OBJECT": "read",
    "REST.HEAD.OBJECT": "read",
    "REST.PUT.OBJECT": "write",
    "REST.POST.UPLOAD": "write",
    "REST.COPY.OBJECT": "write",
    "REST.DELETE.OBJECT": "unlink",
}
_MONTHS = {
    m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}


def s3_time(field: str) -> str:
    """``[06/Feb/2019:00:00:38 +0000]`` → the records' UTC form."""
    try:
        day, mon, rest = field[1:-1].split("/", 2)
        year, hh, mm, ss_zone = rest.split(":", 3)
        ss, zone = ss_zone.split(" ")
        dt = datetime(
            int(year),
            _MONTHS[mon],
            int(day),
            int(hh),
            int(mm),
            int(ss),
            tzinfo=datetime.strptime(zone, "%z").tzinfo if zone != "+0000" else UTC,
        )
    except (ValueError, KeyError):
        raise BadLine(f"time {field!r} is not [dd/Mon/yyyy:HH:MM:SS +zone]") from None
    return format_ts(dt)


def parse_s3(text: str, line: int, source: str, r: Resolver) -> AccessEvent:
    # 0 owner, 1 bucket, 2 [time], 3 remote ip, 4 requester, 5 request id, 6 operation, 7 key, 8 "request-uri",
    # 9 status, 10 error code, 11 bytes sent, 12 object size, 13 total time (ms), 14 turn-around time, ...
    f = _S3_TOKEN.findall(text)
    if len(f) < 17 or not f[2].startswith("["):
        raise BadLine(f"{len(f)} fields, not an S3 server access log line")
    op = _S3_OPS.get(f[6])
    if op is None:
        raise Skip(f"operation {f[6]}")
    ts = s3_time(f[2])
    status = f[9]
    if not status.isdigit():
        raise BadLine(f"HTTP status {status!r} is not a number")
    if not status.startswith("2"):
        raise Skip("failed request")
    key = f[7]
    if key == "-":
        raise BadLine("no object key")
    backend, path = r.object("s3", f[1], unquote(key))
    sent = f[11]
    return _event(
        source,
        line,
        ts,
        r.user(f[4]),
        backend,
        path,
        op,
        "s3-access-log",
        int(sent) if f[6] == "REST.GET.OBJECT" and sent.isdigit() else 0,
        latency_ms=float(f[13]) if f[13].isdigit() else 0.0,
    )


# --- GCS Cloud Audit Logs (data access) ---

_GCS_OPS = {"storage.objects.get": "read", "storage.objects.create": "write", "storage.objects.delete": "unlink"}


def parse_gcs_audit(text: str, line: int, source: str, r: Resolver) -> AccessEvent:
    try:
        doc = orjson.loads(text)
        p = doc["protoPayload"]
        method = p["methodName"]
        ts = doc["timestamp"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise BadLine("not a Cloud Audit Logs entry (protoPayload.methodName, timestamp)") from None
    op = _GCS_OPS.get(method)
    if op is None:
        raise Skip(f"method {method}")
    if (p.get("status") or {}).get("code"):
        raise Skip("failed request")
    resource = str(p.get("resourceName", ""))
    m = re.fullmatch(r"projects/_/buckets/([^/]+)/objects/(.+)", resource)
    if m is None:
        raise BadLine(f"resourceName {resource!r} is not projects/_/buckets/B/objects/O")
    backend, path = r.object("gs", m.group(1), m.group(2))
    user = str((p.get("authenticationInfo") or {}).get("principalEmail") or "-")
    return _event(source, line, str(ts), r.user(user), backend, path, op, "gcs-audit-log")


# --- GCS usage logs (CSV) ---

_GCS_USAGE_COLUMNS = (
    "time_micros",
    "c_ip",
    "c_ip_type",
    "c_ip_region",
    "cs_method",
    "cs_uri",
    "sc_status",
    "cs_bytes",
    "sc_bytes",
    "time_taken_micros",
    "cs_host",
    "cs_referer",
    "cs_user_agent",
    "s_request_id",
    "cs_operation",
    "cs_bucket",
    "cs_object",
)
_GCS_USAGE_HEADER = '"time_micros"'


def _csv_fields(text: str) -> list[str]:
    try:
        return next(csv.reader((text,)))
    except (csv.Error, StopIteration):
        raise BadLine("not a CSV line") from None


def parse_gcs_usage(text: str, line: int, source: str, r: Resolver) -> AccessEvent:
    if text.startswith(_GCS_USAGE_HEADER):
        raise Skip("CSV header")
    f = _csv_fields(text)
    if len(f) < len(_GCS_USAGE_COLUMNS):
        raise BadLine(f"{len(f)} fields, not a GCS usage log line ({len(_GCS_USAGE_COLUMNS)} columns)")
    micros, ip, method, status, sent, taken, bucket, obj = f[0], f[1], f[4], f[6], f[8], f[9], f[15], f[16]
    if not micros.isdigit():
        raise BadLine(f"time_micros {micros!r} is not a number")
    if not status.isdigit():
        raise BadLine(f"sc_status {status!r} is not a number")
    if method not in ("GET", "HEAD"):
        raise Skip(f"method {method}")
    if not obj:
        raise Skip("bucket request")
    if not status.startswith("2"):
        raise Skip("failed request")
    backend, path = r.object("gs", bucket, unquote(obj))
    ts = format_ts(datetime.fromtimestamp(int(micros) // 1_000_000, UTC).replace(microsecond=int(micros) % 1_000_000))
    return _event(
        source,
        line,
        ts,
        r.user(ip),
        backend,
        path,
        "read",
        "gcs-usage-log",
        int(sent) if method == "GET" and sent.isdigit() else 0,
        latency_ms=int(taken) / 1000 if taken.isdigit() else 0.0,
    )


PARSERS: dict[str, Callable[[str, int, str, Resolver], AccessFields]] = {
    "jsonl": parse_jsonl,
    "s3-access-log": parse_s3,
    "gcs-audit-log": parse_gcs_audit,
    "gcs-usage-log": parse_gcs_usage,
}


def sniff(lines: Sequence[str]) -> str | None:
    """The format of a log from its first non-empty lines, or None."""
    for text in lines:
        text = text.strip()
        if not text:
            continue
        if text.startswith("{"):
            try:
                doc = orjson.loads(text)
            except orjson.JSONDecodeError:
                return None
            return "gcs-audit-log" if isinstance(doc, dict) and "protoPayload" in doc else "jsonl"
        if text.startswith(_GCS_USAGE_HEADER):
            return "gcs-usage-log"
        if text.startswith('"'):
            try:
                f = _csv_fields(text)
            except BadLine:
                return None
            return "gcs-usage-log" if len(f) >= len(_GCS_USAGE_COLUMNS) and f[0].isdigit() else None
        f = _S3_TOKEN.findall(text)
        return "s3-access-log" if len(f) >= 17 and f[2].startswith("[") else None
    return None


def object_url(url: str) -> tuple[str, str]:
    """(fsspec protocol, location) of a log URL or local path: ``s3://b/k`` → (s3, b/k); ``/x/y`` → (file, /x/y);
    ValueError for a scheme no store kind serves."""
    parts = urlsplit(url)
    kind = KINDS.get(parts.scheme or "file")
    if kind is None:
        raise ValueError(f"{url}: scheme {parts.scheme!r} not supported (use {', '.join(KINDS)})")
    return (kind.protocol, parts.path) if kind.posix else (kind.protocol, parts.netloc + parts.path)
