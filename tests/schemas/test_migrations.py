"""Migrations as a release step: numbering, checksums, the 0054 amendment, services refusing a schema that is not
theirs, `warpdrive migrate --check/--dry-run`, and the schemas/schema.sql snapshot (unit tier, then real PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import asyncpg
import pytest

from tests.helpers import on_connection, scratch_database, table_contents
from warpdrive.compose.stack import Stack
from warpdrive.schemas import db
from warpdrive.schemas.config import dump_toml
from warpdrive.schemas.errors import MigrationError, SchemaVersionError

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "schemas" / "migrations"
WARPDRIVE = str(Path(sys.executable).with_name("warpdrive"))


# ---- unit tier ------------------------------------------------------------------------------------------------


def test_shipped_migrations_are_numbered_in_one_sequence() -> None:
    versions = [m.version for m in db.migrations()]
    assert db.numbering_problem(versions) is None
    assert versions[: len(db.LEGACY_VERSIONS)] == list(db.LEGACY_VERSIONS)
    # Whatever was added since, in this branch or renumbered at a merge, continues one by one.
    assert versions[len(db.LEGACY_VERSIONS) :] == list(range(db.LEGACY_VERSIONS[-1] + 1, versions[-1] + 1))


def test_numbering_problems_are_named() -> None:
    legacy, nxt = list(db.LEGACY_VERSIONS), db.LEGACY_VERSIONS[-1] + 1
    assert db.numbering_problem([*legacy, nxt, nxt + 1]) is None
    assert "share version" in (db.numbering_problem([*legacy, nxt, nxt]) or "")
    assert f"{nxt:04d} is missing" in (db.numbering_problem([*legacy, nxt + 1]) or "")
    assert f"{nxt + 1:04d} is missing" in (db.numbering_problem([*legacy, nxt, nxt + 2]) or "")
    assert "inside the legacy ranges" in (db.numbering_problem([*legacy, 6]) or "")
    assert f"{legacy[0]:04d} is missing" in (db.numbering_problem(legacy[1:]) or "")


def test_released_migrations_never_change() -> None:
    """A listed (released) migration's text is frozen: a change goes into a new migration."""
    listed = db.released()
    assert listed, "released.sha256 lists nothing"
    shipped = {f"{m.label}.sql": m for m in db.migrations()}
    for name, digest in listed.items():
        assert name in shipped, f"released migration {name} is gone"
        assert shipped[name].checksum == digest, f"released migration {name} was edited: put the change in a new one"
    # And the file is what `sha256sum -c` reads.
    for line in (MIGRATIONS / "released.sha256").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((MIGRATIONS / name).read_bytes()).hexdigest() == digest


def _m(v: int, text: str = "") -> db.Migration:
    return db.Migration(v, f"m{v}", text or f"-- {v}")


def test_assess_names_every_kind_of_difference() -> None:
    shipped = [_m(1), _m(2), _m(3)]
    rec = {m.version: (m.name, m.checksum) for m in shipped}
    assert db.assess(rec, shipped).current and db.assess(rec, shipped).problem() is None
    empty = db.assess({}, shipped)
    assert [m.version for m in empty.pending] == [1, 2, 3] and "no WarpDrive schema" in (empty.problem() or "")

    older = db.assess({1: rec[1], 2: rec[2]}, shipped)
    assert [m.version for m in older.pending] == [3]
    assert "older than this release" in (older.problem() or "") and "`warpdrive migrate`" in (older.problem() or "")

    edited = db.assess({**rec, 2: ("m2", "0" * 64)}, shipped)
    assert [m.version for m in edited.edited] == [2] and "edited" in (edited.problem() or "")

    newer = db.assess({**rec, 4: ("m4", "x")}, shipped)
    assert newer.unknown == ["0004_m4"] and "unknown to this release" in (newer.problem() or "")

    unrecorded = db.assess({v: (n, None) for v, (n, _) in rec.items()}, shipped)
    assert [m.version for m in unrecorded.adopt] == [1, 2, 3] and "without checksums" in (unrecorded.problem() or "")
    for p in (older, edited, newer, unrecorded):
        assert "\n" not in (p.problem() or "")


def test_the_amended_migration_accepts_its_earlier_texts_only() -> None:
    ((version, amendment),) = db.AMENDMENTS.items()
    m = next(m for m in db.migrations() if m.version == version)
    assert m.checksum not in amendment.earlier
    for earlier in amendment.earlier:
        assert [x.version for x in db.assess({version: (m.name, earlier)}, [m]).amend] == [version]
    assert [x.version for x in db.assess({version: (m.name, None)}, [m]).amend] == [version]
    assert [x.version for x in db.assess({version: (m.name, "f" * 64)}, [m]).edited] == [version]


