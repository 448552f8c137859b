"""The shared configuration: one TOML file, every key overridable by an env var.

Every setting is declared exactly once below, as a dataclass field with its default and help text;
its dotted name (``kafka.bootstrap_servers``) and env var (``WARPDRIVE_KAFKA_BOOTSTRAP_SERVERS``)
derive from where it is declared. ``load()`` validates everything at start and raises
``ConfigError`` naming the key and the problem.

Where the file comes from: ``--config`` / ``WARPDRIVE_CONFIG``; else the file ``warpdrive stack up``
wrote into the state dir (so a local stack works with no flags); else built-in defaults.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import orjson

from .errors import ConfigError
from .storage import KINDS, SCHEMES as BACKEND_SCHEMES

ENV_PREFIX = "WARPDRIVE_"
ROLES = ("viewer", "admin")


def setting(default: Any, help: str, check: Callable[[Any], str | None] | None = None) -> Any:
    """Declares one setting: its default, its help text and an optional check returning a problem."""
    if isinstance(default, (list, dict)):
        return field(default_factory=default.copy, metadata={"help": help, "check": check})  # a fresh one each
    return field(default=default, metadata={"help": help, "check": check})


def _positive(v: float) -> str | None:
    return None if v > 0 else "must be > 0"


def _non_negative(v: float) -> str | None:
    return None if v >= 0 else "must be >= 0"


def _fraction(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must be between 0 and 1"


def _host_port(v: str) -> str | None:
    return None if re.fullmatch(r"\[?[\w.:-]+\]?:\d{1,5}", v) else "must be HOST:PORT"


def _metrics_listen(v: str) -> str | None:
    return None if v == "" else _host_port(v)


def _past_access_retention(v: float) -> str | None:
    from .topics import ACCESS, DAY_MS  # topics imports this module: read when a value is checked

    days = ACCESS.retention_ms / DAY_MS
    return None if v >= days else f"must be >= {days:g} (the access topic's retention: copies may still be in Kafka)"


def _servers(v: str) -> str | None:
    bad = [s for s in v.split(",") if _host_port(s.strip())]
    return f"must be HOST:PORT[,HOST:PORT…], not {bad[0]!r}" if bad or not v else None


def _one_of(*choices: str) -> Callable[[str], str | None]:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = setting("127.0.0.1:9092", "Kafka bootstrap servers, comma-separated HOST:PORT.", _servers)
    topic_prefix: str = setting("", "Prefix for every topic name (e.g. 'prod.'), for sharing one cluster.")
    security_protocol: str = setting(
        "PLAINTEXT",
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
        _one_of("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    )
    sasl_mechanism: str = setting(
        "",
        "SASL mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) when SASL is used.",
        _one_of("", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
    )
    sasl_username: str = setting("", "SASL user name.")
    sasl_password: str = setting("", "SASL password (never logged).")
    ssl_cafile: str = setting("", "CA bundle for SSL connections.")
    ssl_certfile: str = setting("", "Client certificate (PEM) for brokers that require TLS client authentication.")
    ssl_keyfile: str = setting("", "Private key (PEM) of ssl_certfile.")
    partitions: int = setting(6, "Partitions for topics created by `warpdrive topics create`.", _positive)
    replication_factor: int = setting(1, "Replication factor for created topics.", _positive)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments shared by every aiokafka client."""
        opts: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            opts.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            import ssl

            context = ssl.create_default_context(cafile=self.ssl_cafile or None)
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile or None)
            opts["ssl_context"] = context
        return opts


@dataclass(frozen=True)
class PostgresSettings:
    dsn: str = setting("", "PostgreSQL DSN; empty = the embedded server (pgserver) in the state dir.")
    pool_min: int = setting(1, "Minimum connections in each process's pool.", _positive)
    pool_max: int = setting(10, "Maximum connections in each process's pool.", _positive)


@dataclass(frozen=True)
class ApiToken:
    token: str
    role: str
    name: str = ""


