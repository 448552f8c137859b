"""PostgreSQL: resolving the DSN (embedded pgserver when none is configured) and applying migrations."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .config import Config
from .errors import ConfigError, MigrationError, SchemaVersionError
from .locks import MIGRATION_LOCK_ID  # every WarpDrive process migrating the same database takes it

log = logging.getLogger(__name__)


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


# Migrations numbered before one sequence was kept: two ranges, kept as they are. Every later migration continues
# right after the last of them, one by one (0057, 0058, …); `migrations()` refuses any other numbering.
LEGACY_VERSIONS = (1, 2, 3, 4, 5, 50, 51, 52, 53, 54, 55, 56)


# How a migration may be rolled out (docs/operations.md, "Upgrades"), declared by a line `-- upgrade: KIND` in it:
#   online        old services may keep running while it applies and against its result (additive only);
#   stop-workers  stop every stream worker first: it rewrites or backfills what workers maintain;
#   stop-all      stop workers, API and crawler first: old code would misread the result.
# A migration without the line counts as stop-workers (never lose an update to a backfill). The legacy migrations
# cannot gain the line (their text is frozen), so theirs are listed here.
UPGRADE_KINDS = ("online", "stop-workers", "stop-all")
LEGACY_UPGRADE = {54: "stop-workers"}  # 0054 backfills user_files/user_reads from access_log under a SHARE lock


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def upgrade(self) -> str:
        if m := re.search(r"^-- upgrade: *([\w-]+)", self.sql, re.M):
            if m.group(1) not in UPGRADE_KINDS:
                raise MigrationError(
                    f"migration {self.label}: upgrade kind {m.group(1)!r} is not one of {', '.join(UPGRADE_KINDS)}"
                )
            return m.group(1)
        if self.version in LEGACY_VERSIONS:
            return LEGACY_UPGRADE.get(self.version, "online")
        return "stop-workers"

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Amendment:
    """A migration edited after it had landed. A database that applied one of its ``earlier`` texts, or whose runner
    recorded no checksum (so the text it applied is unknown), gets ``sql`` once — idempotent, it brings the result of
    any earlier text to the current one's — and then records the current checksum. No migration may be edited again:
    an applied text that neither matches nor is listed here is refused."""

    earlier: frozenset[str]
    sql: str


AMENDMENTS: dict[int, Amendment] = {
    # 0054_user_rollups gained its last two statements after it had landed (commits 850410c and 108b468).
    54: Amendment(
        frozenset(
            {
                "ea09b12b5cf1a03aa47fc256ef4853dde55da0f1805592921832a1d0b106871b",
                "f6613e2a54d7aada4347c73267744321a5b3144a0bdf1be96433da5d92c2db4f",
            }
        ),
        "ALTER TABLE access_log DROP CONSTRAINT IF EXISTS access_log_pkey, DROP COLUMN IF EXISTS id;\n"
        "ALTER TABLE access_log SET (fillfactor = 80);\n",
    ),
}


def released() -> dict[str, str]:
    """file name → sha256 of every migration a release has shipped (schemas/migrations/released.sha256, in
    ``sha256sum`` format: ``sha256sum -c`` checks it). A release appends its new migrations; a listed file never
    changes again (a unit test holds the files to it). The upgrade test starts from the schema it lists."""
    text = resources.files("warpdrive.schemas").joinpath("migrations", "released.sha256").read_text()
    return {name: digest for digest, name in (line.split() for line in text.splitlines() if line.strip())}


def numbering_problem(versions: list[int]) -> str | None:
    """What is wrong with a set of migration versions (None: the legacy ranges, then one contiguous sequence)."""
    if dup := sorted({v for v in versions if versions.count(v) > 1}):
        return f"two migrations share version {dup[0]:04d}"
    last_legacy = LEGACY_VERSIONS[-1]
    legacy = sorted(v for v in versions if v <= last_legacy)
    if stray := sorted(set(legacy) - set(LEGACY_VERSIONS)):
        return f"migration {stray[0]:04d} is inside the legacy ranges: number it after the last migration"
    if missing := sorted(set(LEGACY_VERSIONS) - set(legacy)):
        return f"migration {missing[0]:04d} is missing"
    for want, got in enumerate(sorted(v for v in versions if v > last_legacy), start=last_legacy + 1):
        if got != want:
            return f"migration {want:04d} is missing (the next is {got:04d}): number new migrations one by one"
    return None


def migrations() -> list[Migration]:
    """Every migration shipped in schemas/migrations, in order; refuses a bad file name or numbering."""
    out = []
    for entry in resources.files("warpdrive.schemas").joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        m = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if not m:
            raise MigrationError(f"migration file {entry.name!r}: name it NNNN_topic.sql")
        out.append(Migration(int(m.group(1)), m.group(2), entry.read_text()))
    out.sort(key=lambda m: m.version)
    if problem := numbering_problem([m.version for m in out]):
        raise MigrationError(problem)
    return out


@dataclass
class SchemaState:
    """A database's recorded migrations held against the shipped ones; see ``assess``."""

    pending: list[Migration]  # shipped, not applied
    adopt: list[Migration]  # applied by a runner that recorded no checksum; its text is the shipped one
    amend: list[Migration]  # applied from an earlier text of an amended migration (or with no checksum)
    edited: list[Migration]  # applied with a text that is neither the shipped one nor a known earlier one
    unknown: list[str]  # applied, not shipped: a newer release migrated this database
    head: str  # the newest applied migration ("" = none)

    def upgrade(self) -> str:
        """The strictest rollout what is still to apply needs (see UPGRADE_KINDS)."""
        kinds = [m.upgrade for m in self.pending] + ["stop-workers" for _ in self.amend]
        return max(kinds, key=UPGRADE_KINDS.index, default="online")

    @property
    def current(self) -> bool:
        return not (self.pending or self.adopt or self.amend or self.edited or self.unknown)

    def problem(self) -> str | None:
        """One line for a service that must not start, naming what to run; None when the schema is current."""
        if self.edited:
            m = self.edited[0]
            return (
                f"postgres: migration {m.label} was applied with another text than this release ships (edited after "
                f"it landed): `warpdrive migrate --check` lists the differences"
            )
        if self.unknown:
            return (
                f"postgres: the schema has migration {self.unknown[-1]}, unknown to this release (a newer release "
                f"ran `warpdrive migrate`): run that release"
            )
        if not self.head:
            return "postgres: the database has no WarpDrive schema: run `warpdrive migrate`"
        todo = [m.label for m in self.pending] + [f"{m.label} (amended)" for m in self.amend]
        if todo:
            return f"postgres: the schema is older than this release ({len(todo)} to apply: {', '.join(todo)}): run `warpdrive migrate`"
        if self.adopt:
            return f"postgres: {len(self.adopt)} migration(s) recorded without checksums by an older release: run `warpdrive migrate`"
        return None