def test_each_migration_declares_how_it_rolls_out() -> None:
    assert _m(90, "-- upgrade: online\nCREATE INDEX …").upgrade == "online"
    assert _m(90, "-- a backfill\nUPDATE …").upgrade == "stop-workers"  # undeclared: never overlap a backfill
    with pytest.raises(MigrationError, match="upgrade kind 'rolling'"):
        _ = _m(90, "-- upgrade: rolling\n").upgrade
    for m in db.migrations():
        assert m.upgrade in db.UPGRADE_KINDS
    shipped = [_m(90, "-- upgrade: online"), _m(91), _m(92, "-- upgrade: stop-all")]
    assert db.assess({}, shipped[:1]).upgrade() == "online"
    assert db.assess({}, shipped[:2]).upgrade() == "stop-workers"
    assert db.assess({}, shipped).upgrade() == "stop-all"


def test_badly_named_migration_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from importlib import resources

    pkg = tmp_path / "pkg"
    (pkg / "migrations").mkdir(parents=True)
    for f in MIGRATIONS.glob("*.sql"):
        (pkg / "migrations" / f.name).write_text(f.read_text())
    (pkg / "migrations" / "57_quick_fix.sql").write_text("SELECT 1;")
    monkeypatch.setattr(resources, "files", lambda _: pkg)
    with pytest.raises(MigrationError, match="57_quick_fix.sql"):
        db.migrations()


# ---- real PostgreSQL --------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_dsn(stack: Stack) -> Iterator[str]:
    with scratch_database(stack, "wdmig") as dsn:
        yield dsn


def _config(config_dict: dict, dsn: str, tmp_path: Path) -> Path:
    p = tmp_path / f"wd-{uuid.uuid4().hex[:6]}.toml"
    p.write_text(dump_toml({**config_dict, "postgres": {"dsn": dsn}}))
    return p


def _warpdrive(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WARPDRIVE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "WARPDRIVE_CONFIG": str(config)},
    )


@pytest.mark.services
def test_migrate_records_checksums_and_check_passes(fresh_dsn: str, config_dict: dict, tmp_path: Path) -> None:
    conf = _config(config_dict, fresh_dsn, tmp_path)
    dry = _warpdrive(conf, "migrate", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("pending:") == len(db.migrations()), dry.stdout + dry.stderr
    strictest = max((m.upgrade for m in db.migrations()), key=db.UPGRADE_KINDS.index)
    assert f"upgrade:   {strictest} — " in dry.stdout
    assert on_connection(fresh_dsn, db.applied_migrations) == {}  # a dry run changes nothing
    check = _warpdrive(conf, "migrate", "--check")
    assert check.returncode == 1 and "run `warpdrive migrate`" in check.stderr

    r = _warpdrive(conf, "migrate")
    assert r.returncode == 0 and "schema current" in r.stdout, r.stdout + r.stderr
    recorded = on_connection(fresh_dsn, db.applied_migrations)
    assert recorded == {m.version: (m.name, m.checksum) for m in db.migrations()}
    assert _warpdrive(conf, "migrate", "--check").returncode == 0
    again = _warpdrive(conf, "migrate")
    assert again.returncode == 0 and "nothing to apply" in again.stdout


@pytest.mark.services
def test_edited_and_unknown_migrations_are_refused(fresh_dsn: str, config_dict: dict, tmp_path: Path) -> None:
    conf = _config(config_dict, fresh_dsn, tmp_path)
    on_connection(fresh_dsn, db.migrate)
    first = db.migrations()[0]
    on_connection(
        fresh_dsn,
        lambda c: c.execute("UPDATE schema_migrations SET checksum = $2 WHERE version = $1", first.version, "0" * 64),
    )
    with pytest.raises(MigrationError, match=first.label):
        on_connection(fresh_dsn, db.migrate)
    check = _warpdrive(conf, "migrate", "--check")
    assert check.returncode == 1 and f"EDITED:    {first.label}" in check.stdout and "edited" in check.stderr

    on_connection(
        fresh_dsn,
        lambda c: c.execute(
            "UPDATE schema_migrations SET checksum = $2 WHERE version = $1", first.version, first.checksum
        ),
    )
    newer = db.migrations()[-1].version + 1
    on_connection(
        fresh_dsn,
        lambda c: c.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, 'later', 'x')", newer),
    )
    with pytest.raises(SchemaVersionError, match="unknown to this release"):
        on_connection(fresh_dsn, db.check_schema)
    with pytest.raises(MigrationError, match="does not ship"):
        on_connection(fresh_dsn, db.migrate)


@pytest.mark.services
def test_services_refuse_an_older_schema_with_one_line(fresh_dsn: str, config_dict: dict, tmp_path: Path) -> None:
    """Every process that uses the database: the API, the stream worker and the crawler."""
    conf = _config(config_dict, fresh_dsn, tmp_path)
    previous = db.migrations()[-2].version
    on_connection(fresh_dsn, lambda c: db.migrate(c, upto=previous))
    from warpdrive.compose.stack import free_port

    for argv in (
        ["api", "serve", "--listen", f"127.0.0.1:{free_port()}"],
        ["streams", "worker"],
        ["crawler", "run", "--once"],
    ):
        r = _warpdrive(conf, *argv)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0 and "Traceback" not in r.stderr, (argv, r.stderr)
        assert "run `warpdrive migrate`" in lines[-1] and db.migrations()[-1].label in lines[-1], (argv, r.stderr)
    assert (
        max(on_connection(fresh_dsn, db.applied_migrations)) == previous
    )  # nobody migrated behind the operator's back


