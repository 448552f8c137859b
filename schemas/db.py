"""PostgreSQL: resolving the DSN (embedded pgserver when none is configured) and applying migrations."""

from __future__ import annotations

import logging
import re
import warnings
from importlib import resources
from pathlib import Path

from .config import Config
from .errors import ConfigError, MigrationError

log = logging.getLogger(__name__)

# Any constant: every WarpDrive process migrating the same database takes this advisory lock.
MIGRATION_LOCK_ID = 0x57617270  # "Warp"

# deletion_marks.size_bytes (migration 0055): the API holds it exclusively while marking, stream batches shared
# while they update the sizes of marked files (streams/marks.py).
MARK_SIZES_LOCK = 0x57446D6B  # "WDmk"


def embedded_pgdata(cfg: Config) -> Path:
    return cfg.state_dir / "pg"


def resolve_dsn(cfg: Config, start_embedded: bool = True) -> str:
    """The configured DSN, or the embedded server's (started on first use, stopped by `stack down`)."""
    if cfg.postgres.dsn:
        return cfg.postgres.dsn
    pgdata = embedded_pgdata(cfg)
    if not start_embedded and not (pgdata / "postmaster.pid").exists():
        raise ConfigError("postgres.dsn: empty and the embedded server is not running (run `warpdrive stack up`)")
    return embedded_server_uri(pgdata)


def embedded_server_uri(pgdata: Path) -> str:
    """Starts (or attaches to) the embedded PostgreSQL in ``pgdata`` and returns its DSN (a unix socket)."""
    with warnings.catch_warnings():
        # pgserver keeps its lock under the user runtime dir and warns when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        import pgserver

        pgdata.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None: the server outlives this process; `warpdrive stack down` stops it.
        return str(pgserver.get_server(pgdata, cleanup_mode=None).get_uri())


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in schemas/migrations, in order."""
    out = []
    for entry in resources.files("warpdrive.schemas").joinpath("migrations").iterdir():
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if m:
            out.append((int(m.group(1)), m.group(2), entry.read_text()))
    out.sort()
    versions = [v for v, _, _ in out]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version: {versions}")
    return out


async def migrate(conn, upto: int | None = None) -> list[int]:  # conn: asyncpg.Connection
    """Applies pending migrations (up to version ``upto``, default all) under an advisory lock; returns the
    versions applied."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done or (upto is not None and version > upto):
                continue
            try:
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name)
            except Exception as e:
                raise MigrationError(f"migration {version:04d}_{name} failed: {e}") from e
            log.info("applied migration %04d_%s", version, name)
            applied_now.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_ID)
    return applied_now


async def connect_and_migrate(cfg: Config):
    """Opens one connection, migrates, and returns it (for CLIs and tests)."""
    import asyncpg

    conn = await asyncpg.connect(resolve_dsn(cfg))
    await migrate(conn)
    return conn


def database_dsn(dsn: str, name: str) -> str:
    """The same server's DSN for another database."""
    from urllib.parse import urlsplit, urlunsplit

    p = urlsplit(dsn)
    return urlunsplit((p.scheme, p.netloc, "/" + name, p.query, p.fragment))


async def _admin(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def create_database(dsn: str, name: str) -> str:
    """Creates database ``name`` (letters, digits, '_') on ``dsn``'s server; returns its DSN."""
    if not re.fullmatch(r"\w+", name):
        raise ValueError(f"database name {name!r} must be letters, digits and '_'")
    await _admin(dsn, f'CREATE DATABASE "{name}"')
    return database_dsn(dsn, name)


async def drop_database(dsn: str, name: str) -> None:
    """Drops database ``name`` if it exists, disconnecting its sessions."""
    if not re.fullmatch(r"\w+", name):
        raise ValueError(f"database name {name!r} must be letters, digits and '_'")
    await _admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- wake-ups after commit ---------------------------------------------------------------------
# Triggers (migration "quota_membership") NOTIFY these channels when rows are written; PostgreSQL
# delivers a NOTIFY at commit, so a publisher woken by one always finds the rows it was woken for.
QUOTA_OUTBOX_CHANNEL = "warpdrive_quota_outbox"
TEAMS_CHANNEL = "warpdrive_teams"
COMMAND_OUTBOX_CHANNEL = "warpdrive_command_outbox"


async def listen(pool, channels: tuple[str, ...], wake, retry: float = 2.0) -> None:  # asyncpg.Pool, asyncio.Event
    """Sets ``wake`` on every NOTIFY on ``channels`` until cancelled, holding one of the pool's connections.

    A lost connection is retried; ``wake`` is also set whenever listening (re)starts, since
    notifications sent meanwhile were missed."""
    import asyncio

    def notified(*_: object) -> None:
        wake.set()

    while True:
        try:
            async with pool.acquire() as conn:
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _conn: lost.set())
                for channel in channels:
                    await conn.add_listener(channel, notified)
                wake.set()
                try:
                    await lost.wait()
                finally:
                    if not conn.is_closed():
                        for channel in channels:
                            await conn.remove_listener(channel, notified)
            log.warning("LISTEN %s: connection lost; listening again in %gs", ", ".join(channels), retry)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # PostgreSQL down: the publisher's own timeout still polls meanwhile
            log.warning("LISTEN %s: %s: %s; retrying in %gs", ", ".join(channels), type(e).__name__, e, retry)
        await asyncio.sleep(retry)