@dataclass(frozen=True)
class ApiSettings:
    listen: str = setting("127.0.0.1:8080", "HOST:PORT the control-plane API listens on.", _host_port)
    url: str = setting("", "Base URL clients (warpdrive-ctl) use; empty = http://<listen>.")
    tokens: list[ApiToken] = setting([], "Bearer tokens: [[api.tokens]] token=…, role=viewer|admin, name=….")
    insecure_no_auth: bool = setting(False, "Serve without auth (local demos only; refused unless on loopback).")
    web_dist: str = setting("", "Built dashboard folder to serve at /; empty = web/dist beside the source.")
    max_page_size: int = setting(1000, "Largest page a list endpoint returns.", _positive)
    # Cross-site and DNS-rebinding protection (api/guard.py).
    allowed_hosts: list[str] = setting(
        [],
        "Host names the API answers to (Host header, port ignored; '*' = any); empty = the listen host, the host "
        "of api.url and localhost/127.0.0.1/::1, or any host when listening on a wildcard address.",
    )
    ready_timeout: float = setting(
        2.0, "Seconds /readyz waits for Kafka and PostgreSQL to answer its probes.", _positive
    )
    allowed_origins: list[str] = setting(
        [], "Extra browser origins (scheme://host:port) allowed to call the API besides its own (e.g. a dev server)."
    )

    @property
    def base_url(self) -> str:
        return self.url or f"http://{self.listen}"


@dataclass(frozen=True)
class AgentSettings:
    node_name: str = setting("", "This node's name in events and status; empty = the host name.")
    telemetry_enabled: bool = setting(True, "Record access events.")
    telemetry_sink: str = setting(
        "kafka", "Where events go: kafka, stdout or file.", _one_of("kafka", "stdout", "file")
    )
    telemetry_file: str = setting("", "JSON-lines file for the file sink; empty = <state_dir>/telemetry.jsonl.")
    sample_metadata_ops: float = setting(0.1, "Fraction of list/stat operations recorded (weighted).", _fraction)
    batch_size: int = setting(100, "Events per batch sent to the sink.", _positive)
    flush_interval: float = setting(
        5.0, "Seconds before a partial batch (and open read windows) is flushed.", _positive
    )
    queue_size: int = setting(100_000, "Bounded telemetry queue; when full, events are dropped and counted.", _positive)
    spool_dir: str = setting("", "Disk spool used while Kafka is unreachable; empty = <state_dir>/spool.")
    spool_max_bytes: int = setting(
        256 << 20, "Largest disk spool; beyond it events are dropped and counted.", _positive
    )
    cache_dir: str = setting("", "Local block cache; empty = <state_dir>/cache.")
    cache_max_bytes: int = setting(10 << 30, "Block cache size limit (LRU).", _positive)
    block_size: int = setting(4 << 20, "Block cache block size in bytes.", _positive)
    metadata_ttl: float = setting(30.0, "Seconds metadata (stat, listings) is cached.", _non_negative)
    max_threads: int = setting(32, "Threads for blocking backend calls.", _positive)
    heartbeat_interval: float = setting(10.0, "Seconds between AgentStatus heartbeats.", _positive)
    read_only: bool = setting(False, "Mount read-only: writes fail (EROFS); small-file reads cost fewer FUSE requests.")
    users: dict[str, str] = setting(
        {}, "uid → user name overrides ([agent.users] '1000' = 'alice'); else the passwd name."
    )
    # The mount's guarantees (docs/mount.md): deadlines, bounded caches, the object stores' ownership policy.
    backend_timeout: float = setting(
        30.0,
        "Seconds any one backend call may take before the caller gets ETIMEDOUT (transfers: +1 s per MiB).",
        _positive,
    )
    metadata_cache_entries: int = setting(
        100_000,
        "Most stat and listing entries cached per backend (LRU; missing names expire after metadata_ttl).",
        _positive,
    )
    object_uid: int = setting(-1, "Owner uid of every file and directory on object stores; -1 = the agent's own.")
    object_gid: int = setting(-1, "Group gid of every file and directory on object stores; -1 = the agent's own.")
    object_umask: int = setting(
        0,
        "Permission bits taken away on object stores (0o022 → files 0644, dirs 0755); 0 = files 0666, dirs 0777.",
        lambda v: None if 0 <= v <= 0o777 else "must be between 0 and 0o777",
    )
    metrics_listen: str = setting(
        "", "HOST:PORT of the agent's Prometheus /metrics (port 0 = any free one); empty = off.", _metrics_listen
    )