def assess(applied: dict[int, tuple[str, str | None]], shipped: list[Migration]) -> SchemaState:
    """Holds ``applied`` (version → (name, checksum or None)) against ``shipped``."""
    by_version = {m.version: m for m in shipped}
    st = SchemaState([], [], [], [], [], "")
    for m in shipped:
        if m.version not in applied:
            st.pending.append(m)
            continue
        checksum = applied[m.version][1]
        amendment = AMENDMENTS.get(m.version)
        if checksum == m.checksum:
            continue
        if amendment is not None and (checksum is None or checksum in amendment.earlier):
            st.amend.append(m)
        elif checksum is None:
            st.adopt.append(m)
        else:
            st.edited.append(m)
    st.unknown = [f"{v:04d}_{applied[v][0]}" for v in sorted(applied) if v not in by_version]
    if applied:
        v = max(applied)
        st.head = f"{v:04d}_{applied[v][0]}"
    return st


async def applied_migrations(conn) -> dict[int, tuple[str, str | None]]:  # conn: asyncpg.Connection
    """version → (name, checksum) recorded in schema_migrations (checksum None: recorded by a runner that kept none)."""
    cols = {
        r["attname"]
        for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass('schema_migrations') AND attnum > 0"
            " AND NOT attisdropped"
        )
    }
    if not cols:
        return {}
    checksum = "checksum" if "checksum" in cols else "NULL::text AS checksum"
    rows = await conn.fetch(f"SELECT version, name, {checksum} FROM schema_migrations")
    return {r["version"]: (r["name"], r["checksum"]) for r in rows}


async def schema_state(conn) -> SchemaState:  # conn: asyncpg.Connection
    return assess(await applied_migrations(conn), migrations())


async def check_schema(conn) -> None:  # conn: asyncpg.Connection
    """Services call this at start: raises SchemaVersionError (one line naming `warpdrive migrate`) unless the
    database holds exactly the schema this release ships. Services never migrate; `warpdrive migrate` does."""
    if problem := (await schema_state(conn)).problem():
        raise SchemaVersionError(problem)