def _old_runner(dsn: str, text_of: dict[int, str]) -> None:
    """The database as the runner before checksums left it: its own schema_migrations, texts as they were, the
    migrations of the previous release (the released set) applied."""
    last = max(int(name[:4]) for name in db.released())

    async def go(conn: asyncpg.Connection) -> None:
        await conn.execute(
            "CREATE TABLE schema_migrations (version INT PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW())"
        )
        for m in (m for m in db.migrations() if m.version <= last):
            await conn.execute(text_of.get(m.version, m.sql))
            await conn.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)

    on_connection(dsn, go)


@pytest.mark.services
@pytest.mark.parametrize("recorded", ["no checksum", "earlier checksum"])
def test_databases_that_applied_the_first_text_of_0054_are_amended(
    fresh_dsn: str, config_dict: dict, tmp_path: Path, recorded: str
) -> None:
    ((version, amendment),) = db.AMENDMENTS.items()
    m = next(m for m in db.migrations() if m.version == version)
    # Its first text, as it landed: without the two statements added later (access_log kept its surrogate id,
    # primary key and default fillfactor).
    added = [
        "ALTER TABLE access_log DROP CONSTRAINT access_log_pkey, DROP COLUMN id;",
        "ALTER TABLE access_log SET (fillfactor = 80);",
    ]
    first_text = m.sql
    for stmt in added:
        assert stmt in first_text
        first_text = first_text.replace(stmt, "")
    _old_runner(fresh_dsn, {version: first_text})
    on_connection(
        fresh_dsn,
        lambda c: c.execute(
            "INSERT INTO access_log (backend_name, path, user_id, date, read_count, bytes_read, last_access)"
            " SELECT 'b', 'f' || i, 'u' || (i % 3), DATE '2026-11-01' + (i % 5), i, i * 10, now() FROM generate_series(1, 50) i"
        ),
    )
    if recorded == "earlier checksum":
        on_connection(
            fresh_dsn,
            lambda c: c.execute(
                "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT;"
                f" UPDATE schema_migrations SET checksum = '{sorted(amendment.earlier)[0]}' WHERE version = {version};"
            ),
        )
    before = table_contents(fresh_dsn, exclude_columns={"access_log": {"id"}})
    assert "id" in {
        r["attname"]
        for r in on_connection(
            fresh_dsn,
            lambda c: c.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'access_log'::regclass AND attnum > 0 AND NOT attisdropped"
            ),
        )
    }

    conf = _config(config_dict, fresh_dsn, tmp_path)
    with pytest.raises(SchemaVersionError, match="run `warpdrive migrate`"):
        on_connection(fresh_dsn, db.check_schema)
    dry = _warpdrive(conf, "migrate", "--dry-run")
    assert f"amend:     {m.label}" in dry.stdout, dry.stdout
    last = max(int(name[:4]) for name in db.released())
    assert [line.split()[1] for line in dry.stdout.splitlines() if line.startswith("pending:")] == [
        x.label for x in db.migrations() if x.version > last
    ], dry.stdout

    r = _warpdrive(conf, "migrate")
    assert r.returncode == 0, r.stderr
    on_connection(fresh_dsn, db.check_schema)
    assert on_connection(fresh_dsn, db.applied_migrations) == {x.version: (x.name, x.checksum) for x in db.migrations()}
    cols = on_connection(
        fresh_dsn,
        lambda c: c.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'access_log'::regclass AND attnum > 0 AND NOT attisdropped"
        ),
    )
    assert "id" not in {r["attname"] for r in cols}
    # access_log is partitioned by now: its rows (in its DEFAULT partition here) keep fillfactor 80
    assert on_connection(
        fresh_dsn, lambda c: c.fetchval("SELECT reloptions FROM pg_class WHERE oid = 'access_log_default'::regclass")
    ) == ["fillfactor=80"]
    after = table_contents(fresh_dsn, exclude_columns={"access_log": {"updates"}})  # a column of later migrations
    assert {t: after[t] for t in before} == before  # the amendment (and the later migrations) changed no row


@pytest.mark.services
def test_schema_snapshot_is_current(stack: Stack) -> None:
    """schemas/schema.sql is what the migrations create; regenerate it with `warpdrive schema-snapshot -o …`."""
    text = asyncio.run(db.schema_snapshot(stack.postgres_dsn()))
    assert "CREATE TABLE public.storage_files" in text
    assert (ROOT / "schemas" / "schema.sql").read_text() == text, (
        "schemas/schema.sql is stale: run `warpdrive schema-snapshot -o schemas/schema.sql`"
    )