@dataclass(frozen=True)
class StreamsSettings:
    app_id: str = setting("warpdrive-streams", "Faust app id (the Kafka consumer group).")
    batch_size: int = setting(
        1000, "Kafka messages taken from the consumer at a time (batches grow to batch_records).", _positive
    )
    batch_within: float = setting(1.0, "Seconds to wait for a batch to fill.", _positive)
    metrics_listen: str = setting(
        "",
        "HOST:PORT of the worker's Prometheus /metrics, with /healthz and /readyz for its probes (port 0 = any free "
        "one); empty = off.",
        _metrics_listen,
    )
    ready_timeout: float = setting(
        2.0, "Seconds the worker's /readyz waits for Kafka and PostgreSQL to answer its probes.", _positive
    )
    session_timeout: float = setting(
        10.0, "Seconds before the consumer group hands a dead worker's partitions to the others.", _positive
    )
    pipeline: bool = setting(
        True, "Decode the next batch while PostgreSQL applies the previous one (false: one batch at a time)."
    )
    batch_records: int = setting(
        100_000,
        "Records per batch (one transaction): a batch is applied when it holds this many, or batch_within"
        " seconds after its first message once the previous batch committed.",
        _positive,
    )


@dataclass(frozen=True)
class CrawlerSettings:
    interval: float = setting(86400.0, "Seconds between periodic crawls of every backend.", _positive)
    batch_size: int = setting(1000, "ListingEvents per Kafka message.", _positive)
    list_concurrency: int = setting(32, "Concurrent prefix listings on object stores.", _positive)
    move_concurrency: int = setting(4, "Files copied at once by a move job.", _positive)
    trash_retention_days: float = setting(
        7.0,
        "Days a deletion job's trash stays restorable; after that the job runner's next purge "
        "(trash_purge_interval, or `warpdrive-ctl trash purge` at once) removes it for good. A job may ask for "
        "another period.",
        _non_negative,
    )
    trash_purge_interval: float = setting(
        3600.0,
        "Seconds between the crawler job runner's purges of expired trash on its backends (from its start; each "
        "purge that removes anything is a purge job in the jobs list); 0 = only on request (`warpdrive-ctl trash "
        "purge`).",
        _non_negative,
    )
    trash_prefix: str = setting(
        ".warpdrive-trash",
        "Directory (relative to each backend's root) a deletion job moves marked files into, one "
        "sub-directory per job named <expiry UTC>-<job id>. Never crawled: trash is not data.",
        lambda v: None if v.strip("/") and ".." not in v.split("/") else "must be a relative directory without '..'",
    )
    metrics_listen: str = setting(
        "",
        "HOST:PORT of the crawler's Prometheus /metrics, with /healthz and /readyz for its probes (port 0 = any free "
        "one); empty = off.",
        _metrics_listen,
    )
    ready_timeout: float = setting(
        2.0, "Seconds the crawler's /readyz waits for Kafka and PostgreSQL to answer its probes.", _positive
    )


@dataclass(frozen=True)
class LogSettings:
    format: str = setting(
        "text", "Log lines as 'text' or 'json' (JSON lines with component and node fields).", _one_of("text", "json")
    )
    summary_interval: float = setting(
        30.0,
        "Seconds between the summaries of a repeated warning or error (an outage is told once, then summed up).",
        _positive,
    )


@dataclass(frozen=True)
class HistorySettings:
    users: dict[str, str] = setting(
        {},
        "Requester → user for imported access logs (`warpdrive backfill`): an S3 requester ARN or canonical id, "
        "a GCS principal email ([history.users] 'arn:aws:iam::1:user/a' = 'alice'). Unmapped: the IAM user "
        "name, or the requester as logged.",
    )