async def require_schema(dsn: str, timeout: float = 30.0) -> None:
    """``check_schema`` on a connection of its own, for services that hold no pool yet; a database that cannot be
    reached is a ConfigError naming postgres.dsn (not the DSN: it may hold a password)."""
    import asyncio

    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(dsn), timeout)
    except Exception as e:
        raise ConfigError(f"postgres.dsn: cannot connect to PostgreSQL: {type(e).__name__}: {e}") from None
    try:
        await check_schema(conn)
    finally:
        await conn.close()


async def migrate(conn, upto: int | None = None) -> list[int]:  # conn: asyncpg.Connection
    """Applies pending migrations (up to version ``upto``, default all) under an advisory lock, each in its own
    transaction with its checksum; amends and adopts what earlier runners recorded (see ``Amendment``). Refuses
    edited or unknown migrations. Returns the versions applied."""
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW(), checksum TEXT);"
            " ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum TEXT"
        )
        st = await schema_state(conn)
        if st.edited:
            raise MigrationError(
                "migrations applied with another text than this release ships (a landed migration "
                f"was edited): {', '.join(m.label for m in st.edited)}; restore their text and put "
                "the change in a new migration"
            )
        if st.unknown:
            raise MigrationError(
                f"the database has migrations this release does not ship: {', '.join(st.unknown)} "
                "(a newer release migrated it)"
            )
        for m in st.amend:
            async with conn.transaction():
                await conn.execute(AMENDMENTS[m.version].sql)
                await conn.execute(
                    "UPDATE schema_migrations SET checksum = $2 WHERE version = $1", m.version, m.checksum
                )
            log.info("amended migration %s (applied from an earlier text)", m.label)
        if st.adopt:
            await conn.execute(
                "UPDATE schema_migrations s SET checksum = v.checksum FROM unnest($1::int[], $2::text[])"
                " AS v(version, checksum) WHERE s.version = v.version",
                [m.version for m in st.adopt],
                [m.checksum for m in st.adopt],
            )
            log.info("recorded the checksums of %d migration(s) an older runner applied", len(st.adopt))
        for m in st.pending:
            if upto is not None and m.version > upto:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        m.version,
                        m.name,
                        m.checksum,
                    )
            except Exception as e:
                raise MigrationError(f"migration {m.label} failed: {e}") from e
            log.info("applied migration %s", m.label)
            applied_now.append(m.version)
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


SNAPSHOT_HEADER = (
    "-- The schema today's migrations create (schemas/migrations), for reading: generated by\n"
    "-- `warpdrive schema-snapshot -o schemas/schema.sql` (pg_dump --schema-only of a freshly migrated\n"
    "-- database, normalised). Never edit it by hand; a test regenerates it and compares.\n"
)


def pg_dump_exe() -> str:
    """The embedded server's own pg_dump (the version the local stack and the tests run), else pg_dump on PATH."""
    import shutil

    with contextlib.suppress(ImportError):
        from pgserver._commands import POSTGRES_BIN_PATH

        if (POSTGRES_BIN_PATH / "pg_dump").exists():
            return str(POSTGRES_BIN_PATH / "pg_dump")
    found = shutil.which("pg_dump")
    if not found:
        raise ConfigError("pg_dump: not found (install the PostgreSQL client, or pgserver)")
    return found


def normalise_dump(text: str) -> str:
    """pg_dump's output without what varies between runs and versions: comments, SET lines, psql meta-commands
    (\\restrict carries a random key), runs of blank lines."""
    keep = [
        line.rstrip()
        for line in text.splitlines()
        if not line.startswith(("--", "SET ", "SELECT pg_catalog.set_config", "\\"))
    ]
    out = re.sub(r"\n{3,}", "\n\n", "\n".join(keep)).strip()
    return SNAPSHOT_HEADER + "\n" + out + "\n"


async def schema_snapshot(server_dsn: str) -> str:
    """Migrates a new, empty database on ``server_dsn``'s server, dumps its schema (normalised) and drops it."""
    import asyncio
    import secrets

    import asyncpg

    name = f"wdsnapshot_{secrets.token_hex(4)}"
    dsn = await create_database(server_dsn, name)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        proc = await asyncio.create_subprocess_exec(
            pg_dump_exe(),
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            dsn,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise MigrationError(f"pg_dump failed: {err.decode(errors='replace').strip()}")
        return normalise_dump(out.decode())
    finally:
        await drop_database(server_dsn, name)