@dataclass(frozen=True)
class RetentionSettings:
    keep_months: int = setting(
        13,
        "Months of access_log and access_daily kept, the current one included: `warpdrive retention` drops "
        "whole older months (per-file last access and per-user totals live in rollups and stay).",
        _positive,
    )
    producer_days: float = setting(
        30.0,
        "Days an agent instance's dedupe mark (access_producers, one row per agent start) is kept after its last "
        "event arrived; `warpdrive retention` deletes older ones. At least the access topic's retention (7 days): "
        "no copy of its events is left in Kafka by then. Beyond that, only an agent's spool still holds a copy "
        "(a batch applied, its acknowledgement lost, the node down since): keep marks longer than a node may stay "
        "down with a spool.",
        _past_access_retention,
    )


ATIME_POLICIES = ("off", "strict", "relatime")


@dataclass(frozen=True)
class BackendConfig:
    name: str
    url: str
    storage_options: dict[str, Any] = field(default_factory=dict)
    max_tree_depth: int = 0  # 0 = every level
    # POSIX atime as evidence of reads (local/NFS backends): off | strict | relatime (schemas/stale.py).
    atime: str = "off"

    @property
    def scheme(self) -> str:
        """The URL scheme as fsspec's protocol of its store kind (``gcs://`` → ``gs``)."""
        s = urlsplit(self.url).scheme or "file"
        return KINDS[s].protocol if s in KINDS else s


@dataclass(frozen=True)
class Config:
    state_dir: Path
    source: str  # where the config came from, for messages
    kafka: KafkaSettings
    postgres: PostgresSettings
    api: ApiSettings
    agent: AgentSettings
    streams: StreamsSettings
    crawler: CrawlerSettings
    history: HistorySettings
    backends: tuple[BackendConfig, ...]
    teams: dict[str, str]  # user → team
    log: LogSettings = field(default_factory=LogSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)

    def backend(self, name: str) -> BackendConfig:
        for b in self.backends:
            if b.name == name:
                return b
        raise ConfigError(
            f"backends: no backend named {name!r} (known: {', '.join(b.name for b in self.backends) or 'none'})"
        )


SECTIONS: dict[str, type] = {
    "kafka": KafkaSettings,
    "postgres": PostgresSettings,
    "api": ApiSettings,
    "agent": AgentSettings,
    "streams": StreamsSettings,
    "crawler": CrawlerSettings,
    "history": HistorySettings,
    "log": LogSettings,
    "retention": RetentionSettings,
}


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def default_state_dir() -> Path:
    if v := os.environ.get(ENV_PREFIX + "STATE_DIR"):
        return Path(v).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "warpdrive"


def settings_help() -> list[tuple[str, str, str, str]]:
    """(name, env var, default, help) of every declared setting, for docs and `--help`."""
    rows = [
        ("state_dir", ENV_PREFIX + "STATE_DIR", str(default_state_dir()), "Where the local stack keeps data and logs.")
    ]
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            default = f.default_factory() if callable(f.default_factory) else f.default
            rows.append((f"{section}.{f.name}", env_name(section, f.name), repr(default), f.metadata["help"]))
    rows += [
        (
            "backends",
            ENV_PREFIX + "BACKENDS",
            "[]",
            "[[backends]] name, url (file://, s3://, gs://), storage_options, max_tree_depth, "
            "atime (off | strict | relatime: POSIX access times as evidence of reads, file:// only).",
        ),
        (
            "teams",
            ENV_PREFIX + "TEAMS",
            "{}",
            "[teams] user = team: seeds the teams table at worker start (then API/CLI edits; agents read Kafka).",
        ),
    ]
    return rows


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Converts a TOML or env value to the declared type, or raises ConfigError naming the key."""
    origin = typing.get_origin(tp)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return value.lower() in ("1", "true", "yes", "on")
        raise ConfigError(f"{name}: expected true or false, got {value!r}")
    if tp in (int, float):
        if isinstance(value, bool):
            raise ConfigError(f"{name}: expected a number, got {value!r}")
        try:
            if tp is int and isinstance(value, float) and not value.is_integer():
                raise ValueError
            return tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{name}: expected {'an integer' if tp is int else 'a number'}, got {value!r}") from None
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    if origin in (list, dict) and isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ConfigError(
                f"{name}: expected JSON for a {origin.__name__} in the environment, got {value!r}"
            ) from None
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a table, got {value!r}")
        return {str(k): _coerce(f"{name}.{k}", v, typing.get_args(tp)[1]) for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{name}: expected a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(f"{name}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if tp is Any:
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(name, value, tp)
    raise ConfigError(f"{name}: unsupported setting type {tp!r}")  # a bug in a declaration, not user input


def _build(name: str, raw: Any, cls: type, env_section: str | None = None) -> Any:
    """Builds a settings dataclass from a table, rejecting unknown keys and applying env overrides."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{name}: expected a table, got {raw!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{name}.{unknown[0]}: unknown key (known: {', '.join(fields)})" if name else f"{unknown[0]}: unknown key"
        )
    values: dict[str, Any] = {}
    for key, f in fields.items():
        full = f"{name}.{key}" if name else key
        value: Any = raw.get(key, dataclasses.MISSING)
        if env_section is not None and (env := os.environ.get(env_name(env_section, key))) is not None:
            value, full = env, f"{full} (from {env_name(env_section, key)})"
        if value is dataclasses.MISSING:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(f"{full}: missing (required)")
            continue
        values[key] = _coerce(full, value, hints[key])
        check = f.metadata.get("check") if f.metadata else None
        if check and (problem := check(values[key])):
            raise ConfigError(f"{full}: {problem} (got {values[key]!r})")
    return cls(**values)


def _check_backend(i: int, b: BackendConfig) -> None:
    where = f"backends[{i}]"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", b.name):
        raise ConfigError(f"{where}.name: {b.name!r} must be 1-63 letters, digits, '_', '.', '-'")
    parts = urlsplit(b.url)
    if (parts.scheme or "file") not in BACKEND_SCHEMES:
        raise ConfigError(f"{where}.url: scheme {parts.scheme!r} not supported (use {', '.join(BACKEND_SCHEMES)})")
    if problem := KINDS[parts.scheme or "file"].check_url(b.url):
        raise ConfigError(f"{where}.url: {problem}")
    if b.max_tree_depth < 0:
        raise ConfigError(f"{where}.max_tree_depth: must be >= 0")
    if b.atime not in ATIME_POLICIES:
        raise ConfigError(f"{where}.atime: must be one of {', '.join(ATIME_POLICIES)}, got {b.atime!r}")
    if b.atime != "off" and not KINDS[parts.scheme or "file"].posix:
        raise ConfigError(f"{where}.atime: only file:// backends have POSIX access times")


def _check_env_keys() -> None:
    """A typo in an env var (WARPDRIVE_KAFKA_BOOTSTRAP_SERVER) must not be silently ignored."""
    for var in os.environ:
        for section, cls in SECTIONS.items():
            head = f"{ENV_PREFIX}{section.upper()}_"
            if var.startswith(head) and var[len(head) :].lower() not in {f.name for f in dataclasses.fields(cls)}:
                raise ConfigError(
                    f"{var}: unknown setting {section}.{var[len(head) :].lower()} "
                    f"(known: {', '.join(f.name for f in dataclasses.fields(cls))})"
                )


def _check_kafka_security(k: KafkaSettings) -> None:
    """SASL settings that cannot work together fail at start, not at the first connection."""
    sasl = k.security_protocol.startswith("SASL_")
    if sasl and not k.sasl_mechanism:
        raise ConfigError(f"kafka.sasl_mechanism: required with security_protocol {k.security_protocol}")
    if k.sasl_mechanism and not sasl:
        raise ConfigError(
            f"kafka.security_protocol: {k.security_protocol} uses no SASL, but sasl_mechanism is "
            f"{k.sasl_mechanism} (use SASL_PLAINTEXT or SASL_SSL)"
        )
    if sasl and not (k.sasl_username and k.sasl_password):
        raise ConfigError("kafka.sasl_username: SASL needs sasl_username and sasl_password")
    for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        if (path := getattr(k, key)) and not Path(path).is_file():
            raise ConfigError(f"kafka.{key}: file {path!r} does not exist")
    if k.ssl_keyfile and not k.ssl_certfile:
        raise ConfigError("kafka.ssl_keyfile: set ssl_certfile too")


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    path = explicit or os.environ.get(ENV_PREFIX + "CONFIG")
    if path:
        p = Path(path).expanduser()
        try:
            exists = p.is_file()
        except OSError as e:  # e.g. a folder on the way is not readable
            raise ConfigError(f"config: cannot read {p}: {e.strerror}") from None
        if not exists:
            raise ConfigError(f"config: file {str(p)!r} does not exist")
        return p
    stack_file = default_state_dir() / "warpdrive.toml"
    return stack_file if stack_file.is_file() else None


def load(path: str | os.PathLike[str] | None = None) -> Config:
    """Loads and validates the configuration; raises ConfigError naming the first bad key."""
    file = find_config_file(path)
    raw: dict[str, Any] = {}
    if file is not None:
        try:
            raw = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config: {file} is not valid TOML: {e}") from None
        except OSError as e:
            raise ConfigError(f"config: cannot read {file}: {e.strerror}") from None
    return from_dict(raw, source=str(file) if file else "defaults")


def from_dict(raw: dict[str, Any], source: str = "dict") -> Config:
    raw = dict(raw)
    known = {"state_dir", "backends", "teams", *SECTIONS}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    _check_env_keys()
    state_dir = os.environ.get(ENV_PREFIX + "STATE_DIR") or raw.get("state_dir")
    sections = {s: _build(s, raw.get(s, {}), cls, env_section=s) for s, cls in SECTIONS.items()}
    backends_raw = os.environ.get(ENV_PREFIX + "BACKENDS") or raw.get("backends", [])
    backends = _coerce("backends", backends_raw, list[BackendConfig])
    for i, b in enumerate(backends):
        _check_backend(i, b)
    names = [b.name for b in backends]
    if dup := next((n for n in names if names.count(n) > 1), None):
        raise ConfigError(f"backends: name {dup!r} is used twice")
    _check_kafka_security(sections["kafka"])
    teams = _coerce("teams", os.environ.get(ENV_PREFIX + "TEAMS") or raw.get("teams", {}), dict[str, str])
    for i, t in enumerate(sections["api"].tokens):
        if t.role not in ROLES:
            raise ConfigError(f"api.tokens[{i}].role: must be one of {', '.join(ROLES)}, got {t.role!r}")
        if len(t.token) < 16:
            raise ConfigError(f"api.tokens[{i}].token: must be at least 16 characters")
    return Config(
        state_dir=Path(state_dir).expanduser().resolve() if state_dir else default_state_dir(),
        source=source,
        backends=tuple(backends),
        teams=teams,
        **sections,
    )


def dump_toml(data: dict[str, Any]) -> str:
    """Writes a small config dict as TOML (tables, arrays of tables, scalars) — for generated configs."""
    out: list[str] = []

    def scalar(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_key(k)} = {scalar(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return orjson.dumps(str(v)).decode()

    def table(prefix: str, d: dict[str, Any]) -> None:
        plain = {k: v for k, v in d.items() if not isinstance(v, dict) and not _is_table_list(v)}
        if prefix:
            out.append(f"\n[{prefix}]")
        out.extend(f"{_key(k)} = {scalar(v)}" for k, v in plain.items())
        for k, v in d.items():
            name = f"{prefix}.{_key(k)}" if prefix else _key(k)
            if isinstance(v, dict):
                table(name, v)
            elif _is_table_list(v):
                for item in v:
                    out.append(f"\n[[{name}]]")
                    out.extend(f"{_key(ik)} = {scalar(iv)}" for ik, iv in item.items())

    table("", data)
    return "\n".join(out).lstrip() + "\n"


def _is_table_list(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else orjson.dumps(k).decode()
